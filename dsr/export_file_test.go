package dsr

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// namedFiles makes the test use named temp files (the fallback of file
// systems without O_TMPFILE).
func namedFiles(t *testing.T) {
	old := unnamedFiles
	unnamedFiles = false
	t.Cleanup(func() { unnamedFiles = old })
}

// archiveModes runs fn with unnamed archive files (skipped where the file
// system of the temp directory has none) and with named ones.
func archiveModes(t *testing.T, fn func(t *testing.T, unnamed bool)) {
	t.Run("unnamed", func(t *testing.T) {
		f, err := openUnnamed(t.TempDir())
		if err != nil {
			t.Skipf("no unnamed files here: %v", err)
		}
		f.Close()
		fn(t, true)
	})
	t.Run("named", func(t *testing.T) {
		namedFiles(t)
		fn(t, false)
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func writeArchiveFile(t *testing.T, dir, content string) *archiveFile {
	t.Helper()
	a, err := createArchiveFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := a.f.Sync(); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestArchiveFile: an archive being written has no name (or one temp name
// no sweep takes while its writer lives); it appears at its path only when
// placed, never over a file without force; abandoned, it leaves nothing.
func TestArchiveFile(t *testing.T) {
	archiveModes(t, func(t *testing.T, unnamed bool) {
		dir := t.TempDir()
		out := filepath.Join(dir, "a.zip")
		a := writeArchiveFile(t, dir, "personal data")
		names := dirNames(t, dir)
		switch {
		case unnamed && len(names) != 0:
			t.Fatalf("an unnamed archive being written shows in its directory: %q", names)
		case !unnamed && (len(names) != 1 || !tempName.MatchString(names[0])):
			t.Fatalf("a named archive being written: directory holds %q, want one temp file", names)
		}
		if n := sweepStale(dir); n != 0 || !slices.Equal(dirNames(t, dir), names) {
			t.Fatalf("a sweep removed %d file(s) of a live export", n)
		}
		if err := a.place(out, false); err != nil {
			t.Fatal(err)
		}
		a.close()
		check := func(what, want string) {
			t.Helper()
			if names := dirNames(t, dir); !slices.Equal(names, []string{"a.zip"}) {
				t.Fatalf("%s: directory holds %q, want only the archive", what, names)
			}
			if b, _ := os.ReadFile(out); string(b) != want {
				t.Fatalf("%s: archive holds %q, want %q", what, b, want)
			}
		}
		check("placed", "personal data")

		b := writeArchiveFile(t, dir, "second")
		if err := b.place(out, false); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("placing over a file without force: %v, want refused", err)
		}
		b.close()
		check("refused", "personal data")

		c := writeArchiveFile(t, dir, "replacement")
		if err := c.place(out, true); err != nil {
			t.Fatal(err)
		}
		c.close()
		check("forced", "replacement")

		d := writeArchiveFile(t, dir, "abandoned")
		d.close()
		check("abandoned", "replacement")
	})
}

// TestSweepStale: a sweep removes the temp files no writer holds, and
// nothing else: not a live export's, not other names, not a symbolic link
// (nor what it points to), not a directory.
func TestSweepStale(t *testing.T) {
	namedFiles(t)
	dir, elsewhere := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, ".oubli-export-123.tmp"), "personal data of a killed export")
	live := writeArchiveFile(t, dir, "personal data of a live export")
	keep := []string{".oubli-export-abc.tmp", "x.oubli-export-1.tmp", ".oubli-export-1.tmp.zip", "a.zip"}
	for _, n := range keep {
		write(filepath.Join(dir, n), "not an export's temp file")
	}
	target := filepath.Join(elsewhere, "target")
	write(target, "keep me")
	if err := os.Symlink(target, filepath.Join(dir, ".oubli-export-7.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".oubli-export-8.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".oubli-export-7.tmp", ".oubli-export-8.tmp", filepath.Base(live.name))

	if n := sweepStale(dir); n != 1 {
		t.Errorf("swept %d file(s), want 1", n)
	}
	got := dirNames(t, dir)
	slices.Sort(keep)
	if !slices.Equal(got, keep) {
		t.Errorf("after the sweep:\n got %q\nwant %q", got, keep)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me" {
		t.Error("the sweep touched a symbolic link's target")
	}
	live.close()
	if slices.Contains(dirNames(t, dir), filepath.Base(live.name)) {
		t.Error("a closed, unplaced archive file is left")
	}
}

// TestArchiveFileChild is the helper process of TestArchiveFileKilled: it
// writes an archive file and waits to be killed.
func TestArchiveFileChild(t *testing.T) {
	dir := os.Getenv("OUBLI_ARCHIVE_CHILD_DIR")
	if dir == "" {
		t.Skip("helper process of TestArchiveFileKilled")
	}
	unnamedFiles = os.Getenv("OUBLI_ARCHIVE_CHILD_NAMED") == ""
	writeArchiveFile(t, dir, "personal data of a killed export")
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute)
}

// TestArchiveFileKilled SIGKILLs a process writing an archive file: an
// unnamed one vanishes with it; a named one is left, and the next sweep in
// its directory removes it.
func TestArchiveFileKilled(t *testing.T) {
	archiveModes(t, func(t *testing.T, unnamed bool) {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestArchiveFileChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OUBLI_ARCHIVE_CHILD_DIR="+dir)
		if !unnamed {
			cmd.Env = append(cmd.Env, "OUBLI_ARCHIVE_CHILD_NAMED=1")
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := false
		for sc := bufio.NewScanner(stdout); !ready && sc.Scan(); {
			ready = sc.Text() == "ready"
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if !ready {
			t.Fatal("the helper process ended before writing its archive file")
		}
		names := dirNames(t, dir)
		if unnamed {
			if len(names) != 0 {
				t.Fatalf("a killed unnamed archive left %q", names)
			}
			return
		}
		if len(names) != 1 || !tempName.MatchString(names[0]) {
			t.Fatalf("a killed named archive left %q, want its temp file", names)
		}
		if n := sweepStale(dir); n != 1 || len(dirNames(t, dir)) != 0 {
			t.Fatalf("the sweep removed %d file(s), left %q", n, dirNames(t, dir))
		}
	})
}

// TestExportArchiveFiles runs exports with unnamed and named archive files:
// the archive has mode 0600 and is alone in its directory; a temp file a
// killed export left there is removed; a failure to record the export
// leaves no archive and no temp file.
func TestExportArchiveFiles(t *testing.T) {
	archiveModes(t, func(t *testing.T, unnamed bool) {
		db := testdb.Open(t, "sqlite")
		ctx := context.Background()
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		dir := t.TempDir()
		stale := filepath.Join(dir, ".oubli-export-4242.tmp")
		if err := os.WriteFile(stale, []byte("data.json of a killed export"), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "a.zip")
		if _, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out}); err != nil {
			t.Fatal(err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"a.zip"}) {
			t.Fatalf("directory holds %q, want only the archive", names)
		}
		if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
			t.Errorf("archive mode %v, want 0600", st.Mode().Perm())
		}
		unzip(t, out)
		if _, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("existing output: %v, want ErrInvalid", err)
		}
		if _, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out, Force: true}); err != nil {
			t.Fatal(err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"a.zip"}) {
			t.Fatalf("after --force: directory holds %q, want only the archive", names)
		}

		// The export cannot be recorded: no archive appears.
		mustExec(t, db, `CREATE TRIGGER fail_export BEFORE INSERT ON audit_log
			WHEN NEW.action = 'dsr.export' AND NEW.outcome = 'ok' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
		out2 := filepath.Join(dir, "b.zip")
		res, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out2})
		if err == nil || !strings.Contains(err.Error(), "record export") {
			t.Fatalf("export that cannot be recorded: %v, want a record error", err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"a.zip"}) {
			t.Fatalf("after a failure to record: directory holds %q, want only the earlier archive", names)
		}
		got, acts, _ := x.Register.Get(ctx, res.RequestID)
		if last := acts[len(acts)-1]; got.Status != store.RequestInProgress || last.Action != "export" || last.Outcome != "failed" {
			t.Errorf("after a failure to record: request %s, last action %+v", got.Status, last)
		}
	})
}
