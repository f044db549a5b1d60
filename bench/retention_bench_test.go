// Package bench measures `oubli retention run` against a hand-written SQL
// baseline that deletes the same expired rows in batches of the same size,
// on identical copies of a synthetic data set. Run it with `make bench`
// (OUBLI_BENCH=1; BENCH_TICKETS, BENCH_SQLITE_TICKETS to change the sizes).
package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/procstat"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const batch = 2000

var at = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func build(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "oubli")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/oubli")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func oubli(t testing.TB, bin, db, blobs string, args ...string) (time.Duration, int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "OUBLI_DB="+db, "OUBLI_BLOBS="+blobs, "OUBLI_LEDGER="+filepath.Join(blobs, "..", "ledger.log"), "OUBLI_SECRET=bench")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("oubli %v: %v", args, err)
	}
	// Peak RSS from the child's own VmHWM (its rusage counts ours too).
	peak := procstat.PollPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	d := time.Since(start)
	rss := peak()
	if err != nil {
		t.Fatalf("oubli %v: %v\n%s", args, err, tail(out.String()))
	}
	return d, rss
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// BenchmarkRetention is the small, always-on form of TestRetentionBench for
// `go test -bench`: BENCH_GO_TICKETS (default 20,000) synthetic tickets per
// backend, oubli against the baseline measured in the same iteration on an
// identical copy; it reports both times, rows/s and their ratio.
func BenchmarkRetention(b *testing.B) {
	bin := build(b)
	n := envInt("BENCH_GO_TICKETS", 20_000)
	for _, backend := range []string{"postgres", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			var sum result
			iters := 0
			for b.Loop() {
				r := measure(b, bin, backend, n, false)
				if !r.same {
					b.Fatalf("oubli and the baseline left different rows:\noubli    %s\nbaseline %s", r.survivors, r.alt)
				}
				sum.rows += r.rows
				sum.oubli += r.oubli
				sum.base += r.base
				iters++
			}
			b.ReportMetric(sum.oubli.Seconds()/float64(iters), "oubli-s/op")
			b.ReportMetric(sum.base.Seconds()/float64(iters), "baseline-s/op")
			b.ReportMetric(float64(sum.rows)/sum.oubli.Seconds(), "oubli-rows/s")
			b.ReportMetric(sum.ratio(), "ratio")
			b.Logf("%s, %d tickets: oubli %.2fs, baseline %.2fs, ratio %.2f", backend, n, sum.oubli.Seconds()/float64(iters), sum.base.Seconds()/float64(iters), sum.ratio())
		})
	}
}

// TestRetentionBench: PostgreSQL at BENCH_TICKETS (default 1,000,000) and
// SQLite at BENCH_SQLITE_TICKETS (default 100,000).
func TestRetentionBench(t *testing.T) {
	if os.Getenv("OUBLI_BENCH") != "1" {
		t.Skip("set OUBLI_BENCH=1 (make bench)")
	}
	bin := build(t)
	for _, c := range []struct {
		backend string
		n       int
	}{{"postgres", envInt("BENCH_TICKETS", 1_000_000)}, {"sqlite", envInt("BENCH_SQLITE_TICKETS", 100_000)}} {
		t.Run(c.backend, func(t *testing.T) { benchOne(t, bin, c.backend, c.n) })
	}
}

// result is one measurement: oubli and the baseline on identical copies.
type result struct {
	rows           int64
	oubli, base    time.Duration
	rssKiB         int64
	same           bool
	survivors, alt string
}

func (r result) ratio() float64 { return r.oubli.Seconds() / r.base.Seconds() }

func benchOne(t *testing.T, bin, backend string, n int) {
	r := measure(t, bin, backend, n, true)
	if !r.same {
		t.Errorf("oubli and the baseline left different rows:\noubli    %s\nbaseline %s", r.survivors, r.alt)
	}
	fmt.Printf("\nretention bench %s, %d tickets, batch %d: %d rows deleted or anonymised\n", backend, n, batch, r.rows)
	fmt.Printf("  oubli    %8.2fs  %9.0f rows/s  peak RSS %d MiB\n", r.oubli.Seconds(), float64(r.rows)/r.oubli.Seconds(), r.rssKiB/1024)
	fmt.Printf("  baseline %8.2fs  %9.0f rows/s\n", r.base.Seconds(), float64(r.rows)/r.base.Seconds())
	fmt.Printf("  ratio oubli/baseline (time) %.2f  (target <= 1.5 on PostgreSQL at 1M)\n", r.ratio())
	fmt.Printf("  same surviving rows: %v (%s)\n\n", r.same, r.survivors)
}

// measure seeds n synthetic tickets, copies the store, runs `oubli
// retention run` on one copy and the baseline on the other, and compares
// what survives. verbose logs the seeding time.
func measure(t testing.TB, bin, backend string, n int, verbose bool) result {
	ctx := context.Background()
	dir := t.TempDir()
	src := testdb.URL(t, backend)
	blobs := filepath.Join(dir, "blobs")
	oubli(t, bin, src, blobs, "migrate")
	start := time.Now()
	oubli(t, bin, src, blobs, "seed", "--synthetic", "--tickets", fmt.Sprint(n), "--old-share", "0.3", "--old-age", "5y10d")
	if verbose {
		t.Logf("%s: seeded %d tickets in %s", backend, n, time.Since(start).Round(time.Second))
	}

	// An identical copy for the baseline.
	var dst string
	if backend == "postgres" {
		// A nightly purge runs against a long-lived, analysed database.
		// Right after a bulk load autovacuum is still analysing, racing
		// whichever run comes first and leaving the copy with other
		// statistics: analyse once, so both start from the same state.
		sdb, err := store.Open(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sdb.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			t.Fatal(err)
		}
		sdb.Close()
		u, _ := url.Parse(src)
		name := strings.TrimPrefix(u.Path, "/")
		admin := *u
		admin.Path = "/postgres"
		a, err := sql.Open("postgres", admin.String())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Exec("CREATE DATABASE " + name + "_base TEMPLATE " + name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Exec("DROP DATABASE IF EXISTS " + name + "_base WITH (FORCE)") })
		u.Path = "/" + name + "_base"
		dst = u.String()
	} else {
		p := strings.TrimPrefix(src, "sqlite:")
		db, err := store.Open(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		db.Exec(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		db.Close()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, "base.db")
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		dst = "sqlite:" + cp
	}

	d1, rss := oubli(t, bin, src, blobs, "--output", "json", "retention", "run", "--allow-large", "--batch-size", fmt.Sprint(batch), "--at", at.Format(time.RFC3339))
	bdb, err := store.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	start = time.Now()
	rows := baseline(t, bdb)
	d2 := time.Since(start)

	odb, err := store.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	a, b := fingerprint(t, odb), fingerprint(t, bdb)
	return result{rows: rows, oubli: d1, base: d2, rssKiB: rss, same: a == b, survivors: a, alt: b}
}

// baseline deletes with plain SQL the rows the default policies expire at
// `at`, in keyset batches of the same size, and returns how many rows it
// deleted or anonymised. Periods are the team's defaults, hard-coded here
// only: this is the yardstick, not the product.
func baseline(t testing.TB, db *store.DB) int64 { return baselineAt(t, db, at) }

// baselineAt is baseline for a run at the given time.
func baselineAt(t testing.TB, db *store.DB, at time.Time) int64 {
	ctx := context.Background()
	y1, y3, y5 := store.Millis(at.AddDate(-1, 0, 0)), store.Millis(at.AddDate(-3, 0, 0)), store.Millis(at.AddDate(-5, 0, 0))
	atMs := store.Millis(at)
	noHold := func(tcol, ucol string) string {
		return fmt.Sprintf(`NOT EXISTS (SELECT 1 FROM legal_holds h WHERE (h.ticket_id = %s OR h.user_id = %s) AND %s)`, tcol, ucol, store.HoldActiveCond)
	}
	var total int64
	loop := func(sel string, args []any, del func(tx *store.Tx, ids []string) int64) {
		after := ""
		for {
			var ids []string
			if err := db.Select(ctx, &ids, sel, append(append([]any{after}, args...), batch)...); err != nil {
				t.Fatal(err)
			}
			if len(ids) == 0 {
				return
			}
			if err := db.InTx(ctx, func(tx *store.Tx) error { total += del(tx, ids); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(ids) < batch {
				return
			}
			after = ids[len(ids)-1]
		}
	}
	in := func(ids []string) (string, []any) {
		args := make([]any, len(ids))
		for i := range ids {
			args[i] = ids[i]
		}
		return "(" + store.Placeholders(len(ids)) + ")", args
	}
	exec := func(tx *store.Tx, q string, args ...any) int64 {
		r, err := tx.Exec(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := r.RowsAffected()
		return n
	}
	// Attachments: one year after their ticket closed.
	loop(`SELECT a.attachment_id FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE a.attachment_id > ? AND t.status = 'closed' AND t.closed_at <= ? AND t.dispute_status <> 'open' AND `+noHold("t.ticket_id", "t.user_id")+` ORDER BY a.attachment_id LIMIT ?`,
		[]any{y1, atMs, atMs, atMs}, func(tx *store.Tx, ids []string) int64 {
			l, a := in(ids)
			exec(tx, "INSERT INTO blob_deletions (blob_key, queued_at, reason) SELECT blob_key, 0, 'baseline' FROM attachments WHERE attachment_id IN "+l, a...)
			return exec(tx, "DELETE FROM attachments WHERE attachment_id IN "+l, a...)
		})
	// Tickets: five years after closure, with their messages and attachments.
	loop(`SELECT t.ticket_id FROM tickets t WHERE t.ticket_id > ? AND t.status = 'closed' AND t.closed_at <= ? AND t.dispute_status <> 'open' AND `+noHold("t.ticket_id", "t.user_id")+` ORDER BY t.ticket_id LIMIT ?`,
		[]any{y5, atMs, atMs, atMs}, func(tx *store.Tx, ids []string) int64 {
			l, a := in(ids)
			exec(tx, "INSERT INTO blob_deletions (blob_key, queued_at, reason) SELECT blob_key, 0, 'baseline' FROM attachments WHERE ticket_id IN "+l, a...)
			return exec(tx, "DELETE FROM attachments WHERE ticket_id IN "+l, a...) + exec(tx, "DELETE FROM messages WHERE ticket_id IN "+l, a...) + exec(tx, "DELETE FROM tickets WHERE ticket_id IN "+l, a...)
		})
	// Account events: three years.
	loop(`SELECT e.event_id FROM account_events e WHERE e.event_id > ? AND e.at <= ? AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.user_id = e.user_id AND `+store.HoldActiveCond+`) ORDER BY e.event_id LIMIT ?`,
		[]any{y3, atMs, atMs, atMs}, func(tx *store.Tx, ids []string) int64 {
			l, a := in(ids)
			return exec(tx, "DELETE FROM account_events WHERE event_id IN "+l, a...)
		})
	// Subjects: three years after account closure; deleted when nothing
	// remains, anonymised otherwise.
	loop(`SELECT s.user_id FROM subjects s WHERE s.user_id > ? AND s.account_closed_at <= ? AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.user_id = s.user_id AND `+store.HoldActiveCond+`) ORDER BY s.user_id LIMIT ?`,
		[]any{y3, atMs, atMs, atMs}, func(tx *store.Tx, ids []string) int64 {
			l, a := in(ids)
			empty := "NOT EXISTS (SELECT 1 FROM tickets t WHERE t.user_id = subjects.user_id) AND NOT EXISTS (SELECT 1 FROM account_events e WHERE e.user_id = subjects.user_id)"
			n := exec(tx, "UPDATE subjects SET email = 'anonymised-'||user_id||'@invalid', pseudo = 'anonymised', anonymized_at = 1 WHERE anonymized_at IS NULL AND NOT ("+empty+") AND user_id IN "+l, a...)
			exec(tx, "DELETE FROM objections WHERE user_id IN (SELECT user_id FROM subjects WHERE "+empty+" AND user_id IN "+l+")", a...)
			exec(tx, "DELETE FROM subject_stats WHERE user_id IN (SELECT user_id FROM subjects WHERE "+empty+" AND user_id IN "+l+")", a...)
			return n + exec(tx, "DELETE FROM subjects WHERE "+empty+" AND user_id IN "+l, a...)
		})
	return total
}

// fingerprint hashes the sorted surviving ids of each table (and which
// subjects are anonymised).
func fingerprint(t testing.TB, db *store.DB) string {
	var parts []string
	for _, q := range []string{
		"SELECT ticket_id FROM tickets ORDER BY ticket_id", "SELECT message_id FROM messages ORDER BY message_id",
		"SELECT attachment_id FROM attachments ORDER BY attachment_id", "SELECT event_id FROM account_events ORDER BY event_id",
		"SELECT user_id FROM subjects ORDER BY user_id", "SELECT user_id FROM subjects WHERE anonymized_at IS NOT NULL ORDER BY user_id",
	} {
		var ids []string
		if err := db.Select(context.Background(), &ids, q); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(strings.Join(ids, "\n")))
		parts = append(parts, fmt.Sprintf("%d:%s", len(ids), hex.EncodeToString(h[:4])))
	}
	return strings.Join(parts, " ")
}
