package retention_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/internal/tests3"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

// vacuums returns how many times each table was vacuumed by hand (not by
// autovacuum) on PostgreSQL.
func vacuums(t *testing.T, db *store.DB, tables ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range tables {
		out[tb] = count(t, db, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = ? AND schemaname = current_schema()", tb)
	}
	return out
}

// TestRunVacuumsWhatItSettled: a run that settles at least
// Options.VacuumAfter records of a table vacuums that table once it has
// finished (PostgreSQL), and no other table; below the threshold, or with
// a negative one, it vacuums nothing. On SQLite there is nothing to vacuum.
func TestRunVacuumsWhatItSettled(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if db.Dialect() != store.Postgres {
			if got, left, err := store.Vacuum(ctx, db, "subjects", "tickets"); err != nil || got != nil || left != nil {
				t.Fatalf("SQLite vacuum: %v, %v, %v; want nothing done", got, left, err)
			}
			return
		}
		if _, _, err := store.Vacuum(ctx, db, "no such category"); err == nil {
			t.Fatal("vacuum of an unknown category: no error")
		}
		w := newWorld(t, db)
		// Five closed accounts, each with a ticket closed a year ago that
		// the policies keep four more years: the first run anonymises the
		// subjects, the second settles them. Three of them also have a
		// ticket past its period kept by an open dispute: settled too.
		for i, u := range []string{"v1", "v2", "v3", "v4", "v5"} {
			w.subject(t, db, u, nullMs(ago(4, 0, 0), true))
			w.ticket(t, db, "T-"+u, u, "closed", "none", nullMs(ago(1, 0, 0), true))
			if i < 3 {
				w.ticket(t, db, "D-"+u, u, "closed", "open", nullMs(ago(7, 0, 0), true))
			}
		}
		eng := engine(t)
		run := func(day int, after int64) {
			t.Helper()
			o := opts(w, 50)
			o.At, o.VacuumAfter = T.AddDate(0, 0, day), after
			if _, err := retention.Run(ctx, db, eng, o); err != nil {
				t.Fatal(err)
			}
		}
		run(0, -1)
		settled := func() int64 {
			return count(t, db, "SELECT COUNT(*) FROM subjects WHERE retention_settled IS NOT NULL") +
				count(t, db, "SELECT COUNT(*) FROM tickets WHERE retention_settled IS NOT NULL")
		}
		tables := []string{"subjects", "tickets", "messages", "attachments", "agent_stats"}
		before := vacuums(t, db, tables...)

		// Settles eight records: under a threshold of 6, no vacuum.
		run(1, 6)
		if n := settled(); n != 8 {
			t.Fatalf("%d records settled, want 8 (five subjects, three disputed tickets)", n)
		}
		if got := vacuums(t, db, tables...); !equal(got, before) {
			t.Fatalf("vacuumed below the threshold: %v -> %v", before, got)
		}

		// A full run settles them all again; with the threshold at 4, the
		// subjects are vacuumed (five settled), not the tickets (three).
		o := opts(w, 50)
		o.At, o.VacuumAfter, o.Full = T.AddDate(0, 0, 2), 4, true
		if _, err := retention.Run(ctx, db, eng, o); err != nil {
			t.Fatal(err)
		}
		got := vacuums(t, db, tables...)
		for _, tb := range tables {
			want := before[tb]
			if tb == "subjects" {
				want++
			}
			if got[tb] != want {
				t.Fatalf("after settling five subjects and three tickets with threshold 4: %s vacuumed %d times, want %d (%v -> %v)", tb, got[tb], want, before, got)
			}
		}
		// A negative threshold never vacuums.
		before = got
		o.At, o.VacuumAfter = T.AddDate(0, 0, 3), -1
		if _, err := retention.Run(ctx, db, eng, o); err != nil {
			t.Fatal(err)
		}
		if got := vacuums(t, db, tables...); !equal(got, before) {
			t.Fatalf("vacuumed with a negative threshold: %v -> %v", before, got)
		}
	})
}

func equal(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRunAsRoleNotOwningTables: a run by a role that may read and write the
// tables but does not own them (a least-privilege production role) works;
// its upkeep (VACUUM, the text indexes' merge) is skipped, not failed, and
// names what it left.
func TestRunAsRoleNotOwningTables(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("roles and ownership are PostgreSQL's")
		}
		ctx := context.Background()
		w := newWorld(t, db)
		for _, u := range []string{"r1", "r2", "r3"} {
			w.subject(t, db, u, nullMs(ago(4, 0, 0), true))
			w.ticket(t, db, "T-"+u, u, "closed", "none", nullMs(ago(1, 0, 0), true))
			w.ticket(t, db, "D-"+u, u, "closed", "open", nullMs(ago(7, 0, 0), true))
		}
		var dbname string
		if err := db.Get(ctx, &dbname, "SELECT current_database()"); err != nil {
			t.Fatal(err)
		}
		role := "rw_" + dbname
		for _, q := range []string{
			"CREATE ROLE " + role + " LOGIN",
			"GRANT USAGE ON SCHEMA public TO " + role,
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
			"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + role,
		} {
			w.exec(t, db, q)
		}
		t.Cleanup(func() {
			_, _ = db.Exec(context.Background(), "DROP OWNED BY "+role)
			_, _ = db.Exec(context.Background(), "DROP ROLE "+role)
		})
		var sock string
		if err := db.Get(ctx, &sock, "SELECT current_setting('unix_socket_directories')"); err != nil {
			t.Fatal(err)
		}
		u := "postgres://" + role + "@/" + dbname + "?host=" + url.QueryEscape(sock) + "&sslmode=disable"
		rw, err := store.Open(ctx, u)
		if err != nil {
			t.Fatalf("open as %s: %v", role, err)
		}
		defer rw.Close()
		got, left, err := store.Vacuum(ctx, rw, "subjects", "tickets")
		if err != nil || len(got) != 0 || len(left) != 2 {
			t.Fatalf("vacuum as a role owning nothing: vacuumed %v, left %v, %v; want both left, no error", got, left, err)
		}
		// The text indexes' merge leaves the indexes it does not own,
		// counted, without an error (a warning every night before).
		if pages, notOwned, err := store.FlushTextIndexes(ctx, rw); err != nil || pages != 0 || notOwned == 0 {
			t.Fatalf("merge as a role owning nothing: %d pages, %d not owned, %v; want 0 pages, the GIN indexes counted, no error", pages, notOwned, err)
		}
		before := vacuums(t, db, "subjects", "tickets")
		eng := engine(t)
		for day := 0; day < 2; day++ {
			o := opts(w, 50)
			o.At, o.VacuumAfter = T.AddDate(0, 0, day), 1
			rep, err := retention.Run(ctx, rw, eng, o)
			if err != nil || rep.Outcome != "ok" {
				t.Fatalf("run %d as %s: %v %+v", day, role, err, rep)
			}
		}
		if n := count(t, db, "SELECT COUNT(*) FROM subjects WHERE retention_settled IS NOT NULL"); n != 3 {
			t.Fatalf("%d subjects settled by the role's runs, want 3", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM tickets WHERE ticket_id LIKE 'D-%'"); n != 3 {
			t.Fatalf("%d disputed tickets left, want 3 (kept by the open dispute)", n)
		}
		if got := vacuums(t, db, "subjects", "tickets"); !equal(got, before) {
			t.Fatalf("vacuumed by a role that owns nothing: %v -> %v", before, got)
		}
	})
}

// TestRunWithBlobStoreDown (adversarial pass 7 F2): a run whose blob store
// fails while it removes the contents of the attachments it deleted does
// not say ok: the records are gone, the contents stay queued, and the run
// ends with ErrBlobsLeft (exit 6), outcome failed, and the count left in
// its report, its history row and its audit entry.
func TestRunWithBlobStoreDown(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		srv := tests3.Start(t)
		w := &world{db: db, bs: srv.Store(t, tests3.BucketOptions{Versioned: true})}
		w.subject(t, db, "b1", nullMs(0, false))
		w.ticket(t, db, "T-old", "b1", "closed", "none", nullMs(ago(10, 0, 0), true))
		w.attachment(t, db, "A-1", "T-old")
		w.attachment(t, db, "A-2", "T-old")
		srv.Stop()

		ctx := context.Background()
		rep, err := retention.Run(ctx, db, engine(t), opts(w, 50))
		if !errors.Is(err, retention.ErrBlobsLeft) || rep == nil || rep.Outcome != "failed" || rep.BlobsLeft != 2 {
			t.Fatalf("run with the blob store down: %v, %+v; want ErrBlobsLeft, outcome failed, 2 left", err, rep)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM attachments"); n != 0 {
			t.Fatalf("%d attachment rows left; the records go whatever the blob store does", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM blob_deletions"); n != 2 {
			t.Fatalf("%d contents queued, want 2", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM retention_runs WHERE outcome = 'failed' AND counts LIKE '%\"blobs_left\":2%'"); n != 1 {
			t.Fatalf("the run's history row does not say failed with 2 contents left")
		}
		if n := count(t, db, "SELECT COUNT(*) FROM audit_log WHERE action = 'retention.run' AND outcome = 'failed' AND detail LIKE '%\"blobs_left\":2%'"); n != 1 {
			t.Fatalf("the run's audit entry does not say failed with 2 contents left")
		}
	})
}
