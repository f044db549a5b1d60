package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// Run purges what the policies say has expired at opts.At. It holds the
// retention lock for its whole duration (ErrBusy when another run has it),
// refuses with a *ValveError (ErrSafetyValve) before deleting anything when
// the safety valve trips, and otherwise applies every category batch by
// batch. A canceled ctx stops it between batches with outcome "canceled":
// what was committed stays committed and the next run finishes the work.
//
// The returned report holds what was done even when err is not nil.
func Run(ctx context.Context, db *store.DB, pol Policy, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	defer startProfile(opts.Log)()
	lock, err := db.TryLock(ctx, LockName)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()

	// Validate the policies against this data before touching anything:
	// the cutoffs now, every decision during the plan below.
	p, err := newPass(ctx, db, pol, &opts, false)
	if err != nil {
		return nil, err
	}
	p.lock = lock
	rep := p.rep
	rep.RunID = newRunID(opts.Now())
	started := opts.Now().UTC()
	rep.StartedAt = &started

	var pl *Report
	if !opts.AllowLarge {
		var verr *ValveError
		if pl, verr, err = p.openValve(ctx); err != nil {
			return nil, err
		}
		if verr != nil {
			rep.Outcome = "refused"
			if err := record(ctx, db, rep, opts, started, verr); err != nil {
				return rep, errors.Join(verr, err)
			}
			return rep, verr
		}
	}

	err = db.InTx(ctx, func(tx *store.Tx) error {
		n, err := store.StartRetentionRun(ctx, tx, store.RetentionRun{
			RunID: rep.RunID, At: store.Millis(opts.At), StartedAt: store.Millis(started), PolicyRevision: rep.PolicyRevision,
		})
		rep.Interrupted = n
		if err != nil {
			return err
		}
		_, err = store.AppendAudit(ctx, tx, store.AuditRecord{
			At: started, Actor: opts.Actor, Action: "retention.start", Outcome: "started",
			Detail: map[string]any{"run_id": rep.RunID, "at": rep.At.Format(time.RFC3339Nano), "policy_revision": rep.PolicyRevision,
				"batch_size": opts.BatchSize, "allow_large": opts.AllowLarge, "max_share": opts.MaxShare, "interrupted_runs": n},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start retention run: %w", err)
	}
	opts.Log.Info("retention run started", "run_id", rep.RunID, "at", rep.At.Format(time.RFC3339), "policy_revision", rep.PolicyRevision)

	// Finish what an earlier run (or erasure) queued and could not remove.
	// Removals stop on a signal, as batches do: the queue is durable.
	if err := p.drain(ctx); err != nil {
		return rep, err
	}
	if opts.Blobs != nil {
		p.blobs = newDrainer(ctx, db, opts.Blobs, opts.Log)
	}
	runErr := p.all(ctx)
	if p.blobs != nil {
		t := time.Now()
		n, err := p.blobs.close()
		rep.BlobsDeleted += n
		if err != nil && p.blobErr == nil {
			p.blobErr = err
		}
		// What the drainer could not remove, and anything queued meanwhile.
		if err := p.drain(ctx); err != nil && runErr == nil {
			runErr = err
		}
		opts.Log.Info("retention blob contents removed", "run_id", rep.RunID, "blobs_deleted", rep.BlobsDeleted, "wait_ms", time.Since(t).Milliseconds())
	}
	if p.blobErr != nil && runErr == nil {
		runErr = p.blobsLeft(context.WithoutCancel(ctx))
	}
	rep.sum()
	var verr *ValveError
	switch {
	case errors.As(runErr, &verr):
		rep.Outcome = "refused"
	case runErr != nil:
		rep.Outcome = "failed"
		if errors.Is(runErr, ErrBlobsLeft) && p.stopped {
			rep.Outcome = "canceled"
		}
	case p.stopped:
		rep.Outcome = "canceled"
	default:
		rep.Outcome = "ok"
	}
	if err := record(context.WithoutCancel(ctx), db, rep, opts, started, runErr); err != nil {
		return rep, errors.Join(runErr, err)
	}
	opts.Log.Info("retention run finished", "run_id", rep.RunID, "outcome", rep.Outcome, "total", rep.Total, "blobs_deleted", rep.BlobsDeleted)
	vacuumSettled(context.WithoutCancel(ctx), db, p.settledRows, opts)
	flushTextIndexes(context.WithoutCancel(ctx), db, opts.Log)
	if runErr != nil {
		return rep, runErr
	}
	if pl != nil && rep.Outcome == "ok" && !samePlan(pl, rep, p.valve.planned) {
		// The data changed between the plan and the run (ingest, a new
		// hold): not an error, but worth a line in the log.
		opts.Log.Warn("retention run differs from its own plan: the data changed during the run", "run_id", rep.RunID)
	}
	return rep, nil
}

// History returns the latest runs, newest first. A run recorded as running
// while no run holds the lock died before recording its end (SIGKILL, a
// lost connection, a database restart): it is recorded as interrupted first,
// so that the history never shows a dead run as running.
func History(ctx context.Context, db *store.DB, limit int) ([]store.RetentionRun, error) {
	runs, err := store.ListRetentionRuns(ctx, db, limit)
	if err != nil {
		return nil, err
	}
	running := false
	for _, r := range runs {
		running = running || r.Outcome == "running"
	}
	if !running {
		return runs, nil
	}
	lock, err := db.TryLock(ctx, LockName)
	if err != nil {
		return runs, nil // a run is live (or the lock cannot be taken): as recorded
	}
	defer lock.Unlock()
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := store.InterruptDeadRuns(ctx, tx, time.Now())
		return err
	}); err != nil {
		return runs, nil // as recorded: the next run records them
	}
	return store.ListRetentionRuns(ctx, db, limit)
}

// RunReason returns, from a finished run's recorded counts, why it did not
// end ok (the safety valve's or the error's text), or "".
func RunReason(counts string) string {
	var d struct {
		Error string `json:"error"`
		Valve *struct {
			Category string  `json:"category"`
			Count    int64   `json:"count"`
			Total    int64   `json:"total"`
			MaxShare float64 `json:"max_share"`
			During   bool    `json:"during_run"`
		} `json:"valve"`
	}
	if json.Unmarshal([]byte(counts), &d) != nil {
		return ""
	}
	if d.Valve != nil {
		v := ValveError{Category: d.Valve.Category, Count: d.Valve.Count, Total: d.Valve.Total, MaxShare: d.Valve.MaxShare, During: d.Valve.During}
		if v.Total > 0 {
			return v.Error()
		}
	}
	return d.Error
}

func planOpts(o Options) Options {
	o.Explain = 0
	o.Progress = nil
	return o
}

// samePlan reports whether a run did what its plan said of the categories
// planned.
func samePlan(plan, run *Report, planned map[string]bool) bool {
	for _, c := range Categories {
		if !planned[c] {
			continue
		}
		if plan.Delete[c] != run.Delete[c] || plan.Anonymize[c] != run.Anonymize[c] {
			return false
		}
	}
	return true
}

// record writes the run's outcome to retention_runs and the audit trail.
func record(ctx context.Context, db *store.DB, rep *Report, o Options, started time.Time, runErr error) error {
	finished := o.Now().UTC()
	rep.FinishedAt = &finished
	rules := map[string]any{}
	for id, rc := range rep.Rules {
		rules[id] = map[string]any{"category": rc.Category, "action": rc.Action, "count": rc.Count, "held": rc.Held}
	}
	detail := map[string]any{
		"run_id": rep.RunID, "at": rep.At.Format(time.RFC3339Nano), "policy_revision": rep.PolicyRevision,
		"started_at": started.Format(time.RFC3339Nano), "finished_at": finished.Format(time.RFC3339Nano),
		"delete": rep.Delete, "anonymize": rep.Anonymize, "kept_by_hold": rep.KeptByHold, "total": rep.Total,
		"rules": rules, "blobs_deleted": rep.BlobsDeleted,
	}
	if rep.Changed > 0 {
		detail["changed_during_run"] = rep.Changed
	}
	if rep.BlobsLeft > 0 {
		detail["blobs_left"] = rep.BlobsLeft
	}
	var verr *ValveError
	if errors.As(runErr, &verr) {
		detail["valve"] = map[string]any{"category": verr.Category, "count": verr.Count, "total": verr.Total, "max_share": verr.MaxShare, "during_run": verr.During}
		detail["error"] = verr.Error()
	} else if runErr != nil {
		// Error texts name categories, rules and counts, never records.
		detail["error"] = runErr.Error()
	}
	return db.InTx(ctx, func(tx *store.Tx) error {
		if rep.Outcome == "refused" && (verr == nil || !verr.During) { // refused by its plan: not yet recorded
			if _, err := store.StartRetentionRun(ctx, tx, store.RetentionRun{
				RunID: rep.RunID, At: store.Millis(rep.At), StartedAt: store.Millis(started), PolicyRevision: rep.PolicyRevision,
			}); err != nil {
				return err
			}
		}
		if err := store.FinishRetentionRun(ctx, tx, rep.RunID, rep.Outcome, mustJSON(detail), store.Millis(finished)); err != nil {
			return err
		}
		_, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: finished, Actor: o.Actor, Action: "retention.run", Outcome: rep.Outcome, Detail: detail})
		return err
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func newRunID(now time.Time) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "R-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// DrainQueue removes up to limit queued blob contents: each blob is deleted
// from the blob store first, then its queue row, so a crash in between only
// leaves a queue row whose blob is already gone (deleting it again is not an
// error). It is the fallback when Options.Drain is not set.
func DrainQueue(ctx context.Context, db *store.DB, bs blobs.Store, limit int) (int, error) {
	var keys []string
	if err := db.Select(ctx, &keys, "SELECT blob_key FROM blob_deletions ORDER BY blob_key LIMIT ?", limit); err != nil {
		return 0, fmt.Errorf("read blob queue: %w", err)
	}
	for i, k := range keys {
		if err := bs.Delete(ctx, k); err != nil {
			return i, err
		}
		if _, err := db.Exec(ctx, "DELETE FROM blob_deletions WHERE blob_key = ?", k); err != nil {
			return i, fmt.Errorf("dequeue blob: %w", err)
		}
	}
	return len(keys), nil
}

// blobsLeft is the run's error when removing attachment contents failed or
// was stopped: the records are gone, the contents still queued (adversarial
// pass 7 F2: the run said ok, exit 0, with every document still in the
// bucket). The message says how many and how they go.
func (p *pass) blobsLeft(ctx context.Context) error {
	var n int64
	if err := p.db.Get(ctx, &n, "SELECT COUNT(*) FROM blob_deletions"); err != nil {
		return fmt.Errorf("%w (%v); count them: %w", ErrBlobsLeft, p.blobErr, err)
	}
	p.rep.BlobsLeft = n
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d still queued for removal (%v); the next run, or `oubli check --repair`, removes them",
		ErrBlobsLeft, n, p.blobErr)
}

// vacuumSettled vacuums the tables of which the run settled at least
// opts.VacuumAfter records (the first run of a new policy revision: 64,000
// subjects and 4,100 disputed tickets at 3 M). Every later night counts
// and skips those records through index-only scans of the memo's indexes
// (settle.go), which visit the heap for every row on a page not marked
// all-visible, and only VACUUM marks them: autovacuum waits for a fifth of
// a table to change, so until then a nothing-to-do run at 3 M cost 1.1 s,
// 120 ms of it fetching the 3,700 settled disputed tickets one by one.
// It costs the settling run a few seconds, once per policy revision
// (tickets at 3 M: 4.4 s). Best effort, like flushTextIndexes.
func vacuumSettled(ctx context.Context, db *store.DB, settled map[string]int64, o Options) {
	if o.VacuumAfter < 0 {
		return
	}
	var cats []string
	for _, c := range Categories {
		if settled[c] >= o.VacuumAfter {
			cats = append(cats, c)
		}
	}
	if len(cats) == 0 {
		return
	}
	t := time.Now()
	tables, notOwned, err := store.Vacuum(ctx, db, cats...)
	if err != nil {
		o.Log.Warn("retention: could not vacuum the tables whose records it settled (later runs read them more slowly until autovacuum does)", "categories", cats, "error", err.Error())
		return
	}
	if len(notOwned) > 0 {
		o.Log.Warn("retention: the tables whose records it settled are not owned by this role and were not vacuumed (later runs read them more slowly until autovacuum does; run VACUUM ANALYZE on them as their owner)", "tables", notOwned)
	}
	if len(tables) > 0 {
		o.Log.Info("retention vacuumed the tables whose records it settled", "tables", tables, "elapsed_ms", time.Since(t).Milliseconds())
	}
}

// flushTextIndexes merges the pending entries of the store's GIN indexes
// (the residue proof's trigram indexes) into the indexes themselves, after
// every run: every search reads a GIN index's pending list in
// full until it is merged, which autovacuum does only after a fifth of a
// table has changed. Settling 1,200 disputed tickets at 1 M left 190 pending
// pages that made each erasure's residue look-up 5x slower (erase --from
// 27.8 -> 19 subjects/s) until merged; a day's ingest leaves the same. With
// nothing pending it costs a few milliseconds. Best effort: a role that does not own
// the indexes, or any error, is logged and the run's outcome stands.
func flushTextIndexes(ctx context.Context, db *store.DB, log *slog.Logger) {
	t := time.Now()
	pages, notOwned, err := store.FlushTextIndexes(ctx, db)
	if err != nil {
		log.Warn("retention: could not merge the text indexes' pending entries (residue look-ups stay slower until VACUUM)", "error", err.Error())
		return
	}
	// A role that may write the tables but does not own them leaves the
	// merge to autovacuum: said, not warned, every night (adversarial pass
	// 7b: a warning on every run of a correctly restricted role).
	log.Info("retention text indexes merged", "pending_pages", pages, "left_not_owned", notOwned, "elapsed_ms", time.Since(t).Milliseconds())
}
