package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func exec(t *testing.T, q store.Querier, query string, args ...any) {
	t.Helper()
	if _, err := q.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func count(t *testing.T, q store.Querier, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := q.Get(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

var day = int64(24 * time.Hour / time.Millisecond)

// seedTickets inserts subject u1 with n closed tickets T-000…, each closed
// i days after epoch+1000 days, with two messages and one attachment.
func seedTickets(t *testing.T, db *store.DB, n int) {
	t.Helper()
	exec(t, db, "INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES ('u1', 'a@example.org', 'alice', 0, 0)")
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("T-%03d", i)
		closed := 1000*day + int64(i)*day
		exec(t, db, "INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at, closed_at) VALUES (?, 'u1', 'R', 's', 'd', 'closed', 0, ?)", id, closed)
		for j := 0; j < 2; j++ {
			exec(t, db, "INSERT INTO messages (message_id, ticket_id, author, body, sent_at) VALUES (?, ?, 'user', 'b', 0)", fmt.Sprintf("M-%03d-%d", i, j), id)
		}
		exec(t, db, "INSERT INTO attachments (attachment_id, ticket_id, filename, content_type, size, sha256, blob_key, uploaded_at) VALUES (?, ?, 'f.pdf', 'application/pdf', 1, 'x', ?, 0)",
			"A-"+id, id, fmt.Sprintf("blob%03d", i))
	}
}

func TestScanTicketsCutoffAndKeyset(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedTickets(t, db, 10)
		// Tickets closed before day 1005 are candidates: T-000..T-004.
		o := store.ScanOptions{Cutoff: store.Cutoff{Column: "closed_at", Before: 1005 * day}, Limit: 2}
		var got []string
		for {
			page, err := store.ScanTickets(ctx, db, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) > 2 {
				t.Fatalf("page of %d > limit 2", len(page))
			}
			for _, p := range page {
				got = append(got, p.ID)
			}
			o.After = page[len(page)-1].ID
		}
		want := []string{"T-000", "T-001", "T-002", "T-003", "T-004"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("candidates = %v, want %v", got, want)
		}
		// Unknown cutoff attribute: an error, never a silent full scan here.
		if _, err := store.ScanTickets(ctx, db, store.ScanOptions{Cutoff: store.Cutoff{Column: "nope"}, Limit: 1}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("unknown cutoff column: err = %v, want ErrInvalid", err)
		}
	})
}

func TestDeleteTicketsQueuesBlobs(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedTickets(t, db, 4)
		var d store.TicketDeletion
		err := db.InTx(ctx, func(tx *store.Tx) (err error) {
			d, err = store.DeleteTickets(ctx, tx, []string{"T-001", "T-003"}, 42)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(d.BlobKeys)
		if d.Tickets != 2 || d.Messages != 4 || d.Attachments != 2 || fmt.Sprint(d.BlobKeys) != "[blob001 blob003]" {
			t.Fatalf("deletion = %+v", d)
		}
		var left []string
		if err := db.Select(ctx, &left, "SELECT ticket_id FROM tickets ORDER BY ticket_id"); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(left) != "[T-000 T-002]" {
			t.Fatalf("tickets left = %v", left)
		}
		var queued []string
		if err := db.Select(ctx, &queued, "SELECT blob_key FROM blob_deletions ORDER BY blob_key"); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(queued) != "[blob001 blob003]" {
			t.Fatalf("queued = %v", queued)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM messages"); n != 4 {
			t.Fatalf("messages left = %d, want 4", n)
		}
	})
}

func TestDeleteSubjectsRefusesNonEmpty(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedTickets(t, db, 1)
		exec(t, db, "INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES ('u2', 'b@example.org', 'bob', 0, 0)")
		exec(t, db, "INSERT INTO objections (user_id, purpose, created_at) VALUES ('u2', 'statistics', 0)")
		exec(t, db, "INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at) VALUES ('u2', 1, 1, 0)")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.DeleteSubjects(ctx, tx, []string{"u1", "u2"})
			return err
		})
		if !errors.Is(err, store.ErrSubjectNotEmpty) {
			t.Fatalf("err = %v, want ErrSubjectNotEmpty", err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM subjects"); n != 2 {
			t.Fatalf("subjects = %d after refused delete", n)
		}
		var d store.SubjectDeletion
		err = db.InTx(ctx, func(tx *store.Tx) (err error) {
			d, err = store.DeleteSubjects(ctx, tx, []string{"u2"})
			return err
		})
		if err != nil || d != (store.SubjectDeletion{Subjects: 1, Objections: 1, SubjectStats: 1}) {
			t.Fatalf("delete u2: %+v, %v", d, err)
		}
	})
}

func TestHolds(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedTickets(t, db, 3)
		add := func(h store.Hold) error {
			return db.InTx(ctx, func(tx *store.Tx) error { return store.AddHold(ctx, tx, h) })
		}
		holds := []store.Hold{
			{HoldID: "H-t", TicketID: store.NullString("T-000"), Reason: "litigation", CreatedAt: 100},
			{HoldID: "H-u", UserID: store.NullString("u1"), Reason: "police request", CreatedAt: 100, Until: sql.NullInt64{Int64: 200, Valid: true}},
		}
		for _, h := range holds {
			if err := add(h); err != nil {
				t.Fatal(err)
			}
		}
		for _, bad := range []struct {
			h    store.Hold
			want error
		}{
			{store.Hold{HoldID: "H-x", TicketID: store.NullString("T-nope"), Reason: "r", CreatedAt: 1}, store.ErrNotFound},
			{store.Hold{HoldID: "H-x", UserID: store.NullString("nobody"), Reason: "r", CreatedAt: 1}, store.ErrNotFound},
			{store.Hold{HoldID: "H-x", Reason: "r", CreatedAt: 1}, store.ErrInvalid},
			{store.Hold{HoldID: "H-x", TicketID: store.NullString("T-000"), CreatedAt: 1}, store.ErrInvalid},
			{store.Hold{HoldID: "H-x", TicketID: store.NullString("T-000"), Reason: "r", CreatedAt: 10, Until: sql.NullInt64{Int64: 5, Valid: true}}, store.ErrInvalid},
		} {
			if err := add(bad.h); !errors.Is(err, bad.want) {
				t.Errorf("AddHold(%+v) = %v, want %v", bad.h, err, bad.want)
			}
		}
		// Activity: created_at <= T < until, not released at T.
		for _, c := range []struct {
			at      int64
			tickets string
			users   string
		}{
			{99, "map[]", "map[]"},
			{100, "map[T-000:litigation]", "map[u1:police request]"},
			{199, "map[T-000:litigation]", "map[u1:police request]"},
			{200, "map[T-000:litigation]", "map[]"},
		} {
			ix, err := store.ActiveHolds(ctx, db, c.at, []string{"T-000", "T-001"}, []string{"u1"}, true)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ix.Tickets) != c.tickets || fmt.Sprint(ix.Users) != c.users {
				t.Errorf("at %d: tickets %v users %v, want %s %s", c.at, ix.Tickets, ix.Users, c.tickets, c.users)
			}
			if want := map[bool]int64{true: 1, false: 0}[c.at >= 100]; ix.HeldTickets["u1"] != want {
				t.Errorf("at %d: held tickets of u1 = %d, want %d", c.at, ix.HeldTickets["u1"], want)
			}
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := store.ReleaseHold(ctx, tx, "H-t", 150); return err }); err != nil {
			t.Fatal(err)
		}
		err := db.InTx(ctx, func(tx *store.Tx) error { _, err := store.ReleaseHold(ctx, tx, "H-t", 160); return err })
		if !errors.Is(err, store.ErrState) {
			t.Fatalf("second release: %v, want ErrState", err)
		}
		if _, err := store.GetHold(ctx, db, "H-none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetHold unknown: %v", err)
		}
		ix, _ := store.ActiveHolds(ctx, db, 149, []string{"T-000"}, nil, false)
		ix2, _ := store.ActiveHolds(ctx, db, 150, []string{"T-000"}, nil, false)
		if len(ix.Tickets) != 1 || len(ix2.Tickets) != 0 {
			t.Fatalf("release at 150: active at 149 %v, at 150 %v", ix.Tickets, ix2.Tickets)
		}
		active, err := store.ListHolds(ctx, db, 120, false)
		if err != nil || len(active) != 2 {
			t.Fatalf("active at 120: %v %v", active, err)
		}
		active, _ = store.ListHolds(ctx, db, 300, false)
		all, _ := store.ListHolds(ctx, db, 300, true)
		if len(active) != 0 || len(all) != 2 {
			t.Fatalf("at 300: active %d (want 0), all %d (want 2)", len(active), len(all))
		}
		for _, h := range all {
			if h.Active(120) != (h.HoldID == "H-t" || h.HoldID == "H-u") || h.Active(300) {
				t.Errorf("Hold.Active disagrees with SQL for %s", h.HoldID)
			}
		}
	})
}

func TestTryLock(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			u := testdb.URL(t, backend)
			a, err := store.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := store.Open(ctx, u) // a second "process"
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			l, err := a.TryLock(ctx, "retention")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.TryLock(ctx, "retention"); !errors.Is(err, store.ErrBusy) {
				t.Fatalf("second lock: %v, want ErrBusy", err)
			}
			other, err := b.TryLock(ctx, "other")
			if err != nil {
				t.Fatalf("a different lock name: %v", err)
			}
			other.Unlock()
			if err := l.Unlock(); err != nil {
				t.Fatal(err)
			}
			l2, err := b.TryLock(ctx, "retention")
			if err != nil {
				t.Fatalf("after unlock: %v", err)
			}
			l2.Unlock()
			l2.Unlock() // idempotent
		})
	}
}

func TestAgentStatsCutoffByDay(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, d := range []string{"2024-01-30", "2024-01-31", "2024-02-01"} {
			exec(t, db, "INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at) VALUES ('ag', ?, 1, 1, 1, 0)", d)
		}
		feb1 := store.Millis(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
		for _, c := range []struct {
			before int64
			want   int
		}{{feb1, 2}, {feb1 + 1, 3}, {feb1 - 1, 2}, {feb1 - day, 1}} {
			rows, err := store.ScanAgentStats(ctx, db, store.ScanOptions{Cutoff: store.Cutoff{Column: "day_start", Before: c.before}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			// Cross-check with the definition: day_start < Before.
			n := 0
			for _, r := range rows {
				ds, _ := r.DayStart()
				if ds >= c.before {
					t.Errorf("before %d: row of %s starts at %d, not a candidate", c.before, r.Day, ds)
				}
				n++
			}
			if n != c.want {
				t.Errorf("before %d: %d candidates, want %d", c.before, n, c.want)
			}
		}
	})
}

func TestRetentionRunsHistory(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		start := func(id string) int64 {
			var n int64
			err := db.InTx(ctx, func(tx *store.Tx) (err error) {
				n, err = store.StartRetentionRun(ctx, tx, store.RetentionRun{RunID: id, At: 1, StartedAt: int64(len(id)), PolicyRevision: "rev"})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := start("r1"); n != 0 {
			t.Fatalf("interrupted = %d", n)
		}
		// r1 committed a batch, then was killed.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return store.UpdateRetentionRun(ctx, tx, "r1", `{"delete":{"tickets":40720}}`, `{}`)
		}); err != nil {
			t.Fatal(err)
		}
		// The next run marks it interrupted, and the audit trail gets the
		// entry its process could not write, with what it committed
		// (adversarial pass 8 F6).
		if n := start("r22"); n != 1 {
			t.Fatalf("interrupted = %d, want 1", n)
		}
		var details []string
		if err := db.Select(ctx, &details, "SELECT detail FROM audit_log WHERE action = 'retention.run' AND outcome = 'interrupted'"); err != nil {
			t.Fatal(err)
		}
		if len(details) != 1 || !strings.Contains(details[0], `"run_id":"r1"`) || !strings.Contains(details[0], `"tickets":40720`) {
			t.Fatalf("audit entries of the interrupted run: %v; want one naming r1 and its committed counts", details)
		}
		if err := store.FinishRetentionRun(ctx, db, "r22", "ok", `{"delete":{}}`, 9); err != nil {
			t.Fatal(err)
		}
		runs, err := store.ListRetentionRuns(ctx, db, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, r.RunID+":"+r.Outcome)
		}
		sort.Strings(got)
		if fmt.Sprint(got) != "[r1:interrupted r22:ok]" {
			t.Fatalf("runs = %v", got)
		}
	})
}

// waitAdvisory waits until some backend waits on an advisory lock.
func waitAdvisory(t *testing.T, db *store.DB) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if count(t, db, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'") > 0 {
			return
		}
	}
	t.Fatal("no backend ever waited on the advisory lock")
}

// TestPurgeBatchAndHoldExclude (PostgreSQL): a hold added while a purge
// batch is in flight waits for it and then finds its ticket gone; a batch
// that starts while a hold is being added waits for it and then sees it.
func TestPurgeBatchAndHoldExclude(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	seedTickets(t, db, 2)
	hold := func(ticket string) store.Hold {
		return store.Hold{HoldID: store.NewHoldID(), TicketID: store.NullString(ticket), Reason: "claim", CreatedAt: 1}
	}

	// Batch first: the hold waits, then its ticket is gone.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.LockPurgeBatch(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DeleteTickets(ctx, tx, []string{"T-000"}, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- db.InTx(ctx, func(h *store.Tx) error { return store.AddHold(ctx, h, hold("T-000")) }) }()
	waitAdvisory(t, db)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("hold on a ticket purged meanwhile: err = %v, want ErrNotFound", err)
	}

	// Hold first: the batch waits, then sees the hold.
	htx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AddHold(ctx, htx, hold("T-001")); err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 1)
	go func() {
		_ = db.InTx(ctx, func(tx *store.Tx) error {
			if err := store.LockPurgeBatch(ctx, tx); err != nil {
				return err
			}
			ix, err := store.ActiveHolds(ctx, tx, 10, []string{"T-001"}, nil, false)
			seen <- len(ix.Tickets)
			return err
		})
	}()
	waitAdvisory(t, db)
	if err := htx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := <-seen; n != 1 {
		t.Fatalf("batch after a concurrent hold saw %d holds on its ticket, want 1", n)
	}
}

// TestBlobQueueBulk: only queued keys that no attachment refers to may be
// removed, and a chunk is dequeued in one statement.
func TestBlobQueueBulk(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedTickets(t, db, 2) // blob000, blob001 referenced
		for _, k := range []string{"blob000", "k1", "k2", "k3"} {
			exec(t, db, "INSERT INTO blob_deletions (blob_key, queued_at, reason) VALUES (?, 0, 'test')", k)
		}
		got, err := store.UnreferencedQueuedBlobs(ctx, db, []string{"blob000", "blob001", "k1", "k2", "nope"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[k1 k2]" {
			t.Fatalf("removable = %v, want [k1 k2]", got)
		}
		n, err := store.DequeueBlobs(ctx, db, got)
		if err != nil || n != 2 {
			t.Fatalf("dequeued %d, %v; want 2", n, err)
		}
		var left []string
		if err := db.Select(ctx, &left, "SELECT blob_key FROM blob_deletions ORDER BY blob_key"); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(left) != "[blob000 k3]" {
			t.Fatalf("queue left %v, want [blob000 k3]", left)
		}
	})
}

// TestFlushTextIndexes: rows written after the trigram indexes were built
// wait in their GIN pending lists, read in full by every residue look-up,
// until merged; FlushTextIndexes merges them (PostgreSQL), and a second
// call finds nothing left. SQLite has nothing to merge.
func TestFlushTextIndexes(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		exec(t, db, "INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES ('u1', 'u1@example.org', 'p1', 0, 0)")
		for i := 0; i < 200; i++ {
			exec(t, db, "INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at) VALUES (?, 'u1', 'R', ?, ?, 'open', 0)",
				fmt.Sprintf("T-%03d", i), fmt.Sprintf("subject %d of camille.dupont-%d", i, i), strings.Repeat(fmt.Sprintf("description %d with words ", i), 20))
		}
		n, notOwned, err := store.FlushTextIndexes(ctx, db)
		if err != nil || notOwned != 0 {
			t.Fatalf("merge by the owner: %v, %d index(es) not owned", err, notOwned)
		}
		if db.Dialect() == store.Postgres && n == 0 {
			t.Fatal("no pending pages merged after 200 tickets were written")
		}
		if db.Dialect() == store.SQLite && n != 0 {
			t.Fatalf("SQLite: %d pages merged", n)
		}
		if n, _, err = store.FlushTextIndexes(ctx, db); err != nil || n != 0 {
			t.Fatalf("second merge: %d pages, %v; want nothing left", n, err)
		}
	})
}
