-- +goose Up
-- The nightly run's subjects to decide — closed before the cutoff and not
-- settled under the current policy revision, or due for a recheck — are
-- read through two partial indexes, one arm each (issue 11: the former
-- index on (account_closed_at, retention_settled, retention_recheck_at)
-- was read over every closed subject to find the few unsettled ones:
-- 64,000 entries for 59 candidates at 3 M tickets, growing with the store).
CREATE INDEX subjects_retention_unsettled ON subjects (account_closed_at) WHERE retention_settled IS NULL;
CREATE INDEX subjects_retention_settled ON subjects (retention_settled, retention_recheck_at) WHERE retention_settled IS NOT NULL;
DROP INDEX subjects_retention_candidates;

-- +goose Down
CREATE INDEX subjects_retention_candidates ON subjects (account_closed_at, retention_settled, retention_recheck_at, user_id);
DROP INDEX subjects_retention_settled;
DROP INDEX subjects_retention_unsettled;
