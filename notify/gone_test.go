package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestGoneMarksTheEndpoint: a webhook answering 410 Gone says the
// recipient's endpoint is gone, not that one notification is: every pending
// (queued) notification of that recipient is marked gone with it, to be
// handled by hand, instead of each being sent to a dead endpoint in turn.
// Other recipients' notifications are untouched.
func TestGoneMarksTheEndpoint(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		rcv, srv := newReceiver(t, func(string, int) (int, time.Duration) { return http.StatusGone, 0 })
		cfg := writeConfig(t, srv.URL)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ob := &Outbox{Recipients: recips, Config: cfg}
		first := queue(t, db, ob, Erasure("DSR-1", "h:00aa", "u-1", now, nil, nil))
		// Two more, not yet due: this run does not send them.
		later := queue(t, db, ob, Erasure("DSR-2", "h:00bb", "u-2", now.Add(time.Hour), nil, nil),
			Erasure("DSR-3", "h:00cc", "u-3", now.Add(time.Hour), nil, nil))
		d := deliverer(t, db, cfg)
		d.Now = func() time.Time { return now }
		rep, err := d.Deliver(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Attempted != 1 || rep.Gone != 1 || rep.MarkedGone != 2 {
			t.Errorf("report %+v: want 1 attempted and gone, 2 more marked gone", rep)
		}
		rcv.mu.Lock()
		if len(rcv.attempts) != 1 {
			t.Errorf("the receiver saw %v", rcv.attempts)
		}
		rcv.mu.Unlock()
		var hooked string
		for _, q := range first {
			if q.Status == store.NotifyQueued {
				hooked = q.ID
			}
		}
		for _, q := range append(first, later...) {
			n := get(t, db, q.ID)
			switch {
			case q.Status == store.NotifyManual:
				if n.Status != store.NotifyManual {
					t.Errorf("%s (manual recipient %s): %s", n.ID, n.RecipientID, n.Status)
				}
			case n.ID == hooked:
				if n.Status != store.NotifyGone || n.Attempts != 1 {
					t.Errorf("%s: %s after %d attempt(s), want gone after 1", n.ID, n.Status, n.Attempts)
				}
			default:
				if n.Status != store.NotifyGone || n.Attempts != 0 || !strings.Contains(n.LastError.String, "410 Gone") || !strings.Contains(n.LastError.String, hooked) {
					t.Errorf("%s of the same recipient: %s, %d attempt(s), %q: want gone, never sent, naming %s", n.ID, n.Status, n.Attempts, n.LastError.String, hooked)
				}
			}
		}
		sum, err := store.NotificationSummaries(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		var a *store.NotificationSummary
		for i := range sum {
			if sum[i].RecipientID == "adevinta_france" {
				a = &sum[i]
			}
		}
		if a == nil || a.Counts[store.NotifyGone] != 3 || a.GoneAt != store.Millis(now) || a.GoneNotification != hooked {
			t.Errorf("summary of the gone recipient: %+v", a)
		}
	})
}
