package dsr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// lostStep is a blob store whose removals fail after the commit, as a
// terminated connection or an unreachable bucket fails a post-commit step.
type lostStep struct{ *blobs.Dir }

func (lostStep) Delete(context.Context, string) error {
	return errors.New("driver: bad connection")
}

// Exists fails too: the residue check looks the removed contents up by key.
func (lostStep) Exists(context.Context, string) (bool, error) {
	return false, errors.New("driver: bad connection")
}

// TestEraseFollowUpRecorded (issue 17 item 5, issue 18 item 10): an erasure
// that committed and whose post-commit step then fails leaves its request
// in a recorded state (done, with a pending follow-up action), says what is
// left (ErrIncomplete), and a rerun with --request finishes the follow-up
// instead of answering "already erased". A later erase of the same subject
// says "already erased on DATE" to the second.
func TestEraseFollowUpRecorded(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, false)
		er := w.eraser()
		now := erNow.Add(123456789 * time.Nanosecond)
		er.Now = func() time.Time { return now }
		er.Blobs = lostStep{w.bs}
		rep, err := er.Erase(ctx, store.SubjectKey{UserID: "u-bob"}, EraseOptions{})
		if !errors.Is(err, ErrIncomplete) {
			t.Fatalf("erase with a failing post-commit scan: err = %v, want ErrIncomplete", err)
		}
		if rep == nil || rep.RequestID == "" {
			t.Fatalf("no report naming the request: %+v", rep)
		}
		if !strings.Contains(err.Error(), "attachment_contents") || !strings.Contains(err.Error(), rep.RequestID) {
			t.Errorf("the error does not say what is left and for which request: %v", err)
		}
		req, acts, gerr := er.Register.Get(ctx, rep.RequestID)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if req.Status != store.RequestDone {
			t.Errorf("request %s is %s after a committed erasure, want done", req.RequestID, req.Status)
		}
		if got := actionList(acts); !strings.Contains(got, "erase:ok") || !strings.Contains(got, "erase.followup:pending") {
			t.Errorf("request actions %s: want erase:ok and erase.followup:pending", got)
		}
		if n := erRows(t, db, "SELECT user_id FROM subjects WHERE user_id = 'u-bob'"); len(n) != 0 {
			t.Fatalf("subject still there: %v", n)
		}

		// The rerun with the request finishes the follow-up.
		er.Blobs = w.bs
		rep2, err := er.Erase(ctx, store.SubjectKey{UserID: "u-bob"}, EraseOptions{RequestID: rep.RequestID})
		if err != nil {
			t.Fatalf("rerun with --request %s: %v", rep.RequestID, err)
		}
		if !rep2.Resumed || rep2.ErasedAt != "2026-01-15T12:00:00Z" {
			t.Errorf("rerun report: resumed=%v erased_at=%q", rep2.Resumed, rep2.ErasedAt)
		}
		_, acts, _ = er.Register.Get(ctx, rep.RequestID)
		if got := actionList(acts); !strings.Contains(got, "erase.followup:done") {
			t.Errorf("request actions after the rerun %s: want erase.followup:done", got)
		}

		// Without the request: already erased, to the second.
		_, err = er.Erase(ctx, store.SubjectKey{UserID: "u-bob"}, EraseOptions{})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "already erased on 2026-01-15T12:00:00Z (") {
			t.Errorf("second erase: %v, want already erased on 2026-01-15T12:00:00Z", err)
		}
	})
}

func actionList(acts []store.RequestAction) string {
	var b strings.Builder
	for _, a := range acts {
		b.WriteString(a.Action + ":" + a.Outcome + " ")
	}
	return b.String()
}

// stuckStep is a blob store whose removals block until released: the
// moment after an erasure's commit where a SIGKILL (the OOM killer, a
// container's grace period running out) leaves the process dead.
type stuckStep struct {
	*blobs.Dir
	entered chan struct{}
	release chan struct{}
}

func (s stuckStep) Delete(ctx context.Context, key string) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.Dir.Delete(ctx, key)
}

// TestEraseFollowUpPendingFromCommit (adversarial pass 8 F8, F12, F16):
// from the erasure's commit until its follow-up records its outcome, the
// register says the follow-up is pending — what a process killed in
// between leaves behind is never "done" with nothing to do. The resumed
// follow-up says the subject's residue check is the sweep's, and an erase
// without --request names the pending follow-up.
func TestEraseFollowUpPendingFromCommit(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, false)
		er := w.eraser()
		stuck := stuckStep{Dir: w.bs, entered: make(chan struct{}, 1), release: make(chan struct{})}
		er.Blobs = stuck
		type result struct {
			rep *EraseReport
			err error
		}
		done := make(chan result, 1)
		go func() {
			rep, err := er.Erase(ctx, store.SubjectKey{UserID: "u-bob"}, EraseOptions{})
			done <- result{rep, err}
		}()
		select {
		case <-stuck.entered:
		case r := <-done:
			t.Fatalf("the erasure ended before its follow-up removed anything: %+v %v", r.rep, r.err)
		case <-time.After(30 * time.Second):
			t.Fatal("the follow-up never started")
		}
		// Committed, follow-up under way: the register, read from outside,
		// says pending.
		pending, err := store.PendingFollowUpRequests(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 {
			t.Fatalf("during the follow-up, requests with a pending follow-up: %v; want the erasure's", pending)
		}
		// The operator reruns without --request meanwhile: told how to finish.
		_, err = w.eraser().Erase(ctx, store.SubjectKey{UserID: "u-bob"}, EraseOptions{})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "follow-up of request") || !strings.Contains(err.Error(), "is pending") {
			t.Errorf("erase without --request during a pending follow-up: %v", err)
		}
		close(stuck.release)
		r := <-done
		if r.err != nil {
			t.Fatalf("erase: %v", r.err)
		}
		if pending, _ := store.PendingFollowUpRequests(ctx, db); len(pending) != 0 {
			t.Fatalf("after the follow-up finished: pending %v", pending)
		}
		_, acts, _ := er.Register.Get(ctx, r.rep.RequestID)
		if got := actionList(acts); !strings.Contains(got, "erase.followup:pending") || !strings.HasSuffix(got, "erase.followup:done ") {
			t.Errorf("request actions %s: want the pending follow-up, then done", got)
		}
		// Resumed (nothing left to remove): done, the residue check said to
		// be the sweep's.
		rep, err := w.eraser().Erase(ctx, store.SubjectKey{UserID: "u-bob"}, EraseOptions{RequestID: r.rep.RequestID})
		if err != nil || !rep.Resumed {
			t.Fatalf("resume: %+v %v", rep, err)
		}
		if rep.Residue == nil || !strings.Contains(rep.Residue.Description, "oubli check --residue") || len(rep.Residue.Deferred) == 0 {
			t.Errorf("resumed follow-up's residue: %+v; want it left to the sweep, said", rep.Residue)
		}
		if n := erRows(t, db, "SELECT seq FROM audit_log WHERE action = 'dsr.erase.followup' AND detail LIKE '%left_to_sweep%'"); len(n) != 1 {
			t.Errorf("audit entries of a resumed follow-up saying the check is the sweep's: %v", n)
		}
	})
}
