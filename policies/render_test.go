package policies

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, after replacing the policy
// revision (which changes with every policy edit) by a placeholder.
func golden(t *testing.T, name string, got []byte, revision string) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(revision), []byte("REVISION"))
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./policies -run Schedule -update and review the diff", name)
	}
}

func TestScheduleGolden(t *testing.T) {
	e := mustLoad(t)
	s, err := e.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"md", "json"} {
		var b bytes.Buffer
		if err := RenderSchedule(&b, s, f); err != nil {
			t.Fatal(err)
		}
		golden(t, "schedule."+f, b.Bytes(), e.Revision())
	}
}

func TestScheduleMarkdownListsEveryCategory(t *testing.T) {
	e := mustLoad(t)
	s, _ := e.Schedule(context.Background())
	var b bytes.Buffer
	if err := RenderSchedule(&b, s, "md"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| `tickets` | Contact requests (tickets) and message history — (fr) Demandes (tickets) et historique des échanges | 5 years | closure of the ticket | ticket still open, legal hold, open transaction dispute | delete |",
		"| `attachments` |", "| 1 year |", "| `subject_stats` |", "| 13 months |", "| `agent_stats` |", "anonymise; then delete after 5 years",
		"| `messages` |", "| `objections` |", "| `dsr_requests` |", "| `legal_holds` |", "| `audit_log` |", "| 6 years |",
		"| `account_events` |", "| `subjects` |", "Art. 6(1)(b)", "Art. 6(1)(f)", "Adevinta France",
		"`tickets.expired`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown schedule lacks %q", want)
		}
	}
	if len(s.Retention) != 11 {
		t.Errorf("%d categories in the schedule, want 11", len(s.Retention))
	}
}

func TestScheduleHTMLEscapes(t *testing.T) {
	e := mustLoad(t)
	s, _ := e.Schedule(context.Background())
	s.Purposes[0].Description.EN = `<script>alert(1)</script> & "x"`
	s.Retention[0].Justification = `<img src=x onerror=alert(1)>`
	var b bytes.Buffer
	if err := RenderSchedule(&b, s, "html"); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	if strings.Contains(h, "<script>") || strings.Contains(h, "<img") {
		t.Error("HTML schedule does not escape policy text")
	}
	if !strings.Contains(h, "&lt;script&gt;") || !strings.Contains(h, "<table>") || strings.Contains(h, "http://") && !strings.Contains(h, "example.invalid") {
		t.Error("HTML schedule incomplete")
	}
	if strings.Contains(h, "<link") || strings.Contains(h, "<script src") {
		t.Error("HTML schedule is not self-contained")
	}
	if err := RenderSchedule(&b, s, "pdf"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestUnformatted(t *testing.T) {
	e := mustLoad(t)
	u, err := e.Unformatted()
	if err != nil || len(u) != 0 {
		t.Errorf("embedded policies not formatted as opa fmt would: %v %v", u, err)
	}
	m := overlayMap(t)
	m["purposes.rego"].Data = bytes.Replace(m["purposes.rego"].Data, []byte("purposes := ["), []byte("purposes   :=   ["), 1)
	e2, err := Load(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := e2.Unformatted(); len(u) != 1 || u[0] != "purposes.rego" {
		t.Errorf("Unformatted = %v, want [purposes.rego]", u)
	}
}
