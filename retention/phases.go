package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Each phase reads one page of candidates after the keyset position, gathers
// the batch's facts in one query, decides the batch in one evaluation, and
// (in a run, tx != nil) applies it. It returns the next keyset position
// ("" when done) and the number of records decided.

func attachmentRecord(a store.AttachmentFacts, ix store.HoldIndex) policies.Record {
	m := map[string]any{"uploaded_at": a.UploadedAt, "ticket_status": a.TicketStatus, "dispute_status": a.DisputeStatus}
	putTime(m, "ticket_closed_at", a.TicketClosedAt.Valid, a.TicketClosedAt.Int64)
	reason, held := firstReason(ix.Tickets)(a.TicketID)
	if !held && a.UserID.Valid {
		reason, held = firstReason(ix.Users)(a.UserID.String)
	}
	hold(m, reason, held)
	return policies.Record{Category: policies.CatAttachments, ID: a.ID, Attrs: m}
}

func attachmentHold(ix store.HoldIndex, a store.AttachmentFacts) holdState {
	return heldBy(ix, a.TicketID, a.UserID.String, a.UserID.Valid)
}

func (p *pass) prepareAttachments(ctx context.Context, tm *timings, after string) (*decided, error) {
	t := time.Now()
	rows, err := store.ScanAttachments(ctx, p.db, p.pageOpts(policies.CatAttachments, after))
	t = tm.since(stepScan, t)
	if err != nil || len(rows) == 0 {
		return &decided{}, err
	}
	tids := userIDs(rows, func(a store.AttachmentFacts) (string, bool) { return a.TicketID, true })
	uids := userIDs(rows, func(a store.AttachmentFacts) (string, bool) { return a.UserID.String, a.UserID.Valid })
	b := &decided{next: p.next(len(rows), rows[len(rows)-1].ID), attachments: rows}
	if b.ix, err = store.ActiveHolds(ctx, p.db, p.atMs, tids, uids, false); err != nil {
		return nil, err
	}
	tm.since(stepFacts, t)
	b.recs = make([]policies.Record, len(rows))
	for i, a := range rows {
		b.recs[i] = attachmentRecord(a, b.ix)
	}
	b.ds, err = p.decideStep(ctx, tm, b.recs)
	return b, err
}

func (p *pass) applyAttachments(ctx context.Context, q store.Querier, tx *store.Tx, b *decided) error {
	t := time.Now()
	var del []string
	for i, d := range b.ds {
		if d.Action == policies.Anonymize {
			return unsupported(policies.CatAttachments, d)
		}
		if d.Action == policies.Delete {
			del = append(del, b.attachments[i].ID)
		}
	}
	ok := map[string]bool{}
	if tx != nil && len(del) > 0 {
		now, err := store.ConfirmAttachments(ctx, tx, del)
		if err != nil {
			return err
		}
		tids := userIDs(now, func(a store.AttachmentFacts) (string, bool) { return a.TicketID, true })
		uids := userIDs(now, func(a store.AttachmentFacts) (string, bool) { return a.UserID.String, a.UserID.Valid })
		ixNow, err := store.ActiveHolds(ctx, tx, p.atMs, tids, uids, false)
		if err != nil {
			return err
		}
		then := make(map[string]store.AttachmentFacts, len(b.attachments))
		for _, a := range b.attachments {
			then[a.ID] = a
		}
		del = unchanged(now, ixNow, then, b.ix, func(a store.AttachmentFacts) string { return a.ID }, attachmentHold)
		for _, id := range del {
			ok[id] = true
		}
		t = p.tm.since(stepFacts, t)
	}
	for i, d := range b.ds {
		if tx != nil && d.Action == policies.Delete && !ok[b.recs[i].ID] {
			p.rep.Changed++
			continue
		}
		p.tally(policies.CatAttachments, d, b.recs[i].ID)
	}
	if tx != nil && len(del) > 0 {
		keys, err := store.DeleteAttachments(ctx, tx, del, store.Millis(p.o.Now()))
		if err != nil {
			return err
		}
		if len(keys) != len(del) {
			return fmt.Errorf("deleted %d attachments, decided %d", len(keys), len(del))
		}
		p.pending = append(p.pending, keys...)
	}
	p.tm.since(stepWrite, t)
	return nil
}

func ticketHold(ix store.HoldIndex, t store.TicketFacts) holdState {
	return heldBy(ix, t.ID, t.UserID.String, t.UserID.Valid)
}

func (p *pass) prepareTickets(ctx context.Context, tm *timings, after string) (*decided, error) {
	t := time.Now()
	rows, err := store.ScanTickets(ctx, p.db, p.pageOpts(policies.CatTickets, after))
	t = tm.since(stepScan, t)
	if err != nil || len(rows) == 0 {
		return &decided{}, err
	}
	tids := userIDs(rows, func(t store.TicketFacts) (string, bool) { return t.ID, true })
	uids := userIDs(rows, func(t store.TicketFacts) (string, bool) { return t.UserID.String, t.UserID.Valid })
	b := &decided{next: p.next(len(rows), rows[len(rows)-1].ID), tickets: rows}
	if b.ix, err = store.ActiveHolds(ctx, p.db, p.atMs, tids, uids, false); err != nil {
		return nil, err
	}
	tm.since(stepFacts, t)
	b.recs = make([]policies.Record, len(rows))
	for i, t := range rows {
		m := map[string]any{"status": t.Status, "created_at": t.CreatedAt, "dispute_status": t.DisputeStatus}
		putTime(m, "closed_at", t.ClosedAt.Valid, t.ClosedAt.Int64)
		h := ticketHold(b.ix, t)
		hold(m, h.reason, h.held)
		b.recs[i] = policies.Record{Category: policies.CatTickets, ID: t.ID, Attrs: m}
	}
	b.ds, err = p.decideStep(ctx, tm, b.recs)
	return b, err
}

func (p *pass) applyTickets(ctx context.Context, q store.Querier, tx *store.Tx, b *decided) error {
	t := time.Now()
	var del []string
	for i, d := range b.ds {
		if d.Action == policies.Anonymize {
			return unsupported(policies.CatTickets, d)
		}
		if d.Action == policies.Delete {
			del = append(del, b.tickets[i].ID)
		}
	}
	ok := map[string]bool{}
	if tx != nil && len(del) > 0 {
		now, err := store.ConfirmTickets(ctx, tx, del)
		if err != nil {
			return err
		}
		tids := userIDs(now, func(t store.TicketFacts) (string, bool) { return t.ID, true })
		uids := userIDs(now, func(t store.TicketFacts) (string, bool) { return t.UserID.String, t.UserID.Valid })
		ixNow, err := store.ActiveHolds(ctx, tx, p.atMs, tids, uids, false)
		if err != nil {
			return err
		}
		then := make(map[string]store.TicketFacts, len(b.tickets))
		for _, t := range b.tickets {
			then[t.ID] = t
		}
		for _, id := range unchanged(now, ixNow, then, b.ix, func(t store.TicketFacts) string { return t.ID }, ticketHold) {
			ok[id] = true
		}
		t = p.tm.since(stepFacts, t)
	}
	groups := &ruleGroups{}
	for i, d := range b.ds {
		if tx != nil && d.Action == policies.Delete && !ok[b.recs[i].ID] {
			p.rep.Changed++
			continue
		}
		p.tally(policies.CatTickets, d, b.recs[i].ID)
		if d.Action == policies.Delete {
			groups.add(d.Rule, b.recs[i].ID)
		}
	}
	for _, g := range groups.list {
		if err := p.ticketCascade(ctx, q, tx, g.rule, g.ids, b.ix); err != nil {
			return err
		}
	}
	p.tm.since(stepWrite, t)
	return nil
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
		arecs[i] = attachmentRecord(a, ix)
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

func eventHold(ix store.HoldIndex, e store.EventFacts) holdState {
	return heldBy(ix, "", e.UserID, true)
}

func (p *pass) prepareEvents(ctx context.Context, tm *timings, after string) (*decided, error) {
	t := time.Now()
	rows, err := store.ScanAccountEvents(ctx, p.db, p.pageOpts(policies.CatAccountEvents, after))
	t = tm.since(stepScan, t)
	if err != nil || len(rows) == 0 {
		return &decided{}, err
	}
	uids := userIDs(rows, func(e store.EventFacts) (string, bool) { return e.UserID, true })
	b := &decided{next: p.next(len(rows), rows[len(rows)-1].ID), events: rows}
	if b.ix, err = store.ActiveHolds(ctx, p.db, p.atMs, nil, uids, false); err != nil {
		return nil, err
	}
	tm.since(stepFacts, t)
	b.recs = make([]policies.Record, len(rows))
	for i, e := range rows {
		m := map[string]any{"at": e.At, "type": e.Type}
		h := eventHold(b.ix, e)
		hold(m, h.reason, h.held)
		b.recs[i] = policies.Record{Category: policies.CatAccountEvents, ID: e.ID, Attrs: m}
	}
	// Deleting account events is light work for the database: deciding is
	// this phase's bottleneck, so the page is split across every CPU.
	b.ds, err = p.decideStepParallel(ctx, tm, b.recs)
	return b, err
}

func (p *pass) applyEvents(ctx context.Context, q store.Querier, tx *store.Tx, b *decided) error {
	t := time.Now()
	var del []string
	for i, d := range b.ds {
		if d.Action == policies.Anonymize {
			return unsupported(policies.CatAccountEvents, d)
		}
		if d.Action == policies.Delete {
			del = append(del, b.events[i].ID)
		}
	}
	ok := map[string]bool{}
	if tx != nil && len(del) > 0 {
		now, err := store.ConfirmAccountEvents(ctx, tx, del)
		if err != nil {
			return err
		}
		uids := userIDs(now, func(e store.EventFacts) (string, bool) { return e.UserID, true })
		ixNow, err := store.ActiveHolds(ctx, tx, p.atMs, nil, uids, false)
		if err != nil {
			return err
		}
		then := make(map[string]store.EventFacts, len(b.events))
		for _, e := range b.events {
			then[e.ID] = e
		}
		del = unchanged(now, ixNow, then, b.ix, func(e store.EventFacts) string { return e.ID }, eventHold)
		for _, id := range del {
			ok[id] = true
		}
		t = p.tm.since(stepFacts, t)
	}
	for i, d := range b.ds {
		if tx != nil && d.Action == policies.Delete && !ok[b.recs[i].ID] {
			p.rep.Changed++
			continue
		}
		p.tally(policies.CatAccountEvents, d, b.recs[i].ID)
	}
	if tx != nil && len(del) > 0 {
		n, err := store.DeleteRows(ctx, tx, policies.CatAccountEvents, del)
		if err != nil {
			return err
		}
		if n != int64(len(del)) {
			return fmt.Errorf("deleted %d account_events, decided %d", n, len(del))
		}
	}
	p.tm.since(stepWrite, t)
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
	ix, err := store.ActiveHolds(ctx, q, p.atMs, nil, uids, false)
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
	}
	p.tm.since(stepWrite, t)
	return p.next(len(rows), itoa(rows[len(rows)-1].ID)), len(rows), nil
}

func (p *pass) subjects(ctx context.Context, q store.Querier, tx *store.Tx, after string) (string, int, error) {
	start := time.Now()
	rows, err := store.ScanSubjects(ctx, q, p.scanOpts(policies.CatSubjects, after))
	t := p.tm.since(stepScan, start)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	uids := userIDs(rows, func(s store.SubjectFacts) (string, bool) { return s.ID, true })
	// held: a hold on the subject itself; held_tickets: how many of their
	// tickets are under a hold of their own (those tickets remain).
	ix, err := store.ActiveHolds(ctx, q, p.atMs, nil, uids, true)
	if err != nil {
		return "", 0, err
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
		return "", 0, err
	}
	t = p.tm.since(stepDecide, t)
	groups := &ruleGroups{}
	var anon []store.Anonymisation
	for i, d := range ds {
		s := rows[i]
		if d.Action == policies.Anonymize && s.AnonymizedAt.Valid {
			continue // already anonymised
		}
		ref := p.hasher.Hash("user_id", s.ID)
		p.tally(policies.CatSubjects, d, ref)
		switch d.Action {
		case policies.Delete:
			groups.add(d.Rule, s.ID)
		case policies.Anonymize:
			anon = append(anon, store.Anonymisation{UserID: s.ID, Email: "anonymised-" + ref[2:14] + "@invalid", Pseudo: "anonymised"})
		}
	}
	for _, g := range groups.list {
		if err := p.subjectCascade(ctx, q, tx, g.rule, g.ids, ix); err != nil {
			return "", 0, err
		}
	}
	if tx != nil {
		if n, err := store.AnonymizeSubjects(ctx, tx, anon, store.Millis(p.o.Now())); err != nil || n != int64(len(anon)) {
			return "", 0, fmt.Errorf("anonymise subjects: %d of %d: %w", n, len(anon), err)
		}
	}
	p.tm.since(stepWrite, t)
	return p.next(len(rows), rows[len(rows)-1].ID), len(rows), nil
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
