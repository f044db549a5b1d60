package dsr

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

var erNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// erWorld is a store, a blob directory and a ledger with two subjects who
// share agents and days: alice (to be erased; one ticket in an open
// dispute) and bob (who must stay untouched).
type erWorld struct {
	db     *store.DB
	bs     *blobs.Dir
	ledger string
	eng    *policies.Engine
	h      *store.Hasher
	blobOf map[string]string // attachment id → blob key
}

func erEngine(t testing.TB) *policies.Engine {
	t.Helper()
	eng, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func newErWorld(t *testing.T, db *store.DB, withAlice bool) *erWorld {
	t.Helper()
	dir := t.TempDir()
	bs, err := blobs.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.Hasher(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := &erWorld{db: db, bs: bs, ledger: filepath.Join(dir, "erasures.log"), eng: erEngine(t), h: h, blobOf: map[string]string{}}
	if withAlice {
		w.addAlice(t)
	}
	w.addSubject(t, "u-bob", "bob@example.org", "bobbuilder", "TB1", "2025-03-10T09:00:00Z", "none")
	w.refreshStats(t)
	return w
}

func (w *erWorld) addAlice(t *testing.T) {
	w.addSubject(t, "u-alice", "Alice@Example.org", "alicewonder", "TA1", "2025-03-10T10:00:00Z", "none")
	w.addSubject(t, "u-alice", "", "", "TA2", "2025-03-11T10:00:00Z", "open")
	w.exec(t, `INSERT INTO account_events (event_id, user_id, type, at, detail) VALUES ('EA1', 'u-alice', 'login', ?, 'login of alicewonder')`, erTS(t, "2025-03-01T00:00:00Z"))
}

func erTS(t *testing.T, s string) int64 {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

func (w *erWorld) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := w.db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// addSubject adds a subject (when email is set) and one closed ticket with a
// user message, an agent reply (ag-1), a user answer, and an attachment.
func (w *erWorld) addSubject(t *testing.T, id, email, pseudo, ticket, start, dispute string) {
	t.Helper()
	t0 := erTS(t, start)
	if email != "" {
		w.exec(t, `INSERT INTO subjects (user_id, email, pseudo, account_created_at, created_at, updated_at) VALUES (?, ?, ?, 0, 0, 0)`, id, email, pseudo)
	}
	w.exec(t, `INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at)
		VALUES (?, ?, ?, 'Paiement non reçu', ?, 'TX-1', ?, 'closed', ?, ?)`, ticket, id, "REQ-"+ticket, "description of "+ticket, dispute, t0, t0+86400000)
	body := "Bonjour, je suis " + pseudo + " (" + id + ")"
	if pseudo == "" {
		body = "Bonjour, toujours pas de paiement"
	}
	msgs := []struct {
		id, author, agent, body string
		at                      int64
	}{
		{ticket + "-m1", "user", "", body, t0},
		{ticket + "-m2", "agent", "ag-1", "Nous regardons", t0 + 1800000},
		{ticket + "-m3", "user", "", "Merci", t0 + 3600000},
	}
	for _, m := range msgs {
		w.exec(t, `INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES (?, ?, ?, ?, ?, ?)`,
			m.id, ticket, m.author, sql.NullString{String: m.agent, Valid: m.agent != ""}, m.body, m.at)
	}
	key := blobs.NewKey()
	content := "%PDF justificatif de " + ticket
	if email != "" {
		content += " envoyé par " + email
	}
	sha, n, err := w.bs.Put(context.Background(), key, strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	w.exec(t, `INSERT INTO attachments (attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at)
		VALUES (?, ?, ?, 'justificatif.pdf', 'application/pdf', ?, ?, ?, ?)`, ticket+"-a1", ticket, ticket+"-m1", n, sha, key, t0)
	w.blobOf[ticket+"-a1"] = key
}

func (w *erWorld) refreshStats(t *testing.T) {
	t.Helper()
	if _, err := stats.Refresh(context.Background(), w.db, w.eng, erNow.Add(-time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
}

func (w *erWorld) eraser() *Eraser {
	return &Eraser{DB: w.db, Blobs: w.bs, Policy: w.eng, Register: &Register{DB: w.db, Policies: w.eng, Hasher: w.h, Now: func() time.Time { return erNow }},
		Hasher: w.h, Ledger: w.ledger, Now: func() time.Time { return erNow }, Actor: "test"}
}

// rowsOf dumps a query's rows as strings, for comparisons.
func erRows(t *testing.T, db *store.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		v, err := rows.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, x := range v {
			if bs, ok := x.([]byte); ok {
				x = string(bs)
			}
			b.WriteString(strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(erFmt(x), "\n", " "), "  ", " ")))
			b.WriteString("|")
		}
		out = append(out, b.String())
	}
	return out
}

func erFmt(x any) string {
	switch v := x.(type) {
	case nil:
		return "NULL"
	case bool:
		if v {
			return "1"
		}
		return "0"
	case int64:
		return strings.TrimSpace(strings.Repeat(" ", 0) + erItoa(v))
	case float64:
		return strings.TrimRight(strings.TrimRight(erFtoa(v), "0"), ".")
	case string:
		return v
	}
	return "?"
}

// bobRows is everything of bob's, row for row.
func erBobRows(t *testing.T, db *store.DB) []string {
	var out []string
	for _, q := range []string{
		"SELECT user_id, email, pseudo, restricted FROM subjects WHERE user_id = 'u-bob'",
		"SELECT ticket_id, subject, description, status, restricted FROM tickets WHERE user_id = 'u-bob' ORDER BY ticket_id",
		"SELECT m.message_id, m.body, m.sent_at FROM messages m JOIN tickets t ON t.ticket_id = m.ticket_id WHERE t.user_id = 'u-bob' ORDER BY m.message_id",
		"SELECT a.attachment_id, a.blob_key, a.sha256 FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE t.user_id = 'u-bob'",
		"SELECT user_id, avg_response_seconds, responses_counted FROM subject_stats WHERE user_id = 'u-bob'",
	} {
		out = append(out, erRows(t, db, q)...)
	}
	return out
}

func erAgentStats(t *testing.T, db *store.DB) []string {
	return erRows(t, db, "SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds FROM agent_stats ORDER BY day, agent_id")
}

func erCount(t *testing.T, db *store.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Get(context.Background(), &n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// snapshot is every table's row count, every blob's bytes and the ledger.
func erSnapshot(t *testing.T, w *erWorld) string {
	t.Helper()
	var b strings.Builder
	for _, tbl := range []string{"subjects", "tickets", "messages", "attachments", "account_events", "subject_stats", "agent_stats", "dsr_requests", "dsr_actions", "objections", "legal_holds", "audit_log", "blob_deletions"} {
		b.WriteString(tbl + "=" + erItoa(erCount(t, w.db, "SELECT COUNT(*) FROM "+tbl)) + " ")
	}
	b.WriteString(strings.Join(erRows(t, w.db, "SELECT user_id, email, pseudo, restricted FROM subjects ORDER BY user_id"), ";"))
	b.WriteString(strings.Join(erRows(t, w.db, "SELECT ticket_id, restricted FROM tickets ORDER BY ticket_id"), ";"))
	_ = w.bs.Walk(context.Background(), func(k string) error {
		p, _ := w.bs.Path(k)
		c, _ := os.ReadFile(p)
		b.WriteString(k + ":" + string(c) + ";")
		return nil
	})
	l, _ := os.ReadFile(w.ledger)
	b.Write(l)
	return b.String()
}

func TestErase(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		ref := testdb.Open(t, string(db.Dialect()))
		newErWorld(t, ref, false) // the same store, had alice never existed
		bobBefore := erBobRows(t, db)
		key := store.SubjectKey{Email: "alice@example.org"}

		// Dry run: changes nothing and says what the real run does.
		before := erSnapshot(t, w)
		dry, err := w.eraser().Erase(ctx, key, EraseOptions{DryRun: true})
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if after := erSnapshot(t, w); after != before {
			t.Fatalf("dry run changed the store:\nbefore %s\nafter  %s", before, after)
		}

		rep, err := w.eraser().Erase(ctx, key, EraseOptions{})
		if err != nil {
			t.Fatalf("erase: %v (residue %+v)", err, rep)
		}
		for _, cmp := range []struct {
			name      string
			dry, real any
		}{
			{"deleted", dry.Deleted, rep.Deleted},
			{"anonymized", dry.Anonymized, rep.Anonymized},
			{"kept", dry.Kept, rep.Kept},
			{"blobs queued", dry.BlobsQueued, rep.BlobsQueued},
			{"agent stats", dry.AgentStats, rep.AgentStats},
		} {
			if a, b := strings.TrimSpace(erJSON(cmp.dry)), strings.TrimSpace(erJSON(cmp.real)); a != b {
				t.Errorf("dry run %s = %s, real run %s", cmp.name, a, b)
			}
		}
		want := map[string]int64{"subjects": 0, "tickets": 1, "messages": 3, "attachments": 1, "account_events": 1, "subject_stats": 1, "objections": 0}
		for k, v := range want {
			if rep.Deleted[k] != v {
				t.Errorf("deleted[%s] = %d, want %d", k, rep.Deleted[k], v)
			}
		}
		// The disputed ticket survives, restricted, with its reason; the
		// subject row survives under pseudonyms.
		var keptTicket bool
		for _, k := range rep.Kept {
			if k.Category == "tickets" && k.ID == "TA2" && k.Rule == "erasure.open_dispute" && k.Reason != "" {
				keptTicket = true
			}
		}
		if !keptTicket {
			t.Errorf("TA2 not reported kept with its reason: %+v", rep.Kept)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM tickets WHERE ticket_id = 'TA2' AND restricted = TRUE AND anonymized_at IS NOT NULL"); n != 1 {
			t.Errorf("TA2 restricted+anonymised rows = %d, want 1", n)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM tickets WHERE ticket_id = 'TA1'"); n != 0 {
			t.Errorf("TA1 still there")
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subjects WHERE user_id = 'u-alice' OR LOWER(email) = 'alice@example.org' OR pseudo = 'alicewonder'"); n != 0 {
			t.Errorf("alice's identifiers still in subjects")
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subjects WHERE restricted = TRUE AND anonymized_at IS NOT NULL"); n != 1 {
			t.Errorf("pseudonymised subject rows = %d, want 1", n)
		}
		// Blobs: TA1's gone, TA2's kept, bob's untouched.
		for att, want := range map[string]bool{"TA1-a1": false, "TA2-a1": true, "TB1-a1": true} {
			if ok, _ := w.bs.Exists(ctx, w.blobOf[att]); ok != want {
				t.Errorf("blob of %s exists = %v, want %v", att, ok, want)
			}
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM blob_deletions"); n != 0 {
			t.Errorf("blob deletion queue not drained: %d", n)
		}
		if rep.Residue == nil || rep.Residue.TotalFound != 0 || rep.Residue.Scanned["messages"] == 0 || rep.Residue.Scanned["blobs"] != 1 {
			t.Errorf("residue = %+v", rep.Residue)
		}
		// Bob untouched row for row; agent stats as if alice never existed.
		if got := erBobRows(t, db); strings.Join(got, "\n") != strings.Join(bobBefore, "\n") {
			t.Errorf("bob changed:\n%v\nwas\n%v", got, bobBefore)
		}
		if got, want := erAgentStats(t, db), erAgentStats(t, ref); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("agent_stats after erase:\n%v\nwant (never had alice):\n%v", got, want)
		}
		// Register: done, without the user id; audit verifies and holds no identifier.
		if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'erasure' AND status = 'done' AND user_id IS NULL AND subject_hash = ?", w.h.Hash("user_id", "u-alice")); n != 1 {
			t.Errorf("done erasure requests without user id = %d, want 1", n)
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Errorf("audit verify: %v", err)
		}
		for _, s := range erRows(t, db, "SELECT detail, subject_ref FROM audit_log") {
			if strings.Contains(strings.ToLower(s), "alice") {
				t.Errorf("audit holds an identifier: %s", s)
			}
		}
		// Ledger: one entry, hashes only.
		set, err := ledger.Load(w.ledger, w.h)
		if err != nil || set.Len() != 1 {
			t.Fatalf("ledger: %v, %d entries", err, set.Len())
		}
		// The SQLite files hold no copy of the erased values.
		if db.Dialect() == store.SQLite {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				b, err := os.ReadFile(db.Path() + suffix)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				for _, needle := range []string{"alice@example.org", "alicewonder", "je suis alicewonder", "login of alice", "u-alice"} {
					if bytes.Contains(bytes.ToLower(b), []byte(needle)) {
						t.Errorf("%s%s still holds %q", filepath.Base(db.Path()), suffix, needle)
					}
				}
			}
		}
		// Twice: unknown subject, and the ledger knows why.
		_, err = w.eraser().Erase(ctx, key, EraseOptions{})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "already erased") {
			t.Errorf("second erase: %v, want not found, already erased", err)
		}

		// Restore (the subject is back, as from a backup), then reapply.
		w.exec(t, "DELETE FROM tickets WHERE ticket_id = 'TA2'")
		w.exec(t, "DELETE FROM subjects WHERE user_id LIKE 'erased-%'")
		w.addAlice(t)
		rr, err := w.eraser().Reapply(ctx, false)
		if err != nil {
			t.Fatalf("reapply: %v", err)
		}
		if len(rr.Erased) != 1 || rr.LedgerEntries != 1 {
			t.Errorf("reapply erased %d of %d ledger entries, want 1 of 1", len(rr.Erased), rr.LedgerEntries)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subjects WHERE user_id = 'u-alice'"); n != 0 {
			t.Errorf("alice back after reapply")
		}
		if set, _ := ledger.Load(w.ledger, w.h); set.Len() != 1 {
			t.Errorf("reapply appended to the ledger: %d entries", set.Len())
		}
	})
}
