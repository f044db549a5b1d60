package anchor_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/anchor"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// recordWithEntry writes, in one transaction, a record (q, args) and the
// audit entry of the same instant, as hold add/release and retention runs do.
func (w *world) recordWithEntry(at time.Time, action, q string, args ...any) {
	w.t.Helper()
	ctx := context.Background()
	if err := w.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return err
		}
		_, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: at, Actor: "test", Action: action, Outcome: "ok"})
		return err
	}); err != nil {
		w.t.Fatal(err)
	}
}

// A cut tail whose entries were a hold's hold.add and hold.release is a cut,
// never a restore: the hold, created and released after the trail's last
// entry, is still in the store (a restored backup holds no record newer
// than its trail). Found by the adversarial pass: verify suggested
// --accept-restore, which accepted it.
func TestVerifyFindsCutTailOfHolds(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(5)
		t0 := time.Now()
		w.exec(`INSERT INTO legal_holds (hold_id, user_id, reason, created_at) VALUES ('H-OLD', 'u-1', 'r', ?)`, store.Millis(t0.Add(-time.Hour)))
		created, released := t0.Add(time.Second), t0.Add(2*time.Second)
		w.recordWithEntry(created, "hold.add", `INSERT INTO legal_holds (hold_id, user_id, reason, created_at) VALUES ('H-1', 'u-1', 'r', ?)`, store.Millis(created))
		w.recordWithEntry(released, "hold.release", `UPDATE legal_holds SET released_at = ? WHERE hold_id = 'H-1'`, store.Millis(released))
		w.mustVerify()
		w.dropTrigger()
		w.exec("DELETE FROM audit_log WHERE action IN ('hold.add', 'hold.release')")
		r := w.mustFail(store.ErrAuditBehind, "tail was cut", "legal_holds H-1")
		if !r.Cut {
			t.Fatalf("not reported as cut: %+v", r)
		}
		for _, d := range r.Dangling {
			if d.Key == "H-OLD" {
				t.Errorf("a hold older than the trail's head reported: %+v", d)
			}
		}
		if _, err := anchor.AcceptRestore(context.Background(), db, w.f, "test", "it was a restore", time.Now()); !errors.Is(err, store.ErrAuditBehind) {
			t.Fatalf("accept-restore of a cut tail: %v", err)
		}
	})
}

// A cut that orphans a retention run is reported as a cut tail by plain
// verify, not as a restore to accept.
func TestVerifyFindsCutTailOfARetentionRun(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(5)
		at := time.Now().Add(time.Second)
		w.recordWithEntry(at, "retention.run", `INSERT INTO retention_runs (run_id, at, started_at, finished_at, policy_revision, outcome) VALUES ('R-1', ?, ?, ?, 'rev', 'ok')`,
			store.Millis(at), store.Millis(at), store.Millis(at))
		w.dropTrigger()
		w.exec("DELETE FROM audit_log WHERE action = 'retention.run'")
		r := w.mustFail(store.ErrAuditBehind, "tail was cut", "retention_runs R-1")
		if !r.Cut {
			t.Fatalf("not reported as cut: %+v", r)
		}
		if _, err := anchor.AcceptRestore(context.Background(), db, w.f, "test", "it was a restore", time.Now()); !errors.Is(err, store.ErrAuditBehind) {
			t.Fatalf("accept-restore of a cut tail: %v", err)
		}
	})
}

// A policy approval without its policy.approve entry (a row written by
// hand to lift the approval gate: adversarial pass 7 F5) is a record the
// trail does not account for; one with its entry is not.
func TestVerifyFindsForgedApproval(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(3)
		ctx := context.Background()
		at := time.Now()
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			id, err := store.AddPolicyApproval(ctx, tx, store.PolicyApproval{Revision: "sha256:aaaa", ApprovedBy: "legal", ApprovedAt: store.Millis(at), Files: "{}", Summary: "{}"})
			if err != nil {
				return err
			}
			_, err = store.AppendAudit(ctx, tx, store.AuditRecord{At: at, Actor: "test", Action: "policy.approve", Outcome: "ok",
				Detail: map[string]any{"approval_id": id, "revision": "sha256:aaaa"}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		w.append(2)
		w.mustVerify()
		w.exec(`INSERT INTO policy_approvals (revision, approved_by, approved_at, note, files, previous_revision, summary) VALUES ('sha256:bbbb', 'forger', ?, '', '{}', '', '{}')`, store.Millis(at))
		r := w.mustFail(store.ErrAuditBroken, "policy_approvals 2")
		if len(r.Dangling) != 1 {
			t.Fatalf("dangling %+v; want the forged approval only", r.Dangling)
		}
		// The genuine row edited in place to name another revision.
		w.exec("DELETE FROM policy_approvals WHERE id = 2")
		w.mustVerify()
		w.exec("UPDATE policy_approvals SET revision = 'sha256:cccc' WHERE id = 1")
		w.mustFail(store.ErrAuditBroken, "policy_approvals 1")
	})
}

// An anchor file lost (emptied) and re-created by the next command begins
// late: verify says from which entry it vouches (adversarial pass 7 F6),
// where a file kept from the start vouches from the first entry.
func TestVerifySaysWhereTheAnchorBegins(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(4)
		r := w.mustVerify()
		if r.AnchorFirst != r.FirstSeq || r.AnchorFirstAt.IsZero() {
			t.Fatalf("a file kept from the start: first head %d at %v, trail from %d", r.AnchorFirst, r.AnchorFirstAt, r.FirstSeq)
		}
		if err := os.Truncate(w.f.Path(), 0); err != nil {
			t.Fatal(err)
		}
		w.append(2)
		r = w.mustVerify()
		if r.AnchorFirst != r.FirstSeq+4 {
			t.Fatalf("a re-created file: first head %d, trail from %d; want it to begin 4 entries later", r.AnchorFirst, r.FirstSeq)
		}
	})
}

// A file whose last heads were removed is caught up by the next command
// (adversarial pass 7b F4): verify still passes, the trail being whole, but
// says which entries reached the file by a catch-up rather than by the
// commit that wrote them; heads appended by their own commit are not
// reported.
func TestVerifyReportsCatchUps(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(3)
		if r := w.mustVerify(); r.CatchUpCount != 0 || len(r.CatchUps) != 0 {
			t.Fatalf("catch-ups reported on a file written commit by commit: %+v", r.CatchUps)
		}
		b, err := os.ReadFile(w.f.Path())
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines; want 3", len(lines))
		}
		// Remove the last two heads, as an attacker or a bad restore of the
		// file would, then let a command catch up and commit.
		if err := os.WriteFile(w.f.Path(), []byte(lines[0]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := w.mustVerify()
		if r.CatchUpCount != 0 {
			t.Fatalf("catch-up reported before any: %+v", r.CatchUps)
		}
		first := r.AnchorSeq
		if err := anchor.Catchup(context.Background(), db, w.f); err != nil {
			t.Fatal(err)
		}
		if err := anchor.Catchup(context.Background(), db, w.f); err != nil { // nothing more to catch up
			t.Fatal(err)
		}
		w.append(1)
		r = w.mustVerify()
		if r.CatchUpCount != 1 || len(r.CatchUps) != 1 {
			t.Fatalf("catch-ups %d %+v; want one", r.CatchUpCount, r.CatchUps)
		}
		if c := r.CatchUps[0]; c.From != first || c.To != first+2 || c.Recorded.IsZero() {
			t.Fatalf("catch-up %+v; want from %d to %d", c, first, first+2)
		}
	})
}

// One head edited in the anchor file while the store holds the newest head
// with its hash (and so, the chain being hashed, every entry before it):
// verify says the file may have been edited, not only that a backup may
// have been restored (adversarial pass 8 F5) — hashes cannot tell the two
// apart, so a restore stays acceptable.
func TestVerifySaysAnEditedHeadIsPossible(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.append(6)
		w.mustVerify()
		b, err := os.ReadFile(w.f.Path())
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		i := strings.Index(lines[2], `"hash":"`) + len(`"hash":"`)
		c := "0"
		if lines[2][i] == '0' {
			c = "1"
		}
		lines[2] = lines[2][:i] + c + lines[2][i+1:]
		if err := os.WriteFile(w.f.Path(), []byte(strings.Join(lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		w.mustFail(store.ErrAuditBehind, "matches the file's newest head", "was edited or damaged")
	})
}
