-- +goose Up
-- Settled subjects (issue 11 item 7): a subject the retention policies
-- decided to keep, with no legal hold, is not decided again every night.
-- retention_settled keys the memo by the policy revision (the first 8 bytes
-- of its digest, as a signed integer): a run under another revision decides
-- every subject again. retention_recheck_at is when the passing of time alone
-- may change the decision (one of the subject's clocks reaching its
-- category's cutoff). Any change to what the decision rests on (the
-- subject's account dates or anonymisation, their tickets, account events
-- and legal holds) clears the memo, by the triggers below, in the
-- transaction that makes it.
ALTER TABLE subjects ADD COLUMN retention_settled BIGINT;
ALTER TABLE subjects ADD COLUMN retention_recheck_at BIGINT;
CREATE INDEX subjects_retention_candidates ON subjects (account_closed_at, retention_settled, retention_recheck_at, user_id);

-- +goose StatementBegin
CREATE FUNCTION retention_settled_subjects_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_created_at IS DISTINCT FROM OLD.account_created_at
       OR NEW.account_closed_at IS DISTINCT FROM OLD.account_closed_at
       OR NEW.anonymized_at IS DISTINCT FROM OLD.anonymized_at THEN
        NEW.retention_settled := NULL;
        NEW.retention_recheck_at := NULL;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_subjects_upd BEFORE UPDATE ON subjects
    FOR EACH ROW WHEN (OLD.retention_settled IS NOT NULL) EXECUTE FUNCTION retention_settled_subjects_upd();

-- Tickets and account events: the subjects of the rows inserted, deleted
-- or updated (before and after). One statement per statement.
-- +goose StatementBegin
CREATE FUNCTION retention_unsettle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE subjects s SET retention_settled = NULL, retention_recheck_at = NULL
        FROM (SELECT DISTINCT user_id FROM new_rows) r WHERE s.user_id = r.user_id AND s.retention_settled IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE subjects s SET retention_settled = NULL, retention_recheck_at = NULL
        FROM (SELECT DISTINCT user_id FROM old_rows) r WHERE s.user_id = r.user_id AND s.retention_settled IS NOT NULL;
    ELSE
        UPDATE subjects s SET retention_settled = NULL, retention_recheck_at = NULL
        FROM (SELECT user_id FROM old_rows UNION SELECT user_id FROM new_rows) r WHERE s.user_id = r.user_id AND s.retention_settled IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_tickets_ins AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_unsettle();
CREATE TRIGGER retention_settled_tickets_del AFTER DELETE ON tickets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_unsettle();
CREATE TRIGGER retention_settled_tickets_upd AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_unsettle();
CREATE TRIGGER retention_settled_events_ins AFTER INSERT ON account_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_unsettle();
CREATE TRIGGER retention_settled_events_del AFTER DELETE ON account_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_unsettle();
CREATE TRIGGER retention_settled_events_upd AFTER UPDATE ON account_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_unsettle();

-- Legal holds: on the subject, or on one of their tickets.
-- +goose StatementBegin
CREATE FUNCTION retention_unsettle_holds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE subjects s SET retention_settled = NULL, retention_recheck_at = NULL
        WHERE s.retention_settled IS NOT NULL AND (s.user_id = OLD.user_id
           OR s.user_id = (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id));
    ELSE
        UPDATE subjects s SET retention_settled = NULL, retention_recheck_at = NULL
        WHERE s.retention_settled IS NOT NULL AND (s.user_id = NEW.user_id
           OR s.user_id = (SELECT t.user_id FROM tickets t WHERE t.ticket_id = NEW.ticket_id));
        IF TG_OP = 'UPDATE' THEN
            UPDATE subjects s SET retention_settled = NULL, retention_recheck_at = NULL
            WHERE s.retention_settled IS NOT NULL AND (s.user_id = OLD.user_id
               OR s.user_id = (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_holds AFTER INSERT OR UPDATE OR DELETE ON legal_holds
    FOR EACH ROW EXECUTE FUNCTION retention_unsettle_holds();

-- +goose Down
DROP TRIGGER retention_settled_holds ON legal_holds;
DROP FUNCTION retention_unsettle_holds();
DROP TRIGGER retention_settled_events_upd ON account_events;
DROP TRIGGER retention_settled_events_del ON account_events;
DROP TRIGGER retention_settled_events_ins ON account_events;
DROP TRIGGER retention_settled_tickets_upd ON tickets;
DROP TRIGGER retention_settled_tickets_del ON tickets;
DROP TRIGGER retention_settled_tickets_ins ON tickets;
DROP FUNCTION retention_unsettle();
DROP TRIGGER retention_settled_subjects_upd ON subjects;
DROP FUNCTION retention_settled_subjects_upd();
DROP INDEX subjects_retention_candidates;
ALTER TABLE subjects DROP COLUMN retention_recheck_at;
ALTER TABLE subjects DROP COLUMN retention_settled;
