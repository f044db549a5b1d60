package ingest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var fixedNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// obj is a JSON object under construction.
type obj = map[string]any

func ticketLine(id, userID string, msgs []obj, atts []obj) obj {
	return obj{
		"kind": "ticket", "ticket_id": id, "request_number": "REQ-" + id,
		"user": obj{"user_id": userID, "email": userID + "@example.org", "pseudo": "p-" + userID,
			"account_created_at": "2017-05-02T09:00:00Z", "account_closed_at": nil},
		"subject": "Paiement non reçu", "description": "Le paiement n'est pas arrivé.",
		"transaction_ref": "TX-1", "status": "closed",
		"created_at": "2019-03-01T10:00:00Z", "closed_at": "2019-03-05T16:20:00Z",
		"messages": msgs, "attachments": atts,
	}
}

func msg(id string) obj {
	return obj{"message_id": id, "author": "user", "body": "Bonjour", "sent_at": "2019-03-01T10:00:00Z"}
}

func att(id, msgID string, content []byte) obj {
	a := obj{"attachment_id": id, "filename": "justificatif.pdf", "content_type": "application/pdf",
		"content_base64": base64.StdEncoding.EncodeToString(content), "uploaded_at": "2019-03-01T10:00:00Z"}
	if msgID != "" {
		a["message_id"] = msgID
	}
	return a
}

func event(id, userID string) obj {
	return obj{"kind": "account_event", "event_id": id, "user_id": userID, "type": "password_reset",
		"at": "2020-01-01T08:00:00Z", "detail": "via le formulaire"}
}

func jsonl(t testing.TB, lines ...any) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		if s, ok := l.(string); ok {
			b.WriteString(s)
		} else {
			j, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(j)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newBlobs(t testing.TB) *blobs.Dir {
	t.Helper()
	d, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func blobCount(t *testing.T, bs blobs.Store) int {
	t.Helper()
	n := 0
	if err := bs.Walk(context.Background(), func(string) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func opts() ingest.Options { return ingest.Options{Now: func() time.Time { return fixedNow }} }

func inventory(t *testing.T, db *store.DB) store.Inventory {
	t.Helper()
	inv, err := db.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inv.AuditEntries = 0 // one per ingest; compared separately
	return inv
}

func goodFile(t *testing.T) string {
	return jsonl(t,
		event("E-0", "u-1"), // before the ticket line that defines its subject
		ticketLine("T-1", "u-1", []obj{msg("M-1"), msg("M-2")}, []obj{att("A-1", "M-1", []byte("%PDF-1.4 one"))}),
		ticketLine("T-2", "u-2", []obj{msg("M-3")}, []obj{att("A-2", "", []byte("\x89PNG two"))}),
		ticketLine("T-3", "u-1", nil, nil),
		event("E-1", "u-2"),
	)
}

func TestIngestLoadsEverything(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		res, err := ingest.File(ctx, db, bs, writeFile(t, goodFile(t)), opts())
		if err != nil {
			t.Fatal(err)
		}
		want := ingest.Result{Lines: 5, Subjects: 2, Tickets: 3, Messages: 3, Attachments: 2,
			AttachmentBytes: int64(len("%PDF-1.4 one") + len("\x89PNG two")), AccountEvents: 2, BlobsWritten: 2}
		got := res
		got.File, got.AuditSeq = "", 0
		if got != want {
			t.Fatalf("result:\n got %+v\nwant %+v", got, want)
		}
		inv := inventory(t, db)
		if inv.Subjects != 2 || inv.Tickets != 3 || inv.Messages != 3 || inv.Attachments != 2 || inv.AccountEvents != 2 {
			t.Fatalf("inventory: %+v", inv)
		}
		if n := blobCount(t, bs); n != 2 {
			t.Fatalf("blobs: %d, want 2", n)
		}
		a, err := store.GetAttachment(ctx, db, "A-1")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := bs.Open(ctx, a.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var buf [64]byte
		n, _ := rc.Read(buf[:])
		if string(buf[:n]) != "%PDF-1.4 one" || a.Size != int64(n) || !a.MessageID.Valid {
			t.Fatalf("attachment A-1: %+v contents %q", a, buf[:n])
		}
		var s store.Subject
		if err := db.Get(ctx, &s, "SELECT user_id, email, pseudo, account_created_at, account_closed_at, restricted, anonymized_at, created_at, updated_at FROM subjects WHERE user_id = ?", "u-1"); err != nil {
			t.Fatal(err)
		}
		if s.Email != "u-1@example.org" || s.AccountCreatedAt.Int64 != time.Date(2017, 5, 2, 9, 0, 0, 0, time.UTC).UnixMilli() || s.AccountClosedAt.Valid {
			t.Fatalf("subject: %+v", s)
		}
		v, err := db.VerifyAudit(ctx)
		if err != nil || v.Entries != 1 {
			t.Fatalf("audit: %+v %v", v, err)
		}
		var detail string
		if err := db.Get(ctx, &detail, "SELECT detail FROM audit_log WHERE action = 'ingest'"); err != nil {
			t.Fatal(err)
		}
		for _, personal := range []string{"u-1", "example.org", "Paiement", "justificatif"} {
			if strings.Contains(detail, personal) {
				t.Fatalf("audit detail holds personal data %q: %s", personal, detail)
			}
		}
		if !strings.Contains(detail, res.File) {
			t.Fatalf("audit detail lacks the file's SHA-256: %s", detail)
		}
	})
}

func TestIngestTwiceChangesNothing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		path := writeFile(t, goodFile(t))
		if _, err := ingest.File(ctx, db, bs, path, opts()); err != nil {
			t.Fatal(err)
		}
		first := inventory(t, db)
		a1, _ := store.GetAttachment(ctx, db, "A-1")
		res, err := ingest.File(ctx, db, bs, path, opts())
		if err != nil {
			t.Fatal(err)
		}
		if second := inventory(t, db); second != first {
			t.Fatalf("inventory changed:\n%+v\n%+v", first, second)
		}
		a2, _ := store.GetAttachment(ctx, db, "A-1")
		if a1 != a2 || res.BlobsWritten != 0 {
			t.Fatalf("attachment rewritten: %+v -> %+v (blobs written %d)", a1, a2, res.BlobsWritten)
		}
		if n := blobCount(t, bs); n != 2 {
			t.Fatalf("blobs: %d, want 2", n)
		}
	})
}

func TestReingestUpdatesInPlace(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		if _, err := ingest.File(ctx, db, bs, writeFile(t, goodFile(t)), opts()); err != nil {
			t.Fatal(err)
		}
		old, _ := store.GetAttachment(ctx, db, "A-1")
		changed := ticketLine("T-1", "u-1", []obj{msg("M-1"), msg("M-2")}, []obj{att("A-1", "M-1", []byte("%PDF-1.4 corrected"))})
		changed["subject"] = "Compte piraté"
		changed["dispute_status"] = "open"
		changed["user"].(obj)["account_closed_at"] = "2021-01-01T00:00:00Z"
		res, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, changed)), opts())
		if err != nil {
			t.Fatal(err)
		}
		if res.BlobsReplaced != 1 {
			t.Fatalf("blobs replaced: %d", res.BlobsReplaced)
		}
		var tk store.Ticket
		if err := db.Get(ctx, &tk, "SELECT subject, dispute_status FROM tickets WHERE ticket_id = 'T-1'"); err != nil {
			t.Fatal(err)
		}
		if tk.Subject != "Compte piraté" || tk.DisputeStatus != "open" {
			t.Fatalf("ticket not updated: %+v", tk)
		}
		var closed *int64
		if err := db.Get(ctx, &closed, "SELECT account_closed_at FROM subjects WHERE user_id = 'u-1'"); err != nil || closed == nil {
			t.Fatalf("subject not updated: %v %v", closed, err)
		}
		now, _ := store.GetAttachment(ctx, db, "A-1")
		if now.BlobKey == old.BlobKey || now.Size != int64(len("%PDF-1.4 corrected")) {
			t.Fatalf("attachment not updated: %+v", now)
		}
		if ok, _ := bs.Exists(ctx, old.BlobKey); ok {
			t.Fatal("replaced blob still on disk")
		}
		inv := inventory(t, db)
		if inv.Tickets != 3 || inv.Attachments != 2 || inv.BlobDeletionsPending != 0 || blobCount(t, bs) != 2 {
			t.Fatalf("after update: %+v, %d blobs", inv, blobCount(t, bs))
		}
	})
}

func TestOneBadLineWritesNothing(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		bad := ticketLine("T-9", "u-9", []obj{msg("M-9")}, nil)
		bad["created_at"] = "2019-03-01 10:00"
		content := jsonl(t,
			ticketLine("T-1", "u-1", []obj{msg("M-1")}, []obj{att("A-1", "M-1", []byte("x"))}),
			ticketLine("T-2", "u-2", []obj{msg("M-2")}, []obj{att("A-2", "M-2", []byte("y"))}),
			bad,
			event("E-1", "u-1"),
		)
		_, err := ingest.File(ctx, db, bs, writeFile(t, content), opts())
		var fe *ingest.FaultsError
		if !errors.As(err, &fe) || !errors.Is(err, ingest.ErrInvalid) {
			t.Fatalf("want faults, got %v", err)
		}
		if len(fe.Faults) != 1 || fe.Faults[0].Line != 3 || !strings.HasPrefix(fe.Faults[0].Reason, "created_at: not an RFC 3339 time") {
			t.Fatalf("faults: %v", fe.Faults)
		}
		var zero store.Inventory
		if inv := inventory(t, db); inv != zero {
			t.Fatalf("rows written: %+v", inv)
		}
		if n := blobCount(t, bs); n != 0 {
			t.Fatalf("%d blobs written", n)
		}
		var audit int
		_ = db.Get(ctx, &audit, "SELECT COUNT(*) FROM audit_log")
		if audit != 0 {
			t.Fatalf("%d audit entries for a rejected file", audit)
		}
	})
}

func TestBadInputCatalogue(t *testing.T) {
	good := func(mut func(o obj)) obj {
		o := ticketLine("T-1", "u-1", []obj{msg("M-1"), msg("M-2")}, []obj{att("A-1", "M-1", []byte("x"))})
		if mut != nil {
			mut(o)
		}
		return o
	}
	cases := []struct {
		name  string
		lines []any
		want  []string
	}{
		{"malformed JSON", []any{good(nil), `{"kind":"ticket",`}, []string{"2: malformed JSON at byte 17: unexpected end of JSON input"}},
		{"not an object", []any{`[1,2]`}, []string{"1: want a JSON object, got array"}},
		{"trailing data", []any{`{"kind":"account_event"} {}`}, []string{"1: malformed JSON at byte 26: invalid character '{' after top-level value"}},
		{"wrong type", []any{good(func(o obj) { o["ticket_id"] = 42 })}, []string{"1: ticket_id: want string, got number"}},
		{"wrong nested type", []any{good(func(o obj) { o["messages"] = "none" })}, []string{"1: messages: want array, got string"}},
		{"unknown kind", []any{`{"kind":"invoice"}`}, []string{"1: kind: unknown kind (want ticket or account_event)"}},
		{"missing kind", []any{`{"ticket_id":"T-1"}`}, []string{"1: kind: required (ticket or account_event)"}},
		{"unknown field", []any{good(func(o obj) { o["closed_on"] = "x" })}, []string{`1: unknown field "closed_on"`}},
		{"time without zone", []any{good(func(o obj) { o["closed_at"] = "2019-03-05T16:20:00" })},
			[]string{"1: closed_at: time without zone (want RFC 3339 with Z or ±hh:mm, e.g. 2019-03-01T10:00:00Z)"}},
		{"not a time", []any{good(func(o obj) { o["created_at"] = "yesterday" })},
			[]string{"1: created_at: not an RFC 3339 time (e.g. 2019-03-01T10:00:00Z)"}},
		{"invalid e-mail", []any{good(func(o obj) { o["user"].(obj)["email"] = "alice at example.org" })},
			[]string{"1: user.email: not a valid e-mail address"}},
		{"e-mail with display name", []any{good(func(o obj) { o["user"].(obj)["email"] = "Alice <alice@example.org>" })},
			[]string{"1: user.email: not a valid e-mail address"}},
		{"e-mail without dot", []any{good(func(o obj) { o["user"].(obj)["email"] = "alice@localhost" })},
			[]string{"1: user.email: e-mail domain has no dot"}},
		// Adversarial pass 8 F3: invisible characters made a second subject
		// of an address that looks the same, and let an erased one back.
		{"user id with a zero-width space", []any{good(func(o obj) { o["user"].(obj)["user_id"] = "u-1\u200b" })},
			[]string{"1: user.user_id: identifier holds an invisible character, U+200B, at byte 3"}},
		{"unknown field whose name is a value", []any{good(func(o obj) { o["alice@example.org"] = "x" })},
			[]string{"1: unknown field (its name is not shown: it does not look like a field name — a value in a key?)"}},
		{"e-mail with a zero-width space", []any{good(func(o obj) { o["user"].(obj)["email"] = "\u200balice@example.org" })},
			[]string{"1: user.email: e-mail address holds an invisible character, U+200B, at byte 0 (zero-width, joiner, bidi control, soft hyphen or the like): it would look like another address"}},
		{"e-mail with a soft hyphen", []any{good(func(o obj) { o["user"].(obj)["email"] = "ali\u00adce@example.org" })},
			[]string{"1: user.email: e-mail address holds an invisible character, U+00AD, at byte 3 (zero-width, joiner, bidi control, soft hyphen or the like): it would look like another address"}},
		{"e-mail with a byte-order mark", []any{good(func(o obj) { o["user"].(obj)["email"] = "alice\ufeff@example.org" })},
			[]string{"1: user.email: e-mail address holds an invisible character, U+FEFF, at byte 5 (zero-width, joiner, bidi control, soft hyphen or the like): it would look like another address"}},
		{"e-mail with a variation selector", []any{good(func(o obj) { o["user"].(obj)["email"] = "alice\ufe0f@example.org" })},
			[]string{"1: user.email: e-mail address holds an invisible character, U+FE0F, at byte 5 (zero-width, joiner, bidi control, soft hyphen or the like): it would look like another address"}},
		{"missing fields", []any{`{"kind":"account_event","event_id":"E-1"}`},
			[]string{"1: user_id: required", "1: type: required", "1: at: required"}},
		{"bad status", []any{good(func(o obj) { o["status"] = "pending" })}, []string{"1: status: must be open or closed"}},
		{"closed without closed_at", []any{good(func(o obj) { o["closed_at"] = nil })}, []string{"1: closed_at: required when status is closed"}},
		{"open with closed_at", []any{good(func(o obj) { o["status"] = "open" })}, []string{"1: closed_at: must be null while status is open"}},
		{"closed before created", []any{good(func(o obj) { o["closed_at"] = "2018-01-01T00:00:00Z" })}, []string{"1: closed_at: before created_at"}},
		{"bad dispute", []any{good(func(o obj) { o["dispute_status"] = "maybe" })}, []string{"1: dispute_status: must be none or open or resolved"}},
		{"agent without agent_id", []any{good(func(o obj) { o["messages"].([]obj)[1]["author"] = "agent" })},
			[]string{"1: messages[1].agent_id: required"}},
		{"user with agent_id", []any{good(func(o obj) { o["messages"].([]obj)[1]["agent_id"] = "ag-1" })},
			[]string{"1: messages[1].agent_id: must be absent when author is user"}},
		{"bad author", []any{good(func(o obj) { o["messages"].([]obj)[0]["author"] = "bot" })},
			[]string{"1: messages[0].author: must be user or agent"}},
		{"duplicate message id in one ticket", []any{good(func(o obj) { o["messages"].([]obj)[1]["message_id"] = "M-1" })},
			[]string{"1: messages[1].message_id: duplicate message id M-1 in this ticket"}},
		{"duplicate ids across lines", []any{good(nil), ticketLine("T-1", "u-1", []obj{msg("M-1")}, []obj{att("A-1", "", []byte("x"))})},
			[]string{"2: ticket_id: duplicate ticket id T-1 (first on line 1)",
				"2: messages[0].message_id: duplicate message id M-1 (first on line 1)",
				"2: attachments[0].attachment_id: duplicate attachment id A-1 (first on line 1)"}},
		{"duplicate event id", []any{good(nil), event("E-1", "u-1"), event("E-1", "u-1")},
			[]string{"3: event_id: duplicate event id E-1 (first on line 2)"}},
		{"empty file", []any{}, []string{"1: empty file: no records"}},
		{"blank lines only", []any{"", "   "}, []string{"1: empty file: no records"}},
		{"invalid base64", []any{good(func(o obj) { o["attachments"].([]obj)[0]["content_base64"] = "@@@@" })},
			[]string{"1: attachments[0].content_base64: invalid base64 (corrupt at byte 0)"}},
		{"attachment of another ticket's message", []any{good(nil),
			ticketLine("T-2", "u-1", []obj{msg("M-3")}, []obj{att("A-2", "M-2", []byte("y"))})},
			[]string{"2: attachments[0].message_id: M-2 is not a message of this ticket"}},
		{"bad content type", []any{good(func(o obj) { o["attachments"].([]obj)[0]["content_type"] = "pdf file" })},
			[]string{"1: attachments[0].content_type: not a media type (e.g. application/pdf)"}},
		{"unknown event subject", []any{event("E-1", "u-nobody")},
			[]string{"1: user_id: unknown subject (not in this file nor in the store)"}},
		{"one subject two ways", []any{good(nil), ticketLine("T-2", "u-1", nil, nil), func() obj {
			o := ticketLine("T-3", "u-1", nil, nil)
			o["user"].(obj)["pseudo"] = "autre"
			return o
		}()}, []string{"3: user: differs from the same subject's data on line 1 (one file must describe a subject one way)"}},
		{"NUL in id", []any{good(func(o obj) { o["ticket_id"] = "T\x00-1" })},
			[]string{"1: ticket_id: identifier contains a control character"}},
		{"NUL in text", []any{good(func(o obj) { o["description"] = "a\x00b" })},
			[]string{"1: description: contains a NUL character"}},
		{"huge id", []any{good(func(o obj) { o["ticket_id"] = strings.Repeat("x", 10000) })},
			[]string{"1: ticket_id: identifier longer than 200 bytes"}},
		{"empty id", []any{good(func(o obj) { o["ticket_id"] = "" })}, []string{"1: ticket_id: empty identifier"}},
		{"invalid UTF-8", []any{"{\"kind\":\"ticket\",\"subject\":\"\xff\"}"}, []string{"1: not valid UTF-8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := testdb.Open(t, "sqlite")
			bs := newBlobs(t)
			_, err := ingest.File(context.Background(), db, bs, writeFile(t, jsonl(t, c.lines...)), opts())
			var fe *ingest.FaultsError
			if !errors.As(err, &fe) {
				t.Fatalf("want faults, got %v", err)
			}
			var got []string
			for _, f := range fe.Faults {
				got = append(got, f.String())
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("faults:\n got %q\nwant %q", got, c.want)
			}
			var zero store.Inventory
			if inv := inventory(t, db); inv != zero || blobCount(t, bs) != 0 {
				t.Fatalf("something was written: %+v", inv)
			}
		})
	}
}

func TestEventOfStoredSubject(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		if _, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, ticketLine("T-1", "u-1", nil, nil))), opts()); err != nil {
			t.Fatal(err)
		}
		if _, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, event("E-5", "u-1"))), opts()); err != nil {
			t.Fatalf("event of a subject already in the store: %v", err)
		}
		if inv := inventory(t, db); inv.AccountEvents != 1 {
			t.Fatalf("events: %d", inv.AccountEvents)
		}
	})
}

func TestHostileInputStoredSafely(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		inj := "x' OR '1'='1"
		long := strings.Repeat("é", 10000)
		tk := ticketLine(inj, "u'; DROP TABLE subjects; --", []obj{msg(inj + "-m")}, []obj{
			att(inj+"-a", inj+"-m", []byte("a")),
			func() obj { a := att("A-abs", "", []byte("b")); a["filename"] = "/etc/shadow"; return a }(),
			func() obj { a := att("A-dots", "", []byte("c")); a["filename"] = "../../../../tmp/evil"; return a }(),
		})
		tk["subject"] = long
		tk["user"].(obj)["email"] = "o'brien+tag@example.org"
		tk["description"] = `<script>alert(1)</script> \ "quoted"`
		if _, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, tk)), opts()); err != nil {
			t.Fatal(err)
		}
		var got store.Ticket
		if err := db.Get(ctx, &got, "SELECT ticket_id, subject, description FROM tickets WHERE ticket_id = ?", inj); err != nil {
			t.Fatal(err)
		}
		if got.Subject != long || got.Description != tk["description"] {
			t.Fatal("text not stored verbatim")
		}
		var names []string
		if err := db.Select(ctx, &names, "SELECT filename FROM attachments ORDER BY filename"); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(names, []string{"../../../../tmp/evil", "/etc/shadow", "justificatif.pdf"}) {
			t.Fatalf("file names: %q", names)
		}
		// File names are metadata: contents live under random keys inside the blob directory.
		err := bs.Walk(ctx, func(key string) error {
			if len(key) != 32 || strings.ContainsAny(key, "./") {
				t.Errorf("blob key %q is not a fresh random key", key)
			}
			return nil
		})
		if err != nil || blobCount(t, bs) != 3 {
			t.Fatalf("blobs: %v %d", err, blobCount(t, bs))
		}
		if _, err := os.Stat("/tmp/evil"); err == nil {
			t.Fatal("a file name was used as a path")
		}
		if inv := inventory(t, db); inv.Subjects != 1 {
			t.Fatalf("subjects: %d", inv.Subjects)
		}
	})
}

func TestErasedSubjects(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	var asked []string
	o := opts()
	o.Erased = func(userID, email string) (bool, error) {
		asked = append(asked, userID+"|"+email)
		return userID == "u-2", nil
	}
	path := writeFile(t, goodFile(t))
	_, err := ingest.File(ctx, db, newBlobs(t), path, o)
	var fe *ingest.FaultsError
	if !errors.As(err, &fe) || len(fe.Faults) != 1 || fe.Faults[0].Line != 3 ||
		!strings.Contains(fe.Faults[0].Reason, "--allow-erased") {
		t.Fatalf("want one fault on line 3, got %v", err)
	}
	if !reflect.DeepEqual(asked, []string{"u-1|u-1@example.org", "u-2|u-2@example.org"}) {
		t.Fatalf("Erased asked about %q", asked)
	}
	o.AllowErased = true
	res, err := ingest.File(ctx, db, newBlobs(t), path, o)
	if err != nil || res.ErasedReimports != 1 {
		t.Fatalf("allow erased: %+v %v", res, err)
	}
	o.Erased = func(string, string) (bool, error) { return false, errors.New("ledger unreadable") }
	if _, err := ingest.File(ctx, db, newBlobs(t), path, o); err == nil || errors.Is(err, ingest.ErrInvalid) {
		t.Fatalf("a failing ledger lookup must fail the ingest, got %v", err)
	}
}

func TestLineTooLong(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	o := opts()
	o.MaxLineBytes = 1024
	big := ticketLine("T-2", "u-2", nil, []obj{att("A-2", "", make([]byte, 4096))})
	_, err := ingest.File(context.Background(), db, newBlobs(t), writeFile(t, jsonl(t, ticketLine("T-1", "u-1", nil, nil), big, event("E-1", "u-1"))), o)
	var fe *ingest.FaultsError
	if !errors.As(err, &fe) || len(fe.Faults) != 1 || fe.Faults[0].String() != "2: line longer than 1024 bytes" {
		t.Fatalf("got %v", err)
	}
}

func TestReaderAndDryRun(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	bs := newBlobs(t)
	o := opts()
	o.DryRun = true
	res, err := ingest.Reader(context.Background(), db, bs, strings.NewReader(goodFile(t)), o)
	if err != nil || !res.DryRun || res.Tickets != 3 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	var zero store.Inventory
	if inv := inventory(t, db); inv != zero || blobCount(t, bs) != 0 {
		t.Fatalf("dry run wrote: %+v", inv)
	}
	res, err = ingest.Reader(context.Background(), db, bs, strings.NewReader(goodFile(t)), opts())
	if err != nil || res.Tickets != 3 || inventory(t, db).Tickets != 3 {
		t.Fatalf("stdin: %+v %v", res, err)
	}
}
