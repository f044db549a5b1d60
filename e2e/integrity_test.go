package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// iTicket is one ticket line of the integrity tests.
func iTicket(id, uid string, msgs []string, atts []string) string {
	var ms, as []map[string]any
	for _, m := range msgs {
		ms = append(ms, map[string]any{"message_id": m, "author": "user", "body": "texte de " + uid, "sent_at": "2024-03-01T10:00:00Z"})
	}
	for _, a := range atts {
		as = append(as, map[string]any{"attachment_id": a, "filename": "scan.pdf", "content_type": "application/pdf",
			"content_base64": "JVBERi0x", "uploaded_at": "2024-03-01T10:00:00Z"})
	}
	b, _ := json.Marshal(map[string]any{
		"kind": "ticket", "ticket_id": id, "request_number": "R-" + id,
		"user":    map[string]any{"user_id": uid, "email": uid + "@example.org", "pseudo": "p" + uid},
		"subject": "Paiement", "description": "desc", "status": "closed",
		"created_at": "2024-03-01T10:00:00Z", "closed_at": "2024-03-02T10:00:00Z",
		"messages": ms, "attachments": as,
	})
	return string(b) + "\n"
}

func iEvent(id, uid string) string {
	return fmt.Sprintf(`{"kind":"account_event","event_id":%q,"user_id":%q,"type":"login","at":"2024-03-01T10:00:00Z","detail":""}`+"\n", id, uid)
}

// TestIngestNeverMovesRecords (issue 17 item 1): on the real binary, a file
// moving Alice's message, attachment and event to Bob, or her ticket to Bob,
// is refused whole with exit 2, LINE: reason, echoing no value, in text and
// JSON; Alice's data stay hers.
func TestIngestNeverMovesRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.must("ingest", w.file("alice.jsonl", []byte(iTicket("T-1", "u-a", []string{"M-1", "M-1b"}, []string{"AT-1"})+iEvent("E-1", "u-a"))))
		before := w.dump()
		files := map[string]string{
			"bob.jsonl":   iTicket("T-2", "u-b", []string{"M-1"}, []string{"AT-1"}) + iEvent("E-1", "u-b"),
			"owner.jsonl": iTicket("T-1", "u-b", []string{"M-1", "M-1b"}, nil),
		}
		for name, content := range files {
			p := w.file(name, []byte(content))
			for _, args := range [][]string{{"ingest", p}, {"--output", "json", "ingest", p}} {
				r := w.run(nil, args...)
				if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "1: ") || !strings.Contains(r.stdout+r.stderr, "belongs to another") {
					t.Fatalf("%s: want exit 2 with LINE: reason: %s", name, r)
				}
				for _, v := range []string{"M-1", "AT-1", "E-1", "u-a", "u-b", "T-1", "example.org"} {
					if strings.Contains(r.stdout+r.stderr, v) {
						t.Errorf("%s: output echoes %q: %s", name, v, r)
					}
				}
			}
		}
		if after := w.dump(); after != before {
			t.Fatalf("a refused file changed the store:\n%s", diff(before, after))
		}
	})
}

// TestMissingStoreNotCreated (issue 16 item 6): a typo in --db is bad input
// for every command but migrate, seed and ingest, and creates nothing; a
// store oubli creates is private (issue 17 item 6).
func TestMissingStoreNotCreated(t *testing.T) {
	w := newWorld(t, "sqlite")
	typo := filepath.Join(w.dir, "oubil.db")
	for _, args := range [][]string{
		{"requests", "list"},
		{"retention", "run", "--at", "2026-01-01"},
		{"audit", "log"},
		{"check"},
	} {
		r := w.run(nil, append([]string{"--db", "sqlite:" + typo}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "no store at "+typo+" (run `oubli migrate` to create one)") {
			t.Errorf("%v: want exit 2, no store: %s", args, r)
		}
		if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s", args, typo)
		}
	}
	created := filepath.Join(w.dir, "new", "oubli.db")
	w.must("--db", "sqlite:"+created, "migrate")
	for p, want := range map[string]os.FileMode{created: 0o600, filepath.Dir(created): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", p, fi.Mode(), err, want)
		}
	}
	w.must("--db", "sqlite:"+created, "requests", "list")
}
