package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oubli/oubli/store"
)

// Issue 17 item 6: the SQLite database holds every person's data and the
// HMAC secret: oubli creates it, its -wal and -shm files and its lock files
// 0600, and the directory it creates 0700, whatever the umask lets through.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "store")
	path := filepath.Join(dir, "oubli.db")
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('probe', 'x')"); err != nil {
		t.Fatal(err)
	}
	l, err := db.TryLock(ctx, "retention")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	for p, want := range map[string]os.FileMode{
		filepath.Dir(dir): 0o700, dir: 0o700,
		path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600, db.LockPath("retention"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(p), got, want)
		}
	}
}

// Issue 16 item 6: a typo in --db must not create an empty store. With
// MustExist, a missing SQLite file is bad input naming the path, and no
// file is created.
func TestOpenMissingSQLiteRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oubil.db")
	_, err := store.Open(context.Background(), "sqlite:"+path, store.Options{MustExist: true})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "no store at "+path+" (run `oubli migrate` to create one)") {
		t.Fatalf("want a missing-store error, got %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a store file was created: %v", err)
	}
}

// Issue 17 item 12: '?', '#' and '%xx' in a sqlite: path are part of the
// file name, not URL syntax.
func TestSQLitePathIsLiteral(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a?b.db", "c#d.db", "e%41f.db", "g%.db"} {
		db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		db.Close()
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: not created under its own name: %v", name, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch n := e.Name(); {
		case strings.HasSuffix(n, "-wal"), strings.HasSuffix(n, "-shm"):
		case n == "a?b.db", n == "c#d.db", n == "e%41f.db", n == "g%.db":
		default:
			t.Errorf("unexpected file %q", n)
		}
	}
}
