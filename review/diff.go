// Package review is legal's side of a policy change: what an edit of the
// policies does to the live store before it runs (Diff), and who approved
// which revision (Approve, History, CheckApproved).
//
// Diff walks the store as a retention plan does — the same candidate scans,
// facts and batches — with a pair of policy sets: each batch is decided by
// both, and every record whose action differs is counted by category and
// rule pair. The candidates are those either set's exact SQL pre-filter
// admits (the looser cutoff of the two per category), so the cost follows
// the records that could change, not the store. Nothing is written.
package review

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

// Policy is what a diff needs of a policy set (*policies.Engine).
type Policy = retention.Policy

// MaxExamples bounds the example ids kept per change.
const MaxExamples = 5

// Change is one group of records whose action differs: their category, the
// rules and actions deciding them under each policy set, how many, and a
// few example ids (record ids: never a subject's e-mail or pseudo).
type Change struct {
	Category   string   `json:"category"`
	ActionFrom string   `json:"action_from"`
	ActionTo   string   `json:"action_to"`
	RuleFrom   string   `json:"rule_from"`
	RuleTo     string   `json:"rule_to"`
	Count      int64    `json:"count"`
	Examples   []string `json:"examples"`
}

// Report is what Diff found.
type Report struct {
	FromRevision string    `json:"from_revision"`
	ToRevision   string    `json:"to_revision"`
	At           time.Time `json:"at"`
	// Total is the number of records whose action at At differs.
	Total   int64    `json:"total"`
	Changes []Change `json:"changes"`
	// Decided is the number of records both sets decided (the candidates).
	Decided int64 `json:"decided"`
	// Horizon, when asked for, is the same comparison at At + the horizon:
	// what the change does to the records whose expiry falls inside it.
	Horizon *HorizonReport `json:"horizon,omitempty"`
	// ElapsedMs is how long the diff took.
	ElapsedMs int64 `json:"elapsed_ms"`
}

// HorizonReport is the comparison at the end of a horizon.
type HorizonReport struct {
	Duration string    `json:"duration"`
	At       time.Time `json:"at"`
	Total    int64     `json:"total"`
	Changes  []Change  `json:"changes"`
}

// Options tune Diff.
type Options struct {
	// At is when both policy sets are evaluated (default now).
	At time.Time
	// Horizon, when positive, adds the comparison at At + Horizon.
	Horizon time.Duration
	// BatchSize bounds the records read and decided at once.
	BatchSize int
	Log       *slog.Logger
}

// Diff compares the decisions of from (the active policies) and to (the
// proposed ones) on the live store at opts.At. It writes nothing. A policy
// set that fails to decide is a policies.ErrPolicy error naming which.
func Diff(ctx context.Context, db *store.DB, from, to Policy, opts Options) (*Report, error) {
	start := time.Now()
	if opts.At.IsZero() {
		opts.At = time.Now()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	changes, decided, err := diffAt(ctx, db, from, to, opts.At, opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{FromRevision: from.Revision(), ToRevision: to.Revision(), At: opts.At.UTC(), Changes: changes, Decided: decided}
	for _, c := range changes {
		rep.Total += c.Count
	}
	if opts.Horizon > 0 {
		hat := opts.At.Add(opts.Horizon)
		hc, _, err := diffAt(ctx, db, from, to, hat, opts)
		if err != nil {
			return nil, err
		}
		h := &HorizonReport{Duration: days(opts.Horizon), At: hat.UTC(), Changes: hc}
		for _, c := range hc {
			h.Total += c.Count
		}
		rep.Horizon = h
	}
	rep.ElapsedMs = time.Since(start).Milliseconds()
	return rep, nil
}

func diffAt(ctx context.Context, db *store.DB, from, to Policy, at time.Time, opts Options) ([]Change, int64, error) {
	p := &pair{from: from, to: to, groups: map[key]*Change{}}
	// The plan's own per-phase logs would describe the active policies' run.
	_, err := retention.Plan(ctx, db, p, retention.Options{At: at, BatchSize: opts.BatchSize, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Change, 0, len(p.groups))
	for _, c := range p.groups {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Category != b.Category {
			return catIndex(a.Category) < catIndex(b.Category)
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.RuleFrom+a.RuleTo < b.RuleFrom+b.RuleTo
	})
	return out, p.decided, nil
}

func catIndex(c string) int {
	for i, x := range retention.Categories {
		if x == c {
			return i
		}
	}
	return len(retention.Categories)
}

type key struct{ cat, af, at, rf, rt string }

// pair is a retention.Policy that decides with both sets, records where
// they differ, and answers with from's decisions so that the plan walks the
// store as the active policies would.
type pair struct {
	from, to Policy
	mu       sync.Mutex
	groups   map[key]*Change
	decided  int64
}

func (p *pair) Revision() string { return p.from.Revision() + ".." + p.to.Revision() }

// Candidates returns, per category, the looser of the two sets' cutoffs:
// every record either set could act on. A category only one set can
// pre-filter, or that the two filter on different columns, is scanned whole.
func (p *pair) Candidates(ctx context.Context, at time.Time) (map[string]policies.Cutoff, error) {
	a, err := p.from.Candidates(ctx, at)
	if err != nil {
		return nil, err
	}
	b, err := p.to.Candidates(ctx, at)
	if err != nil {
		return nil, fmt.Errorf("the policies compared with (--against): %w", err)
	}
	out := map[string]policies.Cutoff{}
	for cat, ca := range a {
		cb, ok := b[cat]
		if !ok || cb.Column != ca.Column {
			continue
		}
		c := ca
		if cb.Before > c.Before {
			c.Before = cb.Before
		}
		c.NullIsCandidate = ca.NullIsCandidate || cb.NullIsCandidate
		out[cat] = c
	}
	return out, nil
}

// Decide decides recs with both sets and records every difference.
func (p *pair) Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error) {
	a, err := p.from.Decide(ctx, at, recs)
	if err != nil {
		return nil, err
	}
	b, err := p.to.Decide(ctx, at, recs)
	if err != nil {
		return nil, fmt.Errorf("the policies compared with (--against): %w", err)
	}
	if len(b) != len(recs) {
		return nil, fmt.Errorf("%w: the policies compared with (--against) gave %d decisions for %d %s records", policies.ErrPolicy, len(b), len(recs), recs[0].Category)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decided += int64(len(recs))
	for i := range recs {
		if i >= len(a) {
			break
		}
		da, db := a[i], b[i]
		if da.Action == db.Action {
			continue
		}
		k := key{recs[i].Category, string(da.Action), string(db.Action), da.Rule, db.Rule}
		c := p.groups[k]
		if c == nil {
			c = &Change{Category: k.cat, ActionFrom: k.af, ActionTo: k.at, RuleFrom: k.rf, RuleTo: k.rt, Examples: []string{}}
			p.groups[k] = c
		}
		c.Count++
		if len(c.Examples) < MaxExamples {
			c.Examples = append(c.Examples, recs[i].ID)
		}
	}
	return a, nil
}

// days writes a whole number of days as "30d", anything else as Go does.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
