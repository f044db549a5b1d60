package scheduler

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// start runs the daemon until the test ends (or stop is called) and
// returns its /metrics address.
func start(t *testing.T, cfg Config) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	cfg.Listen = "127.0.0.1:0"
	cfg.Ready = func(a string) { ready <- a }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("scheduler did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler did not start")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("scheduler: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return addr, stop
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitFor polls cond every 50 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestCatchUpOnceAtStart: a daily job whose last run (kept in the store)
// is older than its latest scheduled time runs once at start; one whose
// last run is after it does not.
func TestCatchUpOnceAtStart(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		ctx := context.Background()
		if err := store.SetSetting(ctx, db, settingKey("missed"), now.Add(-33*time.Hour).Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
		if err := store.SetSetting(ctx, db, settingKey("current"), now.Add(-8*time.Hour).Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
		var missed, current, never atomic.Int32
		job := func(name string, n *atomic.Int32) Job {
			return Job{Name: name, Spec: "0 3 * * *", Run: func(context.Context) (Result, error) { n.Add(1); return Result{}, nil }}
		}
		_, stop := start(t, Config{DB: db, Now: func() time.Time { return now },
			Jobs: []Job{job("missed", &missed), job("current", &current), job("never", &never)}})
		waitFor(t, "the missed run", func() bool { return missed.Load() > 0 })
		time.Sleep(300 * time.Millisecond) // time for a wrong second run to show
		stop()
		if missed.Load() != 1 || current.Load() != 0 || never.Load() != 0 {
			t.Fatalf("runs at start: missed %d (want 1), current %d (want 0), never run before %d (want 0)",
				missed.Load(), current.Load(), never.Load())
		}
		v, err := db.Setting(ctx, settingKey("missed"))
		if err != nil || v != now.Format(time.RFC3339Nano) {
			t.Fatalf("last run after the catch-up: %q %v, want %s", v, err, now.Format(time.RFC3339Nano))
		}
	})
}

// TestPanicAndOverlap: a job that panics is counted as failed and the
// daemon goes on running it; a job still running when its next time comes
// is not started a second time.
func TestPanicAndOverlap(t *testing.T) {
	var calls, running, overlapped, slowRuns atomic.Int32
	var logs syncBuffer
	addr, stop := start(t, Config{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Jobs: []Job{
		{Name: "flaky", Spec: "@every 1s", Run: func(context.Context) (Result, error) {
			if calls.Add(1) == 1 {
				panic("boom with a secret: alice@example.org")
			}
			return Result{}, nil
		}},
		{Name: "slow", Spec: "@every 1s", Run: func(ctx context.Context) (Result, error) {
			if running.Add(1) > 1 {
				overlapped.Add(1)
			}
			defer running.Add(-1)
			slowRuns.Add(1)
			select {
			case <-time.After(2500 * time.Millisecond):
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
			return Result{}, nil
		}},
	}})
	waitFor(t, "a run after the panic", func() bool { return calls.Load() >= 2 })
	waitFor(t, "the slow job's ticks to pass while it runs", func() bool { return slowRuns.Load() >= 2 })
	m := scrape(t, addr)
	stop()
	for _, want := range []string{`oubli_job_runs_total{job="flaky",outcome="failed"} 1`, `oubli_job_runs_total{job="flaky",outcome="ok"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
	if overlapped.Load() != 0 {
		t.Errorf("the slow job ran %d times while already running", overlapped.Load())
	}
	if l := logs.String(); !strings.Contains(l, "job panicked") || strings.Contains(l, "alice@example.org") {
		t.Errorf("the panic is not logged, or logged with its value:\n%s", l)
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
