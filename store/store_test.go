package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestAuditChain(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h, err := db.Hasher(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := store.AppendAudit(ctx, tx, store.AuditRecord{
					Actor: "test", Action: "ingest", SubjectRef: h.Hash("user_id", "u-1"),
					Outcome: "ok", Detail: map[string]any{"n": i},
				})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		v, err := db.VerifyAudit(ctx)
		if err != nil || v.Entries != 5 {
			t.Fatalf("verify = %+v, %v; want 5 entries, nil", v, err)
		}
		// The database refuses edits of the trail…
		if _, err := db.Exec(ctx, "UPDATE audit_log SET outcome = 'failed' WHERE seq = 3"); err == nil {
			t.Fatal("UPDATE of audit_log succeeded; want it refused")
		}
		// …and someone who drops the guard is still caught by the chain.
		dropGuard(t, db)
		if _, err := db.Exec(ctx, "UPDATE audit_log SET outcome = 'failed' WHERE seq = 3"); err != nil {
			t.Fatal(err)
		}
		v, err = db.VerifyAudit(ctx)
		if !errors.Is(err, store.ErrAuditBroken) || v.BrokenSeq != 3 {
			t.Fatalf("after edit: verify = %+v, %v; want broken at 3", v, err)
		}
		// Pruning a prefix keeps the rest verifiable from the anchor.
		if _, err := db.Exec(ctx, "UPDATE audit_log SET outcome = 'ok' WHERE seq = 3"); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := store.PruneAudit(ctx, tx, 2); return err }); err != nil {
			t.Fatal(err)
		}
		if v, err := db.VerifyAudit(ctx); err != nil || v.FirstSeq != 3 || v.Entries != 3 {
			t.Fatalf("after prune: verify = %+v, %v", v, err)
		}
		if _, err := db.Exec(ctx, "DELETE FROM audit_log WHERE seq = 4"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "entry 5") {
			t.Fatalf("after delete: %v; want broken at entry 5", err)
		}
	})
}

// dropGuard removes the append-only trigger, as an attacker with DDL rights could.
func dropGuard(t *testing.T, db *store.DB) {
	t.Helper()
	q := "DROP TRIGGER audit_log_no_update"
	if db.Dialect() == store.Postgres {
		q += " ON audit_log"
	}
	if _, err := db.Exec(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}
