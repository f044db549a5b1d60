package retention_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/internal/tests3"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func opts(w *world, batch int) retention.Options {
	return retention.Options{At: T, BatchSize: batch, AllowLarge: true, Blobs: w.bs}
}

// counts strips a report to what plan and run must agree on.
func counts(r *retention.Report) string {
	rules := map[string]string{}
	for id, rc := range r.Rules {
		rules[id] = fmt.Sprintf("%s/%s/%d/%d", rc.Category, rc.Action, rc.Count, rc.Held)
	}
	return fmt.Sprint(r.Delete, r.Anonymize, r.KeptByHold, r.Total, rules)
}

// fullScan is the engine without its SQL pre-filters: every record of
// every category is decided.
type fullScan struct{ *policies.Engine }

func (fullScan) Candidates(context.Context, time.Time) (map[string]policies.Cutoff, error) {
	return map[string]policies.Cutoff{}, nil
}

// TestPlanEqualsRunAndExpectation: on random data (several seeds, both
// backends, small batches) plan at T and run at T agree exactly, the run
// leaves exactly the records an independent oracle (every record decided
// in one evaluation, no batching, no cascades) says survive, and a second
// run changes nothing. It runs with every record scanned (the pipeline
// alone) and with the engine's SQL pre-filters (the pipeline and the
// policies' cutoffs together).
func TestPlanEqualsRunAndExpectation(t *testing.T) {
	for _, pol := range []struct {
		name string
		p    retention.Policy
	}{{"full-scan", fullScan{engine(t)}}, {"cutoffs", engine(t)}} {
		t.Run(pol.name, func(t *testing.T) { planRunOracle(t, pol.p) })
	}
}

func planRunOracle(t *testing.T, pol retention.Policy) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		for _, seed := range []uint64{1, 2, 3} {
			// The blob contents on the directory and on a versioned bucket.
			kind := tests3.Kinds[int(seed)%len(tests3.Kinds)]
			t.Run(fmt.Sprint("seed", seed, "-", kind), func(t *testing.T) {
				ctx := context.Background()
				clean(t, db)
				w := newWorldOn(t, db, kind)
				w.random(t, seed, 120)
				want := oracle(t, w, engine(t))
				batch := []int{7, 50, 5000}[seed%3]
				// Concurrent batch transactions (PostgreSQL): 4 at once
				// over pages of 7 records, 2 over 50s, 1 over one page.
				o := opts(w, batch)
				o.Workers = []int{2, 4, 1}[seed%3]
				plan, err := retention.Plan(ctx, db, pol, o)
				if err != nil {
					t.Fatal(err)
				}
				if plan.Total == 0 || plan.Delete["tickets"] == 0 || plan.Anonymize["subjects"]+plan.Delete["subjects"] == 0 || plan.KeptByHold["tickets"] == 0 {
					t.Fatalf("fixture too tame to prove anything: %s", counts(plan))
				}
				run, err := retention.Run(ctx, db, pol, o)
				if err != nil {
					t.Fatal(err)
				}
				if counts(plan) != counts(run) {
					t.Errorf("plan != run\nplan %s\nrun  %s", counts(plan), counts(run))
				}
				if run.Outcome != "ok" || run.RunID == "" {
					t.Errorf("outcome %q run id %q", run.Outcome, run.RunID)
				}
				want.check(t, w)
				if n := count(t, db, "SELECT COUNT(*) FROM blob_deletions"); n != 0 {
					t.Errorf("%d blobs still queued after the run", n)
				}
				// Exactly the contents of the surviving attachments remain.
				var onDisk []string
				if err := w.bs.Walk(ctx, func(k string) error { onDisk = append(onDisk, k); return nil }); err != nil {
					t.Fatal(err)
				}
				sort.Strings(onDisk)
				if kept := w.ids(t, "attachments", "blob_key"); fmt.Sprint(onDisk) != fmt.Sprint(kept) {
					t.Errorf("blob contents after the run: %d on disk, %d attachments left, or other keys", len(onDisk), len(kept))
				}
				if run.BlobsDeleted == 0 {
					t.Errorf("the run removed no blob contents")
				}
				again, err := retention.Run(ctx, db, pol, opts(w, batch))
				if err != nil {
					t.Fatal(err)
				}
				if again.Total != 0 {
					t.Errorf("second run changed %d records: %s", again.Total, counts(again))
				}
				if _, err := db.VerifyAudit(ctx); err != nil {
					t.Errorf("audit chain after runs: %v", err)
				}
			})
		}
	})
}

func count(t testing.TB, q store.Querier, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := q.Get(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func clean(t *testing.T, db *store.DB) {
	for _, tb := range []string{"attachments", "messages", "tickets", "account_events", "subject_stats", "objections", "subjects",
		"agent_stats", "dsr_actions", "dsr_requests", "legal_holds", "blob_deletions", "retention_runs", "audit_anchor"} {
		if _, err := db.Exec(context.Background(), "DELETE FROM "+tb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(context.Background(), "DELETE FROM audit_log"); err != nil {
		t.Fatal(err)
	}
}

// expectation is what must survive, per table.
type expectation map[string][]string

func (e expectation) check(t *testing.T, w *world) {
	t.Helper()
	keys := map[string]string{"tickets": "ticket_id", "messages": "message_id", "attachments": "attachment_id", "subjects": "user_id",
		"account_events": "event_id", "subject_stats": "user_id", "dsr_requests": "request_id", "legal_holds": "hold_id",
		"objections": "user_id", "agent_stats": "id", "anonymized_subjects": "user_id", "named_agent_stats": "id"}
	for table, want := range e {
		q := table
		switch table {
		case "anonymized_subjects":
			q = "subjects"
		case "named_agent_stats":
			q = "agent_stats"
		}
		var got []string
		query := "SELECT " + keys[table] + " FROM " + q
		switch table {
		case "anonymized_subjects":
			query += " WHERE anonymized_at IS NOT NULL AND email LIKE 'anonymised-%@invalid' AND pseudo = 'anonymised'"
		case "named_agent_stats":
			query += " WHERE agent_id IS NOT NULL"
		}
		if err := w.db.Select(context.Background(), &got, query); err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		sort.Strings(want)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d survive, want %d\n got %v\nwant %v", table, len(got), len(want), got, want)
		}
	}
}

// oracle computes, from every row of the store and one policy evaluation
// per category, what a run at T must leave.
func oracle(t *testing.T, w *world, pol *policies.Engine) expectation {
	t.Helper()
	ctx := context.Background()
	db := w.db
	at := ms(T)
	var holds []store.Hold
	if err := db.Select(ctx, &holds, "SELECT hold_id, ticket_id, user_id, reason, created_at, until, released_at FROM legal_holds"); err != nil {
		t.Fatal(err)
	}
	heldT, heldU := map[string]bool{}, map[string]bool{}
	for _, h := range holds {
		if h.Active(at) {
			if h.TicketID.Valid {
				heldT[h.TicketID.String] = true
			} else {
				heldU[h.UserID.String] = true
			}
		}
	}
	decide := func(recs []policies.Record) []policies.Decision {
		ds, err := pol.Decide(ctx, T, recs)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	put := func(m map[string]any, k string, v sql.NullInt64) {
		if v.Valid {
			m[k] = v.Int64
		}
	}
	var tickets []store.Ticket
	if err := db.Select(ctx, &tickets, "SELECT ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at, restricted, anonymized_at FROM tickets"); err != nil {
		t.Fatal(err)
	}
	ticketOf := map[string]store.Ticket{}
	var trecs []policies.Record
	for _, tk := range tickets {
		ticketOf[tk.TicketID] = tk
		m := map[string]any{"status": tk.Status, "created_at": tk.CreatedAt, "dispute_status": tk.DisputeStatus, "held": heldT[tk.TicketID] || heldU[tk.UserID.String]}
		put(m, "closed_at", tk.ClosedAt)
		trecs = append(trecs, policies.Record{Category: "tickets", ID: tk.TicketID, Attrs: m})
	}
	deadT := map[string]bool{}
	e := expectation{}
	for i, d := range decide(trecs) {
		if d.Action == policies.Delete {
			deadT[trecs[i].ID] = true
		} else {
			e["tickets"] = append(e["tickets"], trecs[i].ID)
		}
	}
	var msgs []store.Message
	if err := db.Select(ctx, &msgs, "SELECT message_id, ticket_id, author, agent_id, body, sent_at FROM messages"); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !deadT[m.TicketID] {
			e["messages"] = append(e["messages"], m.MessageID)
		}
	}
	var atts []store.Attachment
	if err := db.Select(ctx, &atts, "SELECT attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at FROM attachments"); err != nil {
		t.Fatal(err)
	}
	var arecs []policies.Record
	for _, a := range atts {
		tk := ticketOf[a.TicketID]
		m := map[string]any{"uploaded_at": a.UploadedAt, "ticket_status": tk.Status, "dispute_status": tk.DisputeStatus, "held": heldT[tk.TicketID] || heldU[tk.UserID.String]}
		put(m, "ticket_closed_at", tk.ClosedAt)
		arecs = append(arecs, policies.Record{Category: "attachments", ID: a.AttachmentID, Attrs: m})
	}
	for i, d := range decide(arecs) {
		if d.Action != policies.Delete && !deadT[atts[i].TicketID] {
			e["attachments"] = append(e["attachments"], atts[i].AttachmentID)
		}
	}
	var events []store.AccountEvent
	if err := db.Select(ctx, &events, "SELECT event_id, user_id, type, at, detail FROM account_events"); err != nil {
		t.Fatal(err)
	}
	var erecs []policies.Record
	latestEvent := map[string]int64{}
	for _, ev := range events {
		erecs = append(erecs, policies.Record{Category: "account_events", ID: ev.EventID, Attrs: map[string]any{"at": ev.At, "type": ev.Type, "held": heldU[ev.UserID]}})
		if ev.At > latestEvent[ev.UserID] {
			latestEvent[ev.UserID] = ev.At
		}
	}
	for i, d := range decide(erecs) {
		if d.Action != policies.Delete {
			e["account_events"] = append(e["account_events"], erecs[i].ID)
		}
	}
	var subjects []store.Subject
	if err := db.Select(ctx, &subjects, "SELECT user_id, email, pseudo, account_created_at, account_closed_at, restricted, anonymized_at, created_at, updated_at FROM subjects"); err != nil {
		t.Fatal(err)
	}
	var srecs []policies.Record
	for _, s := range subjects {
		var n, open, disputes, heldTickets, latest int64
		hasLatest := false
		for _, tk := range tickets {
			if tk.UserID.String != s.UserID {
				continue
			}
			n++
			if tk.Status == "open" {
				open++
			}
			if tk.DisputeStatus == "open" {
				disputes++
			}
			if heldT[tk.TicketID] {
				heldTickets++
			}
			if tk.ClosedAt.Valid && (!hasLatest || tk.ClosedAt.Int64 > latest) {
				latest, hasLatest = tk.ClosedAt.Int64, true
			}
		}
		m := map[string]any{"tickets": n, "open_tickets": open, "disputes_open": disputes, "held_tickets": heldTickets,
			"held": heldU[s.UserID], "anonymized": s.AnonymizedAt.Valid}
		put(m, "account_created_at", s.AccountCreatedAt)
		put(m, "account_closed_at", s.AccountClosedAt)
		put(m, "latest_ticket_closed_at", nullMs(latest, hasLatest))
		if v, ok := latestEvent[s.UserID]; ok {
			m["latest_event_at"] = v
		}
		srecs = append(srecs, policies.Record{Category: "subjects", ID: s.UserID, Attrs: m})
	}
	deadU := map[string]bool{}
	for i, d := range decide(srecs) {
		id := srecs[i].ID
		switch d.Action {
		case policies.Delete:
			deadU[id] = true
			continue
		case policies.Anonymize:
			e["anonymized_subjects"] = append(e["anonymized_subjects"], id)
		}
		e["subjects"] = append(e["subjects"], id)
	}
	var stats []store.SubjectStat
	if err := db.Select(ctx, &stats, "SELECT user_id, avg_response_seconds, responses_counted, computed_at FROM subject_stats"); err != nil {
		t.Fatal(err)
	}
	var ssrecs []policies.Record
	for _, s := range stats {
		ssrecs = append(ssrecs, policies.Record{Category: "subject_stats", ID: s.UserID, Attrs: map[string]any{"computed_at": s.ComputedAt, "held": heldU[s.UserID]}})
	}
	for i, d := range decide(ssrecs) {
		if d.Action != policies.Delete && !deadU[ssrecs[i].ID] {
			e["subject_stats"] = append(e["subject_stats"], ssrecs[i].ID)
		}
	}
	var objs []store.Objection
	if err := db.Select(ctx, &objs, "SELECT user_id, purpose, created_at, request_id FROM objections"); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if !deadU[o.UserID] {
			e["objections"] = append(e["objections"], o.UserID)
		}
	}
	var ags []store.AgentStat
	if err := db.Select(ctx, &ags, "SELECT id, agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at FROM agent_stats"); err != nil {
		t.Fatal(err)
	}
	var agrecs []policies.Record
	for _, a := range ags {
		day, _ := store.AgentStatFacts{Day: a.Day}.DayStart()
		agrecs = append(agrecs, policies.Record{Category: "agent_stats", ID: strconv.FormatInt(a.ID, 10), Attrs: map[string]any{"day_start": day, "anonymized": a.AnonymizedAt.Valid}})
	}
	for i, d := range decide(agrecs) {
		if d.Action == policies.Delete {
			continue
		}
		e["agent_stats"] = append(e["agent_stats"], agrecs[i].ID)
		if d.Action == policies.Keep && !ags[i].AnonymizedAt.Valid {
			e["named_agent_stats"] = append(e["named_agent_stats"], agrecs[i].ID)
		}
	}
	var reqs []store.DSRFacts
	if err := db.Select(ctx, &reqs, "SELECT request_id, status, received_at, closed_at FROM dsr_requests"); err != nil {
		t.Fatal(err)
	}
	var rrecs []policies.Record
	for _, r := range reqs {
		m := map[string]any{"status": r.Status, "received_at": r.ReceivedAt}
		put(m, "closed_at", r.ClosedAt)
		rrecs = append(rrecs, policies.Record{Category: "dsr_requests", ID: r.ID, Attrs: m})
	}
	for i, d := range decide(rrecs) {
		if d.Action != policies.Delete {
			e["dsr_requests"] = append(e["dsr_requests"], rrecs[i].ID)
		}
	}
	var hrecs []policies.Record
	for _, h := range holds {
		m := map[string]any{"created_at": h.CreatedAt}
		put(m, "until", h.Until)
		put(m, "released_at", h.ReleasedAt)
		hrecs = append(hrecs, policies.Record{Category: "legal_holds", ID: h.HoldID, Attrs: m})
	}
	for i, d := range decide(hrecs) {
		if d.Action != policies.Delete {
			e["legal_holds"] = append(e["legal_holds"], hrecs[i].ID)
		}
	}
	for _, k := range []string{"tickets", "messages", "attachments", "subjects", "account_events", "subject_stats", "dsr_requests", "legal_holds", "objections", "agent_stats", "anonymized_subjects", "named_agent_stats"} {
		if _, ok := e[k]; !ok {
			e[k] = nil
		}
	}
	return e
}

func TestSafetyValveRefusesAndChangesNothing(t *testing.T) {
	pol := engine(t)
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.random(t, 7, 60)
		before := w.snapshot(t, true)
		o := opts(w, 10)
		o.AllowLarge = false
		rep, err := retention.Run(ctx, db, pol, o)
		var verr *retention.ValveError
		if !errors.Is(err, retention.ErrSafetyValve) || !errors.As(err, &verr) {
			t.Fatalf("err = %v, want the safety valve", err)
		}
		if verr.Count <= 0 || verr.Total <= 0 || float64(verr.Count) <= 0.25*float64(verr.Total) {
			t.Errorf("valve error %+v does not show a share over 25%%", verr)
		}
		after := w.snapshot(t, false)
		if before == "" || digest(stripAudit(before)) != digest(after) {
			t.Errorf("a refused run changed the data")
		}
		if rep == nil || rep.Outcome != "refused" {
			t.Errorf("report = %+v, want outcome refused", rep)
		}
		var outcome string
		if err := db.Get(ctx, &outcome, "SELECT outcome FROM retention_runs WHERE run_id = ?", rep.RunID); err != nil || outcome != "refused" {
			t.Errorf("run history: %q, %v", outcome, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM audit_log WHERE action = 'retention.run' AND outcome = 'refused'"); n != 1 {
			t.Errorf("%d audit entries for the refused run, want 1", n)
		}
		// With a share large enough, the same run goes through.
		o.MaxShare = 1
		if _, err := retention.Run(ctx, db, pol, o); err != nil {
			t.Fatalf("max share 1: %v", err)
		}
	})
}

// stripAudit removes audit_log lines (a refused run appends its own entry).
func stripAudit(s string) string {
	out := ""
	for _, line := range splitLines(s) {
		if len(line) >= 9 && line[:9] == "audit_log" {
			continue
		}
		out += line + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestBusy(t *testing.T) {
	pol := engine(t)
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.random(t, 3, 10)
		l, err := db.TryLock(ctx, retention.LockName)
		if err != nil {
			t.Fatal(err)
		}
		before := w.snapshot(t, true)
		if _, err := retention.Run(ctx, db, pol, opts(w, 10)); !errors.Is(err, store.ErrBusy) {
			t.Fatalf("run while locked: %v, want ErrBusy", err)
		}
		if w.snapshot(t, true) != before {
			t.Fatal("a busy run changed the store")
		}
		l.Unlock()
		if _, err := retention.Run(ctx, db, pol, opts(w, 10)); err != nil {
			t.Fatal(err)
		}
	})
}
