package ingest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/internal/testdb"
)

// BenchmarkIngest loads the same file of BENCH_INGEST_TICKETS (default
// 5,000) ticket lines with three messages each into a fresh store, with
// multi-row batches and, as the baseline measured in the same iteration,
// one statement per row (what ingest did before); it reports both rates
// and the speed-up.
func BenchmarkIngest(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("BENCH_INGEST_TICKETS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	attEvery = 10 // about one ticket in ten has a supporting document
	defer func() { attEvery = 7 }()
	file, _, _ := manyLines(b, n, func(i int) string { return fmt.Sprintf("message of line %d, long enough to look like a real one", i) })
	dir := b.TempDir()
	path := dir + "/in.jsonl"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var batched, rows time.Duration
			iters := 0
			load := func(rowwise bool) time.Duration {
				b.StopTimer()
				db := testdb.Open(b, backend)
				defer db.Close()
				restore := ingest.SetRowByRow(rowwise)
				defer restore()
				b.StartTimer()
				start := time.Now()
				if _, err := ingest.File(ctx, db, newBlobs(b), path, opts()); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			for b.Loop() {
				batched += load(false)
				rows += load(true)
				iters++
			}
			lines := float64(n * iters)
			b.ReportMetric(lines/batched.Seconds(), "tickets/s")
			b.ReportMetric(lines/rows.Seconds(), "baseline-tickets/s")
			b.ReportMetric(rows.Seconds()/batched.Seconds(), "speedup")
			b.Logf("%s, %d ticket lines (3 messages each): batched %.0f tickets/s, one row per statement %.0f tickets/s, speed-up %.1fx",
				backend, n, lines/batched.Seconds(), lines/rows.Seconds(), rows.Seconds()/batched.Seconds())
		})
	}
}
