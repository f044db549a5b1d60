package dsr

import (
	"context"
	"fmt"

	"github.com/oubli/oubli/store"
)

// checkNotified refuses (ErrState) to close a request while any of its
// Art. 19 notifications is neither delivered nor acknowledged.
func checkNotified(ctx context.Context, tx *store.Tx, req store.Request) error {
	n, err := store.PendingNotifications(ctx, tx, req.RequestID)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("request %s has %d notification(s) to recipients not delivered or acknowledged (oubli notify list --request %s): deliver or acknowledge them, or close with --force --reason: %w",
			req.RequestID, n, req.RequestID, ErrState)
	}
	return nil
}

// ForceClose closes a pending request as done although some of its
// notifications are not delivered or acknowledged, with a mandatory reason
// recorded in the audit entry (with the number of pending notifications).
// The notifications stay as they are: queued ones are still delivered.
func (r *Register) ForceClose(ctx context.Context, id, reason string) (store.Request, error) {
	reason, err := checkReason("forcing a request closed", reason)
	if err != nil {
		return store.Request{}, err
	}
	var req store.Request
	err = r.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if req, err = store.LockRequest(ctx, tx, id); err != nil {
			return err
		}
		pending, err := store.PendingNotifications(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := r.close(ctx, tx, &req, false, ""); err != nil {
			return err
		}
		return r.record(ctx, tx, req, "request.force_close", "ok", map[string]any{"pending_notifications": pending, "reason": reason})
	})
	return req, err
}
