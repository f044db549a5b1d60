// Package outpath refuses an output path given by a user when it names one of
// the installation's own files: the database and its sidecar files, the
// erasure ledger, the audit anchor file, or anything inside the blob
// directory. Writing an export or a key there would replace the file (or
// corrupt it) and lose what it held.
//
// Paths are compared resolved: made absolute, cleaned ("..") and with the
// symbolic links of their existing parts followed; two existing paths that
// are the same file (a hard link: same device and inode) are the same too.
package outpath

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kind says how a protected path is matched.
type Kind int

const (
	// File is one file.
	File Kind = iota
	// Dir is a directory: the directory itself and everything inside it.
	Dir
	// SQLite is a SQLite database file together with its sidecar files:
	// PATH-wal, PATH-shm, PATH-journal and the lock files PATH.NAME.lock.
	SQLite
)

// Protected is one of the installation's files that no output may replace.
type Protected struct {
	Path string // as configured (relative to the working directory, or absolute)
	What string // what it is, for the error: "the database (--db)"
	Kind Kind
}

// Check returns an error naming what out would replace when out is (or is
// inside, for a Dir) one of protected; nil otherwise. Entries with an empty
// Path are skipped.
func Check(out string, protected []Protected) error {
	ro := Resolve(out)
	outInfo, outErr := os.Stat(out)
	for _, p := range protected {
		if p.Path == "" {
			continue
		}
		rp := Resolve(p.Path)
		switch p.Kind {
		case Dir:
			if inside(ro, rp) {
				return fmt.Errorf("is inside %s", p.What)
			}
			continue
		case SQLite:
			if filepath.Dir(ro) == filepath.Dir(rp) && sidecar(filepath.Base(ro), filepath.Base(rp)) {
				return fmt.Errorf("is a file of %s", p.What)
			}
		}
		if ro == rp {
			return fmt.Errorf("is %s", p.What)
		}
		if outErr == nil {
			if pi, err := os.Stat(p.Path); err == nil && os.SameFile(outInfo, pi) {
				return fmt.Errorf("is %s (the same file under another name)", p.What)
			}
		}
	}
	return nil
}

// sidecar reports whether name is one of the sidecar files SQLite (or the
// store's file locks) keep beside the database file db.
func sidecar(name, db string) bool {
	rest, ok := strings.CutPrefix(name, db)
	if !ok {
		return false
	}
	switch rest {
	case "-wal", "-shm", "-journal":
		return true
	}
	return strings.HasPrefix(rest, ".") && strings.HasSuffix(rest, ".lock") && len(rest) > len("..lock")
}

// inside reports whether the resolved path p lies in the resolved directory
// d, or is d.
func inside(p, d string) bool {
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Resolve returns p absolute and cleaned, with the symbolic links of its
// longest existing prefix followed (a path that does not exist yet resolves
// through its existing parent directories).
func Resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
