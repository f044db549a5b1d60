package stats_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func engine(t testing.TB) *policies.Engine {
	t.Helper()
	e, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// insertTicket adds a ticket of uid with a user message, then an agent
// message (by agent) 30 minutes later, then a user reply, on day.
func insertTicket(t testing.TB, db *store.DB, uid, tid, agent string, day time.Time) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at) VALUES (?, ?, 'R', 's', 'd', 'open', 0)`, tid, uid)
	at := day.UnixMilli()
	for i, m := range []struct {
		author string
		agent  sql.NullString
		off    int64
	}{{"user", sql.NullString{}, 0}, {"agent", sql.NullString{String: agent, Valid: true}, 1800_000}, {"user", sql.NullString{}, 2400_000}} {
		exec(`INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES (?, ?, ?, ?, 'b', ?)`,
			tid+"-m"+strconv.Itoa(i), tid, m.author, m.agent, at+m.off)
	}
}

func insertSubject(t testing.TB, db *store.DB, uid string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`,
		uid, uid+"@example.org", "p"+uid); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshFormsFollowPolicies: `stats refresh` writes each day's agent
// figures in the form the retention policies allow for the day's age —
// named within the named period, anonymised beyond it, none beyond the
// final period — so that the retention run finds nothing to do among them.
// It used to write named rows for every day.
func TestRefreshFormsFollowPolicies(t *testing.T) {
	eng := engine(t)
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		insertSubject(t, db, "u-1")
		recent := now.AddDate(0, 0, -10).Truncate(24 * time.Hour).Add(9 * time.Hour)
		older := now.AddDate(-2, 0, 0).Truncate(24 * time.Hour).Add(9 * time.Hour)
		oldest := now.AddDate(-6, 0, 0).Truncate(24 * time.Hour).Add(9 * time.Hour)
		insertTicket(t, db, "u-1", "T1", "ag-1", recent)
		insertTicket(t, db, "u-1", "T2", "ag-1", older)
		insertTicket(t, db, "u-1", "T3", "ag-1", oldest)
		if _, err := stats.Refresh(ctx, db, eng, now, "test"); err != nil {
			t.Fatal(err)
		}
		type row struct {
			Agent sql.NullString `db:"agent_id"`
			Day   string         `db:"day"`
			Anon  sql.NullInt64  `db:"anonymized_at"`
		}
		var rows []row
		if err := db.Select(ctx, &rows, "SELECT agent_id, day, anonymized_at FROM agent_stats ORDER BY day"); err != nil {
			t.Fatal(err)
		}
		want := []row{
			{sql.NullString{}, older.Format("2006-01-02"), sql.NullInt64{Int64: now.UnixMilli(), Valid: true}},
			{sql.NullString{String: "ag-1", Valid: true}, recent.Format("2006-01-02"), sql.NullInt64{}},
		}
		if len(rows) != len(want) || rows[0] != want[0] || rows[1] != want[1] {
			t.Fatalf("agent_stats = %+v, want %+v", rows, want)
		}
		// What the retention run decides on them: keep, every one.
		var recs []policies.Record
		for _, r := range rows {
			s, _ := store.DayStart(r.Day)
			recs = append(recs, policies.Record{Category: policies.CatAgentStats, ID: r.Day,
				Attrs: map[string]any{"day_start": s, "anonymized": r.Anon.Valid}})
		}
		var computed int64
		if err := db.Get(ctx, &computed, "SELECT computed_at FROM subject_stats WHERE user_id = 'u-1'"); err != nil {
			t.Fatalf("subject_stats of u-1: %v", err)
		}
		recs = append(recs, policies.Record{Category: policies.CatSubjectStats, ID: "u-1",
			Attrs: map[string]any{"computed_at": computed, "held": false}})
		dec, err := eng.Decide(ctx, now, recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range dec {
			if d.Action != policies.Keep {
				t.Errorf("retention decides %s on %s %s (%s)", d.Action, recs[i].Category, recs[i].ID, d.Rule)
			}
		}
	})
}
