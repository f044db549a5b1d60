-- +goose Up
-- Incremental statistics (issue 11): every change that can alter a derived
-- figure is logged here by triggers, in the transaction that makes it, so
-- that `stats refresh` recomputes only what changed. Kinds:
--   t  a ticket whose figures changed (new or changed message, restriction):
--      its subject's own figure and the agent days of its messages
--   u  a subject whose eligibility changed (restriction, objection): their
--      own figure and the agent days of all their tickets
--   s  a subject whose own figure only may have changed (a ticket of theirs
--      deleted, anonymised, their subject_stats row deleted by retention)
--   d  an agent day whose figures changed (an agent message deleted)
-- Messages are deleted only with their ticket (erasure, retention): a
-- deleted message logs its agent day, a deleted ticket its subject.
-- SQLite has one writer at a time: a unique key keeps one row per change.
CREATE TABLE stats_dirty (
    id   INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('t', 'u', 's', 'd')),
    key  TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX stats_dirty_key ON stats_dirty (key);

-- One row once a full recomputation has run: before it, a refresh is full.
CREATE TABLE stats_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    full_refreshed INTEGER NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_messages_ins AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('t', NEW.ticket_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_messages_del AFTER DELETE ON messages
WHEN OLD.author = 'agent' AND OLD.agent_id IS NOT NULL BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('d', strftime('%Y-%m-%d', OLD.sent_at / 1000, 'unixepoch'));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_messages_upd AFTER UPDATE OF sent_at, author, agent_id, ticket_id ON messages
WHEN NEW.sent_at <> OLD.sent_at OR NEW.author <> OLD.author OR NEW.agent_id IS NOT OLD.agent_id OR NEW.ticket_id <> OLD.ticket_id BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key)
    SELECT 'd', strftime('%Y-%m-%d', OLD.sent_at / 1000, 'unixepoch') WHERE OLD.author = 'agent' AND OLD.agent_id IS NOT NULL;
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('t', OLD.ticket_id);
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('t', NEW.ticket_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_tickets_del AFTER DELETE ON tickets
WHEN OLD.user_id IS NOT NULL BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('s', OLD.user_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_tickets_upd AFTER UPDATE OF restricted, user_id ON tickets
WHEN NEW.restricted <> OLD.restricted OR NEW.user_id IS NOT OLD.user_id BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('t', NEW.ticket_id);
    INSERT OR IGNORE INTO stats_dirty (kind, key)
    SELECT 's', OLD.user_id WHERE OLD.user_id IS NOT NULL AND NEW.user_id IS NOT OLD.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subjects_restricted AFTER UPDATE OF restricted ON subjects
WHEN NEW.restricted <> OLD.restricted BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('u', NEW.user_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subjects_anonymized AFTER UPDATE OF anonymized_at ON subjects
WHEN NEW.anonymized_at IS NOT OLD.anonymized_at BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('s', NEW.user_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_objections_ins AFTER INSERT ON objections BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('u', NEW.user_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_objections_del AFTER DELETE ON objections BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('u', OLD.user_id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER stats_dirty_objections_upd AFTER UPDATE ON objections BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('u', OLD.user_id);
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('u', NEW.user_id);
END;
-- +goose StatementEnd

-- A subject's figure deleted (the retention run's expiry, an erasure): the
-- next refresh recomputes it and finds whether it may exist. The refresh's
-- own deletions are cleared by the refresh before it commits.
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subject_stats_del AFTER DELETE ON subject_stats BEGIN
    INSERT OR IGNORE INTO stats_dirty (kind, key) VALUES ('s', OLD.user_id);
END;
-- +goose StatementEnd

-- A subject deleted (erased, pseudonymised under a new id, or purged by
-- retention): their user id leaves the log with them, so that nothing of an
-- erased subject remains; their figures are gone with them.
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subjects_del AFTER DELETE ON subjects BEGIN
    DELETE FROM stats_dirty WHERE kind IN ('u', 's') AND key = OLD.user_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER stats_dirty_subjects_del;
DROP TRIGGER stats_dirty_subject_stats_del;
DROP TRIGGER stats_dirty_objections_upd;
DROP TRIGGER stats_dirty_objections_del;
DROP TRIGGER stats_dirty_objections_ins;
DROP TRIGGER stats_dirty_subjects_anonymized;
DROP TRIGGER stats_dirty_subjects_restricted;
DROP TRIGGER stats_dirty_tickets_upd;
DROP TRIGGER stats_dirty_tickets_del;
DROP TRIGGER stats_dirty_messages_upd;
DROP TRIGGER stats_dirty_messages_del;
DROP TRIGGER stats_dirty_messages_ins;
DROP TABLE stats_state;
DROP TABLE stats_dirty;
