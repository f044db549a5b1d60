-- +goose Up
-- The audit trail is append-only: an UPDATE is refused by the database itself.
-- (Deleting the oldest entries is allowed: retention prunes the front of the
-- chain and records the anchor it continues from.) Someone with DDL rights can
-- still drop this trigger; `oubli audit verify` then catches any edit.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_update;
