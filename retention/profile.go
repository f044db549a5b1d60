package retention

import (
	"log/slog"
	"os"
	"runtime/pprof"
	"time"
)

// ProfileEnv names the environment variable that, when set to a file path,
// makes Plan and Run write a pprof CPU profile of themselves to that file
// (`go tool pprof -top bin/oubli FILE`). It is a tool for performance work,
// not a user-facing option: the profile holds function names and timings,
// never data.
const ProfileEnv = "OUBLI_CPUPROFILE"

// startProfile starts the CPU profile ProfileEnv asks for and returns the
// function that stops it. A profile that cannot be written is logged and
// skipped: it never stops a purge.
func startProfile(log *slog.Logger) func() {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Warn("retention: cannot write the CPU profile", "env", ProfileEnv, "error", err.Error())
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		log.Warn("retention: cannot start the CPU profile", "env", ProfileEnv, "error", err.Error())
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// step is a part of a batch whose time is measured.
type step int

const (
	stepScan   step = iota // candidate scan SQL
	stepFacts              // facts SQL: holds, row locks, counts of cascades (plan)
	stepDecide             // policy evaluation
	stepWrite              // delete / anonymise SQL
	stepCommit             // run bookkeeping and commit
	stepDrain              // blob contents removed after a commit
	nSteps
)

var stepNames = [nSteps]string{"scan_ms", "facts_ms", "decide_ms", "write_ms", "commit_ms", "drain_ms"}

// timings accumulates the wall time spent in each step.
type timings [nSteps]time.Duration

// since adds the time elapsed since t0 to step s and returns now, so that
// consecutive steps chain: t = p.tm.since(stepScan, t).
func (tm *timings) since(s step, t0 time.Time) time.Time {
	now := time.Now()
	tm[s] += now.Sub(t0)
	return now
}

// total is the time accounted for so far.
func (tm *timings) total() time.Duration {
	var d time.Duration
	for _, x := range tm {
		d += x
	}
	return d
}

// attrs returns the timings as log attributes, in milliseconds.
func (tm *timings) attrs() []any {
	out := make([]any, 0, 2*nSteps)
	for s := step(0); s < nSteps; s++ {
		out = append(out, stepNames[s], tm[s].Milliseconds())
	}
	return out
}
