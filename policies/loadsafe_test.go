package policies

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// policyDir copies the embedded policies into a new directory.
func policyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	names, _ := fs.Glob(Embedded(), "*.rego")
	for _, n := range names {
		b, _ := fs.ReadFile(Embedded(), n)
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fakeSecret = "OUBLI_SECRET=fake-s3cret-value-77\x00PGPASSWORD=hunter2-pw\x00"

// Issue 17 item 3: a policy directory may only hold regular files inside
// it. A symlink to a file outside (/proc/self/environ in the report) or a
// device is refused by name, and nothing of its contents is read or shown.
func TestLoadDirRefusesSymlinksOutAndDevices(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "environ")
	if err := os.WriteFile(outside, []byte(fakeSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := policyDir(t)
	if err := os.Symlink(outside, filepath.Join(dir, "zz.rego")); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(context.Background(), dir)
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz.rego") {
		t.Fatalf("want a policy error naming zz.rego, got %v", err)
	}
	for _, s := range []string{"fake-s3cret", "hunter2"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the error shows the file's contents: %v", err)
		}
	}
	// A FIFO (as a stand-in for a device node) is refused without blocking.
	dir2 := policyDir(t)
	if err := syscall.Mkfifo(filepath.Join(dir2, "zz.rego"), 0o600); err != nil {
		t.Skip(err)
	}
	if _, err := LoadDir(context.Background(), dir2); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz.rego: not a regular file") {
		t.Fatalf("want zz.rego refused as not a regular file, got %v", err)
	}
	// A symlink that stays inside the directory (Kubernetes ConfigMap
	// mounts are made of them) is fine.
	dir3 := policyDir(t)
	if err := os.Rename(filepath.Join(dir3, "retention.rego"), filepath.Join(dir3, "retention.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("retention.txt", filepath.Join(dir3, "retention.rego")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(context.Background(), dir3); err != nil {
		t.Fatalf("a symlink inside the directory: %v", err)
	}
}

// A file that fails to parse is named with its line and column; its source
// lines are never shown.
func TestParseErrorShowsNoSource(t *testing.T) {
	dir := policyDir(t)
	if err := os.WriteFile(filepath.Join(dir, "zz.rego"), []byte(fakeSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(context.Background(), dir)
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz.rego:1:") {
		t.Fatalf("want a parse error naming zz.rego:1:COL, got %v", err)
	}
	for _, s := range []string{"fake-s3cret", "hunter2", "OUBLI_SECRET"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the parse error shows source: %v", err)
		}
	}
}
