package retention_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

// subjectSpy counts the records decided at the run's own time (not the
// settling probes ahead of it), by id, and can pose as another policy
// revision. onDecide, when set, runs before a decision at the run's time.
type subjectSpy struct {
	retention.Policy
	at  time.Time
	rev string
	mu  sync.Mutex
	n   map[string]int // record id -> decisions

	onDecide func(recs []policies.Record)
}

func (s *subjectSpy) Revision() string {
	if s.rev != "" {
		return s.rev
	}
	return s.Policy.Revision()
}

func (s *subjectSpy) Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error) {
	if at.Equal(s.at) {
		s.mu.Lock()
		for _, r := range recs {
			s.n[r.ID]++
		}
		f := s.onDecide
		s.mu.Unlock()
		if f != nil {
			f(recs)
		}
	}
	return s.Policy.Decide(ctx, at, recs)
}

// decided runs retention at `at` (plan when dry) and returns how many times
// each subject was decided.
func (s *subjectSpy) decided(t *testing.T, db *store.DB, w *world, at time.Time, dry bool) map[string]int {
	t.Helper()
	s.mu.Lock()
	s.at, s.n = at, map[string]int{}
	s.mu.Unlock()
	o := opts(w, 50)
	o.At = at
	var err error
	if dry {
		_, err = retention.Plan(context.Background(), db, s, o)
	} else {
		_, err = retention.Run(context.Background(), db, s, o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.n
}

// TestSettledSubjects (issue 11 item 7): a finished subject (account closed
// long ago, anonymised, tickets kept) is not decided again night after
// night; it is decided again when its facts change, when the policy
// revision changes, when its recheck time has come, and never settled
// under a legal hold.
func TestSettledSubjects(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		// u1: closed 4 years ago, a ticket closed a year ago (kept four more
		// years): anonymised, then kept. u2: the same, under a legal hold.
		// u3: account open (not even a candidate).
		for _, u := range []string{"u1", "u2"} {
			w.subject(t, db, u, nullMs(ago(4, 0, 0), true))
			w.ticket(t, db, "T-"+u, u, "closed", "none", nullMs(ago(1, 0, 0), true))
		}
		w.hold(t, db, "H2", "", "u2", ago(0, 1, 0), nullMs(0, false), nullMs(0, false))
		w.subject(t, db, "u3", nullMs(0, false))
		spy := &subjectSpy{Policy: engine(t)}
		night := func(n int) time.Time { return T.AddDate(0, 0, n) }

		if got := spy.decided(t, db, w, night(0), false); got["u1"] != 1 || got["u2"] != 1 {
			t.Fatalf("first run decided %v; want u1 and u2 once", got)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM subjects WHERE anonymized_at IS NOT NULL"); n != 1 {
			t.Fatalf("%d subjects anonymised, want u1", n)
		}
		// Anonymised, u1 is kept now: decided once more, then settled.
		if got := spy.decided(t, db, w, night(1), false); got["u1"] != 1 {
			t.Fatalf("second run decided %v; want u1 once", got)
		}
		for _, dry := range []bool{false, true} {
			if got := spy.decided(t, db, w, night(2), dry); got["u1"] != 0 || got["u2"] != 1 {
				t.Fatalf("dry %v: settled u1 decided again, or held u2 not: %v", dry, got)
			}
		}

		// A new policy revision decides every subject again, then settles
		// under its own key.
		spy.rev = "sha256:another-revision"
		if got := spy.decided(t, db, w, night(3), false); got["u1"] != 1 {
			t.Fatalf("new policy revision: decided %v; want u1 again", got)
		}
		if got := spy.decided(t, db, w, night(4), false); got["u1"] != 0 {
			t.Fatalf("settled under the new revision: decided %v", got)
		}
		spy.rev = ""
		if got := spy.decided(t, db, w, night(5), false); got["u1"] != 1 {
			t.Fatalf("back to the first revision: decided %v; want u1 again (its memo was replaced)", got)
		}

		// Facts change: an account event, a ticket, a hold, the account's
		// dates. Each is decided again once, then settled again.
		changes := []string{
			"INSERT INTO account_events (event_id, user_id, type, at) VALUES ('E1', 'u1', 'login', " + itoa64(ago(0, 2, 0)) + ")",
			"UPDATE tickets SET dispute_status = 'resolved' WHERE ticket_id = 'T-u1'",
			"INSERT INTO legal_holds (hold_id, ticket_id, reason, created_at, released_at) VALUES ('H1', 'T-u1', 'x', 0, 1)",
			"UPDATE subjects SET account_closed_at = account_closed_at - 1 WHERE user_id = 'u1'",
			"DELETE FROM account_events WHERE event_id = 'E1'",
		}
		for k, c := range changes {
			w.exec(t, db, c)
			if got := spy.decided(t, db, w, night(6+2*k), false); got["u1"] != 1 {
				t.Fatalf("after %q: decided %v; want u1 again", c, got)
			}
			if got := spy.decided(t, db, w, night(7+2*k), false); got["u1"] != 0 {
				t.Fatalf("after %q, settled again: decided %v", c, got)
			}
		}

		// Time alone: the ticket is kept until 5 years after its closure;
		// the subject is decided again before that, and deleted with it.
		var recheck int64
		if err := db.Get(context.Background(), &recheck, "SELECT retention_recheck_at FROM subjects WHERE user_id = 'u1'"); err != nil {
			t.Fatal(err)
		}
		if expires := store.FromMillis(ago(1, 0, 0)).AddDate(5, 0, 0); !store.FromMillis(recheck).Before(expires) {
			t.Fatalf("settled until %s, after the ticket expires (%s)", store.FromMillis(recheck), expires)
		}
		if got := spy.decided(t, db, w, store.FromMillis(recheck), false); got["u1"] != 1 {
			t.Fatalf("at its recheck time: decided %v; want u1 again", got)
		}
		late := store.FromMillis(ago(1, 0, 0)).AddDate(5, 0, 2)
		if got := spy.decided(t, db, w, late, false); got["u1"] != 1 {
			t.Fatalf("at %s: decided %v; want u1 again", late, got)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM subjects WHERE user_id = 'u1'"); n != 0 {
			t.Errorf("u1 not deleted once its ticket expired")
		}
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// recCounter counts the records decided per category at the run's time.
type recCounter struct {
	retention.Policy
	at time.Time // zero: T
	mu sync.Mutex
	n  map[string]int
}

func (c *recCounter) Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error) {
	when := c.at
	if when.IsZero() {
		when = T
	}
	if at.Equal(when) && len(recs) > 0 {
		c.mu.Lock()
		c.n[recs[0].Category] += len(recs)
		c.mu.Unlock()
	}
	return c.Policy.Decide(ctx, at, recs)
}

// TestValveWithoutPlanPass (issue 11 item 7): a run within the safety
// valve's limits decides each candidate once (no plan pass before it); a run
// whose candidates exceed a limit is planned, for that category only, and
// refused with nothing deleted.
func TestValveWithoutPlanPass(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, db, "u1", nullMs(0, false))
		for i := 0; i < 20; i++ {
			closed := ago(1, 0, 0)
			if i < 2 {
				closed = ago(6, 0, 0)
			}
			w.ticket(t, db, "T"+strconv.Itoa(100+i), "u1", "closed", "none", nullMs(closed, true))
		}
		spy := &recCounter{Policy: engine(t), n: map[string]int{}}
		o := opts(w, 5)
		o.AllowLarge = false
		rep, err := retention.Run(context.Background(), db, spy, o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Delete["tickets"] != 2 || spy.n["tickets"] != 2 {
			t.Fatalf("deleted %d tickets, decided %d; want 2 deleted, each decided once", rep.Delete["tickets"], spy.n["tickets"])
		}

		// Most of what is left expires: refused before anything is
		// deleted, after a plan of the tickets only.
		w.exec(t, db, "UPDATE tickets SET closed_at = ?", ago(6, 0, 0))
		before := w.snapshot(t, false)
		spy.n = map[string]int{}
		_, err = retention.Run(context.Background(), db, spy, o)
		var verr *retention.ValveError
		if !errors.As(err, &verr) || verr.During || verr.Category != "tickets" || verr.Count != 18 || verr.Total != 18 {
			t.Fatalf("err %v; want the valve, before the run, on 18 of 18 tickets", err)
		}
		if spy.n["tickets"] != 18 || len(spy.n) != 1 {
			t.Errorf("planned %v; want the 18 tickets only", spy.n)
		}
		if after := w.snapshot(t, false); after != before {
			t.Error("a refused run changed the store")
		}
	})
}

// TestSettledAgentDays (issue 11 item 7): an anonymised agent day, kept
// until its final period, is not decided again every night; a change to
// its day decides it again, and its final period deletes it.
func TestSettledAgentDays(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.exec(t, db, `INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at)
			VALUES (NULL, ?, 1, 1, 60, 0, 1)`, T.AddDate(-2, 0, 0).Format("2006-01-02"))
		spy := &recCounter{Policy: engine(t)}
		run := func(at time.Time) int {
			t.Helper()
			spy.mu.Lock()
			spy.n = map[string]int{}
			spy.mu.Unlock()
			o := opts(w, 10)
			o.At = at // the valve would plan this one-row table first
			spy.at = at
			if _, err := retention.Run(context.Background(), db, spy, o); err != nil {
				t.Fatal(err)
			}
			return spy.n[policies.CatAgentStats]
		}
		if n := run(T); n != 1 {
			t.Fatalf("first run decided %d agent days, want 1", n)
		}
		if n := run(T.AddDate(0, 0, 1)); n != 0 {
			t.Fatalf("settled agent day decided again (%d)", n)
		}
		w.exec(t, db, "UPDATE agent_stats SET day = ?", T.AddDate(-2, 0, -1).Format("2006-01-02"))
		if n := run(T.AddDate(0, 0, 2)); n != 1 {
			t.Fatalf("agent day changed: decided %d, want 1", n)
		}
		if n := run(T.AddDate(3, 1, 0)); n != 1 || count(t, db, "SELECT COUNT(*) FROM agent_stats") != 0 {
			t.Fatalf("past its final period: decided %d, %d rows left; want it decided and deleted", n, count(t, db, "SELECT COUNT(*) FROM agent_stats"))
		}
	})
}

// TestAttachmentClosureFollowsTicket (issue 11 item 7): the attachments'
// pre-filter reads their ticket's closure copied onto them (migration
// 00172); the copy follows the ticket's closure, set, changed or cleared
// after the attachment was stored.
func TestAttachmentClosureFollowsTicket(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, db, "u1", nullMs(0, false))
		w.ticket(t, db, "T1", "u1", "open", "none", nullMs(0, false))
		w.ticket(t, db, "T2", "u1", "closed", "none", nullMs(ago(2, 0, 0), true))
		w.attachment(t, db, "A1", "T1")
		w.attachment(t, db, "A2", "T2")
		// T1 closes two years ago, T2 reopens: A1 expires, A2 does not.
		w.exec(t, db, "UPDATE tickets SET status = 'closed', closed_at = ? WHERE ticket_id = 'T1'", ago(2, 0, 0))
		w.exec(t, db, "UPDATE tickets SET status = 'open', closed_at = NULL WHERE ticket_id = 'T2'")
		if _, err := retention.Run(context.Background(), db, engine(t), opts(w, 10)); err != nil {
			t.Fatal(err)
		}
		if got := w.ids(t, "attachments", "attachment_id"); len(got) != 1 || got[0] != "A2" {
			t.Fatalf("attachments left %v, want [A2]", got)
		}
		differs := "a.ticket_closed_at IS NOT t.closed_at"
		if db.Dialect() == store.Postgres {
			differs = "a.ticket_closed_at IS DISTINCT FROM t.closed_at"
		}
		if n := count(t, db, "SELECT COUNT(*) FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE "+differs); n != 0 {
			t.Fatalf("%d attachments whose copied closure differs from their ticket's", n)
		}
	})
}

// TestSettledDisputedTickets (issue 11 item 7): a ticket past its period
// kept because its transaction dispute is open, and its attachment, are
// not read and decided again night after night (nor counted by the safety
// valve); a change to what their decision rests on decides them again,
// and the dispute's resolution deletes them. A ticket under a legal hold is
// never settled.
func TestSettledDisputedTickets(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, db, "u1", nullMs(0, false))
		w.subject(t, db, "u2", nullMs(0, false))
		six := nullMs(ago(6, 0, 0), true)
		w.ticket(t, db, "TD", "u1", "closed", "open", six) // kept: dispute
		w.attachment(t, db, "AD", "TD")
		w.ticket(t, db, "TH", "u2", "closed", "open", six) // kept: dispute, and a hold
		w.hold(t, db, "H2", "TH", "", ago(0, 1, 0), nullMs(0, false), nullMs(0, false))
		w.ticket(t, db, "TN", "u1", "closed", "none", six) // expired
		spy := &subjectSpy{Policy: engine(t)}
		night := func(n int) time.Time { return T.AddDate(0, 0, n) }
		decided := func(n int, dry bool) map[string]int {
			t.Helper()
			return spy.decided(t, db, w, night(n), dry)
		}

		if got := decided(0, false); got["TD"] != 1 || got["AD"] != 1 || got["TH"] != 1 || got["TN"] != 1 {
			t.Fatalf("first run decided %v; want TD, AD, TH and TN once", got)
		}
		if got := w.ids(t, "tickets", "ticket_id"); len(got) != 2 || got[0] != "TD" || got[1] != "TH" {
			t.Fatalf("tickets left %v, want [TD TH]", got)
		}
		for _, dry := range []bool{false, true} {
			if got := decided(1, dry); got["TD"] != 0 || got["AD"] != 0 || got["TH"] != 1 {
				t.Fatalf("dry %v: settled TD/AD decided again, or held TH not: %v", dry, got)
			}
		}
		// Skipped, they are still reported kept by their rule, and by a hold
		// (adversarial pass 6, F5), the same in a plan and a run, and the
		// same as a full plan that decides them again.
		var reps []*retention.Report
		for _, mode := range []string{"plan", "run", "full"} {
			o := opts(w, 50)
			o.At, o.Full = night(1), mode == "full"
			var rep *retention.Report
			var err error
			if mode == "run" {
				rep, err = retention.Run(ctx, db, engine(t), o)
			} else {
				rep, err = retention.Plan(ctx, db, engine(t), o)
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.KeptByHold["tickets"] != 2 || rep.KeptByHold["attachments"] != 1 ||
				rep.Rules["tickets.open_dispute"] == nil || rep.Rules["tickets.open_dispute"].Count != 1 || rep.Rules["tickets.open_dispute"].Held != 1 {
				t.Fatalf("%s: kept by hold %v, rules %s; want TD (dispute) and TH (hold) kept, AD kept", mode, rep.KeptByHold, counts(rep))
			}
			reps = append(reps, rep)
		}
		if a, b, c := counts(reps[0]), counts(reps[1]), counts(reps[2]); a != b || a != c {
			t.Fatalf("plan, run and full plan disagree:\nplan %s\nrun  %s\nfull %s", a, b, c)
		}
		// A full plan decides them again, and reports them kept by their rule.
		spy.mu.Lock()
		spy.at, spy.n = night(1), map[string]int{}
		spy.mu.Unlock()
		o := opts(w, 50)
		o.At, o.Full = night(1), true
		rep, err := retention.Plan(ctx, db, spy, o)
		if err != nil {
			t.Fatal(err)
		}
		if spy.n["TD"] != 1 || spy.n["AD"] != 1 || rep.Rules["tickets.open_dispute"] == nil || rep.Rules["tickets.open_dispute"].Count != 1 {
			t.Fatalf("full plan decided %v, rules %v; want TD and AD decided, TD kept by tickets.open_dispute", spy.n, rep.Rules)
		}
		// The safety valve counts neither them nor their messages.
		cuts, err := engine(t).Candidates(ctx, night(2))
		if err != nil {
			t.Fatal(err)
		}
		scuts := map[string]store.Cutoff{}
		for c, v := range cuts {
			scuts[c] = store.Cutoff{Column: v.Column, Before: v.Before, NullIsCandidate: v.NullIsCandidate}
		}
		key := &store.SettledKey{Revision: settledKey(t, db, "tickets", "TD"), At: ms(night(2))}
		b, err := store.CandidateBounds(ctx, db, scuts, key)
		if err != nil {
			t.Fatal(err)
		}
		if b["tickets"] != 1 || b["messages"] != 2 || b["attachments"] != 0 {
			t.Fatalf("bounds %v; want only TH (1 ticket, 2 messages, no attachment)", b)
		}

		// Re-ingested unchanged: still settled.
		var tk store.Ticket
		if err := db.Get(ctx, &tk, "SELECT ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at, restricted FROM tickets WHERE ticket_id = 'TD'"); err != nil {
			t.Fatal(err)
		}
		if err := store.UpsertTickets(ctx, db, []store.Ticket{tk}); err != nil {
			t.Fatal(err)
		}
		if got := decided(2, false); got["TD"] != 0 || got["AD"] != 0 {
			t.Fatalf("re-ingested unchanged: decided %v", got)
		}

		// Each change decides what rests on it again, once, then settles it
		// again (a hold: decided while it lasts, settled once it is gone).
		changes := []struct {
			sql     string
			decided []string
			held    bool // a hold in force after it: decided every night
		}{
			{"UPDATE tickets SET created_at = created_at - 1 WHERE ticket_id = 'TD'", []string{"TD"}, false},
			{"UPDATE attachments SET uploaded_at = uploaded_at - 1 WHERE attachment_id = 'AD'", []string{"AD"}, false},
			{"UPDATE tickets SET closed_at = closed_at - 1 WHERE ticket_id = 'TD'", []string{"TD", "AD"}, false},
			{"UPDATE tickets SET user_id = 'u2' WHERE ticket_id = 'TD'", []string{"TD", "AD"}, false},
			{"INSERT INTO legal_holds (hold_id, user_id, reason, created_at) VALUES ('H1', 'u2', 'x', 0)", []string{"TD", "AD"}, true},
			{"DELETE FROM legal_holds WHERE hold_id = 'H1'", []string{"TD", "AD"}, false},
			{"INSERT INTO legal_holds (hold_id, ticket_id, reason, created_at) VALUES ('H3', 'TD', 'x', 0)", []string{"TD", "AD"}, true},
			{"UPDATE legal_holds SET released_at = " + itoa64(ago(0, 0, 1)) + " WHERE hold_id = 'H3'", []string{"TD", "AD"}, false},
		}
		n := 3
		for _, c := range changes {
			w.exec(t, db, c.sql)
			got := decided(n, false)
			for _, id := range []string{"TD", "AD"} {
				want := 0
				for _, d := range c.decided {
					if d == id {
						want = 1
					}
				}
				if got[id] != want {
					t.Fatalf("after %q: %s decided %d times, want %d (%v)", c.sql, id, got[id], want, got)
				}
			}
			if got := decided(n+1, false); c.held && (got["TD"] != 1 || got["AD"] != 1) {
				t.Fatalf("after %q, under a hold: decided %v; want TD and AD again", c.sql, got)
			} else if !c.held && (got["TD"] != 0 || got["AD"] != 0) {
				t.Fatalf("after %q, settled again: decided %v", c.sql, got)
			}
			n += 2
		}

		// The dispute is resolved: both are decided, and deleted.
		w.exec(t, db, "UPDATE tickets SET dispute_status = 'resolved' WHERE ticket_id = 'TD'")
		if got := decided(n, false); got["TD"] != 1 || got["AD"] != 1 {
			t.Fatalf("dispute resolved: decided %v; want TD and AD", got)
		}
		if got := w.ids(t, "tickets", "ticket_id"); len(got) != 1 || got[0] != "TH" {
			t.Fatalf("tickets left %v, want [TH]", got)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM attachments"); n != 0 {
			t.Fatalf("%d attachments left, want none", n)
		}
	})
}

// TestSettleRaceWithResolution: a dispute resolved while the run decides
// its ticket (decided keep, on the open dispute) is not settled as kept:
// the batch re-reads the ticket with its row locked before writing the
// memo, and the next run deletes it.
func TestSettleRaceWithResolution(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, db, "u1", nullMs(0, false))
		w.ticket(t, db, "TD", "u1", "closed", "open", nullMs(ago(6, 0, 0), true))
		w.attachment(t, db, "AD", "TD")
		spy := &subjectSpy{Policy: engine(t)}
		var once sync.Once
		spy.onDecide = func(recs []policies.Record) {
			for _, r := range recs {
				if r.ID == "TD" {
					once.Do(func() {
						w.exec(t, db, "UPDATE tickets SET dispute_status = 'resolved' WHERE ticket_id = 'TD'")
					})
				}
			}
		}
		if got := spy.decided(t, db, w, T, false); got["TD"] != 1 || got["AD"] != 1 {
			t.Fatalf("decided %v; want TD and AD", got)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM tickets"); n != 1 {
			t.Fatalf("%d tickets, want TD kept by the run that decided it on its open dispute", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM tickets WHERE retention_settled IS NOT NULL"); n != 0 {
			t.Fatalf("%d tickets settled after their dispute was resolved during the run", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM attachments WHERE retention_settled IS NOT NULL"); n != 0 {
			t.Fatalf("%d attachments settled after their dispute was resolved during the run", n)
		}
		spy.onDecide = nil
		if got := spy.decided(t, db, w, T.AddDate(0, 0, 1), false); got["TD"] != 1 || got["AD"] != 1 {
			t.Fatalf("next run decided %v; want TD and AD again", got)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM tickets"); n != 0 {
			t.Fatalf("%d tickets left, want TD deleted once its dispute is resolved", n)
		}
	})
}

// settledKey returns the memo key a record of a settled table carries.
func settledKey(t *testing.T, db *store.DB, table, id string) int64 {
	t.Helper()
	key := map[string]string{"tickets": "ticket_id", "attachments": "attachment_id"}[table]
	var k sql.NullInt64
	if err := db.Get(context.Background(), &k, "SELECT retention_settled FROM "+table+" WHERE "+key+" = ?", id); err != nil {
		t.Fatal(err)
	}
	if !k.Valid {
		t.Fatalf("%s %s is not settled", table, id)
	}
	return k.Int64
}

// TestPlanEqualsRunWithSettledSubjects (adversarial pass 6, F2): a run that
// deletes a settled subject's expired ticket clears the subject's memo and
// decides the subject again; the plan at the same time decides it too, so
// both report the same counts, rule by rule.
func TestPlanEqualsRunWithSettledSubjects(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		// u1: account closed 4 years ago; T1 kept 4 more years, T2 expires
		// in 3 days. u2: the same without an expiring ticket.
		w.subject(t, db, "u1", nullMs(ago(4, 0, 0), true))
		w.ticket(t, db, "T1", "u1", "closed", "none", nullMs(ago(1, 0, 0), true))
		w.ticket(t, db, "T2", "u1", "closed", "none", nullMs(ago(5, 0, -3), true))
		w.subject(t, db, "u2", nullMs(ago(4, 0, 0), true))
		w.ticket(t, db, "T3", "u2", "closed", "none", nullMs(ago(1, 0, 0), true))
		spy := &subjectSpy{Policy: engine(t)}
		for n := 0; n < 2; n++ { // anonymise, then settle
			spy.decided(t, db, w, T.AddDate(0, 0, n), false)
		}
		if got := spy.decided(t, db, w, T.AddDate(0, 0, 2), true); got["u1"] != 0 || got["u2"] != 0 {
			t.Fatalf("subjects not settled: plan decided %v", got)
		}
		at := T.AddDate(0, 0, 4)
		o := opts(w, 50)
		o.At = at
		spy.mu.Lock()
		spy.at, spy.n = at, map[string]int{}
		spy.mu.Unlock()
		plan, err := retention.Plan(ctx, db, spy, o)
		if err != nil {
			t.Fatal(err)
		}
		if spy.n["u1"] != 1 || spy.n["u2"] != 0 {
			t.Errorf("plan decided %v; want u1 (its ticket T2 expires) and not u2", spy.n)
		}
		run, err := retention.Run(ctx, db, spy, o)
		if err != nil {
			t.Fatal(err)
		}
		if p, r := counts(plan), counts(run); p != r {
			t.Fatalf("plan and run disagree:\nplan %s\nrun  %s", p, r)
		}
		// u1 decided again and reported kept; u2 skipped as settled (kept by
		// no hold: only a full plan counts it).
		if run.Delete["tickets"] != 1 || run.Rules["subjects.anonymized"] == nil || run.Rules["subjects.anonymized"].Count != 1 {
			t.Fatalf("run: %s; want T2 deleted and u1 reported kept (anonymised)", counts(run))
		}
	})
}
