package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/integrity"
	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/scheduler"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

func init() { register(newScheduleCmd) }

func newScheduleCmd(e *Env) *cobra.Command {
	var retSpec, statsSpec, reportSpec, residueSpec, notifySpec, tz, listen string
	var batch, workers int
	var maxShare float64
	var allowLarge bool
	c := &cobra.Command{
		Use:   "schedule",
		Short: "The long-running scheduler: retention, statistics refresh, overdue-request report and residue sweep on cron specs",
		Long: `Runs the nightly jobs on cron specs (five fields, an optional leading seconds field,
or @daily / @every 1h) read in --tz. A run missed while the daemon was down is caught
up once at start. /healthz and Prometheus /metrics are served on --listen.
SIGTERM finishes the batch in flight, releases the retention lock and exits 0.

Daylight saving: with a --tz that observes it, a job at a local time that does not
exist on the spring-forward night (02:30 in Europe/Paris) is skipped that day, and a
fixed time that occurs twice on the fall-back night runs once, at its first
occurrence (hourly specs run in both passes of the hour). Keep specs outside
01:00-03:00 local time, or use UTC (the default); the defaults are.

Several instances may run against one PostgreSQL: only one purges at a time; the
others log the run as skipped (busy). Within one instance the retention and
statistics jobs, which write the same tables, never overlap: one waits for the other.

/healthz answers 503, naming the job, when a job's last run failed or was refused
(safety valve), or when a job is overdue by more than its period (its last success,
recorded in the store by any instance, is older than its next due time plus one
period); a skipped run is neither a success nor a failure. Every oubli_job_* series
exists from start-up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return usageErrorf("--tz %q: unknown time zone", tz)
			}
			if batch < 1 || batch > 5000 {
				return usageErrorf("--batch-size %d: want 1..5000", batch)
			}
			if workers < 1 || workers > 8 {
				return usageErrorf("--workers %d: want 1..8", workers)
			}
			pol, err := e.Engine()
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			bs, err := e.Blobs()
			if err != nil {
				return err
			}
			var jobs []scheduler.Job
			if retSpec != "" {
				jobs = append(jobs, scheduler.Job{Name: "retention", Spec: retSpec, Exclusive: true, Run: func(ctx context.Context) (scheduler.Result, error) {
					rep, err := retention.Run(ctx, db, pol, retention.Options{BatchSize: batch, Workers: workers, Blobs: bs, Drain: integrity.DrainBlobQueue,
						Actor: "scheduler", Log: e.Log, Now: e.Now, MaxShare: maxShare, AllowLarge: allowLarge})
					if errors.Is(err, store.ErrBusy) {
						return scheduler.Result{}, scheduler.ErrSkipped
					}
					var res scheduler.Result
					if rep != nil {
						res.Deleted = map[string]int64{}
						for _, c := range retention.Categories {
							res.Deleted[c] = rep.Delete[c] + rep.Anonymize[c]
						}
					}
					switch {
					case errors.Is(err, retention.ErrSafetyValve):
						err = fmt.Errorf("%w: %w", scheduler.ErrRefused, err)
					case err == nil && rep != nil && rep.Outcome == "canceled":
						// What retention_runs says: stopped between batches.
						err = fmt.Errorf("retention run %s canceled: %w", rep.RunID, context.Canceled)
					case err == nil && rep != nil && rep.Outcome == "ok":
						// The Art. 19 outbox's handled notifications past their period.
						var np *notify.PurgeReport
						if np, err = notify.Purge(ctx, db, pol, rep.At, e.Now, false, "scheduler"); np != nil {
							res.Deleted[policies.CatNotifications] = np.Deleted
						}
					}
					return res, err
				}})
			}
			if statsSpec != "" {
				jobs = append(jobs, scheduler.Job{Name: "stats", Spec: statsSpec, Exclusive: true, Run: func(ctx context.Context) (scheduler.Result, error) {
					_, err := stats.Refresh(ctx, db, pol, e.Now(), "scheduler")
					return scheduler.Result{}, err
				}})
			}
			if reportSpec != "" {
				jobs = append(jobs, scheduler.Job{Name: "report", Spec: reportSpec, Run: func(ctx context.Context) (scheduler.Result, error) {
					reqs, err := dsr.Overdue(ctx, db, e.Now())
					if err == nil {
						// Request ids are not personal data; the subject is not named.
						ids := make([]string, len(reqs))
						for i, r := range reqs {
							ids[i] = r.RequestID
						}
						e.Log.Warn("overdue data-subject requests", "count", len(reqs), "request_ids", ids)
					}
					return scheduler.Result{}, err
				}})
			}
			if residueSpec != "" {
				jobs = append(jobs, scheduler.Job{Name: "residue", Spec: residueSpec, Run: func(ctx context.Context) (scheduler.Result, error) {
					h, err := db.Hasher(ctx)
					if err != nil {
						return scheduler.Result{}, err
					}
					_, err = residue.Sweep(ctx, db, bs, h, residue.SweepOptions{Now: e.Now, Actor: e.Actor})
					return scheduler.Result{}, err
				}})
			}
			if notifySpec != "" {
				d, err := e.Deliverer()
				if err != nil {
					return err
				}
				jobs = append(jobs, scheduler.Job{Name: "notify", Spec: notifySpec, Run: func(ctx context.Context) (scheduler.Result, error) {
					_, err := d.Deliver(ctx, false)
					if errors.Is(err, store.ErrBusy) {
						return scheduler.Result{}, scheduler.ErrSkipped
					}
					return scheduler.Result{}, err
				}})
			}
			if len(jobs) == 0 {
				return usageErrorf("no job to schedule: give at least one of --retention, --stats, --report, --residue, --notify")
			}
			return scheduler.Run(e.Ctx, scheduler.Config{Jobs: jobs, Location: loc, Listen: listen, DB: db, Log: e.Log, Now: e.Now})
		},
	}
	f := c.Flags()
	f.StringVar(&retSpec, "retention", "0 3 * * *", "cron spec of the retention purge (\"\" to disable)")
	f.StringVar(&statsSpec, "stats", "30 0 * * *", "cron spec of the statistics refresh (\"\" to disable)")
	f.StringVar(&reportSpec, "report", "0 8 * * *", "cron spec of the overdue-request report (\"\" to disable)")
	f.StringVar(&residueSpec, "residue", "0 4 * * *", "cron spec of the residue sweep, oubli check --residue (\"\" to disable)")
	f.StringVar(&notifySpec, "notify", "@every 1m", "cron spec of the delivery of queued notifications to recipients (Art. 19; \"\" to disable)")
	f.StringVar(&tz, "tz", "UTC", "time zone the specs are read in (IANA name, e.g. Europe/Paris)")
	f.StringVar(&listen, "listen", "127.0.0.1:9465", "address for /healthz and /metrics (\"\" to disable)")
	f.IntVar(&batch, "batch-size", 2000, "retention batch size (1..5000)")
	f.IntVar(&workers, "workers", 2, "retention batch transactions applied at once on PostgreSQL (1..8)")
	f.Var(newShareFlag(0.25, &maxShare), "max-share", "retention safety valve: refuse a run deleting more than this share of a category")
	f.BoolVar(&allowLarge, "allow-large", false, "disable the retention safety valve (not recommended for a daemon)")
	return c
}
