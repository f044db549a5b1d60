package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/store"
)

// documented are the exit codes of INTERFACE.md.
var documented = map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true}

// TestConcurrentCommands runs a retention run while an erase, an ingest and
// an export run, then two erases of one subject at once. Every command
// ends (bounded by cmdTimeout) with a documented code, the store is
// consistent and nothing is lost: what retention did not delete and erase
// did not remove is still there.
func TestConcurrentCommands(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.ingestFixture(genFixture(21, 40))
		w.must("stats", "refresh", "--at", "2025-06-01")
		extra := genFixture(22, 10)
		extraJSONL := strings.NewReplacer("u-0", "v-0", "zq0", "zv0", "T-0", "U-0", "E-0", "F-0", "A-U-0", "B-U-0", "Pseudo0", "Psv0").Replace(string(extra.jsonl))
		extraPath := w.file("extra.jsonl", []byte(extraJSONL))

		procs := map[string]*proc{
			"retention": w.start(nil, "retention", "run", "--at", at, "--allow-large", "--batch-size", "2"),
			"erase":     w.start(nil, "erase", "--user-id", "u-007"),
			"ingest":    w.start(nil, "ingest", extraPath),
			"export":    w.start(nil, "export", "--user-id", "u-010", "--out", filepath.Join(w.dir, "u-010.zip")),
		}
		for name, p := range procs {
			r := p.wait()
			if !documented[r.code] {
				t.Errorf("%s ended with undocumented code: %s", name, r)
			}
			if r.code != 0 && r.code != 4 {
				t.Errorf("%s failed while others ran: %s", name, r)
			}
		}
		concurrencyRounds.Add(1)
		// Finish what a busy command left, then the state must equal the
		// same commands run one after the other.
		w.must("retention", "run", "--at", at, "--allow-large")
		w.healthy()
		got := w.dump()

		seq := newWorld(t, w.backend)
		seq.must("migrate")
		seq.ingestFixture(genFixture(21, 40))
		seq.must("stats", "refresh", "--at", "2025-06-01")
		seq.must("erase", "--user-id", "u-007")
		seq.must("export", "--user-id", "u-010", "--out", filepath.Join(seq.dir, "u-010.zip"))
		seq.must("ingest", seq.file("extra.jsonl", []byte(extraJSONL)))
		seq.must("retention", "run", "--at", at, "--allow-large")
		want := seq.dump()
		// The erase and the ingest ran in a different order against the
		// retention run, so agent statistics may legitimately differ.
		strip := func(s string) string {
			i := strings.Index(s, "== agent_stats")
			j := strings.Index(s, "== dsr_requests")
			return s[:i] + s[j:]
		}
		if strip(got) != strip(want) {
			t.Errorf("concurrent run differs from the sequential one:\n%s", diff(strip(want), strip(got)))
		}

		// Two erasures of one subject at once: one erases, the other finds
		// nothing (5) or waits and finds nothing; never both half.
		a := w.start(nil, "erase", "--user-id", "u-011")
		b := w.start(nil, "erase", "--user-id", "u-011")
		ra, rb := a.wait(), b.wait()
		concurrencyRounds.Add(1)
		codes := []int{ra.code, rb.code}
		ok := codes[0] == 0 && (codes[1] == 5 || codes[1] == 0) || codes[1] == 0 && codes[0] == 5
		if !ok {
			t.Errorf("two erasures of one subject: %s\n---\n%s", ra, rb)
		}
		if r := w.run(nil, "export", "--user-id", "u-011", "--out", filepath.Join(w.dir, "gone.zip")); r.code != 5 {
			t.Errorf("subject still there after two concurrent erasures: %s", r)
		}
		w.healthy()
	})
}

// TestTwoSchedulers runs two schedulers on one store (PostgreSQL: two
// daemons on one database; SQLite: two on one file), each firing retention
// every second: only one purges at a time (the other logs a skip), and both
// stop on SIGTERM with exit 0.
func TestTwoSchedulers(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) { twoSchedulers(t, backend) })
	}
}

func twoSchedulers(t *testing.T, backend string) {
	w := newWorld(t, backend)
	w.must("migrate")
	w.ingestFixture(genFixture(31, 40))
	var ps []*proc
	for i := 0; i < 2; i++ {
		ps = append(ps, w.start(nil, "schedule", "--retention", "@every 1s", "--stats", "", "--report", "",
			"--listen", "127.0.0.1:0", "--allow-large", "--batch-size", "2"))
	}
	// Let them fire a few times, overlapping.
	time.Sleep(6 * time.Second)
	for _, p := range ps {
		_ = p.cmd.Process.Signal(sigterm)
	}
	var logs string
	for i, p := range ps {
		r := p.wait()
		if r.code != 0 {
			t.Errorf("scheduler %d: %s", i, r)
		}
		logs += r.stderr
	}
	concurrencyRounds.Add(1)
	// The run history: no two runs overlap in time.
	db, err := store.Open(context.Background(), w.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(context.Background(), "SELECT started_at, COALESCE(finished_at, 0), outcome FROM retention_runs ORDER BY started_at")
	if err != nil {
		t.Fatal(err)
	}
	type span struct {
		s, f    int64
		outcome string
	}
	var runs []span
	for rows.Next() {
		var s span
		if err := rows.Scan(&s.s, &s.f, &s.outcome); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, s)
	}
	rows.Close()
	if len(runs) < 2 {
		t.Fatalf("want several retention runs in 6 s, got %d\n%s", len(runs), logs)
	}
	for i := 1; i < len(runs); i++ {
		if runs[i-1].f == 0 || runs[i].s < runs[i-1].f {
			t.Errorf("runs overlap: %+v then %+v", runs[i-1], runs[i])
		}
	}
	t.Logf("two schedulers: %d runs recorded, %d skips logged", len(runs), strings.Count(logs, "job skipped"))
	w.healthy()
}
