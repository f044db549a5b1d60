package store

import (
	"context"
	"fmt"
)

// HoldBlobKeys returns the blob keys of the attachments a hold covers: those
// of its ticket, or of every ticket of its subject. An object store with
// Object Lock puts its legal hold on them.
func HoldBlobKeys(ctx context.Context, q Querier, h Hold) ([]string, error) {
	var keys []string
	var err error
	if h.TicketID.Valid {
		err = q.Select(ctx, &keys, "SELECT blob_key FROM attachments WHERE ticket_id = ? ORDER BY blob_key", h.TicketID.String)
	} else {
		err = q.Select(ctx, &keys, `SELECT a.blob_key FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id
			WHERE t.user_id = ? ORDER BY a.blob_key`, h.UserID.String)
	}
	if err != nil {
		return nil, fmt.Errorf("blob keys of hold %s: %w", h.HoldID, err)
	}
	return keys, nil
}

// StillHeldBlobKeys returns those of keys that a hold other than except,
// not released and not lapsed at nowMillis, still covers: releasing one
// hold must not lift the object lock another one needs.
func StillHeldBlobKeys(ctx context.Context, q Querier, keys []string, except string, nowMillis int64) (map[string]bool, error) {
	held := map[string]bool{}
	for len(keys) > 0 {
		n := min(500, len(keys))
		chunk := keys[:n]
		keys = keys[n:]
		cond, args := inList(q.Dialect(), "a.blob_key", chunk)
		var got []string
		err := q.Select(ctx, &got, `SELECT DISTINCT a.blob_key FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id
			JOIN legal_holds h ON (h.ticket_id = t.ticket_id OR h.user_id = t.user_id)
			WHERE h.hold_id <> ? AND h.released_at IS NULL AND (h.until IS NULL OR h.until > ?) AND `+cond,
			append([]any{except, nowMillis}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("blob keys still held: %w", err)
		}
		for _, k := range got {
			held[k] = true
		}
	}
	return held, nil
}
