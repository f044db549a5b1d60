package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// Requests opens and closes entries of the data-subject request register;
// *dsr.Register is one. The due dates come from the policies through it.
type Requests interface {
	Open(ctx context.Context, typ string, subj store.Subject, receivedAt time.Time) (store.Request, error)
	Close(ctx context.Context, id string, refuse bool, reason string) (store.Request, error)
	ForceClose(ctx context.Context, id, reason string) (store.Request, error)
}

// DemoOptions shape the demo data set.
type DemoOptions struct {
	// Now anchors the data set (its UTC day); time.Now when zero.
	Now time.Time
	// Requests is the register the demo's requests are opened in; nil
	// leaves the register empty.
	Requests Requests
}

// Demo sizes.
const (
	demoSeed     = 20190301
	demoSubjects = 300
	demoTickets  = 900
	demoSpan     = 6 * 365 * day
	demoPrefix   = "d-"
)

// Demo inserts the demo data set: a French marketplace's support contacts
// over six years, with closed accounts, open disputes, two legal holds (DemoHoldTicket
// on a ticket, DemoHoldSubject on a subject), an objection, derived statistics and a few
// requests in the register. The support data is one transaction; the
// requests are opened after it, through the register.
func Demo(ctx context.Context, db *store.DB, bs blobs.Store, o DemoOptions) (Summary, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	g := newGen(demoSeed, o.Now, demoSpan, demoPrefix)
	if err := refuseIfPresent(ctx, db, "SELECT COUNT(*) FROM subjects WHERE user_id = ?", demoPrefix+"u0"); err != nil {
		return Summary{}, err
	}
	_, err := db.BulkLoad(ctx, func(b *store.Bulk) error {
		for i := 0; i < demoSubjects; i++ {
			g.subject(b, i)
		}
		for i := 0; i < demoTickets; i++ {
			g.ticket(b, i)
		}
		if err := g.flush(ctx, b, bs); err != nil {
			return err
		}
		g.sum.Subjects = b.Counts.Subjects
		tx := b.Tx()
		if err := g.demoExtras(ctx, tx); err != nil {
			return err
		}
		return audit(ctx, tx, "seed.demo", o.Now, g.sum)
	})
	if err != nil {
		g.cleanup(bs)
		return Summary{}, err
	}
	g.sum.Seed = demoSeed
	if o.Requests != nil {
		if err := g.demoRequests(ctx, db, o.Requests); err != nil {
			return g.sum, err
		}
	}
	return g.sum, nil
}

// The demo's hold ids, in the format of every hold id (store.NewHoldID: "H-"
// and 16 hex digits), fixed so that the demo data stays deterministic.
const (
	DemoHoldTicket  = "H-de30000000000001"
	DemoHoldSubject = "H-de30000000000002"
)

// demoExtras adds the legal holds, an objection and the derived statistics.
func (g *gen) demoExtras(ctx context.Context, tx *store.Tx) error {
	if len(g.oldTickets) == 0 || len(g.closedSubjects) == 0 {
		return fmt.Errorf("demo data: no ticket or subject old enough to hold (generator changed?)")
	}
	holds := []store.Hold{
		{HoldID: DemoHoldTicket, TicketID: store.NullString(g.oldTickets[0]),
			Reason: "Litige commercial en cours (tribunal de commerce de Paris, RG 2021/01234)", CreatedAt: store.Millis(g.now.Add(-400 * day))},
		{HoldID: DemoHoldSubject, UserID: store.NullString(g.closedSubjects[0]),
			Reason: "Réquisition judiciaire (enquête pour escroquerie)", CreatedAt: store.Millis(g.now.Add(-90 * day))},
	}
	for _, h := range holds {
		if err := store.AddHold(ctx, tx, h); err != nil {
			return fmt.Errorf("demo hold %s: %w", h.HoldID, err)
		}
		g.sum.LegalHolds++
	}
	// An objection to the statistics purpose.
	if _, err := store.AddObjection(ctx, tx, g.subjects[7].id, "statistics", store.Millis(g.now.Add(-200*day)), ""); err != nil {
		return fmt.Errorf("demo objection: %w", err)
	}
	g.sum.Objections++
	// Per-subject statistics, computed at different times (some older than
	// thirteen months).
	for i := 0; i < 60; i++ {
		s := g.subjects[i*5%len(g.subjects)]
		if s.id == g.subjects[7].id {
			continue
		}
		computed := g.between(g.now.Add(-2*365*day), g.now)
		if _, err := tx.Exec(ctx, `INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at)
			VALUES (?, ?, ?, ?)`, s.id, float64(600+g.rng.IntN(86400)), 1+g.rng.IntN(9), store.Millis(computed)); err != nil {
			return fmt.Errorf("demo subject stats: %w", err)
		}
		g.sum.SubjectStats++
	}
	// Per-agent daily statistics: one day a fortnight for each agent over
	// the six years.
	for d := g.now.Add(-demoSpan); d.Before(g.now); d = d.Add(14 * day) {
		for _, a := range agents {
			if _, err := tx.Exec(ctx, `INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at)
				VALUES (?, ?, ?, ?, ?, ?)`, a, d.Format("2006-01-02"), 5+g.rng.IntN(40), 3+g.rng.IntN(30),
				float64(900+g.rng.IntN(20000)), store.Millis(d.Add(day+2*time.Hour))); err != nil {
				return fmt.Errorf("demo agent stats: %w", err)
			}
			g.sum.AgentStats++
		}
	}
	return nil
}

// demoRequests opens a few requests in the register and closes the older
// ones as what they were: the old access and objection requests were answered
// before oubli kept the register (closed with --force and that reason), and
// the old erasure request was refused (its subject's data is still there).
func (g *gen) demoRequests(ctx context.Context, db *store.DB, reg Requests) error {
	reqs := []struct {
		typ     string
		subject int
		ago     time.Duration
		refuse  string // close as refused with this reason
		force   string // close as done, outside oubli, with this reason
	}{
		{"access", 11, 5 * day, "", ""},
		{"rectification", 23, 40 * day, "", ""}, // overdue unless extended
		{"erasure", 31, 2 * 365 * day, "Art. 17(3)(e) : commande en litige, données nécessaires à la défense de droits en justice ; le demandeur en a été informé", ""},
		{"access", 47, 3 * 365 * day, "", "Copie envoyée par courrier avant la tenue du registre dans oubli"},
		{"objection", 7, 200 * day, "", "Opposition aux statistiques enregistrée avant la tenue du registre dans oubli"},
	}
	for _, r := range reqs {
		subj, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: g.subjects[r.subject].id})
		if err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
		req, err := reg.Open(ctx, r.typ, subj, g.now.Add(-r.ago))
		if err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
		g.sum.DSRRequests++
		switch {
		case r.refuse != "":
			_, err = reg.Close(ctx, req.RequestID, true, r.refuse)
		case r.force != "":
			_, err = reg.ForceClose(ctx, req.RequestID, r.force)
		}
		if err != nil {
			return fmt.Errorf("demo request %s: %w", req.RequestID, err)
		}
	}
	return nil
}
