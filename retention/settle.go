package retention

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Settled records (issue 11 item 7). A closed account already anonymised,
// whose remaining tickets are kept, is decided "keep" night after night; so
// is a ticket past its period whose transaction dispute is still open, and
// its attachments: at marketplace scale most of the records a run reads are
// such finished records. A run therefore settles a record the policies
// decide to keep on its own facts, under no legal hold (subjects, tickets,
// attachments, agent days), when the policies would still keep it, on the
// same facts and by the same rule, at a later time: a run skips it until
// then (its recheck time), or until what the decision rests on changes
// (for a subject: their account dates or anonymisation, their tickets,
// account events or legal holds; for a ticket: its user, status, dispute,
// dates, or a legal hold on it or its subject; for an attachment: its
// upload, its ticket's facts and holds — the triggers of migrations 00170,
// 00171 and 00220 clear the memo in the changing transaction), or until the
// policy revision changes (the memo is keyed by it).
//
// The recheck time comes from the policies, not from Go: the same records
// are decided again at probe times ahead of the run's time, and a record
// is settled until the latest probe time up to which every probe still
// keeps it. This rests on one property of retention policies (true of the
// shipped rules, not asserted by a test yet): on unchanged facts, a record
// that the passing of time makes deletable or anonymisable does not become
// kept again later (keep, then act, is the only order). Then a decision
// that is keep at the run's time and at a probe time is keep at every time
// in between.

// settleProbes are the probe offsets, shortest first: a record settled to
// the k-th probe is decided again at most len(settleProbes) times before
// the policies act on it.
var settleProbes = []time.Duration{
	24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 91 * 24 * time.Hour,
	365 * 24 * time.Hour, 2 * 365 * 24 * time.Hour, 5 * 365 * 24 * time.Hour, 20 * 365 * 24 * time.Hour,
}

// revisionKey is the memo key of a policy revision: the first 8 bytes of
// the SHA-256 of its name, as a signed integer.
func revisionKey(rev string) int64 {
	h := sha256.Sum256([]byte("oubli retention settled\x00" + rev))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// settle returns the settlements of the records at positions keep (decided
// keep, under no hold): each until the last probe time at which the
// policies still keep it with the same rule. Records the first probe
// already acts on are not settled.
func (p *pass) settle(ctx context.Context, recs []policies.Record, ids []string, keep []int, ds []policies.Decision) ([]store.Settlement, error) {
	if len(keep) == 0 {
		return nil, nil
	}
	sub := make([]policies.Record, len(keep))
	for k, i := range keep {
		sub[k] = recs[i]
	}
	until := make([]int64, len(keep)) // 0: not settled
	alive := make([]bool, len(keep))  // still kept at every probe so far
	for k := range alive {
		alive[k] = true
	}
	for _, d := range settleProbes {
		at := p.at.Add(d)
		var probe []policies.Record
		var pos []int
		for k := range sub {
			if alive[k] {
				probe, pos = append(probe, sub[k]), append(pos, k)
			}
		}
		if len(probe) == 0 {
			break
		}
		got, err := p.pol.Decide(ctx, at, probe)
		if err != nil {
			return nil, err
		}
		if len(got) != len(probe) {
			return nil, errDecisions(len(got), len(probe))
		}
		for j, g := range got {
			k := pos[j]
			if g.Action == policies.Keep && g.Rule == ds[keep[k]].Rule {
				until[k] = store.Millis(at)
			} else {
				alive[k] = false
			}
		}
	}
	var out []store.Settlement
	for k, u := range until {
		if u > 0 {
			d := ds[keep[k]]
			out = append(out, store.Settlement{ID: ids[keep[k]], RecheckAt: u, Rule: d.Rule, Held: d.Held})
		}
	}
	return out, nil
}

// writeSettled writes the settlements of a batch (in its transaction) and
// counts them for the run's upkeep (vacuumSettled).
func (p *pass) writeSettled(ctx context.Context, tx *store.Tx, cat string, ss []store.Settlement) error {
	n, err := store.Settle(ctx, tx, cat, p.settled, ss)
	if err != nil || n != int64(len(ss)) {
		return fmt.Errorf("settle %s: %d of %d: %w", cat, n, len(ss), err)
	}
	p.mu.Lock()
	p.settledRows[cat] += n
	p.mu.Unlock()
	return nil
}

func errDecisions(got, want int) error {
	return fmt.Errorf("%w: %d decisions for %d records", policies.ErrPolicy, got, want)
}

// settledCategories are the categories whose records a run settles.
var settledCategories = map[string]bool{
	policies.CatSubjects: true, policies.CatTickets: true, policies.CatAttachments: true, policies.CatAgentStats: true,
}

// skippedCounts counts, before a phase, the records of a settled category
// its scan will skip (nil when it skips none: not a settled category, or
// Options.Full).
func (p *pass) skippedCounts(ctx context.Context, cat string) ([]store.SettledCount, error) {
	if !settledCategories[cat] || p.o.Full {
		return nil, nil
	}
	return store.SettledCounts(ctx, p.db, cat, p.cuts[cat], store.SettledKey{Revision: p.settled, At: p.atMs})
}

// tallySkipped reports the records kept by a hold that a phase skipped as
// settled, under the rule that keeps them, as if they had been decided
// again (adversarial pass 6, F5: the nightly report's "kept by hold" fell
// to 0 once open disputes were settled), less those the phase decided
// after all (minus: a plan's subjects whose records it deletes first,
// pass.touchedSubjects). Settled records kept for another reason (an
// anonymised account) are not counted: `--full` decides and counts them.
func (p *pass) tallySkipped(cat string, counts []store.SettledCount, minus map[store.SettledCount]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range counts {
		n := c.N - minus[store.SettledCount{Rule: c.Rule, Held: c.Held}]
		if n <= 0 {
			continue
		}
		rc := p.rep.rule(c.Rule, cat, policies.Keep, "kept by this rule when an earlier run decided it; unchanged since (settled)")
		rc.Count += n
		if c.Held {
			p.rep.KeptByHold[cat] += n
			rc.Held += n
		}
	}
}
