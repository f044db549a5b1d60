-- +goose Up
-- The retention pre-filter of attachments (issue 11 item 7): their clock is
-- their ticket's closure, so their candidates were found by joining every
-- attachment to its ticket, night after night. The closure is copied onto
-- the attachment, kept by triggers, and indexed. It is only a pre-filter:
-- the policies decide on the ticket's own row, re-read with row locks.
ALTER TABLE attachments ADD COLUMN ticket_closed_at BIGINT;
UPDATE attachments a SET ticket_closed_at = t.closed_at FROM tickets t WHERE t.ticket_id = a.ticket_id AND t.closed_at IS NOT NULL;
CREATE INDEX attachments_ticket_closed_at ON attachments (ticket_closed_at);
ANALYZE attachments;

-- +goose StatementBegin
CREATE FUNCTION attachments_ticket_closed_at_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ticket_closed_at := (SELECT t.closed_at FROM tickets t WHERE t.ticket_id = NEW.ticket_id);
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER attachments_ticket_closed_at_ins BEFORE INSERT OR UPDATE OF ticket_id, ticket_closed_at ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_ticket_closed_at_ins();

-- +goose StatementBegin
CREATE FUNCTION attachments_ticket_closed_at_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attachments a SET ticket_closed_at = n.closed_at
    FROM old_rows o JOIN new_rows n ON n.ticket_id = o.ticket_id
    WHERE a.ticket_id = n.ticket_id AND n.closed_at IS DISTINCT FROM o.closed_at;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER attachments_ticket_closed_at_upd AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attachments_ticket_closed_at_upd();

-- +goose Down
DROP TRIGGER attachments_ticket_closed_at_upd ON tickets;
DROP FUNCTION attachments_ticket_closed_at_upd();
DROP TRIGGER attachments_ticket_closed_at_ins ON attachments;
DROP FUNCTION attachments_ticket_closed_at_ins();
DROP INDEX attachments_ticket_closed_at;
ALTER TABLE attachments DROP COLUMN ticket_closed_at;
