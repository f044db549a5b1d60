-- +goose Up
-- Settled subjects (issue 11 item 7): see the PostgreSQL migration. SQLite
-- triggers are per row.
ALTER TABLE subjects ADD COLUMN retention_settled INTEGER;
ALTER TABLE subjects ADD COLUMN retention_recheck_at INTEGER;
CREATE INDEX subjects_retention_candidates ON subjects (account_closed_at, retention_settled, retention_recheck_at, user_id);

-- +goose StatementBegin
CREATE TRIGGER retention_settled_subjects_upd AFTER UPDATE OF account_created_at, account_closed_at, anonymized_at ON subjects
WHEN OLD.retention_settled IS NOT NULL AND (NEW.account_created_at IS NOT OLD.account_created_at
    OR NEW.account_closed_at IS NOT OLD.account_closed_at OR NEW.anonymized_at IS NOT OLD.anonymized_at) BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE user_id = NEW.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_tickets_ins AFTER INSERT ON tickets WHEN NEW.user_id IS NOT NULL BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = NEW.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_tickets_del AFTER DELETE ON tickets WHEN OLD.user_id IS NOT NULL BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = OLD.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_tickets_upd AFTER UPDATE ON tickets BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = OLD.user_id;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = NEW.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_events_ins AFTER INSERT ON account_events WHEN NEW.user_id IS NOT NULL BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = NEW.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_events_del AFTER DELETE ON account_events WHEN OLD.user_id IS NOT NULL BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = OLD.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_events_upd AFTER UPDATE ON account_events BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = OLD.user_id;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = NEW.user_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_holds_ins AFTER INSERT ON legal_holds BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (user_id = NEW.user_id OR user_id = (SELECT t.user_id FROM tickets t WHERE t.ticket_id = NEW.ticket_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_holds_del AFTER DELETE ON legal_holds BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (user_id = OLD.user_id OR user_id = (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_holds_upd AFTER UPDATE ON legal_holds BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (user_id IN (OLD.user_id, NEW.user_id)
          OR user_id IN (SELECT t.user_id FROM tickets t WHERE t.ticket_id IN (OLD.ticket_id, NEW.ticket_id)));
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER retention_settled_holds_upd;
DROP TRIGGER retention_settled_holds_del;
DROP TRIGGER retention_settled_holds_ins;
DROP TRIGGER retention_settled_events_upd;
DROP TRIGGER retention_settled_events_del;
DROP TRIGGER retention_settled_events_ins;
DROP TRIGGER retention_settled_tickets_upd;
DROP TRIGGER retention_settled_tickets_del;
DROP TRIGGER retention_settled_tickets_ins;
DROP TRIGGER retention_settled_subjects_upd;
DROP INDEX subjects_retention_candidates;
ALTER TABLE subjects DROP COLUMN retention_recheck_at;
ALTER TABLE subjects DROP COLUMN retention_settled;
