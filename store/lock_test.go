package store_test

import (
	"context"
	"errors"
	"testing"

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
