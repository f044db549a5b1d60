// Package scheduler is the `oubli schedule` daemon: it runs the nightly jobs
// (retention purge, statistics refresh, overdue-request report) on cron
// specs in a chosen time zone, catches up once at start on a run missed
// while it was down, serves /healthz and Prometheus /metrics, and stops
// cleanly on SIGTERM: the job in flight finishes its current batch, releases
// its lock, and the daemon exits 0.
//
// Time zones and daylight saving: specs are read in the --tz location
// (robfig/cron WithLocation). On the spring-forward night a local time that
// does not exist (02:30 in Europe/Paris) is skipped for that day; on the
// fall-back night a fixed time that occurs twice (02:30) runs once, at its
// first occurrence, as Vixie cron does (robfig/cron alone runs it twice);
// specs that run every hour keep running through both passes of the hour.
// Prefer a spec outside 01:00–03:00 local time, or run in UTC (the
// default).
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/oubli/oubli/store"
)

// ErrSkipped is returned by a job that found nothing to do because another
// instance holds its lock: logged and counted, not a failure.
var ErrSkipped = errors.New("skipped: another instance is running it")

// ErrRefused is returned (wrapped) by a job that refused to act, such as a
// retention run stopped by its safety valve: a failure for /healthz.
var ErrRefused = errors.New("refused")

// outcomes are the values of oubli_job_runs_total's outcome label.
var outcomes = []string{"ok", "failed", "refused", "skipped", "canceled"}

// Result is what a job reports for the metrics.
type Result struct {
	// Deleted counts records deleted (or anonymised) per category.
	Deleted map[string]int64
}

// Job is one scheduled task.
type Job struct {
	Name string
	Spec string // cron spec: 5 fields (optional leading seconds), or @every/@daily…
	Run  func(ctx context.Context) (Result, error)
	// Exclusive jobs write the same tables (retention, statistics): two
	// exclusive jobs of one daemon never run at once; one waits for the
	// other.
	Exclusive bool
}

// Config configures the daemon.
type Config struct {
	Jobs     []Job
	Location *time.Location // default UTC
	Listen   string         // host:port for /healthz and /metrics ("" to disable)
	DB       *store.DB      // keeps each job's last run time (settings table)
	Log      *slog.Logger
	Now      func() time.Time
	// Ready, when set, receives the HTTP listener's address once serving.
	Ready func(addr string)
}

// Parser reads the daemon's specs: standard five fields, an optional
// leading seconds field, and descriptors (@daily, @every 1h).
var Parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a cron spec (Parser) into the schedule the daemon follows:
// a spec at fixed hours fires once on the night clocks go back (see
// onceOnFallBack).
func Parse(spec string) (cron.Schedule, error) {
	s, err := Parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	if ss, ok := s.(*cron.SpecSchedule); ok && ss.Hour&allHours != allHours {
		return onceOnFallBack{ss}, nil
	}
	return s, nil
}

// allHours is the hour field of a spec that runs at every hour.
const allHours = 1<<24 - 1

// onceOnFallBack is a spec at fixed hours that skips the second pass of a
// wall-clock time occurring twice, on the night clocks go back: a daily
// 02:30 job runs at 02:30 summer time, not again at 02:30 winter time.
type onceOnFallBack struct{ *cron.SpecSchedule }

// Next implements cron.Schedule.
func (s onceOnFallBack) Next(t time.Time) time.Time {
	n := s.SpecSchedule.Next(t)
	for i := 0; i < 4 && !n.IsZero() && secondPass(n); i++ {
		n = s.SpecSchedule.Next(n)
	}
	return n
}

// secondPass reports whether the wall-clock time of t (in its location)
// was already shown one hour earlier: t is in the repeated hour after the
// clocks went back.
func secondPass(t time.Time) bool {
	e := t.Add(-time.Hour)
	return e.Day() == t.Day() && e.Hour() == t.Hour() && e.Minute() == t.Minute()
}

func settingKey(job string) string { return "scheduler." + job + ".last_run" }

// metrics are the daemon's Prometheus series.
type metrics struct {
	reg      *prometheus.Registry
	lastRun  *prometheus.GaugeVec
	lastOK   *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	runs     *prometheus.CounterVec
	deleted  *prometheus.CounterVec
	lastDel  *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.lastRun = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oubli_job_last_run_timestamp_seconds", Help: "When the job last finished (Unix seconds)."}, []string{"job"})
	m.lastOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oubli_job_last_success", Help: "1 if the job's last run succeeded, 0 if it failed or was refused, or has not succeeded since start-up (a skip or a cancellation leaves it as it was)."}, []string{"job"})
	m.duration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oubli_job_last_duration_seconds", Help: "How long the job's last run took."}, []string{"job"})
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oubli_job_runs_total", Help: "Job runs by outcome (ok, failed, refused, skipped, canceled)."}, []string{"job", "outcome"})
	m.deleted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oubli_retention_records_total", Help: "Records deleted or anonymised by retention, per category, since start."}, []string{"category"})
	m.lastDel = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oubli_retention_last_run_records", Help: "Records deleted or anonymised by the last retention run, per category."}, []string{"category"})
	m.reg.MustRegister(m.lastRun, m.lastOK, m.duration, m.runs, m.deleted, m.lastDel)
	return m
}

// declare creates a job's series at start-up (0 runs), so that a job that
// has not run yet is visible, and an alert on it can be written.
func (m *metrics) declare(job string) {
	m.lastRun.WithLabelValues(job).Set(0)
	m.lastOK.WithLabelValues(job).Set(0)
	m.duration.WithLabelValues(job).Set(0)
	for _, o := range outcomes {
		m.runs.WithLabelValues(job, o).Add(0)
	}
}

// jobState is what /healthz knows of one job.
type jobState struct {
	job     Job
	sched   cron.Schedule
	mu      sync.Mutex
	outcome string    // of the last run that was not skipped or canceled
	success time.Time // last success seen by this daemon
}

// health returns, for every job in trouble, a line naming it: its last
// run failed or was refused, or it is overdue (its last success, here or
// recorded in the store by any instance, is older than its next due time by
// more than its period). No line: healthy.
func health(ctx context.Context, cfg Config, states []*jobState, started time.Time) []string {
	now := cfg.Now()
	var bad []string
	for _, st := range states {
		st.mu.Lock()
		outcome, last := st.outcome, st.success
		st.mu.Unlock()
		if outcome == "failed" || outcome == "refused" {
			bad = append(bad, fmt.Sprintf("job %s: last run %s", st.job.Name, outcome))
			continue
		}
		if cfg.DB != nil {
			if v, err := cfg.DB.Setting(ctx, settingKey(st.job.Name)); err == nil {
				if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(last) {
					last = t
				}
			}
		}
		if last.IsZero() {
			last = started
		}
		due := st.sched.Next(last.In(cfg.Location))
		period := st.sched.Next(due).Sub(due)
		if !due.IsZero() && now.After(due.Add(period)) {
			bad = append(bad, fmt.Sprintf("job %s: overdue (due %s, last success %s)", st.job.Name, due.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339)))
		}
	}
	return bad
}

// cronLogger adapts slog to cron's logger (used by Recover and SkipIfStillRunning).
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append([]any{"error", fmt.Sprint(err)}, kv...)...)
}

// Run runs the daemon until ctx is canceled, then waits for the jobs in
// flight (which see ctx canceled and stop between batches) and returns nil.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := newMetrics()
	logger := cronLogger{cfg.Log}
	c := cron.New(cron.WithLocation(cfg.Location), cron.WithParser(Parser), cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))

	var wg sync.WaitGroup // catch-up runs started outside cron
	type planned struct {
		job   Job
		sched cron.Schedule
		run   func()
	}
	var jobs []planned
	var states []*jobState
	exclusive := make(chan struct{}, 1) // held by the exclusive job running
	for _, j := range cfg.Jobs {
		sched, err := Parse(j.Spec)
		if err != nil {
			return fmt.Errorf("--%s %q: not a cron spec: %v: %w", j.Name, j.Spec, err, store.ErrInvalid)
		}
		m.declare(j.Name)
		st := &jobState{job: j, sched: sched}
		states = append(states, st)
		run := wrap(ctx, cfg, m, st, exclusive)
		// The chain's SkipIfStillRunning also covers the catch-up run.
		wrapped := cron.NewChain(cron.SkipIfStillRunning(logger)).Then(cron.FuncJob(run))
		c.Schedule(sched, wrapped)
		jobs = append(jobs, planned{j, sched, wrapped.Run})
	}

	var srv *http.Server
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		mux := http.NewServeMux()
		started := cfg.Now()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			if bad := health(r.Context(), cfg, states, started); len(bad) > 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				for _, l := range bad {
					fmt.Fprintln(w, l)
				}
				return
			}
			fmt.Fprintln(w, "ok")
		})
		mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		if cfg.Ready != nil {
			cfg.Ready(ln.Addr().String())
		}
	}

	c.Start()
	cfg.Log.Info("scheduler started", "tz", cfg.Location.String(), "jobs", len(jobs))

	// Catch up, once, on a run missed while the daemon was down.
	now := cfg.Now()
	for _, p := range jobs {
		if cfg.DB == nil {
			break
		}
		last, err := cfg.DB.Setting(ctx, settingKey(p.job.Name))
		if err != nil {
			continue // never ran (or unreadable): wait for the schedule
		}
		t, err := time.Parse(time.RFC3339Nano, last)
		if err != nil {
			continue
		}
		if next := p.sched.Next(t.In(cfg.Location)); !next.After(now) {
			cfg.Log.Info("scheduler: catching up a missed run", "job", p.job.Name, "missed", next.UTC().Format(time.RFC3339))
			wg.Add(1)
			go func(run func()) { defer wg.Done(); run() }(p.run)
		}
	}

	<-ctx.Done()
	cfg.Log.Info("scheduler stopping: waiting for the jobs in flight")
	<-c.Stop().Done()
	wg.Wait()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	cfg.Log.Info("scheduler stopped")
	return nil
}

// wrap runs one job, records its last run time and its metrics. An
// exclusive job first takes the exclusive slot, waiting for the exclusive
// job running (or for the daemon to stop).
func wrap(ctx context.Context, cfg Config, m *metrics, st *jobState, exclusive chan struct{}) func() {
	j := st.job
	return func() {
		if ctx.Err() != nil {
			return
		}
		if j.Exclusive {
			select {
			case exclusive <- struct{}{}:
				defer func() { <-exclusive }()
			case <-ctx.Done():
				return
			}
		}
		start := cfg.Now()
		res, err := runRecovered(ctx, cfg.Log, j)
		d := cfg.Now().Sub(start)
		outcome := "ok"
		switch {
		case errors.Is(err, ErrSkipped):
			outcome = "skipped"
			cfg.Log.Info("scheduler: job skipped", "job", j.Name, "reason", err.Error())
		case err != nil && ctx.Err() != nil:
			outcome = "canceled"
		case errors.Is(err, ErrRefused):
			outcome = "refused"
			cfg.Log.Error("scheduler: job refused", "job", j.Name, "error", err.Error())
		case err != nil:
			outcome = "failed"
			cfg.Log.Error("scheduler: job failed", "job", j.Name, "error", err.Error())
		}
		m.runs.WithLabelValues(j.Name, outcome).Inc()
		m.lastRun.WithLabelValues(j.Name).Set(float64(cfg.Now().Unix()))
		m.duration.WithLabelValues(j.Name).Set(d.Seconds())
		switch outcome {
		case "ok":
			m.lastOK.WithLabelValues(j.Name).Set(1)
		case "failed", "refused":
			m.lastOK.WithLabelValues(j.Name).Set(0)
		}
		st.mu.Lock()
		if outcome != "skipped" && outcome != "canceled" {
			st.outcome = outcome
		}
		if outcome == "ok" {
			st.success = start
		}
		st.mu.Unlock()
		if res.Deleted != nil {
			for cat, n := range res.Deleted {
				m.deleted.WithLabelValues(cat).Add(float64(n))
				m.lastDel.WithLabelValues(cat).Set(float64(n))
			}
		}
		// Only a success is recorded: a skipped run (another instance
		// has the lock) is caught up, and /healthz reads this time (the
		// instance that ran it records its own).
		if cfg.DB != nil && outcome == "ok" {
			if err := store.SetSetting(context.WithoutCancel(ctx), cfg.DB, settingKey(j.Name), start.UTC().Format(time.RFC3339Nano)); err != nil {
				cfg.Log.Error("scheduler: cannot record the last run time", "job", j.Name, "error", err.Error())
			}
		}
		cfg.Log.Info("scheduler: job done", "job", j.Name, "outcome", outcome, "seconds", d.Seconds())
	}
}

// errPanic marks a job that panicked.
var errPanic = errors.New("panicked")

// runRecovered runs a job and turns a panic into an error, so that it is
// counted and logged as a failure and the daemon goes on. The panic's value
// is not logged (it could hold data); its type and the stack are.
func runRecovered(ctx context.Context, log *slog.Logger, j Job) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("scheduler: job panicked", "job", j.Name, "panic_type", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
			res, err = Result{}, fmt.Errorf("job %s: %w", j.Name, errPanic)
		}
	}()
	return j.Run(ctx)
}
