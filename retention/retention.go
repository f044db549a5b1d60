// Package retention executes the retention policies: Plan says what a purge
// at a time T would delete, anonymise or keep because of a legal hold, and
// Run does exactly that, batch by batch.
//
// The policies decide, this package executes. For each category it scans
// the candidates the policies' cutoffs allow (keyset pagination by primary
// key, bounded batches), gathers the facts of a batch set-wise (holds,
// disputes, per-subject aggregates), asks the policies for one decision per
// record in one evaluation per batch, and applies the batch in one
// transaction. Memory does not grow with the data. The three largest
// categories (attachments, tickets, account events) run as a pipeline: the
// next page is read and decided while the previous one is deleted, and the
// deleting transaction re-reads with row locks what it deletes, keeping
// only the records whose facts and hold state are unchanged (pipeline.go).
// Blob contents are removed by a background drainer after each commit
// (drain.go). OUBLI_CPUPROFILE and the "retention phase done" log's step
// timings are there to measure it (profile.go).
//
// Categories run in this order: attachments (their own, shorter period),
// tickets (with their messages and remaining attachments), account events,
// per-subject statistics, per-agent statistics, request records, released
// legal holds, subjects (last: a subject is deleted only once nothing of
// theirs remains, with its objections and statistics), and the audit
// trail's expired prefix.
//
// Safety: a run takes an exclusive lock (ErrBusy when another holds it),
// refuses before deleting anything when it would remove more than a share
// of a category (ErrSafetyValve), records itself in retention_runs and the
// audit trail, and is resumable: every batch commits on its own, blob
// contents are removed through the durable blob_deletions queue after the
// rows' deletion commits, and a rerun simply finds less to do.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// ErrSafetyValve is returned when a run would delete or anonymise more than
// the allowed share of a category and was not told --allow-large (exit 3).
var ErrSafetyValve = errors.New("safety valve")

// ErrBlobsLeft marks a run whose records are gone but some of whose
// attachment contents are still in the blob store (queued in
// blob_deletions: the blob store failed, or the run was stopped while
// removing them). The next run, or `oubli check --repair`, removes them.
var ErrBlobsLeft = errors.New("attachment contents left in the blob store")

// LockName is the name of the lock one retention run holds at a time.
const LockName = "retention"

// Policy is what retention needs of the policies engine (*policies.Engine).
type Policy interface {
	Revision() string
	Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error)
	Candidates(ctx context.Context, at time.Time) (map[string]policies.Cutoff, error)
}

// Categories are the inventory's category keys, in report order.
var Categories = []string{
	policies.CatSubjects, policies.CatTickets, policies.CatMessages, policies.CatAttachments,
	policies.CatAccountEvents, policies.CatSubjectStats, policies.CatAgentStats, policies.CatDSRRequests,
	policies.CatLegalHolds, policies.CatObjections, policies.CatAudit,
}

// DrainFunc removes the blob contents queued in blob_deletions, at most
// limit of them, and returns how many it removed (integrity.DrainBlobQueue).
type DrainFunc func(ctx context.Context, db *store.DB, bs blobs.Store, limit int) (int, error)

// Options tune Plan and Run.
type Options struct {
	// At is the time the policies are evaluated at (default: Now()).
	At time.Time
	// BatchSize bounds the records read, decided and written at once
	// (default 2000, at most 5000).
	BatchSize int
	// MaxShare is the largest share of a category a run may delete or
	// anonymise without AllowLarge (default 0.25).
	MaxShare float64
	// AllowLarge disables the safety valve.
	AllowLarge bool
	// Explain lists up to this many example record ids per rule (Plan).
	Explain int
	// Full decides every candidate again, including the records earlier
	// runs settled (settle.go) — what the policies keep, and why, in full;
	// a run with Full settles them again.
	Full bool
	// Blobs is the attachment content store; Drain empties its queue.
	Blobs blobs.Store
	Drain DrainFunc
	// Workers is how many batch transactions of a category a run applies
	// at once on PostgreSQL (default 2; 1 to 8). Batches of one category
	// touch disjoint rows, so they do not wait for each other; a plan, and
	// any run on SQLite (one writer at a time), applies one at a time.
	Workers int
	// Actor names who runs the purge in the audit trail ("cli", "scheduler").
	Actor string
	// Log receives structured progress logs (no personal data).
	Log *slog.Logger
	// Progress, when set, is called after each batch with the category and
	// the number of records decided in it.
	Progress func(category string, decided int)
	// Now is the clock for the run's own timestamps (default time.Now).
	Now func() time.Time
	// VacuumAfter: a run that settled at least this many records of a
	// table vacuums the table once it has finished (PostgreSQL; see
	// vacuumSettled). 0 means the default (1000); a negative value never.
	VacuumAfter int64
}

const (
	defaultBatch    = 2000
	maxBatch        = 5000
	defaultMaxShare = 0.25
	defaultWorkers  = 2
	// defaultVacuumAfter: about what the first run of a new policy
	// revision settles at 100,000 tickets; a night's new settlements
	// stay well under it.
	defaultVacuumAfter = 1000
	maxWorkers         = 8
)

func (o *Options) defaults() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.At.IsZero() {
		o.At = o.Now()
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultBatch
	}
	if o.BatchSize < 1 || o.BatchSize > maxBatch {
		return fmt.Errorf("batch size %d: want 1..%d: %w", o.BatchSize, maxBatch, store.ErrInvalid)
	}
	if o.Workers == 0 {
		o.Workers = defaultWorkers
	}
	if o.Workers < 1 || o.Workers > maxWorkers {
		return fmt.Errorf("workers %d: want 1..%d: %w", o.Workers, maxWorkers, store.ErrInvalid)
	}
	if o.MaxShare == 0 {
		o.MaxShare = defaultMaxShare
	}
	if o.MaxShare < 0 || o.MaxShare > 1 {
		return fmt.Errorf("max share %g: want a fraction between 0 and 1: %w", o.MaxShare, store.ErrInvalid)
	}
	if o.Explain < 0 {
		return fmt.Errorf("explain %d: want a count >= 0: %w", o.Explain, store.ErrInvalid)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Actor == "" {
		o.Actor = "cli"
	}
	if o.Drain == nil {
		o.Drain = DrainQueue
	}
	if o.VacuumAfter == 0 {
		o.VacuumAfter = defaultVacuumAfter
	}
	return nil
}

// RuleCount is what one rule decided, over one category.
type RuleCount struct {
	Category string   `json:"category"`
	Action   string   `json:"action"`
	Count    int64    `json:"count"`
	Held     int64    `json:"held,omitempty"`
	Reason   string   `json:"reason"`
	Examples []string `json:"examples,omitempty"`

	id string // the rule id as decided (the map key may carry a suffix)
}

// Report is the outcome of a plan or a run.
type Report struct {
	RunID          string                `json:"run_id,omitempty"`
	At             time.Time             `json:"at"`
	PolicyRevision string                `json:"policy_revision"`
	DryRun         bool                  `json:"dry_run"`
	Outcome        string                `json:"outcome,omitempty"`
	Delete         map[string]int64      `json:"delete"`
	Anonymize      map[string]int64      `json:"anonymize"`
	KeptByHold     map[string]int64      `json:"kept_by_hold"`
	Total          int64                 `json:"total"`
	Rules          map[string]*RuleCount `json:"rules"`
	BlobsDeleted   int64                 `json:"blobs_deleted,omitempty"`
	// BlobsLeft counts the attachment contents still queued for removal
	// when a run's removals failed or were stopped (ErrBlobsLeft).
	BlobsLeft int64 `json:"blobs_left,omitempty"`
	// Changed counts records decided delete that a concurrent writer
	// changed (or put under a legal hold) before the deletion: they were
	// left alone, and the next run decides them again.
	Changed int64 `json:"changed_during_run,omitempty"`
	// Interrupted counts earlier runs found unfinished (killed) and resumed.
	Interrupted int64      `json:"interrupted_runs,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

func newReport(at time.Time, rev string, dry bool) *Report {
	r := &Report{At: at.UTC(), PolicyRevision: rev, DryRun: dry,
		Delete: map[string]int64{}, Anonymize: map[string]int64{}, KeptByHold: map[string]int64{}, Rules: map[string]*RuleCount{}}
	for _, c := range Categories {
		r.Delete[c], r.Anonymize[c], r.KeptByHold[c] = 0, 0, 0
	}
	return r
}

// rule returns the counter of a rule id over a category; a rule id used for
// two categories or actions is told apart by suffixes.
func (r *Report) rule(id, category string, action policies.Action, reason string) *RuleCount {
	key := id
	if rc, ok := r.Rules[key]; ok && (rc.Category != category || rc.Action != string(action)) {
		key = id + "/" + category + "/" + string(action)
	}
	rc, ok := r.Rules[key]
	if !ok {
		rc = &RuleCount{Category: category, Action: string(action), Reason: reason, id: id}
		r.Rules[key] = rc
	}
	return rc
}

func (r *Report) sum() {
	r.Total = 0
	for _, c := range Categories {
		r.Total += r.Delete[c] + r.Anonymize[c]
	}
}

// RuleIDs returns the report's rule keys, sorted.
func (r *Report) RuleIDs() []string {
	ids := make([]string, 0, len(r.Rules))
	for id := range r.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Plan reports what a run at opts.At would do, changing nothing.
func Plan(ctx context.Context, db *store.DB, pol Policy, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	defer startProfile(opts.Log)()
	return plan(ctx, db, pol, opts)
}

// plan is Plan with opts already defaulted (Run's own plan).
func plan(ctx context.Context, db *store.DB, pol Policy, opts Options) (*Report, error) {
	p, err := newPass(ctx, db, pol, &opts, true)
	if err != nil {
		return nil, err
	}
	if err := p.all(ctx); err != nil {
		return nil, err
	}
	p.rep.sum()
	return p.rep, nil
}

// ValveError says which category a refused run would have cut too deep.
type ValveError struct {
	Category string
	Count    int64
	Total    int64
	MaxShare float64
	// During is set when the run itself reached the limit (the data
	// changed after its plan): it stopped before the batch that would
	// have exceeded it; what earlier batches did is within the limit.
	During bool
}

func (e *ValveError) Error() string {
	if e.During {
		return fmt.Sprintf("%s: the data changed during the run, and its next batch would have brought it to %d of %d %s (%.1f%%, more than the allowed %.1f%%); the run stopped before that batch, having deleted or anonymised no more than the limit; check the policies and the data, then rerun with --allow-large (or a larger --max-share) if this is intended",
			ErrSafetyValve, e.Count, e.Total, e.Category, 100*float64(e.Count)/float64(e.Total), 100*e.MaxShare)
	}
	return fmt.Sprintf("%s: this run would delete or anonymise %d of %d %s (%.1f%%, more than the allowed %.1f%%); nothing was deleted; check the policies and the data, then rerun with --allow-large (or a larger --max-share) if this is intended",
		ErrSafetyValve, e.Count, e.Total, e.Category, 100*float64(e.Count)/float64(e.Total), 100*e.MaxShare)
}

func (e *ValveError) Unwrap() error { return ErrSafetyValve }

// valve is the safety valve applied to what a run actually does: every
// batch, before it commits, reserves its counts against the limit of each
// category (guarded by the pass's mu).
type valve struct {
	// totals are the categories' sizes, exact where exact says so and
	// otherwise a lower bound, counted only as far as the run's bounds
	// needed (valve.go); recount counts one exactly.
	totals   map[string]int64
	exact    map[string]bool
	recount  func(category string) (int64, error)
	maxShare float64
	inflight map[string]int64 // counts of batches reserved, not yet merged
	// planned are the categories a dry pass counted exactly before the
	// run (their bounds exceeded the limit).
	planned map[string]bool
}

// over returns the category a count would push past the limit. A category
// whose size is only known as a lower bound is counted exactly first: the
// valve refuses on the true share only.
func (v *valve) over(counts func(c string) int64) *ValveError {
	for _, c := range Categories {
		n := counts(c)
		if n > 0 && float64(n) > v.maxShare*float64(v.totals[c]) && !v.exact[c] {
			if total, err := v.recount(c); err == nil {
				v.totals[c], v.exact[c] = total, true
			}
		}
		if n > 0 && float64(n) > v.maxShare*float64(v.totals[c]) {
			return &ValveError{Category: c, Count: n, Total: v.totals[c], MaxShare: v.maxShare, During: true}
		}
	}
	return nil
}

// clone returns a deep copy of r's counts (a batch that rolls back restores
// them).
func (r *Report) clone() Report {
	c := *r
	c.Delete, c.Anonymize, c.KeptByHold = maps.Clone(r.Delete), maps.Clone(r.Anonymize), maps.Clone(r.KeptByHold)
	c.Rules = make(map[string]*RuleCount, len(r.Rules))
	for k, rc := range r.Rules {
		cp := *rc
		cp.Examples = slices.Clone(rc.Examples)
		c.Rules[k] = &cp
	}
	return c
}
