package store

import (
	"context"
	"fmt"
)

// The statistics change log (table stats_dirty, migration 00080) is filled
// by triggers in the transactions that change tickets, messages, subjects
// and objections; a refresh reads it into a temporary table of its own
// transaction (stats_batch), recomputes what the entries reach, and deletes
// exactly the entries it read: an entry committed meanwhile stays for the
// next refresh.

// StatsChanges is the part of the change log a refresh works from.
type StatsChanges struct {
	// Entries is the number of log entries read.
	Entries int64
	// Full is true when no full recomputation has ever run on the store
	// (changes made before the log existed are not in it).
	Full bool
}

// ReadStatsChanges marks tx as the statistics' writer (its own deletions of
// subject_stats rows are not logged), copies the change log into the
// transaction's stats_batch table and reports what it holds.
func ReadStatsChanges(ctx context.Context, tx *Tx) (StatsChanges, error) {
	var c StatsChanges
	stmts := []string{
		"CREATE TEMP TABLE stats_batch (id BIGINT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL)",
		"CREATE TEMP TABLE stats_batch_users (user_id TEXT PRIMARY KEY)",
		"INSERT INTO stats_batch (id, kind, key) SELECT id, kind, key FROM stats_dirty",
		"CREATE INDEX stats_batch_kind_key ON stats_batch (kind, key)",
	}
	if tx.dialect == Postgres {
		stmts[0] += " ON COMMIT DROP"
		stmts[1] += " ON COMMIT DROP"
		stmts = append([]string{"SELECT set_config('oubli.stats_writer', 'on', true)"}, stmts...)
	} else {
		stmts = append([]string{"DROP TABLE IF EXISTS temp.stats_batch", "DROP TABLE IF EXISTS temp.stats_batch_users"}, stmts...)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return c, fmt.Errorf("read statistics changes: %w", err)
		}
	}
	if err := tx.Get(ctx, &c.Entries, "SELECT COUNT(*) FROM stats_batch"); err != nil {
		return c, fmt.Errorf("count statistics changes: %w", err)
	}
	var n int64
	if err := tx.Get(ctx, &n, "SELECT COUNT(*) FROM stats_state"); err != nil {
		return c, fmt.Errorf("statistics state: %w", err)
	}
	c.Full = n == 0
	return c, nil
}

// StatsChangedDays returns the agent days the changes read by
// ReadStatsChanges reach: the days logged, the agent days of the tickets
// logged, and the agent days of every ticket of the subjects whose
// eligibility changed. It also fills stats_batch_users with the subjects
// whose own figure the changes reach.
func StatsChangedDays(ctx context.Context, tx *Tx) ([]string, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO stats_batch_users (user_id)
		SELECT key FROM stats_batch WHERE kind IN ('u', 's')
		UNION SELECT t.user_id FROM tickets t JOIN stats_batch b ON b.kind = 't' AND b.key = t.ticket_id
		WHERE t.user_id IS NOT NULL`); err != nil {
		return nil, fmt.Errorf("subjects changed: %w", err)
	}
	day := dayExpr(tx.dialect, "m.sent_at")
	var days []string
	err := tx.Select(ctx, &days, `SELECT key AS day FROM stats_batch WHERE kind = 'd'
		UNION SELECT `+day+` FROM messages m JOIN stats_batch b ON b.kind = 't' AND b.key = m.ticket_id
		WHERE m.author = 'agent' AND m.agent_id IS NOT NULL
		UNION SELECT `+day+` FROM messages m JOIN tickets t ON t.ticket_id = m.ticket_id
		JOIN stats_batch b ON b.kind = 'u' AND b.key = t.user_id
		WHERE m.author = 'agent' AND m.agent_id IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("days changed: %w", err)
	}
	return days, nil
}

// RecomputeChangedSubjectStats recomputes the subject_stats rows of the
// subjects StatsChangedDays collected (see RecomputeSubjectStats).
func RecomputeChangedSubjectStats(ctx context.Context, tx *Tx, sc StatsScope) (int64, error) {
	return recomputeSubjectStats(ctx, tx, sc, "IN (SELECT user_id FROM stats_batch_users)", nil, false)
}

// ConsumeStatsChanges deletes the log entries ReadStatsChanges read (and,
// when full, records that a full recomputation has run), then drops the
// transaction's temporary tables.
func ConsumeStatsChanges(ctx context.Context, tx *Tx, full bool, at int64) error {
	stmts := []string{"DELETE FROM stats_dirty WHERE id IN (SELECT id FROM stats_batch)"}
	if tx.dialect == SQLite {
		// One writer at a time: whatever else the log holds now was
		// logged by this transaction's own writes.
		stmts = []string{"DELETE FROM stats_dirty", "DROP TABLE temp.stats_batch", "DROP TABLE temp.stats_batch_users"}
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("consume statistics changes: %w", err)
		}
	}
	if full {
		if _, err := tx.Exec(ctx, "DELETE FROM stats_state"); err != nil {
			return fmt.Errorf("statistics state: %w", err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO stats_state (id, full_refreshed) VALUES (1, ?)", at); err != nil {
			return fmt.Errorf("statistics state: %w", err)
		}
	}
	return nil
}
