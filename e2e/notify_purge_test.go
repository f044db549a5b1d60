package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/store"
)

// TestRetentionPurgesHandledNotifications: the nightly purge (retention
// run) deletes the acknowledged notifications older than the policies'
// period (notifications.rego: one year after the ack), keeps the recent
// ones, and retention plan counts exactly those without deleting them; the
// deletion is audited (notify.purge).
func TestRetentionPurgesHandledNotifications(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(24, 6))
	w.must("erase", "--user-id", "u-001")
	w.must("erase", "--user-id", "u-002")
	ns := notificationsOf(t, w, "")
	if len(ns) != 4 {
		t.Fatalf("%d notifications, want 4 (2 erasures × 2 manual recipients)", len(ns))
	}
	for _, n := range ns {
		w.must("notify", "ack", n["id"].(string), "--note", "told by e-mail")
	}
	// Two of them were acknowledged two years ago.
	db, err := store.Open(context.Background(), w.db, store.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	old := store.Millis(time.Now().AddDate(-2, 0, 0))
	expired := []string{ns[0]["id"].(string), ns[1]["id"].(string)}
	for _, id := range expired {
		if _, err := db.SQL().Exec("UPDATE notifications SET acked_at = ? WHERE id = ?", old, id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	if r := w.must("retention", "plan"); !strings.Contains(r.stdout, "2 handled notification(s) would be deleted, 2 kept") {
		t.Fatalf("plan: %s", r)
	}
	if n := len(notificationsOf(t, w, "")); n != 4 {
		t.Fatalf("the plan deleted notifications: %d left", n)
	}
	if r := w.must("retention", "run", "--allow-large"); !strings.Contains(r.stdout, "2 handled notification(s) deleted, 2 kept") {
		t.Fatalf("run: %s", r)
	}
	left := map[string]bool{}
	for _, n := range notificationsOf(t, w, "") {
		left[n["id"].(string)] = true
	}
	if len(left) != 2 || left[expired[0]] || left[expired[1]] {
		t.Errorf("after the run: %v, want the two recent ones", left)
	}
	if r := w.must("--output", "json", "audit", "log"); !strings.Contains(r.stdout, `"notify.purge"`) {
		t.Errorf("no notify.purge entry in the audit trail")
	}
	w.healthy()
}
