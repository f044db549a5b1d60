package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Querier is what both *DB and *Tx offer: queries written with '?' and
// rebound for the backend.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Get(ctx context.Context, dest any, query string, args ...any) error
	Select(ctx context.Context, dest any, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (*sqlx.Rows, error)
	Dialect() Dialect
}

// Tx is one database transaction. It is passed explicitly to every function
// that must take part in it.
type Tx struct {
	x       *sqlx.Tx
	dialect Dialect
	// head is the newest audit entry this transaction appended; sink
	// receives it once the transaction has committed.
	head   *Head
	sink   HeadSink
	noSink error
}

// Dialect reports the backend.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// SQL returns the underlying *sqlx.Tx.
func (tx *Tx) SQL() *sqlx.Tx { return tx.x }

// Exec runs a statement.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := tx.x.ExecContext(ctx, tx.x.Rebind(query), args...)
	return r, mapErr(err)
}

// Get scans one row into dest; sql.ErrNoRows becomes ErrNotFound.
func (tx *Tx) Get(ctx context.Context, dest any, query string, args ...any) error {
	return mapErr(tx.x.GetContext(ctx, dest, tx.x.Rebind(query), args...))
}

// Select scans all rows into the slice dest.
func (tx *Tx) Select(ctx context.Context, dest any, query string, args ...any) error {
	return mapErr(tx.x.SelectContext(ctx, dest, tx.x.Rebind(query), args...))
}

// Query returns rows to stream over.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	r, err := tx.x.QueryxContext(ctx, tx.x.Rebind(query), args...)
	return r, mapErr(err)
}

// Exec runs a statement outside any explicit transaction.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := db.x.ExecContext(ctx, db.x.Rebind(query), args...)
	return r, mapErr(err)
}

// Get scans one row into dest; sql.ErrNoRows becomes ErrNotFound.
func (db *DB) Get(ctx context.Context, dest any, query string, args ...any) error {
	return mapErr(db.x.GetContext(ctx, dest, db.x.Rebind(query), args...))
}

// Select scans all rows into the slice dest.
func (db *DB) Select(ctx context.Context, dest any, query string, args ...any) error {
	return mapErr(db.x.SelectContext(ctx, dest, db.x.Rebind(query), args...))
}

// Query returns rows to stream over.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	r, err := db.x.QueryxContext(ctx, db.x.Rebind(query), args...)
	return r, mapErr(err)
}

// Begin starts a transaction. On SQLite it takes the write lock at once
// (BEGIN IMMEDIATE), so two writers never deadlock on a lock upgrade.
func (db *DB) Begin(ctx context.Context) (*Tx, error) {
	x, err := db.x.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", mapErr(err))
	}
	return &Tx{x: x, dialect: db.dialect, sink: db.headSink, noSink: db.noSink}, nil
}

// Commit commits the transaction. When it appended audit entries and the
// store has a head sink (the anchor file), the new head is handed to the
// sink after the commit; a sink failure is returned (the change is committed;
// the next command that opens the store records the head).
func (tx *Tx) Commit() error {
	if err := mapErr(tx.x.Commit()); err != nil {
		return err
	}
	if tx.head != nil && tx.sink != nil {
		if err := tx.sink(*tx.head); err != nil {
			return fmt.Errorf("committed, but the audit head (entry %d) was not recorded outside the store: %w", tx.head.Seq, err)
		}
	}
	return nil
}

// Rollback aborts the transaction; it is harmless after Commit.
func (tx *Tx) Rollback() error {
	err := tx.x.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Savepoint runs fn inside a savepoint of tx. When fn fails, what it wrote
// is rolled back and tx stays usable (PostgreSQL refuses every statement of
// a transaction after an error otherwise); fn's error is returned.
func (tx *Tx) Savepoint(ctx context.Context, fn func() error) error {
	if _, err := tx.Exec(ctx, "SAVEPOINT oubli_batch"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT oubli_batch"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		return err
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT oubli_batch"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing if fn returns nil and rolling
// back otherwise (and on panic).
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// mapErr turns driver errors into the package's sentinels where one applies.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		switch pqe.Code.Class() {
		case "23": // integrity constraint violation
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		if pqe.Code == "55P03" { // lock_not_available: lock_timeout, or NOWAIT
			return fmt.Errorf("%w: %w", ErrLockTimeout, err)
		}
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "constraint failed") {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// In expands a query with one "IN (?)" placeholder for a slice argument.
func In(query string, args ...any) (string, []any, error) {
	return sqlx.In(query, args...)
}

// Placeholders returns "?, ?, …" with n placeholders.
func Placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// SelectSerial is Select for a statement made of many small index look-ups
// (a UNION ALL of one look-up per column): on PostgreSQL it runs in a
// read-only transaction without parallel workers, whose start costs more
// than the look-ups — their summed estimate passes the planner's parallel
// threshold, and a Gather over them took 390 ms where the look-ups took
// 70 ms on a loaded 2-CPU server (issue 11, the erasure's residue check).
func (db *DB) SelectSerial(ctx context.Context, dest any, query string, args ...any) error {
	return readSerial(ctx, db, func(q Querier) error { return q.Select(ctx, dest, query, args...) })
}

// readSerial runs fn's reads without parallel workers on PostgreSQL: on a
// *DB inside a read-only transaction of their own, on a *Tx for the rest of
// that transaction. For statements that read few rows through indexes but
// whose estimate, before the planner's statistics catch up (a memo column
// just added, thousands of rows just settled), passes the parallel
// threshold: a Gather's two workers took 320 ms to start for a count of
// nothing on a 3 M-ticket store (issue 11, the nightly run's bounds).
func readSerial(ctx context.Context, q Querier, fn func(Querier) error) error {
	if q.Dialect() != Postgres {
		return fn(q)
	}
	switch v := q.(type) {
	case *DB:
		tx, err := v.BeginRead(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		q = tx
	case *Tx:
	default:
		return fn(q)
	}
	if _, err := q.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return err
	}
	return fn(q)
}
