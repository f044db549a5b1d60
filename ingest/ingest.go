// Package ingest loads support-contact data from JSON Lines files (the
// format of INTERFACE.md, "Ingest format") into the store and the blob store.
//
// A file is read twice, streaming: the first pass validates every line and
// collects every fault; if there is any, nothing is written and the faults
// are returned as a *FaultsError, each naming its line. The second pass
// loads the file in one database transaction. Attachment contents are
// decoded into the blob store before the commit; if the load fails, the
// blobs written by the run are removed again. Memory does not grow with the
// file's size: only 16 bytes per distinct identifier are kept (to find
// duplicates), plus one line at a time (at most Options.MaxLineBytes).
package ingest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// DefaultMaxLineBytes is the longest line accepted unless Options say
// otherwise; a longer line is a fault, not an out-of-memory.
const DefaultMaxLineBytes = 64 << 20

// MaxFaults is how many faults a FaultsError lists; the rest are counted.
const MaxFaults = 1000

// ErrInvalid marks a file that was rejected whole (exit 2).
var ErrInvalid = errors.New("invalid ingest file")

// ErrChanged is returned when the file changed between the validation and
// the load passes; nothing is written.
var ErrChanged = errors.New("ingest file changed while it was being loaded")

// Options tune an ingest.
type Options struct {
	// Erased reports whether a subject was erased (the erasure ledger). It
	// is called once per distinct subject of the file, with the e-mail
	// address "" for subjects named only by an account event. Nil means no
	// subject is known to be erased.
	Erased func(userID, email string) (bool, error)
	// ReloadErased re-reads the erasure ledger: it returns a lookup like
	// Erased over the ledger as it is now, and whether the ledger changed
	// since Erased was made. The load calls it inside its transaction, after
	// it has locked each batch's subjects, so that an erasure committed while
	// the file was being validated is seen at commit. Nil means the ledger
	// does not change during the ingest.
	ReloadErased func() (erased func(userID, email string) (bool, error), changed bool, err error)
	// AllowErased lets a file re-import subjects that Erased reports.
	AllowErased bool
	// DryRun validates and reports what would be loaded, writing nothing.
	DryRun bool
	// MaxLineBytes bounds a line (DefaultMaxLineBytes when 0).
	MaxLineBytes int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Actor names who ingests, for the audit trail ("cli" when empty).
	Actor string
}

// Fault is one problem of one line.
type Fault struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (f Fault) String() string { return fmt.Sprintf("%d: %s", f.Line, f.Reason) }

// FaultsError lists the faults of a rejected file. It wraps ErrInvalid.
type FaultsError struct {
	Faults []Fault // at most MaxFaults, in line order
	More   int     // faults not listed
}

func (e *FaultsError) Error() string {
	var b strings.Builder
	n := len(e.Faults) + e.More
	fmt.Fprintf(&b, "%s: %d fault(s), nothing was written", ErrInvalid, n)
	for _, f := range e.Faults {
		b.WriteString("\n")
		b.WriteString(f.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n… and %d more", e.More)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FaultsError) Unwrap() error { return ErrInvalid }

// Result is what an ingest loaded (or, in a dry run, would load).
type Result struct {
	File            string `json:"file_sha256"`
	Lines           int64  `json:"lines"`
	Subjects        int64  `json:"subjects"`
	Tickets         int64  `json:"tickets"`
	Messages        int64  `json:"messages"`
	Attachments     int64  `json:"attachments"`
	AttachmentBytes int64  `json:"attachment_bytes"`
	AccountEvents   int64  `json:"account_events"`
	BlobsWritten    int64  `json:"blobs_written"`
	BlobsReplaced   int64  `json:"blobs_replaced"`
	ErasedReimports int64  `json:"erased_reimported"`
	DryRun          bool   `json:"dry_run"`
	AuditSeq        int64  `json:"audit_seq,omitempty"`
}

// Reader ingests from r (for example stdin): it is spooled to a temporary
// file first, since the load reads the data twice. On Linux the spool file
// never has a name (O_TMPFILE, reopened through /proc/self/fd), so that an
// ingest killed while it reads leaves no file with e-mail addresses behind
// (issue 17); elsewhere, or on a file system without O_TMPFILE, the name is
// removed before any data is written where the file can still be reopened.
func Reader(ctx context.Context, db *store.DB, bs blobs.Store, r io.Reader, opts Options) (Result, error) {
	if f, path, ok := unnamedSpool(); ok {
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			return Result{}, fmt.Errorf("spool input: %w", err)
		}
		return File(ctx, db, bs, path, opts)
	}
	f, err := os.CreateTemp("", "oubli-ingest-*.jsonl")
	if err != nil {
		return Result{}, fmt.Errorf("spool input: %w", err)
	}
	defer f.Close()
	path := f.Name()
	if p := fmt.Sprintf("/proc/self/fd/%d", f.Fd()); runtime.GOOS == "linux" && canReopen(p) {
		if err := os.Remove(f.Name()); err != nil {
			return Result{}, fmt.Errorf("spool input: %w", err)
		}
		path = p
	} else {
		defer os.Remove(f.Name())
	}
	if _, err := io.Copy(f, r); err != nil {
		return Result{}, fmt.Errorf("spool input: %w", err)
	}
	return File(ctx, db, bs, path, opts)
}

// canReopen reports whether p (a /proc/self/fd link) can be opened.
func canReopen(p string) bool {
	g, err := os.Open(p)
	if err != nil {
		return false
	}
	g.Close()
	return true
}

// File validates and loads the JSON Lines file at path.
func File(ctx context.Context, db *store.DB, bs blobs.Store, path string, opts Options) (Result, error) {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	res, deferred, err := validateFile(ctx, storeKnows(db), storeOwners(db), path, opts)
	if err != nil || opts.DryRun {
		return res, err
	}
	return load(ctx, db, bs, path, res, deferred, opts)
}

// scan calls fn with every non-blank line of the file and its number, and
// returns the file's SHA-256. A line longer than max is reported to fn with
// a nil slice and tooLong set.
func scan(ctx context.Context, path string, max int, fn func(n int, line []byte, tooLong bool) error) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
		// A file that is not there is bad input (exit 2), not a failure.
		return "", fmt.Errorf("open ingest file: %w: %w", ErrInvalid, err)
	}
	if err != nil {
		return "", fmt.Errorf("open ingest file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	r := bufio.NewReaderSize(io.TeeReader(f, h), 1<<20)
	var buf []byte
	for n := 1; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
		}
		buf = buf[:0]
		tooLong := false
		var rerr error
		for {
			chunk, err := r.ReadSlice('\n')
			if !tooLong {
				if len(buf)+len(chunk) > max+2 { // room for "\r\n"
					tooLong, buf = true, buf[:0]
				} else {
					buf = append(buf, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		if rerr != nil && rerr != io.EOF {
			return "", fmt.Errorf("read ingest file: %w", rerr)
		}
		line := buf
		if n == 1 {
			line = trimBOM(line)
		}
		line = trimEOL(line)
		if tooLong || len(strings.TrimSpace(string(line))) > 0 {
			if tooLong {
				line = nil
			}
			if err := fn(n, line, tooLong); err != nil {
				return "", err
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// idSet remembers identifiers by a 128-bit keyed hash (two random maphash
// seeds), with the line of their first occurrence.
type idSet struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]int32
}

func newIDSet() *idSet {
	return &idSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: make(map[[2]uint64]int32)}
}

// add records id at line and returns the line it was first seen on (0 if new).
func (s *idSet) add(id string, line int) int {
	k := [2]uint64{maphash.String(s.s1, id), maphash.String(s.s2, id)}
	if first, ok := s.m[k]; ok {
		return int(first)
	}
	s.m[k] = int32(line)
	return 0
}

// userSeen is what the validation keeps per subject: where it was first
// defined and a digest of its fields, so that two lines describing one
// subject differently are caught.
type userSeen struct {
	line   int32
	digest [2]uint64
}

// validate is the first pass.
func validate(ctx context.Context, known knownFunc, path string, opts Options) (Result, error) {
	res, _, err := validateFile(ctx, known, nil, path, opts)
	return res, err
}

// knownFunc returns which of the given user ids the store holds.
type knownFunc func(ctx context.Context, ids []string) (map[string]bool, error)

// storeKnows is knownFunc over a store.
func storeKnows(db *store.DB) knownFunc {
	return func(ctx context.Context, ids []string) (map[string]bool, error) {
		return store.KnownSubjects(ctx, db, ids)
	}
}

// validateFile is the first pass. It also returns the lines of the account
// events whose subject is defined by a later ticket line: the load defers
// them until the subjects exist.
func validateFile(ctx context.Context, knownSubjects knownFunc, owners ownersFunc, path string, opts Options) (Result, map[int]bool, error) {
	var (
		res         Result
		faults      []Fault
		more        int
		tickets     = newIDSet()
		messages    = newIDSet()
		attachments = newIDSet()
		events      = newIDSet()
		users       = make(map[[2]uint64]userSeen)
		// E-mail addresses (normalised) → the subject that first had it.
		emails = make(map[[2]uint64]userSeen)
		seed1  = maphash.MakeSeed()
		seed2  = maphash.MakeSeed()
		// Subjects named only by account events so far: checked against the
		// file's ticket lines and then against the store at the end.
		eventUsers = make(map[string][]int32)
		deferred   = make(map[int]bool)
		// Records that exist in the store under another owner (issue 17).
		ownership ownerCheck
	)
	fault := func(line int, reason string) {
		if len(faults) < MaxFaults {
			faults = append(faults, Fault{Line: line, Reason: reason})
		} else {
			more++
		}
	}
	erased := func(line int, userID, email string) error {
		if opts.Erased == nil {
			return nil
		}
		was, err := opts.Erased(userID, email)
		if err != nil {
			return fmt.Errorf("erasure ledger lookup: %w", err)
		}
		if was {
			if opts.AllowErased {
				res.ErasedReimports++
			} else {
				fault(line, "subject was erased (it is in the erasure ledger); use --allow-erased to re-import it")
			}
		}
		return nil
	}
	dup := func(set *idSet, what, field, id string, line int) {
		if first := set.add(id, line); first != 0 && first != line {
			fault(line, fmt.Sprintf("%s: duplicate %s id %s (first on line %d)", field, what, id, first))
		}
	}
	sum, err := scan(ctx, path, opts.MaxLineBytes, func(n int, line []byte, tooLong bool) error {
		res.Lines++
		if tooLong {
			fault(n, fmt.Sprintf("line longer than %d bytes", opts.MaxLineBytes))
			return nil
		}
		rec, fs := parseLine(line)
		for _, f := range fs {
			fault(n, f)
		}
		if len(fs) == 0 {
			switch {
			case rec.Ticket != nil:
				k := [2]uint64{maphash.String(seed1, rec.Ticket.User.ID), maphash.String(seed2, rec.Ticket.User.ID)}
				_, seen := users[k]
				ownership.addTicket(rec.Ticket, n, !seen)
			case rec.Event != nil:
				ownership.add(store.OwnedEvent, rec.Event.ID, rec.Event.UserID, n, 0)
			}
			if ownership.full() {
				fs, err := ownership.run(ctx, owners)
				if err != nil {
					return err
				}
				for _, f := range fs {
					fault(f.Line, f.Reason)
				}
			}
		}
		switch {
		case rec.Ticket != nil:
			t := rec.Ticket
			res.Tickets++
			res.Messages += int64(len(t.Messages))
			res.Attachments += int64(len(t.Attachments))
			if t.ID != "" {
				dup(tickets, "ticket", "ticket_id", t.ID, n)
			}
			for i, m := range t.Messages {
				if m.ID != "" {
					dup(messages, "message", fmt.Sprintf("messages[%d].message_id", i), m.ID, n)
				}
			}
			for i, a := range t.Attachments {
				res.AttachmentBytes += a.Size
				if a.ID != "" {
					dup(attachments, "attachment", fmt.Sprintf("attachments[%d].attachment_id", i), a.ID, n)
				}
			}
			if u := t.User; u.ID != "" {
				k := [2]uint64{maphash.String(seed1, u.ID), maphash.String(seed2, u.ID)}
				d := userDigest(seed1, seed2, u)
				if seen, ok := users[k]; !ok {
					users[k] = userSeen{line: int32(n), digest: d}
					if u.Email != "" {
						ek := store.NormalizeEmail(u.Email)
						ek2 := [2]uint64{maphash.String(seed1, ek), maphash.String(seed2, ek)}
						if other, ok := emails[ek2]; ok && other.digest != k {
							fault(n, fmt.Sprintf("user.email: the subject on line %d has the same e-mail address (%s)", other.line, store.IdentifierNormalisation))
						} else if !ok {
							emails[ek2] = userSeen{line: int32(n), digest: k}
						}
					}
					res.Subjects++
					for _, l := range eventUsers[u.ID] {
						deferred[int(l)] = true
					}
					delete(eventUsers, u.ID)
					if len(fs) == 0 {
						if err := erased(n, u.ID, u.Email); err != nil {
							return err
						}
					}
				} else if seen.digest != d {
					fault(n, fmt.Sprintf("user: differs from the same subject's data on line %d (one file must describe a subject one way)", seen.line))
				}
			}
		case rec.Event != nil:
			e := rec.Event
			res.AccountEvents++
			if e.ID != "" {
				dup(events, "event", "event_id", e.ID, n)
			}
			if e.UserID != "" {
				k := [2]uint64{maphash.String(seed1, e.UserID), maphash.String(seed2, e.UserID)}
				if _, ok := users[k]; !ok {
					eventUsers[e.UserID] = append(eventUsers[e.UserID], int32(n))
				}
			}
		}
		return nil
	})
	if err != nil {
		return res, nil, err
	}
	res.File = sum
	ofs, err := ownership.run(ctx, owners)
	if err != nil {
		return res, nil, err
	}
	for _, f := range ofs {
		fault(f.Line, f.Reason)
	}
	if len(eventUsers) > 0 {
		// Subjects named by events before (or without) their ticket lines.
		ids := make([]string, 0, len(eventUsers))
		for id := range eventUsers {
			k := [2]uint64{maphash.String(seed1, id), maphash.String(seed2, id)}
			if _, ok := users[k]; ok {
				continue // defined by a later ticket line
			}
			ids = append(ids, id)
		}
		sort.Strings(ids)
		known, err := knownSubjects(ctx, ids)
		if err != nil {
			return res, nil, err
		}
		for _, id := range ids {
			lines := eventUsers[id]
			if !known[id] {
				for _, l := range lines {
					fault(int(l), "user_id: unknown subject (not in this file nor in the store)")
				}
				continue
			}
			if err := erased(int(lines[0]), id, ""); err != nil {
				return res, nil, err
			}
		}
	}
	if res.Lines == 0 {
		fault(1, "empty file: no records")
	}
	if len(faults) > 0 || more > 0 {
		sort.SliceStable(faults, func(i, j int) bool { return faults[i].Line < faults[j].Line })
		return res, nil, &FaultsError{Faults: faults, More: more}
	}
	res.DryRun = opts.DryRun
	return res, deferred, nil
}

func userDigest(s1, s2 maphash.Seed, u user) [2]uint64 {
	var b strings.Builder
	for _, f := range []string{u.ID, u.Email, u.Pseudo, fmtTime(u.CreatedAt), fmtTime(u.ClosedAt)} {
		fmt.Fprintf(&b, "%d:%s", len(f), f)
	}
	return [2]uint64{maphash.String(s1, b.String()), maphash.String(s2, b.String())}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// sha256Hasher is a SHA-256 writer that returns its sum in hex.
type sha256Hasher struct{ hash.Hash }

func newSHA256() sha256Hasher      { return sha256Hasher{sha256.New()} }
func (h sha256Hasher) hex() string { return hex.EncodeToString(h.Sum(nil)) }
