-- +goose Up
-- The erasure's residue check searches the free-text columns for the
-- subject's identifiers through trigram indexes (pg_trgm, shipped by the
-- postgresql-contrib package) instead of reading every row. The list of
-- columns is residue.Catalog's Text columns: a Text column without an index
-- here is reported by the check, never skipped silently.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE EXCEPTION 'the PostgreSQL extension pg_trgm is not installed on the database server: install the package postgresql-contrib (or your distribution''s package holding the contrib extensions) there, then run oubli migrate';
    END IF;
END
$$;
-- +goose StatementEnd
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX residue_trgm_tickets_subject ON tickets USING gin (subject gin_trgm_ops);
CREATE INDEX residue_trgm_tickets_description ON tickets USING gin (description gin_trgm_ops);
CREATE INDEX residue_trgm_tickets_transaction_ref ON tickets USING gin (transaction_ref gin_trgm_ops);
CREATE INDEX residue_trgm_messages_body ON messages USING gin (body gin_trgm_ops);
CREATE INDEX residue_trgm_attachments_filename ON attachments USING gin (filename gin_trgm_ops);
CREATE INDEX residue_trgm_account_events_detail ON account_events USING gin (detail gin_trgm_ops);
CREATE INDEX residue_trgm_dsr_requests_extension_reason ON dsr_requests USING gin (extension_reason gin_trgm_ops);
CREATE INDEX residue_trgm_dsr_requests_refusal_reason ON dsr_requests USING gin (refusal_reason gin_trgm_ops);
CREATE INDEX residue_trgm_legal_holds_reason ON legal_holds USING gin (reason gin_trgm_ops);

-- +goose Down
DROP INDEX residue_trgm_legal_holds_reason;
DROP INDEX residue_trgm_dsr_requests_refusal_reason;
DROP INDEX residue_trgm_dsr_requests_extension_reason;
DROP INDEX residue_trgm_account_events_detail;
DROP INDEX residue_trgm_attachments_filename;
DROP INDEX residue_trgm_messages_body;
DROP INDEX residue_trgm_tickets_transaction_ref;
DROP INDEX residue_trgm_tickets_description;
DROP INDEX residue_trgm_tickets_subject;
