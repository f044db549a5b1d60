// Package procstat measures a child process from outside, for benchmarks
// and measurements: its peak resident set, read from /proc (Linux).
//
// A child's rusage maxrss is no use for this: Go starts children with
// vfork, and Linux then charges the parent's resident set to the child.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PollPeakRSS polls the peak resident set (VmHWM) of a running process
// every 10 ms and returns a function that stops polling and gives the
// highest value seen, in KiB. VmHWM is monotonic, so polling misses at
// most the last interval's growth.
func PollPeakRSS(pid int) (stop func() int64) {
	var peak atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := PeakRSS(pid); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 { close(quit); <-done; return peak.Load() }
}

// PeakRSS returns the peak resident set of a live process in KiB (0 once
// it has exited, or where /proc is not available).
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
