-- +goose Up
-- Identifiers in attachment contents, indexed at ingest (issue 11, item 4):
-- the keyed hashes (HMAC with the store's key, kind "residue-token") of the
-- distinct tokens of each text-bearing document, so that an erasure finds the
-- documents naming the subject through an index instead of reading every
-- blob. Hash-only: no token is kept in clear. attachment_index says, for
-- every attachment, whether its contents were read and how completely:
-- 'pending' until then (a row made by trigger for every attachment, those
-- stored before this migration included; oubli residue reindex and check
-- --residue backfill them), so that the erasure finds the documents it
-- cannot check through a partial index, counted up to a bound, instead of
-- counting the store.
CREATE TABLE attachment_index (
    blob_key   TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'indexed', 'partial', 'unsupported')),
    tokens     INTEGER NOT NULL DEFAULT 0,
    indexed_at BIGINT NOT NULL
);

-- The documents the index does not cover (pending, partial, unsupported).
CREATE INDEX attachment_index_gaps ON attachment_index (status, blob_key) WHERE status <> 'indexed';

INSERT INTO attachment_index (blob_key, status, tokens, indexed_at)
SELECT blob_key, 'pending', 0, 0 FROM attachments;

CREATE TABLE attachment_tokens (
    token_hash TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    PRIMARY KEY (token_hash, blob_key)
);
CREATE INDEX attachment_tokens_blob ON attachment_tokens (blob_key);

-- Every new attachment starts pending (ingest then records its index in
-- the same transaction; seed and other writers leave it to the backfill).
-- +goose StatementBegin
CREATE FUNCTION attachment_index_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO attachment_index (blob_key, status, tokens, indexed_at)
    SELECT blob_key, 'pending', 0, 0 FROM new_rows ON CONFLICT (blob_key) DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER attachment_index_ins AFTER INSERT ON attachments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attachment_index_ins();

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
    INSERT INTO attachment_index (blob_key, status, tokens, indexed_at)
    SELECT n.blob_key, 'pending', 0, 0 FROM old_rows o JOIN new_rows n ON n.attachment_id = o.attachment_id
    WHERE n.blob_key IS DISTINCT FROM o.blob_key ON CONFLICT (blob_key) DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER attachment_index_upd AFTER UPDATE ON attachments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attachment_index_upd();

-- +goose Down
DROP TRIGGER attachment_index_upd ON attachments;
DROP TRIGGER attachment_index_ins ON attachments;
DROP TRIGGER attachment_index_del ON attachments;
DROP FUNCTION attachment_index_upd();
DROP FUNCTION attachment_index_ins();
DROP FUNCTION attachment_index_del();
DROP TABLE attachment_tokens;
DROP TABLE attachment_index;
