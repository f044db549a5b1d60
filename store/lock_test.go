package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestLockTimeoutIsNotBusy (issue 18 item 10): a statement canceled by
// PostgreSQL's lock_timeout is ErrLockTimeout, with its own message, not
// ErrBusy (which means only "another retention run holds the lock").
func TestLockTimeoutIsNotBusy(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("lock_timeout is a PostgreSQL setting")
		}
		ctx := context.Background()
		if _, err := db.Exec(ctx, "INSERT INTO settings (key, value) VALUES ('k', 'v')"); err != nil {
			t.Fatal(err)
		}
		holder, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		if _, err := holder.ExecContext(ctx, "UPDATE settings SET value = 'w' WHERE key = 'k'"); err != nil {
			t.Fatal(err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '50ms'"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "UPDATE settings SET value = 'x' WHERE key = 'k'")
			return err
		})
		if !errors.Is(err, store.ErrLockTimeout) || errors.Is(err, store.ErrBusy) {
			t.Fatalf("err %v: want ErrLockTimeout, not ErrBusy", err)
		}
	})
}

// TestWaitingHoldDoesNotBlockLaterBatches (issue 18 item 9): on PostgreSQL
// a hold waits for the purge batches in flight, but while it waits it does
// not queue ahead of later batches (an exclusive lock request queued in
// PostgreSQL's lock manager makes every later shared request wait too).
func TestWaitingHoldDoesNotBlockLaterBatches(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite has one writer at a time")
		}
		ctx := context.Background()
		if _, err := db.Exec(ctx, "INSERT INTO tickets (ticket_id, request_number, subject, description, status, created_at) VALUES ('T1', 'R', 's', 'd', 'open', 0)"); err != nil {
			t.Fatal(err)
		}
		inFlight, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.LockPurgeBatch(ctx, inFlight); err != nil {
			t.Fatal(err)
		}
		held := make(chan error, 1)
		go func() {
			held <- db.InTx(ctx, func(tx *store.Tx) error {
				return store.AddHold(ctx, tx, store.Hold{HoldID: store.NewHoldID(), TicketID: store.NullString("T1"), Reason: "claim", CreatedAt: 1})
			})
		}()
		time.Sleep(300 * time.Millisecond) // the hold reaches its wait
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
				return err
			}
			return store.LockPurgeBatch(ctx, tx)
		})
		if err != nil {
			t.Errorf("a later batch waited behind the hold: %v", err)
		}
		if err := inFlight.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := <-held; err != nil {
			t.Fatalf("hold: %v", err)
		}
	})
}
