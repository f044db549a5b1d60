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
func (lostScan) Exists(context.Context, string) (bool, error) {
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
