package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/procstat"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// TestNotifyBench (OUBLI_BENCH=1) measures, on both backends:
//   - `oubli notify deliver` (the real binary, default concurrency 16)
//     sending BENCH_NOTIFICATIONS (default 10,000) queued notifications to a
//     loopback receiver: notifications/s and the process's peak RSS;
//   - the cost queuing adds to an erasure's transaction: the p50 of a
//     transaction writing one audit entry with and without Outbox.Queue of
//     an erasure for the policies' two recipients, interleaved.
func TestNotifyBench(t *testing.T) {
	if os.Getenv("OUBLI_BENCH") != "1" {
		t.Skip("OUBLI_BENCH=1")
	}
	n := envInt("BENCH_NOTIFICATIONS", 10000)
	bin := build(t)
	ctx := context.Background()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	dir := t.TempDir()
	rf := filepath.Join(dir, "recipients.json")
	if err := os.WriteFile(rf, []byte(`{"adevinta_france": {"webhook": "`+srv.URL+`", "secret_env": "BENCH_SECRET"}, "processors": {"webhook": "`+srv.URL+`", "secret_env": "BENCH_SECRET"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := notify.LoadConfig(rf, []string{"adevinta_france", "processors"})
	if err != nil {
		t.Fatal(err)
	}
	recips := []policies.Recipient{{ID: "adevinta_france"}, {ID: "processors"}}
	for _, backend := range []string{"sqlite", "postgres"} {
		url := testdb.URL(t, backend)
		db, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// Queue n notifications (n/2 erasures × 2 recipients).
		ob := &notify.Outbox{Recipients: recips, Config: cfg}
		for i := 0; i < n/2; i += 500 {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				for j := i; j < min(i+500, n/2); j++ {
					if _, err := ob.Queue(ctx, tx, notify.Erasure("DSR-B-"+strconv.Itoa(j), "h:"+strconv.Itoa(100000+j), "u-"+strconv.Itoa(j), time.Now(), map[string]int64{"tickets": 1}, nil)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// The p50 cost of queuing in an erasure-sized transaction.
		var with, without []time.Duration
		for i := 0; i < 100; i++ {
			for _, q := range []bool{i%2 == 0, i%2 != 0} { // alternate which goes first
				start := time.Now()
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if q {
						if _, err := ob.Queue(ctx, tx, notify.Erasure(fmt.Sprintf("DSR-P-%d", i), fmt.Sprintf("h:ab%d", i), "u-p", time.Now(), map[string]int64{"tickets": 3}, nil)); err != nil {
							return err
						}
					}
					_, err := store.AppendAudit(ctx, tx, store.AuditRecord{Actor: "bench", Action: "bench.erase", Outcome: "ok"})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if q {
					with = append(with, time.Since(start))
				} else {
					without = append(without, time.Since(start))
				}
			}
		}
		// The 100 erasures queued there (2 recipients each) are delivered too.
		total := n + 200
		db.Close()
		got.Store(0)
		d, rss := oubliEnv(t, bin, []string{"OUBLI_DB=" + url, "OUBLI_RECIPIENTS=" + rf, "BENCH_SECRET=whsec_YmVuY2gtc2VjcmV0", "OUBLI_SECRET=bench"}, "notify", "deliver")
		if int(got.Load()) != total {
			t.Errorf("%s: receiver got %d, want %d", backend, got.Load(), total)
		}
		slices.Sort(with)
		slices.Sort(without)
		p50w, p50o := with[len(with)/2], without[len(without)/2]
		t.Logf("%s: notify deliver of %d notifications: %v, %.0f notifications/s, peak RSS %d MiB (concurrency 16)", backend, total, d.Round(time.Millisecond), float64(total)/d.Seconds(), rss/1024)
		t.Logf("%s: erasure-sized transaction p50 %v with queuing (2 recipients), %v without: +%v", backend, p50w.Round(10*time.Microsecond), p50o.Round(10*time.Microsecond), (p50w - p50o).Round(10*time.Microsecond))
	}
}

// oubliEnv runs the binary with env added and returns its wall time and
// peak RSS (KiB).
func oubliEnv(t testing.TB, bin string, env []string, args ...string) (time.Duration, int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("oubli %v: %v", args, err)
	}
	peak := procstat.PollPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	d := time.Since(start)
	rss := peak()
	if err != nil {
		t.Fatalf("oubli %v: %v\n%s", args, err, tail(out.String()))
	}
	return d, rss
}
