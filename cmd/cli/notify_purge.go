package cli

import (
	"time"

	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/store"
)

// purgeNotifications is the Art. 19 outbox's part of the retention purge:
// after a run that ended ok (or, dry, with a plan), the delivered and
// acknowledged notifications past the policies' period (notifications.rego)
// are deleted (counted). Text output gets one line after the report; under
// --output json the report stays the one document on stdout and the counts
// are in the log and, for a run, the audit trail (notify.purge).
func (e *Env) purgeNotifications(db *store.DB, at time.Time, dry bool, actor string) (*notify.PurgeReport, error) {
	eng, err := e.Engine()
	if err != nil {
		return nil, err
	}
	rep, err := notify.Purge(e.Ctx, db, eng, at, e.Now, dry, actor)
	if err != nil {
		return rep, err
	}
	e.Log.Info("notifications purge", "dry_run", dry, "scanned", rep.Scanned, "deleted", rep.Deleted, "kept", rep.Kept)
	if e.JSON() {
		return rep, nil
	}
	switch {
	case rep.Skipped != "":
		e.Printf("notifications (Art. 19 outbox): %s\n", rep.Skipped)
	case dry:
		e.Printf("notifications (Art. 19 outbox): %d handled notification(s) would be deleted, %d kept\n", rep.Deleted, rep.Kept)
	default:
		e.Printf("notifications (Art. 19 outbox): %d handled notification(s) deleted, %d kept\n", rep.Deleted, rep.Kept)
	}
	return rep, nil
}
