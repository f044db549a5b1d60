package anchor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/anchor"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// world is a store whose commits record their heads in an anchor file.
type world struct {
	t  *testing.T
	db *store.DB
	f  *anchor.File
}

func newWorld(t *testing.T, db *store.DB) *world {
	t.Helper()
	f, err := anchor.Open(filepath.Join(t.TempDir(), "anchor.log"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetHeadSink(f.AppendHead)
	return &world{t: t, db: db, f: f}
}

// append commits n audit entries, one transaction each.
func (w *world) append(n int) {
	w.t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if err := w.db.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.AppendAudit(ctx, tx, store.AuditRecord{Actor: "test", Action: "test.append", Outcome: "ok", Detail: map[string]any{"i": i}})
			return err
		}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// exec runs a statement straight on the store, as someone with write access
// to the database would (the append-only trigger dropped where needed).
func (w *world) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.db.Exec(context.Background(), q, args...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

func (w *world) dropTrigger() {
	if w.db.Dialect() == store.Postgres {
		w.exec("DROP TRIGGER audit_log_no_update ON audit_log")
	} else {
		w.exec("DROP TRIGGER audit_log_no_update")
	}
}

func (w *world) verify() (anchor.Result, error) {
	return anchor.Verify(context.Background(), w.db, w.f)
}

func (w *world) mustVerify() anchor.Result {
	w.t.Helper()
	r, err := w.verify()
	if err != nil {
		w.t.Fatalf("verify: %v", err)
	}
	return r
}

func (w *world) mustFail(target error, contains ...string) anchor.Result {
	w.t.Helper()
	r, err := w.verify()
	if !errors.Is(err, target) {
		w.t.Fatalf("verify: want %v, got %v", target, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			w.t.Errorf("verify error %q does not contain %q", err, c)
		}
	}
	return r
}

func TestVerifyFindsCutTail(t *testing.T) {
	for _, cut := range []int{1, 50} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			testdb.Run(t, func(t *testing.T, db *store.DB) {
				w := newWorld(t, db)
				w.append(80)
				if r := w.mustVerify(); r.LastSeq != 80 || r.AnchorSeq != 80 {
					t.Fatalf("before the cut: %+v", r)
				}
				w.exec("DELETE FROM audit_log WHERE seq > ?", 80-cut)
				// The chain alone still holds: that is what the anchor is for.
				if _, err := db.VerifyAudit(context.Background()); err != nil {
					t.Fatalf("chain alone: %v", err)
				}
				r := w.mustFail(store.ErrAuditBehind, fmt.Sprintf("ends at entry %d", 80-cut), fmt.Sprintf("entries %d..80", 81-cut), "recorded outside the store between")
				if !r.Behind || r.DivergeSeq != int64(81-cut) || r.NewestSeq != 80 {
					t.Fatalf("result: %+v", r)
				}
				// A command run after the cut does not paper over it.
				if err := anchor.Catchup(context.Background(), db, w.f); err != nil {
					t.Fatal(err)
				}
				w.append(1)
				w.mustFail(store.ErrAuditBehind)
			})
		})
	}
}

func TestVerifyFindsCutTailByItsReferences(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(5)
		w.exec(`INSERT INTO dsr_requests (request_id, type, status, subject_hash, received_at, due_at, created_at) VALUES ('DSR-2026-000001', 'access', 'done', 'h', 0, 0, 0)`)
		w.exec(`INSERT INTO dsr_actions (request_id, at, action, outcome, audit_seq) VALUES ('DSR-2026-000001', 0, 'export', 'ok', 5)`)
		w.mustVerify()
		w.exec("DELETE FROM audit_log WHERE seq = 5")
		r := w.mustFail(store.ErrAuditBehind, "tail was cut", "dsr_actions of DSR-2026-000001 → entry 5")
		if !r.Cut {
			t.Fatalf("not reported as cut: %+v", r)
		}
		// A cut tail is never accepted as a restore.
		if _, err := anchor.AcceptRestore(context.Background(), db, w.f, "test", "it was a restore", time.Now()); !errors.Is(err, store.ErrAuditBehind) {
			t.Fatalf("accept-restore of a cut tail: %v", err)
		}
		// Without an anchor file, the dangling reference alone tells.
		empty, _ := anchor.Open(filepath.Join(t.TempDir(), "none.log"))
		if _, err := anchor.Verify(context.Background(), db, empty); !errors.Is(err, store.ErrAuditBroken) {
			t.Fatalf("dangling reference without anchor: %v", err)
		}
	})
}

func TestVerifyFindsEditsReordersAndGaps(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(w *world)
		want   error
	}{
		{"edit the middle", func(w *world) {
			w.dropTrigger()
			w.exec("UPDATE audit_log SET outcome = 'refused' WHERE seq = 10")
		}, store.ErrAuditBroken},
		{"delete the middle", func(w *world) { w.exec("DELETE FROM audit_log WHERE seq = 10") }, store.ErrAuditBroken},
		{"reorder two entries", func(w *world) {
			w.dropTrigger()
			w.exec("UPDATE audit_log SET seq = -1 WHERE seq = 10")
			w.exec("UPDATE audit_log SET seq = 10 WHERE seq = 11")
			w.exec("UPDATE audit_log SET seq = 11 WHERE seq = -1")
		}, store.ErrAuditBroken},
		{"rewrite the tail with a valid chain", func(w *world) {
			// Delete from 10 on and append forged entries: a valid chain,
			// but not the one whose heads were recorded.
			w.exec("DELETE FROM audit_log WHERE seq >= 10")
			w.db.SetHeadSink(nil)
			w.append(15)
		}, store.ErrAuditBehind},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testdb.Run(t, func(t *testing.T, db *store.DB) {
				w := newWorld(t, db)
				w.append(20)
				w.mustVerify()
				c.tamper(w)
				w.mustFail(c.want)
			})
		})
	}
}

func TestRestoreThenAccept(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.append(10)
		// "Restore" an older backup: the store loses its last 4 entries
		// (with the references a whole-store restore would also lose: none).
		w.exec("DELETE FROM audit_log WHERE seq > 6")
		w.mustFail(store.ErrAuditBehind, "ends at entry 6", "entries 7..10")
		// The DPO re-applies erasures first: the restored store is written
		// to before the restore is accepted.
		w.append(2)
		r := w.mustFail(store.ErrAuditBehind, "from 7 on differ", "agrees up to entry 6")
		if r.AgreedSeq != 6 {
			t.Fatalf("agreed = %d", r.AgreedSeq)
		}
		if _, err := anchor.AcceptRestore(ctx, db, w.f, "test", "  ", time.Now()); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("accept without a reason: %v", err)
		}
		r, err := anchor.AcceptRestore(ctx, db, w.f, "dpo", "restored the 2026-11-30 backup after a disk failure", time.Now())
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		if r.LastSeq != 9 || r.AnchorSeq != 9 {
			t.Fatalf("after accept: %+v", r)
		}
		var n int
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM audit_log WHERE action = 'audit.accept_restore' AND actor = 'dpo'"); err != nil || n != 1 {
			t.Fatalf("accept_restore entries: %d %v", n, err)
		}
		b, _ := os.ReadFile(w.f.Path())
		if !strings.Contains(string(b), "disk failure") {
			t.Fatalf("the anchor does not keep the reason:\n%s", b)
		}
		w.append(3)
		w.mustVerify()
		// Nothing left to accept.
		if _, err := anchor.AcceptRestore(ctx, db, w.f, "dpo", "again", time.Now()); !errors.Is(err, anchor.ErrNothingToAccept) {
			t.Fatalf("second accept: %v", err)
		}
		// A later cut is caught again.
		w.exec("DELETE FROM audit_log WHERE seq > 10")
		w.mustFail(store.ErrAuditBehind, "ends at entry 10", "entries 11..12")
	})
}

func TestPruningIsNotTampering(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.append(30)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.PruneAudit(ctx, tx, 25)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r := w.mustVerify()
		if r.FirstSeq != 26 || r.PrunedSeq != 25 {
			t.Fatalf("after pruning: %+v", r)
		}
		// Everything pruned.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.PruneAudit(ctx, tx, 30)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		w.mustVerify()
		w.append(1)
		w.mustVerify()
	})
}

// A command killed between its commit and its append to the anchor file
// leaves the store ahead of the file: the next command catches it up.
func TestCatchupAfterAKillBetweenCommitAndAppend(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.append(3)
		db.SetHeadSink(nil) // the append that never happened
		w.append(2)
		// A torn line, as a crash mid-write leaves it.
		fh, err := os.OpenFile(w.f.Path(), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteString(`{"v":1,"seq":4,"ha`)
		fh.Close()
		if r := w.mustVerify(); r.AnchorSeq != 3 {
			t.Fatalf("anchor names entry %d before the catch-up", r.AnchorSeq)
		}
		if err := anchor.Catchup(ctx, db, w.f); err != nil {
			t.Fatal(err)
		}
		if r := w.mustVerify(); r.AnchorSeq != 5 {
			t.Fatalf("anchor at %d after the catch-up, want 5", r.AnchorSeq)
		}
		db.SetHeadSink(w.f.AppendHead)
		w.append(1)
		if r := w.mustVerify(); r.AnchorSeq != 6 {
			t.Fatalf("anchor at %d, want 6", r.AnchorSeq)
		}
	})
}

func TestCorruptAnchorFile(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(2)
		fh, _ := os.OpenFile(w.f.Path(), os.O_WRONLY|os.O_APPEND, 0)
		fh.WriteString("garbage\n")
		fh.Close()
		if _, err := w.verify(); !errors.Is(err, anchor.ErrCorrupt) {
			t.Fatalf("verify with a corrupt file: %v", err)
		}
		// A commit whose head cannot be recorded says so.
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			_, err := store.AppendAudit(context.Background(), tx, store.AuditRecord{Actor: "t", Action: "t", Outcome: "ok"})
			return err
		})
		if !errors.Is(err, anchor.ErrCorrupt) {
			t.Fatalf("append with a corrupt file: %v", err)
		}
	})
	dir := t.TempDir()
	if _, err := anchor.Open(dir); !errors.Is(err, anchor.ErrPath) {
		t.Fatalf("a directory as anchor: %v", err)
	}
}

// Concurrent appenders (several commands at once) never interleave partial
// lines, and the file's heads only grow.
func TestConcurrentAppends(t *testing.T) {
	f, err := anchor.Open(filepath.Join(t.TempDir(), "anchor.log"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				seq := int64(i*8 + g + 1)
				if err := f.AppendHead(store.Head{Seq: seq, Hash: fmt.Sprintf("%064x", seq), At: 1}); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	heads, n, err := f.Heads()
	if err != nil {
		t.Fatalf("heads: %v (%d lines)", err, n)
	}
	for i := 1; i < len(heads); i++ {
		if heads[i].Seq <= heads[i-1].Seq {
			t.Fatalf("heads out of order at %d", i)
		}
	}
	if heads[len(heads)-1].Seq != 400 {
		t.Fatalf("newest head %d, want 400", heads[len(heads)-1].Seq)
	}
}

func TestCheckpoint(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.append(5)
		signer, verifier, err := anchor.GenerateKey("dpo-example")
		if err != nil {
			t.Fatal(err)
		}
		msg, cp, err := anchor.Sign(ctx, db, "store-a", signer)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Seq != 5 || !strings.HasPrefix(string(msg), "oubli audit trail store-a\n5\n") {
			t.Fatalf("checkpoint:\n%s", msg)
		}
		w.append(3)
		if _, err := anchor.VerifyCheckpoint(ctx, db, "store-a", msg, verifier); err != nil {
			t.Fatalf("verify checkpoint: %v", err)
		}
		_, otherVerifier, _ := anchor.GenerateKey("dpo-example")
		for name, c := range map[string]struct {
			msg      []byte
			verifier string
			origin   string
		}{
			"wrong key":        {msg, otherVerifier, "store-a"},
			"tampered seq":     {[]byte(strings.Replace(string(msg), "\n5\n", "\n6\n", 1)), verifier, "store-a"},
			"another store":    {msg, verifier, "store-b"},
			"not a checkpoint": {[]byte("hello\n"), verifier, "store-a"},
		} {
			if _, err := anchor.VerifyCheckpoint(ctx, db, c.origin, c.msg, c.verifier); !errors.Is(err, anchor.ErrCheckpoint) {
				t.Errorf("%s: %v", name, err)
			}
		}
		// A store that lost the signed head fails the checkpoint.
		w.exec("DELETE FROM audit_log WHERE seq >= 5")
		if _, err := anchor.VerifyCheckpoint(ctx, db, "store-a", msg, verifier); !errors.Is(err, anchor.ErrCheckpoint) {
			t.Fatalf("checkpoint of a cut store: %v", err)
		}
		if _, err := anchor.VerifyCheckpoint(ctx, db, "store-a", msg, "not a key"); !errors.Is(err, anchor.ErrKey) {
			t.Fatalf("malformed key: %v", err)
		}
	})
}
