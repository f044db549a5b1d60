package store

import (
	"context"
	"database/sql"
	"fmt"
)

// MarkRecipientGone marks every queued notification of a recipient gone,
// inside tx, with reason as its last error: the recipient's endpoint
// answered 410 Gone, so none of them is sent there again; each is handled
// by hand, then acknowledged. On PostgreSQL the rows another deliverer
// holds (FOR UPDATE SKIP LOCKED) are skipped: it meets the same answer. It
// returns how many it marked.
func MarkRecipientGone(ctx context.Context, tx *Tx, recipientID, reason string) (int64, error) {
	sel := "SELECT id FROM notifications WHERE recipient_id = ? AND status = 'queued'"
	if tx.dialect == Postgres {
		sel += " FOR UPDATE SKIP LOCKED"
	}
	n, err := rowsAffected(tx.Exec(ctx, "UPDATE notifications SET status = 'gone', last_error = ? WHERE id IN ("+sel+")", reason, recipientID))
	if err != nil {
		return 0, fmt.Errorf("mark the notifications of %s gone: %w", recipientID, err)
	}
	return n, nil
}

// NotificationSummary is one recipient's outbox: its notifications by
// status and, while any notification it answered 410 Gone is not yet
// acknowledged, when the endpoint last did so and to which notification.
type NotificationSummary struct {
	RecipientID      string           `json:"recipient"`
	Counts           map[string]int64 `json:"counts"`
	GoneAt           int64            `json:"-"` // Unix ms; 0: not gone
	GoneNotification string           `json:"gone_notification,omitempty"`
	LastDeliveredAt  int64            `json:"-"` // Unix ms; 0: never
}

// NotificationSummaries returns the outbox per recipient, by recipient id.
func NotificationSummaries(ctx context.Context, q Querier) ([]NotificationSummary, error) {
	var counts []struct {
		RecipientID string `db:"recipient_id"`
		Status      string `db:"status"`
		N           int64  `db:"n"`
	}
	if err := q.Select(ctx, &counts, "SELECT recipient_id, status, COUNT(*) AS n FROM notifications GROUP BY recipient_id, status ORDER BY recipient_id, status"); err != nil {
		return nil, fmt.Errorf("notification summary: %w", err)
	}
	var out []NotificationSummary
	ix := map[string]int{}
	for _, c := range counts {
		i, ok := ix[c.RecipientID]
		if !ok {
			i = len(out)
			ix[c.RecipientID] = i
			out = append(out, NotificationSummary{RecipientID: c.RecipientID, Counts: map[string]int64{}})
		}
		out[i].Counts[c.Status] = c.N
	}
	var gone []struct {
		RecipientID string        `db:"recipient_id"`
		ID          string        `db:"id"`
		At          sql.NullInt64 `db:"last_attempt_at"`
	}
	if err := q.Select(ctx, &gone, "SELECT recipient_id, id, last_attempt_at FROM notifications WHERE status = 'gone' AND attempts > 0 ORDER BY last_attempt_at DESC, id"); err != nil {
		return nil, fmt.Errorf("notification summary: %w", err)
	}
	for _, g := range gone {
		if i, ok := ix[g.RecipientID]; ok && out[i].GoneNotification == "" {
			out[i].GoneAt, out[i].GoneNotification = g.At.Int64, g.ID
		}
	}
	var delivered []struct {
		RecipientID string `db:"recipient_id"`
		At          int64  `db:"at"`
	}
	if err := q.Select(ctx, &delivered, "SELECT recipient_id, MAX(delivered_at) AS at FROM notifications WHERE delivered_at IS NOT NULL GROUP BY recipient_id"); err != nil {
		return nil, fmt.Errorf("notification summary: %w", err)
	}
	for _, d := range delivered {
		if i, ok := ix[d.RecipientID]; ok {
			out[i].LastDeliveredAt = d.At
		}
	}
	return out, nil
}

// AdoptManualNotifications turns the manual notifications (not acknowledged)
// of the given recipients into queued ones, due at once, and returns how
// many it changed: a deliverer that has a webhook for a recipient sends
// what a command without the delivery settings queued as manual
// (adversarial pass 8 F11: an erasure run from a shell without
// OUBLI_RECIPIENTS left its notice manual for ever, overtaking the
// rectification still queued for the same recipient).
func AdoptManualNotifications(ctx context.Context, q Querier, recipientIDs []string, nowMillis int64) (int64, error) {
	var n int64
	for _, id := range recipientIDs {
		res, err := q.Exec(ctx, "UPDATE notifications SET status = 'queued', next_attempt_at = ? WHERE status = 'manual' AND recipient_id = ?", nowMillis, id)
		if err != nil {
			return n, fmt.Errorf("adopt manual notifications of %s: %w", id, err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return n, nil
}
