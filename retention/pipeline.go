package retention

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// The hot categories (attachments, tickets, account events) run as a
// two-stage pipeline: a producer goroutine reads the next page of
// candidates and its facts and asks the policies (CPU), while the caller's
// goroutine applies the page decided before it in its own transaction
// (database). At most one decided page waits: memory stays bounded.
//
// A page is decided outside the transaction that applies it, so that
// transaction re-reads the facts of every record decided delete, with row
// locks and after store.LockPurgeBatch, and deletes only those whose facts
// and legal-hold state are unchanged. A record changed in between (a
// ticket reopened, a hold added) is left alone and counted in
// Report.Changed; the next run decides it again. With no concurrent writer
// nothing changes, and a run does exactly what its plan says.

// page is one page of candidates of a hot category with the policies'
// decisions on it: facts[i] is what recs[i] and ds[i] rest on.
type page[T any] struct {
	next  string // keyset position after the page ("" at the end)
	facts []T
	recs  []policies.Record
	ds    []policies.Decision
	ix    store.HoldIndex // holds read with the page
}

// hot describes a pipelined category: how to read a page of its candidates,
// re-read records with row locks, put one to the policies, and apply what
// they decided.
type hot[T comparable] struct {
	cat     string
	scan    func(ctx context.Context, q store.Querier, o store.ScanOptions) ([]T, error)
	confirm func(ctx context.Context, tx *store.Tx, ids []string) ([]T, error)
	id      func(T) string
	// ticket and user name what a legal hold on the record would be on
	// (ticket "" and user false for none).
	ticket func(T) string
	user   func(T) (string, bool)
	record func(T, holdState) policies.Record
	// spread decides a page on every CPU: for a category whose deletes are
	// light work for the database, deciding is the bottleneck.
	spread bool
	// settles: the records a run keeps on their own facts are settled
	// (settle.go), and scanned with store.ScanOptions.Settled.
	settles bool
	// touches: deleting a record clears its subject's memo (tickets,
	// account events); a plan notes the subjects (pass.touched).
	touches bool
	// apply deletes (tx != nil) or counts (a plan) the records of the page
	// at positions del, all of them decided delete.
	apply func(p *pass, ctx context.Context, q store.Querier, tx *store.Tx, b *page[T], del []int) error
}

// hold returns the hold covering r in ix.
func (h hot[T]) hold(ix store.HoldIndex, r T) holdState {
	u, ok := h.user(r)
	return heldBy(ix, h.ticket(r), u, ok)
}

// holders returns the tickets and subjects whose holds may cover rows.
func (h hot[T]) holders(rows []T) (tickets, users []string) {
	tickets = userIDs(rows, func(r T) (string, bool) { t := h.ticket(r); return t, t != "" })
	users = userIDs(rows, h.user)
	return tickets, users
}

// prepare reads the page after a keyset position, its holds in one query,
// and decides it in one evaluation; the time goes to tm (the producer's).
func (h hot[T]) prepare(ctx context.Context, p *pass, tm *timings, after string) (*page[T], error) {
	t := time.Now()
	rows, err := h.scan(ctx, p.db, p.pageOpts(h.cat, after))
	t = tm.since(stepScan, t)
	if err != nil || len(rows) == 0 {
		return &page[T]{}, err
	}
	b := &page[T]{next: p.next(len(rows), h.id(rows[len(rows)-1])), facts: rows}
	tids, uids := h.holders(rows)
	if b.ix, err = store.InForceHolds(ctx, p.db, p.atMs, tids, uids, false); err != nil {
		return nil, err
	}
	tm.since(stepFacts, t)
	b.recs = make([]policies.Record, len(rows))
	for i, r := range rows {
		b.recs[i] = h.record(r, h.hold(b.ix, r))
	}
	b.ds, err = p.decideStep(ctx, tm, b.recs, h.spread)
	return b, err
}

// sift tallies a decided page into p and returns the positions of the
// records to delete: in a plan (tx nil) every record decided delete; in a
// run only those whose facts and hold state, re-read inside tx with row
// locks, are the ones they were decided on. The others are left alone and
// counted in Report.Changed; the next run decides them again.
//
// In a run it also returns the positions of the records to settle
// (settle.go): decided keep on their own facts, under no legal hold, and
// re-read unchanged, with their rows locked until the memo is written — a
// concurrent change waits for the batch, and its trigger then clears the
// memo.
func (h hot[T]) sift(ctx context.Context, p *pass, tx *store.Tx, b *page[T]) (del, keep []int, err error) {
	var ids []string
	for i, d := range b.ds {
		if d.Action == policies.Anonymize {
			return nil, nil, unsupported(h.cat, d)
		}
		if d.Action == policies.Delete {
			ids = append(ids, h.id(b.facts[i]))
		}
		if tx != nil && h.settles && d.Action == policies.Keep && !h.hold(b.ix, b.facts[i]).held {
			ids = append(ids, h.id(b.facts[i]))
			keep = append(keep, i)
		}
	}
	same := map[string]bool{}
	if tx != nil && len(ids) > 0 {
		t := time.Now()
		now, err := h.confirm(ctx, tx, ids)
		if err != nil {
			return nil, nil, err
		}
		tids, uids := h.holders(now)
		ixNow, err := store.InForceHolds(ctx, tx, p.atMs, tids, uids, false)
		if err != nil {
			return nil, nil, err
		}
		then := make(map[string]T, len(b.facts))
		for _, r := range b.facts {
			then[h.id(r)] = r
		}
		for _, r := range now {
			if was, ok := then[h.id(r)]; ok && was == r && h.hold(ixNow, r) == h.hold(b.ix, was) {
				same[h.id(r)] = true
			}
		}
		p.tm.since(stepFacts, t)
	}
	for i, d := range b.ds {
		if d.Action == policies.Delete {
			if tx != nil && !same[b.recs[i].ID] {
				p.rep.Changed++
				continue
			}
			del = append(del, i)
		}
		p.tally(h.cat, d, b.recs[i].ID)
	}
	unchanged := keep[:0]
	for _, i := range keep {
		if same[b.recs[i].ID] {
			unchanged = append(unchanged, i)
		}
	}
	return del, unchanged, nil
}

// pipeline runs one category as producer and consumers; see the comment
// above. In a run on PostgreSQL, Options.Workers consumers apply decided
// pages at once, each in its own transaction on its own connection: pages
// hold disjoint records, and every batch takes its row locks in key order
// (tickets before attachments), so batches neither wait for nor deadlock
// with each other. Each batch counts into a fork of the pass, merged once
// it has committed. Cancellation is checked between pages, as in loop: the
// batches in flight finish.
func pipeline[T comparable](ctx context.Context, p *pass, h hot[T]) error {
	cat := h.cat
	bctx := context.WithoutCancel(ctx)
	pctx, cancel := context.WithCancel(bctx)
	type item struct {
		b   *page[T]
		err error
	}
	workers := 1
	if !p.dry && p.db.Dialect() == store.Postgres {
		workers = p.o.Workers
	}
	ch := make(chan item, workers)
	var ptm timings // the producer's; merged once it has stopped
	go func() {
		defer close(ch)
		after := ""
		for {
			b, err := h.prepare(pctx, p, &ptm, after)
			select {
			case ch <- item{b, err}:
			case <-pctx.Done():
				return
			}
			if err != nil || b.next == "" {
				return
			}
			after = b.next
		}
	}()

	var (
		mu       = p.mu // guards p.rep, p.tm, p.stopped, firstErr
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	consume := func() {
		defer wg.Done()
		for it := range ch {
			if pctx.Err() != nil {
				continue // failed or stopping: drain the channel only
			}
			if !p.dry && ctx.Err() != nil {
				mu.Lock()
				p.stopped = true
				mu.Unlock()
				cancel()
				continue
			}
			if it.err != nil {
				fail(fmt.Errorf("retention %s: %w", cat, it.err))
				continue
			}
			if err := applyBatch(bctx, p, h, it.b, mu); err != nil {
				var verr *ValveError
				if !errors.As(err, &verr) {
					err = fmt.Errorf("retention %s: %w", cat, err)
				}
				fail(err)
			}
		}
	}
	wg.Add(workers)
	for range workers {
		go consume()
	}
	wg.Wait()
	cancel()
	for range ch { // the producer has stopped once ch is closed
	}
	mu.Lock()
	defer mu.Unlock()
	for s := range ptm {
		p.tm[s] += ptm[s]
	}
	return firstErr
}

// applyBatch applies one decided page in its own transaction (a plan: in
// none) through a fork of the pass, and merges the fork under mu once the
// transaction has committed.
func applyBatch[T comparable](ctx context.Context, p *pass, h hot[T], b *page[T], mu *sync.Mutex) error {
	cat := h.cat
	apply := func(f *pass, ctx context.Context, q store.Querier, tx *store.Tx, b *page[T]) error {
		del, keep, err := h.sift(ctx, f, tx, b)
		if err != nil {
			return err
		}
		t := time.Now()
		defer f.tm.since(stepWrite, t)
		if err := h.apply(f, ctx, q, tx, b, del); err != nil {
			return err
		}
		if tx == nil && h.touches && f.touched != nil {
			for _, i := range del {
				if u, ok := h.user(b.facts[i]); ok {
					f.touched.add(u)
				}
			}
		}
		if tx == nil || len(keep) == 0 {
			return nil
		}
		ids := make([]string, len(b.recs))
		for i, r := range b.recs {
			ids[i] = r.ID
		}
		ss, err := f.settle(ctx, b.recs, ids, keep, b.ds)
		if err != nil {
			return err
		}
		return f.writeSettled(ctx, tx, cat, ss)
	}
	mu.Lock()
	f := p.fork() // copies p's fields, which merge writes under mu
	mu.Unlock()
	t0 := time.Now()
	var err error
	reserved := false
	if p.dry {
		err = apply(f, ctx, p.db, nil, b)
	} else {
		err = p.db.InTx(ctx, func(tx *store.Tx) error {
			t := time.Now()
			if err := store.LockPurgeBatch(ctx, tx); err != nil {
				return err
			}
			f.tm.since(stepFacts, t)
			if err := apply(f, ctx, tx, tx, b); err != nil {
				return err
			}
			if err := p.reserve(f, mu); err != nil {
				return err
			}
			reserved = true
			if err := p.lock.Check(ctx); err != nil {
				return err
			}
			mu.Lock()
			counts := p.countsWith(f)
			mu.Unlock()
			return store.UpdateRetentionRun(ctx, tx, p.rep.RunID, counts, p.progressJSON(cat, b.next))
		})
		f.tm[stepCommit] += time.Since(t0) - f.tm.total()
	}
	if err != nil {
		if reserved {
			mu.Lock()
			p.unreserve(f)
			mu.Unlock()
		}
		return err
	}
	if len(f.pending) > 0 && p.blobs != nil {
		p.blobs.add(f.pending)
	}
	mu.Lock()
	defer mu.Unlock()
	if reserved {
		p.unreserve(f)
	}
	p.merge(f)
	if len(b.recs) > 0 {
		p.progress(cat, len(b.recs))
	}
	p.o.Log.Debug("retention batch", "category", cat, "decided", len(b.recs), "elapsed_ms", time.Since(t0).Milliseconds())
	return nil
}

// reserve checks, before a batch commits, that what the run has committed,
// the batches reserved and not yet merged, and this batch f stay within the
// safety valve's limits, and reserves f's counts: a ValveError otherwise.
// No-op without a valve.
func (p *pass) reserve(f *pass, mu *sync.Mutex) error {
	if p.valve == nil {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	v := p.valve
	if verr := v.over(func(c string) int64 {
		return p.rep.Delete[c] + p.rep.Anonymize[c] + v.inflight[c] + f.rep.Delete[c] + f.rep.Anonymize[c]
	}); verr != nil {
		return verr
	}
	for _, c := range Categories {
		v.inflight[c] += f.rep.Delete[c] + f.rep.Anonymize[c]
	}
	return nil
}

// unreserve releases f's reservation (under mu).
func (p *pass) unreserve(f *pass) {
	if p.valve == nil {
		return
	}
	for _, c := range Categories {
		p.valve.inflight[c] -= f.rep.Delete[c] + f.rep.Anonymize[c]
	}
}

// decideChunk is the largest part of a page decided in one evaluation on
// the pipeline's producer (policies.Engine splits larger ones across CPUs).
const decideChunk = 1000

// decideStep asks the policies about a page and records the time. Unless
// spread, in chunks below the engine's parallel threshold: the pipeline
// already overlaps deciding with the database's work, and a decision spread
// over every CPU would starve the database server of the other one
// (PostgreSQL 1M: tickets phase 12.3 s -> 10.9 s).
func (p *pass) decideStep(ctx context.Context, tm *timings, recs []policies.Record, spread bool) ([]policies.Decision, error) {
	t := time.Now()
	defer tm.since(stepDecide, t)
	if spread {
		return p.decide(ctx, recs)
	}
	ds := make([]policies.Decision, 0, len(recs))
	for len(recs) > 0 {
		part := recs[:min(decideChunk, len(recs))]
		recs = recs[len(part):]
		d, err := p.decide(ctx, part)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d...)
	}
	return ds, nil
}

// holdState is the legal-hold input of one decision.
type holdState struct {
	held   bool
	reason string
}

// heldBy returns the hold covering a ticket or, failing that, its subject
// (ticketID "" for records that only have a subject).
func heldBy(ix store.HoldIndex, ticketID string, userID string, hasUser bool) holdState {
	if ticketID != "" {
		if r, ok := ix.Tickets[ticketID]; ok {
			return holdState{true, r}
		}
	}
	if hasUser {
		if r, ok := ix.Users[userID]; ok {
			return holdState{true, r}
		}
	}
	return holdState{}
}
