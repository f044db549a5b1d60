package e2e

import (
	"database/sql"
	"strings"
	"testing"
	"time"
)

// TestLostDatabase terminates the PostgreSQL backends of a running
// retention run from a second connection (pg_terminate_backend): the run
// ends with exit 1 and a clear error, leaves no half-done batch (check is
// clean, the audit chain verifies), and a rerun brings the store to the
// state of an uninterrupted run. make test terminates them once, 30 ms into
// the run; TestLongLostDatabase also at its start and 120 ms in.
func TestLostDatabase(t *testing.T) { testLostDatabase(t, 30*time.Millisecond) }

// TestLongLostDatabase terminates the backends at three moments of the run
// (make test-long).
func TestLongLostDatabase(t *testing.T) {
	if !long() {
		t.Skip("set OUBLI_LONG=1 (make test-long)")
	}
	testLostDatabase(t, 0, 30*time.Millisecond, 120*time.Millisecond)
}

func testLostDatabase(t *testing.T, afters ...time.Duration) {
	base := newWorld(t, "postgres")
	base.must("migrate")
	base.ingestFixture(genFixture(51, 60))
	base.must("stats", "refresh", "--at", "2025-06-01")
	args := []string{"retention", "run", "--at", at, "--allow-large", "--batch-size", "1"}

	ref := base.clone(t)
	ref.must(args...)
	want := ref.dump()

	for _, after := range afters {
		w := base.clone(t)
		admin, err := sql.Open("postgres", w.db)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(mustParse(t, w.db).Path, "/")
		p := w.start(nil, args...)
		// Wait until the run has started, then a little more.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !p.finished(); time.Sleep(10 * time.Millisecond) {
			var n int
			if err := admin.QueryRow("SELECT COUNT(*) FROM retention_runs").Scan(&n); err == nil && n > 0 {
				break
			}
		}
		time.Sleep(after)
		var killed int
		if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		admin.Close()
		r := p.wait()
		if p.res.code == 0 {
			t.Logf("run ended with exit 0 (%v): its %d terminated connection(s) were idle in the pool and were re-dialled", after, killed)
		} else {
			if r.code != 1 {
				t.Errorf("lost database: want exit 1, got %s", r)
			}
			if !strings.Contains(r.stderr, "terminat") && !strings.Contains(r.stderr, "connection") && !strings.Contains(r.stderr, "bad connection") {
				t.Errorf("lost database: the error does not say the connection was lost: %s", r.stderr)
			}
		}
		w.healthy() // no half-done batch: no orphan, no blob without row
		if r := w.run(nil, args...); r.code != 0 {
			t.Fatalf("rerun after the lost database: %s", r)
		}
		w.healthy()
		if got := w.dump(); got != want {
			t.Errorf("after the rerun the state differs from an uninterrupted run:\n%s", diff(want, got))
		}
		t.Logf("terminated %d backend(s) after %v: exit %d, error %q", killed, after, r.code, errorLine(r.stderr))
	}
}

// errorLine returns the "oubli: …" line of stderr.
func errorLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "oubli: ") {
			return l
		}
	}
	return ""
}
