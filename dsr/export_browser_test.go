package dsr

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestExportBrowser renders an export's index.html in headless Chromium
// (make test-browser; gated by OUBLI_BROWSER=1): the page must load from
// disk with no console message (it has no scripts, so any message is an
// error or a Content-Security-Policy violation), show every section, and
// link attachments that exist in the unpacked archive. A screenshot and a
// PDF print go to $OUBLI_ARTIFACTS or dsr/testdata/browser-out/.
func TestExportBrowser(t *testing.T) {
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
	f := newFixture(t, db)
	x := newExporter(t, db, f)
	archive := filepath.Join(t.TempDir(), "export.zip")
	if _, err := x.Export(context.Background(), ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: archive}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range unzip(t, archive) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	page := "file://" + filepath.Join(dir, "index.html")

	chrome := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
		cmd := exec.CommandContext(ctx, bin, append(append(base, args...), page)...)
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
	for _, id := range []string{"summary", "account", "tickets", "events", "statistics", "objections", "requests", "holds",
		"information", "information-controller", "information-purposes", "information-categories", "information-recipients",
		"information-retention", "information-rights", "information-source"} {
		if !strings.Contains(dom, `id="`+id+`"`) {
			t.Errorf("rendered page lacks section #%s", id)
		}
	}
	if n := strings.Count(dom, `<article class="ticket"`); n != 2 {
		t.Errorf("rendered page shows %d tickets, want 2", n)
	}
	if n := strings.Count(dom, `class="msg `); n != 5 {
		t.Errorf("rendered page shows %d messages, want 5", n)
	}
	if strings.Contains(dom, "<script") {
		t.Error("a user's markup became a script element")
	}
	for _, m := range regexp.MustCompile(`href="(attachments/[^"]+)"`).FindAllStringSubmatch(dom, -1) {
		p := strings.ReplaceAll(m[1], "&amp;", "&")
		if u, err := url.PathUnescape(p); err != nil || !fileExists(filepath.Join(dir, filepath.FromSlash(u))) {
			t.Errorf("link %s does not lead to a file of the archive", m[1])
		}
	}

	shot := filepath.Join(artifacts, "export-index.png")
	chrome("--window-size=1100,4200", "--screenshot="+shot)
	pdf := filepath.Join(artifacts, "export-index.pdf")
	chrome("--no-pdf-header-footer", "--print-to-pdf="+pdf)
	for _, p := range []string{shot, pdf} {
		if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
			t.Errorf("artifact %s missing or empty: %v", p, err)
		}
	}
	t.Logf("screenshot %s, print %s", shot, pdf)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
