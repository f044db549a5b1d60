package cli

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
)

// policyDir writes the embedded policies, with the files of
// testdata/policies/<fixture> laid over them, into a temp dir.
func policyDir(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	names, _ := fs.Glob(policies.Embedded(), "*.rego")
	for _, n := range names {
		b, _ := fs.ReadFile(policies.Embedded(), n)
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if fixture != "" {
		src := filepath.Join("..", "..", "testdata", "policies", fixture)
		ents, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(src, e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
	}
	return dir
}

func TestPolicyCommands(t *testing.T) {
	w := &cliWorld{t: t, dir: t.TempDir(), db: "sqlite:" + filepath.Join(t.TempDir(), "o.db")}

	code, out, errs := w.run("policy", "test")
	if code != 0 || !strings.Contains(out, "PASS  oubli.retention_test.test_ticket_at_expiry_deleted") || !strings.Contains(out, " 0 failed") {
		t.Fatalf("policy test: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = w.run("--output", "json", "policy", "test")
	var tr struct{ Passed, Failed int }
	if code != 0 || json.Unmarshal([]byte(out), &tr) != nil || tr.Passed < 50 || tr.Failed != 0 {
		t.Fatalf("policy test json: exit %d %+v", code, tr)
	}

	if code, out, errs := w.run("policy", "check"); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("policy check: exit %d %s %s", code, out, errs)
	}

	code, out, _ = w.run("policy", "schedule", "--format", "md")
	for _, cat := range []string{"subjects", "tickets", "messages", "attachments", "account_events", "subject_stats", "agent_stats", "dsr_requests", "legal_holds", "objections", "audit_log"} {
		if !strings.Contains(out, "| `"+cat+"` |") {
			t.Errorf("schedule md lacks %s", cat)
		}
	}
	if code != 0 {
		t.Fatalf("schedule md: exit %d", code)
	}
	if code, out, _ := w.run("policy", "schedule", "--format", "html"); code != 0 || !strings.HasPrefix(out, "<!DOCTYPE html>") {
		t.Errorf("schedule html: exit %d", code)
	}
	code, out, _ = w.run("--output", "json", "policy", "schedule")
	var s policies.Schedule
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || len(s.Retention) != 11 || s.Revision == "" {
		t.Errorf("schedule json: exit %d", code)
	}
	if code, _, _ := w.run("policy", "schedule", "--format", "pdf"); code != ExitBadInput {
		t.Errorf("schedule --format pdf: exit %d, want 2", code)
	}
}

func TestPolicyBrokenExit2(t *testing.T) {
	w := &cliWorld{t: t, dir: t.TempDir(), db: "sqlite:" + filepath.Join(t.TempDir(), "o.db")}
	for _, f := range []string{"syntax", "strict", "http_send", "wall_clock"} {
		code, _, errs := w.run("--policies", policyDir(t, f), "policy", "check")
		if code != ExitBadInput || !strings.Contains(errs, "policy error") {
			t.Errorf("%s: policy check exit %d, want 2: %s", f, code, errs)
		}
	}
	// Not formatted as opa fmt would.
	dir := policyDir(t, "")
	os.WriteFile(filepath.Join(dir, "extra.rego"), []byte("package oubli.extra\n\nx   :=   1\n"), 0o644)
	if code, _, errs := w.run("--policies", dir, "policy", "check"); code != ExitBadInput || !strings.Contains(errs, "extra.rego") {
		t.Errorf("unformatted: exit %d %s", code, errs)
	}
	// A failing Rego test: exit 1, named.
	dir = policyDir(t, "")
	os.WriteFile(filepath.Join(dir, "fail_test.rego"), []byte("package oubli.fail_test\n\ntest_fails if {\n\t1 == 2\n}\n"), 0o644)
	code, out, _ := w.run("--policies", dir, "policy", "test")
	if code != ExitFailed || !strings.Contains(out, "FAIL  oubli.fail_test.test_fails") {
		t.Errorf("failing rego test: exit %d\n%s", code, out)
	}
	if code, _, _ := w.run("--policies", filepath.Join(dir, "missing"), "policy", "schedule"); code != ExitBadInput {
		t.Errorf("missing dir: exit %d", code)
	}
}

const explainFixture = `{"kind":"ticket","ticket_id":"T-1","request_number":"REQ-1","user":{"user_id":"u-1","email":"a@example.org","pseudo":"a","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},"subject":"s","description":"d","status":"closed","created_at":"2019-03-01T10:00:00Z","closed_at":"2019-03-05T16:20:00Z","messages":[{"message_id":"M-1","author":"user","body":"b","sent_at":"2019-03-01T10:00:00Z"}],"attachments":[{"attachment_id":"A-1","message_id":"M-1","filename":"f.pdf","content_type":"application/pdf","content_base64":"eA==","uploaded_at":"2019-03-01T10:00:00Z"}]}
{"kind":"ticket","ticket_id":"T-2","request_number":"REQ-2","user":{"user_id":"u-1","email":"a@example.org","pseudo":"a","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},"subject":"s","description":"d","status":"open","created_at":"2019-03-01T10:00:00Z","closed_at":null,"messages":[]}
`

func TestPolicyExplain(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend)}
			in := filepath.Join(w.dir, "in.jsonl")
			os.WriteFile(in, []byte(explainFixture), 0o644)
			if code, _, errs := w.run("migrate"); code != 0 {
				t.Fatalf("migrate: %s", errs)
			}
			if code, _, errs := w.run("ingest", in); code != 0 {
				t.Fatalf("ingest: exit %d %s", code, errs)
			}
			type item struct {
				ID       string
				Expires  string
				Decision policies.Decision
			}
			explain := func(args ...string) (int, struct {
				Ticket      item
				Attachments []item
			}) {
				var x struct {
					Ticket      item
					Attachments []item
				}
				code, out, errs := w.run(append([]string{"--output", "json", "policy", "explain"}, args...)...)
				if code == 0 {
					if err := json.Unmarshal([]byte(out), &x); err != nil {
						t.Fatalf("explain json: %v\n%s", err, out)
					}
				} else {
					// The JSON error contract: one error document on stdout.
					var e struct {
						Error    string  `json:"error"`
						ExitCode float64 `json:"exit_code"`
					}
					if err := json.Unmarshal([]byte(out), &e); err != nil || e.Error == "" || int(e.ExitCode) != code {
						t.Errorf("stdout on failure: %q (%s)", out, errs)
					}
				}
				return code, x
			}
			// The day before five years: ticket kept, attachment long expired.
			code, x := explain("--ticket", "T-1", "--at", "2024-03-05T16:19:59Z")
			if code != 0 || x.Ticket.Decision.Rule != "tickets.retained" || x.Ticket.Expires != "2024-03-05T16:20:00Z" ||
				len(x.Attachments) != 1 || x.Attachments[0].Decision.Rule != "attachments.expired" || x.Attachments[0].Expires != "2020-03-05T16:20:00Z" {
				t.Errorf("before expiry: exit %d %+v", code, x)
			}
			code, x = explain("--ticket", "T-1", "--at", "2024-03-05T16:20:00Z")
			if code != 0 || x.Ticket.Decision.Action != policies.Delete {
				t.Errorf("at expiry: exit %d %+v", code, x)
			}
			// Broken policies: exit 2, whatever the fault.
			for f, ticket := range map[string]string{"undefined": "T-1", "conflict": "T-2", "syntax": "T-1"} {
				code, _, errs := w.run("--policies", policyDir(t, f), "policy", "explain", "--ticket", ticket, "--at", "2024-03-05T16:20:00Z")
				if code != ExitBadInput || !strings.Contains(errs, "policy error") {
					t.Errorf("%s: exit %d, want 2 (%s)", f, code, errs)
				}
			}
			// A hold on the subject keeps both.
			if code, _, errs := w.run("hold", "add", "--user-id", "u-1", "--reason", "litige"); code != 0 {
				t.Fatalf("hold add: exit %d %s", code, errs)
			}
			code, x = explain("--ticket", "T-1", "--at", "2030-01-01")
			if code != 0 || x.Ticket.Decision.Rule != "tickets.legal_hold" || !x.Ticket.Decision.Held || x.Attachments[0].Decision.Rule != "attachments.legal_hold" {
				t.Errorf("held: exit %d %+v", code, x)
			}
			code, x = explain("--ticket", "T-2")
			if code != 0 || x.Ticket.Decision.Rule != "tickets.open" || x.Ticket.Expires != "" {
				t.Errorf("open: exit %d %+v", code, x)
			}
			if code, _ := explain("--ticket", "T-404"); code != ExitNotFound {
				t.Errorf("unknown ticket: exit %d, want 5", code)
			}
			if code, _ := explain("--ticket", "T-1", "--at", "yesterday"); code != ExitBadInput {
				t.Errorf("bad --at: exit %d, want 2", code)
			}
			if code, _ := explain(); code != ExitBadInput {
				t.Errorf("no --ticket: exit %d, want 2", code)
			}
			// Text output names rule, reason and expiry.
			_, out, _ := w.run("policy", "explain", "--ticket", "T-1", "--at", "2023-01-01")
			if !strings.Contains(out, "tickets.legal_hold") && !strings.Contains(out, "tickets.retained") || !strings.Contains(out, "expires 2024-03-05T16:20:00Z") {
				t.Errorf("text explain:\n%s", out)
			}
		})
	}
}

// TestPlaceholderWarnings: policy check and export say on stderr that the
// controller's placeholders (example.invalid, "TO BE FILLED") remain.
func TestPlaceholderWarnings(t *testing.T) {
	w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite"), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
	in := filepath.Join(w.dir, "in.jsonl")
	os.WriteFile(in, []byte(dsrFixture), 0o600)
	w.must(0, "migrate")
	w.must(0, "ingest", in)
	for _, args := range [][]string{
		{"policy", "check"},
		{"export", "--user-id", "u-42", "--out", filepath.Join(w.dir, "a.zip")},
	} {
		code, _, errs := w.run(args...)
		if code != 0 || !strings.Contains(errs, "placeholder") || !strings.Contains(errs, "controller.email") {
			t.Errorf("oubli %s: exit %d, stderr %q; want a warning naming the placeholders", strings.Join(args, " "), code, errs)
		}
	}
	r := w.must(0, "policy", "check", "--output", "json")
	if p, _ := r["placeholders"].([]any); len(p) == 0 {
		t.Errorf("policy check JSON: %v, want its placeholders", r)
	}
}
