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
-- Statement-level triggers with transition tables: one INSERT per statement
-- (a COPY of a million rows included), no unique key to wait on.
CREATE TABLE stats_dirty (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('t', 'u', 's', 'd')),
    key  TEXT NOT NULL
);

CREATE INDEX stats_dirty_key ON stats_dirty (key);

-- One row once a full recomputation has run: before it, a refresh is full.
CREATE TABLE stats_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    full_refreshed BIGINT NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_messages_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT DISTINCT 't', ticket_id FROM new_rows;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_messages_ins AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_messages_ins();

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_messages_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key)
    SELECT DISTINCT 'd', to_char(to_timestamp(sent_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
    FROM old_rows WHERE author = 'agent' AND agent_id IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_messages_del AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_messages_del();

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_messages_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key)
    SELECT DISTINCT k, v FROM (
        SELECT 'd' AS k, to_char(to_timestamp(o.sent_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS v
        FROM old_rows o JOIN new_rows n ON n.message_id = o.message_id
        WHERE o.author = 'agent' AND o.agent_id IS NOT NULL
          AND (n.sent_at <> o.sent_at OR n.author <> o.author OR n.agent_id IS DISTINCT FROM o.agent_id OR n.ticket_id <> o.ticket_id)
        UNION ALL
        SELECT 't', o.ticket_id FROM old_rows o JOIN new_rows n ON n.message_id = o.message_id
        WHERE n.sent_at <> o.sent_at OR n.author <> o.author OR n.agent_id IS DISTINCT FROM o.agent_id OR n.ticket_id <> o.ticket_id
        UNION ALL
        SELECT 't', n.ticket_id FROM old_rows o JOIN new_rows n ON n.message_id = o.message_id
        WHERE n.ticket_id <> o.ticket_id) c;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_messages_upd AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_messages_upd();

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_tickets_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key) SELECT DISTINCT 's', user_id FROM old_rows WHERE user_id IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_tickets_del AFTER DELETE ON tickets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_tickets_del();

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_tickets_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key)
    SELECT DISTINCT k, v FROM (
        SELECT 't' AS k, n.ticket_id AS v FROM old_rows o JOIN new_rows n ON n.ticket_id = o.ticket_id
        WHERE n.restricted <> o.restricted OR n.user_id IS DISTINCT FROM o.user_id
        UNION ALL
        SELECT 's', o.user_id FROM old_rows o JOIN new_rows n ON n.ticket_id = o.ticket_id
        WHERE n.user_id IS DISTINCT FROM o.user_id AND o.user_id IS NOT NULL) c;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_tickets_upd AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_tickets_upd();

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_subjects_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key)
    SELECT DISTINCT k, v FROM (
        SELECT 'u' AS k, n.user_id AS v FROM old_rows o JOIN new_rows n ON n.user_id = o.user_id
        WHERE n.restricted <> o.restricted
        UNION ALL
        SELECT 's', n.user_id FROM old_rows o JOIN new_rows n ON n.user_id = o.user_id
        WHERE n.anonymized_at IS DISTINCT FROM o.anonymized_at) c;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_subjects_upd AFTER UPDATE ON subjects
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_subjects_upd();

-- +goose StatementBegin
CREATE FUNCTION stats_dirty_objections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO stats_dirty (kind, key) VALUES ('u', OLD.user_id);
    ELSE
        INSERT INTO stats_dirty (kind, key) VALUES ('u', NEW.user_id);
        IF TG_OP = 'UPDATE' AND OLD.user_id <> NEW.user_id THEN
            INSERT INTO stats_dirty (kind, key) VALUES ('u', OLD.user_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_objections AFTER INSERT OR UPDATE OR DELETE ON objections
    FOR EACH ROW EXECUTE FUNCTION stats_dirty_objections();

-- A subject's figure deleted by anything but the refresh itself (the
-- retention run's expiry, an erasure): recomputed by the next refresh,
-- which finds whether it may exist. The refresh sets oubli.stats_writer.
-- +goose StatementBegin
CREATE FUNCTION stats_dirty_subject_stats_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('oubli.stats_writer', true) IS DISTINCT FROM 'on' THEN
        INSERT INTO stats_dirty (kind, key) SELECT DISTINCT 's', user_id FROM old_rows;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_subject_stats_del AFTER DELETE ON subject_stats
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_subject_stats_del();

-- A subject deleted (erased, pseudonymised under a new id, or purged by
-- retention): their user id leaves the log with them, so that nothing of an
-- erased subject remains; their figures are gone with them.
-- +goose StatementBegin
CREATE FUNCTION stats_dirty_subjects_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_dirty d USING old_rows o WHERE d.key = o.user_id AND d.kind IN ('u', 's');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stats_dirty_subjects_del AFTER DELETE ON subjects
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_subjects_del();

-- +goose Down
DROP TRIGGER stats_dirty_subjects_del ON subjects;
DROP FUNCTION stats_dirty_subjects_del();
DROP TRIGGER stats_dirty_subject_stats_del ON subject_stats;
DROP FUNCTION stats_dirty_subject_stats_del();
DROP TRIGGER stats_dirty_objections ON objections;
DROP FUNCTION stats_dirty_objections();
DROP TRIGGER stats_dirty_subjects_upd ON subjects;
DROP FUNCTION stats_dirty_subjects_upd();
DROP TRIGGER stats_dirty_tickets_upd ON tickets;
DROP FUNCTION stats_dirty_tickets_upd();
DROP TRIGGER stats_dirty_tickets_del ON tickets;
DROP FUNCTION stats_dirty_tickets_del();
DROP TRIGGER stats_dirty_messages_upd ON messages;
DROP FUNCTION stats_dirty_messages_upd();
DROP TRIGGER stats_dirty_messages_del ON messages;
DROP FUNCTION stats_dirty_messages_del();
DROP TRIGGER stats_dirty_messages_ins ON messages;
DROP FUNCTION stats_dirty_messages_ins();
DROP TABLE stats_state;
DROP TABLE stats_dirty;
