package retention_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/tests3"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// T is the evaluation time of the tests.
var T = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func engine(t testing.TB) *policies.Engine {
	t.Helper()
	e, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatalf("load policies: %v", err)
	}
	return e
}

func ms(t time.Time) int64 { return store.Millis(t) }

// ago returns T minus years, months and days.
func ago(y, m, d int) int64 { return ms(T.AddDate(-y, -m, -d)) }

func nullMs(v int64, ok bool) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: ok} }

// world is a store with a blob directory.
type world struct {
	db *store.DB
	bs blobs.Store
}

func newWorld(t *testing.T, db *store.DB) *world {
	bs, err := blobs.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &world{db: db, bs: bs}
}

// newWorldOn is a world on the blob store of kind (tests3.Kinds).
func newWorldOn(t *testing.T, db *store.DB, kind string) *world {
	return &world{db: db, bs: tests3.Open(t, kind)}
}

func (w *world) exec(t testing.TB, q store.Querier, query string, args ...any) {
	t.Helper()
	if _, err := q.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (w *world) subject(t testing.TB, q store.Querier, id string, closed sql.NullInt64) {
	w.exec(t, q, "INSERT INTO subjects (user_id, email, pseudo, account_created_at, account_closed_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0)",
		id, id+"@example.org", "pseudo-"+id, ago(12, 0, 0), closed)
}

func (w *world) ticket(t testing.TB, q store.Querier, id, user, status, dispute string, closed sql.NullInt64) {
	w.exec(t, q, "INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, dispute_status, created_at, closed_at) VALUES (?, ?, 'REQ', 'subject', 'description', ?, ?, ?, ?)",
		id, user, status, dispute, ago(11, 0, 0), closed)
	for j := 0; j < 2; j++ {
		w.exec(t, q, "INSERT INTO messages (message_id, ticket_id, author, body, sent_at) VALUES (?, ?, 'user', 'body', 0)", fmt.Sprintf("%s-M%d", id, j), id)
	}
}

func (w *world) attachment(t testing.TB, q store.Querier, id, ticket string) {
	key := blobs.NewKey()
	if _, _, err := w.bs.Put(context.Background(), key, strings.NewReader("content of "+id)); err != nil {
		t.Fatal(err)
	}
	w.exec(t, q, "INSERT INTO attachments (attachment_id, ticket_id, filename, content_type, size, sha256, blob_key, uploaded_at) VALUES (?, ?, 'proof.pdf', 'application/pdf', 1, 'x', ?, ?)",
		id, ticket, key, ago(10, 0, 0))
}

func (w *world) hold(t testing.TB, q store.Querier, id, ticket, user string, created int64, until, released sql.NullInt64) {
	w.exec(t, q, "INSERT INTO legal_holds (hold_id, ticket_id, user_id, reason, created_at, until, released_at) VALUES (?, ?, ?, 'litigation', ?, ?, ?)",
		id, store.NullString(ticket), store.NullString(user), created, until, released)
}

// randomWorld fills the store with n subjects' worth of random data whose
// dates straddle every period's boundary at T.
func (w *world) random(t testing.TB, seed uint64, n int) {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	// Dates: mostly spread over 0..8 years back, some exactly on a boundary.
	when := func() int64 {
		switch r.IntN(6) {
		case 0:
			b := [][3]int{{5, 0, 0}, {1, 0, 0}, {3, 0, 0}, {0, 13, 0}, {6, 0, 0}}[r.IntN(5)]
			return ago(b[0], b[1], b[2]) + int64(r.IntN(3)-1)*86400000
		default:
			return ms(T) - r.Int64N(8*365*86400000)
		}
	}
	maybe := func(p float64) bool { return r.Float64() < p }
	tx, err := w.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	holds := 0
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("u%04d", i)
		w.subject(t, tx, u, nullMs(when(), maybe(0.6)))
		for j := 0; j < r.IntN(4); j++ {
			tid := fmt.Sprintf("T%04d-%d", i, j)
			status, closed := "closed", nullMs(when(), true)
			if maybe(0.1) {
				status, closed = "open", sql.NullInt64{}
			}
			dispute := []string{"none", "none", "none", "resolved", "open"}[r.IntN(5)]
			w.ticket(t, tx, tid, u, status, dispute, closed)
			for k := 0; k < r.IntN(3); k++ {
				w.attachment(t, tx, fmt.Sprintf("A%04d-%d-%d", i, j, k), tid)
			}
			if maybe(0.08) {
				holds++
				w.hold(t, tx, fmt.Sprintf("H%05d", holds), tid, "", when(), nullMs(when(), maybe(0.3)), nullMs(when(), maybe(0.3)))
			}
		}
		if maybe(0.05) {
			holds++
			w.hold(t, tx, fmt.Sprintf("H%05d", holds), "", u, when(), nullMs(when(), maybe(0.3)), nullMs(when(), maybe(0.4)))
		}
		for j := 0; j < r.IntN(3); j++ {
			w.exec(t, tx, "INSERT INTO account_events (event_id, user_id, type, at) VALUES (?, ?, 'login', ?)", fmt.Sprintf("E%04d-%d", i, j), u, when())
		}
		if maybe(0.5) {
			w.exec(t, tx, "INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at) VALUES (?, 10, 3, ?)", u, when())
		}
		if maybe(0.2) {
			w.exec(t, tx, "INSERT INTO objections (user_id, purpose, created_at) VALUES (?, 'statistics', 0)", u)
		}
		if maybe(0.3) {
			st, closed := "done", nullMs(when(), true)
			if maybe(0.2) {
				st, closed = "open", sql.NullInt64{}
			}
			w.exec(t, tx, "INSERT INTO dsr_requests (request_id, type, user_id, subject_hash, status, received_at, due_at, closed_at, created_at) VALUES (?, 'access', ?, 'h:x', ?, 0, 0, ?, 0)",
				fmt.Sprintf("Q%04d", i), u, st, closed)
		}
		if maybe(0.5) {
			day := store.FromMillis(when()).Format("2006-01-02")
			anon := maybe(0.2)
			w.exec(t, tx, "INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at) VALUES (?, ?, 1, 1, 1, 0, ?)",
				sql.NullString{String: "ag-1", Valid: !anon}, day, nullMs(1, anon))
		}
	}
	for i := 0; i < n/4; i++ {
		if _, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: store.FromMillis(ms(T) - int64(n/4-i)*10*86400000), Actor: "test", Action: "fixture", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// snapshot is the full content of the store's data tables and the blob
// directory, for "unchanged" and "same final state" comparisons.
func (w *world) snapshot(t testing.TB, withAudit bool) string {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	tables := []struct{ name, key string }{
		{"subjects", "user_id"}, {"tickets", "ticket_id"}, {"messages", "message_id"}, {"attachments", "attachment_id"},
		{"account_events", "event_id"}, {"subject_stats", "user_id"}, {"agent_stats", "id"}, {"dsr_requests", "request_id"},
		{"legal_holds", "hold_id"}, {"objections", "user_id, purpose"}, {"blob_deletions", "blob_key"},
	}
	if withAudit {
		tables = append(tables, struct{ name, key string }{"audit_log", "seq"})
	}
	for _, tb := range tables {
		rows, err := w.db.Query(ctx, "SELECT * FROM "+tb.name+" ORDER BY "+tb.key)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			v, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			for i := range v {
				if bs, ok := v[i].([]byte); ok {
					v[i] = string(bs)
				}
			}
			fmt.Fprintf(&b, "%s %v\n", tb.name, v)
		}
		rows.Close()
	}
	var keys []string
	_ = w.bs.Walk(ctx, func(k string) error { keys = append(keys, k); return nil })
	sort.Strings(keys)
	fmt.Fprintf(&b, "blobs %v\n", keys)
	return b.String()
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// ids returns the sorted primary keys of a table.
func (w *world) ids(t testing.TB, table, key string) []string {
	t.Helper()
	var out []string
	if err := w.db.Select(context.Background(), &out, "SELECT "+key+" FROM "+table+" ORDER BY "+key); err != nil {
		t.Fatal(err)
	}
	return out
}
