package cli

import (
	"path/filepath"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/outpath"
)

// refuseStoreFiles refuses (exit 2) an output path given by the user that is
// one of the installation's own files: the SQLite database and its -wal,
// -shm, -journal and lock files, the erasure ledger, the audit anchor file,
// or anything inside the blob directory (a file there would be taken for a
// blob by integrity checks and sweeps). Every command writing a path the
// user names calls it before writing anything.
func (e *Env) refuseStoreFiles(flag, path string) error {
	if err := outpath.Check(path, e.storeFiles()); err != nil {
		return usageErrorf("%s %q %v: write it elsewhere", flag, path, err)
	}
	return nil
}

// storeFiles lists the installation's own files as configured, whether or
// not they are valid or exist yet.
func (e *Env) storeFiles() []outpath.Protected {
	var ps []outpath.Protected
	db := e.sqlitePath()
	if db == ":memory:" {
		db = ""
	}
	ps = append(ps, outpath.Protected{Path: db, What: "the database (--db)", Kind: outpath.SQLite})
	ledger := e.Ledger
	if ledger == "" && db != "" {
		ledger = filepath.Join(filepath.Dir(db), "oubli-erasures.log")
	}
	ps = append(ps, outpath.Protected{Path: ledger, What: "the erasure ledger (--ledger)", Kind: outpath.File})
	anchorPath := e.AuditAnchor
	if anchorPath == "" {
		switch {
		case db != "":
			anchorPath = filepath.Join(filepath.Dir(db), anchorFileName)
		case e.Ledger != "":
			anchorPath = filepath.Join(filepath.Dir(e.Ledger), anchorFileName)
		}
	}
	ps = append(ps, outpath.Protected{Path: anchorPath, What: "the audit anchor file (--audit-anchor)", Kind: outpath.File})
	if b, err := e.BlobsPath(); err == nil {
		if loc, err := blobs.ParseLocation(b); err == nil && !loc.IsS3() {
			ps = append(ps, outpath.Protected{Path: loc.Dir, What: "the blobs directory (--blobs)", Kind: outpath.Dir})
		}
	}
	return ps
}
