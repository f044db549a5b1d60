package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Decider decides how long a handled notification is kept
// (*policies.Engine: notifications.rego).
type Decider interface {
	HasNotificationRules() bool
	DecideNotifications(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error)
}

// PurgeReport says what Purge did (or, dry, would do).
type PurgeReport struct {
	At      time.Time        `json:"at"`
	DryRun  bool             `json:"dry_run"`
	Scanned int64            `json:"scanned"`
	Kept    int64            `json:"kept"`
	Deleted int64            `json:"deleted"` // dry: would delete
	Rules   map[string]int64 `json:"rules"`   // rule id → notifications it decided
	// Skipped says why nothing was decided: the policies have no
	// notification rules (nothing is deleted).
	Skipped string `json:"skipped,omitempty"`
}

// purgeBatch is how many notifications one batch reads and decides.
const purgeBatch = 1000

// Purge removes the delivered and acknowledged notifications the policies
// say have expired at at (part of the nightly retention purge; dry: only
// counts them). Every notification is decided by the policies; one not yet
// handled is never deleted (store.DeleteHandledNotifications). Each batch's
// deletions are committed with their audit entry (notify.purge: counts per
// rule, no identifier), so an interrupted purge leaves no unaudited
// deletion and the next one finishes it. now is the clock of the audit
// entries. Policies without notification
// rules delete nothing (Skipped says so).
func Purge(ctx context.Context, db *store.DB, dec Decider, at time.Time, now func() time.Time, dry bool, actor string) (*PurgeReport, error) {
	if now == nil {
		now = time.Now
	}
	rep := &PurgeReport{At: at.UTC(), DryRun: dry, Rules: map[string]int64{}}
	if !dec.HasNotificationRules() {
		rep.Skipped = "the policies have no notification rules (notifications.rego): no notification is deleted"
		return rep, nil
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rows, err := store.ScanNotificationFacts(ctx, db, after, purgeBatch)
		if err != nil || len(rows) == 0 {
			return rep, err
		}
		recs := make([]policies.Record, len(rows))
		for i, r := range rows {
			m := map[string]any{"status": r.Status, "created_at": r.CreatedAt}
			if r.DeliveredAt.Valid {
				m["delivered_at"] = r.DeliveredAt.Int64
			}
			if r.AckedAt.Valid {
				m["acked_at"] = r.AckedAt.Int64
			}
			recs[i] = policies.Record{Category: policies.CatNotifications, ID: r.ID, Attrs: m}
		}
		ds, err := dec.DecideNotifications(ctx, at, recs)
		if err != nil {
			return rep, fmt.Errorf("notifications purge: %w", err)
		}
		var del []string
		rules := map[string]int64{}
		for i, d := range ds {
			rep.Scanned++
			if d.Action == policies.Delete {
				del = append(del, rows[i].ID)
				rules[d.Rule]++
			} else {
				rep.Kept++
				rep.Rules[d.Rule]++
			}
		}
		if dry || len(del) == 0 {
			rep.Deleted += int64(len(del))
			for r, n := range rules {
				rep.Rules[r] += n
			}
		} else {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				n, err := store.DeleteHandledNotifications(ctx, tx, del)
				if err != nil {
					return err
				}
				if n == 0 {
					return nil
				}
				rep.Deleted += n
				for r, c := range rules {
					rep.Rules[r] += c
				}
				_, err = store.AppendAudit(ctx, tx, store.AuditRecord{At: now(), Actor: actor, Action: "notify.purge", Outcome: "ok",
					Detail: map[string]any{"deleted": n, "decided": len(del), "rules": rules, "at": at.UTC().Format(time.RFC3339)}})
				return err
			})
			if err != nil {
				return rep, fmt.Errorf("notifications purge: %w", err)
			}
		}
		if len(rows) < purgeBatch {
			return rep, nil
		}
		after = rows[len(rows)-1].ID
	}
}
