package store_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/oubli/oubli/store"
)

// A database URL whose scheme is not one oubli knows (a typo of sqlite:, or
// SQLite's own file: URI syntax) is bad input naming the accepted forms,
// and creates no file: before, "sqllite:x.db" and "file:z.db" ended in .db
// and were taken for bare paths, so migrate created files named after the
// whole URL.
func TestOpenUnknownSchemeRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, u := range []string{
		"sqllite:x.db", "file:z.db", "file:///tmp/z.db", "SQLite:x.db", "sqlite3:x.db",
		"postgress://h/db", "mysql://h/db.db", "pg:x.db",
	} {
		_, err := store.Open(context.Background(), u)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", u, err)
			continue
		}
		for _, want := range []string{"sqlite:PATH", "postgres://", "postgresql://"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(%q): %q does not name %s", u, err, want)
			}
		}
	}
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("a refused URL created %q", e.Name())
	}
}

// A bare path ending in .db (no scheme) is a SQLite file, as documented;
// so is one whose colon comes after a slash or a leading dot.
func TestOpenBarePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("sub", 0o700); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bare.db", "./dot.db", "sub/x:y.db", "./a:b.db"} {
		db, err := store.Open(context.Background(), u)
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		db.Close()
		if _, err := os.Stat(u); err != nil {
			t.Errorf("Open(%q) did not create the file: %v", u, err)
		}
	}
}
