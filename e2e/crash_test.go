package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Suite-wide counts, printed by TestMain's summary line.
var (
	crashIters        atomic.Int64 // crash iterations run
	crashMidRun       atomic.Int64 // of which the kill hit a running process
	crashExportIters  atomic.Int64 // of the crash iterations, export's
	crashExportMidRun atomic.Int64 // of which killed mid-run
	crashStatsIters   atomic.Int64 // of the crash iterations, stats refresh's
	crashStatsMidRun  atomic.Int64 // of which killed mid-run
	badInputCount     atomic.Int64 // bad-input catalogue rows run
	hostileCount      atomic.Int64 // hostile inputs checked
	concurrencyRounds atomic.Int64 // concurrent scenarios run
	secretsChecked    atomic.Int64 // personal values searched for in outputs and stores
)

// crashSeed returns OUBLI_CRASH_SEED, or a fresh seed; it is logged so
// that a failing sequence can be replayed.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("OUBLI_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OUBLI_CRASH_SEED=%q: want an unsigned integer", s)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// crashIterations returns OUBLI_CRASH_ITERS, or 1 (40 with OUBLI_LONG):
// make test kills each command once per backend (every guarantee is
// exercised), make test-long repeats it at 40 random moments.
func crashIterations(t *testing.T) int {
	if s := os.Getenv("OUBLI_CRASH_ITERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("OUBLI_CRASH_ITERS=%q: want a count", s)
		}
		return n
	}
	if long() {
		return 40
	}
	return 1
}

// crashCase is one command killed at random moments.
type crashCase struct {
	name string
	// base prepares the state the command starts from.
	base func(w *world)
	// args is the command killed (base is the world the run was cloned
	// from); the same command is the reference run.
	args func(base *world) []string
	// recover completes the work after a kill (the documented procedure).
	recover func(t *testing.T, w *world)
}

var crashCases = []crashCase{
	{
		name: "retention-run",
		base: func(w *world) {
			w.must("migrate")
			w.ingestFixture(genFixture(11, 40))
			w.must("stats", "refresh", "--at", "2025-06-01")
			w.must("hold", "add", "--ticket", "T-002-0", "--reason", "case 42")
		},
		args: func(*world) []string {
			return []string{"retention", "run", "--at", at, "--allow-large", "--batch-size", "3"}
		},
		recover: func(t *testing.T, w *world) {
			if r := w.run(nil, "retention", "run", "--at", at, "--allow-large", "--batch-size", "3"); r.code != 0 {
				t.Fatalf("rerun after kill: %s", r)
			}
		},
	},
	{
		name: "erase",
		base: func(w *world) {
			w.must("migrate")
			w.ingestFixture(genFixture(11, 40))
			w.must("stats", "refresh", "--at", "2025-06-01")
			w.must("hold", "add", "--ticket", "T-004-0", "--reason", "case 43")
			w.openRequest("erasure", "u-004")
		},
		args: func(base *world) []string {
			return []string{"erase", "--user-id", "u-004", "--request", base.request}
		},
		recover: func(t *testing.T, w *world) {
			// The erasure and its Art. 19 notifications commit together:
			// after a kill both are there or neither is.
			db := w.open()
			var erased, queued int64
			if err := db.Get(context.Background(), &erased, "SELECT COUNT(*) FROM dsr_actions WHERE action = 'erase'"); err != nil {
				t.Fatal(err)
			}
			if err := db.Get(context.Background(), &queued, "SELECT COUNT(*) FROM notifications WHERE type = 'erasure'"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if queued != 2*erased {
				t.Fatalf("after the kill: %d erasure(s) recorded but %d notification(s) queued (2 recipients each)", erased, queued)
			}
			// Re-run with the same request: it completes an interrupted
			// erasure, and is refused (exit 2, the request is done) after a
			// completed one. Then finish any queued blob deletion.
			r := w.run(nil, "erase", "--user-id", "u-004", "--request", w.request)
			if r.code != 0 && !(r.code == 2 && strings.Contains(r.stderr, "is done")) {
				t.Fatalf("erase rerun after kill: %s", r)
			}
			if r := w.run(nil, "check", "--repair", "--grace", "1ms"); r.code != 0 {
				t.Fatalf("check --repair after kill: %s", r)
			}
		},
	},
	{
		// A batch erasure killed at any moment: the rerun with the same
		// file erases the rest (the ones done are "already erased"; a
		// request a killed run opened is executed, not duplicated), then
		// the repair finishes queued contents.
		name: "erase-from",
		base: func(w *world) {
			w.must("migrate")
			w.ingestFixture(genFixture(11, 40))
			w.must("stats", "refresh", "--at", "2025-06-01")
			w.fixture = w.file("subjects.txt", []byte("# closures\nu-001\nu-002\nu-003\nzq005.secret-mail@example.org\nu-006\nu-007\nu-008\nu-009\n"))
		},
		args: func(base *world) []string { return []string{"erase", "--from", base.fixture} },
		recover: func(t *testing.T, w *world) {
			if r := w.run(nil, "erase", "--from", w.fixture); r.code != 0 {
				t.Fatalf("erase --from rerun after kill: %s", r)
			}
			if r := w.run(nil, "check", "--repair", "--grace", "1ms"); r.code != 0 {
				t.Fatalf("check --repair after kill: %s", r)
			}
		},
	},
	{
		name: "ingest",
		base: func(w *world) {
			w.must("migrate")
			w.fixture = w.file("fixture.jsonl", genFixture(12, 40).jsonl)
		},
		args: func(base *world) []string { return []string{"ingest", base.dir + "/fixture.jsonl"} },
		recover: func(t *testing.T, w *world) {
			if r := w.run(nil, "ingest", w.fixture); r.code != 0 {
				t.Fatalf("ingest rerun after kill: %s", r)
			}
			// A killed load may leave contents written before its commit:
			// the documented repair removes them (no load is in flight).
			if r := w.run(nil, "check", "--repair", "--grace", "1ms"); r.code != 0 {
				t.Fatalf("check --repair after kill: %s", r)
			}
		},
	},
}

// TestCrash SIGKILLs retention run, erase, erase --from and ingest at random moments;
// after each kill the documented recovery completes, check is clean, the
// audit chain verifies and the final state equals an uninterrupted run's.
// OUBLI_CRASH_SEED replays a sequence, OUBLI_CRASH_ITERS sets its length.
func TestCrash(t *testing.T) { testCrash(t) }

// TestLongCrash is the long crash loop (make test-long).
func TestLongCrash(t *testing.T) {
	if !long() {
		t.Skip("set OUBLI_LONG=1 (make test-long)")
	}
	testCrash(t)
}

func testCrash(t *testing.T) {
	seed := crashSeed(t)
	iters := crashIterations(t)
	t.Logf("crash seed %d (OUBLI_CRASH_SEED=%d replays it), %d iterations per command and backend", seed, seed, iters)
	for _, cc := range crashCases {
		t.Run(cc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, base *world) {
				rng := rand.New(rand.NewPCG(seed, uint64(len(cc.name))))
				cc.base(base)
				// The reference: an uninterrupted run on a copy.
				ref := base.clone(t)
				start := time.Now()
				if r := ref.run(nil, cc.args(base)...); r.code != 0 {
					t.Fatalf("reference run: %s", r)
				}
				took := time.Since(start)
				cc.recover(t, ref) // idempotent on a completed run
				ref.healthy()
				want := ref.dump()
				mid := 0
				for i := 0; i < iters; i++ {
					w := base.clone(t)
					delay := time.Duration(rng.Int64N(int64(took + took/5)))
					p := w.start(nil, cc.args(base)...)
					time.Sleep(delay)
					running := !p.finished()
					r := p.kill()
					if running && r.code < 0 {
						mid++
					}
					cc.recover(t, w)
					w.healthy()
					if got := w.dump(); got != want {
						t.Fatalf("iteration %d (seed %d, kill after %v): state differs from the uninterrupted run:\n%s", i, seed, delay, diff(want, got))
					}
				}
				crashIters.Add(int64(iters))
				crashMidRun.Add(int64(mid))
				t.Logf("%s/%s: %d iterations, %d killed mid-run (reference run %v)", cc.name, base.backend, iters, mid, took.Round(time.Millisecond))
			})
		})
	}
}

// summary prints the suite's counts on one line (go test -v or not), when
// anything was counted (not in a benchmark-only run).
func summary() {
	if crashIters.Load()+badInputCount.Load()+hostileCount.Load()+concurrencyRounds.Load()+secretsChecked.Load() == 0 {
		return
	}
	fmt.Printf("e2e summary: crash iterations %d (%d killed mid-run; of which export %d (%d mid-run), stats refresh %d (%d mid-run)), bad inputs %d, hostile inputs %d, concurrency rounds %d, secrets checked %d\n",
		crashIters.Load(), crashMidRun.Load(), crashExportIters.Load(), crashExportMidRun.Load(), crashStatsIters.Load(), crashStatsMidRun.Load(),
		badInputCount.Load(), hostileCount.Load(), concurrencyRounds.Load(), secretsChecked.Load())
}
