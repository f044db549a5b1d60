-- +goose Up
-- Identifiers in attachment contents, indexed at ingest (issue 11, item 4):
-- the keyed hashes (HMAC with the store's key, kind "residue-token") of the
-- distinct tokens of each text-bearing document, so that an erasure finds the
-- documents naming the subject through an index instead of reading every
-- blob. Hash-only: no token is kept in clear. attachment_index says which
-- blobs were read and how completely; a blob without a row was stored before
-- this index (backfilled by oubli residue reindex or check --residue).
CREATE TABLE attachment_index (
    blob_key   TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('indexed', 'partial', 'unsupported')),
    tokens     INTEGER NOT NULL DEFAULT 0,
    indexed_at BIGINT NOT NULL
);

CREATE TABLE attachment_tokens (
    token_hash TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    PRIMARY KEY (token_hash, blob_key)
);
CREATE INDEX attachment_tokens_blob ON attachment_tokens (blob_key);

-- The index rows go with their blob: an attachment deleted (erasure,
-- retention) or given new contents (a re-ingest replacing a document).
-- Statement-level, as the statistics' triggers: one DELETE per statement.
-- +goose StatementBegin
CREATE FUNCTION attachment_index_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM attachment_tokens WHERE blob_key IN (SELECT blob_key FROM old_rows);
    DELETE FROM attachment_index WHERE blob_key IN (SELECT blob_key FROM old_rows);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER attachment_index_del AFTER DELETE ON attachments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION attachment_index_del();

-- +goose StatementBegin
CREATE FUNCTION attachment_index_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM attachment_tokens WHERE blob_key IN (
        SELECT o.blob_key FROM old_rows o JOIN new_rows n ON n.attachment_id = o.attachment_id WHERE n.blob_key IS DISTINCT FROM o.blob_key);
    DELETE FROM attachment_index WHERE blob_key IN (
        SELECT o.blob_key FROM old_rows o JOIN new_rows n ON n.attachment_id = o.attachment_id WHERE n.blob_key IS DISTINCT FROM o.blob_key);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER attachment_index_upd AFTER UPDATE ON attachments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attachment_index_upd();

-- +goose Down
DROP TRIGGER attachment_index_upd ON attachments;
DROP TRIGGER attachment_index_del ON attachments;
DROP FUNCTION attachment_index_upd();
DROP FUNCTION attachment_index_del();
DROP TABLE attachment_tokens;
DROP TABLE attachment_index;
