package review_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/review"
)

// TestPolicyDiffBrowser renders `policy diff --format html` of a real diff
// (the tickets' period cut from 5 to 2 years on the demo store), with a
// hostile example id added, in headless Chromium (make test-browser; gated
// by OUBLI_BROWSER=1): no console message (the page has no script, so any
// message is an error or a CSP violation), the total and one table row per
// change, and no markup from the data. A screenshot and a PDF go to
// $OUBLI_ARTIFACTS or review/testdata/browser-out/.
func TestPolicyDiffBrowser(t *testing.T) {
	if os.Getenv("OUBLI_BROWSER") != "1" {
		t.Skip("set OUBLI_BROWSER=1 (make test-browser) to run the headless Chromium check")
	}
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("OUBLI_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
	}
	artifacts := os.Getenv("OUBLI_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join("testdata", "browser-out")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, "sqlite")
	seeded(t, db)
	to := edited(t, `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 2, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
	rep, err := review.Diff(context.Background(), db, active(t), to, review.Options{At: at, Horizon: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) == 0 {
		t.Fatal("no change to render")
	}
	rep.Changes[0].Examples = append(rep.Changes[0].Examples, `T-<img src=x onerror="document.title='pwned'">`)
	page := filepath.Join(t.TempDir(), "review.html")
	fh, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(fh); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	chrome := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
		cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
	dom, logs := chrome("--dump-dom")
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Refused to") || strings.Contains(line, "Uncaught") {
			t.Errorf("console message: %s", line)
		}
	}
	if !strings.Contains(dom, `id="total"`) || !strings.Contains(dom, `id="horizon"`) {
		t.Error("the rendered page lacks the total or the horizon section")
	}
	rows := strings.Count(dom, "<tr>") - 1 // the header row of the first table
	if rep.Horizon != nil && len(rep.Horizon.Changes) > 0 {
		rows--
	}
	want := len(rep.Changes)
	if rep.Horizon != nil {
		want += len(rep.Horizon.Changes)
	}
	if rows != want {
		t.Errorf("rendered page shows %d change rows, want %d", rows, want)
	}
	if strings.Contains(dom, "<img") || strings.Contains(dom, "pwned</title>") {
		t.Error("an example id became markup")
	}
	shot := filepath.Join(artifacts, "policy-diff.png")
	chrome("--window-size=1100,1400", "--screenshot="+shot)
	pdf := filepath.Join(artifacts, "policy-diff.pdf")
	chrome("--no-pdf-header-footer", "--print-to-pdf="+pdf)
	for _, p := range []string{shot, pdf} {
		if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
			t.Errorf("artifact %s missing or empty: %v", p, err)
		}
	}
}
