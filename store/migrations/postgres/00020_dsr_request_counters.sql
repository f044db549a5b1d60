-- +goose Up
-- One counter per year for the register's readable request ids
-- (DSR-2026-000123). Taken with an upsert inside the opening transaction, so
-- two concurrent openings never get the same number on either backend.
CREATE TABLE dsr_request_counters (
    year INTEGER PRIMARY KEY,
    last BIGINT NOT NULL
);

-- +goose Down
DROP TABLE dsr_request_counters;
