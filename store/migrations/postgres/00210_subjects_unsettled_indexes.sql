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

-- The triggers that clear a subject's memo (00170) look the subjects up by
-- primary key: with the partial index above, and statistics taken before a
-- run settled thousands of subjects, the planner read every settled subject
-- through it for the "retention_settled IS NOT NULL" filter (79 ms for an
-- erasure's nine tickets at 1 M) instead of a few key look-ups. The filter
-- is written as an expression no index holds.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION retention_unsettle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT user_id FROM new_rows WHERE user_id IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT user_id FROM old_rows WHERE user_id IS NOT NULL);
    ELSE
        ids := ARRAY(SELECT user_id FROM old_rows WHERE user_id IS NOT NULL UNION SELECT user_id FROM new_rows WHERE user_id IS NOT NULL);
    END IF;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE user_id = ANY (ids) AND (retention_settled + 0) IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION retention_unsettle_holds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        ids := ARRAY[OLD.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id)];
    ELSE
        ids := ARRAY[NEW.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = NEW.ticket_id)];
        IF TG_OP = 'UPDATE' THEN
            ids := ids || ARRAY[OLD.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id)];
        END IF;
    END IF;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE user_id = ANY (ids) AND (retention_settled + 0) IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
CREATE INDEX subjects_retention_candidates ON subjects (account_closed_at, retention_settled, retention_recheck_at, user_id);
DROP INDEX subjects_retention_settled;
DROP INDEX subjects_retention_unsettled;
