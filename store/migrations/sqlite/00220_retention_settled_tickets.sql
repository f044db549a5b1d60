-- +goose Up
-- Settled tickets and attachments (issue 11 item 7): see the PostgreSQL
-- migration. SQLite triggers are per row.
ALTER TABLE tickets ADD COLUMN retention_settled INTEGER;
ALTER TABLE tickets ADD COLUMN retention_recheck_at INTEGER;
ALTER TABLE attachments ADD COLUMN retention_settled INTEGER;
ALTER TABLE attachments ADD COLUMN retention_recheck_at INTEGER;
ALTER TABLE subjects ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE subjects ADD COLUMN retention_settled_held INTEGER;
ALTER TABLE tickets ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE tickets ADD COLUMN retention_settled_held INTEGER;
ALTER TABLE attachments ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE attachments ADD COLUMN retention_settled_held INTEGER;
ALTER TABLE agent_stats ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE agent_stats ADD COLUMN retention_settled_held INTEGER;
-- Records settled before this migration carry no rule: they are decided
-- again (and settled with it) by the next run, once.
UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL;
UPDATE agent_stats SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL;

CREATE INDEX tickets_retention_unsettled ON tickets (closed_at) WHERE retention_settled IS NULL;
CREATE INDEX tickets_retention_settled ON tickets (retention_settled, retention_recheck_at, closed_at, retention_settled_rule, retention_settled_held)
    WHERE retention_settled IS NOT NULL;
DROP INDEX tickets_closed_at;
CREATE INDEX attachments_retention_unsettled ON attachments (ticket_closed_at) WHERE retention_settled IS NULL;
CREATE INDEX attachments_retention_settled ON attachments (retention_settled, retention_recheck_at, ticket_closed_at, retention_settled_rule, retention_settled_held)
    WHERE retention_settled IS NOT NULL;
DROP INDEX attachments_ticket_closed_at;
-- The settled subjects' index covers the count a run makes of what it
-- skips (store.SettledCounts).
DROP INDEX subjects_retention_settled;
CREATE INDEX subjects_retention_settled ON subjects (retention_settled, retention_recheck_at, account_closed_at, retention_settled_rule, retention_settled_held)
    WHERE retention_settled IS NOT NULL;

-- The settled records kept by a hold (store.SettledCounts).
CREATE INDEX subjects_retention_held ON subjects (retention_settled, retention_recheck_at, account_closed_at, retention_settled_rule)
    WHERE retention_settled IS NOT NULL AND retention_settled_held;
CREATE INDEX tickets_retention_held ON tickets (retention_settled, retention_recheck_at, closed_at, retention_settled_rule)
    WHERE retention_settled IS NOT NULL AND retention_settled_held;
CREATE INDEX attachments_retention_held ON attachments (retention_settled, retention_recheck_at, ticket_closed_at, retention_settled_rule)
    WHERE retention_settled IS NOT NULL AND retention_settled_held;

-- A ticket's own facts changed: its memo goes, and its attachments' when
-- what they rest on changed (the ticket's user, status, dispute, closure).
-- +goose StatementBegin
CREATE TRIGGER retention_settled_tickets_own AFTER UPDATE OF ticket_id, user_id, status, dispute_status, created_at, closed_at ON tickets
WHEN OLD.retention_settled IS NOT NULL AND (NEW.ticket_id IS NOT OLD.ticket_id OR NEW.user_id IS NOT OLD.user_id
    OR NEW.status IS NOT OLD.status OR NEW.dispute_status IS NOT OLD.dispute_status
    OR NEW.created_at IS NOT OLD.created_at OR NEW.closed_at IS NOT OLD.closed_at) BEGIN
    UPDATE tickets SET retention_settled = NULL, retention_recheck_at = NULL WHERE ticket_id = NEW.ticket_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_ticket_attachments AFTER UPDATE OF ticket_id, user_id, status, dispute_status, closed_at ON tickets
WHEN NEW.ticket_id IS NOT OLD.ticket_id OR NEW.user_id IS NOT OLD.user_id OR NEW.status IS NOT OLD.status
    OR NEW.dispute_status IS NOT OLD.dispute_status OR NEW.closed_at IS NOT OLD.closed_at BEGIN
    UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE ticket_id IN (OLD.ticket_id, NEW.ticket_id) AND retention_settled IS NOT NULL;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_attachments_own AFTER UPDATE OF attachment_id, ticket_id, uploaded_at, ticket_closed_at ON attachments
WHEN OLD.retention_settled IS NOT NULL AND (NEW.attachment_id IS NOT OLD.attachment_id OR NEW.ticket_id IS NOT OLD.ticket_id
    OR NEW.uploaded_at IS NOT OLD.uploaded_at OR NEW.ticket_closed_at IS NOT OLD.ticket_closed_at) BEGIN
    UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL WHERE attachment_id = NEW.attachment_id;
END;
-- +goose StatementEnd

-- The subjects' memo is cleared by a ticket update only when what a
-- subject's decision rests on changed (the ticket's user, status, dispute
-- or closure): settling a ticket, or re-ingesting it unchanged, no longer
-- sends its subject back to be decided.
DROP TRIGGER retention_settled_tickets_upd;
-- +goose StatementBegin
CREATE TRIGGER retention_settled_tickets_upd AFTER UPDATE OF ticket_id, user_id, status, dispute_status, closed_at ON tickets
WHEN NEW.ticket_id IS NOT OLD.ticket_id OR NEW.user_id IS NOT OLD.user_id OR NEW.status IS NOT OLD.status
    OR NEW.dispute_status IS NOT OLD.dispute_status OR NEW.closed_at IS NOT OLD.closed_at BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = OLD.user_id;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = NEW.user_id;
END;
-- +goose StatementEnd

-- Legal holds: a hold on a subject or on a ticket clears the memo of the
-- tickets it covers and of their attachments (the subject's: 00170).
-- +goose StatementBegin
CREATE TRIGGER retention_settled_holds_tickets_ins AFTER INSERT ON legal_holds BEGIN
    UPDATE tickets SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (ticket_id = NEW.ticket_id OR user_id = NEW.user_id);
    UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (ticket_id = NEW.ticket_id OR ticket_id IN (SELECT t.ticket_id FROM tickets t WHERE t.user_id = NEW.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_holds_tickets_del AFTER DELETE ON legal_holds BEGIN
    UPDATE tickets SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (ticket_id = OLD.ticket_id OR user_id = OLD.user_id);
    UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (ticket_id = OLD.ticket_id OR ticket_id IN (SELECT t.ticket_id FROM tickets t WHERE t.user_id = OLD.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER retention_settled_holds_tickets_upd AFTER UPDATE ON legal_holds BEGIN
    UPDATE tickets SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (ticket_id IN (OLD.ticket_id, NEW.ticket_id) OR user_id IN (OLD.user_id, NEW.user_id));
    UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL
        AND (ticket_id IN (OLD.ticket_id, NEW.ticket_id)
          OR ticket_id IN (SELECT t.ticket_id FROM tickets t WHERE t.user_id IN (OLD.user_id, NEW.user_id)));
END;
-- +goose StatementEnd

-- +goose Down
DROP INDEX attachments_retention_held;
DROP INDEX tickets_retention_held;
DROP INDEX subjects_retention_held;
DROP TRIGGER retention_settled_holds_tickets_upd;
DROP TRIGGER retention_settled_holds_tickets_del;
DROP TRIGGER retention_settled_holds_tickets_ins;
DROP TRIGGER retention_settled_tickets_upd;
-- +goose StatementBegin
CREATE TRIGGER retention_settled_tickets_upd AFTER UPDATE ON tickets BEGIN
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = OLD.user_id;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL AND user_id = NEW.user_id;
END;
-- +goose StatementEnd
DROP TRIGGER retention_settled_attachments_own;
DROP TRIGGER retention_settled_ticket_attachments;
DROP TRIGGER retention_settled_tickets_own;
CREATE INDEX attachments_ticket_closed_at ON attachments (ticket_closed_at);
DROP INDEX subjects_retention_settled;
CREATE INDEX subjects_retention_settled ON subjects (retention_settled, retention_recheck_at) WHERE retention_settled IS NOT NULL;
DROP INDEX attachments_retention_settled;
DROP INDEX attachments_retention_unsettled;
CREATE INDEX tickets_closed_at ON tickets (closed_at);
DROP INDEX tickets_retention_settled;
DROP INDEX tickets_retention_unsettled;
ALTER TABLE agent_stats DROP COLUMN retention_settled_held;
ALTER TABLE agent_stats DROP COLUMN retention_settled_rule;
ALTER TABLE attachments DROP COLUMN retention_settled_held;
ALTER TABLE attachments DROP COLUMN retention_settled_rule;
ALTER TABLE tickets DROP COLUMN retention_settled_held;
ALTER TABLE tickets DROP COLUMN retention_settled_rule;
ALTER TABLE subjects DROP COLUMN retention_settled_held;
ALTER TABLE subjects DROP COLUMN retention_settled_rule;
ALTER TABLE attachments DROP COLUMN retention_recheck_at;
ALTER TABLE attachments DROP COLUMN retention_settled;
ALTER TABLE tickets DROP COLUMN retention_recheck_at;
ALTER TABLE tickets DROP COLUMN retention_settled;
