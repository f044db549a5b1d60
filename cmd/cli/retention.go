package cli

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/oubli/oubli/integrity"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

func init() { register(newRetentionCmd) }

// runRetention is retention.Run (a variable for tests that change the data
// during a run).
var runRetention = retention.Run

func newRetentionCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "retention", Short: "Plan and run the retention purge decided by the policies"}
	var at string
	var o retention.Options
	addCommon := func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&at, "at", "", "evaluate the policies at this time (RFC 3339 or YYYY-MM-DD; default now)")
		cmd.Flags().IntVar(&o.BatchSize, "batch-size", 2000, "records read, decided and written per batch (1..5000)")
		cmd.Flags().BoolVar(&o.Full, "full", false, "decide every record again, including those earlier runs settled as kept (an open dispute, an anonymised account): what is kept, and why, in full")
	}
	prepare := func() (*store.DB, retention.Policy, error) {
		if at != "" {
			t, err := ParseTime("--at", at)
			if err != nil {
				return nil, nil, err
			}
			o.At = t
		}
		if o.BatchSize < 1 || o.BatchSize > 5000 {
			return nil, nil, usageErrorf("--batch-size %d: want 1..5000", o.BatchSize)
		}
		o.Now = e.Now
		o.Log = e.Log
		// Load the policies before opening anything: a broken policy
		// stops here, with nothing read or written.
		pol, err := e.Engine()
		if err != nil {
			return nil, nil, err
		}
		db, err := e.Store()
		if err != nil {
			return nil, nil, err
		}
		return db, pol, nil
	}
	plan := &cobra.Command{
		Use:   "plan",
		Short: "Dry run: what a run at --at would delete, anonymise or keep because of a hold, and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, pol, err := prepare()
			if err != nil {
				return err
			}
			rep, err := retention.Plan(e.Ctx, db, pol, o)
			if err != nil {
				return err
			}
			if err := e.printReport(rep); err != nil {
				return err
			}
			_, err = e.purgeNotifications(db, rep.At, true, "cli")
			return err
		},
	}
	addCommon(plan)
	plan.Flags().IntVar(&o.Explain, "explain", 0, "list up to N example record ids per rule")

	run := &cobra.Command{
		Use:   "run",
		Short: "Delete and anonymise what the policies say has expired (batched, resumable, audited)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkShare(o.MaxShare); err != nil {
				return usageErrorf("--max-share %v", err)
			}
			if o.Workers < 1 || o.Workers > 8 {
				return usageErrorf("--workers %d: want 1..8", o.Workers)
			}
			db, pol, err := prepare()
			if err != nil {
				return err
			}
			if now := e.Now(); o.At.After(now) {
				// Deleting is forever: a run never acts on a date to come.
				return usageErrorf("--at %s: in the future (now %s); a run deletes as of now or earlier; `retention plan --at` may look ahead",
					o.At.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			}
			bs, err := e.Blobs()
			if err != nil {
				return err
			}
			o.Blobs, o.Drain, o.Actor = bs, integrity.DrainBlobQueue, "cli"
			done := e.progress(&o)
			rep, err := runRetention(e.Ctx, db, pol, o)
			done()
			// A run that started reports what it did, also when it then
			// failed or the valve stopped it mid-way: under --output json
			// the one document holds the report and the error. A run the
			// valve refused before it started did nothing: the error alone.
			var verr *retention.ValveError
			refusedUpFront := errors.As(err, &verr) && !verr.During
			if rep != nil && rep.Outcome != "" && !refusedUpFront {
				if perr := e.printRunReport(rep, err); err == nil {
					err = perr
				}
			}
			if err == nil && rep != nil && rep.Outcome == "ok" {
				_, err = e.purgeNotifications(db, rep.At, false, "cli")
			}
			return err
		},
	}
	addCommon(run)
	run.Flags().BoolVar(&o.AllowLarge, "allow-large", false, "disable the safety valve")
	run.Flags().IntVar(&o.Workers, "workers", 2, "batch transactions applied at once on PostgreSQL (1..8; SQLite: always 1)")
	run.Flags().Var(newShareFlag(0.25, &o.MaxShare), "max-share", "refuse a run that would delete or anonymise more than this share of any category")

	var limit int
	history := &cobra.Command{
		Use:   "history",
		Short: "The latest retention runs: outcome, policy revision, counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			runs, err := retention.History(e.Ctx, db, limit)
			if err != nil {
				return err
			}
			total := func(counts string) int64 {
				var c struct {
					Total     int64            `json:"total"`
					Delete    map[string]int64 `json:"delete"`
					Anonymize map[string]int64 `json:"anonymize"`
				}
				_ = json.Unmarshal([]byte(counts), &c)
				if c.Total == 0 { // a running run's counts carry no total
					for _, n := range c.Delete {
						c.Total += n
					}
					for _, n := range c.Anonymize {
						c.Total += n
					}
				}
				return c.Total
			}
			if e.JSON() {
				out := make([]map[string]any, 0, len(runs))
				for _, r := range runs {
					var counts any
					_ = json.Unmarshal([]byte(r.Counts), &counts)
					m := map[string]any{"run_id": r.RunID, "at": store.FromMillis(r.At).Format(time.RFC3339),
						"started_at": store.FromMillis(r.StartedAt).Format(time.RFC3339), "policy_revision": r.PolicyRevision,
						"outcome": r.Outcome, "counts": counts, "total": total(r.Counts)}
					if r.FinishedAt.Valid {
						m["finished_at"] = store.FromMillis(r.FinishedAt.Int64).Format(time.RFC3339)
					}
					if why := retention.RunReason(r.Counts); why != "" {
						m["reason"] = why
					}
					out = append(out, m)
				}
				return e.PrintJSON(map[string]any{"runs": out})
			}
			for _, r := range runs {
				e.Printf("%s  %-11s at %s  started %s  policy %s  total %d", r.RunID, r.Outcome,
					store.FromMillis(r.At).Format(time.RFC3339), store.FromMillis(r.StartedAt).Format(time.RFC3339), r.PolicyRevision, total(r.Counts))
				// Attachment contents removed (or left) are part of what a
				// run did, also when it changed no record (a draining run).
				var b struct {
					Deleted int64 `json:"blobs_deleted"`
					Left    int64 `json:"blobs_left"`
				}
				_ = json.Unmarshal([]byte(r.Counts), &b)
				if b.Deleted > 0 {
					e.Printf("  contents removed %d", b.Deleted)
				}
				if b.Left > 0 {
					e.Printf("  contents LEFT %d", b.Left)
				}
				e.Printf("\n")
				if why := retention.RunReason(r.Counts); why != "" {
					e.Printf("    why: %s\n", why)
				}
			}
			return nil
		},
	}
	history.Flags().IntVar(&limit, "limit", 20, "at most this many runs")
	c.AddCommand(plan, run, history)
	return c
}

// progress shows a progress bar on a terminal stderr; otherwise the run's
// structured logs are the progress. It returns a function that clears it.
func (e *Env) progress(o *retention.Options) func() {
	f, ok := e.Err.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("retention"),
		progressbar.OptionShowCount(), progressbar.OptionSetItsString("records"), progressbar.OptionShowIts(), progressbar.OptionClearOnFinish())
	o.Progress = func(category string, n int) {
		bar.Describe("retention: " + category)
		_ = bar.Add(n)
	}
	return func() { _ = bar.Finish() }
}

func (e *Env) printReport(r *retention.Report) error { return e.printRunReport(r, nil) }

// printRunReport prints a report; under --output json a run's error, when
// there is one, goes into the same document with its exit code (stderr
// has it in text as for every command).
func (e *Env) printRunReport(r *retention.Report, runErr error) error {
	if e.JSON() {
		out := map[string]any{
			"at": r.At.Format(time.RFC3339), "policy_revision": r.PolicyRevision, "dry_run": r.DryRun,
			"delete": r.Delete, "anonymize": r.Anonymize, "kept_by_hold": r.KeptByHold, "total": r.Total, "rules": r.Rules,
		}
		if r.RunID != "" {
			out["run_id"], out["outcome"], out["blobs_deleted"] = r.RunID, r.Outcome, r.BlobsDeleted
			if r.BlobsLeft > 0 {
				out["blobs_left"] = r.BlobsLeft
			}
			if r.Interrupted > 0 {
				out["interrupted_runs"] = r.Interrupted
			}
			if r.Changed > 0 {
				out["changed_during_run"] = r.Changed
			}
		}
		if runErr != nil {
			out["error"], out["exit_code"] = runErr.Error(), ExitCode(runErr)
		}
		return e.PrintJSON(out)
	}
	if r.RunID != "" {
		e.Printf("retention run %s: %s\n", r.RunID, r.Outcome)
	} else {
		e.Printf("retention plan (dry run, nothing changed)\n")
	}
	e.Printf("at %s, policy revision %s\n\n", r.At.Format(time.RFC3339), r.PolicyRevision)
	e.Printf("%-16s %10s %10s %13s\n", "category", "delete", "anonymise", "kept by hold")
	for _, c := range retention.Categories {
		e.Printf("%-16s %10d %10d %13d\n", c, r.Delete[c], r.Anonymize[c], r.KeptByHold[c])
	}
	var del, anon, kept int64
	for _, c := range retention.Categories {
		del, anon, kept = del+r.Delete[c], anon+r.Anonymize[c], kept+r.KeptByHold[c]
	}
	e.Printf("%-16s %10d %10d %13d\n", "total", del, anon, kept)
	e.Printf("records changed (delete + anonymise): %d\n\n", r.Total)
	for _, id := range r.RuleIDs() {
		rc := r.Rules[id]
		if rc.Action == "keep" && rc.Held == 0 && len(rc.Examples) == 0 {
			continue
		}
		e.Printf("%-36s %-10s %-15s %7d  %s\n", id, rc.Action, rc.Category, rc.Count, rc.Reason)
		if len(rc.Examples) > 0 {
			e.Printf("%36s e.g. %s\n", "", strings.Join(rc.Examples, ", "))
		}
	}
	if r.BlobsDeleted > 0 {
		e.Printf("\nattachment contents removed: %d\n", r.BlobsDeleted)
	}
	if r.BlobsLeft > 0 {
		e.Printf("attachment contents left in the blob store, queued for removal: %d (the next run, or oubli check --repair, removes them)\n", r.BlobsLeft)
	}
	if r.Changed > 0 {
		e.Printf("changed while the run decided them, left for the next run: %d\n", r.Changed)
	}
	return nil
}
