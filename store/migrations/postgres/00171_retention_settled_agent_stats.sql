-- +goose Up
-- Settled per-agent statistics (issue 11 item 7), as for subjects (00170):
-- a day's row the policies keep (anonymised, until its final period) is not
-- decided again every night. The decision rests on the row's day and on
-- whether it is anonymised: changing either clears the memo; a recomputed
-- row is a new row, with none.
ALTER TABLE agent_stats ADD COLUMN retention_settled BIGINT;
ALTER TABLE agent_stats ADD COLUMN retention_recheck_at BIGINT;
CREATE INDEX agent_stats_retention_candidates ON agent_stats (day, retention_settled, retention_recheck_at, id);

-- +goose StatementBegin
CREATE FUNCTION retention_settled_agent_stats_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.day IS DISTINCT FROM OLD.day OR NEW.agent_id IS DISTINCT FROM OLD.agent_id
       OR NEW.anonymized_at IS DISTINCT FROM OLD.anonymized_at THEN
        NEW.retention_settled := NULL;
        NEW.retention_recheck_at := NULL;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_agent_stats_upd BEFORE UPDATE ON agent_stats
    FOR EACH ROW WHEN (OLD.retention_settled IS NOT NULL) EXECUTE FUNCTION retention_settled_agent_stats_upd();

-- +goose Down
DROP TRIGGER retention_settled_agent_stats_upd ON agent_stats;
DROP FUNCTION retention_settled_agent_stats_upd();
DROP INDEX agent_stats_retention_candidates;
ALTER TABLE agent_stats DROP COLUMN retention_recheck_at;
ALTER TABLE agent_stats DROP COLUMN retention_settled;
