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
) WITHOUT ROWID;
CREATE INDEX attachment_tokens_blob ON attachment_tokens (blob_key);

-- Every new attachment starts pending (ingest then records its index in
-- the same transaction; seed and other writers leave it to the backfill).
-- +goose StatementBegin
CREATE TRIGGER attachment_index_ins AFTER INSERT ON attachments BEGIN
    INSERT INTO attachment_index (blob_key, status, tokens, indexed_at) VALUES (new.blob_key, 'pending', 0, 0)
    ON CONFLICT (blob_key) DO NOTHING;
END;
-- +goose StatementEnd

-- The index rows go with their blob: an attachment deleted (erasure,
-- retention) or given new contents (a re-ingest replacing a document).
-- +goose StatementBegin
CREATE TRIGGER attachment_index_del AFTER DELETE ON attachments BEGIN
    DELETE FROM attachment_tokens WHERE blob_key = old.blob_key;
    DELETE FROM attachment_index WHERE blob_key = old.blob_key;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER attachment_index_upd AFTER UPDATE OF blob_key ON attachments
WHEN old.blob_key IS NOT new.blob_key BEGIN
    DELETE FROM attachment_tokens WHERE blob_key = old.blob_key;
    DELETE FROM attachment_index WHERE blob_key = old.blob_key;
    INSERT INTO attachment_index (blob_key, status, tokens, indexed_at) VALUES (new.blob_key, 'pending', 0, 0)
    ON CONFLICT (blob_key) DO NOTHING;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER attachment_index_upd;
DROP TRIGGER attachment_index_ins;
DROP TRIGGER attachment_index_del;
DROP TABLE attachment_tokens;
DROP TABLE attachment_index;
