package outpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "oubli.db")
	blobs := filepath.Join(dir, "data", "blobs")
	ledger := filepath.Join(dir, "ledger.log")
	for _, d := range []string{filepath.Dir(db), blobs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{db, ledger} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(db, filepath.Join(dir, "db-link.zip")))
	must(os.Symlink(filepath.Join(dir, "data"), filepath.Join(dir, "data-link")))
	must(os.Link(ledger, filepath.Join(dir, "ledger-hard.zip")))
	ps := []Protected{
		{Path: db, What: "the database", Kind: SQLite},
		{Path: ledger, What: "the ledger", Kind: File},
		{Path: blobs, What: "the blobs", Kind: Dir},
		{Path: "", What: "nothing", Kind: File},
	}
	for _, c := range []struct{ out, want string }{
		{db, "is the database"},
		{db + "-wal", "is a file of the database"},
		{db + "-shm", "is a file of the database"},
		{db + "-journal", "is a file of the database"},
		{db + ".retention.lock", "is a file of the database"},
		{filepath.Join(dir, "db-link.zip"), "is the database"},
		{filepath.Join(dir, "data-link", "oubli.db"), "is the database"},
		{filepath.Join(dir, "data-link", "oubli.db-wal"), "is a file of the database"},
		{filepath.Join(dir, "data", "..", "data", "oubli.db"), "is the database"},
		{ledger, "is the ledger"},
		{filepath.Join(dir, "ledger-hard.zip"), "is the ledger (the same file under another name)"},
		{filepath.Join(blobs, "ab", "x.zip"), "is inside the blobs"},
		{blobs, "is inside the blobs"},
		{filepath.Join(dir, "data-link", "blobs", "x.zip"), "is inside the blobs"},
		// Files of their own.
		{db + ".zip", ""},
		{db + ".lock", ""},
		{filepath.Join(dir, "data", "oubli.db2"), ""},
		{filepath.Join(dir, "data", "blobs.zip"), ""},
		{filepath.Join(dir, "export.zip"), ""},
	} {
		err := Check(c.out, ps)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Check(%s) = %v, want nil", c.out, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Check(%s) = %v, want %q", c.out, err, c.want)
		}
	}
	// A relative path is resolved against the working directory.
	t.Chdir(filepath.Dir(db))
	if err := Check("oubli.db", ps); err == nil {
		t.Errorf("Check(oubli.db) relative: nil")
	}
}
