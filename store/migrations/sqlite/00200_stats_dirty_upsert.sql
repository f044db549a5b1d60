-- +goose Up
-- The change log's triggers (00080) wrote with INSERT OR IGNORE against the
-- log's unique key. Inside an upsert (ingest's INSERT … ON CONFLICT DO
-- UPDATE), SQLite applies the outer statement's conflict handling to the
-- trigger's statements, so a re-ingest changing a message's time, author or
-- agent failed on the log's own key ("UNIQUE constraint failed:
-- stats_dirty.kind, stats_dirty.key") and the corrected export could never
-- be loaded (found by the session-5 adversarial pass). The triggers now
-- insert only what the log does not hold yet, and never meet the key.

DROP TRIGGER stats_dirty_messages_ins;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_messages_ins AFTER INSERT ON messages BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 't', NEW.ticket_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 't' AND key = NEW.ticket_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_messages_del;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_messages_del AFTER DELETE ON messages
WHEN OLD.author = 'agent' AND OLD.agent_id IS NOT NULL BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 'd', strftime('%Y-%m-%d', OLD.sent_at / 1000, 'unixepoch') WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'd' AND key = strftime('%Y-%m-%d', OLD.sent_at / 1000, 'unixepoch'));
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_messages_upd;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_messages_upd AFTER UPDATE OF sent_at, author, agent_id, ticket_id ON messages
WHEN NEW.sent_at <> OLD.sent_at OR NEW.author <> OLD.author OR NEW.agent_id IS NOT OLD.agent_id OR NEW.ticket_id <> OLD.ticket_id BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 'd', strftime('%Y-%m-%d', OLD.sent_at / 1000, 'unixepoch') WHERE OLD.author = 'agent' AND OLD.agent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'd' AND key = strftime('%Y-%m-%d', OLD.sent_at / 1000, 'unixepoch'));
    INSERT INTO stats_dirty (kind, key) SELECT 't', OLD.ticket_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 't' AND key = OLD.ticket_id);
    INSERT INTO stats_dirty (kind, key) SELECT 't', NEW.ticket_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 't' AND key = NEW.ticket_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_tickets_del;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_tickets_del AFTER DELETE ON tickets
WHEN OLD.user_id IS NOT NULL BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 's', OLD.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 's' AND key = OLD.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_tickets_upd;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_tickets_upd AFTER UPDATE OF restricted, user_id ON tickets
WHEN NEW.restricted <> OLD.restricted OR NEW.user_id IS NOT OLD.user_id BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 't', NEW.ticket_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 't' AND key = NEW.ticket_id);
    INSERT INTO stats_dirty (kind, key) SELECT 's', OLD.user_id WHERE OLD.user_id IS NOT NULL AND NEW.user_id IS NOT OLD.user_id AND NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 's' AND key = OLD.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_subjects_restricted;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subjects_restricted AFTER UPDATE OF restricted ON subjects
WHEN NEW.restricted <> OLD.restricted BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 'u', NEW.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'u' AND key = NEW.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_subjects_anonymized;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subjects_anonymized AFTER UPDATE OF anonymized_at ON subjects
WHEN NEW.anonymized_at IS NOT OLD.anonymized_at BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 's', NEW.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 's' AND key = NEW.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_objections_ins;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_objections_ins AFTER INSERT ON objections BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 'u', NEW.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'u' AND key = NEW.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_objections_del;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_objections_del AFTER DELETE ON objections BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 'u', OLD.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'u' AND key = OLD.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_objections_upd;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_objections_upd AFTER UPDATE ON objections BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 'u', OLD.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'u' AND key = OLD.user_id);
    INSERT INTO stats_dirty (kind, key) SELECT 'u', NEW.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 'u' AND key = NEW.user_id);
END;
-- +goose StatementEnd

DROP TRIGGER stats_dirty_subject_stats_del;
-- +goose StatementBegin
CREATE TRIGGER stats_dirty_subject_stats_del AFTER DELETE ON subject_stats BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT 's', OLD.user_id WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE kind = 's' AND key = OLD.user_id);
END;
-- +goose StatementEnd

-- +goose Down
-- The triggers of 00200 are equivalent to those of 00080 outside an upsert; they stay.
SELECT 1;
