package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// NotificationFacts are the facts the policies decide a notification's
// retention on (policies.CatNotifications).
type NotificationFacts struct {
	ID          string        `db:"id"`
	Status      string        `db:"status"`
	CreatedAt   int64         `db:"created_at"`
	DeliveredAt sql.NullInt64 `db:"delivered_at"`
	AckedAt     sql.NullInt64 `db:"acked_at"`
}

// ScanNotificationFacts returns up to limit notifications with id > after,
// ordered by id, whatever their status: the policies decide each.
func ScanNotificationFacts(ctx context.Context, q Querier, after string, limit int) ([]NotificationFacts, error) {
	out := []NotificationFacts{}
	err := q.Select(ctx, &out, "SELECT id, status, created_at, delivered_at, acked_at FROM notifications WHERE id > ? ORDER BY id LIMIT "+strconv.Itoa(limit), after)
	if err != nil {
		return nil, fmt.Errorf("scan notifications: %w", err)
	}
	return out, nil
}

// DeleteHandledNotifications deletes, inside tx, the notifications of ids
// that are delivered or acknowledged: a notification not yet handled is
// never deleted, whatever a caller decided. It returns how many it deleted
// (fewer than ids when some were deleted meanwhile, or are not handled).
func DeleteHandledNotifications(ctx context.Context, tx *Tx, ids []string) (int64, error) {
	cond, args := inList(tx.dialect, "id", ids)
	n, err := rowsAffected(tx.Exec(ctx, "DELETE FROM notifications WHERE status IN ('delivered', 'acknowledged') AND "+cond, args...))
	if err != nil {
		return 0, fmt.Errorf("delete notifications: %w", err)
	}
	return n, nil
}
