package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oubli/oubli/anchor"
	"github.com/oubli/oubli/store"
)

// anchorFileName is the anchor file's name beside a SQLite file or the ledger.
const anchorFileName = "oubli-audit-anchor.log"

// AnchorPath returns the audit anchor file: --audit-anchor, or
// oubli-audit-anchor.log beside a SQLite file, or beside the ledger; "" when
// none can be derived (PostgreSQL without --audit-anchor or --ledger).
func (e *Env) AnchorPath() (string, error) {
	p := e.AuditAnchor
	if p == "" {
		switch db := e.sqlitePath(); {
		case db != "" && db != ":memory:":
			p = filepath.Join(filepath.Dir(db), anchorFileName)
		case e.Ledger != "":
			p = filepath.Join(filepath.Dir(e.Ledger), anchorFileName)
		default:
			return "", nil
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", usageErrorf("--audit-anchor %q: %v", p, err)
	}
	for _, other := range []struct{ flag, path string }{{"--db", e.sqlitePath()}, {"--ledger", e.Ledger}} {
		if other.path == "" || other.path == ":memory:" {
			continue
		}
		o, err := filepath.Abs(other.path)
		if err == nil && (o == abs || abs == o+"-wal" || abs == o+"-shm" || abs == o+"-journal") {
			return "", usageErrorf("--audit-anchor %q is the file of %s: the anchor needs a file of its own", p, other.flag)
		}
	}
	return p, nil
}

// attachAnchor makes every commit that appends audit entries record the new
// head in the anchor file, after catching the file up with the store (a
// command killed between its commit and its append). With PostgreSQL and no
// anchor path, changes that would append audit entries are refused.
func (e *Env) attachAnchor(db *store.DB) error {
	f, err := e.anchorFile()
	if err != nil {
		return err
	}
	if f == nil {
		db.RequireHeadSink(usageErrorf("--audit-anchor (or OUBLI_AUDIT_ANCHOR, or --ledger beside which it is kept) is required with PostgreSQL: the audit trail's heads are kept outside the store"))
		return nil
	}
	if err := f.Check(); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	st, statErr := os.Stat(f.Path())
	missing := errors.Is(statErr, fs.ErrNotExist)
	emptied := statErr == nil && st.Size() == 0
	if err := anchor.Catchup(e.Ctx, db, f); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	if missing || emptied {
		if h, ok, err := db.AuditHead(e.Ctx); err == nil && ok {
			// A store with a trail and no anchor: a first run with
			// anchors, or a deleted or emptied file. Either way, say it
			// (adversarial pass 7b: an emptied file was re-filled
			// silently).
			was := "did not exist"
			if emptied {
				was = "was empty"
			}
			fmt.Fprintf(e.Err, "oubli: warning: the audit anchor %s %s; it starts at entry %d: that the trail was complete before it cannot be proven (signed checkpoints can)\n", f.Path(), was, h.Seq)
		}
	}
	db.SetHeadSink(f.AppendHead)
	return nil
}

// anchorFile opens the anchor file (nil when there is none to open).
func (e *Env) anchorFile() (*anchor.File, error) {
	p, err := e.AnchorPath()
	if err != nil || p == "" {
		return nil, err
	}
	f, err := anchor.Open(p)
	if errors.Is(err, anchor.ErrPath) {
		return nil, fmt.Errorf("%w: --audit-anchor: %v", ErrUsage, err)
	}
	return f, err
}
