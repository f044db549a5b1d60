package e2e

import (
	"archive/zip"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostileTicket is a ticket line whose identifiers look like SQL and whose
// texts and file names are hostile.
func hostileTicket(uid, email, tid string, filenames []string) string {
	var atts []map[string]any
	for i, f := range filenames {
		atts = append(atts, map[string]any{"attachment_id": tid + "/../A" + string(rune('0'+i)), "message_id": tid + "-m",
			"filename": f, "content_type": "text/html", "uploaded_at": "2024-03-01T10:00:00Z",
			"content_base64": base64.StdEncoding.EncodeToString([]byte("<script>alert('blob')</script> " + f))})
	}
	line := map[string]any{"kind": "ticket", "ticket_id": tid, "request_number": "REQ' OR 1=1 --",
		"user":    map[string]any{"user_id": uid, "email": email, "pseudo": `<img src=x onerror=alert(1)>` + uid},
		"subject": `<script>alert("subject")</script>`, "description": `</textarea><svg onload=alert(2)>`,
		"status": "closed", "created_at": "2024-03-01T10:00:00Z", "closed_at": "2024-03-02T10:00:00Z",
		"messages":    []map[string]any{{"message_id": tid + "-m", "author": "user", "body": `<b onmouseover="alert(3)">hi</b><script>alert("body")</script>`, "sent_at": "2024-03-01T10:00:00Z"}},
		"attachments": atts}
	b, err := json.Marshal(line)
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// checkZipNames fails unless every entry of the archive is a clean,
// relative path inside the archive.
func checkZipNames(t *testing.T, p string) (names []string, files map[string][]byte) {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatalf("open export: %v", err)
	}
	defer zr.Close()
	files = map[string][]byte{}
	for _, f := range zr.File {
		n := f.Name
		hostileCount.Add(1)
		switch {
		case n == "" || strings.HasPrefix(n, "/") || strings.Contains(n, `\`) || strings.ContainsRune(n, 0),
			!utf8.ValidString(n), path.Clean(n) != n, n == ".." || strings.HasPrefix(n, "../") || strings.Contains(n, "/../"),
			filepath.IsAbs(n), len(n) > 255:
			t.Errorf("unsafe archive entry name %q", n)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		files[n] = data
		names = append(names, n)
	}
	return names, files
}

// TestHostileInput stores identifiers that look like SQL, hostile file
// names and HTML, then erases, exports and renders them: nothing escapes
// its place.
func TestHostileInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.ingestFixture(genFixture(5, 3))
		names := []string{"../../../../etc/passwd", "/etc/shadow", `..\..\windows\system32\x.dll`, "a/b/../../../c.pdf",
			"<script>alert(1)</script>.html", "..", ".", "CON", "\u202etxt.exe", strings.Repeat("n", 1000)}
		sqlUser := `x' OR '1'='1`
		twin := `x' OR '1'='2`
		in := hostileTicket(sqlUser, "x'or'1'='1@example.org", `T'; DROP TABLE tickets; --`, names) +
			hostileTicket(twin, "twin@example.org", `T"); DELETE FROM subjects; --`, []string{"twin.pdf"})
		w.must("ingest", w.file("hostile.jsonl", []byte(in)))
		before := w.counts()

		// Export: every entry name is safe; the HTML escapes the texts.
		out := filepath.Join(w.dir, "export.zip")
		w.must("export", "--user-id", sqlUser, "--out", out)
		entries, files := checkZipNames(t, out)
		var attached int
		for _, n := range entries {
			if strings.HasPrefix(n, "attachments/") {
				attached++
			}
		}
		if attached != len(names) {
			t.Errorf("export holds %d attachment files, want %d: %v", attached, len(names), entries)
		}
		html := string(files["index.html"])
		if html == "" {
			t.Fatalf("no index.html in %v", entries)
		}
		for _, raw := range []string{`<script>alert("subject")</script>`, `<script>alert("body")</script>`, `<svg onload`, `<img src=x`, `<b onmouseover`, `<script>alert(1)</script>.html`} {
			hostileCount.Add(1)
			if strings.Contains(html, raw) {
				t.Errorf("index.html holds %q unescaped", raw)
			}
		}
		if !strings.Contains(html, "&lt;script&gt;") && !strings.Contains(html, `\u003cscript\u003e`) {
			t.Errorf("index.html does not show the escaped ticket text")
		}
		if strings.Contains(string(files["data.json"]), "twin@example.org") {
			t.Error("the export holds the look-alike subject's data")
		}

		// SQL-looking ids select exactly their own rows.
		if r := w.run(nil, "erase", "--user-id", `x' OR '1'='3`); r.code != 5 {
			t.Fatalf("erase of a non-existent SQL-looking id: %s", r)
		}
		w.must("erase", "--user-id", sqlUser)
		after := w.counts()
		if after["subjects"] != before["subjects"]-1 || after["tickets"] != before["tickets"]-1 || after["attachments"] != before["attachments"]-int64(len(names)) {
			t.Errorf("erase of one SQL-looking subject: before %v, after %v", before, after)
		}
		w.must("export", "--user-id", twin, "--out", filepath.Join(w.dir, "twin.zip"))
		w.healthy()
		// Blob files only ever have the store's own names.
		_ = filepath.WalkDir(w.blobDir(), func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				hostileCount.Add(1)
				if strings.ContainsAny(de.Name(), "./<> \\") {
					t.Errorf("blob file named %q", de.Name())
				}
			}
			return nil
		})
	})
}

// TestHostileFileNamesRefused: names ingest refuses outright (NUL byte,
// over 1024 bytes) — the file is rejected whole and nothing is stored.
func TestHostileFileNamesRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	for name, fn := range map[string]string{"NUL byte": "a\x00b.pdf", "10,000 characters": strings.Repeat("é", 5000)} {
		hostileCount.Add(1)
		r := w.run(nil, "ingest", w.file("bad.jsonl", []byte(hostileTicket("u-h", "h@example.org", "T-h", []string{fn}))))
		if r.code != 2 || !strings.Contains(r.stderr, "filename") {
			t.Errorf("%s: want exit 2 naming the file name, got %s", name, r)
		}
		if strings.Contains(r.stderr, fn) {
			t.Errorf("%s: the error echoes the file name", name)
		}
	}
	if c := w.counts(); c["tickets"] != 0 || c["attachments"] != 0 {
		t.Errorf("rejected files left data: %v", c)
	}
}

// TestHostilePolicyHTML: text from the policies is escaped in the HTML
// schedule (a label holding a script is shown, not run).
func TestHostilePolicyHTML(t *testing.T) {
	w := newWorld(t, "sqlite")
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(filepath.Dir(file)), "policies")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".rego") || strings.HasSuffix(e.Name(), "_test.rego") {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(src, e.Name()))
		s := strings.ReplaceAll(string(data), `"Contacting customer support"`, `"<script>alert(\"policy\")</script>"`)
		w.file("pol/"+e.Name(), []byte(s))
	}
	r := w.must("--policies", filepath.Join(w.dir, "pol"), "policy", "schedule", "--format", "html")
	hostileCount.Add(1)
	if strings.Contains(r.stdout, `<script>alert("policy")</script>`) {
		t.Error("policy schedule --format html holds a policy's script unescaped")
	}
	if !strings.Contains(r.stdout, "&lt;script&gt;") && !strings.Contains(r.stdout, "&#34;policy&#34;") {
		t.Errorf("the hostile label is not in the schedule at all: the test did not inject it")
	}
}
