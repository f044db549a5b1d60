package stats_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/seed"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

var errRollback = errors.New("rollback")

// BenchmarkRefresh measures, on a synthetic SQLite store
// (BENCH_STATS_TICKETS tickets, 20,000 by default), the incremental
// refresh of an unchanged store and after one objection, and the
// statistics part of an objection (the subject's figure deleted, the named
// agent days they touched recomputed), each also as a ratio to a full
// recomputation timed in the same run (metric "of_full").
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("BENCH_STATS_TICKETS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "o.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bs, err := blobs.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := seed.Synthetic(ctx, db, bs, seed.SyntheticOptions{Tickets: n, Seed: 1, OldShare: -1, Now: now}); err != nil {
		b.Fatal(err)
	}
	eng := engine(b)
	start := time.Now()
	if _, err := stats.RefreshWith(ctx, db, eng, now, "bench", stats.Options{Full: true}); err != nil {
		b.Fatal(err)
	}
	full := time.Since(start)
	var users []string
	if err := db.Select(ctx, &users, `SELECT user_id FROM tickets WHERE user_id IS NOT NULL
		GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 200`); err != nil {
		b.Fatal(err)
	}
	ratio := func(b *testing.B, d time.Duration) {
		b.ReportMetric(float64(d)/float64(b.N)/float64(full), "of_full")
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			if _, err := stats.RefreshWith(ctx, db, eng, now, "bench", stats.Options{Full: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incremental_unchanged", func(b *testing.B) {
		var spent time.Duration
		for b.Loop() {
			s := time.Now()
			if _, err := stats.Refresh(ctx, db, eng, now, "bench"); err != nil {
				b.Fatal(err)
			}
			spent += time.Since(s)
		}
		ratio(b, spent)
	})
	b.Run("object_statistics_part", func(b *testing.B) {
		var spent time.Duration
		i := 0
		for b.Loop() {
			uid := users[i%len(users)]
			i++
			s := time.Now()
			err := db.InTx(ctx, func(tx *store.Tx) error {
				days, err := stats.Contribution(ctx, tx, uid, now)
				if err != nil {
					return err
				}
				if _, err := store.AddObjection(ctx, tx, uid, stats.Purpose, 0, ""); err != nil {
					return err
				}
				if _, _, err := stats.RemoveSubject(ctx, tx, uid, days, now); err != nil {
					return err
				}
				return errRollback
			})
			spent += time.Since(s)
			if !errors.Is(err, errRollback) {
				b.Fatal(err)
			}
		}
		ratio(b, spent)
	})
	b.Run("incremental_one_objection", func(b *testing.B) {
		var spent time.Duration
		i := 0
		for b.Loop() {
			uid := users[i%len(users)]
			i++
			if _, err := db.Exec(ctx, "DELETE FROM objections WHERE user_id = ?", uid); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Exec(ctx, "INSERT INTO objections (user_id, purpose, created_at) VALUES (?, ?, 0)", uid, stats.Purpose); err != nil {
				b.Fatal(err)
			}
			s := time.Now()
			if _, err := stats.Refresh(ctx, db, eng, now, "bench"); err != nil {
				b.Fatal(err)
			}
			spent += time.Since(s)
		}
		ratio(b, spent)
	})
}
