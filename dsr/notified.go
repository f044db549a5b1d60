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
