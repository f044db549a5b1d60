package e2e

import (
	"context"
	"encoding/json"
	"testing"
)

// TestStatsFormFollowsPolicies is issue 11's defect: statistics written by
// an objection's recomputation or by `stats refresh` must already be in the
// form the policies allow for their age, so the next nightly run has
// nothing to anonymise or delete among them (it used to find named rows for
// days past the named period and be refused by the safety valve, exit 3).
func TestStatsFormFollowsPolicies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.must("seed", "--synthetic", "--tickets", "20000")
		w.must("retention", "run", "--allow-large")
		uid := w.busiestSubject()
		w.must("object", "--user-id", uid, "--purpose", "statistics")
		w.noStatsToRetain("the objection")
		if r := w.run(nil, "retention", "run"); r.code != 0 {
			t.Fatalf("retention run after an objection: %s", r)
		}
		w.must("stats", "refresh")
		w.noStatsToRetain("stats refresh")
		if r := w.run(nil, "retention", "run"); r.code != 0 {
			t.Fatalf("retention run after stats refresh: %s", r)
		}
		db := w.open()
		defer db.Close()
		var named, anon int
		ctx := context.Background()
		if err := db.Get(ctx, &named, "SELECT COUNT(*) FROM agent_stats WHERE agent_id IS NOT NULL"); err != nil {
			t.Fatal(err)
		}
		if err := db.Get(ctx, &anon, "SELECT COUNT(*) FROM agent_stats WHERE agent_id IS NULL AND anonymized_at IS NOT NULL"); err != nil {
			t.Fatal(err)
		}
		// The synthetic store spans ten years: recent days are named, the
		// days past the named period anonymised.
		if named == 0 || anon == 0 {
			t.Fatalf("agent_stats after refresh: %d named, %d anonymised rows; want both", named, anon)
		}
	})
}

// noStatsToRetain fails unless the retention plan leaves every statistics
// row as it is.
func (w *world) noStatsToRetain(after string) {
	w.t.Helper()
	r := w.run(nil, "--output", "json", "retention", "plan")
	if r.code != 0 {
		w.t.Fatalf("retention plan after %s: %s", after, r)
	}
	if n := plannedOn(w.t, r.stdout, "agent_stats") + plannedOn(w.t, r.stdout, "subject_stats"); n != 0 {
		w.t.Fatalf("after %s the retention run would anonymise or delete %d statistics rows", after, n)
	}
}

// busiestSubject returns the user id with the most tickets.
func (w *world) busiestSubject() string {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	var uid string
	if err := db.Get(context.Background(), &uid, `SELECT user_id FROM tickets WHERE user_id IS NOT NULL
		GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 1`); err != nil {
		w.t.Fatalf("busiest subject: %v", err)
	}
	return uid
}

// plannedOn returns how many records of category a retention report (JSON)
// deletes or anonymises.
func plannedOn(t testing.TB, out, category string) int64 {
	t.Helper()
	var rep struct {
		Delete    map[string]int64 `json:"delete"`
		Anonymize map[string]int64 `json:"anonymize"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("retention report: %v\n%s", err, out)
	}
	return rep.Delete[category] + rep.Anonymize[category]
}

// TestStatsRefreshConcurrent is issue 18 item 7: two `stats refresh` at
// once, two real processes, must both succeed (one used to fail with a
// duplicate key on subject_stats_pkey): refreshes serialise. Afterwards the
// tables equal a lone full refresh's.
func TestStatsRefreshConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.must("seed", "--synthetic", "--tickets", "2000")
		at := "2026-11-30T12:00:00Z"
		w.must("stats", "refresh", "--at", at)
		for i := range 4 {
			mode := []string{"--full", "--at", at}
			if i%2 == 1 {
				// Incremental ones with changes to consume.
				mode = []string{"--at", at}
				w.must("object", "--user-id", w.busiestSubjectBut(i), "--purpose", "statistics")
			}
			a := w.start(nil, append([]string{"stats", "refresh"}, mode...)...)
			b := w.start(nil, append([]string{"stats", "refresh"}, mode...)...)
			for _, p := range []*proc{a, b} {
				if r := p.wait(); r.code != 0 {
					t.Fatalf("round %d: one of two concurrent refreshes: %s", i, r)
				}
			}
		}
		got := w.statsTables()
		w.must("stats", "refresh", "--full", "--at", at)
		want := w.statsTables()
		if d := sameStats(got.agent, want.agent); d != "" {
			t.Fatalf("agent_stats after concurrent refreshes differ from a full refresh's: %s", d)
		}
		if d := sameStats(got.subject, want.subject); d != "" {
			t.Fatalf("subject_stats after concurrent refreshes differ from a full refresh's: %s", d)
		}
	})
}

// busiestSubjectBut returns the subject with the (n+1)-th most tickets.
func (w *world) busiestSubjectBut(n int) string {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	var uid string
	if err := db.Get(context.Background(), &uid, `SELECT user_id FROM tickets WHERE user_id IS NOT NULL
		GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 1 OFFSET ?`, n); err != nil {
		w.t.Fatalf("subject: %v", err)
	}
	return uid
}
