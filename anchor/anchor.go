// Package anchor keeps the audit trail's heads outside the store, so that a
// cut tail or a store restored from an older backup can be told from a
// complete trail.
//
// The hash chain of the audit trail (store.AppendAudit) proves that no entry
// was edited, reordered or removed from the middle, but not that the newest
// entries are all there: deleting the last entries leaves a valid, shorter
// chain. As transparency logs do with their signed tree heads, every commit
// that appends audit entries also appends the new head (sequence number,
// hash, time) to an append-only file kept outside the database. `audit
// verify` then requires the chain to reach the newest head of the file with
// the same hash, and every head the store still holds to match.
//
// The file is JSON Lines, one head per line, appended with a single write
// under an exclusive lock and synced before the command reports success:
//
//	{"v":1,"seq":42,"hash":"…","at":"2026-12-02T06:30:00.123Z","recorded":"2026-12-02T06:30:00.125Z"}
//
// A restore accepted with `audit verify --accept-restore` appends a marker
// that supersedes the heads recorded after the restored store's head:
//
//	{"v":1,"restore":{"to_seq":17,"to_hash":"…","from_seq":20,"reason":"…","actor":"…"},"recorded":"…"}
//
// The file holds no personal data: hashes, sequence numbers, times, and the
// operator's reason for an accepted restore.
package anchor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oubli/oubli/store"
)

// Version is the format version of the lines written.
const Version = 1

// ErrCorrupt is returned when the anchor file holds a line that is neither a
// head nor a restore marker (other than a last line torn by a crash).
var ErrCorrupt = errors.New("audit anchor file corrupt")

// ErrPath is returned for a path that cannot be an anchor file (a directory,
// or the database or ledger itself).
var ErrPath = errors.New("invalid audit anchor path")

// line is one line of the file.
type line struct {
	V        int      `json:"v"`
	Seq      int64    `json:"seq,omitempty"`
	Hash     string   `json:"hash,omitempty"`
	At       string   `json:"at,omitempty"` // the entry's time
	Recorded string   `json:"recorded"`
	Restore  *Restore `json:"restore,omitempty"`
	// CaughtUpFrom, on a head appended by Catchup, is the file's last head
	// before it: the entries between were committed without their heads
	// reaching the file.
	CaughtUpFrom int64 `json:"caught_up_from,omitempty"`
}

// CatchUp is a head Catchup appended to a file that was behind the store:
// entries From+1..To had been committed without their heads reaching the
// file (a command killed between its commit and its append, one run without
// this anchor, or heads removed from the file).
type CatchUp struct {
	From     int64     `json:"from_seq"`
	To       int64     `json:"to_seq"`
	Recorded time.Time `json:"recorded_at"`
}

// Restore is the marker of an accepted restore: the heads recorded before it
// with a sequence number above ToSeq are no longer expected in the store.
type Restore struct {
	ToSeq   int64  `json:"to_seq"`   // the restored store's head
	ToHash  string `json:"to_hash"`  // its hash
	FromSeq int64  `json:"from_seq"` // the newest head the file held before
	Reason  string `json:"reason"`
	Actor   string `json:"actor,omitempty"`
}

// File is an anchor file.
type File struct {
	path string
	now  func() time.Time
}

// Open returns the anchor file at path (created on the first append). It
// refuses a path that is a directory or that is not a regular file.
func Open(path string) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrPath)
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("audit anchor %s: %w", path, err)
	case st.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory", ErrPath, path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrPath, path)
	}
	return &File{path: path, now: time.Now}, nil
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Heads reads the file and returns the heads still expected in the store, in
// increasing sequence order (a restore marker drops the heads above its
// restored head), and the number of lines read. A missing file has none.
func (f *File) Heads() ([]store.Head, int, error) {
	c, err := f.scan()
	return c.heads, c.lines, err
}

// CatchUps returns the heads Catchup appended to the file when it was behind
// the store by entries it had recorded no head for, oldest first (those a
// restore marker dropped excluded).
func (f *File) CatchUps() ([]CatchUp, error) {
	c, err := f.scan()
	return c.catchUps, err
}

// contents is what scan read.
type contents struct {
	heads    []store.Head
	catchUps []CatchUp
	restores []AcceptedRestore
	lines    int
}

// AcceptedRestore is a restore accepted with `audit verify
// --accept-restore`, as its marker in the file records it.
type AcceptedRestore struct {
	Restore
	Recorded time.Time `json:"recorded_at"`
}

func (f *File) scan() (contents, error) {
	var c contents
	fh, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("open audit anchor %s: %w", f.path, err)
	}
	defer fh.Close()
	err = f.read(fh, func(l line) error {
		c.lines++
		if l.Restore != nil {
			rec, _ := time.Parse(time.RFC3339Nano, l.Recorded)
			c.restores = append(c.restores, AcceptedRestore{Restore: *l.Restore, Recorded: rec})
			i := len(c.heads)
			for i > 0 && c.heads[i-1].Seq > l.Restore.ToSeq {
				i--
			}
			c.heads = c.heads[:i]
			j := len(c.catchUps)
			for j > 0 && c.catchUps[j-1].To > l.Restore.ToSeq {
				j--
			}
			c.catchUps = c.catchUps[:j]
			return nil
		}
		h, err := l.head()
		if err != nil {
			return err
		}
		if len(c.heads) > 0 && h.Seq <= c.heads[len(c.heads)-1].Seq {
			return fmt.Errorf("%w: %s: head %d recorded after head %d", ErrCorrupt, f.path, h.Seq, c.heads[len(c.heads)-1].Seq)
		}
		c.heads = append(c.heads, h)
		if l.CaughtUpFrom > 0 {
			c.catchUps = append(c.catchUps, CatchUp{From: l.CaughtUpFrom, To: h.Seq, Recorded: h.Recorded})
		}
		return nil
	})
	return c, err
}

func (l line) head() (store.Head, error) {
	rec, err := time.Parse(time.RFC3339Nano, l.Recorded)
	if err != nil {
		return store.Head{}, fmt.Errorf("%w: recorded %q: %v", ErrCorrupt, l.Recorded, err)
	}
	h := store.Head{Seq: l.Seq, Hash: l.Hash, Recorded: rec}
	if l.At != "" {
		at, err := time.Parse(time.RFC3339Nano, l.At)
		if err != nil {
			return store.Head{}, fmt.Errorf("%w: at %q: %v", ErrCorrupt, l.At, err)
		}
		h.At = at.UnixMilli()
	}
	return h, nil
}

// read calls fn for each complete line. A last line without its newline (a
// write torn by a crash, never reported done) is skipped.
func (f *File) read(r io.Reader, fn func(line) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read audit anchor %s: %w", f.path, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil || l.V == 0 || (l.Restore == nil && (l.Seq <= 0 || l.Hash == "")) {
			if b[0] == '{' && !json.Valid(b) && bytes.IndexByte(b, '}') < 0 {
				continue // a torn line later closed by an append
			}
			return fmt.Errorf("%w: %s line %d: not an audit head", ErrCorrupt, f.path, n)
		}
		if err := fn(l); err != nil {
			return fmt.Errorf("%s line %d: %w", f.path, n, err)
		}
	}
}

// AppendHead records h unless the file already names a head at or beyond
// its sequence number (heads are appended in increasing order; a later
// commit's head makes an earlier one redundant). It is a store.HeadSink.
func (f *File) AppendHead(h store.Head) error {
	return f.appendHead(h, false)
}

// appendHead appends h when it is newer than the file's last head; a
// catch-up records that last head with it.
func (f *File) appendHead(h store.Head, catchUp bool) error {
	return f.append(func(last int64) (line, bool) {
		l := line{V: Version, Seq: h.Seq, Hash: h.Hash, Recorded: f.now().UTC().Format(time.RFC3339Nano)}
		if h.At != 0 {
			l.At = time.UnixMilli(h.At).UTC().Format(time.RFC3339Nano)
		}
		if catchUp {
			l.CaughtUpFrom = last
		}
		return l, h.Seq > last
	})
}

// AppendRestore records an accepted restore.
func (f *File) AppendRestore(r Restore) error {
	return f.append(func(int64) (line, bool) {
		return line{V: Version, Recorded: f.now().UTC().Format(time.RFC3339Nano), Restore: &r}, true
	})
}

// append writes the line mk builds (given the sequence number of the file's
// last line), under an exclusive lock, when mk says so, and syncs it.
func (f *File) append(mk func(last int64) (line, bool)) error {
	_, statErr := os.Stat(f.path)
	created := errors.Is(statErr, fs.ErrNotExist)
	if created {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
			return fmt.Errorf("audit anchor %s: %w", f.path, err)
		}
	}
	fh, err := os.OpenFile(f.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit anchor %s: %w", f.path, err)
	}
	defer fh.Close()
	if err := unix.Flock(int(fh.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock audit anchor %s: %w", f.path, err)
	}
	last, torn, err := f.tail(fh)
	if err != nil {
		return err
	}
	l, ok := mk(last)
	if !ok {
		return nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("audit anchor line: %w", err)
	}
	b = append(b, '\n')
	if torn {
		b = append([]byte{'\n'}, b...) // close the torn line; readers skip it
	}
	// One write call with O_APPEND, under the lock: lines never interleave.
	if _, err := fh.Write(b); err != nil {
		return fmt.Errorf("append to audit anchor %s: %w", f.path, err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sync audit anchor %s: %w", f.path, err)
	}
	if created {
		if d, err := os.Open(filepath.Dir(f.path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return fh.Close()
}

// tailSize is how much of the file's end tail reads to find its last line;
// lines are far shorter.
const tailSize = 64 << 10

// tail returns the sequence number of the file's last complete line (a
// head's, or the restored head of a restore marker; 0 for an empty file) and
// whether the file ends with a torn line.
func (f *File) tail(fh *os.File) (last int64, torn bool, err error) {
	st, err := fh.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("audit anchor %s: %w", f.path, err)
	}
	size := st.Size()
	if size == 0 {
		return 0, false, nil
	}
	off := max(size-tailSize, 0)
	buf := make([]byte, size-off)
	if _, err := fh.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("read audit anchor %s: %w", f.path, err)
	}
	torn = buf[len(buf)-1] != '\n'
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte{'\n'})
	if torn {
		lines = lines[:len(lines)-1]
	}
	for i := len(lines) - 1; i >= 0; i-- {
		b := bytes.TrimSpace(lines[i])
		if len(b) == 0 || (i == 0 && off > 0) {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil || l.V == 0 {
			if b[0] == '{' && !json.Valid(b) {
				continue // an earlier torn line
			}
			return 0, false, fmt.Errorf("%w: %s: its last line is not an audit head", ErrCorrupt, f.path)
		}
		if l.Restore != nil {
			return l.Restore.ToSeq, torn, nil
		}
		return l.Seq, torn, nil
	}
	return 0, torn, nil
}

// checkWindow is how much of the file's end Check reads: at ~170 bytes a
// head, the last six thousand commits or so. Reading the whole file at
// every command would cost what the history holds (a line per commit, for
// years); `audit verify` reads it all.
const checkWindow = 1 << 20

// Check reads the complete lines of the file's last checkWindow bytes and
// returns ErrCorrupt (naming the byte offset) for one that is neither a
// head nor a restore marker, other than a torn last line. Every command
// that writes calls it before changing anything (adversarial pass 8 F4:
// writers read only the last line, and went on appending behind a corrupt
// one that `audit verify` then refused).
func (f *File) Check() error {
	fh, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open audit anchor %s: %w", f.path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("audit anchor %s: %w", f.path, err)
	}
	off := max(st.Size()-checkWindow, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := fh.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read audit anchor %s: %w", f.path, err)
	}
	if off > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil
		}
		off, buf = off+int64(i)+1, buf[i+1:]
	}
	pos := off
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil // a torn last line: skipped, as readers do
		}
		b := bytes.TrimSpace(buf[:i])
		if len(b) > 0 {
			var l line
			if err := json.Unmarshal(b, &l); err != nil || l.V == 0 || (l.Restore == nil && (l.Seq <= 0 || l.Hash == "")) {
				if !(b[0] == '{' && !json.Valid(b) && bytes.IndexByte(b, '}') < 0) { // not a torn line closed by an append
					return fmt.Errorf("%w: %s: the line at byte %d is not an audit head (run `oubli audit verify`; restore the file from its copy)", ErrCorrupt, f.path, pos)
				}
			}
		}
		pos += int64(i) + 1
		buf = buf[i+1:]
	}
	return nil
}
