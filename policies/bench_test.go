package policies

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime is this process's user+system CPU time: on a shared machine it
// measures the work done, whatever else runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecide compares one evaluation per batch of 2,000 records with
// one evaluation per record, over 100,000 records of every category.
// decisions/s is wall-clock throughput (batches use every CPU);
// decisions/cpu-s is per CPU second.
func BenchmarkDecide(b *testing.B) {
	e := mustLoad(b)
	at := ts(b, "2026-03-31T02:00:00Z")
	all := randomRecords(rand.New(rand.NewPCG(1, 2)), at, 100_000/9+1)[:100_000]
	ctx := context.Background()
	rates := map[int]float64{}
	run := func(b *testing.B, size int) {
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime()
		n := 0
		for b.Loop() {
			for i := 0; i < len(all); i += size {
				j := min(i+size, len(all))
				if _, err := e.Decide(ctx, at, all[i:j]); err != nil {
					b.Fatal(err)
				}
			}
			n += len(all)
		}
		wall, cpu := time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds()
		rates[size] = float64(n) / wall
		b.ReportMetric(float64(n)/wall, "decisions/s")
		b.ReportMetric(float64(n)/cpu, "decisions/cpu-s")
	}
	b.Run("batch=2000", func(b *testing.B) { run(b, 2000) })
	b.Run("batch=1", func(b *testing.B) { run(b, 1) })
	if rates[1] > 0 {
		b.ReportMetric(rates[2000]/rates[1], "batch-speedup")
		b.Logf("100,000 decisions: batched %.0f/s, one per record %.0f/s, ratio %.1fx", rates[2000], rates[1], rates[2000]/rates[1])
	}
}

// BenchmarkLoad is what every command pays before its work: parsing,
// compiling and preparing the embedded policies.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(context.Background(), Embedded()); err != nil {
			b.Fatal(err)
		}
	}
}
