-- +goose Up
-- SQLite only (its change-log triggers met their unique key inside an
-- upsert, see the SQLite migration 00200); PostgreSQL's statement-level
-- triggers have no such key. Kept so both stores share one version list.
SELECT 1;

-- +goose Down
SELECT 1;
