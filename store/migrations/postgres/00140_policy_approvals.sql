-- +goose Up
-- Approvals of policy revisions (oubli policy approve): who approved which
-- revision, when, why, and the revision's files so that it can be rendered
-- and compared with later (policy diff --against approved:ID). summary is
-- the diff against the previously approved revision (counts per category
-- and rule pair, JSON). Once the store holds any approval, retention run,
-- schedule and erase refuse a revision that is not approved.
CREATE TABLE policy_approvals (
    id                BIGSERIAL PRIMARY KEY,
    revision          TEXT NOT NULL,
    approved_by       TEXT NOT NULL,
    approved_at       BIGINT NOT NULL,
    note              TEXT NOT NULL DEFAULT '',
    files             TEXT NOT NULL,
    previous_revision TEXT NOT NULL DEFAULT '',
    summary           TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX policy_approvals_revision ON policy_approvals (revision);

-- +goose Down
DROP TABLE policy_approvals;
