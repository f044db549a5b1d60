package retention

import (
	"context"
	"math"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// The safety valve's figures without a dry run over the store (issue 11
// item 7). A run used to make a whole plan pass before the real one, to
// refuse before deleting anything. Now it first bounds, per category, what
// it can delete or anonymise (the candidates its scans can return through
// the policies' cutoffs, and what goes with them) and counts each
// category's size only as far as that bound needs: a night with little to
// do costs what its candidates cost. Only a category whose bound exceeds
// the limit is planned exactly, by a dry pass over the phases that count
// into it, and refused on that plan: a refused run still deletes nothing.
// During the run, every batch is held to the same limits (valve.over).

// feeds names, per category, the phases that delete or anonymise its
// records: its own, and the one its records go with.
var feeds = map[string][]string{
	policies.CatAttachments:   {policies.CatAttachments, policies.CatTickets},
	policies.CatTickets:       {policies.CatTickets},
	policies.CatMessages:      {policies.CatTickets},
	policies.CatAccountEvents: {policies.CatAccountEvents},
	policies.CatSubjectStats:  {policies.CatSubjectStats, policies.CatSubjects},
	policies.CatAgentStats:    {policies.CatAgentStats},
	policies.CatDSRRequests:   {policies.CatDSRRequests},
	policies.CatLegalHolds:    {policies.CatLegalHolds},
	policies.CatSubjects:      {policies.CatSubjects},
	policies.CatObjections:    {policies.CatSubjects},
	policies.CatAudit:         {policies.CatAudit},
}

// openValve sets p.valve up for a run and says whether the run must be
// refused before it starts. It returns the dry pass's report when one was
// needed (nil otherwise).
func (p *pass) openValve(ctx context.Context) (*Report, *ValveError, error) {
	settled := &store.SettledKey{Revision: p.settled, At: p.atMs}
	if p.o.Full {
		settled = nil
	}
	bounds, err := store.CandidateBounds(ctx, p.db, p.cuts, settled)
	if err != nil {
		return nil, nil, err
	}
	p.bounds = bounds
	v := &valve{totals: map[string]int64{}, exact: map[string]bool{}, maxShare: p.o.MaxShare,
		inflight: map[string]int64{}, planned: map[string]bool{},
		recount: func(c string) (int64, error) {
			return store.CountAtLeast(context.WithoutCancel(ctx), p.db, c, math.MaxInt64)
		}}
	p.valve = v
	within := func(n, total int64) bool { return float64(n) <= p.o.MaxShare*float64(total) }
	phases := map[string]bool{}
	for _, c := range Categories {
		b := bounds[c]
		if b == 0 {
			continue // sized only if a batch ever counts one (valve.over)
		}
		need := int64(math.Ceil(float64(b) / p.o.MaxShare))
		n, err := store.CountAtLeast(ctx, p.db, c, need)
		if err != nil {
			return nil, nil, err
		}
		v.totals[c], v.exact[c] = n, n < need
		if within(b, n) {
			continue
		}
		v.planned[c] = true
		for _, ph := range feeds[c] {
			phases[ph] = true
		}
	}
	p.o.Log.Info("retention safety valve bounds", "bounds", bounds, "planned", keys(v.planned))
	if len(phases) == 0 {
		return nil, nil, nil
	}
	o := planOpts(*p.o)
	dry, err := newPass(ctx, p.db, p.pol, &o, true)
	if err != nil {
		return nil, nil, err
	}
	dry.only = phases
	if err := dry.all(ctx); err != nil {
		return nil, nil, err
	}
	dry.rep.sum()
	for _, c := range Categories {
		if !v.planned[c] {
			continue
		}
		n := dry.rep.Delete[c] + dry.rep.Anonymize[c]
		if n == 0 || within(n, v.totals[c]) {
			continue
		}
		if !v.exact[c] {
			total, err := v.recount(c)
			if err != nil {
				return nil, nil, err
			}
			v.totals[c], v.exact[c] = total, true
		}
		if !within(n, v.totals[c]) {
			return dry.rep, &ValveError{Category: c, Count: n, Total: v.totals[c], MaxShare: p.o.MaxShare}, nil
		}
	}
	return dry.rep, nil, nil
}

func keys(m map[string]bool) []string {
	var out []string
	for _, c := range Categories {
		if m[c] {
			out = append(out, c)
		}
	}
	return out
}
