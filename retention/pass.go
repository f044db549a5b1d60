package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// pass is one walk over every category: a plan (dry) or a run.
type pass struct {
	db   *store.DB
	pol  Policy
	o    *Options
	dry  bool
	at   time.Time
	atMs int64
	cuts map[string]store.Cutoff
	// bounds are the safety valve's candidate bounds (nil before, and in a
	// dry pass): a category with few reads them through its cutoff's index
	// (store.ScanOptions.Few).
	bounds map[string]int64
	hasher *store.Hasher
	rep    *Report
	// maxAudit bounds the audit prefix considered: entries appended by the
	// run itself are never its own candidates, so plan and run agree.
	maxAudit int64
	// pending holds the blob keys queued by the batch in flight, handed
	// to blobs (the background drainer, nil in a plan) once it commits.
	pending []string
	blobs   *drainer
	// stopped is set when the context was canceled between batches.
	stopped bool
	// tm is the time spent per step in the current phase.
	tm timings
	// progress reports decided records to Options.Progress, one call at
	// a time (phases may run side by side).
	progress func(category string, n int)
	// lock is the run's retention lock (nil in a plan), checked before
	// each batch commits: a run that lost it stops.
	lock *store.Lock
	// valve is the run's safety valve (nil with AllowLarge, and in a plan).
	valve *valve
	// mu guards rep, tm and stopped while batches (and phases) run
	// concurrently; shared by every fork of the pass.
	mu *sync.Mutex
	// settled is the memo key of the policy revision (settle.go).
	settled int64
	// blobErr is the first failure to remove attachment contents (the
	// blob store's, or the run's context's): later removals are not tried.
	blobErr error
	// settledRows counts, by category, the records the run settled
	// (guarded by mu; shared by forks): the run's upkeep (vacuumSettled).
	settledRows map[string]int64
	// only, when set, limits a dry pass to these phases (valve.go).
	only map[string]bool
	// touched are, in a plan, the subjects whose tickets or account events
	// it decided to delete (shared by forks); touchedMinus counts, by rule,
	// those of them it skipped as settled and decided after all.
	touched      *userSet
	touchedMinus map[store.SettledCount]int64
}

// userSet is a set of user ids safe for concurrent use.
type userSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (u *userSet) add(id string) {
	u.mu.Lock()
	u.m[id] = true
	u.mu.Unlock()
}

// list returns the ids in order.
func (u *userSet) list() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.m))
	for id := range u.m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func newPass(ctx context.Context, db *store.DB, pol Policy, o *Options, dry bool) (*pass, error) {
	p := &pass{db: db, pol: pol, o: o, dry: dry, at: o.At, atMs: store.Millis(o.At), progress: func(string, int) {}, mu: &sync.Mutex{},
		settledRows: map[string]int64{}}
	if dry {
		p.touched = &userSet{m: map[string]bool{}}
	}
	if o.Progress != nil {
		var mu sync.Mutex
		p.progress = func(cat string, n int) {
			mu.Lock()
			defer mu.Unlock()
			o.Progress(cat, n)
		}
	}
	p.rep = newReport(o.At, pol.Revision(), dry)
	p.settled = revisionKey(pol.Revision())
	cuts, err := pol.Candidates(ctx, o.At)
	if err != nil {
		return nil, fmt.Errorf("retention candidates: %w", err)
	}
	p.cuts = map[string]store.Cutoff{}
	for cat, c := range cuts {
		if !store.CutoffSupported(cat, c.Column) {
			// Still correct, only slower: every record goes to Decide.
			o.Log.Warn("retention: no SQL pre-filter for this cutoff; scanning every record", "category", cat, "column", c.Column)
			continue
		}
		p.cuts[cat] = store.Cutoff{Column: c.Column, Before: c.Before, NullIsCandidate: c.NullIsCandidate}
	}
	if p.hasher, err = db.Hasher(ctx); err != nil {
		return nil, err
	}
	if p.maxAudit, err = store.MaxAuditSeq(ctx, db); err != nil {
		return nil, err
	}
	return p, nil
}

// phase is one category's purge: a pipelined one (hot) or a loop of
// batches (fn).
type phase struct {
	cat string
	fn  func(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error)
	hot func(ctx context.Context, p *pass) error
}

// all runs every phase in order. In a run on PostgreSQL, account events,
// which depend on no other category, are purged alongside the tickets (a
// fork of the pass, merged when both are done): the tickets' deletes leave
// CPU and connections to spare. Subjects come after both.
func (p *pass) all(ctx context.Context) error {
	phases := []phase{
		{cat: policies.CatAttachments, hot: func(ctx context.Context, p *pass) error { return pipeline(ctx, p, attachments) }},
		{cat: policies.CatTickets, hot: func(ctx context.Context, p *pass) error { return pipeline(ctx, p, tickets) }},
		{cat: policies.CatAccountEvents, hot: func(ctx context.Context, p *pass) error { return pipeline(ctx, p, accountEvents) }},
		{cat: policies.CatSubjectStats, fn: p.subjectStats},
		{cat: policies.CatAgentStats, fn: p.agentStats},
		{cat: policies.CatDSRRequests, fn: p.requests},
		{cat: policies.CatLegalHolds, fn: p.holds},
		{cat: policies.CatSubjects, fn: p.subjects},
		{cat: policies.CatAudit, fn: p.audit},
	}
	sideBySide := !p.dry && p.db.Dialect() == store.Postgres && p.o.Workers > 1
	for i := 0; i < len(phases); i++ {
		if p.only != nil && !p.only[phases[i].cat] {
			continue
		}
		var err error
		if ph := phases[i]; sideBySide && ph.cat == policies.CatTickets && phases[i+1].cat == policies.CatAccountEvents {
			err = p.alongside(ctx, ph, phases[i+1])
			i++
		} else {
			err = p.run(ctx, ph)
		}
		if err != nil || p.stopped {
			return err
		}
	}
	return nil
}

// alongside runs two independent pipelined phases at once, the second on a
// sibling of the pass: the same report and lock (so that every batch
// records the counts of both), its own step timings and stop flag.
func (p *pass) alongside(ctx context.Context, a, b phase) error {
	sib := *p
	sib.tm, sib.stopped = timings{}, false
	done := make(chan error, 1)
	go func() { done <- sib.run(ctx, b) }()
	errA := p.run(ctx, a)
	errB := <-done
	p.stopped = p.stopped || sib.stopped
	if errA != nil {
		return errA
	}
	return errB
}

// run runs one phase and logs its counts and time per step.
func (p *pass) run(ctx context.Context, ph phase) error {
	p.tm = timings{}
	start := time.Now()
	skipped, err := p.skippedCounts(ctx, ph.cat)
	if err != nil {
		return fmt.Errorf("retention %s: %w", ph.cat, err)
	}
	if ph.hot != nil {
		err = ph.hot(ctx, p)
	} else {
		err = p.loop(ctx, ph.cat, ph.fn)
	}
	if err != nil || p.stopped {
		return err
	}
	p.tallySkipped(ph.cat, skipped, p.touchedMinus)
	p.mu.Lock() // a sibling phase may still be counting into the report
	attrs := append([]any{"category", ph.cat, "dry_run", p.dry,
		"delete", p.rep.Delete[ph.cat], "anonymize", p.rep.Anonymize[ph.cat], "kept_by_hold", p.rep.KeptByHold[ph.cat],
		"elapsed_ms", time.Since(start).Milliseconds()}, p.tm.attrs()...)
	p.mu.Unlock()
	p.o.Log.Info("retention phase done", attrs...)
	return nil
}

// loop pages through one category. In a run each batch is one transaction
// (scan with row locks, facts, decision, writes, run bookkeeping); blob
// contents queued by a batch are drained once it has committed. The
// context is checked between batches only: a batch in flight finishes.
func (p *pass) loop(ctx context.Context, cat string, step func(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error)) error {
	after := ""
	bctx := context.WithoutCancel(ctx)
	for {
		if !p.dry && ctx.Err() != nil {
			p.stopped = true
			return nil
		}
		var next string
		var n int
		var err error
		t0, before := time.Now(), p.tm.total()
		if p.dry {
			next, n, err = step(ctx, p.db, nil, after)
		} else {
			saved := p.rep.clone()
			err = p.db.InTx(bctx, func(tx *store.Tx) error {
				if err := store.LockPurgeBatch(bctx, tx); err != nil {
					return err
				}
				next, n, err = step(bctx, tx, tx, after)
				if err != nil {
					return err
				}
				if p.valve != nil {
					if verr := p.valve.over(func(c string) int64 { return p.rep.Delete[c] + p.rep.Anonymize[c] }); verr != nil {
						return verr
					}
				}
				if err := p.lock.Check(bctx); err != nil {
					return err
				}
				return store.UpdateRetentionRun(bctx, tx, p.rep.RunID, p.countsJSON(), p.progressJSON(cat, next))
			})
			// What the steps did not account for is bookkeeping and commit.
			p.tm[stepCommit] += time.Since(t0) - (p.tm.total() - before)
			if err != nil {
				// The batch rolled back: it counts nothing.
				*p.rep = saved
			}
		}
		var verr *ValveError
		if errors.As(err, &verr) {
			return err
		}
		if err != nil {
			return fmt.Errorf("retention %s: %w", cat, err)
		}
		p.o.Log.Debug("retention batch", "category", cat, "decided", n, "elapsed_ms", time.Since(t0).Milliseconds())
		if n > 0 {
			p.progress(cat, n)
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// drain removes queued blob contents after a commit. A failure is logged,
// not fatal: the queue is durable and the next run (or check --repair)
// finishes it.
func (p *pass) drain(ctx context.Context) error {
	if p.o.Blobs == nil {
		return nil
	}
	for p.blobErr == nil {
		n, err := p.o.Drain(ctx, p.db, p.o.Blobs, p.o.BatchSize)
		p.rep.BlobsDeleted += int64(n)
		if err != nil {
			// Once the blob store has failed (or the run was stopped), the
			// run tries no more: a hanging endpoint cost minutes a try.
			p.blobErr = err
			p.o.Log.Warn("retention: blob queue not drained; it will be on the next run", "error", err.Error())
			return nil
		}
		if n < p.o.BatchSize {
			return nil
		}
	}
	return nil
}

func (p *pass) countsJSON() string {
	b, _ := json.Marshal(map[string]any{"delete": p.rep.Delete, "anonymize": p.rep.Anonymize, "kept_by_hold": p.rep.KeptByHold, "rules": p.rep.Rules})
	return string(b)
}

// fork returns a pass that shares p's configuration but counts into a
// report, a blob list and timings of its own: one batch's, merged into p
// only once the batch has committed, so that a rolled-back batch counts
// nothing and concurrent batches do not share counters.
func (p *pass) fork() *pass {
	f := *p
	f.rep = newReport(p.at, p.rep.PolicyRevision, p.dry)
	f.rep.RunID = p.rep.RunID
	f.pending = nil
	f.tm = timings{}
	return &f
}

// merge adds the counts, blob keys' hand-over and timings of a committed
// batch's fork to p.
func (p *pass) merge(f *pass) {
	for _, id := range f.rep.RuleIDs() {
		rc := f.rep.Rules[id]
		to := p.rep.rule(rc.id, rc.Category, policies.Action(rc.Action), rc.Reason)
		to.Count += rc.Count
		to.Held += rc.Held
		for _, ex := range rc.Examples {
			if len(to.Examples) < p.o.Explain {
				to.Examples = append(to.Examples, ex)
			}
		}
	}
	for _, c := range Categories {
		p.rep.Delete[c] += f.rep.Delete[c]
		p.rep.Anonymize[c] += f.rep.Anonymize[c]
		p.rep.KeptByHold[c] += f.rep.KeptByHold[c]
	}
	p.rep.Changed += f.rep.Changed
	for s := range f.tm {
		p.tm[s] += f.tm[s]
	}
}

// countsWith is countsJSON of p's counts with a batch's not yet merged.
func (p *pass) countsWith(f *pass) string {
	both := *p
	both.rep = newReport(p.at, p.rep.PolicyRevision, p.dry)
	both.o = &Options{}
	both.merge(p)
	both.merge(f)
	return both.countsJSON()
}

// progressJSON records the phase reached. Keys are not recorded: a resumed
// run starts each category over, which only finds what is left.
func (p *pass) progressJSON(cat, next string) string {
	b, _ := json.Marshal(map[string]any{"phase": cat, "done": next == ""})
	return string(b)
}

// decide asks the policies about one batch and checks the answer's shape.
func (p *pass) decide(ctx context.Context, recs []policies.Record) ([]policies.Decision, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ds, err := p.pol.Decide(ctx, p.at, recs)
	if err != nil {
		return nil, err
	}
	if len(ds) != len(recs) {
		return nil, fmt.Errorf("%w: %d decisions for %d %s records", policies.ErrPolicy, len(ds), len(recs), recs[0].Category)
	}
	for i, d := range ds {
		switch d.Action {
		case policies.Keep, policies.Delete, policies.Anonymize:
		default:
			return nil, fmt.Errorf("%w: %s record: unknown action %q from rule %q", policies.ErrPolicy, recs[i].Category, d.Action, d.Rule)
		}
		if d.Rule == "" {
			return nil, fmt.Errorf("%w: %s record: decision %q names no rule", policies.ErrPolicy, recs[i].Category, d.Action)
		}
	}
	return ds, nil
}

// tally counts one decision; example is the record's displayable id.
func (p *pass) tally(cat string, d policies.Decision, example string) {
	rc := p.rep.rule(d.Rule, cat, d.Action, d.Reason)
	switch {
	case d.Action == policies.Delete:
		p.rep.Delete[cat]++
	case d.Action == policies.Anonymize:
		p.rep.Anonymize[cat]++
	case d.Held:
		p.rep.KeptByHold[cat]++
		rc.Held++
	}
	rc.Count++
	if p.dry && len(rc.Examples) < p.o.Explain && (d.Action != policies.Keep || d.Held) {
		rc.Examples = append(rc.Examples, example)
	}
}

// cascade counts records that go with another (messages with their ticket,
// objections with their subject) under a derived rule.
func (p *pass) cascade(cat, parentRule, parentCat string, n int64) {
	if n == 0 {
		return
	}
	rc := p.rep.rule(parentRule+"/"+cat, cat, policies.Delete, "deleted with its "+parentCat[:len(parentCat)-1]+" ("+parentRule+")")
	rc.Count += n
	p.rep.Delete[cat] += n
}

func unsupported(cat string, d policies.Decision) error {
	return fmt.Errorf("%w: rule %q decides %q for %s, which retention cannot do", policies.ErrPolicy, d.Rule, d.Action, cat)
}

func putTime(m map[string]any, k string, ok bool, v int64) {
	if ok {
		m[k] = v
	}
}

func hold(m map[string]any, reason string, held bool) {
	m["held"] = held
	if held {
		m["hold_reason"] = reason
	}
}

func (p *pass) scanOpts(cat, after string) store.ScanOptions {
	o := store.ScanOptions{Cutoff: p.cuts[cat], After: after, Limit: p.o.BatchSize, Lock: !p.dry}
	if b, ok := p.bounds[cat]; ok && b <= store.FewCandidates {
		o.Few = true
	}
	switch {
	case p.o.Full:
	case cat == policies.CatSubjects, cat == policies.CatAgentStats, cat == policies.CatTickets, cat == policies.CatAttachments:
		o.Settled = &store.SettledKey{Revision: p.settled, At: p.atMs}
	}
	return o
}

// pageOpts is scanOpts for a page read ahead of its transaction, without
// row locks (the transaction re-reads what it deletes).
func (p *pass) pageOpts(cat, after string) store.ScanOptions {
	o := p.scanOpts(cat, after)
	o.Lock = false
	return o
}

// next returns the keyset position after a page, or "" at the end.
func (p *pass) next(n int, last string) string {
	if n < p.o.BatchSize {
		return ""
	}
	return last
}

func userIDs[T any](rows []T, f func(T) (string, bool)) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rows {
		if u, ok := f(r); ok && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
