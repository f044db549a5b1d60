package retention

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/oubli/oubli/store"
)

// HoldSpec names what a new legal hold covers: exactly one of a ticket or a
// subject (by user id), why, and optionally until when.
type HoldSpec struct {
	TicketID string
	UserID   string
	Reason   string
	Until    *time.Time
}

// AddHold places a legal hold, effective at now, and audits it in the same
// transaction. The audit entry carries the hold id, the ticket id (not
// personal data) or the subject's keyed hash, never the reason's text.
func AddHold(ctx context.Context, db *store.DB, spec HoldSpec, now time.Time, actor string) (store.Hold, error) {
	return AddHoldNow(ctx, db, spec, func() time.Time { return now }, actor)
}

// AddHoldNow is AddHold with the hold's time read from clock (the clock a
// retention run uses) inside its transaction, after it has waited for any
// purge batch in flight (store.AddHoldAt): a hold committed while a run
// deletes or anonymises is never recorded as older than the batches it
// waited for. The audit entry carries the same time.
func AddHoldNow(ctx context.Context, db *store.DB, spec HoldSpec, clock func() time.Time, actor string) (store.Hold, error) {
	h := store.Hold{
		HoldID: store.NewHoldID(), TicketID: store.NullString(spec.TicketID), UserID: store.NullString(spec.UserID),
		Reason: spec.Reason, Until: store.NullMillis(spec.Until),
	}
	hasher, err := db.Hasher(ctx)
	if err != nil {
		return h, err
	}
	detail := map[string]any{"hold_id": h.HoldID}
	ref := ""
	if spec.TicketID != "" {
		detail["ticket_id"] = spec.TicketID
	} else {
		ref = hasher.Hash("user_id", spec.UserID)
	}
	if spec.Until != nil {
		detail["until"] = spec.Until.UTC().Format(time.RFC3339)
	}
	err = db.InTx(ctx, func(tx *store.Tx) error {
		added, err := store.AddHoldAt(ctx, tx, h, clock)
		if err != nil {
			return err
		}
		h = added
		_, err = store.AppendAudit(ctx, tx, store.AuditRecord{At: store.FromMillis(h.CreatedAt), Actor: actor, Action: "hold.add", SubjectRef: ref, Outcome: "ok", Detail: detail})
		return err
	})
	if err != nil {
		return h, fmt.Errorf("add hold: %w", err)
	}
	return h, nil
}

// ReleaseHold releases a hold at now and audits it in the same transaction.
func ReleaseHold(ctx context.Context, db *store.DB, id string, now time.Time, actor string) (store.Hold, error) {
	hasher, err := db.Hasher(ctx)
	if err != nil {
		return store.Hold{}, err
	}
	var h store.Hold
	err = db.InTx(ctx, func(tx *store.Tx) error {
		h, err = store.ReleaseHold(ctx, tx, id, store.Millis(now))
		if err != nil {
			return err
		}
		ref := ""
		detail := map[string]any{"hold_id": h.HoldID}
		if h.UserID.Valid {
			ref = hasher.Hash("user_id", h.UserID.String)
		} else {
			detail["ticket_id"] = h.TicketID.String
		}
		_, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: now, Actor: actor, Action: "hold.release", SubjectRef: ref, Outcome: "ok", Detail: detail})
		return err
	})
	if err != nil {
		return h, fmt.Errorf("release hold: %w", err)
	}
	h.ReleasedAt = sql.NullInt64{Int64: store.Millis(now), Valid: true}
	return h, nil
}

// ListHolds returns the holds active at now, or all holds.
func ListHolds(ctx context.Context, db *store.DB, now time.Time, all bool) ([]store.Hold, error) {
	return store.ListHolds(ctx, db, store.Millis(now), all)
}
