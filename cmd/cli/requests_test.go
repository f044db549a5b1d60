package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
)

const dsrFixture = `{"kind":"ticket","ticket_id":"T-1","request_number":"REQ-1","user":{"user_id":"u-42","email":"alice@example.org","pseudo":"alice","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},"subject":"Paiement non reçu","description":"Je n'ai pas reçu mon paiement","transaction_ref":"TX-778","status":"closed","created_at":"2025-03-01T10:00:00Z","closed_at":"2025-03-05T16:20:00Z","messages":[{"message_id":"M-1","author":"user","body":"Bonjour","sent_at":"2025-03-01T10:00:00Z"},{"message_id":"M-2","author":"agent","agent_id":"ag-7","body":"Nous regardons","sent_at":"2025-03-01T14:00:00Z"}],"attachments":[{"attachment_id":"A-1","message_id":"M-1","filename":"justificatif.pdf","content_type":"application/pdf","content_base64":"JVBERi0xLjQgcmVjZWlwdA==","uploaded_at":"2025-03-01T10:00:00Z"}]}
{"kind":"ticket","ticket_id":"T-2","request_number":"REQ-2","user":{"user_id":"u-7","email":"bob@example.org","pseudo":"bobby","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},"subject":"Paiement non reçu","description":"Je n'ai pas reçu mon paiement non plus","status":"closed","created_at":"2025-03-01T10:00:00Z","closed_at":"2025-03-05T16:20:00Z","messages":[{"message_id":"M-3","author":"user","body":"Bonjour de bobby","sent_at":"2025-03-01T10:00:00Z"},{"message_id":"M-4","author":"agent","agent_id":"ag-7","body":"Nous regardons","sent_at":"2025-03-01T14:00:00Z"}]}
`

// dsrWorld drives the command line in-process against one store.
type dsrWorld struct {
	t   *testing.T
	dir string
	db  string
	now time.Time
}

func (w *dsrWorld) run(args ...string) (int, string, string) {
	w.t.Helper()
	var out, errb bytes.Buffer
	env := &Env{In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(k string) string {
			switch k {
			case "OUBLI_DB":
				return w.db
			case "OUBLI_BLOBS":
				return filepath.Join(w.dir, "blobs")
			case "OUBLI_LEDGER":
				return filepath.Join(w.dir, "erasures.log")
			case "OUBLI_SECRET":
				return "requests-test-secret"
			}
			return ""
		},
		Now: func() time.Time { return w.now }}
	code := env.Run(args)
	return code, out.String(), errb.String()
}

// must runs args, checks the exit code and, for --output json, that stdout
// is exactly one JSON document, which it decodes.
func (w *dsrWorld) must(want int, args ...string) map[string]any {
	w.t.Helper()
	code, out, errs := w.run(args...)
	if code != want {
		w.t.Fatalf("oubli %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
	}
	if want != 0 || !strings.Contains(strings.Join(args, " "), "--output json") {
		return nil
	}
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil {
		w.t.Fatalf("oubli %s: stdout is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	if dec.More() {
		w.t.Fatalf("oubli %s: more than one JSON document on stdout", strings.Join(args, " "))
	}
	return v
}

func TestRequestsAndExportCLI(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
			in := filepath.Join(w.dir, "in.jsonl")
			os.WriteFile(in, []byte(dsrFixture), 0o600)
			w.must(0, "migrate")
			w.must(0, "ingest", in)

			// open
			r := w.must(0, "requests", "open", "--type", "access", "--user-id", "u-42", "--received-at", "2026-01-05", "--output", "json")
			id := r["request_id"].(string)
			if id != "DSR-2026-000001" || r["due_at"] != "2026-02-05T00:00:00Z" || r["status"] != "open" || r["user_id"] != "u-42" {
				t.Fatalf("opened %v", r)
			}
			w.must(5, "requests", "open", "--type", "access", "--user-id", "u-nobody")
			w.must(5, "requests", "open", "--type", "access", "--email", "nobody@example.org")
			w.must(2, "requests", "open", "--type", "portability", "--user-id", "u-42")
			w.must(2, "requests", "open", "--type", "access")
			w.must(2, "requests", "open", "--type", "access", "--user-id", "u-42", "--email", "alice@example.org")
			w.must(2, "requests", "open", "--type", "access", "--user-id", "u-42", "--received-at", "last tuesday")
			w.must(2, "requests", "open", "--type", "access", "--user-id", "u-42", "--received-at", "2027-01-01")

			// extend: reason required, once
			w.must(2, "requests", "extend", id)
			w.must(5, "requests", "extend", "DSR-2026-999999", "--reason", "x")
			r = w.must(0, "requests", "extend", id, "--reason", "complex request", "--output", "json")
			if r["due_at"] != "2026-04-05T00:00:00Z" || r["extended"] != true || r["extension_reason"] != "complex request" {
				t.Fatalf("extended %v", r)
			}
			w.must(3, "requests", "extend", id, "--reason", "again")

			// overdue at a given time
			late := w.must(0, "requests", "open", "--type", "erasure", "--email", "BOB@example.org", "--received-at", "2025-11-02", "--output", "json")
			l := w.must(0, "requests", "list", "--overdue", "--output", "json")
			if l["count"].(float64) != 1 || l["requests"].([]any)[0].(map[string]any)["request_id"] != late["request_id"] {
				t.Fatalf("overdue now: %v", l)
			}
			l = w.must(0, "requests", "list", "--overdue", "--at", "2026-05-01T00:00:00Z", "--output", "json")
			if l["count"].(float64) != 2 {
				t.Fatalf("overdue in May: %v", l)
			}
			l = w.must(0, "requests", "list", "--user-id", "u-7", "--output", "json")
			if l["count"].(float64) != 1 {
				t.Fatalf("list by subject: %v", l)
			}
			w.must(2, "requests", "list", "--status", "lost")
			_, text, _ := w.run("requests", "list", "--overdue")
			if !strings.Contains(text, late["request_id"].(string)) || !strings.Contains(text, "OVERDUE") {
				t.Errorf("text list:\n%s", text)
			}

			// export answering the request
			out := filepath.Join(w.dir, "alice.zip")
			x := w.must(0, "export", "--user-id", "u-42", "--out", out, "--request", id, "--output", "json")
			if x["request_id"] != id || x["counts"].(map[string]any)["attachments"].(float64) != 1 {
				t.Fatalf("export %v", x)
			}
			zr, err := zip.OpenReader(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				rc, _ := f.Open()
				var b bytes.Buffer
				b.ReadFrom(rc)
				rc.Close()
				for _, s := range []string{"u-7", "bob", "ag-7"} {
					if bytes.Contains(b.Bytes(), []byte(s)) {
						t.Errorf("%s contains %q", f.Name, s)
					}
				}
			}
			zr.Close()
			w.must(2, "export", "--user-id", "u-42", "--out", out) // exists
			w.must(5, "export", "--user-id", "u-nobody", "--out", filepath.Join(w.dir, "nobody.zip"))
			if _, err := os.Stat(filepath.Join(w.dir, "nobody.zip")); err == nil {
				t.Error("archive written for an unknown subject")
			}
			w.must(2, "export", "--user-id", "u-42", "--out", filepath.Join(w.dir, "b.zip"), "--request", late["request_id"].(string))

			s := w.must(0, "requests", "show", id, "--output", "json")
			acts := s["actions"].([]any)
			last := acts[len(acts)-1].(map[string]any)
			if s["status"] != "in_progress" || last["action"] != "export" || last["audit_seq"] == nil {
				t.Fatalf("after export: %v", s)
			}
			w.must(5, "requests", "show", "DSR-2026-999999")

			// close, refuse
			w.must(0, "requests", "close", id)
			w.must(3, "requests", "close", id)
			w.must(2, "requests", "close", late["request_id"].(string), "--refuse")
			// done needs the erasure: refused without it, unless forced with a reason.
			w.must(3, "requests", "close", late["request_id"].(string))
			w.must(2, "requests", "close", late["request_id"].(string), "--force")
			w.must(2, "requests", "close", late["request_id"].(string), "--force", "--refuse", "--reason", "x")
			forced := w.must(0, "requests", "open", "--type", "erasure", "--user-id", "u-7", "--output", "json")
			fc := w.must(0, "requests", "close", forced["request_id"].(string), "--force", "--reason", "erased by hand in the CRM", "--output", "json")
			if fc["status"] != "done" || fc["close_reason"] != "erased by hand in the CRM" {
				t.Fatalf("forced close %v", fc)
			}
			c := w.must(0, "requests", "close", late["request_id"].(string), "--refuse", "--reason", "identity not verified", "--output", "json")
			if c["status"] != "refused" || c["refusal_reason"] != "identity not verified" {
				t.Fatalf("refused %v", c)
			}

			// export without --request: its own request, closed as done
			x = w.must(0, "export", "--email", "alice@example.org", "--out", filepath.Join(w.dir, "again.zip"), "--output", "json")
			if x["request_status"] != "done" || x["request_id"] == id {
				t.Fatalf("auto export %v", x)
			}
			w.must(0, "audit", "verify")
		})
	}
}
