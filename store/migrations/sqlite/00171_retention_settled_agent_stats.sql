-- +goose Up
-- Settled per-agent statistics (issue 11 item 7): see the PostgreSQL
-- migration.
ALTER TABLE agent_stats ADD COLUMN retention_settled INTEGER;
ALTER TABLE agent_stats ADD COLUMN retention_recheck_at INTEGER;
CREATE INDEX agent_stats_retention_candidates ON agent_stats (day, retention_settled, retention_recheck_at, id);

-- +goose StatementBegin
CREATE TRIGGER retention_settled_agent_stats_upd AFTER UPDATE OF day, agent_id, anonymized_at ON agent_stats
WHEN OLD.retention_settled IS NOT NULL AND (NEW.day IS NOT OLD.day OR NEW.agent_id IS NOT OLD.agent_id
    OR NEW.anonymized_at IS NOT OLD.anonymized_at) BEGIN
    UPDATE agent_stats SET retention_settled = NULL, retention_recheck_at = NULL WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER retention_settled_agent_stats_upd;
DROP INDEX agent_stats_retention_candidates;
ALTER TABLE agent_stats DROP COLUMN retention_recheck_at;
ALTER TABLE agent_stats DROP COLUMN retention_settled;
