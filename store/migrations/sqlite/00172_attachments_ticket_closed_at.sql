-- +goose Up
-- The retention pre-filter of attachments (issue 11 item 7): see the
-- PostgreSQL migration.
ALTER TABLE attachments ADD COLUMN ticket_closed_at INTEGER;
UPDATE attachments SET ticket_closed_at = (SELECT t.closed_at FROM tickets t WHERE t.ticket_id = attachments.ticket_id);
CREATE INDEX attachments_ticket_closed_at ON attachments (ticket_closed_at);

-- +goose StatementBegin
CREATE TRIGGER attachments_ticket_closed_at_ins AFTER INSERT ON attachments BEGIN
    UPDATE attachments SET ticket_closed_at = (SELECT t.closed_at FROM tickets t WHERE t.ticket_id = NEW.ticket_id)
    WHERE attachment_id = NEW.attachment_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attachments_ticket_closed_at_move AFTER UPDATE OF ticket_id, ticket_closed_at ON attachments
WHEN NEW.ticket_closed_at IS NOT (SELECT t.closed_at FROM tickets t WHERE t.ticket_id = NEW.ticket_id) BEGIN
    UPDATE attachments SET ticket_closed_at = (SELECT t.closed_at FROM tickets t WHERE t.ticket_id = NEW.ticket_id)
    WHERE attachment_id = NEW.attachment_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attachments_ticket_closed_at_upd AFTER UPDATE OF closed_at ON tickets
WHEN NEW.closed_at IS NOT OLD.closed_at BEGIN
    UPDATE attachments SET ticket_closed_at = NEW.closed_at WHERE ticket_id = NEW.ticket_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER attachments_ticket_closed_at_upd;
DROP TRIGGER attachments_ticket_closed_at_move;
DROP TRIGGER attachments_ticket_closed_at_ins;
DROP INDEX attachments_ticket_closed_at;
ALTER TABLE attachments DROP COLUMN ticket_closed_at;
