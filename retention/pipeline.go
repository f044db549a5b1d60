package retention

import (
	"context"
	"fmt"
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

// applier tallies a decided page and, in a run (tx != nil), applies it.
type applier func(ctx context.Context, q store.Querier, tx *store.Tx, b *decided) error

// pipeline runs one category as producer and consumer; see the comment
// above. Cancellation is checked between pages, as in loop.
func (p *pass) pipeline(ctx context.Context, cat string, prepare preparer, apply applier) error {
	bctx := context.WithoutCancel(ctx)
	pctx, cancel := context.WithCancel(bctx)
	type item struct {
		b   *decided
		err error
	}
	ch := make(chan item, 1)
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
	defer func() {
		cancel()
		for range ch { // let the producer finish before reading its timings
		}
		for s := range ptm {
			p.tm[s] += ptm[s]
		}
	}()
	for it := range ch {
		if !p.dry && ctx.Err() != nil {
			p.stopped = true
			return nil
		}
		if it.err != nil {
			return fmt.Errorf("retention %s: %w", cat, it.err)
		}
		b := it.b
		t0, before := time.Now(), p.tm.total()
		var err error
		if p.dry {
			err = apply(ctx, p.db, nil, b)
		} else {
			err = p.db.InTx(bctx, func(tx *store.Tx) error {
				t := time.Now()
				if err := store.LockPurgeBatch(bctx, tx); err != nil {
					return err
				}
				p.tm.since(stepFacts, t)
				if err := apply(bctx, tx, tx, b); err != nil {
					return err
				}
				return store.UpdateRetentionRun(bctx, tx, p.rep.RunID, p.countsJSON(), p.progressJSON(cat, b.next))
			})
			p.tm[stepCommit] += time.Since(t0) - (p.tm.total() - before)
		}
		if err != nil {
			p.pending = nil
			return fmt.Errorf("retention %s: %w", cat, err)
		}
		p.flushBlobs()
		if len(b.recs) > 0 && p.o.Progress != nil {
			p.o.Progress(cat, len(b.recs))
		}
		p.o.Log.Debug("retention batch", "category", cat, "decided", len(b.recs), "elapsed_ms", time.Since(t0).Milliseconds())
	}
	return nil
}

// flushBlobs hands the blob keys queued by the batch just committed to the
// background drainer.
func (p *pass) flushBlobs() {
	if len(p.pending) == 0 {
		return
	}
	if p.blobs != nil {
		p.blobs.add(p.pending)
	}
	p.pending = nil
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
