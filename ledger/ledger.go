// Package ledger is the erasure ledger: an append-only file, kept outside the
// store, with one JSON line per erased subject holding keyed hashes of the
// subject's identifiers. Restoring a backup of the store does not undo an
// erasure: `oubli erase --reapply` reads the ledger and erases again every
// subject it names that is back in the store, and ingest refuses to re-import
// them.
//
// The ledger holds no identifier, only keyed hashes (store.Hasher). The key
// (OUBLI_SECRET, or the one generated and kept in the store) must therefore be
// kept with the ledger: each entry carries a fingerprint of the key so that a
// ledger read with another key is detected instead of silently matching
// nothing.
package ledger

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
)

// Version is the format version written in every entry.
const Version = 1

// ErrCorrupt is returned when a line other than a torn last line cannot be read.
var ErrCorrupt = errors.New("erasure ledger corrupt")

// ErrKeyMismatch is returned when the ledger's entries were hashed with a
// different key than the one in use.
var ErrKeyMismatch = errors.New("erasure ledger written with another key")

// Hasher makes keyed hashes; *store.Hasher is one.
type Hasher interface {
	Hash(kind, value string) string
}

// Entry is one erased subject.
type Entry struct {
	V       int    `json:"v"`
	At      string `json:"at"`  // RFC 3339, UTC
	Key     string `json:"key"` // fingerprint of the hashing key (KeyFingerprint)
	UserID  string `json:"user_id"`
	Email   string `json:"email"`
	Pseudo  string `json:"pseudo"`
	Request string `json:"request,omitempty"` // request id of the register, if any
}

// KeyFingerprint identifies the hashing key without revealing it.
func KeyFingerprint(h Hasher) string { return h.Hash("ledger-key", "oubli") }

// NewEntry returns the entry for a subject erased at `at`, hashing its
// identifiers with h.
func NewEntry(h Hasher, at time.Time, userID, email, pseudo, request string) Entry {
	return Entry{
		V: Version, At: at.UTC().Format(time.RFC3339Nano), Key: KeyFingerprint(h),
		UserID: h.Hash("user_id", userID), Email: h.Hash("email", email), Pseudo: h.Hash("pseudo", pseudo),
		Request: request,
	}
}

// Append writes e as one line at the end of the ledger file at path (created
// 0600 if absent) and syncs it to disk before returning. A torn last line left
// by an earlier crash is terminated first so that e stays readable.
func Append(path string, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("erasure ledger entry: %w", err)
	}
	b = append(b, '\n')
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	if created {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("erasure ledger %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open erasure ledger %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			b = append([]byte{'\n'}, b...) // close the torn line; readers skip it
		}
	}
	// One write call with O_APPEND: concurrent appenders do not interleave.
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("append to erasure ledger %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync erasure ledger %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close erasure ledger %s: %w", path, err)
	}
	if created {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// Read calls fn for every entry of the ledger at path, in order. A missing
// file is an empty ledger. A last line without its newline (a write torn by
// a crash) is skipped; any other unreadable line is ErrCorrupt, naming the
// line.
func Read(path string, fn func(Entry) error) error {
	f, err := open(path)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	return read(f, path, fn)
}

// open opens the ledger for reading: nil and no error when it does not
// exist (a ledger with no entry yet).
func open(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open erasure ledger %s: %w", path, err)
	}
	return f, nil
}

func read(r io.Reader, path string, fn func(Entry) error) error {
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A line without its newline is a torn write: the entry was
			// never reported done, so it is ignored.
			return nil
		}
		if err != nil {
			return fmt.Errorf("read erasure ledger %s: %w", path, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil || e.V == 0 || e.UserID == "" {
			if isTornPrefix(b) {
				continue // a torn line later closed by Append
			}
			return fmt.Errorf("%w: %s line %d: not a ledger entry", ErrCorrupt, path, line)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// isTornPrefix reports whether b looks like the start of an entry cut short,
// as Append leaves it when it closes a torn line: a '{' without a valid end.
func isTornPrefix(b []byte) bool {
	return len(b) > 0 && b[0] == '{' && !json.Valid(b)
}

// Set is the ledger loaded for lookups by keyed hash.
type Set struct {
	Entries []Entry
	userIDs map[string]int // hash → index in Entries
	emails  map[string]int
}

// Load reads the whole ledger into a Set and checks that every entry was
// hashed with h's key (else ErrKeyMismatch). The ledger holds one short line
// per erased subject, so it fits in memory.
func Load(path string, h Hasher) (*Set, error) {
	s := &Set{userIDs: map[string]int{}, emails: map[string]int{}}
	fp := KeyFingerprint(h)
	err := Read(path, func(e Entry) error {
		if e.Key != fp {
			return fmt.Errorf("%w: %s was written with a different OUBLI_SECRET than the one in use; set the secret it was written with", ErrKeyMismatch, path)
		}
		s.userIDs[e.UserID] = len(s.Entries)
		if e.Email != "" {
			s.emails[e.Email] = len(s.Entries)
		}
		s.Entries = append(s.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Len returns the number of entries.
func (s *Set) Len() int { return len(s.Entries) }

// ByUserID returns the entry of the subject whose user id hashes to hash.
func (s *Set) ByUserID(hash string) (Entry, bool) {
	i, ok := s.userIDs[hash]
	if !ok {
		return Entry{}, false
	}
	return s.Entries[i], true
}

// ByEmail returns the entry of the subject whose e-mail hashes to hash.
func (s *Set) ByEmail(hash string) (Entry, bool) {
	i, ok := s.emails[hash]
	if !ok {
		return Entry{}, false
	}
	return s.Entries[i], true
}

// tailChunk is how much ReadSince reads from the end at a time.
const tailChunk = 64 << 10

// ReadSince calls fn for the entries recorded after since, newest first,
// reading the file backwards from its end and stopping at the first entry
// older than since less a minute (entries are appended in time order, a
// concurrent erasure's a few milliseconds apart). Its cost is what was
// erased since, not the ledger's size: on a store as current as its ledger
// that is nothing. Lines it cannot read are skipped (Load reports them).
func ReadSince(path string, since time.Time, fn func(Entry) error) error {
	f, err := open(path)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("erasure ledger %s: %w", path, err)
	}
	stop := since.Add(-time.Minute)
	end := st.Size()
	var rest []byte // the start of a line whose beginning is in the next chunk back
	for end > 0 {
		off := max(end-tailChunk, 0)
		buf := make([]byte, end-off, end-off+int64(len(rest)))
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read erasure ledger %s: %w", path, err)
		}
		buf = append(buf, rest...)
		lines := bytes.Split(buf, []byte{'\n'})
		if off > 0 {
			rest, lines = lines[0], lines[1:]
		} else {
			rest = nil
		}
		for i := len(lines) - 1; i >= 0; i-- {
			b := bytes.TrimSpace(lines[i])
			if len(b) == 0 {
				continue
			}
			var e Entry
			if json.Unmarshal(b, &e) != nil || e.V == 0 || e.UserID == "" {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, e.At)
			if err == nil && at.Before(stop) {
				return nil
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		end = off
	}
	return nil
}
