package dsr

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/oubli/oubli/store"
)

// An archive is written in its target directory, so that it can appear
// there by a link or a rename once complete; it holds personal data from its
// first bytes, so nothing of it may outlive its export.
//
// On Linux it is an unnamed file (O_TMPFILE): a killed export leaves nothing
// behind, the kernel frees the file with the process. Where the file system
// cannot create unnamed files it has a temp name (tempPattern) and is locked
// (flock) for as long as its writer lives; each export first removes, in its
// directory, the temp files whose writer is gone (sweepStale). An unnamed
// archive replacing a file (--force) is given a temp name for the rename,
// under the same lock.

// tempPattern names an archive being written under a name (os.CreateTemp).
const tempPattern = ".oubli-export-*.tmp"

// tempName matches the names tempPattern gives: what a sweep may remove.
var tempName = regexp.MustCompile(`^\.oubli-export-[0-9]+\.tmp$`)

// staleAge is how long a temp file must have been left untouched for a
// sweep to remove it on a file system without locks (where a live writer
// cannot be told from a dead one otherwise).
const staleAge = time.Hour

// unnamedFiles turns unnamed archive files off (false) to exercise the
// named fallback in tests.
var unnamedFiles = true

// errNoUnnamed: this file system or kernel cannot create unnamed files, or
// they could not be linked (no /proc).
var errNoUnnamed = errors.New("unnamed files not supported")

// archiveFile is an archive being written.
type archiveFile struct {
	f    *os.File
	dir  string
	name string // its temp path while it has one
}

// createArchiveFile creates an archive file in dir, unnamed if it can.
func createArchiveFile(dir string) (*archiveFile, error) {
	if unnamedFiles {
		f, err := openUnnamed(dir)
		if err == nil {
			return &archiveFile{f: f, dir: dir}, nil
		}
		if !errors.Is(err, errNoUnnamed) {
			return nil, err
		}
	}
	for range 100 {
		f, err := os.CreateTemp(dir, tempPattern)
		if err != nil {
			return nil, err
		}
		if lockLinked(f) {
			return &archiveFile{f: f, dir: dir, name: f.Name()}, nil
		}
		// A sweep took it for a dead export's between its creation and
		// its lock, and removes it.
		f.Close()
	}
	return nil, fmt.Errorf("%s: temp files keep being removed", dir)
}

// lockLinked locks f for as long as it is open and reports whether it is
// still linked, i.e. was not removed by a sweep before the lock.
func lockLinked(f *os.File) bool {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false // a sweep holds it
	}
	// Without locks on this file system a sweep goes by age instead.
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, err := os.Lstat(f.Name())
	return err == nil && os.SameFile(fi, st)
}

// close closes the file and removes its temp name if it still has one: an
// archive never placed leaves nothing.
func (a *archiveFile) close() {
	if a.name != "" {
		os.Remove(a.name)
		a.name = ""
	}
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
}

func existsError(out string) error {
	return fmt.Errorf("output %s already exists (use --force to replace it): %w", out, store.ErrInvalid)
}

// place makes the complete, synced archive appear at out: without force
// through a link, which fails if out exists (never clobbering a file), else
// by a rename over it; then syncs the directory.
func (a *archiveFile) place(out string, force bool) error {
	if force {
		// --force replaces a regular file, never a device node, a FIFO, a
		// socket or a symlink (issue 17: /dev/full became a regular file
		// holding the subject's data).
		if st, err := os.Lstat(out); err == nil && !st.Mode().IsRegular() {
			return fmt.Errorf("output %s is not a regular file (--force replaces regular files only): %w", out, store.ErrInvalid)
		}
	}
	if a.name == "" {
		if !force {
			if err := linkUnnamed(a.f, out); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return existsError(out)
				}
				return fmt.Errorf("place archive: %w", err)
			}
			syncDir(a.dir)
			return nil
		}
		// A link cannot replace a file: name it, then rename it over out.
		if err := a.nameUnnamed(); err != nil {
			return fmt.Errorf("place archive: %w", err)
		}
	}
	if !force {
		if err := os.Link(a.name, out); err == nil {
			a.close()
			syncDir(a.dir)
			return nil
		} else if errors.Is(err, fs.ErrExist) {
			return existsError(out)
		}
		// No hard links on this file system: fall back to rename.
		if _, err := os.Lstat(out); err == nil {
			return existsError(out)
		}
	}
	if err := os.Rename(a.name, out); err != nil {
		return fmt.Errorf("place archive: %w", err)
	}
	a.name = ""
	syncDir(a.dir)
	return nil
}

// nameUnnamed links the unnamed file under a free temp name.
func (a *archiveFile) nameUnnamed() error {
	for range 100 {
		p := filepath.Join(a.dir, ".oubli-export-"+strconv.FormatUint(uint64(rand.Uint32()), 10)+".tmp")
		err := linkUnnamed(a.f, p)
		if err == nil {
			a.name = p
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return fmt.Errorf("%s: no free temp name", a.dir)
}

// sweepStale removes from dir the temp files of exports that died there
// (killed while writing on a file system without unnamed files): a temp
// file whose lock nobody holds, or, without locks, untouched for staleAge.
// It is best effort and returns how many it removed.
func sweepStale(dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() && tempName.MatchString(e.Name()) && removeStale(filepath.Join(dir, e.Name())) {
			n++
		}
	}
	if n > 0 {
		syncDir(dir)
	}
	return n
}

func removeStale(p string) bool {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false // gone, or not ours to read
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false // its writer is alive
	default:
		if time.Since(fi.ModTime()) < staleAge {
			return false
		}
	}
	// Remove it only if the name is still this file.
	if st, err := os.Lstat(p); err != nil || !os.SameFile(fi, st) {
		return false
	}
	return os.Remove(p) == nil
}
