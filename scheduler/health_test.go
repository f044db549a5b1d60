package scheduler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// healthz returns the status and body of /healthz.
func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestExclusiveJobsNeverOverlap (issue 16 item 3): jobs that write the
// same tables (retention, statistics) never run at once in one daemon,
// even when their times coincide.
func TestExclusiveJobsNeverOverlap(t *testing.T) {
	var inFlight, overlaps, runs atomic.Int32
	job := func(name string) Job {
		return Job{Name: name, Spec: "@every 1s", Exclusive: true, Run: func(ctx context.Context) (Result, error) {
			if inFlight.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer inFlight.Add(-1)
			runs.Add(1)
			select {
			case <-time.After(700 * time.Millisecond):
			case <-ctx.Done():
			}
			return Result{}, nil
		}}
	}
	_, stop := start(t, Config{Jobs: []Job{job("retention"), job("stats")}})
	waitFor(t, "four runs", func() bool { return runs.Load() >= 4 })
	stop()
	if overlaps.Load() != 0 {
		t.Errorf("exclusive jobs overlapped %d times", overlaps.Load())
	}
}

// TestHealthAndMetricsTellTheTruth (issue 16 item 7, issue 18 item 8):
// every job's series exist from start-up (0 runs); /healthz is 503 and
// names the job whose last run failed or was refused; a skip is not a
// success (oubli_job_last_success stays 0).
func TestHealthAndMetricsTellTheTruth(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	gate := func() { <-release }
	addr, stop := start(t, Config{Jobs: []Job{
		{Name: "retention", Spec: "@every 1s", Run: func(context.Context) (Result, error) {
			gate()
			return Result{}, ErrRefused
		}},
		{Name: "stats", Spec: "@every 1s", Run: func(context.Context) (Result, error) {
			gate()
			return Result{}, ErrSkipped
		}},
		{Name: "report", Spec: "@every 1s", Run: func(context.Context) (Result, error) {
			gate()
			return Result{}, errors.New("report failed")
		}},
	}})
	m := scrape(t, addr)
	for _, want := range []string{`oubli_job_last_success{job="retention"} 0`, `oubli_job_runs_total{job="stats",outcome="ok"} 0`, `oubli_job_runs_total{job="report",outcome="failed"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics at start-up lacks %s:\n%s", want, m)
		}
	}
	if code, body := healthz(t, addr); code != 200 {
		t.Errorf("/healthz at start-up: %d %s", code, body)
	}
	once.Do(func() { close(release) })
	waitFor(t, "a run of every job", func() bool {
		m := scrape(t, addr)
		return strings.Contains(m, `job="retention",outcome="refused"} 1`) && strings.Contains(m, `job="stats",outcome="skipped"} 1`) && strings.Contains(m, `job="report",outcome="failed"} 1`)
	})
	code, body := healthz(t, addr)
	m = scrape(t, addr)
	stop()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "retention") || !strings.Contains(body, "refused") || !strings.Contains(body, "report") {
		t.Errorf("/healthz with a refused and a failed job: %d %q", code, body)
	}
	if strings.Contains(body, "stats") {
		t.Errorf("/healthz names a skipped job as failing: %q", body)
	}
	if !strings.Contains(m, `oubli_job_last_success{job="stats"} 0`) {
		t.Errorf("a skipped job counts as a success:\n%s", m)
	}
}

// TestHealthOverdue (issue 16 item 7): a job whose last success (kept in
// the store, shared by every instance) is older than its due time by more
// than its period makes /healthz 503, naming it; a recent one does not.
func TestHealthOverdue(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		if err := store.SetSetting(ctx, db, settingKey("retention"), now.Add(-80*time.Hour).Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
		if err := store.SetSetting(ctx, db, settingKey("stats"), now.Add(-time.Hour).Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
		block := make(chan struct{})
		defer close(block)
		slow := func(ctx context.Context) (Result, error) {
			select { // the catch-up run does not finish during the test
			case <-block:
			case <-ctx.Done():
			}
			return Result{}, ctx.Err()
		}
		addr, stop := start(t, Config{DB: db, Jobs: []Job{
			{Name: "retention", Spec: "0 3 * * *", Run: slow},
			{Name: "stats", Spec: "@every 24h", Run: slow},
		}})
		code, body := healthz(t, addr)
		stop()
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "retention") || !strings.Contains(body, "overdue") || strings.Contains(body, "stats") {
			t.Errorf("/healthz with retention 80 h behind a daily spec: %d %q", code, body)
		}
	})
}
