package notify

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// TestPurgeHandledNotifications: the nightly purge deletes exactly the
// delivered and acknowledged notifications the policies say have expired
// (one year after delivery or acknowledgement), never one not yet handled
// however old; the dry run counts exactly what the run deletes; the
// deletions are audited.
func TestPurgeHandledNotifications(t *testing.T) {
	eng, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := store.WithActor(context.Background(), "test")
		now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
		old, recent := now.AddDate(-2, 0, 0), now.AddDate(0, -1, 0)
		ob := &Outbox{Recipients: recips[:1]}
		var ids []string
		for i, ev := range []Event{
			Erasure("DSR-1", "h:01", "u-1", old, nil, nil), // delivered two years ago: expired
			Erasure("DSR-2", "h:02", "u-2", old, nil, nil), // acknowledged two years ago: expired
			Erasure("DSR-3", "h:03", "u-3", old, nil, nil), // delivered a month ago: kept
			Erasure("DSR-4", "h:04", "u-4", old, nil, nil), // still manual, five years on: kept
			Erasure("DSR-5", "h:05", "u-5", old, nil, nil), // gone, never acknowledged: kept
		} {
			q := queue(t, db, ob, ev)
			n := get(t, db, q[0].ID)
			ms := func(t time.Time) sql.NullInt64 { return sql.NullInt64{Int64: store.Millis(t), Valid: true} }
			switch i {
			case 0:
				n.Status, n.DeliveredAt, n.Payload = store.NotifyDelivered, ms(old), ""
			case 1:
				n.Status, n.AckedAt, n.Payload = store.NotifyAcknowledged, ms(old), ""
			case 2:
				n.Status, n.DeliveredAt, n.Payload = store.NotifyDelivered, ms(recent), ""
			case 3:
				n.CreatedAt = store.Millis(now.AddDate(-5, 0, 0))
			case 4:
				n.Status = store.NotifyGone
			}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return store.UpdateNotification(ctx, tx, n) }); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n.ID)
		}
		dry, err := Purge(ctx, db, eng, now, nil, true, "test")
		if err != nil {
			t.Fatal(err)
		}
		if dry.Scanned != 5 || dry.Deleted != 2 || dry.Kept != 3 || dry.Rules["notifications.expired"] != 2 || dry.Rules["notifications.pending"] != 2 {
			t.Errorf("dry run: %+v", dry)
		}
		if all := mustList(t, db, store.NotificationFilter{}); len(all) != 5 {
			t.Fatalf("the dry run deleted: %d left", len(all))
		}
		rep, err := Purge(ctx, db, eng, now, func() time.Time { return now }, false, "test")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted != dry.Deleted || rep.Kept != dry.Kept {
			t.Errorf("run %+v differs from its dry run %+v", rep, dry)
		}
		left := map[string]bool{}
		for _, n := range mustList(t, db, store.NotificationFilter{}) {
			left[n.ID] = true
		}
		for i, id := range ids {
			if want := i >= 2; left[id] != want {
				t.Errorf("notification %d: present %v, want %v", i, left[id], want)
			}
		}
		var audited int
		if err := db.Get(ctx, &audited, "SELECT COUNT(*) FROM audit_log WHERE action = 'notify.purge'"); err != nil || audited != 1 {
			t.Errorf("notify.purge audit entries: %d (%v), want 1", audited, err)
		}
		again, err := Purge(ctx, db, eng, now, nil, false, "test")
		if err != nil || again.Deleted != 0 {
			t.Errorf("a second purge: %+v, %v", again, err)
		}
	})
}
