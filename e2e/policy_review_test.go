package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func init() { badInputs = append(badInputs, policyReviewBadInputs...) }

var policyReviewBadInputs = []badInput{
	{input: "`policy diff` without `--against`", args: []string{"policy", "diff"}, code: 2, msg: "--against DIR"},
	{input: "`policy diff --against` not a directory", args: []string{"policy", "diff", "--against", "{file}"}, file: "x", code: 2, msg: "not a policy directory"},
	{input: "`policy diff --against` a broken policy directory", args: []string{"policy", "diff", "--against", "{dir}/broken"}, code: 2, msg: "policy",
		prep: func(t *testing.T, w *world, args []string) ([]string, string) {
			dir := filepath.Join(w.dir, "broken")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			w.file("broken/retention.rego", []byte("package oubli.retention\n\nthis is not rego {\n"))
			return args, ""
		}},
	{input: "`policy diff --against approved:` not a number", args: []string{"policy", "diff", "--against", "approved:x"}, code: 2, msg: "want approved or approved:ID"},
	{input: "`policy diff --against approved` with no approval", args: []string{"policy", "diff", "--against", "approved"}, code: 5, msg: "no such approval"},
	{input: "`policy diff --horizon` not a duration", args: []string{"policy", "diff", "--against", "approved", "--horizon", "soon"}, code: 2, msg: `--horizon "soon"`},
	{input: "`policy diff --format` unknown", args: []string{"policy", "diff", "--against", "approved", "--format", "pdf"}, code: 2, msg: `--format "pdf"`},
	{input: "`policy approve` without `--by`", args: []string{"policy", "approve"}, code: 2, msg: "approver's name (--by)"},
}

// repoPolicies copies the repository's policy files into dir, with
// retention.rego edited (old → new).
func repoPolicies(t *testing.T, dir string, edits ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(filepath.Dir(file)), "policies")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".rego") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if e.Name() == "retention.rego" {
			for i := 0; i+1 < len(edits); i += 2 {
				if !strings.Contains(s, edits[i]) {
					t.Fatalf("retention.rego has no %q", edits[i])
				}
				s = strings.Replace(s, edits[i], edits[i+1], 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPolicyReview: diff a shortened period on the live store, approve,
// then the enforcement: an unapproved revision refused by retention run and
// erase (exit 3, nothing deleted, audited), allowed with --allow-unapproved
// (audited), and run once approved.
func TestPolicyReview(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.ingestFixture(genFixture(21, 40))
		short := repoPolicies(t, filepath.Join(w.dir, "short"), `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 1, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)

		// Never approved: runs, with a warning.
		r := w.must("retention", "plan")
		r = w.must("erase", "--user-id", "u-001", "--dry-run")
		if !strings.Contains(r.stderr, "never approved") {
			t.Fatalf("no warning for policies never approved: %s", r)
		}
		var d struct {
			Total   int64 `json:"total"`
			Changes []struct {
				Category string `json:"category"`
				Count    int64  `json:"count"`
			} `json:"changes"`
			FromRevision string `json:"from_revision"`
			ToRevision   string `json:"to_revision"`
		}
		r = w.must("--output", "json", "policy", "diff", "--against", short, "--at", "2026-12-01")
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Total == 0 || d.FromRevision == d.ToRevision {
			t.Fatalf("diff: %v %s", err, r)
		}
		html := w.must("policy", "diff", "--against", short, "--at", "2026-12-01", "--format", "html").stdout
		if !strings.Contains(html, "Content-Security-Policy") || strings.Contains(html, "<script") {
			t.Fatalf("html page:\n%s", html)
		}

		w.must("policy", "approve", "--by", "Legal team", "--note", "initial review")
		r = w.must("policy", "schedule", "--format", "md")
		if !strings.Contains(r.stdout, "approved by Legal team") {
			t.Errorf("the schedule does not show its approval:\n%.600s", r.stdout)
		}

		// The proposed policies, not approved: refused, nothing deleted.
		ws := w.with("OUBLI_POLICIES=" + short)
		before := w.dump()
		for _, args := range [][]string{{"retention", "run", "--allow-large"}, {"erase", "--user-id", "u-002"}} {
			if r := ws.run(nil, args...); r.code != 3 || !strings.Contains(r.stderr, "not approved") {
				t.Fatalf("%v with an unapproved revision: want exit 3, got %s", args, r)
			}
		}
		if after := w.dump(); after != before {
			t.Fatalf("a refused run changed the store:\n%s", diff(before, after))
		}
		if r := ws.run(nil, "policy", "schedule"); !strings.Contains(r.stdout, "NOT APPROVED") {
			t.Errorf("the schedule does not say its revision is not approved:\n%.600s", r.stdout)
		}
		// Legal compares with what runs today, then approves.
		r = ws.must("--output", "json", "policy", "diff", "--against", "approved", "--at", "2026-12-01")
		var back struct {
			Total int64 `json:"total"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &back); err != nil || back.Total != d.Total {
			t.Fatalf("diff against approved: %d records, against the directory %d (%v)", back.Total, d.Total, err)
		}
		ws.must("--actor", "sre-on-call", "retention", "run", "--allow-large", "--allow-unapproved")
		ws.must("policy", "approve", "--by", "Legal team")
		ws.must("retention", "run", "--allow-large")
		r = w.must("policy", "history")
		if strings.Count(r.stdout, "Legal team") != 2 {
			t.Fatalf("history:\n%s", r.stdout)
		}
		r = w.must("--output", "json", "audit", "log")
		for _, want := range []string{`"policy.unapproved"`, `"policy.allow_unapproved"`, `"sre-on-call"`, `"policy.approve"`} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the audit trail lacks %s", want)
			}
		}
	})
}
