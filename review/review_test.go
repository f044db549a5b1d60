package review_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/review"
	"github.com/oubli/oubli/seed"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var at = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// edited returns the embedded policies with retention.rego edited (old →
// new, each once).
func edited(t *testing.T, edits ...string) *policies.Engine {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(policies.Embedded(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.Embedded(), p)
		if err != nil {
			return err
		}
		s := string(b)
		if filepath.Base(p) == "retention.rego" {
			for i := 0; i+1 < len(edits); i += 2 {
				if !strings.Contains(s, edits[i]) {
					t.Fatalf("retention.rego has no %q", edits[i])
				}
				s = strings.Replace(s, edits[i], edits[i+1], 1)
			}
		}
		fsys[p] = &fstest.MapFile{Data: []byte(s)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policies.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func active(t *testing.T) *policies.Engine {
	t.Helper()
	eng, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func seeded(t *testing.T, db *store.DB) {
	t.Helper()
	bs, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Demo(context.Background(), db, bs, seed.DemoOptions{Now: at.AddDate(0, 0, -1)}); err != nil {
		t.Fatal(err)
	}
}

// The tickets' period cut from 5 to 2 years: the diff counts exactly the
// tickets closed between 2 and 5 years before --at that are neither open,
// disputed nor held (an oracle in SQL).
func TestDiffTicketsTwoYearsAgainstSQLOracle(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seeded(t, db)
		from := active(t)
		to := edited(t, `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 2, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
		rep, err := review.Diff(ctx, db, from, to, review.Options{At: at})
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		err = db.Get(ctx, &want, `SELECT COUNT(*) FROM tickets t WHERE t.status = 'closed'
			AND t.closed_at <= ? AND t.closed_at > ? AND t.dispute_status <> 'open'
			AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL AND (h.until IS NULL OR h.until > ?)
				AND (h.ticket_id = t.ticket_id OR h.user_id = t.user_id))`,
			at.AddDate(-2, 0, 0).UnixMilli(), at.AddDate(-5, 0, 0).UnixMilli(), at.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			t.Fatal("the oracle counts no ticket: the data set does not exercise the change")
		}
		var got int64
		for _, c := range rep.Changes {
			if c.Category == policies.CatTickets {
				if c.ActionFrom != "keep" || c.ActionTo != "delete" {
					t.Errorf("tickets change %s → %s", c.ActionFrom, c.ActionTo)
				}
				got += c.Count
				if len(c.Examples) == 0 || len(c.Examples) > review.MaxExamples {
					t.Errorf("examples: %v", c.Examples)
				}
			}
		}
		if got != want {
			t.Fatalf("diff counts %d tickets, the SQL oracle %d", got, want)
		}
		// The other way round keeps more: the same tickets, delete → keep.
		back, err := review.Diff(ctx, db, to, from, review.Options{At: at})
		if err != nil {
			t.Fatal(err)
		}
		var gotBack int64
		for _, c := range back.Changes {
			if c.Category == policies.CatTickets {
				if c.ActionFrom != "delete" || c.ActionTo != "keep" {
					t.Errorf("reverse tickets change %s → %s", c.ActionFrom, c.ActionTo)
				}
				gotBack += c.Count
			}
		}
		if gotBack != want {
			t.Fatalf("reverse diff counts %d tickets, want %d", gotBack, want)
		}
		// Nothing was written.
		var n int64
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM retention_runs"); err != nil || n != 0 {
			t.Fatalf("retention_runs: %d %v", n, err)
		}
	})
}

func TestDiffOtherChanges(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seeded(t, db)
		from := active(t)
		// Identical revisions: an empty diff.
		same, err := review.Diff(ctx, db, from, active(t), review.Options{At: at})
		if err != nil || same.Total != 0 || len(same.Changes) != 0 || same.Decided == 0 {
			t.Fatalf("identical revisions: %+v %v", same, err)
		}
		// Attachments kept 3 years instead of 1: fewer deletions.
		att := edited(t, `"period": {"years": 1, "months": 0, "days": 0},`, `"period": {"years": 3, "months": 0, "days": 0},`)
		rep, err := review.Diff(ctx, db, from, att, review.Options{At: at, Horizon: 30 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Changes) == 0 || rep.Changes[0].Category != policies.CatAttachments || rep.Changes[0].ActionFrom != "delete" || rep.Changes[0].ActionTo != "keep" {
			t.Fatalf("attachments: %+v", rep.Changes)
		}
		if rep.Horizon == nil || rep.Horizon.Total < rep.Total {
			t.Fatalf("horizon: %+v (total now %d)", rep.Horizon, rep.Total)
		}
	})
}

func TestApproveAndCheck(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seeded(t, db)
		eng := active(t)
		// Never approved: runs, with no approval.
		if st, err := review.CheckApproved(ctx, db, eng); err != nil || st.Approvals != 0 {
			t.Fatalf("never approved: %+v %v", st, err)
		}
		a, rep, err := review.Approve(ctx, db, eng, review.ApproveOptions{By: "Maître Dupont", Note: "first review", Actor: "legal", Now: at})
		if err != nil || rep != nil || a.ID == 0 {
			t.Fatalf("first approval: %+v %v %v", a, rep, err)
		}
		if _, err := review.CheckApproved(ctx, db, eng); err != nil {
			t.Fatalf("approved: %v", err)
		}
		two := edited(t, `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 2, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
		if _, err := review.CheckApproved(ctx, db, two); !errors.Is(err, review.ErrUnapproved) {
			t.Fatalf("unapproved revision: %v", err)
		}
		// The approved revision is kept: a diff against it is possible.
		kept, _, err := review.LoadApproval(ctx, db, 0)
		if err != nil || kept.Revision() != eng.Revision() {
			t.Fatalf("kept revision: %v", err)
		}
		b, rep, err := review.Approve(ctx, db, two, review.ApproveOptions{By: "Maître Dupont", Actor: "legal", Now: at})
		if err != nil || rep == nil || rep.Total == 0 || b.PreviousRevision != eng.Revision() {
			t.Fatalf("second approval: %+v %+v %v", b, rep, err)
		}
		var n int
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM audit_log WHERE action = 'policy.approve' AND actor = 'legal'"); err != nil || n != 2 {
			t.Fatalf("policy.approve entries: %d %v", n, err)
		}
		if _, _, err := review.Approve(ctx, db, eng, review.ApproveOptions{By: " ", Now: at}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("approval without a name: %v", err)
		}
		// A revision `policy check` refuses is not approved (adversarial
		// pass 8 F9): a zero period whose label is empty in both languages.
		zero := edited(t, `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 0, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
		if zero.Check() == nil {
			t.Fatal("policy check passes a zero period without a label: the refusal below proves nothing")
		}
		if _, _, err := review.Approve(ctx, db, zero, review.ApproveOptions{By: "Maître Dupont", Actor: "legal", Now: at}); !errors.Is(err, policies.ErrPolicy) || !strings.Contains(err.Error(), "policy check") {
			t.Fatalf("approval of a revision policy check refuses: %v", err)
		}
		if _, err := review.CheckApproved(ctx, db, zero); !errors.Is(err, review.ErrUnapproved) {
			t.Fatalf("the refused revision counts as approved: %v", err)
		}
	})
}

// TestForgedApprovalLiftsNothing (adversarial pass 7 F5): a row written into
// policy_approvals by hand — without `policy approve`'s audit entry, or
// keeping other files than the active ones — does not approve the active
// revision; audit verify names it (anchor package).
func TestForgedApprovalLiftsNothing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seeded(t, db)
		eng := active(t)
		if _, _, err := review.Approve(ctx, db, eng, review.ApproveOptions{By: "Maître Dupont", Actor: "legal", Now: at}); err != nil {
			t.Fatal(err)
		}
		two := edited(t, `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 2, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
		files := map[string]string{}
		for _, n := range two.Files() {
			files[n], _ = two.Source(n)
		}
		fb, _ := json.Marshal(files)
		forge := func(files string) {
			t.Helper()
			if _, err := db.Exec(ctx, "INSERT INTO policy_approvals (revision, approved_by, approved_at, note, files, previous_revision, summary) VALUES (?, 'forger', ?, '', ?, '', '{}')",
				two.Revision(), at.UnixMilli()+1000, files); err != nil {
				t.Fatal(err)
			}
		}
		forge("{}") // no files
		if _, err := review.CheckApproved(ctx, db, two); !errors.Is(err, review.ErrUnapproved) || !strings.Contains(err.Error(), "not the active ones") {
			t.Fatalf("a forged approval without the files: %v", err)
		}
		forge(string(fb)) // the very files, but no audit entry
		if _, err := review.CheckApproved(ctx, db, two); !errors.Is(err, review.ErrUnapproved) || !strings.Contains(err.Error(), "no policy.approve entry") {
			t.Fatalf("a forged approval with the files: %v", err)
		}
		// The genuine approval of the first revision still counts.
		if st, err := review.CheckApproved(ctx, db, eng); err != nil || st.Approval == nil {
			t.Fatalf("the genuine approval: %+v %v", st, err)
		}
		// The genuine row edited in place to name the edited revision and
		// keep its files (adversarial pass 7b): its audit entry names the
		// first revision and the hash of the first files.
		if _, err := db.Exec(ctx, "DELETE FROM policy_approvals WHERE approved_by = 'forger'"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "UPDATE policy_approvals SET revision = ?, files = ?", two.Revision(), string(fb)); err != nil {
			t.Fatal(err)
		}
		if _, err := review.CheckApproved(ctx, db, two); !errors.Is(err, review.ErrUnapproved) || !strings.Contains(err.Error(), "no policy.approve entry") {
			t.Fatalf("the genuine row edited in place: %v", err)
		}
		// Only the files edited (the revision kept): the files' hash differs.
		if _, err := db.Exec(ctx, "UPDATE policy_approvals SET revision = ?", eng.Revision()); err != nil {
			t.Fatal(err)
		}
		if _, err := review.CheckApproved(ctx, db, eng); !errors.Is(err, review.ErrUnapproved) {
			t.Fatalf("the genuine row with other files: %v", err)
		}
	})
}
