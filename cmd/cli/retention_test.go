package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

// seedSynthetic loads n synthetic tickets, 40% closed more than 5 years ago.
func (w *cliWorld) seedSynthetic(n int) {
	w.t.Helper()
	if code, _, errs := w.run("migrate"); code != 0 {
		w.t.Fatalf("migrate: exit %d: %s", code, errs)
	}
	if code, _, errs := w.run("seed", "--synthetic", "--tickets", fmt.Sprint(n), "--old-share", "0.4", "--old-age", "5y10d"); code != 0 {
		w.t.Fatalf("seed: exit %d: %s", code, errs)
	}
}

// inventory returns the data inventory, without the audit trail (a refused
// run audits itself).
func (w *cliWorld) inventory() string {
	w.t.Helper()
	code, out, errs := w.run("--output", "json", "inventory")
	if code != 0 {
		w.t.Fatalf("inventory: exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		w.t.Fatal(err)
	}
	delete(m, "audit_entries")
	return fmt.Sprint(m)
}

func TestRetentionCLI(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend)}
			w.seedSynthetic(300)
			before := w.inventory()

			// A broken policy: exit 2, nothing read or written.
			bad := t.TempDir()
			os.WriteFile(filepath.Join(bad, "retention.rego"), []byte("package oubli.retention\n\ndecisions contains d if {\n"), 0o600)
			if code, _, errs := w.run("--policies", bad, "retention", "run", "--allow-large", "--at", "2040-01-01"); code != 2 || !strings.Contains(errs, "policy") {
				t.Fatalf("broken policy: exit %d (%s), want 2", code, errs)
			}
			if w.inventory() != before {
				t.Fatal("a run with a broken policy changed the store")
			}

			// Plan: the JSON contract.
			code, out, errs := w.run("--output", "json", "retention", "plan", "--explain", "2")
			if code != 0 {
				t.Fatalf("plan: exit %d: %s", code, errs)
			}
			var plan map[string]any
			if err := json.Unmarshal([]byte(out), &plan); err != nil {
				t.Fatalf("plan output is not one JSON document: %v\n%s", err, out)
			}
			for _, k := range []string{"at", "policy_revision", "delete", "anonymize", "kept_by_hold", "total", "rules"} {
				if _, ok := plan[k]; !ok {
					t.Errorf("plan JSON lacks %q", k)
				}
			}
			for _, c := range retention.Categories {
				if _, ok := plan["delete"].(map[string]any)[c]; !ok {
					t.Errorf("plan delete lacks category %q", c)
				}
			}
			if plan["total"].(float64) == 0 {
				t.Fatal("synthetic data with 40% old tickets: the plan deletes nothing")
			}

			// The safety valve: exit 3, nothing deleted.
			if code, _, errs := w.run("retention", "run", "--max-share", "0.05"); code != 3 || !strings.Contains(errs, "safety valve") {
				t.Fatalf("valve: exit %d (%s), want 3", code, errs)
			}
			if w.inventory() != before {
				t.Fatal("a refused run changed the store")
			}

			// Busy: another process holds the lock.
			db, err := store.Open(context.Background(), w.db)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			l, err := db.TryLock(context.Background(), retention.LockName)
			if err != nil {
				t.Fatal(err)
			}
			if code, _, errs := w.run("retention", "run", "--allow-large"); code != 4 {
				t.Fatalf("busy: exit %d (%s), want 4", code, errs)
			}
			l.Unlock()

			// The run does what the plan said.
			code, out, errs = w.run("--output", "json", "retention", "run", "--allow-large")
			if code != 0 {
				t.Fatalf("run: exit %d: %s", code, errs)
			}
			var run map[string]any
			if err := json.Unmarshal([]byte(out), &run); err != nil {
				t.Fatal(err)
			}
			if run["run_id"] == "" || fmt.Sprint(run["delete"]) != fmt.Sprint(plan["delete"]) || run["total"] != plan["total"] {
				t.Errorf("run != plan:\nplan %v %v\nrun  %v %v", plan["delete"], plan["total"], run["delete"], run["total"])
			}
			if code, _, errs := w.run("check"); code != 0 {
				t.Errorf("check after run: exit %d: %s", code, errs)
			}
			_, out, _ = w.run("--output", "json", "retention", "plan")
			json.Unmarshal([]byte(out), &plan)
			if plan["total"].(float64) != 0 {
				t.Errorf("plan after the run still finds %v records", plan["total"])
			}

			// Holds: add, list, release.
			code, _, errs = w.run("hold", "add", "--user-id", "nobody", "--reason", "x")
			if code != 5 {
				t.Errorf("hold on an unknown subject: exit %d (%s), want 5", code, errs)
			}
			if code, _, _ := w.run("hold", "add", "--reason", "x"); code != 2 {
				t.Errorf("hold without a target: exit %d, want 2", code)
			}
		})
	}
}

var (
	cliBinOnce sync.Once
	cliBin     string
	cliBinErr  error
)

func oubliBinary(t *testing.T) string {
	t.Helper()
	cliBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "oubli-cli-bin-")
		if err != nil {
			cliBinErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		cliBin = filepath.Join(dir, "oubli")
		cmd := exec.Command("go", "build", "-o", cliBin, "./cmd/oubli")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliBinErr != nil {
		t.Fatal(cliBinErr)
	}
	return cliBin
}

func (w *cliWorld) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "OUBLI_DB="+w.db, "OUBLI_BLOBS="+filepath.Join(w.dir, "blobs"),
		"OUBLI_LEDGER="+filepath.Join(w.dir, "erasures.log"), "OUBLI_SECRET=retention-test-secret")
	return cmd
}

// TestRetentionKillResume kills `retention run` (SIGKILL) at a random moment,
// reruns it, and compares with an uninterrupted run on the same data.
func TestRetentionKillResume(t *testing.T) {
	bin := oubliBinary(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
			final := ""
			for i := 0; i < 3; i++ {
				w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend)}
				if out, err := w.command(bin, "migrate").CombinedOutput(); err != nil {
					t.Fatalf("migrate: %v: %s", err, out)
				}
				seed := w.command(bin, "seed", "--synthetic", "--tickets", "2000", "--old-share", "0.4", "--old-age", "5y10d")
				if out, err := seed.CombinedOutput(); err != nil {
					t.Fatalf("seed: %v: %s", err, out)
				}
				at := "2026-02-01T00:00:00Z"
				if i > 0 {
					run := w.command(bin, "retention", "run", "--allow-large", "--batch-size", "20", "--at", at)
					if err := run.Start(); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Duration(50+r.IntN(600)) * time.Millisecond)
					_ = run.Process.Signal(syscall.SIGKILL)
					_ = run.Wait()
				}
				out, err := w.command(bin, "--output", "json", "retention", "run", "--allow-large", "--at", at).CombinedOutput()
				if err != nil {
					t.Fatalf("rerun: %v: %s", err, out)
				}
				if out, err := w.command(bin, "check").CombinedOutput(); err != nil {
					t.Fatalf("check after kill+rerun: %v: %s", err, out)
				}
				if out, err := w.command(bin, "audit", "verify").CombinedOutput(); err != nil {
					t.Fatalf("audit verify: %v: %s", err, out)
				}
				inv, err := w.command(bin, "--output", "json", "inventory").Output()
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				json.Unmarshal(inv, &m)
				delete(m, "audit_entries") // the killed run leaves its own start entry
				got := fmt.Sprint(m)
				if i == 0 {
					final = got
				} else if got != final {
					t.Errorf("iteration %d: after kill and rerun\n%s\nwant (uninterrupted)\n%s", i, got, final)
				}
			}
		})
	}
}

// TestScheduleDaemon runs `oubli schedule` with a one-second spec, reads
// /metrics, and stops it with SIGTERM.
func TestScheduleDaemon(t *testing.T) {
	bin := oubliBinary(t)
	w := &cliWorld{t: t, dir: t.TempDir(), db: "sqlite:" + filepath.Join(t.TempDir(), "o.db")}
	if out, err := w.command(bin, "seed", "--synthetic", "--tickets", "200", "--old-share", "0.1", "--old-age", "5y10d").CombinedOutput(); err != nil {
		t.Fatalf("seed: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := w.command(bin, "schedule", "--max-share", "1", "--retention", "@every 1s", "--stats", "@every 1s", "--report", "", "--listen", addr)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			// The series exist from start-up at 0: wait for a success of each.
			ran := func(job string) bool {
				s := `oubli_job_runs_total{job="` + job + `",outcome="ok"} `
				return strings.Contains(body, s) && !strings.Contains(body, s+"0\n")
			}
			if ran("retention") && ran("stats") && strings.Contains(body, `oubli_retention_last_run_records{category="tickets"}`) {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, series := range []string{`oubli_job_runs_total{job="retention",outcome="ok"}`, `oubli_job_last_run_timestamp_seconds{job="retention"}`,
		`oubli_retention_last_run_records{category="tickets"}`, `oubli_job_last_success{job="retention"} 1`, `oubli_job_last_duration_seconds{job="stats"}`} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s\n%s\nstderr:\n%s", series, body, stderr.String())
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("schedule after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("schedule did not stop on SIGTERM")
	}
	db, err := store.Open(context.Background(), w.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Setting(context.Background(), "scheduler.retention.last_run"); err != nil || v == "" {
		t.Errorf("last run time not kept: %q %v", v, err)
	}
}

// TestLockTimeoutExitCode (issue 18 item 10): a lock timeout is a failure
// (exit 1, nothing changed), never exit 4, which means only "another
// retention run holds the lock".
func TestLockTimeoutExitCode(t *testing.T) {
	if c := ExitCode(fmt.Errorf("erase: %w: %w", store.ErrLockTimeout, errors.New("pq: canceling statement due to lock timeout"))); c != ExitFailed {
		t.Errorf("lock timeout: exit %d, want %d", c, ExitFailed)
	}
	if c := ExitCode(fmt.Errorf("retention lock: %w", store.ErrBusy)); c != ExitBusy {
		t.Errorf("busy: exit %d, want %d", c, ExitBusy)
	}
}

// TestRetentionValveStopJSON (issue 11 item 7): a run the safety valve
// stops mid-way (the data changed after it started) has committed batches;
// under --output json, stdout is one JSON document holding both the error
// (with its exit code) and the report of what the run did before stopping.
func TestRetentionValveStopJSON(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend)}
			w.seedSynthetic(300)
			if code, _, errs := w.run("retention", "run", "--allow-large"); code != 0 {
				t.Fatalf("first run: exit %d: %s", code, errs)
			}
			db, err := store.Open(context.Background(), w.db)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var events int64
			if err := db.Get(context.Background(), &events, "SELECT COUNT(*) FROM account_events"); err != nil || events < 20 {
				t.Fatalf("%d account events (%v); want at least 20", events, err)
			}
			// One account event is old: the run's first page. Once the run
			// (not a plan before it) has decided it, every event becomes ten
			// years old: the following pages are all deleted until the valve
			// stops the run.
			ctx := context.Background()
			old := store.Millis(time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC))
			if _, err := db.Exec(ctx, "UPDATE account_events SET at = ? WHERE event_id = (SELECT MIN(event_id) FROM account_events)", old); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			saved := runRetention
			defer func() { runRetention = saved }()
			runRetention = func(ctx context.Context, db2 *store.DB, pol retention.Policy, o retention.Options) (*retention.Report, error) {
				hook := &ageEventsPolicy{Policy: pol, hook: func() {
					var running int
					if err := db.Get(ctx, &running, "SELECT COUNT(*) FROM retention_runs WHERE outcome = 'running'"); err != nil {
						t.Error(err)
					}
					if running == 0 {
						return // a plan
					}
					once.Do(func() {
						if _, err := db.Exec(ctx, "UPDATE account_events SET at = ?", old); err != nil {
							t.Error(err)
						}
					})
				}}
				return retention.Run(ctx, db2, hook, o)
			}
			code, out, errs := w.run("--output", "json", "retention", "run", "--batch-size", "1", "--workers", "1")
			if code != 3 {
				t.Fatalf("run: exit %d, want 3 (valve)\nstdout: %s\nstderr: %s", code, out, errs)
			}
			var doc map[string]any
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out)
			}
			if dec.More() {
				t.Fatalf("stdout holds more than one JSON document:\n%s", out)
			}
			del, _ := doc["delete"].(map[string]any)
			if !strings.Contains(fmt.Sprint(doc["error"]), "safety valve") || doc["exit_code"] != float64(3) ||
				doc["outcome"] != "refused" || doc["run_id"] == nil || del == nil {
				t.Fatalf("want one document with the error, its exit code and the run's report; got\n%s", out)
			}
			var left int64
			if err := db.Get(context.Background(), &left, "SELECT COUNT(*) FROM account_events"); err != nil {
				t.Fatal(err)
			}
			if got := del["account_events"]; got != float64(events-left) || events == left {
				t.Errorf("report says %v account events deleted; the store lost %d", got, events-left)
			}
		})
	}
}

// ageEventsPolicy calls hook after deciding a page of account events.
type ageEventsPolicy struct {
	retention.Policy
	hook func()
}

func (p *ageEventsPolicy) Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error) {
	if len(recs) > 0 && recs[0].Category == policies.CatAccountEvents {
		defer p.hook()
	}
	return p.Policy.Decide(ctx, at, recs)
}
