package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// The loop phases read one page of candidates after the keyset position,
// gather the page's facts in one query, decide it in one evaluation, and
// (in a run, tx != nil) apply it. They return the next keyset position
// ("" when done) and the number of records decided. The hot categories
// below run through pipeline (pipeline.go) instead.

// attachments: deleted on their own a year after their ticket closed;
// contents through the durable blob queue.
var attachments = hot[store.AttachmentFacts]{
	cat:     policies.CatAttachments,
	scan:    store.ScanAttachments,
	confirm: store.ConfirmAttachments,
	id:      func(a store.AttachmentFacts) string { return a.ID },
	ticket:  func(a store.AttachmentFacts) string { return a.TicketID },
	user:    func(a store.AttachmentFacts) (string, bool) { return a.UserID.String, a.UserID.Valid },
	record:  attachmentRecord,
	settles: true,
	apply: func(p *pass, ctx context.Context, _ store.Querier, tx *store.Tx, b *page[store.AttachmentFacts], del []int) error {
		if tx == nil || len(del) == 0 {
			return nil
		}
		ids := make([]string, len(del))
		for k, i := range del {
			ids[k] = b.facts[i].ID
		}
		keys, err := store.DeleteAttachments(ctx, tx, ids, store.Millis(p.o.Now()))
		if err != nil {
			return err
		}
		if len(keys) != len(ids) {
			return fmt.Errorf("deleted %d attachments, decided %d", len(keys), len(ids))
		}
		p.pending = append(p.pending, keys...)
		return nil
	},
}

func attachmentRecord(a store.AttachmentFacts, h holdState) policies.Record {
	m := map[string]any{"uploaded_at": a.UploadedAt, "ticket_status": a.TicketStatus, "dispute_status": a.DisputeStatus}
	putTime(m, "ticket_closed_at", a.TicketClosedAt.Valid, a.TicketClosedAt.Int64)
	hold(m, h.reason, h.held)
	return policies.Record{Category: policies.CatAttachments, ID: a.ID, Attrs: m}
}

// tickets: deleted with their messages and remaining attachments, grouped
// by the rule that decided them (the cascade is counted under that rule).
var tickets = hot[store.TicketFacts]{
	cat:     policies.CatTickets,
	scan:    store.ScanTickets,
	confirm: store.ConfirmTickets,
	id:      func(t store.TicketFacts) string { return t.ID },
	ticket:  func(t store.TicketFacts) string { return t.ID },
	user:    func(t store.TicketFacts) (string, bool) { return t.UserID.String, t.UserID.Valid },
	settles: true,
	touches: true,
	record: func(t store.TicketFacts, h holdState) policies.Record {
		m := map[string]any{"status": t.Status, "created_at": t.CreatedAt, "dispute_status": t.DisputeStatus}
		putTime(m, "closed_at", t.ClosedAt.Valid, t.ClosedAt.Int64)
		hold(m, h.reason, h.held)
		return policies.Record{Category: policies.CatTickets, ID: t.ID, Attrs: m}
	},
	apply: func(p *pass, ctx context.Context, q store.Querier, tx *store.Tx, b *page[store.TicketFacts], del []int) error {
		groups := &ruleGroups{}
		for _, i := range del {
			groups.add(b.ds[i].Rule, b.facts[i].ID)
		}
		for _, g := range groups.list {
			if err := p.ticketCascade(ctx, q, tx, g.rule, g.ids, b.ix); err != nil {
				return err
			}
		}
		return nil
	},
}

// accountEvents: deleted on their own; deciding is the phase's bottleneck.
var accountEvents = hot[store.EventFacts]{
	cat:     policies.CatAccountEvents,
	scan:    store.ScanAccountEvents,
	confirm: store.ConfirmAccountEvents,
	id:      func(e store.EventFacts) string { return e.ID },
	ticket:  func(store.EventFacts) string { return "" },
	user:    func(e store.EventFacts) (string, bool) { return e.UserID, true },
	record: func(e store.EventFacts, h holdState) policies.Record {
		m := map[string]any{"at": e.At, "type": e.Type}
		hold(m, h.reason, h.held)
		return policies.Record{Category: policies.CatAccountEvents, ID: e.ID, Attrs: m}
	},
	spread:  true,
	touches: true,
	apply: func(p *pass, ctx context.Context, _ store.Querier, tx *store.Tx, b *page[store.EventFacts], del []int) error {
		if tx == nil || len(del) == 0 {
			return nil
		}
		ids := make([]string, len(del))
		for k, i := range del {
			ids[k] = b.facts[i].ID
		}
		n, err := store.DeleteRows(ctx, tx, policies.CatAccountEvents, ids)
		if err != nil {
			return err
		}
		if n != int64(len(ids)) {
			return fmt.Errorf("deleted %d account_events, decided %d", n, len(ids))
		}
		return nil
	},
}

// ruleGroups groups record ids by the rule that decided them, in order.
type ruleGroups struct {
	list []*ruleGroup
	by   map[string]*ruleGroup
}

type ruleGroup struct {
	rule string
	ids  []string
}

func (g *ruleGroups) add(rule, id string) {
	if g.by == nil {
		g.by = map[string]*ruleGroup{}
	}
	r, ok := g.by[rule]
	if !ok {
		r = &ruleGroup{rule: rule}
		g.by[rule] = r
		g.list = append(g.list, r)
	}
	r.ids = append(r.ids, id)
}

// ticketCascade deletes (run) or counts (plan) tickets decided delete by one
// rule, with their messages and remaining attachments.
func (p *pass) ticketCascade(ctx context.Context, q store.Querier, tx *store.Tx, rule string, del []string, ix store.HoldIndex) error {
	if tx != nil {
		d, err := store.DeleteTickets(ctx, tx, del, store.Millis(p.o.Now()))
		if err != nil {
			return err
		}
		if d.Tickets != int64(len(del)) {
			return fmt.Errorf("deleted %d tickets, decided %d", d.Tickets, len(del))
		}
		p.cascade(policies.CatMessages, rule, policies.CatTickets, d.Messages)
		p.cascade(policies.CatAttachments, rule, policies.CatTickets, d.Attachments)
		p.pending = append(p.pending, d.BlobKeys...)
		return nil
	}
	// Plan: count what the run would remove with these tickets. The
	// attachments the attachment phase deletes on its own are counted
	// there; the others go with their ticket.
	nm, err := store.CountMessagesOfTickets(ctx, q, del)
	if err != nil {
		return err
	}
	as, err := store.AttachmentsOfTickets(ctx, q, del)
	if err != nil {
		return err
	}
	arecs := make([]policies.Record, len(as))
	for i, a := range as {
		arecs[i] = attachmentRecord(a, attachments.hold(ix, a))
	}
	ads, err := p.decide(ctx, arecs)
	if err != nil {
		return err
	}
	var na int64
	for _, d := range ads {
		if d.Action != policies.Delete {
			na++
		}
	}
	p.cascade(policies.CatMessages, rule, policies.CatTickets, nm)
	p.cascade(policies.CatAttachments, rule, policies.CatTickets, na)
	return nil
}

func (p *pass) subjectStats(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	rows, err := store.ScanSubjectStats(ctx, q, p.scanOpts(policies.CatSubjectStats, after))
	t := p.tm.since(stepScan, start)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	uids := userIDs(rows, func(s store.SubjectStatFacts) (string, bool) { return s.ID, true })
	ix, err := store.InForceHolds(ctx, q, p.atMs, nil, uids, false)
	if err != nil {
		return "", 0, err
	}
	t = p.tm.since(stepFacts, t)
	recs := make([]policies.Record, len(rows))
	for i, s := range rows {
		recs[i] = subjectStatRecord(s, ix)
	}
	return p.simple(ctx, t, tx, policies.CatSubjectStats, recs, uids)
}

func subjectStatRecord(s store.SubjectStatFacts, ix store.HoldIndex) policies.Record {
	m := map[string]any{"computed_at": s.ComputedAt}
	reason, held := ix.Users[s.ID]
	hold(m, reason, held)
	return policies.Record{Category: policies.CatSubjectStats, ID: s.ID, Attrs: m}
}

func (p *pass) requests(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	rows, err := store.ScanDSRRequests(ctx, q, p.scanOpts(policies.CatDSRRequests, after))
	t := p.tm.since(stepScan, start)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	recs := make([]policies.Record, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		m := map[string]any{"status": r.Status, "received_at": r.ReceivedAt}
		putTime(m, "closed_at", r.ClosedAt.Valid, r.ClosedAt.Int64)
		recs[i] = policies.Record{Category: policies.CatDSRRequests, ID: r.ID, Attrs: m}
		ids[i] = r.ID
	}
	return p.simple(ctx, t, tx, policies.CatDSRRequests, recs, ids)
}

func (p *pass) holds(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	rows, err := store.ScanLegalHolds(ctx, q, p.scanOpts(policies.CatLegalHolds, after))
	t := p.tm.since(stepScan, start)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	recs := make([]policies.Record, len(rows))
	ids := make([]string, len(rows))
	for i, h := range rows {
		m := map[string]any{"created_at": h.CreatedAt}
		putTime(m, "until", h.Until.Valid, h.Until.Int64)
		putTime(m, "released_at", h.ReleasedAt.Valid, h.ReleasedAt.Int64)
		recs[i] = policies.Record{Category: policies.CatLegalHolds, ID: h.ID, Attrs: m}
		ids[i] = h.ID
	}
	return p.simple(ctx, t, tx, policies.CatLegalHolds, recs, ids)
}

// simple decides and deletes the records of a category that is only ever
// deleted, keyed by string ids in scan order.
func (p *pass) simple(ctx context.Context, t time.Time, tx *store.Tx, cat string, recs []policies.Record, ids []string) (string, int, error) {
	ds, err := p.decide(ctx, recs)
	if err != nil {
		return "", 0, err
	}
	t = p.tm.since(stepDecide, t)
	var del []string
	for i, d := range ds {
		if d.Action == policies.Anonymize {
			return "", 0, unsupported(cat, d)
		}
		p.tally(cat, d, recs[i].ID)
		if d.Action == policies.Delete {
			del = append(del, recs[i].ID)
		}
	}
	if tx != nil && len(del) > 0 {
		n, err := store.DeleteRows(ctx, tx, cat, del)
		if err != nil {
			return "", 0, err
		}
		if n != int64(len(del)) {
			return "", 0, fmt.Errorf("deleted %d %s, decided %d", n, cat, len(del))
		}
	}
	p.tm.since(stepWrite, t)
	return p.next(len(recs), recs[len(recs)-1].ID), len(recs), nil
}

func (p *pass) agentStats(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	rows, err := store.ScanAgentStats(ctx, q, p.scanOpts(policies.CatAgentStats, after))
	t := p.tm.since(stepScan, start)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	recs := make([]policies.Record, len(rows))
	for i, a := range rows {
		ds, err := a.DayStart()
		if err != nil {
			return "", 0, err
		}
		recs[i] = policies.Record{Category: policies.CatAgentStats, ID: itoa(a.ID), Attrs: map[string]any{"day_start": ds, "anonymized": a.Anonymized}}
	}
	ds, err := p.decide(ctx, recs)
	if err != nil {
		return "", 0, err
	}
	t = p.tm.since(stepDecide, t)
	var del, anon []int64
	for i, d := range ds {
		if d.Action == policies.Anonymize && rows[i].Anonymized {
			continue // already done: nothing to count or change
		}
		p.tally(policies.CatAgentStats, d, recs[i].ID)
		switch d.Action {
		case policies.Delete:
			del = append(del, rows[i].ID)
		case policies.Anonymize:
			anon = append(anon, rows[i].ID)
		}
	}
	if tx != nil {
		now := store.Millis(p.o.Now())
		if n, err := store.DeleteAgentStats(ctx, tx, del); err != nil || n != int64(len(del)) {
			return "", 0, fmt.Errorf("delete agent_stats: %d of %d: %w", n, len(del), err)
		}
		if n, err := store.AnonymizeAgentStats(ctx, tx, anon, now); err != nil || n != int64(len(anon)) {
			return "", 0, fmt.Errorf("anonymise agent_stats: %d of %d: %w", n, len(anon), err)
		}
		// Days kept (an anonymised day until its final period) are settled
		// (settle.go); the row was locked by the scan.
		var keep []int
		ids := make([]string, len(recs))
		for i, d := range ds {
			ids[i] = recs[i].ID
			if d.Action == policies.Keep && !d.Held {
				keep = append(keep, i)
			}
		}
		ss, err := p.settle(ctx, recs, ids, keep, ds)
		if err != nil {
			return "", 0, err
		}
		if err := p.writeSettled(ctx, tx, policies.CatAgentStats, ss); err != nil {
			return "", 0, err
		}
	}
	p.tm.since(stepWrite, t)
	return p.next(len(rows), itoa(rows[len(rows)-1].ID)), len(rows), nil
}

func (p *pass) subjects(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	rows, err := store.ScanSubjects(ctx, q, p.scanOpts(policies.CatSubjects, after))
	t := p.tm.since(stepScan, start)
	if err != nil {
		return "", 0, err
	}
	next := ""
	if len(rows) > 0 {
		next = p.next(len(rows), rows[len(rows)-1].ID)
	}
	if tx == nil && next == "" {
		// A plan's last page: add the settled subjects a run would decide
		// again because it deletes some of their records first.
		extra, err := p.touchedSubjects(ctx, q)
		if err != nil {
			return "", 0, err
		}
		rows = append(rows, extra...)
	}
	if len(rows) == 0 {
		return "", 0, nil
	}
	if err := p.decideSubjects(ctx, q, tx, rows, t); err != nil {
		return "", 0, err
	}
	return next, len(rows), nil
}

// touchedSubjects returns, in a plan, the facts of the settled subjects
// the plan skipped whose tickets or account events it decided to delete: a
// run deletes those first, which clears the subjects' memo (migration
// 00170's triggers), and then decides them in its subjects phase. Deciding
// them here keeps plan and run in agreement rule by rule (adversarial pass
// 6, F2).
func (p *pass) touchedSubjects(ctx context.Context, q store.Querier) ([]store.SubjectFacts, error) {
	if p.touched == nil || p.o.Full {
		return nil, nil
	}
	ids := p.touched.list()
	if len(ids) == 0 {
		return nil, nil
	}
	skipped, err := store.SettledSkipped(ctx, q, policies.CatSubjects, ids, p.cuts[policies.CatSubjects],
		store.SettledKey{Revision: p.settled, At: p.atMs})
	if err != nil || len(skipped) == 0 {
		return nil, err
	}
	p.touchedMinus = map[store.SettledCount]int64{}
	sids := make([]string, len(skipped))
	for i, r := range skipped {
		sids[i] = r.ID
		p.touchedMinus[store.SettledCount{Rule: r.Rule, Held: r.Held}]++
	}
	return store.SubjectFactsOf(ctx, q, sids)
}

// decideSubjects decides a page of subjects and applies (run) or counts
// (plan) the decisions; t is when the page's scan ended.
func (p *pass) decideSubjects(ctx context.Context, q store.Querier, tx *store.Tx, rows []store.SubjectFacts, t time.Time) error {
	uids := userIDs(rows, func(s store.SubjectFacts) (string, bool) { return s.ID, true })
	// held: a hold on the subject itself; held_tickets: how many of their
	// tickets are under a hold of their own (those tickets remain).
	ix, err := store.InForceHolds(ctx, q, p.atMs, nil, uids, true)
	if err != nil {
		return err
	}
	t = p.tm.since(stepFacts, t)
	recs := make([]policies.Record, len(rows))
	for i, s := range rows {
		m := map[string]any{"tickets": s.Tickets, "open_tickets": s.OpenTickets, "disputes_open": s.DisputesOpen}
		putTime(m, "account_created_at", s.AccountCreatedAt.Valid, s.AccountCreatedAt.Int64)
		putTime(m, "account_closed_at", s.AccountClosedAt.Valid, s.AccountClosedAt.Int64)
		putTime(m, "latest_ticket_closed_at", s.LatestTicketClosedAt.Valid, s.LatestTicketClosedAt.Int64)
		putTime(m, "latest_event_at", s.LatestEventAt.Valid, s.LatestEventAt.Int64)
		m["held_tickets"] = ix.HeldTickets[s.ID]
		m["anonymized"] = s.AnonymizedAt.Valid
		reason, held := ix.Users[s.ID]
		hold(m, reason, held)
		recs[i] = policies.Record{Category: policies.CatSubjects, ID: s.ID, Attrs: m}
	}
	ds, err := p.decide(ctx, recs)
	if err != nil {
		return err
	}
	t = p.tm.since(stepDecide, t)
	// A subject decided delete that has a ticket or an event now (an
	// ingest committed while this batch waited for its row) changed during
	// the run: left alone, counted, decided again by the next run.
	var changed map[string]bool
	if tx != nil {
		var dels []string
		for i, d := range ds {
			if d.Action == policies.Delete {
				dels = append(dels, rows[i].ID)
			}
		}
		if changed, err = store.SubjectsWithData(ctx, tx, dels); err != nil {
			return err
		}
	}
	groups := &ruleGroups{}
	var anon []store.Anonymisation
	for i, d := range ds {
		s := rows[i]
		if d.Action == policies.Anonymize && s.AnonymizedAt.Valid {
			continue // already anonymised
		}
		if d.Action == policies.Delete && changed[s.ID] {
			p.rep.Changed++
			continue
		}
		ref := p.hasher.Hash("user_id", s.ID)
		p.tally(policies.CatSubjects, d, s.ID) // plan --explain: the plain id, as for every category
		switch d.Action {
		case policies.Delete:
			groups.add(d.Rule, s.ID)
		case policies.Anonymize:
			anon = append(anon, store.Anonymisation{UserID: s.ID, Email: "anonymised-" + ref[2:14] + "@invalid", Pseudo: "anonymised"})
		}
	}
	for _, g := range groups.list {
		if err := p.subjectCascade(ctx, q, tx, g.rule, g.ids, ix); err != nil {
			return err
		}
	}
	if tx != nil {
		if n, err := store.AnonymizeSubjects(ctx, tx, anon, store.Millis(p.o.Now())); err != nil || n != int64(len(anon)) {
			return fmt.Errorf("anonymise subjects: %d of %d: %w", n, len(anon), err)
		}
		if err := p.settleSubjects(ctx, tx, rows, recs, ds, ix); err != nil {
			return err
		}
	}
	p.tm.since(stepWrite, t)
	return nil
}

// settleSubjects settles, in a run, the subjects of a batch decided keep
// under no legal hold (settle.go), if their facts are still those decided
// on: re-read in a statement of their own, they include what a concurrent
// writer committed while the batch waited for its row locks.
func (p *pass) settleSubjects(ctx context.Context, tx *store.Tx, rows []store.SubjectFacts, recs []policies.Record, ds []policies.Decision, ix store.HoldIndex) error {
	var keep []int
	var ids []string
	for i, d := range ds {
		s := rows[i]
		_, held := ix.Users[s.ID]
		if d.Action == policies.Keep && !d.Held && !held && ix.HeldTickets[s.ID] == 0 {
			keep = append(keep, i)
			ids = append(ids, s.ID)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	now, err := store.SubjectFactsOf(ctx, tx, ids)
	if err != nil {
		return err
	}
	fresh := make(map[string]store.SubjectFacts, len(now))
	for _, s := range now {
		fresh[s.ID] = s
	}
	same := keep[:0:0]
	for _, i := range keep {
		if f, ok := fresh[rows[i].ID]; ok && f == rows[i] {
			same = append(same, i)
		}
	}
	all := make([]string, len(rows))
	for i, s := range rows {
		all[i] = s.ID
	}
	ss, err := p.settle(ctx, recs, all, same, ds)
	if err != nil {
		return err
	}
	return p.writeSettled(ctx, tx, policies.CatSubjects, ss)
}

// subjectCascade deletes (run) or counts (plan) subjects decided delete by
// one rule, with their objections and remaining statistics.
func (p *pass) subjectCascade(ctx context.Context, q store.Querier, tx *store.Tx, rule string, del []string, ix store.HoldIndex) error {
	if tx != nil {
		d, err := store.DeleteSubjects(ctx, tx, del)
		if err != nil {
			return fmt.Errorf("%w: rule %q decided to delete a subject whose tickets or events remain: %w", policies.ErrPolicy, rule, err)
		}
		p.cascade(policies.CatObjections, rule, policies.CatSubjects, d.Objections)
		p.cascade(policies.CatSubjectStats, rule, policies.CatSubjects, d.SubjectStats)
		return nil
	}
	no, err := store.CountObjectionsOf(ctx, q, del)
	if err != nil {
		return err
	}
	// Statistics the subject_stats phase deletes on its own are counted
	// there; the others go with their subject.
	ss, err := store.SubjectStatsOf(ctx, q, del)
	if err != nil {
		return err
	}
	srecs := make([]policies.Record, len(ss))
	for i, s := range ss {
		srecs[i] = subjectStatRecord(s, ix)
	}
	sds, err := p.decide(ctx, srecs)
	if err != nil {
		return err
	}
	var ns int64
	for _, d := range sds {
		if d.Action != policies.Delete {
			ns++
		}
	}
	p.cascade(policies.CatObjections, rule, policies.CatSubjects, no)
	p.cascade(policies.CatSubjectStats, rule, policies.CatSubjects, ns)
	return nil
}

// audit prunes the expired prefix of the audit trail: entries are decided
// in sequence order and pruning stops at the first one kept.
func (p *pass) audit(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	var from int64
	if after != "" {
		from = store.ScanOptions{After: after}.AfterInt()
	}
	rows, err := store.ScanAudit(ctx, q, from, p.maxAudit, p.o.BatchSize)
	t := p.tm.since(stepScan, start)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	recs := make([]policies.Record, len(rows))
	for i, e := range rows {
		recs[i] = policies.Record{Category: policies.CatAudit, ID: itoa(e.Seq), Attrs: map[string]any{"at": e.At}}
	}
	ds, err := p.decide(ctx, recs)
	if err != nil {
		return "", 0, err
	}
	t = p.tm.since(stepDecide, t)
	var upTo int64
	stop := false
	for i, d := range ds {
		if d.Action != policies.Delete {
			stop = true
			break
		}
		p.tally(policies.CatAudit, d, recs[i].ID)
		upTo = rows[i].Seq
	}
	if tx != nil && upTo > 0 {
		if _, err := store.PruneAudit(ctx, tx, upTo); err != nil {
			return "", 0, fmt.Errorf("prune audit: %w", err)
		}
	}
	p.tm.since(stepWrite, t)
	if stop {
		return "", len(rows), nil
	}
	return p.next(len(rows), itoa(rows[len(rows)-1].Seq)), len(rows), nil
}
