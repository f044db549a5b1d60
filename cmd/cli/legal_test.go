package cli

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// TestRetentionPlanColumns: the plan's last row sums each column under its
// own name (the delete column holds deletions only), and the records
// changed (delete + anonymise) are named as such.
func TestRetentionPlanColumns(t *testing.T) {
	w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite")}
	w.seedSynthetic(200)
	code, out, errs := w.run("--output", "json", "retention", "plan")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, errs)
	}
	var plan struct {
		Delete, Anonymize, KeptByHold map[string]int64
		Total                         int64
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	var raw map[string]map[string]int64
	_ = json.Unmarshal([]byte(out), &raw)
	plan.Delete, plan.Anonymize, plan.KeptByHold = raw["delete"], raw["anonymize"], raw["kept_by_hold"]
	if sum(plan.Anonymize) == 0 {
		t.Fatal("the synthetic data plans no anonymisation: the test cannot tell the columns apart")
	}
	code, out, errs = w.run("retention", "plan")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, errs)
	}
	var totalRow []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "total" {
			totalRow = f
		}
	}
	want := []string{"total", strconv.FormatInt(sum(plan.Delete), 10), strconv.FormatInt(sum(plan.Anonymize), 10), strconv.FormatInt(sum(plan.KeptByHold), 10)}
	if strings.Join(totalRow, " ") != strings.Join(want, " ") {
		t.Errorf("total row %q, want %q (each column's own sum)\n%s", totalRow, want, out)
	}
	if !regexp.MustCompile(`(?m)^records changed \(delete \+ anonymise\):\s+` + strconv.FormatInt(sum(plan.Delete)+sum(plan.Anonymize), 10) + `$`).MatchString(out) {
		t.Errorf("no line naming delete + anonymise = %d:\n%s", sum(plan.Delete)+sum(plan.Anonymize), out)
	}
}

// TestHoldIDsAndReleaseDate: every hold id, the demo's included, has one
// format (H- and 16 hex digits); an id of the old form is still accepted on
// input; hold list --all shows when a released hold was released.
func TestHoldIDsAndReleaseDate(t *testing.T) {
	w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite")}
	if code, _, errs := w.run("seed", "--demo"); code != 0 {
		t.Fatalf("seed --demo: exit %d: %s", code, errs)
	}
	idRE := regexp.MustCompile(`^H-[0-9a-f]{16}$`)
	code, out, errs := w.run("--output", "json", "hold", "list", "--all")
	if code != 0 {
		t.Fatalf("hold list: exit %d: %s", code, errs)
	}
	var l struct {
		Holds []map[string]any `json:"holds"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Holds) < 2 {
		t.Fatalf("hold list: %v, %d holds", err, len(l.Holds))
	}
	for _, h := range l.Holds {
		if id, _ := h["hold_id"].(string); !idRE.MatchString(id) {
			t.Errorf("demo hold id %q is not H- and 16 hex digits", id)
		}
	}
	first := l.Holds[0]["hold_id"].(string)
	if code, _, errs := w.run("hold", "release", first); code != 0 {
		t.Fatalf("hold release %s: exit %d: %s", first, code, errs)
	}
	// An id of the old form (H-1, from stores seeded before) is accepted.
	db, err := store.Open(context.Background(), w.db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(context.Background(), `INSERT INTO legal_holds (hold_id, user_id, reason, created_at) VALUES ('H-7', 'd-u1', 'old', 0)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = w.run("hold", "release", "H-7")
	if code != 0 {
		t.Errorf("hold release H-7 (old form): exit %d: %s", code, errs)
	}
	code, out, errs = w.run("hold", "list", "--all")
	if code != 0 {
		t.Fatalf("hold list --all: exit %d: %s", code, errs)
	}
	if !regexp.MustCompile(`(?m)^` + first + `\s.*released \d{4}-\d\d-\d\dT`).MatchString(out) {
		t.Errorf("hold list --all does not show %s's release date:\n%s", first, out)
	}
	code, out, _ = w.run("--output", "json", "hold", "list", "--all")
	if code != 0 || !strings.Contains(out, `"released_at"`) {
		t.Errorf("hold list --all --output json: exit %d, no released_at:\n%s", code, out)
	}
}

// TestPolicyCheckWording: policy check fails (exit 2) on a rule wording cut
// short or not given in English and French, naming the rule.
func TestPolicyCheckWording(t *testing.T) {
	w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite")}
	code, out, errs := w.run("policy", "check")
	if code != 0 || !strings.Contains(out, "every text in English and French") {
		t.Fatalf("policy check of the shipped policies: exit %d: %s%s", code, out, errs)
	}
	dir := t.TempDir()
	names, _ := fs.Glob(policies.Embedded(), "*.rego")
	for _, n := range names {
		b, _ := fs.ReadFile(policies.Embedded(), n)
		if n == "erasure.rego" {
			b = []byte(strings.Replace(string(b), "#     en: Your other data is deleted.", "#     en: Your other data…", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs = w.run("--policies", dir, "policy", "check")
	if code != 2 || !strings.Contains(errs, "rule erasure.delete: wording (en) ends with an ellipsis") || strings.Contains(out, "ok:") {
		t.Errorf("policy check of a wording cut short: exit %d, stdout %q, stderr %q; want 2 naming erasure.delete", code, out, errs)
	}
}
