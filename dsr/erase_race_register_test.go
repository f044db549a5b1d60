package dsr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// pendingErasures lists the erasure requests still open or in progress.
func pendingErasures(t *testing.T, db *store.DB) []string {
	t.Helper()
	return erRows(t, db, "SELECT request_id FROM dsr_requests WHERE type = 'erasure' AND status IN ('open', 'in_progress') ORDER BY request_id")
}

// TestLostErasureRaceClosesRequests (session-5 adversarial pass, F5): a
// request opened for a subject that another erasure then erased — the
// losing side of two erasures of one subject, or a request left by a
// killed batch — is closed as done with the reason "already erased on …",
// by the losing erasure itself and by a batch rerun; never left pending to
// go overdue as an unanswered Art. 17 request of a person who was erased.
func TestLostErasureRaceClosesRequests(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		w.addSubject(t, "u-carol", "carol@example.org", "carolyn", "TC1", "2025-03-12T09:00:00Z", "none")
		er := w.eraser()
		alice, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: "u-alice"})
		if err != nil {
			t.Fatal(err)
		}
		carol, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: "u-carol"})
		if err != nil {
			t.Fatal(err)
		}
		// Requests registered for each, then the subjects erased by an
		// erasure that did not name them (another process's).
		ra, err := er.Register.Open(ctx, "erasure", alice, erNow)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := er.Register.Open(ctx, "erasure", carol, erNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"u-alice", "u-carol"} {
			if _, err := er.Erase(ctx, store.SubjectKey{UserID: u}, EraseOptions{}); err != nil {
				t.Fatalf("erase %s: %v", u, err)
			}
		}
		// The losing side names its request: the subject is gone.
		if _, err := er.Erase(ctx, store.SubjectKey{UserID: "u-alice"}, EraseOptions{RequestID: ra.RequestID}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("erasure that lost the race: err = %v, want ErrNotFound (already erased)", err)
		}
		// A rerun of a batch naming the other.
		lines, _ := ParseBatch(strings.NewReader("u-carol\n"))
		rep, err := er.EraseBatch(ctx, lines, false, nil)
		if err != nil || rep.AlreadyErased != 1 {
			t.Fatalf("batch rerun: %v %+v", err, rep)
		}
		if p := pendingErasures(t, db); len(p) != 0 {
			t.Fatalf("erasure requests left pending: %v", p)
		}
		for _, id := range []string{ra.RequestID, rc.RequestID} {
			got, err := store.GetRequest(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != store.RequestDone || !strings.HasPrefix(got.CloseReason.String, "already erased on ") {
				t.Errorf("request %s: status %s, close reason %q; want done, already erased", id, got.Status, got.CloseReason.String)
			}
		}
	})
}

// TestConcurrentOverlappingBatches (F5): three `erase --from` of one list
// at once. Every subject is erased once (one ledger line), every outcome is
// erased or already_erased (never failed), and no erasure request is left
// pending.
func TestConcurrentOverlappingBatches(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, false)
		var list []string
		for i := range 12 {
			id := fmt.Sprintf("u-%02d", i)
			w.addSubject(t, id, id+"@example.org", "pseudo"+id, fmt.Sprintf("T%02d", i), "2025-03-12T09:00:00Z", "none")
			list = append(list, id)
		}
		lines, err := ParseBatch(strings.NewReader(strings.Join(list, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		reps := make([]*BatchReport, 3)
		errs := make([]error, 3)
		for i := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				er := w.eraser()
				// SQLite: concurrent batches' readers hold the WAL
				// checkpoint back; an erasure then ends incomplete (its
				// follow-up left), which is committed and counted.
				er.CheckpointWait = 50 * time.Millisecond
				reps[i], errs[i] = er.EraseBatch(ctx, lines, false, nil)
			}()
		}
		wg.Wait()
		for i, rep := range reps {
			if errs[i] != nil && !errors.Is(errs[i], ErrIncomplete) {
				t.Errorf("batch %d: %v", i, errs[i])
			}
			if rep == nil {
				continue
			}
			for _, o := range rep.Outcomes {
				if o.Outcome != BatchErased && o.Outcome != BatchAlreadyErased && o.Outcome != BatchIncomplete {
					t.Errorf("batch %d line %d: %s (%s)", i, o.Line, o.Outcome, o.Error)
				}
			}
		}
		// Each subject erased once: one ledger line each. (A batch meeting
		// a subject another erased with its follow-up left resumes that
		// follow-up and may say incomplete too: outcomes do not count.)
		b, err := os.ReadFile(w.ledger)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != len(list) {
			t.Errorf("%d ledger lines across the batches, want %d (each subject once)", n, len(list))
		}
		if p := pendingErasures(t, db); len(p) != 0 {
			t.Errorf("erasure requests left pending: %v", p)
		}
	})
}

// TestEraseClosesDuplicateRequests (F14): two erasure requests registered
// for one subject; the batch executes the first, and the second, answered
// by the same erasure, is closed as already erased instead of going
// overdue.
func TestEraseClosesDuplicateRequests(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		er := w.eraser()
		alice, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: "u-alice"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for range 2 {
			r, err := er.Register.Open(ctx, "erasure", alice, erNow)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.RequestID)
		}
		lines, _ := ParseBatch(strings.NewReader("u-alice\n"))
		if rep, err := er.EraseBatch(ctx, lines, false, nil); err != nil || rep.Erased != 1 {
			t.Fatalf("batch: %v %+v", err, rep)
		}
		if p := pendingErasures(t, db); len(p) != 0 {
			t.Fatalf("erasure requests left pending: %v", p)
		}
		second, err := store.GetRequest(ctx, db, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(second.CloseReason.String, "already erased") || !strings.Contains(second.CloseReason.String, ids[0]) {
			t.Errorf("second request: %s, reason %q; want closed as already erased by %s", second.Status, second.CloseReason.String, ids[0])
		}
	})
}

// TestBatchRerunFinishesFollowUp (F8): a batch whose erasure committed
// with its follow-up left (a SQLite reader held the WAL checkpoint back)
// is rerun once the reader is gone: the rerun finishes the follow-up and
// the register shows it done, instead of answering already_erased, exit
// 0, with the follow-up still pending.
func TestBatchRerunFinishesFollowUp(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	w := newErWorld(t, db, true)
	er := w.eraser()
	er.CheckpointWait = 50 * time.Millisecond
	reader, err := db.BeginRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.Get(ctx, &n, "SELECT COUNT(*) FROM subjects"); err != nil {
		t.Fatal(err)
	}
	lines, _ := ParseBatch(strings.NewReader("u-alice\n"))
	rep, err := er.EraseBatch(ctx, lines, false, nil)
	if !errors.Is(err, ErrIncomplete) || rep.Incomplete != 1 {
		reader.Rollback()
		t.Fatalf("with a reader: %v %+v", err, rep)
	}
	reader.Rollback()
	rep, err = er.EraseBatch(ctx, lines, false, nil)
	if err != nil || rep.AlreadyErased != 1 {
		t.Fatalf("rerun: %v %+v", err, rep)
	}
	id := rep.Outcomes[0].RequestID
	if id == "" {
		t.Fatal("rerun: no request named")
	}
	acts, err := store.RequestActions(ctx, db, id)
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, a := range acts {
		if a.Action == "erase.followup" {
			last = a.Outcome
		}
	}
	if last != "done" {
		t.Errorf("request %s: last follow-up %q, want done (actions %+v)", id, last, acts)
	}
}
