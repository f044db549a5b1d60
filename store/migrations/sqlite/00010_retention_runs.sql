-- +goose Up
-- The history of retention runs. counts and progress are JSON objects
-- (counts per category and rule; keyed hashes never needed: no identifiers).
-- A run killed mid-way stays 'running' until the next run, holding the lock,
-- marks it 'interrupted'.
CREATE TABLE retention_runs (
    run_id          TEXT PRIMARY KEY,
    at              INTEGER NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    policy_revision TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'refused', 'interrupted', 'canceled')),
    counts          TEXT NOT NULL DEFAULT '{}',
    progress        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX retention_runs_started_at ON retention_runs (started_at);

-- Candidate scans of the purge.
CREATE INDEX agent_stats_day ON agent_stats (day);
CREATE INDEX legal_holds_released_at ON legal_holds (released_at);

-- +goose Down
DROP INDEX legal_holds_released_at;
DROP INDEX agent_stats_day;
DROP TABLE retention_runs;
