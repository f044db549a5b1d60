package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lib/pq"
)

// Store upkeep after large writes (PostgreSQL). A retention run rewrites
// rows that every later night reads again through index-only scans (the
// settled records' memo indexes); until VACUUM has marked their pages
// all-visible, each such read visits the heap. Autovacuum gets to a table
// only after a fifth of it has changed (the default scale factor), which
// a marketplace's tickets may not reach for years. These functions do it
// right after the run that wrote: best effort, they need the role that
// owns the tables (the one that ran the migrations).

// FlushTextIndexes merges the pending-list entries of the schema's GIN
// indexes that the session's role owns into the indexes (PostgreSQL's
// gin_clean_pending_list, which needs ownership), and returns how many
// pending pages it merged and how many GIN indexes it left because the role
// does not own them; 0, 0 and no error on SQLite.
func FlushTextIndexes(ctx context.Context, db *DB) (pages int64, notOwned int, err error) {
	if db.Dialect() != Postgres {
		return 0, 0, nil
	}
	var r struct {
		Pages    int64 `db:"pages"`
		NotOwned int   `db:"not_owned"`
	}
	err = db.Get(ctx, &r, `SELECT
		COALESCE(SUM(gin_clean_pending_list(c.oid)) FILTER (WHERE pg_has_role(c.relowner, 'USAGE')), 0) AS pages,
		COUNT(*) FILTER (WHERE NOT pg_has_role(c.relowner, 'USAGE')) AS not_owned
		FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE c.relkind = 'i' AND a.amname = 'gin' AND c.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return 0, 0, fmt.Errorf("merge the text indexes' pending entries: %w", err)
	}
	return r.Pages, r.NotOwned, nil
}

// Vacuum runs VACUUM (ANALYZE, SKIP_LOCKED) on the tables of the given
// retention categories that the session's role owns (or can act as their
// owner), outside any transaction, and returns the tables it vacuumed, in
// order, and those it left because the role does not own them (PostgreSQL
// would only warn); nothing on SQLite, which keeps no visibility map. A
// table another session has locked is skipped, not waited for.
func Vacuum(ctx context.Context, db *DB, categories ...string) (vacuumed, notOwned []string, err error) {
	if db.Dialect() != Postgres || len(categories) == 0 {
		return nil, nil, nil
	}
	var tables []string
	for _, c := range categories {
		t, ok := categoryTables[c]
		if !ok {
			return nil, nil, fmt.Errorf("vacuum %s: %w", c, ErrInvalid)
		}
		tables = append(tables, t)
	}
	var owned []string
	if err := db.Select(ctx, &owned, `SELECT c.relname FROM pg_class c
		WHERE c.relname = ANY(?) AND c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
		AND pg_has_role(c.relowner, 'USAGE')`, pq.StringArray(tables)); err != nil {
		return nil, nil, fmt.Errorf("vacuum: tables owned: %w", err)
	}
	for _, t := range tables {
		if slices.Contains(owned, t) {
			vacuumed = append(vacuumed, t)
		} else {
			notOwned = append(notOwned, t)
		}
	}
	if len(vacuumed) == 0 {
		return nil, notOwned, nil
	}
	if _, err := db.Exec(ctx, "VACUUM (ANALYZE, SKIP_LOCKED) "+strings.Join(vacuumed, ", ")); err != nil {
		return nil, notOwned, fmt.Errorf("vacuum %s: %w", strings.Join(vacuumed, ", "), err)
	}
	return vacuumed, notOwned, nil
}
