-- +goose Up
-- The residue proof's work list: for each subject erased since the last
-- sweep, keyed hashes (HMAC, kind "residue-token") of their identifiers as
-- lower-cased tokens. Hash-only: no identifier is kept in clear. `oubli check
-- --residue` consumes the rows it swept.
CREATE TABLE residue_worklist (
    subject_ref TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('user_id', 'email', 'pseudo')),
    strength    TEXT NOT NULL CHECK (strength IN ('strong', 'weak')),
    tokens      INTEGER NOT NULL DEFAULT 1,
    erased_at   BIGINT NOT NULL,
    PRIMARY KEY (subject_ref, token_hash)
);

-- What the sweep found in records that are not the erased subject's own:
-- the place (table.column or "blobs"), the row's internal id or the blob key,
-- and the keyed hashes of the identifiers found, never the text. The DPO
-- reviews them (oubli residue list / redact / dismiss).
CREATE TABLE residue_findings (
    finding_id   TEXT PRIMARY KEY,
    found_at     BIGINT NOT NULL,
    place        TEXT NOT NULL,
    row_ref      TEXT NOT NULL,
    subject_ref  TEXT NOT NULL,
    token_hashes TEXT NOT NULL,
    strength     TEXT NOT NULL CHECK (strength IN ('strong', 'weak')),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'redacted', 'dismissed')),
    resolved_at  BIGINT,
    UNIQUE (place, row_ref, subject_ref)
);
CREATE INDEX residue_findings_status ON residue_findings (status);

-- The erasure's own-record check looks the pseudo up by equality: the index
-- subjects_pseudo of migration 00091 serves it.

-- +goose Down
DROP TABLE residue_findings;
DROP TABLE residue_worklist;
