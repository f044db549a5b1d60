package residue

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var t0 = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// TestCatalogCoversSchema: every text column of the schema is classified
// and every classified column exists, on both backends. A migration adding a
// text column fails here until the catalog says what it holds.
func TestCatalogCoversSchema(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		un, stale, err := Review(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(un) != 0 {
			t.Errorf("text columns missing from residue.Catalog: %v", un)
		}
		if len(stale) != 0 {
			t.Errorf("residue.Catalog names columns the schema lacks: %v", stale)
		}
		for _, c := range Catalog {
			if c.Kind == None && c.Why == "" {
				t.Errorf("%s: a column holding no personal text says why", c.Place())
			}
			if c.Kind != None {
				if _, ok := tableOf(c.Table); !ok {
					t.Errorf("%s: table without a row description in residue.Tables", c.Place())
				}
			}
		}
		// The review does see a new column.
		if _, err := db.Exec(ctx, "CREATE TABLE notes (note_id TEXT PRIMARY KEY, body TEXT)"); err != nil {
			t.Fatal(err)
		}
		un, _, err = Review(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(un, []string{"notes.body", "notes.note_id"}) {
			t.Errorf("unclassified after adding notes = %v", un)
		}
	})
}

func TestTokens(t *testing.T) {
	toks := func(s string) []string {
		var out []string
		Tokens(s, func(tok string, _, _ int) { out = append(out, tok) })
		return out
	}
	for s, want := range map[string][]string{
		"écrivez à ALICE@example.org.":  {"écrivez", "à", "alice@example.org"},
		"u-42, malice":                  {"u-42", "malice"},
		"deleted: {\"tickets\":1}":      {"deleted", "tickets", "1"},
		"...a..b.":                      {"a", "b"},
		"mail:alice+tag@x.io;ok(1)":     {"mail", "alice+tag@x.io", "ok", "1"},
		strings.Repeat("x", MaxToken+1): nil,
	} {
		if got := toks(s); !slices.Equal(got, want) {
			t.Errorf("Tokens(%.40q) = %q, want %q", s, got, want)
		}
	}
	// The stream tokenizer agrees with Tokens whatever the chunking.
	r := rand.New(rand.NewPCG(1, 2))
	text := "Bonjour, je suis alicewonder (u-alice). Écrivez à Alice@Example.org... merci.\n%PDF-1.4 obj<<>>u-4 u-42." + strings.Repeat("z", 1500) + " fin"
	want := toks(text)
	for range 200 {
		var got []string
		st := &streamTokens{fn: func(tok, _ string) { got = append(got, tok) }}
		for rest := text; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(40))
			st.Write([]byte(rest[:n]))
			rest = rest[n:]
		}
		st.flush()
		if !slices.Equal(got, want) {
			t.Fatalf("stream tokens = %q, want %q", got, want)
		}
	}
}

// world is a small store with blobs.
type world struct {
	db *store.DB
	bs *blobs.Dir
	h  *store.Hasher
}

func newWorld(t *testing.T, db *store.DB) *world {
	t.Helper()
	bs, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.Hasher(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &world{db: db, bs: bs, h: h}
}

func (w *world) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := w.db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (w *world) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := w.db.Get(context.Background(), &n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// subject adds a subject with one ticket, one message and one attachment.
func (w *world) subject(t *testing.T, id, email, pseudo, body, doc string) {
	t.Helper()
	w.exec(t, "INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES (?, ?, ?, 0, 0)", id, email, pseudo)
	w.exec(t, "INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at) VALUES (?, ?, ?, 'Paiement', 'rien', 'open', 0)", "T-"+id, id, "R-"+id)
	w.exec(t, "INSERT INTO messages (message_id, ticket_id, author, body, sent_at) VALUES (?, ?, 'user', ?, 0)", "M-"+id, "T-"+id, body)
	key := blobs.NewKey()
	sha, n, err := w.bs.Put(context.Background(), key, strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	w.exec(t, "INSERT INTO attachments (attachment_id, ticket_id, filename, content_type, size, sha256, blob_key, uploaded_at) VALUES (?, ?, 'doc.pdf', 'application/pdf', ?, ?, ?, 0)",
		"A-"+id, "T-"+id, n, sha, key)
}

// erase simulates an erasure: the work list entry, then the rows gone
// (keepTicket: the ticket stays, restricted, as a policy would keep it).
func (w *world) erase(t *testing.T, id, email, pseudo string, keepTicket bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := w.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := Enqueue(ctx, tx, w.h, w.h.Hash("user_id", id), Identifiers{UserID: id, Email: email, Pseudo: pseudo}, store.Millis(t0)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if keepTicket {
		w.exec(t, "UPDATE subjects SET restricted = TRUE WHERE user_id = ?", id)
		w.exec(t, "UPDATE tickets SET restricted = TRUE WHERE user_id = ?", id)
		return
	}
	var keys []string
	if err := w.db.Select(ctx, &keys, "SELECT blob_key FROM attachments WHERE ticket_id = ?", "T-"+id); err != nil {
		t.Fatal(err)
	}
	w.exec(t, "DELETE FROM tickets WHERE user_id = ?", id)
	w.exec(t, "DELETE FROM subjects WHERE user_id = ?", id)
	for _, k := range keys {
		if err := w.bs.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *world) sweep(t *testing.T) (*SweepReport, error) {
	t.Helper()
	return Sweep(context.Background(), w.db, w.bs, w.h, SweepOptions{Actor: "test", Now: func() time.Time { return t0 }})
}

func placesOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Place+"/"+f.Strength)
	}
	slices.Sort(out)
	return out
}

// TestSweepOnePassManySubjects: one sweep looks for every subject of the work
// list; a count "7" is an ambiguous hit for user id "7", not a failure; an
// e-mail in another person's message and document is a strong finding; a
// restricted subject's own records are kept; the work list is consumed and
// the audit entry holds no identifier.
func TestSweepOnePassManySubjects(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, "u-alice", "Alice@Example.org", "alicewonder", "je suis alicewonder", "facture alice@example.org")
		w.subject(t, "7", "seven@example.org", "sept", "hello", "doc")
		w.subject(t, "u-held", "held@example.org", "held", "je suis held@example.org", "doc de held@example.org")
		w.subject(t, "u-carol", "carol@example.org", "carol",
			"j'ai 7 articles; contactez ALICE@example.org. malice", "reçu pour alice@example.org et u-alice")
		w.erase(t, "u-alice", "Alice@Example.org", "alicewonder", false)
		w.erase(t, "7", "seven@example.org", "sept", false)
		w.erase(t, "u-held", "held@example.org", "held", true)

		rep, err := w.sweep(t)
		if !errors.Is(err, ErrFound) {
			t.Fatalf("sweep: err = %v, want ErrFound", err)
		}
		if rep.Subjects != 3 {
			t.Errorf("subjects = %d, want 3", rep.Subjects)
		}
		want := []string{"blobs/strong", "messages.body/strong"}
		if got := placesOf(rep.Findings); !slices.Equal(got, want) {
			t.Errorf("findings = %v, want %v", got, want)
		}
		if rep.Ambiguous["messages.body"] != 1 {
			t.Errorf("ambiguous = %v, want the count 7 in carol's message", rep.Ambiguous)
		}
		if len(rep.Found) != 0 {
			t.Errorf("found = %v, want nothing in the erased subjects' own records", rep.Found)
		}
		if rep.Kept["messages.body"] != 1 || rep.Kept["subjects.email"] != 1 || rep.Kept["blobs"] != 1 {
			t.Errorf("kept = %v, want the held subject's message, e-mail and document", rep.Kept)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM residue_worklist"); n != 0 {
			t.Errorf("work list rows left = %d", n)
		}
		var details []string
		if err := db.Select(context.Background(), &details, "SELECT detail FROM audit_log WHERE action = 'residue.sweep' AND outcome = 'found'"); err != nil || len(details) != 1 {
			t.Fatalf("audit: %v %v", details, err)
		}
		for _, s := range []string{"alice", "u-held", "example.org", "seven"} {
			if strings.Contains(strings.ToLower(details[0]), s) {
				t.Errorf("audit entry holds %q: %s", s, details[0])
			}
		}
		// Nothing left to look for: the next sweep is clean and lists
		// nothing twice.
		rep, err = w.sweep(t)
		if err != nil || len(rep.Findings) != 0 || rep.Subjects != 0 {
			t.Errorf("second sweep: %+v, %v", rep, err)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM residue_findings WHERE status = 'open'"); n != 2 {
			t.Errorf("open findings = %d, want 2", n)
		}
	})
}

// TestSweepFindsResidueInOwnRecords: an erased subject's message that is
// still there, unrestricted, is residue: the sweep fails naming the place.
func TestSweepFindsResidueInOwnRecords(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, "u-dave", "dave@example.org", "dave", "moi, dave@example.org", "doc")
		tx, err := db.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := Enqueue(context.Background(), tx, w.h, w.h.Hash("user_id", "u-dave"), Identifiers{UserID: "u-dave", Email: "dave@example.org"}, 1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		rep, err := w.sweep(t)
		if !errors.Is(err, ErrFound) || !strings.Contains(err.Error(), "messages.body") {
			t.Fatalf("sweep: %v", err)
		}
		if rep.Found["messages.body"] != 1 || rep.Found["subjects.email"] != 1 || rep.Found["tickets.user_id"] != 1 {
			t.Errorf("found = %v", rep.Found)
		}
	})
}

// vanishing lists, after the real blobs, one that is gone by the time it is
// opened: what a retention run draining its queue does to a sweep.
type vanishing struct{ blobs.Store }

func (v vanishing) Walk(ctx context.Context, fn func(key string) error) error {
	if err := v.Store.Walk(ctx, fn); err != nil {
		return err
	}
	return fn("zzvanishedblob0001")
}

// TestSweepStrayAndVanishedBlobs: a file of the blobs directory that is not a
// blob key is skipped and counted, not fatal; a blob gone since the listing
// holds nothing.
func TestSweepStrayAndVanishedBlobs(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, "u-erin", "erin@example.org", "erin", "bonjour", "doc")
		w.erase(t, "u-erin", "erin@example.org", "erin", false)
		if err := os.WriteFile(filepath.Join(w.bs.Root(), "x.zip"), []byte("export of erin@example.org"), 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Sweep(context.Background(), db, vanishing{w.bs}, w.h, SweepOptions{Actor: "test"})
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		if rep.StrayFiles != 1 {
			t.Errorf("stray files = %d, want 1", rep.StrayFiles)
		}
	})
}

// TestSweepInterruptedKeepsWorkList: a sweep that stops half-way records
// nothing and leaves the work list for the next one.
func TestSweepInterruptedKeepsWorkList(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, "u-fay", "fay@example.org", "fay", "x", "doc")
		w.erase(t, "u-fay", "fay@example.org", "fay", false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Sweep(ctx, db, w.bs, w.h, SweepOptions{Actor: "test"}); err == nil {
			t.Fatal("canceled sweep: no error")
		}
		if n := w.count(t, "SELECT COUNT(*) FROM residue_worklist"); n == 0 {
			t.Error("work list consumed by a sweep that did not finish")
		}
		if n := w.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'residue.sweep'"); n != 0 {
			t.Errorf("%d sweep audit entries for a sweep that did not finish", n)
		}
	})
}

// TestRedactAndDismiss: the DPO redacts a finding (dry run first), found
// again by keyed hashes; the audit holds no text; a document or a subject's
// own identifier column cannot be redacted; a finding is resolved once.
func TestRedactAndDismiss(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, "u-gus", "gus@example.org", "gus w", "moi", "doc")
		w.subject(t, "u-hana", "hana@example.org", "gus w", "voir GUS@example.org, ou gus@example.org. Signé gus  w", "reçu de gus@example.org")
		w.erase(t, "u-gus", "gus@example.org", "gus w", false)
		if _, err := w.sweep(t); !errors.Is(err, ErrFound) {
			t.Fatalf("sweep: %v", err)
		}
		fs, err := List(ctx, db, false)
		if err != nil {
			t.Fatal(err)
		}
		byPlace := map[string]Finding{}
		for _, f := range fs {
			byPlace[f.Place] = f
		}
		if got := placesOf(fs); !slices.Equal(got, []string{"blobs/strong", "messages.body/strong"}) {
			t.Fatalf("findings = %v", got)
		}
		msg := byPlace["messages.body"]
		rr, err := Redact(ctx, db, w.h, msg.ID, true, "test", t0)
		if err != nil || rr.Replaced != 3 {
			t.Fatalf("dry run: %+v, %v", rr, err)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM messages WHERE message_id = 'M-u-hana' AND body LIKE '%gus@example.org%'"); n != 1 {
			t.Fatal("dry run changed the message")
		}
		if _, err := Redact(ctx, db, w.h, msg.ID, false, "test", t0); err != nil {
			t.Fatal(err)
		}
		var body string
		if err := db.Get(ctx, &body, "SELECT body FROM messages WHERE message_id = 'M-u-hana'"); err != nil {
			t.Fatal(err)
		}
		if want := "voir [redacted], ou [redacted]. Signé [redacted]"; body != want {
			t.Errorf("body = %q, want %q", body, want)
		}
		if _, err := Redact(ctx, db, w.h, msg.ID, false, "test", t0); !errors.Is(err, ErrNotRedactable) {
			t.Errorf("second redaction: %v", err)
		}
		if _, err := Redact(ctx, db, w.h, byPlace["blobs"].ID, false, "test", t0); !errors.Is(err, ErrNotRedactable) {
			t.Errorf("redact a document: %v", err)
		}
		if _, err := Redact(ctx, db, w.h, "RF-NOPE", false, "test", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown finding: %v", err)
		}
		if _, err := Dismiss(ctx, db, byPlace["blobs"].ID, "test", t0); err != nil {
			t.Error(err)
		}
		if open, _ := List(ctx, db, false); len(open) != 0 {
			t.Errorf("open after redact+dismiss = %v", placesOf(open))
		}
		var details []string
		if err := db.Select(ctx, &details, "SELECT detail FROM audit_log WHERE action IN ('residue.redact', 'residue.dismiss')"); err != nil || len(details) != 2 {
			t.Fatalf("audit: %v %v", details, err)
		}
		for _, d := range details {
			if strings.Contains(d, "gus") || strings.Contains(d, "@") { // ids of rows are internal ids
				t.Errorf("audit holds an identifier: %s", d)
			}
		}
	})
}

// TestCheckSubjectUsesTrigramIndexes: on PostgreSQL the erasure's check
// finds a mention in someone else's text through the pg_trgm indexes, as a
// whole token only ("xu-ivy" is not "u-ivy"); every free-text column of the
// catalog has its index, and one without is reported under Deferred, never
// skipped silently. On SQLite the free text is the sweep's, and said so.
func TestCheckSubjectUsesTrigramIndexes(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, "u-ivy", "ivy@example.org", "ivy_pseudo", "moi", "doc")
		w.subject(t, "u-jo", "jo@example.org", "jo", "écrire à IVY@example.org, pas à xu-ivy", "doc")
		w.erase(t, "u-ivy", "ivy@example.org", "ivy_pseudo", false)
		s := Subject{Identifiers: Identifiers{UserID: "u-ivy", Email: "ivy@example.org", Pseudo: "ivy_pseudo"}, KeptTickets: map[string]bool{}}
		rep, err := CheckSubject(ctx, db, w.bs, s)
		if err != nil {
			t.Fatal(err)
		}
		if rep.TotalFound != 0 {
			t.Errorf("found = %v", rep.Found)
		}
		if db.Dialect() == store.SQLite {
			if !slices.Contains(rep.Deferred, "messages.body") {
				t.Errorf("deferred = %v, want messages.body", rep.Deferred)
			}
			return
		}
		if rep.Findings["messages.body"] != 1 || len(rep.Ambiguous) != 0 {
			t.Errorf("findings = %v, ambiguous = %v; want one strong finding in messages.body", rep.Findings, rep.Ambiguous)
		}
		if slices.Contains(rep.Deferred, "messages.body") || slices.Contains(rep.Deferred, "legal_holds.reason") {
			t.Errorf("deferred = %v, want messages.body and legal_holds.reason searched through their indexes", rep.Deferred)
		}
		w.exec(t, "DROP INDEX residue_trgm_legal_holds_reason")
		if rep, err = CheckSubject(ctx, db, w.bs, s); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(rep.Deferred, "legal_holds.reason") {
			t.Errorf("deferred = %v, want the unindexed legal_holds.reason", rep.Deferred)
		}
	})
}
