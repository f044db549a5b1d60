package dsr

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newExporter(t testing.TB, db *store.DB, f *fixture) *Exporter {
	t.Helper()
	r := newRegister(t, db)
	return &Exporter{Register: r, Blobs: f.blobs, Info: r.Policies.(InformationSource)}
}

// unzip reads every entry of an archive, failing on any unsafe name.
func unzip(t testing.TB, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open archive: %v", err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		if !filepath.IsLocal(f.Name) || strings.ContainsAny(f.Name, "\\\x00") || !utf8.ValidString(f.Name) || len(f.Name) > 250 ||
			slices.ContainsFunc(strings.Split(f.Name, "/"), func(e string) bool { return e == "" || e == "." || e == ".." }) {
			t.Errorf("unsafe entry name %q", f.Name)
		}
		if _, dup := out[f.Name]; dup {
			t.Errorf("duplicate entry %q", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		out[f.Name] = b
	}
	return out
}

type exportedData struct {
	SchemaVersion string `json:"schema_version"`
	RequestID     string `json:"request_id"`
	Subject       struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
	} `json:"subject"`
	Tickets []struct {
		TicketID    string        `json:"ticket_id"`
		Attachments []xAttachment `json:"attachments"`
		Messages    []xMessage    `json:"messages"`
	} `json:"tickets"`
	AccountEvents []xEvent     `json:"account_events"`
	SubjectStats  *xStats      `json:"subject_stats"`
	Objections    []xObjection `json:"objections"`
	Requests      []xRequest   `json:"requests"`
	LegalHolds    []xHold      `json:"legal_holds"`
	Counts        Counts       `json:"counts"`
}

func TestExport(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		out := filepath.Join(t.TempDir(), "alice.zip")
		res, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{Email: "Alice@Example.org"}, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("archive mode %v, want 0600", st.Mode().Perm())
		}
		raw, _ := os.ReadFile(out)
		if res.SHA256 != sha(raw) || res.Bytes != int64(len(raw)) {
			t.Errorf("result sha/bytes %s/%d, file %s/%d", res.SHA256, res.Bytes, sha(raw), len(raw))
		}
		files := unzip(t, out)

		// Exactly the expected entries.
		var names []string
		for n := range files {
			names = append(names, n)
		}
		want := []string{"data.json", "index.html", "information.json", "schema.json"}
		for p := range f.attachments {
			want = append(want, p)
		}
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("entries\n got %q\nwant %q", names, want)
		}

		// Attachments byte for byte, matching data.json's paths and hashes.
		validateData(t, files["data.json"])
		var d exportedData
		if err := json.Unmarshal(files["data.json"], &d); err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, tk := range d.Tickets {
			for _, a := range tk.Attachments {
				paths = append(paths, a.Path)
				if !bytes.Equal(files[a.Path], f.attachments[a.Path]) {
					t.Errorf("attachment %s: contents differ from the original", a.Path)
				}
				if sha(files[a.Path]) != a.SHA256 || int64(len(files[a.Path])) != a.Size {
					t.Errorf("attachment %s: sha256/size in data.json do not match the file", a.Path)
				}
			}
		}
		if len(paths) != len(f.attachments) {
			t.Errorf("data.json lists %d attachments, want %d", len(paths), len(f.attachments))
		}

		// Every record of the subject.
		wantCounts := Counts{Tickets: 2, Messages: 5, Attachments: 3, AccountEvents: 1, SubjectStats: 1, Objections: 1, Requests: 1, LegalHolds: 1}
		for _, b := range f.attachments {
			wantCounts.AttachmentBytes += int64(len(b))
		}
		if d.Counts != wantCounts || res.Counts != wantCounts {
			t.Errorf("counts %+v (result %+v), want %+v", d.Counts, res.Counts, wantCounts)
		}
		if len(d.Tickets) != 2 || len(d.Tickets[0].Messages) != 3 || len(d.Tickets[1].Messages) != 2 ||
			len(d.AccountEvents) != 1 || d.SubjectStats == nil || len(d.Objections) != 1 || len(d.LegalHolds) != 1 {
			t.Fatalf("data.json misses records: %+v", d)
		}
		if d.Subject.UserID != "u-42" || d.Subject.Email != "alice@example.org" || d.SchemaVersion != ExportSchemaVersion {
			t.Errorf("subject %+v version %s", d.Subject, d.SchemaVersion)
		}
		for _, id := range []string{"T-ALICE-1", "T-ALICE-2", "M-ALICE-1", "M-ALICE-2", "M-ALICE-3", "M-ALICE-4", "M-ALICE-5",
			"A-ALICE-1", "A-ALICE/../2", "A-ALICE-3", "E-ALICE", "REQ-2023-ALICE1", "TX-ALICE", "H-ALICE", "Paiement non reçu ALICE"} {
			if !bytes.Contains(files["data.json"], []byte(id)) {
				t.Errorf("data.json lacks %q", id)
			}
		}

		// Agents: pseudonyms by first appearance, never their ids.
		agents := []string{}
		for _, tk := range d.Tickets {
			for _, m := range tk.Messages {
				if m.Author == "agent" {
					agents = append(agents, *m.Agent)
				}
			}
		}
		if !slices.Equal(agents, []string{"Agent 1", "Agent 2", "Agent 2"}) {
			t.Errorf("agent pseudonyms %v, want [Agent 1 Agent 2 Agent 2]", agents)
		}

		// Nothing of the twin, no agent id, no hold reason, anywhere.
		for name, b := range files {
			for _, s := range f.secrets {
				if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(s))) || strings.Contains(strings.ToLower(name), strings.ToLower(s)) {
					t.Errorf("%s contains %q, which belongs to someone else", name, s)
				}
			}
		}

		// The page: sections present, user strings escaped.
		page := string(files["index.html"])
		for _, id := range []string{"summary", "account", "tickets", "events", "statistics", "objections", "requests", "holds",
			"information", "information-purposes", "information-retention", "information-rights", "information-recipients"} {
			if !strings.Contains(page, `id="`+id+`"`) {
				t.Errorf("index.html lacks section %q", id)
			}
		}
		for _, key := range []string{"action_", "type_", "dispute_", ">in_progress<"} {
			if strings.Contains(page, key) {
				t.Errorf("index.html shows an untranslated label %q", key)
			}
		}
		if strings.Contains(page, "<script>") || strings.Contains(page, "<b>mon</b>") {
			t.Error("index.html contains unescaped user markup")
		}
		if !strings.Contains(page, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") || !strings.Contains(page, "Agent 2") {
			t.Error("index.html lacks the escaped message or the agent pseudonym")
		}
		var info map[string]any
		if err := json.Unmarshal(files["information.json"], &info); err != nil || info["purposes"] == nil || info["rights"] == nil {
			t.Errorf("information.json: %v %v", err, info)
		}
		if !bytes.Equal(files["schema.json"], DataSchema()) {
			t.Error("schema.json differs from the documented schema")
		}

		// Recorded: an auto-opened access request, done, with the export
		// action linked to an audit entry holding no personal data.
		req, acts, err := x.Register.Get(ctx, res.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if req.Type != "access" || req.Status != store.RequestDone || res.RequestStatus != store.RequestDone || d.RequestID != req.RequestID {
			t.Errorf("request %+v, result status %s", req, res.RequestStatus)
		}
		var exportSeq int64
		for _, a := range acts {
			if a.Action == "export" && a.Outcome == "ok" && a.AuditSeq.Valid {
				exportSeq = a.AuditSeq.Int64
			}
		}
		if exportSeq == 0 || exportSeq != res.AuditSeq {
			t.Fatalf("actions %+v: no export linked to audit seq %d", acts, res.AuditSeq)
		}
		var e store.AuditEntry
		if err := db.Get(ctx, &e, "SELECT seq, at, actor, action, subject_ref, outcome, detail, prev_hash, hash FROM audit_log WHERE seq = ?", exportSeq); err != nil {
			t.Fatal(err)
		}
		if e.Action != "dsr.export" || e.SubjectRef != x.Register.SubjectHash("u-42") || !strings.Contains(e.Detail, res.SHA256) {
			t.Errorf("audit entry %+v", e)
		}
		var trail []string
		db.ListAudit(ctx, store.AuditFilter{}, func(a store.AuditEntry) error {
			trail = append(trail, a.Detail+a.SubjectRef)
			return nil
		})
		for _, s := range []string{"u-42", "alice", "ALICE", "justificatif"} {
			if strings.Contains(strings.Join(trail, "\n"), s) {
				t.Errorf("audit trail contains %q", s)
			}
		}
		// No temp file left beside the archive.
		entries, _ := os.ReadDir(filepath.Dir(out))
		if len(entries) != 1 {
			t.Errorf("output directory holds %d files, want only the archive", len(entries))
		}
	})
}

func TestExportRefusals(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		dir := t.TempDir()
		requests := func() int64 {
			var n int64
			db.Get(ctx, &n, "SELECT COUNT(*) FROM dsr_requests")
			return n
		}
		erasure, _ := x.Register.Open(ctx, "erasure", f.subj, clock)
		twinAccess, _ := x.Register.Open(ctx, "access", f.twin, clock)
		before := requests()

		for _, tc := range []struct {
			name string
			opts ExportOptions
			want error
		}{
			{"unknown subject", ExportOptions{Subject: store.SubjectKey{UserID: "u-nobody"}, Out: filepath.Join(dir, "a.zip")}, store.ErrNotFound},
			{"unknown e-mail", ExportOptions{Subject: store.SubjectKey{Email: "nobody@example.org"}, Out: filepath.Join(dir, "a.zip")}, store.ErrNotFound},
			{"no subject", ExportOptions{Out: filepath.Join(dir, "a.zip")}, store.ErrInvalid},
			{"no output", ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}}, store.ErrInvalid},
			{"missing directory", ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: filepath.Join(dir, "nope", "a.zip")}, store.ErrInvalid},
			{"unknown request", ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, RequestID: "DSR-2026-999999", Out: filepath.Join(dir, "a.zip")}, store.ErrNotFound},
			{"request of another type", ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, RequestID: erasure.RequestID, Out: filepath.Join(dir, "a.zip")}, store.ErrInvalid},
			{"request of another subject", ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, RequestID: twinAccess.RequestID, Out: filepath.Join(dir, "a.zip")}, store.ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := x.Export(ctx, tc.opts); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("files left behind: %v", entries)
				}
				if n := requests(); n != before {
					t.Errorf("register grew from %d to %d", before, n)
				}
			})
		}

		// An existing file is kept unless --force.
		out := filepath.Join(dir, "exists.zip")
		os.WriteFile(out, []byte("keep me"), 0o600)
		if _, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("existing output: %v, want ErrInvalid", err)
		}
		if b, _ := os.ReadFile(out); string(b) != "keep me" {
			t.Error("existing file overwritten")
		}
		if _, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out, Force: true}); err != nil {
			t.Fatal(err)
		}
		unzip(t, out)
	})
}

func TestExportWithRequest(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		req, err := x.Register.Open(ctx, "access", f.subj, clock.AddDate(0, 0, -3))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "a.zip")
		res, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, RequestID: req.RequestID, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		got, acts, _ := x.Register.Get(ctx, req.RequestID)
		if res.RequestID != req.RequestID || got.Status != store.RequestInProgress {
			t.Errorf("request %s status %s, want the given one left in progress for the operator to close", res.RequestID, got.Status)
		}
		if last := acts[len(acts)-1]; last.Action != "export" || last.AuditSeq.Int64 != res.AuditSeq {
			t.Errorf("last action %+v, want the export with seq %d", last, res.AuditSeq)
		}
		assertCount(t, db, "SELECT COUNT(*) FROM dsr_requests", 1)
	})
}

func TestExportCorruptAttachment(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		var key string
		if err := db.Get(ctx, &key, "SELECT blob_key FROM attachments WHERE attachment_id = 'A-ALICE-3'"); err != nil {
			t.Fatal(err)
		}
		p, _ := f.blobs.Path(key)
		if err := os.WriteFile(p, []byte("notes ALICF"), 0o600); err != nil { // same size, other bytes
			t.Fatal(err)
		}
		dir := t.TempDir()
		res, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: filepath.Join(dir, "a.zip")})
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("err = %v, want ErrIntegrity", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("files left behind: %v", entries)
		}
		got, acts, _ := x.Register.Get(ctx, res.RequestID)
		if got.Status != store.RequestInProgress || acts[len(acts)-1].Action != "export" || acts[len(acts)-1].Outcome != "failed" {
			t.Errorf("after a failed export: status %s, actions %+v", got.Status, acts)
		}
	})
}

func TestAttachmentPath(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf"
	for _, tc := range []struct {
		id, name, want string
	}{
		{"A-1", "justificatif.pdf", "attachments/A-1/justificatif.pdf"},
		{"A-1", "Relevé bancaire été.pdf", "attachments/A-1/Relevé bancaire été.pdf"},
		{"A-1", "../../etc/passwd", "attachments/A-1/_.._etc_passwd"},
		{"A-1", "/etc/passwd", "attachments/A-1/_etc_passwd"},
		{"A-1", `C:\Windows\win.ini`, "attachments/A-1/C__Windows_win.ini"},
		{"A-1", "..", "attachments/A-1/file"},
		{"A-1", "", "attachments/A-1/file"},
		{"A-1", "a\x00b\nc\u202Egpj.exe", "attachments/A-1/abcgpj.exe"},
		{"A-1", ".bashrc", "attachments/A-1/bashrc"},
		{"A-1", "x\xff.txt", "attachments/A-1/x.txt"},
		{"../A", "f", "attachments/_.._A-" + idHash("../A") + "/f"},
		{"..", "f", "attachments/_..-" + idHash("..") + "/f"},
		{"", "f", "attachments/_-" + idHash("") + "/f"},
	} {
		if got := AttachmentPath(tc.id, tc.name); got != tc.want {
			t.Errorf("AttachmentPath(%q, %q) = %q, want %q", tc.id, tc.name, got, tc.want)
		}
	}
	got := AttachmentPath("A-1", long)
	if name := strings.TrimPrefix(got, "attachments/A-1/"); len(name) > maxFileNameLen || !strings.HasSuffix(name, ".pdf") || !utf8.ValidString(name) {
		t.Errorf("long name -> %q (%d bytes)", name, len(name))
	}
	if AttachmentPath("A/1", "f") == AttachmentPath("A_1", "f") || AttachmentPath("A/1", "f") == AttachmentPath("A:1", "f") {
		t.Error("two attachment ids share a directory")
	}
	for _, id := range []string{"../A", "..", "a/b", strings.Repeat("x", 500)} {
		for _, name := range []string{"../../x", "/x", "..", "a/../../b", strings.Repeat("/..", 100)} {
			p := AttachmentPath(id, name)
			if !filepath.IsLocal(p) || strings.Count(p, "/") != 2 || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || len(p) > 250 {
				t.Errorf("AttachmentPath(%q, %q) = %q is not a safe archive path", id, name, p)
			}
		}
	}
}

// idHash is the 8-hex-digit suffix of a sanitised id.
func idHash(id string) string { return sha([]byte(id))[:8] }

// TestExportGolden pins data.json for the fixture at a fixed clock: the same
// bytes on both backends. Run with -update to rewrite after a deliberate
// change (and raise ExportSchemaVersion if the change is not additive).
func TestExportGolden(t *testing.T) {
	golden := filepath.Join("testdata", "export-data.golden.json")
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		out := filepath.Join(t.TempDir(), "a.zip")
		if _, err := x.Export(context.Background(), ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out}); err != nil {
			t.Fatal(err)
		}
		got := unzip(t, out)["data.json"]
		if *update && db.Dialect() == store.SQLite {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./dsr -run Golden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("data.json differs from %s (run with -update if intended):\n%s", golden, got)
		}
	})
}
