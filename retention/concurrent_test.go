package retention_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

// meddler is the engine, but the first time it decides tickets it lets a
// concurrent writer act: between the decision on a page and the
// transaction that applies it.
type meddler struct {
	*policies.Engine
	once  sync.Once
	write func()
}

func (m *meddler) Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error) {
	ds, err := m.Engine.Decide(ctx, at, recs)
	if len(recs) > 0 && recs[0].Category == policies.CatTickets {
		m.once.Do(m.write)
	}
	return ds, err
}

// TestChangedBetweenDecisionAndDeletion: a ticket put under a legal hold
// and a ticket reopened after their page was decided, before it is
// applied, are not deleted; the run reports them as changed and deletes
// exactly the others (a ticket of a later page reopened at the same time is
// simply decided as open).
func TestChangedBetweenDecisionAndDeletion(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		expired := nullMs(ago(6, 0, 0), true)
		w.subject(t, db, "u1", nullMs(0, false))
		for i := 1; i <= 6; i++ {
			w.ticket(t, db, fmt.Sprintf("T%d", i), "u1", "closed", "none", expired)
		}
		w.attachment(t, db, "A5", "T5")
		pol := &meddler{Engine: engine(t)}
		pol.write = func() {
			if _, err := retention.AddHold(ctx, db, retention.HoldSpec{TicketID: "T2", Reason: "late claim"}, T.Add(-time.Hour), "test"); err != nil {
				t.Errorf("add hold: %v", err)
			}
			w.exec(t, db, "UPDATE tickets SET status = 'open', closed_at = NULL WHERE ticket_id IN ('T1', 'T4')")
		}
		o := opts(w, 2) // pages T1 T2 | T3 T4 | T5 T6: the writer acts while T1 T2 are decided
		plan, err := retention.Plan(ctx, db, engine(t), o)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Delete["tickets"] != 6 {
			t.Fatalf("plan deletes %d tickets, want 6", plan.Delete["tickets"])
		}
		rep, err := retention.Run(ctx, db, pol, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(w.ids(t, "tickets", "ticket_id")); got != "[T1 T2 T4]" {
			t.Errorf("tickets left %s, want [T1 T2 T4]", got)
		}
		if got := fmt.Sprint(w.ids(t, "messages", "message_id")); got != "[T1-M0 T1-M1 T2-M0 T2-M1 T4-M0 T4-M1]" {
			t.Errorf("messages left %s", got)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM attachments"); n != 0 {
			t.Errorf("%d attachments left, want 0 (A5 expired a year after T5 closed)", n)
		}
		if rep.Changed != 2 || rep.Delete["tickets"] != 3 || rep.Delete["messages"] != 6 {
			t.Errorf("run: changed %d, tickets deleted %d, messages %d; want 2, 3, 6", rep.Changed, rep.Delete["tickets"], rep.Delete["messages"])
		}
		// The next plan sees them for what they are now.
		again, err := retention.Plan(ctx, db, engine(t), o)
		if err != nil {
			t.Fatal(err)
		}
		if again.Delete["tickets"] != 0 || again.KeptByHold["tickets"] != 1 {
			t.Errorf("next plan: delete %d, kept by hold %d; want 0, 1", again.Delete["tickets"], again.KeptByHold["tickets"])
		}
	})
}

// TestHoldCommittedDuringRunProtects (issue 18 item 1): a hold is in force
// from the moment it commits, whatever the run's --at. Holds placed after
// the run's evaluation time (the wall clock moved on during the run), one on
// a ticket and one on a subject, between the decision on a page and its
// deletion, keep their records; the run counts them as changed. A hold
// placed before the next page is decided keeps that page's record too.
func TestHoldCommittedDuringRunProtects(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		expired := nullMs(ago(6, 0, 0), true)
		w.subject(t, db, "u1", nullMs(0, false))
		w.subject(t, db, "u2", nullMs(0, false))
		for i := 1; i <= 6; i++ {
			w.ticket(t, db, fmt.Sprintf("T%d", i), "u1", "closed", "none", expired)
		}
		w.ticket(t, db, "T0", "u2", "closed", "none", expired)
		w.ticket(t, db, "T7", "u2", "closed", "none", expired)
		later := T.Add(90 * time.Second) // committed after the run's --at
		pol := &meddler{Engine: engine(t)}
		pol.write = func() {
			for _, s := range []retention.HoldSpec{{TicketID: "T1", Reason: "late claim"}, {UserID: "u2", Reason: "subject claim"}, {TicketID: "T5", Reason: "later page"}} {
				if _, err := retention.AddHold(ctx, db, s, later, "test"); err != nil {
					t.Errorf("add hold: %v", err)
				}
			}
		}
		o := opts(w, 2) // pages T0 T1 | T2 T3 | T4 T5 | T6 T7: the holds commit while T0 T1 are decided
		rep, err := retention.Run(ctx, db, pol, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(w.ids(t, "tickets", "ticket_id")); got != "[T0 T1 T5 T7]" {
			t.Errorf("tickets left %s, want [T0 T1 T5 T7]", got)
		}
		if rep.Changed != 2 || rep.Delete["tickets"] != 4 || rep.KeptByHold["tickets"] != 2 {
			t.Errorf("run: changed %d, tickets deleted %d, kept by hold %d; want 2, 4, 2", rep.Changed, rep.Delete["tickets"], rep.KeptByHold["tickets"])
		}
	})
}

// TestRunStopsWhenItsLockIsLost (issue 18 item 4): on PostgreSQL the
// run's lock is a session advisory lock. When its session is terminated
// during the run, a second run can take the lock; the first notices before
// its next batch commits and stops with ErrLockLost (outcome failed, not
// ok), so two runs never purge at once, and its record says so.
func TestRunStopsWhenItsLockIsLost(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("a file lock cannot be lost while its process lives")
		}
		ctx := context.Background()
		w := newWorld(t, db)
		expired := nullMs(ago(6, 0, 0), true)
		w.subject(t, db, "u1", nullMs(0, false))
		for i := 1; i <= 6; i++ {
			w.ticket(t, db, fmt.Sprintf("T%d", i), "u1", "closed", "none", expired)
		}
		var second *retention.Report
		var secondErr error
		pol := &meddler{Engine: engine(t)}
		pol.write = func() {
			w.exec(t, db, "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND mode = 'ExclusiveLock' AND pid <> pg_backend_pid()")
			o2 := opts(w, 2)
			second, secondErr = retention.Run(ctx, db, engine(t), o2)
		}
		first, err := retention.Run(ctx, db, pol, opts(w, 2))
		if !errors.Is(err, store.ErrLockLost) {
			t.Fatalf("first run: err %v, want ErrLockLost", err)
		}
		if secondErr != nil || second.Outcome != "ok" {
			t.Fatalf("second run: %v", secondErr)
		}
		if first.Outcome != "failed" || first.Delete["tickets"] != 0 {
			t.Errorf("first run: outcome %s, deleted %d tickets; want failed, 0 (the second run deleted them)", first.Outcome, first.Delete["tickets"])
		}
		var outcome string
		if err := db.Get(ctx, &outcome, "SELECT outcome FROM retention_runs WHERE run_id = ?", first.RunID); err != nil {
			t.Fatal(err)
		}
		if outcome != "failed" {
			t.Errorf("first run recorded as %q, want failed", outcome)
		}
	})
}

// TestIngestDuringSubjectsPhaseIsChanged (issue 18 item 5): a ticket
// ingested for a subject the run is about to delete, committed while the run
// waits for that subject's row, is a change during the run: the subject is
// left alone and counted in changed_during_run, never reported as a broken
// policy. (On SQLite a run's batch and an ingest cannot interleave.)
func TestIngestDuringSubjectsPhaseIsChanged(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite has one writer at a time")
		}
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, db, "u1", nullMs(ago(4, 0, 0), true))
		w.subject(t, db, "u2", nullMs(ago(4, 0, 0), true))
		w.ticket(t, db, "T1", "u1", "closed", "none", nullMs(ago(6, 0, 0), true))
		// An ingest in flight: its new ticket for u1 is not yet committed.
		ing, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ing.Rollback()
		if _, err := ing.ExecContext(ctx, "INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, dispute_status, created_at) VALUES ('T9', 'u1', 'REQ', 's', 'd', 'open', 'none', $1)", ms(T)); err != nil {
			t.Fatal(err)
		}
		type res struct {
			rep *retention.Report
			err error
		}
		done := make(chan res, 1)
		go func() {
			rep, err := retention.Run(ctx, db, engine(t), opts(w, 10))
			done <- res{rep, err}
		}()
		// Commit the ingest once the run waits for u1's row.
		for waiting := 0; waiting == 0; {
			if err := db.Get(ctx, &waiting, "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM subjects s%'"); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				t.Fatalf("the run ended without waiting for the ingest: %+v %v", r.rep, r.err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if err := ing.Commit(); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("run: %v", r.err)
		}
		if r.rep.Changed != 1 || r.rep.Delete["subjects"] != 1 {
			t.Errorf("changed %d, subjects deleted %d; want 1, 1", r.rep.Changed, r.rep.Delete["subjects"])
		}
		if got := fmt.Sprint(w.ids(t, "subjects", "user_id")); got != "[u1]" {
			t.Errorf("subjects left %s, want [u1]", got)
		}
	})
}

// TestValveHoldsDuringRun (issue 16 item 3): the safety valve holds for
// what the run does, not only for its plan. A writer that makes most
// account events expire after the plan passed the valve (as a concurrent
// stats refresh did with agent statistics) does not get them deleted: the
// run stops before the batch that would exceed the limit, with outcome
// refused and the valve's reason recorded; what it deleted is within the
// limit.
func TestValveHoldsDuringRun(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, db, "u1", nullMs(0, false))
		w.ticket(t, db, "T1", "u1", "closed", "none", nullMs(ago(1, 0, 0), true))
		for i := 0; i < 20; i++ {
			at := ago(1, 0, 0)
			if i < 2 {
				at = ago(4, 0, 0)
			}
			w.exec(t, db, "INSERT INTO account_events (event_id, user_id, type, at) VALUES (?, 'u1', 'login', ?)", fmt.Sprintf("E%02d", i), at)
		}
		o := opts(w, 2)
		o.AllowLarge, o.Workers = false, 1
		var once sync.Once
		spy := &decideHook{Policy: engine(t), hook: func(cat string) {
			// The run's first page (not a plan's: a run checks its valve
			// before it starts, by a plan only when it must).
			if cat == policies.CatAccountEvents && count(t, db, "SELECT COUNT(*) FROM retention_runs WHERE outcome = 'running'") > 0 {
				once.Do(func() { w.exec(t, db, "UPDATE account_events SET at = ?", ago(4, 0, 0)) })
			}
		}}
		rep, err := retention.Run(ctx, db, spy, o)
		if !errors.Is(err, retention.ErrSafetyValve) {
			t.Fatalf("run: err %v, want the safety valve", err)
		}
		left := count(t, db, "SELECT COUNT(*) FROM account_events")
		if rep.Outcome != "refused" || left < 15 || 20-left != rep.Delete["account_events"] {
			t.Errorf("outcome %s, %d events left, %d reported deleted; want refused, at least 15 left (25%% of 20), the report exact", rep.Outcome, left, rep.Delete["account_events"])
		}
		var outcome, counts string
		if err := db.Get(ctx, &outcome, "SELECT outcome FROM retention_runs WHERE run_id = ?", rep.RunID); err != nil {
			t.Fatal(err)
		}
		if err := db.Get(ctx, &counts, "SELECT counts FROM retention_runs WHERE run_id = ?", rep.RunID); err != nil {
			t.Fatal(err)
		}
		if outcome != "refused" || !strings.Contains(counts, `"during_run":true`) {
			t.Errorf("recorded %s %s; want refused with the valve's figures", outcome, counts)
		}
	})
}

// decideHook calls hook with the category of every decision.
type decideHook struct {
	retention.Policy
	hook func(cat string)
}

func (d *decideHook) Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error) {
	if len(recs) > 0 {
		d.hook(recs[0].Category)
	}
	return d.Policy.Decide(ctx, at, recs)
}
