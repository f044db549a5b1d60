package retention

import (
	"context"
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

// decided is one page of candidates with the policies' decisions on it.
type decided struct {
	next string // keyset position after the page ("" at the end)
	recs []policies.Record
	ds   []policies.Decision
	ix   store.HoldIndex // holds read with the page

	// The facts each decision rests on, by category, in page order.
	attachments []store.AttachmentFacts
	tickets     []store.TicketFacts
	events      []store.EventFacts
}

// preparer reads and decides the page after a keyset position, recording
// its time in tm (the producer's own).
type preparer func(ctx context.Context, tm *timings, after string) (*decided, error)

// applier tallies a decided page into p (a fork of the pass) and, in a run
// (tx != nil), applies it.
type applier func(p *pass, ctx context.Context, q store.Querier, tx *store.Tx, b *decided) error

// pipeline runs one category as producer and consumers; see the comment
// above. In a run on PostgreSQL, Options.Workers consumers apply decided
// pages at once, each in its own transaction on its own connection: pages
// hold disjoint records, and every batch takes its row locks in key order
// (tickets before attachments), so batches neither wait for nor deadlock
// with each other. Each batch counts into a fork of the pass, merged once
// it has committed. Cancellation is checked between pages, as in loop: the
// batches in flight finish.
func (p *pass) pipeline(ctx context.Context, cat string, prepare preparer, apply applier) error {
	bctx := context.WithoutCancel(ctx)
	pctx, cancel := context.WithCancel(bctx)
	type item struct {
		b   *decided
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
			b, err := prepare(pctx, &ptm, after)
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
		mu       sync.Mutex // guards p.rep, p.tm, p.stopped, firstErr
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
			if err := p.applyBatch(bctx, cat, apply, it.b, &mu); err != nil {
				fail(fmt.Errorf("retention %s: %w", cat, err))
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
	for s := range ptm {
		p.tm[s] += ptm[s]
	}
	return firstErr
}

// applyBatch applies one decided page in its own transaction (a plan: in
// none) through a fork of the pass, and merges the fork under mu once the
// transaction has committed.
func (p *pass) applyBatch(ctx context.Context, cat string, apply applier, b *decided, mu *sync.Mutex) error {
	f := p.fork()
	t0 := time.Now()
	var err error
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
			mu.Lock()
			counts := p.countsWith(f)
			mu.Unlock()
			return store.UpdateRetentionRun(ctx, tx, p.rep.RunID, counts, p.progressJSON(cat, b.next))
		})
		f.tm[stepCommit] += time.Since(t0) - f.tm.total()
	}
	if err != nil {
		return err
	}
	if len(f.pending) > 0 && p.blobs != nil {
		p.blobs.add(f.pending)
	}
	mu.Lock()
	defer mu.Unlock()
	p.merge(f)
	if len(b.recs) > 0 && p.o.Progress != nil {
		p.o.Progress(cat, len(b.recs))
	}
	p.o.Log.Debug("retention batch", "category", cat, "decided", len(b.recs), "elapsed_ms", time.Since(t0).Milliseconds())
	return nil
}

// decideChunk is the largest part of a page decided in one evaluation on
// the pipeline's producer (policies.Engine splits larger ones across CPUs).
const decideChunk = 1000

// decideStep asks the policies about a page and records the time.
func (p *pass) decideStep(ctx context.Context, tm *timings, recs []policies.Record) ([]policies.Decision, error) {
	t := time.Now()
	defer tm.since(stepDecide, t)
	// In chunks below the engine's parallel threshold: the pipeline already
	// overlaps deciding with the database's work, and a decision spread
	// over every CPU would starve the database server of the other one
	// (PostgreSQL 1M: tickets phase 12.3 s -> 10.9 s).
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

// decideStepParallel asks the policies about a page in one call, which
// policies.Engine splits across the CPUs, and records the time.
func (p *pass) decideStepParallel(ctx context.Context, tm *timings, recs []policies.Record) ([]policies.Decision, error) {
	t := time.Now()
	defer tm.since(stepDecide, t)
	return p.decide(ctx, recs)
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

// unchanged returns the records, among those re-read with row locks inside
// the transaction (now, with the holds active now), whose facts and hold
// state are those they were decided on (then, by id).
func unchanged[T comparable](now []T, ixNow store.HoldIndex, then map[string]T, ixThen store.HoldIndex,
	id func(T) string, hold func(store.HoldIndex, T) holdState) []string {
	var out []string
	for _, r := range now {
		was, ok := then[id(r)]
		if ok && was == r && hold(ixNow, r) == hold(ixThen, was) {
			out = append(out, id(r))
		}
	}
	return out
}
