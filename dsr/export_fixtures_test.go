package dsr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Fixture times (Unix ms) shared by the register and export tests.
var (
	t2023 = time.Date(2023, 3, 1, 10, 0, 0, 0, time.UTC)
	clock = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
)

func ms(t time.Time) int64 { return t.UnixMilli() }

// engine loads the repository's embedded policies once per test.
func engine(t testing.TB) *policies.Engine {
	t.Helper()
	e, err := policies.Load(context.Background(), policies.Embedded())
	if err != nil {
		t.Fatalf("load policies: %v", err)
	}
	return e
}

func newRegister(t testing.TB, db *store.DB) *Register {
	t.Helper()
	h, err := db.Hasher(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &Register{DB: db, Policies: engine(t), Hasher: h, Now: func() time.Time { return clock }}
}

func mustExec(t testing.TB, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func addSubject(t testing.TB, db *store.DB, id, email, pseudo string) store.Subject {
	t.Helper()
	mustExec(t, db, `INSERT INTO subjects (user_id, email, pseudo, account_created_at, account_closed_at, restricted, created_at, updated_at)
		VALUES (?, ?, ?, ?, NULL, FALSE, ?, ?)`, id, email, pseudo, ms(t2023.AddDate(-2, 0, 0)), ms(t2023), ms(t2023))
	s, err := store.FindSubject(context.Background(), db, store.SubjectKey{UserID: id})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is one subject's support history, with a twin subject whose
// tickets look alike (same agents, same dates, similar texts) and must
// never appear in the first one's export.
type fixture struct {
	subj, twin store.Subject
	blobs      *blobs.Dir
	// secrets are strings only the twin's records contain.
	secrets []string
	// attachments maps archive path to contents for the subject.
	attachments map[string][]byte
}

// addHistory gives subject id a history: two tickets (one closed, one open
// under a hold), three messages with two agents, attachments (one with a
// hostile file name), an account event, statistics, an objection and a
// hold. tag makes its texts distinct.
func addHistory(t testing.TB, db *store.DB, bd *blobs.Dir, id, tag string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	closed := t2023.Add(96 * time.Hour)
	mustExec(t, db, `INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at, restricted)
		VALUES (?, ?, ?, ?, ?, ?, 'none', 'closed', ?, ?, FALSE)`,
		"T-"+tag+"-1", id, "REQ-2023-"+tag+"1", "Paiement non reçu "+tag, "Je n'ai pas reçu <b>mon</b> paiement & "+tag, "TX-"+tag, ms(t2023), ms(closed))
	mustExec(t, db, `INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at, restricted)
		VALUES (?, ?, ?, ?, ?, NULL, 'open', 'open', ?, NULL, FALSE)`,
		"T-"+tag+"-2", id, "REQ-2024-"+tag+"2", "Colis abîmé "+tag, "Le colis est arrivé cassé "+tag, ms(t2023.AddDate(1, 0, 0)))
	msgs := []struct {
		id, ticket, author, agent, body string
		at                              time.Time
	}{
		{"M-" + tag + "-1", "T-" + tag + "-1", "user", "", "Bonjour, où est mon argent ? " + tag, t2023},
		{"M-" + tag + "-2", "T-" + tag + "-1", "agent", "ag-7", "Nous vérifions, cordialement " + tag, t2023.Add(time.Hour)},
		{"M-" + tag + "-3", "T-" + tag + "-1", "agent", "ag-3", "C'est réglé " + tag, t2023.Add(2 * time.Hour)},
		{"M-" + tag + "-4", "T-" + tag + "-2", "agent", "ag-3", "Envoyez une photo " + tag, t2023.AddDate(1, 0, 0).Add(time.Hour)},
		{"M-" + tag + "-5", "T-" + tag + "-2", "user", "", "<script>alert('x')</script> voici " + tag, t2023.AddDate(1, 0, 0).Add(2 * time.Hour)},
	}
	for _, m := range msgs {
		var agent any
		if m.agent != "" {
			agent = m.agent
		}
		mustExec(t, db, "INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
			m.id, m.ticket, m.author, agent, m.body, ms(m.at))
	}
	files := map[string][]byte{}
	atts := []struct {
		id, ticket, msg, name string
		body                  []byte
	}{
		{"A-" + tag + "-1", "T-" + tag + "-1", "M-" + tag + "-1", "justificatif " + tag + ".pdf", []byte("%PDF-1.4 justificatif " + tag + "\x00\x01\x02")},
		{"A-" + tag + "/../2", "T-" + tag + "-2", "M-" + tag + "-5", "../../etc/passwd\x01\u202Egpj.exe", bytes.Repeat([]byte("photo "+tag+" "), 1000)},
		{"A-" + tag + "-3", "T-" + tag + "-2", "", "/abs/notes.txt", []byte("notes " + tag)},
	}
	for _, a := range atts {
		key := blobs.NewKey()
		sha, size, err := bd.Put(ctx, key, bytes.NewReader(a.body))
		if err != nil {
			t.Fatal(err)
		}
		var msg any
		if a.msg != "" {
			msg = a.msg
		}
		mustExec(t, db, `INSERT INTO attachments (attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at)
			VALUES (?, ?, ?, ?, 'application/octet-stream', ?, ?, ?, ?)`, a.id, a.ticket, msg, a.name, size, sha, key, ms(t2023))
		files[AttachmentPath(a.id, a.name)] = a.body
	}
	mustExec(t, db, "INSERT INTO account_events (event_id, user_id, type, at, detail) VALUES (?, ?, 'password_reset', ?, ?)",
		"E-"+tag, id, ms(t2023), "reset from app "+tag)
	mustExec(t, db, "INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at) VALUES (?, 5400, 2, ?)", id, ms(t2023))
	mustExec(t, db, "INSERT INTO objections (user_id, purpose, created_at, request_id) VALUES (?, 'statistics', ?, NULL)", id, ms(t2023))
	mustExec(t, db, "INSERT INTO legal_holds (hold_id, ticket_id, user_id, reason, created_at, until, released_at) VALUES (?, ?, NULL, ?, ?, NULL, NULL)",
		"H-"+tag, "T-"+tag+"-2", "litigation note "+tag, ms(t2023))
	return files
}

func newFixture(t testing.TB, db *store.DB) *fixture {
	t.Helper()
	bd, err := blobs.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{blobs: bd}
	f.subj = addSubject(t, db, "u-42", "alice@example.org", "alice")
	f.twin = addSubject(t, db, "u-43", "bob@example.org", "bobby")
	f.attachments = addHistory(t, db, bd, "u-42", "ALICE")
	addHistory(t, db, bd, "u-43", "BOBBY")
	f.secrets = []string{"u-43", "bob@example.org", "bobby", "BOBBY", "ag-7", "ag-3", "litigation note"}
	return f
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (f *fixture) String() string { return fmt.Sprintf("fixture(%s)", f.subj.UserID) }
