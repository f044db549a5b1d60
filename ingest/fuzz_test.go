package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzTicket is a valid ticket line, the seed the fuzzers mutate.
const fuzzTicket = `{"kind":"ticket","ticket_id":"T-1","request_number":"REQ-1",` +
	`"user":{"user_id":"u-1","email":"alice@example.org","pseudo":"alice","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},` +
	`"subject":"Paiement","description":"desc","transaction_ref":"TX-1","status":"closed",` +
	`"created_at":"2019-03-01T10:00:00Z","closed_at":"2019-03-05T16:20:00Z",` +
	`"messages":[{"message_id":"M-1","author":"user","body":"hello","sent_at":"2019-03-01T10:00:00Z"},` +
	`{"message_id":"M-2","author":"agent","agent_id":"ag-7","body":"hi","sent_at":"2019-03-01T14:00:00Z"}],` +
	`"attachments":[{"attachment_id":"A-1","message_id":"M-1","filename":"../../etc/passwd","content_type":"application/pdf","content_base64":"aGVsbG8=","uploaded_at":"2019-03-01T10:00:00Z"}]}`

const fuzzEvent = `{"kind":"account_event","event_id":"E-1","user_id":"u-1","type":"password_reset","at":"2020-01-01T08:00:00Z","detail":"x"}`

// validID is the identifier rule a record that passed validation must obey.
func validID(s string) bool {
	return s != "" && len(s) <= MaxIDBytes && utf8.ValidString(s) &&
		strings.IndexFunc(s, unicode.IsControl) < 0 && strings.TrimSpace(s) == s
}

// secretValues returns the personal values of a line (e-mail, pseudo,
// free texts) long enough to be recognised, for the no-echo property.
func secretValues(line []byte) []string {
	var v struct {
		User *struct {
			Email  any `json:"email"`
			Pseudo any `json:"pseudo"`
		} `json:"user"`
		Subject     any `json:"subject"`
		Description any `json:"description"`
		Detail      any `json:"detail"`
		Messages    []struct {
			Body any `json:"body"`
		} `json:"messages"`
	}
	if json.Unmarshal(line, &v) != nil {
		return nil
	}
	var out []string
	add := func(x any) {
		if s, ok := x.(string); ok && len(s) >= 8 {
			out = append(out, s)
		}
	}
	if v.User != nil {
		add(v.User.Email)
		add(v.User.Pseudo)
	}
	add(v.Subject)
	add(v.Description)
	add(v.Detail)
	for _, m := range v.Messages {
		add(m.Body)
	}
	return out
}

// distinctive reports whether s holds a character that the fixed wording of
// a fault never uses, so that finding s in a fault means it was echoed.
func distinctive(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" ._:()'-,=+/", r))
	}) >= 0
}

// FuzzParseLine checks the line validator: it never panics, a line it
// accepts obeys every rule the load relies on, and a fault never echoes a
// personal value (e-mail, pseudo, ticket text).
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		fuzzTicket, fuzzEvent, `{}`, `{"kind":"ticket"}`, `{"kind":"x"}`, `[]`, `null`, `{"kind":1}`,
		strings.Replace(fuzzTicket, `"2019-03-01T10:00:00Z"`, `"2019-03-01T10:00:00"`, 1),
		strings.Replace(fuzzTicket, `alice@example.org`, `alice@@example`, 1),
		strings.Replace(fuzzTicket, `aGVsbG8=`, `a$$$`, 1),
		strings.Replace(fuzzTicket, `"T-1"`, `"x' OR '1'='1"`, 1),
		fuzzEvent + ` {}`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, faults := parseLine(line)
		for _, fault := range faults {
			if fault == "" {
				t.Fatal("empty fault")
			}
			if strings.Contains(fault, "duplicate") || strings.Contains(fault, "is not a message of this ticket") {
				continue // these name identifiers (not personal values) by design
			}
			for _, s := range secretValues(line) {
				if distinctive(s) && strings.Contains(fault, s) {
					t.Fatalf("fault %q echoes a personal value %q", fault, s)
				}
			}
		}
		if len(faults) > 0 {
			return
		}
		switch {
		case rec.Ticket != nil && rec.Event != nil, rec.Ticket == nil && rec.Event == nil:
			t.Fatalf("accepted line gives ticket=%v event=%v", rec.Ticket != nil, rec.Event != nil)
		case rec.Ticket != nil:
			tk := rec.Ticket
			for _, id := range []string{tk.ID, tk.RequestNumber, tk.User.ID} {
				if !validID(id) {
					t.Fatalf("accepted ticket with invalid id %q", id)
				}
			}
			if err := ValidEmail(tk.User.Email); err != nil {
				t.Fatalf("accepted e-mail %q: %v", tk.User.Email, err)
			}
			if tk.Status != "open" && tk.Status != "closed" {
				t.Fatalf("status %q", tk.Status)
			}
			if (tk.Status == "closed") != (tk.ClosedAt != nil) {
				t.Fatalf("status %s with closed_at %v", tk.Status, tk.ClosedAt)
			}
			if tk.CreatedAt.IsZero() || tk.CreatedAt.Location().String() != "UTC" {
				t.Fatalf("created_at %v", tk.CreatedAt)
			}
			if tk.ClosedAt != nil && tk.ClosedAt.Before(tk.CreatedAt) {
				t.Fatal("closed before created")
			}
			for _, s := range []string{tk.Subject, tk.Description, tk.User.Pseudo} {
				if strings.ContainsRune(s, 0) {
					t.Fatal("accepted a NUL character")
				}
			}
			msgs := map[string]bool{}
			for _, m := range tk.Messages {
				if !validID(m.ID) || msgs[m.ID] {
					t.Fatalf("message id %q", m.ID)
				}
				msgs[m.ID] = true
				if m.Author == "agent" && !validID(m.AgentID) || m.Author == "user" && m.AgentID != "" {
					t.Fatalf("author %s agent %q", m.Author, m.AgentID)
				}
			}
			atts := map[string]bool{}
			for _, a := range tk.Attachments {
				if !validID(a.ID) || atts[a.ID] {
					t.Fatalf("attachment id %q", a.ID)
				}
				atts[a.ID] = true
				if a.MessageID != "" && !msgs[a.MessageID] {
					t.Fatalf("attachment of unknown message %q", a.MessageID)
				}
				if a.Filename == "" || strings.ContainsRune(a.Filename, 0) || len(a.Filename) > MaxShortBytes {
					t.Fatalf("file name %q", a.Filename)
				}
				if len(a.SHA256) != 64 || a.Size < 0 {
					t.Fatalf("sha %q size %d", a.SHA256, a.Size)
				}
			}
		case rec.Event != nil:
			e := rec.Event
			if !validID(e.ID) || !validID(e.UserID) || !validID(e.Type) || e.At.IsZero() {
				t.Fatalf("accepted event %+v", e)
			}
		}
	})
}

// FuzzValidate runs the whole first pass (line splitting, size limit,
// duplicates across lines, subjects named by events) on a file, against a
// real SQLite store: it never panics and either accepts the file or returns
// a FaultsError whose faults name lines of the file.
func FuzzValidate(f *testing.F) {
	// The store's answer, without a store: under the fuzzer's coverage
	// instrumentation one SQLite query took about a second. Ids of even
	// length are "known", so both answers are exercised.
	known := func(_ context.Context, ids []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = len(id)%2 == 0
		}
		return m, nil
	}
	dir := f.TempDir()
	f.Add([]byte(fuzzTicket+"\n"+fuzzEvent+"\n"), 4096)
	f.Add([]byte(fuzzTicket+"\r\n"+fuzzTicket+"\n"), 4096)
	f.Add([]byte("\xef\xbb\xbf"+fuzzEvent), 4096)
	f.Add([]byte("\n\n  \n"), 16)
	f.Add([]byte(fuzzTicket), 64)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 1 || max > 1<<20 {
			max = 4096
		}
		p := filepath.Join(dir, "in.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := validate(context.Background(), known, p, Options{MaxLineBytes: max})
		lines := bytes.Count(data, []byte("\n")) + 1
		var fe *FaultsError
		switch {
		case err == nil:
			if res.Lines == 0 {
				t.Fatal("accepted a file without records")
			}
		case errors.As(err, &fe):
			if !errors.Is(err, ErrInvalid) || len(fe.Faults) == 0 {
				t.Fatalf("faults error without faults: %v", err)
			}
			for _, ft := range fe.Faults {
				if ft.Line < 1 || ft.Line > lines {
					t.Fatalf("fault on line %d of a %d-line file: %s", ft.Line, lines, ft.Reason)
				}
			}
		default:
			t.Fatalf("validate: unexpected error %v", err)
		}
	})
}
