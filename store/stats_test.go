package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// statsFixture inserts two subjects sharing agents and days:
//
//	u-a, T1 (2025-03-10): user 10:00, ag-1 10:30, user 11:00, ag-2 12:00, user 12:10
//	u-b, T2 (2025-03-10): user 09:00, ag-1 09:20 (never answered)
//	u-b, T3 (2025-03-09): ag-1 08:00, user 08:05, ag-2 08:15
//	an anonymised agent_stats row for 2025-03-01, and a message that day
func statsFixture(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, u := range []string{"u-a", "u-b"} {
		exec(`INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`, u, u+"@example.org", "p"+u)
	}
	for _, tk := range [][2]string{{"T1", "u-a"}, {"T2", "u-b"}, {"T3", "u-b"}, {"T0", "u-b"}} {
		exec(`INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at) VALUES (?, ?, 'R', 's', 'd', 'open', 0)`, tk[0], tk[1])
	}
	msgs := []struct{ id, ticket, author, agent, at string }{
		{"M1", "T1", "user", "", "2025-03-10T10:00:00Z"},
		{"M2", "T1", "agent", "ag-1", "2025-03-10T10:30:00Z"},
		{"M3", "T1", "user", "", "2025-03-10T11:00:00Z"},
		{"M4", "T1", "agent", "ag-2", "2025-03-10T12:00:00Z"},
		{"M5", "T1", "user", "", "2025-03-10T12:10:00Z"},
		{"M6", "T2", "user", "", "2025-03-10T09:00:00Z"},
		{"M7", "T2", "agent", "ag-1", "2025-03-10T09:20:00Z"},
		{"M8", "T3", "agent", "ag-1", "2025-03-09T08:00:00Z"},
		{"M9", "T3", "user", "", "2025-03-09T08:05:00Z"},
		{"MA", "T3", "agent", "ag-2", "2025-03-09T08:15:00Z"},
		{"MB", "T0", "user", "", "2025-03-01T08:00:00Z"},
		{"MC", "T0", "agent", "ag-1", "2025-03-01T09:00:00Z"},
	}
	for _, m := range msgs {
		exec(`INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES (?, ?, ?, ?, 'b', ?)`,
			m.id, m.ticket, m.author, sql.NullString{String: m.agent, Valid: m.agent != ""}, at(m.at))
	}
	exec(`INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at)
		VALUES (NULL, '2025-03-01', 7, 7, 42, 0, 0)`)
}

type agentRow struct {
	Agent   sql.NullString `db:"agent_id"`
	Day     string         `db:"day"`
	Handled int64          `db:"tickets_handled"`
	Firsts  int64          `db:"first_responses"`
	Avg     float64        `db:"avg_first_response_seconds"`
}

type subjectRow struct {
	User  string  `db:"user_id"`
	Avg   float64 `db:"avg_response_seconds"`
	Count int64   `db:"responses_counted"`
}

func readStats(t *testing.T, db *store.DB) ([]subjectRow, []agentRow) {
	t.Helper()
	ctx := context.Background()
	var s []subjectRow
	var a []agentRow
	if err := db.Select(ctx, &s, "SELECT user_id, avg_response_seconds, responses_counted FROM subject_stats ORDER BY user_id"); err != nil {
		t.Fatal(err)
	}
	if err := db.Select(ctx, &a, "SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds FROM agent_stats ORDER BY day, agent_id"); err != nil {
		t.Fatal(err)
	}
	return s, a
}

func refresh(t *testing.T, db *store.DB, days []string) {
	t.Helper()
	sc := store.StatsScope{ObjectionPurpose: "statistics", At: 1}
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		if _, err := store.RefreshSubjectStats(context.Background(), tx, sc); err != nil {
			return err
		}
		if days != nil {
			_, err := store.RefreshAgentStats(context.Background(), tx, sc, days)
			return err
		}
		_, err := store.RecomputeAgentStats(context.Background(), tx, sc, namedSpan(t, tx), true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// namedSpan plans every day from the first agent message to the last in
// named form.
func namedSpan(t *testing.T, q store.Querier) map[string]store.AgentStatsForm {
	t.Helper()
	first, last, ok, err := store.AgentStatsSpan(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	plan := map[string]store.AgentStatsForm{}
	if !ok {
		return plan
	}
	d, _ := time.Parse("2006-01-02", first)
	end, _ := time.Parse("2006-01-02", last)
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		plan[d.Format("2006-01-02")] = store.AgentStatsNamed
	}
	return plan
}

func ns(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func TestRefreshStats(t *testing.T) {
	anon := agentRow{ns(""), "2025-03-01", 7, 7, 42}
	tests := []struct {
		name     string
		setup    string // SQL run after the fixture
		subjects []subjectRow
		agents   []agentRow
	}{
		{
			name:     "everyone",
			subjects: []subjectRow{{"u-a", 1200, 2}, {"u-b", 300, 1}},
			agents: []agentRow{anon,
				{ns("ag-1"), "2025-03-09", 1, 0, 0},
				{ns("ag-2"), "2025-03-09", 1, 1, 600},
				{ns("ag-1"), "2025-03-10", 2, 2, 1500},
				{ns("ag-2"), "2025-03-10", 1, 0, 0},
			},
		},
		{
			name:     "objection to statistics leaves u-a out of every figure",
			setup:    "INSERT INTO objections (user_id, purpose, created_at) VALUES ('u-a', 'statistics', 0)",
			subjects: []subjectRow{{"u-b", 300, 1}},
			agents: []agentRow{anon,
				{ns("ag-1"), "2025-03-09", 1, 0, 0},
				{ns("ag-2"), "2025-03-09", 1, 1, 600},
				{ns("ag-1"), "2025-03-10", 1, 1, 1200},
			},
		},
		{
			name:     "objection to another purpose changes nothing",
			setup:    "INSERT INTO objections (user_id, purpose, created_at) VALUES ('u-a', 'marketing', 0)",
			subjects: []subjectRow{{"u-a", 1200, 2}, {"u-b", 300, 1}},
			agents: []agentRow{anon,
				{ns("ag-1"), "2025-03-09", 1, 0, 0},
				{ns("ag-2"), "2025-03-09", 1, 1, 600},
				{ns("ag-1"), "2025-03-10", 2, 2, 1500},
				{ns("ag-2"), "2025-03-10", 1, 0, 0},
			},
		},
		{
			name:     "restricted ticket is not used",
			setup:    "UPDATE tickets SET restricted = TRUE WHERE ticket_id = 'T3'",
			subjects: []subjectRow{{"u-a", 1200, 2}},
			agents: []agentRow{anon,
				{ns("ag-1"), "2025-03-10", 2, 2, 1500},
				{ns("ag-2"), "2025-03-10", 1, 0, 0},
			},
		},
		{
			name:     "restricted subject is not used",
			setup:    "UPDATE subjects SET restricted = TRUE WHERE user_id = 'u-b'",
			subjects: []subjectRow{{"u-a", 1200, 2}},
			agents: []agentRow{anon,
				{ns("ag-1"), "2025-03-10", 1, 1, 1800},
				{ns("ag-2"), "2025-03-10", 1, 0, 0},
			},
		},
	}
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				for _, q := range []string{"DELETE FROM objections", "DELETE FROM subject_stats", "DELETE FROM agent_stats", "DELETE FROM messages", "DELETE FROM tickets", "DELETE FROM subjects"} {
					if _, err := db.Exec(ctx, q); err != nil {
						t.Fatal(err)
					}
				}
				statsFixture(t, db)
				if tt.setup != "" {
					if _, err := db.Exec(ctx, tt.setup); err != nil {
						t.Fatal(err)
					}
				}
				refresh(t, db, nil)
				refresh(t, db, nil) // idempotent: replaces, never duplicates
				s, a := readStats(t, db)
				assertRows(t, "subject_stats", s, tt.subjects)
				assertRows(t, "agent_stats", a, tt.agents)
			})
		}
	})
}

// TestRefreshAgentStatsDays: recomputing only a subject's days gives the
// same table as recomputing everything.
func TestRefreshAgentStatsDays(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		statsFixture(t, db)
		refresh(t, db, nil)
		if _, err := db.Exec(ctx, "INSERT INTO objections (user_id, purpose, created_at) VALUES ('u-a', 'statistics', 0)"); err != nil {
			t.Fatal(err)
		}
		days, err := store.AgentStatsDays(ctx, db, "u-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 1 || days[0] != "2025-03-10" {
			t.Fatalf("days of u-a = %v, want [2025-03-10]", days)
		}
		refresh(t, db, days)
		_, partial := readStats(t, db)
		refresh(t, db, nil)
		_, full := readStats(t, db)
		assertRows(t, "agent_stats", partial, full)
		if n := len(full); n != 4 {
			t.Errorf("agent_stats rows = %d, want 4", n)
		}
	})
}

func assertRows[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d rows %+v, want %d rows %+v", what, len(got), got, len(want), want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s row %d: got %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// TestRefreshAgentStatsNeverCreates is issue 11's defect at the store: the
// recomputation an erasure or objection makes (RefreshAgentStats with the
// subject's days) used to write named rows for days that had none, whatever
// their age. It may only take a contribution out of the rows that exist.
func TestRefreshAgentStatsNeverCreates(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		statsFixture(t, db)
		_, before := readStats(t, db)
		refresh(t, db, []string{"2025-03-09", "2025-03-10"})
		_, after := readStats(t, db)
		assertRows(t, "agent_stats (no named row before)", after, before)

		// With named rows for 2025-03-10 only, an objection of u-b (who
		// touched 2025-03-09 and 2025-03-10) rewrites 2025-03-10 alone.
		sc := store.StatsScope{ObjectionPurpose: "statistics", At: 1}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.RecomputeAgentStats(ctx, tx, sc, map[string]store.AgentStatsForm{"2025-03-10": store.AgentStatsNamed}, false)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO objections (user_id, purpose, created_at) VALUES ('u-b', 'statistics', 0)"); err != nil {
			t.Fatal(err)
		}
		refresh(t, db, []string{"2025-03-09", "2025-03-10"})
		_, got := readStats(t, db)
		assertRows(t, "agent_stats", got, []agentRow{
			{ns(""), "2025-03-01", 7, 7, 42},
			{ns("ag-1"), "2025-03-10", 1, 1, 1800},
			{ns("ag-2"), "2025-03-10", 1, 0, 0},
		})
	})
}

// TestRecomputeAgentStatsForms: each day gets the form its plan gives it,
// days holding anonymised rows are left alone, and a recomputation
// restricted to the planned days equals the whole table's.
func TestRecomputeAgentStatsForms(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		statsFixture(t, db)
		plan := map[string]store.AgentStatsForm{
			"2025-03-01": store.AgentStatsNamed, // holds an anonymised row: untouched
			"2025-03-09": store.AgentStatsAnonymized,
			"2025-03-10": store.AgentStatsNone,
		}
		sc := store.StatsScope{ObjectionPurpose: "statistics", At: 5}
		var tables [2][]agentRow
		for i, all := range []bool{false, true} {
			// Named rows everywhere first: the plan must replace them.
			refresh(t, db, nil)
			err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := store.RecomputeAgentStats(ctx, tx, sc, plan, all)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			_, tables[i] = readStats(t, db)
			var bad int
			if err := db.Get(ctx, &bad, "SELECT COUNT(*) FROM agent_stats WHERE day = '2025-03-09' AND (agent_id IS NOT NULL OR anonymized_at <> 5)"); err != nil {
				t.Fatal(err)
			}
			if bad != 0 {
				t.Errorf("all=%v: %d rows of 2025-03-09 not anonymised at 5", all, bad)
			}
			if _, err := db.Exec(ctx, "DELETE FROM agent_stats WHERE day <> '2025-03-01'"); err != nil {
				t.Fatal(err)
			}
		}
		want := []agentRow{
			{ns(""), "2025-03-01", 7, 7, 42},
			{ns(""), "2025-03-09", 1, 0, 0},
			{ns(""), "2025-03-09", 1, 1, 600},
		}
		sortRows := func(rs []agentRow) {
			slices.SortFunc(rs, func(a, b agentRow) int {
				return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Firsts, b.Firsts))
			})
		}
		for i := range tables {
			sortRows(tables[i])
			assertRows(t, fmt.Sprintf("agent_stats (all=%v)", i == 1), tables[i], want)
		}
	})
}
