package seed_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/integrity"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/seed"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var anchor = time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)

func newBlobs(t testing.TB) *blobs.Dir {
	t.Helper()
	d, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// contentHash hashes every row of the data tables, in id order, leaving out
// what is random by design (blob keys, the keyed hashes of the register).
func contentHash(t *testing.T, db *store.DB) string {
	t.Helper()
	h := sha256.New()
	for _, q := range []string{
		"SELECT user_id, email, pseudo, account_created_at, account_closed_at FROM subjects ORDER BY user_id",
		"SELECT ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at FROM tickets ORDER BY ticket_id",
		"SELECT message_id, ticket_id, author, agent_id, body, sent_at FROM messages ORDER BY message_id",
		"SELECT attachment_id, ticket_id, message_id, filename, content_type, size, sha256, uploaded_at FROM attachments ORDER BY attachment_id",
		"SELECT event_id, user_id, type, at, detail FROM account_events ORDER BY event_id",
		"SELECT user_id, avg_response_seconds, responses_counted, computed_at FROM subject_stats ORDER BY user_id",
		"SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at FROM agent_stats ORDER BY agent_id, day",
		"SELECT hold_id, ticket_id, user_id, reason, created_at FROM legal_holds ORDER BY hold_id",
		"SELECT request_id, type, user_id, status, received_at, due_at FROM dsr_requests ORDER BY request_id",
		"SELECT user_id, purpose, created_at FROM objections ORDER BY user_id",
	} {
		rows, err := db.SQL().Queryx(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(h, "%v\x1f", v)
			}
			h.Write([]byte{'\n'})
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func register(t *testing.T, db *store.DB) *dsr.Register {
	t.Helper()
	eng, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.Hasher(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &dsr.Register{DB: db, Policies: eng, Hasher: h, Now: func() time.Time { return anchor }}
}

func TestDemoDeterministic(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		sum, err := seed.Demo(ctx, db, bs, seed.DemoOptions{Now: anchor, Requests: register(t, db)})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := db.Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, n := range map[string]int64{
			"subjects": inv.Subjects, "tickets": inv.Tickets, "messages": inv.Messages, "attachments": inv.Attachments,
			"account_events": inv.AccountEvents, "subject_stats": inv.SubjectStats, "agent_stats": inv.AgentStats,
			"dsr_requests": inv.DSRRequests, "legal_holds": inv.LegalHolds, "objections": inv.Objections,
			"subjects_closed": inv.SubjectsClosed, "tickets_open": inv.TicketsOpen, "tickets_disputed": inv.TicketsDisputed,
		} {
			if n == 0 {
				t.Errorf("demo has no %s", name)
			}
		}
		if sum.Tickets != inv.Tickets || sum.Messages != inv.Messages || sum.Attachments != inv.Attachments {
			t.Fatalf("summary %+v disagrees with inventory %+v", sum, inv)
		}
		// The default retention periods find work in every category.
		ms := func(d time.Duration) int64 { return store.Millis(anchor.Add(-d)) }
		const y = 365 * 24 * time.Hour
		for what, q := range map[string]string{
			"attachments of tickets closed > 1y": fmt.Sprintf("SELECT COUNT(*) FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE t.closed_at < %d", ms(y)),
			"tickets closed > 5y":                fmt.Sprintf("SELECT COUNT(*) FROM tickets WHERE closed_at < %d", ms(5*y)),
			"accounts closed > 3y":               fmt.Sprintf("SELECT COUNT(*) FROM subjects WHERE account_closed_at < %d", ms(3*y)),
			"events > 3y":                        fmt.Sprintf("SELECT COUNT(*) FROM account_events WHERE at < %d", ms(3*y)),
			"subject stats > 13 months":          fmt.Sprintf("SELECT COUNT(*) FROM subject_stats WHERE computed_at < %d", ms(395*24*time.Hour)),
			"held old ticket":                    fmt.Sprintf("SELECT COUNT(*) FROM legal_holds h JOIN tickets t ON t.ticket_id = h.ticket_id WHERE h.hold_id = '%s' AND t.closed_at < %d", seed.DemoHoldTicket, ms(5*y)),
		} {
			var n int
			if err := db.Get(ctx, &n, q); err != nil || n == 0 {
				t.Errorf("%s: %d %v", what, n, err)
			}
		}
		rep, err := integrity.Check(ctx, db, bs, integrity.Options{Deep: true})
		if err != nil || !rep.Clean {
			t.Fatalf("check after demo: %+v %v", rep.Counts, err)
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := seed.Demo(ctx, db, bs, seed.DemoOptions{Now: anchor}); !errors.Is(err, seed.ErrAlreadySeeded) {
			t.Fatalf("second demo: %v", err)
		}

		// The same anchor day on a fresh store gives the same content.
		db2 := testdb.Open(t, string(db.Dialect()))
		if _, err := seed.Demo(ctx, db2, newBlobs(t), seed.DemoOptions{Now: anchor.Add(3 * time.Hour), Requests: register(t, db2)}); err != nil {
			t.Fatal(err)
		}
		if a, b := contentHash(t, db), contentHash(t, db2); a != b {
			t.Fatalf("demo is not deterministic: %s vs %s", a, b)
		}
	})
}

func TestSyntheticShape(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		const n = 3000
		age := 5*365*24*time.Hour + 3*24*time.Hour
		sum, err := seed.Synthetic(ctx, db, bs, seed.SyntheticOptions{Tickets: n, Seed: 7, OldShare: 0.3, OldAge: age, Now: anchor, ChunkTickets: 700})
		if err != nil {
			t.Fatal(err)
		}
		inv, _ := db.Inventory(ctx)
		if inv.Tickets != n || inv.Subjects != n/3 || inv.Messages != sum.Messages || inv.Attachments != sum.Attachments {
			t.Fatalf("inventory %+v, summary %+v", inv, sum)
		}
		if avg := float64(inv.Messages) / n; avg < 4.5 || avg > 5.5 {
			t.Errorf("%.2f messages a ticket, want about 5", avg)
		}
		if share := float64(inv.Attachments) / n; share < 0.07 || share > 0.14 {
			t.Errorf("attachments on %.3f of tickets, want about 0.1", share)
		}
		var old int64
		cut := store.Millis(anchor.UTC().Truncate(24 * time.Hour).Add(-age))
		if err := db.Get(ctx, &old, "SELECT COUNT(*) FROM tickets WHERE closed_at < ?", cut); err != nil {
			t.Fatal(err)
		}
		if old != sum.OldTickets || float64(old)/n < 0.27 || float64(old)/n > 0.33 {
			t.Errorf("%d tickets closed before the old age (summary %d), want about 30%%", old, sum.OldTickets)
		}
		var open, oldest int64
		_ = db.Get(ctx, &open, "SELECT COUNT(*) FROM tickets WHERE status = 'open'")
		_ = db.Get(ctx, &oldest, "SELECT MIN(created_at) FROM tickets")
		if open == 0 || anchor.Sub(store.FromMillis(oldest)) < 9*365*24*time.Hour {
			t.Errorf("open tickets %d, oldest %s", open, store.FromMillis(oldest))
		}
		if n := countBlobs(t, bs); n != int(inv.Attachments) {
			t.Fatalf("%d blobs for %d attachments", n, inv.Attachments)
		}
		rep, err := integrity.Check(ctx, db, bs, integrity.Options{Deep: true})
		if err != nil || !rep.Clean {
			t.Fatalf("check: %+v %v", rep.Counts, err)
		}
		if _, err := seed.Synthetic(ctx, db, bs, seed.SyntheticOptions{Tickets: 10, Seed: 7, OldShare: -1, Now: anchor}); !errors.Is(err, seed.ErrAlreadySeeded) {
			t.Fatalf("same seed twice: %v", err)
		}
		// Another seed adds alongside.
		if _, err := seed.Synthetic(ctx, db, bs, seed.SyntheticOptions{Tickets: 30, Seed: 8, OldShare: -1, Now: anchor}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSyntheticFailureLeavesNothing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		// A row in the way makes the bulk load fail after blobs were written.
		if _, err := db.Exec(ctx, `INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES ('s9-u50', 'x@example.org', 'x', 0, 0)`); err != nil {
			t.Fatal(err)
		}
		_, err := seed.Synthetic(ctx, db, bs, seed.SyntheticOptions{Tickets: 400, Seed: 9, OldShare: -1, Now: anchor, ChunkTickets: 100})
		if err == nil {
			t.Fatal("want a failure")
		}
		inv, _ := db.Inventory(ctx)
		if inv.Subjects != 1 || inv.Tickets != 0 || inv.Messages != 0 || inv.AuditEntries != 0 || countBlobs(t, bs) != 0 {
			t.Fatalf("a failed load left %+v and %d blobs", inv, countBlobs(t, bs))
		}
	})
}

func TestParseAge(t *testing.T) {
	const d = 24 * time.Hour
	for in, want := range map[string]time.Duration{"5y3d": 5*365*d + 3*d, "13mo": 13 * 30 * d, "2w": 14 * d, "36h": 36 * time.Hour, "1y1mo1d": 365*d + 30*d + d} {
		if got, err := seed.ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "y", "5", "5x", "-1d", "5y 3d"} {
		if _, err := seed.ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q): want an error", bad)
		}
	}
}

func countBlobs(t *testing.T, bs blobs.Store) int {
	t.Helper()
	n := 0
	if err := bs.Walk(context.Background(), func(string) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func BenchmarkSyntheticLoad(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				db := testdb.Open(b, backend)
				bs := newBlobs(b)
				b.StartTimer()
				if _, err := seed.Synthetic(context.Background(), db, bs, seed.SyntheticOptions{Tickets: 5000, Seed: 1, OldShare: -1, Now: anchor}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "tickets/s")
		})
	}
}

// The demo's register says nothing the data contradicts: a request closed as
// done has its type's action recorded (or says why not, forced); a done
// erasure leaves no data of its subject.
func TestDemoRegisterConsistent(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := seed.Demo(ctx, db, newBlobs(t), seed.DemoOptions{Now: anchor, Requests: register(t, db)}); err != nil {
			t.Fatal(err)
		}
		var reqs []store.Request
		if err := store.EachRequest(ctx, db, store.RequestFilter{}, func(r store.Request) error {
			reqs = append(reqs, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		closed := 0
		for _, r := range reqs {
			if r.Status != store.RequestDone {
				continue
			}
			closed++
			acts, err := store.RequestActions(ctx, db, r.RequestID)
			if err != nil {
				t.Fatal(err)
			}
			acted := false
			for _, a := range acts {
				acted = acted || (a.Action == dsr.TypeAction[r.Type] && a.Outcome == "ok")
			}
			if !acted && !r.CloseReason.Valid {
				t.Errorf("%s (%s) is done with no %s recorded and no reason", r.RequestID, r.Type, dsr.TypeAction[r.Type])
			}
			if r.Type == "erasure" && r.UserID.Valid {
				var n int
				if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM tickets WHERE user_id = ?", r.UserID.String); err != nil {
					t.Fatal(err)
				}
				t.Errorf("erasure %s is done while its subject %s is still known (%d tickets)", r.RequestID, r.UserID.String, n)
			}
		}
		if closed == 0 {
			t.Errorf("the demo register has no closed request")
		}
	})
}
