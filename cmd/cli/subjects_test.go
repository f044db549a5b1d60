package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
)

// TestSubjectsFind: a DPO finds a subject's user id from what the subject
// wrote with (e-mail, pseudo, a ticket id); none is exit 5; the register's
// list shows each request's user id.
func TestSubjectsFind(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
			in := filepath.Join(w.dir, "in.jsonl")
			os.WriteFile(in, []byte(dsrFixture), 0o600)
			w.must(0, "migrate")
			w.must(0, "ingest", in)
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--email", "Alice@Example.org "}, "u-42"},
				{[]string{"--pseudo", "bobby"}, "u-7"},
				{[]string{"--ticket", "T-2"}, "u-7"},
			} {
				r := w.must(0, append([]string{"subjects", "find", "--output", "json"}, tc.args...)...)
				subs, _ := r["subjects"].([]any)
				if r["count"] != float64(1) || len(subs) != 1 || subs[0].(map[string]any)["user_id"] != tc.want {
					t.Errorf("subjects find %v = %v, want %s", tc.args, r, tc.want)
				}
				_, text, _ := w.run(append([]string{"subjects", "find"}, tc.args...)...)
				if !strings.Contains(text, tc.want) {
					t.Errorf("subjects find %v, text:\n%s", tc.args, text)
				}
			}
			w.must(5, "subjects", "find", "--email", "nobody@example.org")
			w.must(5, "subjects", "find", "--pseudo", "nobody")
			w.must(5, "subjects", "find", "--ticket", "T-nope")
			w.must(2, "subjects", "find")
			w.must(2, "subjects", "find", "--email", "a@example.org", "--pseudo", "alice")

			w.must(0, "requests", "open", "--type", "access", "--user-id", "u-42")
			_, text, _ := w.run("requests", "list")
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if len(lines) != 2 || !strings.Contains(lines[0], "USER") || !strings.Contains(lines[1], "u-42") {
				t.Errorf("requests list has no user id column:\n%s", text)
			}
		})
	}
}

// TestDSRPrintsTypedSubject: the DSR commands name the subject on stdout as
// the operator typed it (the audit keeps the keyed hash).
func TestDSRPrintsTypedSubject(t *testing.T) {
	w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite"), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
	in := filepath.Join(w.dir, "in.jsonl")
	os.WriteFile(in, []byte(dsrFixture), 0o600)
	w.must(0, "migrate")
	w.must(0, "ingest", in)
	for _, tc := range []struct {
		args  []string
		typed string
	}{
		{[]string{"rectify", "--user-id", "u-42", "--set", "pseudo=alice2"}, "u-42"},
		{[]string{"object", "--email", "bob@example.org", "--purpose", "statistics"}, "bob@example.org"},
		{[]string{"erase", "--user-id", "u-42", "--dry-run"}, "u-42"},
		{[]string{"erase", "--email", "bob@example.org"}, "bob@example.org"},
	} {
		code, out, errs := w.run(tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", tc.args, code, out, errs)
		}
		if !strings.Contains(out, tc.typed) || strings.Contains(out, "h:") {
			t.Errorf("%v printed:\n%s\nwant %q, not a keyed hash", tc.args, out, tc.typed)
		}
	}
}

// TestPlanExplainPlainIDs: retention plan --explain names every category's
// examples by their plain ids (stdout is the operator's), subjects included.
func TestPlanExplainPlainIDs(t *testing.T) {
	w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite"), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
	w.must(0, "seed", "--demo")
	r := w.must(0, "retention", "plan", "--explain", "3", "--output", "json")
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), `"h:`) {
		t.Errorf("plan --explain shows keyed hashes:\n%s", b)
	}
	if !strings.Contains(string(b), `"d-u`) {
		t.Errorf("plan --explain shows no subject id:\n%s", b)
	}
}

// TestErasedSubjectSaysWhen: exporting or erasing again a subject the ledger
// records as erased says "erased on DATE" (exit 5), with no fraction of a
// second.
func TestErasedSubjectSaysWhen(t *testing.T) {
	w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite"), now: time.Date(2026, 1, 20, 12, 0, 0, 123456789, time.UTC)}
	in := filepath.Join(w.dir, "in.jsonl")
	os.WriteFile(in, []byte(dsrFixture), 0o600)
	w.must(0, "migrate")
	w.must(0, "ingest", in)
	w.must(0, "erase", "--user-id", "u-7")
	for _, args := range [][]string{
		{"export", "--user-id", "u-7", "--out", filepath.Join(w.dir, "x.zip")},
		{"export", "--email", "bob@example.org", "--out", filepath.Join(w.dir, "x.zip")},
		{"erase", "--user-id", "u-7"},
	} {
		code, _, errs := w.run(args...)
		if code != ExitNotFound || !strings.Contains(errs, "erased on 2026-01-20") || strings.Contains(errs, "123456789") {
			t.Errorf("%v: exit %d, %q; want 5 and erased on 2026-01-20 (no fraction)", args, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "x.zip")); err == nil {
		t.Error("archive written for an erased subject")
	}
}
