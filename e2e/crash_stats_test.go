package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// statRow is one row of a statistics table: its exact columns, and its
// averages (compared to 1e-9: the order an average's terms are summed in
// is the database's).
type statRow struct {
	key  string
	avgs []float64
}

// statsTables is the canonical dump of subject_stats and agent_stats: every
// column but agent_stats' generated id, rows sorted.
type statsTables struct{ subject, agent []statRow }

func (w *world) statsTables() statsTables {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	ctx := context.Background()
	var st statsTables
	rows, err := db.Query(ctx, `SELECT user_id, avg_response_seconds, responses_counted, computed_at FROM subject_stats`)
	if err != nil {
		w.t.Fatalf("subject_stats: %v", err)
	}
	for rows.Next() {
		var uid string
		var avg float64
		var n, at int64
		if err := rows.Scan(&uid, &avg, &n, &at); err != nil {
			w.t.Fatal(err)
		}
		st.subject = append(st.subject, statRow{key: fmt.Sprintf("%s|%d|%d", uid, n, at), avgs: []float64{avg}})
	}
	rows.Close()
	rows, err = db.Query(ctx, `SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at FROM agent_stats`)
	if err != nil {
		w.t.Fatalf("agent_stats: %v", err)
	}
	for rows.Next() {
		var agent sql.NullString
		var day string
		var handled, first, at int64
		var avg float64
		var anon sql.NullInt64
		if err := rows.Scan(&agent, &day, &handled, &first, &avg, &at, &anon); err != nil {
			w.t.Fatal(err)
		}
		st.agent = append(st.agent, statRow{key: fmt.Sprintf("%s|%s|%d|%d|%d|%s", nullStr(agent), day, handled, first, at, nullInt(anon)), avgs: []float64{avg}})
	}
	rows.Close()
	for _, t := range [][]statRow{st.subject, st.agent} {
		slices.SortFunc(t, func(a, b statRow) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			return slices.Compare(a.avgs, b.avgs)
		})
	}
	return st
}

func nullStr(s sql.NullString) string {
	if !s.Valid {
		return "<null>"
	}
	return s.String
}

func nullInt(n sql.NullInt64) string {
	if !n.Valid {
		return "<null>"
	}
	return fmt.Sprint(n.Int64)
}

// sameStats returns "" if the two dumps of a table are equal, else the
// first difference.
func sameStats(want, got []statRow) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if want[i].key != got[i].key {
			return fmt.Sprintf("row %d: %q, want %q", i, got[i].key, want[i].key)
		}
		for j, a := range want[i].avgs {
			if b := got[i].avgs[j]; math.Abs(a-b) > 1e-9*math.Max(1, math.Abs(a)) {
				return fmt.Sprintf("row %q: average %v, want %v", want[i].key, b, a)
			}
		}
	}
	return ""
}

// auditCount counts the audit entries of one action.
func (w *world) auditCount(action string) int {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	var n int
	if err := db.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE action = ?`, action); err != nil {
		w.t.Fatalf("audit: %v", err)
	}
	return n
}

// TestCrashStatsRefresh SIGKILLs `oubli stats refresh --at` at seeded random
// moments. After each kill each statistics table is wholly as before or
// wholly refreshed (each is replaced in one transaction with its audit
// entry); after a rerun both equal an uninterrupted refresh's at the same
// --at, the rest of the store is untouched, check and audit verify pass.
func TestCrashStatsRefresh(t *testing.T) { testCrashStats(t) }

// TestLongCrashStatsRefresh is the long stats refresh crash loop (make
// test-long).
func TestLongCrashStatsRefresh(t *testing.T) {
	if !long() {
		t.Skip("set OUBLI_LONG=1 (make test-long)")
	}
	testCrashStats(t)
}

func testCrashStats(t *testing.T) {
	seed := crashSeed(t)
	iters := crashIterations(t)
	t.Logf("crash seed %d (OUBLI_CRASH_SEED=%d replays it), %d iterations per backend", seed, seed, iters)
	args := []string{"stats", "refresh", "--at", at}
	forEachBackend(t, func(t *testing.T, base *world) {
		rng := rand.New(rand.NewPCG(seed, stream("stats-refresh")))
		// Statistics computed earlier, then more tickets and an
		// objection: the refresh changes every row of both tables.
		base.must("migrate")
		base.ingestFixture(genFixture(31, 100))
		var conv []byte
		for k := range 80 {
			b, _ := genSubject(uint64(k), fmt.Sprintf("w-%03d", k), 3, 0)
			conv = append(conv, b...)
		}
		base.must("ingest", base.file("conversations.jsonl", conv))
		base.must("stats", "refresh", "--at", "2025-06-01")
		extra := strings.NewReplacer("u-0", "v-0", "zq", "zv", "T-", "U-", "E-0", "F-0", "Pseudo", "Psv").
			Replace(string(genFixture(32, 30).jsonl))
		base.must("ingest", base.file("extra.jsonl", []byte(extra)))
		b, _ := genSubject(99, "w-999", 3, 0)
		base.must("ingest", base.file("late.jsonl", b))
		base.must("object", "--user-id", "w-005", "--purpose", "statistics")
		before := base.statsTables()
		baseAudit := base.auditCount("stats.refresh")

		ref := base.clone(t)
		start := time.Now()
		if r := ref.run(nil, args...); r.code != 0 {
			t.Fatalf("reference refresh: %s", r)
		}
		took := time.Since(start)
		ref.healthy()
		want, wantDump := ref.statsTables(), ref.dump()
		if sameStats(before.subject, want.subject) == "" || sameStats(before.agent, want.agent) == "" {
			t.Fatal("the refresh leaves a statistics table as it was: a kill could not be told from a rerun")
		}

		mid, half := 0, 0
		for i := 0; i < iters; i++ {
			w := base.clone(t)
			delay := time.Duration(rng.Int64N(int64(took + took/5)))
			what := fmt.Sprintf("iteration %d (seed %d, kill after %v)", i, seed, delay)
			p := w.start(nil, args...)
			time.Sleep(delay)
			running := !p.finished()
			r := p.kill()
			if running && r.code < 0 {
				mid++
			}
			if r.code > 0 {
				t.Fatalf("%s: killed refresh failed on its own: %s", what, r)
			}
			// Each table is wholly before or wholly after, as its audit
			// entries say: subject_stats is refreshed first.
			done := w.auditCount("stats.refresh") - baseAudit
			got := w.statsTables()
			wantSubject, wantAgent := before.subject, before.agent
			switch done {
			case 0:
			case 1:
				half++
				wantSubject = want.subject
			case 2:
				wantSubject, wantAgent = want.subject, want.agent
			default:
				t.Fatalf("%s: %d stats.refresh audit entries from one run", what, done)
			}
			if d := sameStats(wantSubject, got.subject); d != "" {
				t.Fatalf("%s: subject_stats after the kill (%d table(s) recorded as refreshed): %s", what, done, d)
			}
			if d := sameStats(wantAgent, got.agent); d != "" {
				t.Fatalf("%s: agent_stats after the kill (%d table(s) recorded as refreshed): %s", what, done, d)
			}

			// Recovery: run it again.
			if rr := w.run(nil, args...); rr.code != 0 {
				t.Fatalf("%s: refresh rerun after the kill: %s", what, rr)
			}
			w.healthy()
			got = w.statsTables()
			if d := sameStats(want.subject, got.subject); d != "" {
				t.Fatalf("%s: subject_stats after the rerun differ from an uninterrupted refresh's: %s", what, d)
			}
			if d := sameStats(want.agent, got.agent); d != "" {
				t.Fatalf("%s: agent_stats after the rerun differ from an uninterrupted refresh's: %s", what, d)
			}
			if d := w.dump(); d != wantDump {
				t.Fatalf("%s: state differs from the uninterrupted refresh's:\n%s", what, diff(wantDump, d))
			}
		}
		crashIters.Add(int64(iters))
		crashMidRun.Add(int64(mid))
		crashStatsIters.Add(int64(iters))
		crashStatsMidRun.Add(int64(mid))
		t.Logf("stats-refresh/%s: %d iterations, %d killed mid-run, %d left subject_stats refreshed and agent_stats not yet (reference run %v)",
			base.backend, iters, mid, half, took.Round(time.Millisecond))
	})
}
