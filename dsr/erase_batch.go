package dsr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/store"
)

// BatchLine is one subject of an `erase --from` file: its line number and
// key (a line holding '@' names an e-mail address, any other a user id).
type BatchLine struct {
	Line int
	Key  store.SubjectKey
}

// maxBatchErrors bounds the invalid lines an error lists.
const maxBatchErrors = 50

// ParseBatch reads an `erase --from` file: one user id or e-mail address
// per line; blank lines and lines starting with '#' are ignored, as are
// surrounding spaces, a CR before the newline and a leading byte-order
// mark. Every line is validated before anything is erased: any invalid
// line makes the whole file refused (store.ErrInvalid, exit 2) with one
// "LINE: reason" per fault, never echoing a value. A subject named twice
// is a fault (the second line names the first).
func ParseBatch(r io.Reader) ([]BatchLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	var out []BatchLine
	var bad []string
	seen := map[string]int{}
	n := 0
	for sc.Scan() {
		n++
		s := sc.Text()
		if n == 1 {
			s = strings.TrimPrefix(s, "\ufeff")
		}
		s = strings.TrimSpace(s)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, reason := batchKey(s)
		if reason == "" {
			norm := "u:" + key.UserID
			if key.Email != "" {
				norm = "e:" + store.NormalizeEmail(key.Email)
			}
			if first, dup := seen[norm]; dup {
				reason = "the same subject as line " + strconv.Itoa(first)
			} else {
				seen[norm] = n
			}
		}
		if reason != "" {
			bad = append(bad, fmt.Sprintf("%d: %s", n, reason))
			continue
		}
		out = append(out, BatchLine{Line: n, Key: key})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad = append(bad, fmt.Sprintf("%d: line longer than 64 KiB", n+1))
		} else {
			return nil, fmt.Errorf("read subjects: %w", err)
		}
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > maxBatchErrors {
			more = fmt.Sprintf("\n(and %d more invalid lines)", len(bad)-maxBatchErrors)
			bad = bad[:maxBatchErrors]
		}
		return nil, fmt.Errorf("%d invalid line(s), nothing erased:\n%s%s: %w", len(bad), strings.Join(bad, "\n"), more, store.ErrInvalid)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no subject in the file (one user id or e-mail address per line): %w", store.ErrInvalid)
	}
	return out, nil
}

// batchKey reads one line's subject, or says why it is not one.
func batchKey(s string) (store.SubjectKey, string) {
	switch {
	case !utf8.ValidString(s):
		return store.SubjectKey{}, "not valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return store.SubjectKey{}, "contains a control character"
	case !strings.Contains(store.NormalizeIdentifier(s), "@") && hasInvisible(s):
		// A user id with a zero-width space looks like another: an invalid
		// line, not "not found" (adversarial pass 8 F20).
		return store.SubjectKey{}, "user id holds an invisible character (zero-width, joiner, bidi control, soft hyphen or the like)"
	case strings.Contains(store.NormalizeIdentifier(s), "@"):
		// An address however written: a full-width ＠ is an @ after NFKC,
		// as `erase --email` and `subjects find` compare it (F11).
		if err := ingest.ValidEmail(store.NormalizeEmail(s)); err != nil {
			return store.SubjectKey{}, "e-mail address: " + err.Error()
		}
		return store.SubjectKey{Email: s}, ""
	case len(s) > ingest.MaxIDBytes:
		return store.SubjectKey{}, fmt.Sprintf("user id longer than %d bytes", ingest.MaxIDBytes)
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return store.SubjectKey{}, "more than one word (one user id or e-mail address per line)"
	}
	return store.SubjectKey{UserID: s}, ""
}

// Batch outcomes of one subject.
const (
	BatchErased        = "erased"
	BatchWouldErase    = "would_erase"
	BatchAlreadyErased = "already_erased"
	BatchIncomplete    = "incomplete" // committed, follow-up left (ErrIncomplete)
	BatchFailed        = "failed"
	BatchNotFound      = "not_found" // neither in the store nor in the ledger
	BatchNotRun        = "not_run"   // the batch was interrupted before it
)

// BatchOutcome is what happened to one subject of a batch. It holds no
// personal data: the line number and the keyed hash stand for the subject.
type BatchOutcome struct {
	Line       int              `json:"line"`
	Outcome    string           `json:"outcome"`
	SubjectRef string           `json:"subject_ref,omitempty"`
	RequestID  string           `json:"request_id,omitempty"`
	Deleted    map[string]int64 `json:"deleted,omitempty"`
	Kept       int              `json:"kept"`
	Left       []string         `json:"left,omitempty"`
	Error      string           `json:"error,omitempty"`
	// Residue is what the erasure's residue check found (nil when it did
	// not run: a dry run, a subject not erased now).
	Residue *BatchResidue `json:"residue,omitempty"`
}

// BatchResidue is one subject's residue check in a batch report: counts by
// place (table.column, or "blobs"), never a value.
type BatchResidue struct {
	// Found counts the identifiers left outside the records the policies
	// keep (the erasure failed: ErrResidue).
	Found map[string]int64 `json:"found,omitempty"`
	// InsideKept counts hits inside the subject's kept records.
	InsideKept int64 `json:"inside_kept"`
	// Findings and Ambiguous count strong and weak identifiers in other
	// people's records (oubli residue list).
	Findings  map[string]int64 `json:"findings,omitempty"`
	Ambiguous map[string]int64 `json:"ambiguous,omitempty"`
	// Deferred lists the places the erasure left to the sweep.
	Deferred []string `json:"deferred,omitempty"`
}

func batchResidue(r *Residue) *BatchResidue {
	if r == nil {
		return nil
	}
	b := &BatchResidue{Deferred: r.Deferred}
	for _, n := range r.Kept {
		b.InsideKept += n
	}
	nonzero := func(m map[string]int64) map[string]int64 {
		var out map[string]int64
		for k, n := range m {
			if n > 0 {
				if out == nil {
					out = map[string]int64{}
				}
				out[k] = n
			}
		}
		return out
	}
	b.Found, b.Findings, b.Ambiguous = nonzero(r.Found), nonzero(r.Findings), nonzero(r.Ambiguous)
	return b
}

// BatchReport is the one report of `erase --from`.
type BatchReport struct {
	DryRun        bool           `json:"dry_run"`
	Subjects      int            `json:"subjects"`
	Erased        int            `json:"erased"`
	AlreadyErased int            `json:"already_erased"`
	Incomplete    int            `json:"incomplete"`
	Failed        int            `json:"failed"`
	NotFound      int            `json:"not_found"`
	Seconds       float64        `json:"seconds"`
	Outcomes      []BatchOutcome `json:"outcomes"`
}

// ErrBatchFailed marks a batch in which at least one subject failed (exit
// 1); the others were erased and the report lists each outcome.
var ErrBatchFailed = errors.New("erasure failed for some subjects")

// EraseBatch erases each subject of lines in turn, each in its own
// transaction with its own ledger line and request: a subject's pending
// erasure request (open or in progress, without an erasure yet — one a
// killed batch opened, or one the DPO registered) is executed and closed,
// else one is opened and closed. A failing subject does not stop the
// others: the error (ErrBatchFailed, exit 1) comes at the end and names
// their lines; a subject erased before (the ledger) is "already_erased",
// not a failure, so that rerunning a batch converges. progress, when set,
// is called after each subject.
func (e *Eraser) EraseBatch(ctx context.Context, lines []BatchLine, dryRun bool, progress func()) (*BatchReport, error) {
	start := time.Now()
	if err := e.sameSubjects(ctx, lines); err != nil {
		return nil, err
	}
	rep := &BatchReport{DryRun: dryRun, Subjects: len(lines), Outcomes: make([]BatchOutcome, 0, len(lines))}
	// The schema the residue checks look at, read once for the batch
	// (unreadable: each erasure reads it, and says so).
	if sch, err := residue.ReadSchema(ctx, e.DB); err == nil {
		e.schema = sch
		defer func() { e.schema = nil }()
	}
	var failed, incomplete, notFound []string
	for i, l := range lines {
		if err := ctx.Err(); err != nil {
			for _, rest := range lines[i:] {
				rep.Outcomes = append(rep.Outcomes, BatchOutcome{Line: rest.Line, Outcome: BatchNotRun})
			}
			rep.Seconds = time.Since(start).Seconds()
			return rep, fmt.Errorf("erase --from interrupted before line %d (%d of %d subjects done): %w", l.Line, i, len(lines), err)
		}
		o := e.batchOne(ctx, l, dryRun)
		switch o.Outcome {
		case BatchErased, BatchWouldErase:
			rep.Erased++
		case BatchAlreadyErased:
			rep.AlreadyErased++
		case BatchIncomplete:
			rep.Incomplete++
			incomplete = append(incomplete, strconv.Itoa(l.Line))
		case BatchNotFound:
			rep.NotFound++
			notFound = append(notFound, strconv.Itoa(l.Line))
		default:
			rep.Failed++
			failed = append(failed, strconv.Itoa(l.Line))
		}
		rep.Outcomes = append(rep.Outcomes, o)
		if progress != nil {
			progress()
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	// One error naming every line that needs a look; its sentinel (the
	// exit code) is the most serious: a failure (1), then a follow-up left
	// (6), then an unknown subject (5, as `erase` of one subject).
	var msgs []string
	var sentinel error
	note := func(lines []string, msg string, err error) {
		if len(lines) == 0 {
			return
		}
		msgs = append(msgs, fmt.Sprintf(msg, len(lines), rep.Subjects, strings.Join(lines, ", ")))
		if sentinel == nil {
			sentinel = err
		}
	}
	note(failed, "%d of %d subjects not erased (lines %s; see the report)", ErrBatchFailed)
	note(incomplete, "%d of %d erasures committed with a follow-up left (lines %s): rerun `oubli erase --from` with the same file", ErrIncomplete)
	note(notFound, "%d of %d subjects unknown, neither in the store nor in the erasure ledger (lines %s)", store.ErrNotFound)
	if sentinel != nil {
		return rep, fmt.Errorf("%s: %w", strings.Join(msgs, "; "), sentinel)
	}
	return rep, nil
}

// sameSubjects refuses (store.ErrInvalid, exit 2, before anything is
// erased) a batch naming one subject on two lines in different ways — by
// user id and by e-mail address, or by two forms of one address —, which
// ParseBatch cannot see: each line is resolved to its subject, in the
// store or, for a subject erased before, in the ledger, and compared by
// the keyed hash of the user id. Dry and real runs thus agree about it.
func (e *Eraser) sameSubjects(ctx context.Context, lines []BatchLine) error {
	var set *ledger.Set
	loaded := false
	seen := make(map[string]int, len(lines))
	var bad []string
	for _, l := range lines {
		id := ""
		subj, err := store.FindSubject(ctx, e.DB, l.Key)
		switch {
		case err == nil:
			id = e.Hasher.Hash("user_id", subj.UserID)
		case errors.Is(err, store.ErrNotFound):
			if !loaded && e.Ledger != "" {
				set, _ = ledger.Load(e.Ledger, e.Hasher) // unreadable: its subjects are found by their line's erasure
				loaded = true
			}
			if set != nil {
				if ent, ok := ledgerEntry(set, e.Hasher, l.Key); ok {
					id = ent.UserID
				}
			}
		case errors.Is(err, store.ErrInvalid):
			// Two subjects share the address: the erasure reports it.
		default:
			return fmt.Errorf("erase --from: line %d: %w", l.Line, err)
		}
		if id == "" {
			continue // unknown: ParseBatch compared the line as written
		}
		if first, dup := seen[id]; dup {
			bad = append(bad, fmt.Sprintf("%d: the same subject as line %d", l.Line, first))
			continue
		}
		seen[id] = l.Line
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > maxBatchErrors {
			more = fmt.Sprintf("\n(and %d more invalid lines)", len(bad)-maxBatchErrors)
			bad = bad[:maxBatchErrors]
		}
		return fmt.Errorf("%d invalid line(s), nothing erased:\n%s%s: %w", len(bad), strings.Join(bad, "\n"), more, store.ErrInvalid)
	}
	return nil
}

// batchOne erases one subject of a batch.
func (e *Eraser) batchOne(ctx context.Context, l BatchLine, dryRun bool) BatchOutcome {
	o := BatchOutcome{Line: l.Line}
	opt := EraseOptions{DryRun: dryRun, closeRequest: true}
	reqID, err := e.pendingRequest(ctx, l.Key)
	if err != nil {
		o.Outcome, o.Error = BatchFailed, err.Error()
		return o
	}
	opt.RequestID = reqID
	r, err := e.Erase(ctx, l.Key, opt)
	if r != nil {
		o.SubjectRef, o.RequestID, o.Deleted, o.Kept, o.Left = r.SubjectRef, r.RequestID, r.Deleted, len(r.Kept), r.Left
		o.Residue = batchResidue(r.Residue)
	}
	switch {
	case err == nil && dryRun:
		o.Outcome = BatchWouldErase
	case err == nil:
		o.Outcome = BatchErased
	case errors.Is(err, ErrIncomplete):
		o.Outcome, o.Error = BatchIncomplete, err.Error()
	case errors.Is(err, store.ErrNotFound) || e.erasedMeanwhile(ctx, l.Key):
		// Erased before, or by another erasure while this one ran (a
		// pending request it took was closed by it: ErrState).
		if ent, ok := e.ledgerEntryOf(l.Key); ok {
			o.Outcome, o.Error = BatchAlreadyErased, ""
			if !dryRun && e.followUpPending(ctx, ent.Request) {
				// Erased by an earlier run whose follow-up is still
				// pending: finish it, as `erase --request` does, and say
				// what is still left (adversarial pass F8: the rerun said
				// already_erased, exit 0).
				r, err := e.Erase(ctx, l.Key, EraseOptions{RequestID: ent.Request})
				if r != nil {
					o.SubjectRef, o.RequestID, o.Left = r.SubjectRef, r.RequestID, r.Left
					o.Residue = batchResidue(r.Residue)
				}
				switch {
				case errors.Is(err, ErrIncomplete):
					o.Outcome, o.Error = BatchIncomplete, err.Error()
				case err != nil:
					o.Outcome, o.Error = BatchFailed, err.Error()
				}
			}
			if !dryRun {
				// A rerun converges: requests left pending for the subject by
				// a killed or losing batch are closed as answered.
				_, _ = e.Register.CloseAlreadyErased(ctx, ent.UserID, ledgerDate(ent.At), ent.Request)
			}
			break
		}
		o.Outcome, o.Error = BatchNotFound, err.Error()
	default:
		o.Outcome, o.Error = BatchFailed, err.Error()
	}
	return o
}

// followUpPending reports whether the erasure recorded for request id has
// a follow-up recorded pending and not done since.
func (e *Eraser) followUpPending(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	acts, err := store.RequestActions(ctx, e.DB, id)
	if err != nil {
		return false
	}
	pending := false
	for _, a := range acts {
		if a.Action == "erase.followup" {
			pending = a.Outcome == "pending"
		}
	}
	return pending
}

// erasedMeanwhile reports whether the subject of key is gone from the store
// and in the ledger.
func (e *Eraser) erasedMeanwhile(ctx context.Context, key store.SubjectKey) bool {
	if _, err := store.FindSubject(ctx, e.DB, key); !errors.Is(err, store.ErrNotFound) {
		return false
	}
	_, ok := e.ledgerEntryOf(key)
	return ok
}

// pendingRequest returns the subject's oldest erasure request that is open
// or in progress and holds no erasure yet, or "".
func (e *Eraser) pendingRequest(ctx context.Context, key store.SubjectKey) (string, error) {
	subj, err := store.FindSubject(ctx, e.DB, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil // Erase says what it is
	}
	if err != nil {
		return "", err
	}
	reqs, err := store.SubjectRequests(ctx, e.DB, e.Register.SubjectHash(subj.UserID))
	if err != nil {
		return "", err
	}
	for _, q := range reqs {
		if q.Type != "erasure" || (q.Status != store.RequestOpen && q.Status != store.RequestInProgress) {
			continue
		}
		acts, err := store.RequestActions(ctx, e.DB, q.RequestID)
		if err != nil {
			return "", err
		}
		erased := false
		for _, a := range acts {
			erased = erased || a.Action == "erase"
		}
		if !erased {
			return q.RequestID, nil
		}
	}
	return "", nil
}

func hasInvisible(s string) bool {
	_, _, ok := store.InvisibleRune(s)
	return ok
}
