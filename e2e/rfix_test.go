package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
)

// rfixTicket is one ticket line of subject uid with the given attachments
// (content type, bytes).
func rfixTicket(n int, uid, email string, atts [][2]string) string {
	var as []string
	for i, a := range atts {
		as = append(as, fmt.Sprintf(`{"attachment_id":"A-%d-%d","message_id":"M-%d","filename":"doc%d.txt","content_type":%q,"content_base64":%q,"uploaded_at":"2025-01-01T00:00:00Z"}`,
			n, i, n, i, a[0], base64.StdEncoding.EncodeToString([]byte(a[1]))))
	}
	return fmt.Sprintf(`{"kind":"ticket","ticket_id":"T-%d","request_number":"REQ-%d","user":{"user_id":%q,"email":%q,"pseudo":"P%dzz","account_created_at":"2015-01-01T00:00:00Z","account_closed_at":null},`+
		`"subject":"s","description":"d","status":"open","created_at":"2025-01-01T00:00:00Z","closed_at":null,"messages":[{"message_id":"M-%d","author":"user","body":"b","sent_at":"2025-01-01T00:00:00Z"}],`+
		`"attachments":[%s]}`+"\n", n, n, uid, email, n, n, strings.Join(as, ","))
}

func utf16le(s string, bom bool) string {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

// TestRfixAttachmentEncodings: attachments holding another subject's e-mail
// address in UTF-16 (with a charset, with a BOM only), ISO-8859-1, HTML
// character references and JSON escapes are found by that subject's
// erasure through the attachment index (never silently "indexed" clean),
// and each hit is an open finding that `residue list` shows to the DPO.
func TestRfixAttachmentEncodings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		lines := rfixTicket(1, "b-1", "bob@ex.org", nil) +
			rfixTicket(2, "b-2", "bob.müller@ex.org", nil) +
			rfixTicket(3, "a-1", "alice@ex.org", [][2]string{
				{"text/plain; charset=utf-16", utf16le("Contact: bob@ex.org merci", true)},
				{"text/plain", utf16le("Contact: bob@ex.org merci", true)},
				{"text/html", "<p>Contact: bob&#64;ex.org</p>"},
				{"text/plain; charset=iso-8859-1", "Contact: bob.m\xfcller@ex.org merci"},
				{"application/json", `{"e":"bob.m\u00fcller@ex.org"}`},
			})
		w.must("ingest", w.file("t.jsonl", []byte(lines)))
		type erased struct {
			Residue struct {
				Findings    map[string]int64 `json:"findings"`
				Attachments struct {
					Candidates int64 `json:"candidates"`
					NotCovered int64 `json:"not_covered"`
				} `json:"attachments"`
			} `json:"residue"`
		}
		for _, c := range []struct {
			uid  string
			want int64
		}{{"b-1", 3}, {"b-2", 2}} {
			r := w.must("--output", "json", "erase", "--user-id", c.uid)
			var rep erased
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("erase: %v\n%s", err, r.stdout)
			}
			if got := rep.Residue.Findings["blobs"]; got != c.want {
				t.Errorf("erase %s: findings in blobs %d, want %d (%+v)", c.uid, got, c.want, rep.Residue)
			}
			if strings.Contains(r.stdout, "bob") {
				t.Errorf("erase %s: report holds the address", c.uid)
			}
		}
		// The sweep reports what is still open, even when the erasure listed it.
		if r := w.run(nil, "check", "--residue"); r.code != 1 || !strings.Contains(r.stderr, "blobs") {
			t.Errorf("sweep after the erasures: %s", r)
		}
		r := w.must("--output", "json", "residue", "list", "--all")
		var out struct {
			Findings []struct {
				Place    string `json:"place"`
				Status   string `json:"status"`
				Strength string `json:"strength"`
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("residue list: %v\n%s", err, r.stdout)
		}
		n := 0
		for _, f := range out.Findings {
			if f.Place == "blobs" && f.Status == "open" && f.Strength == "strong" {
				n++
			}
		}
		if n != 5 || strings.Contains(r.stdout, "bob") {
			t.Errorf("residue list: %d open blob findings, want 5:\n%s", n, r.stdout)
		}
	})
}
