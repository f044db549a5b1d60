package anchor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oubli/oubli/store"
)

// ErrNothingToAccept is returned by AcceptRestore when the trail is not
// behind its anchor.
var ErrNothingToAccept = errors.New("nothing to accept")

// Catchup records the store's head in the file when the file is behind it
// (a command killed between its commit and its append), marked as a
// catch-up from the file's last head so that Verify can tell it (a file
// whose last heads were removed is caught up the same way: adversarial pass
// 7b F4). A file ahead of the store is left alone: that is for Verify to
// report.
func Catchup(ctx context.Context, db *store.DB, f *File) error {
	h, ok, err := db.AuditHead(ctx)
	if err != nil || !ok {
		return err
	}
	return f.appendHead(h, true)
}

// Result is what Verify found.
type Result struct {
	store.AuditVerification
	Anchor     string `json:"anchor"`       // the file's path
	AnchorRead int    `json:"anchor_lines"` // lines read
	// AnchorSeq is the newest head the file expects in the store (0: none).
	AnchorSeq int64 `json:"anchor_seq"`
	// AnchorFirst is the oldest head the file holds (0: none), and
	// AnchorFirstAt when it was written: the entries before it are proven
	// by the chain alone. A file lost and re-created begins late
	// (adversarial pass 7 F6: verify then said intact and nothing else).
	AnchorFirst   int64     `json:"anchor_first_seq,omitempty"`
	AnchorFirstAt time.Time `json:"anchor_first_recorded_at,omitempty"`
	// CatchUps are the heads the file received from a catch-up rather than
	// from the commit that wrote them (see Catchup), newest last, at most
	// maxCatchUps of them; CatchUpCount counts them all.
	CatchUps     []CatchUp `json:"anchor_catch_ups"`
	CatchUpCount int       `json:"anchor_catch_up_count"`
	// Restores are the restores accepted in the file, oldest first: the
	// trail is complete since each, not from its start (adversarial pass 8
	// F5: after --accept-restore, verify said intact and nothing else).
	Restores []AcceptedRestore `json:"accepted_restores"`
	// Dangling are records of the store that point to audit entries the
	// trail does not hold.
	Dangling []store.AuditReference `json:"dangling_references"`
	// Behind is set when the store's trail does not reach the file's newest
	// head (see store.AuditVerification.Diverged); Cut when, in addition,
	// records of the store point past its end (the tail was deleted, not
	// the whole store restored).
	Behind bool `json:"behind"`
	Cut    bool `json:"cut"`
}

// maxDangling bounds the references listed, maxCatchUps the catch-ups.
const (
	maxDangling = 20
	maxCatchUps = 20
)

// Verify checks the store's trail against the anchor file: the chain holds,
// every head the store still holds matches, the newest head is in the store,
// and every reference into the trail points to an entry it holds. It
// returns store.ErrAuditBroken or store.ErrAuditBehind (wrapped, saying what
// to do) when one does not.
func Verify(ctx context.Context, db *store.DB, f *File) (Result, error) {
	r := Result{Anchor: f.Path(), Dangling: []store.AuditReference{}, CatchUps: []CatchUp{}, Restores: []AcceptedRestore{}}
	c, err := f.scan()
	if err != nil {
		return r, err
	}
	heads := c.heads
	r.AnchorRead = c.lines
	r.CatchUpCount = len(c.catchUps)
	r.CatchUps = c.catchUps[max(0, len(c.catchUps)-maxCatchUps):]
	r.Restores = append([]AcceptedRestore{}, c.restores...)
	if len(heads) > 0 {
		r.AnchorSeq = heads[len(heads)-1].Seq
		r.AnchorFirst, r.AnchorFirstAt = heads[0].Seq, heads[0].Recorded
	}
	v, verr := db.VerifyAuditHeads(ctx, heads)
	r.AuditVerification = v
	if verr != nil && !errors.Is(verr, store.ErrAuditBehind) {
		return r, verr
	}
	if r.Dangling, err = db.DanglingAuditReferences(ctx, v, maxDangling); err != nil {
		return r, err
	}
	if verr != nil {
		r.Behind = true
		for _, d := range r.Dangling {
			if d.Seq > v.LastSeq || d.PastHead {
				r.Cut = true
			}
		}
		if r.Cut {
			return r, fmt.Errorf("%w: its tail was cut (%d record(s) of the store point to entries past its end, e.g. %s)",
				verr, len(r.Dangling), describe(r.Dangling[0]))
		}
		return r, fmt.Errorf("%w: the store is behind its anchor — restored from an older backup? If so, run `oubli erase --reapply`, then `oubli audit verify --accept-restore --reason TEXT`", verr)
	}
	if len(r.Dangling) > 0 {
		return r, fmt.Errorf("%w: %d record(s) point to audit entries the trail does not hold, e.g. %s", store.ErrAuditBroken, len(r.Dangling), describe(r.Dangling[0]))
	}
	return r, nil
}

func describe(d store.AuditReference) string {
	if d.Seq != 0 {
		return fmt.Sprintf("%s of %s → entry %d", d.Table, d.Key, d.Seq)
	}
	if d.PastHead {
		return fmt.Sprintf("%s %s, written after the trail's last entry → no entry", d.Table, d.Key)
	}
	return fmt.Sprintf("%s %s → no entry", d.Table, d.Key)
}

// AcceptRestore records, once the trail was found behind its anchor, that the
// store was restored on purpose: a restore marker in the file (the heads past
// the restored one are no longer expected) and an audit.accept_restore entry
// in the trail, whose head the file then records. The reason is kept in the
// file; the entry holds its SHA-256. It returns ErrNothingToAccept when the
// trail is complete, and the verification's error when it is broken
// otherwise than by being behind — a cut tail (records of the store point
// past its end) is not a restore and is never accepted.
func AcceptRestore(ctx context.Context, db *store.DB, f *File, actor, reason string, now time.Time) (Result, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Result{}, fmt.Errorf("accepting a restore needs a reason (--reason): %w", store.ErrInvalid)
	}
	r, err := Verify(ctx, db, f)
	if err == nil {
		return r, fmt.Errorf("%w: the audit trail reaches its anchor's newest head (entry %d)", ErrNothingToAccept, r.AnchorSeq)
	}
	if !r.Behind || r.Cut {
		return r, err // a cut tail is not a restore
	}
	h, _, err := db.AuditHead(ctx)
	if err != nil {
		return r, err
	}
	agreedHash := ""
	if r.AgreedSeq > 0 {
		if agreedHash, err = db.AuditHashAt(ctx, r.AgreedSeq); err != nil {
			return r, err
		}
	}
	// The marker keeps the heads the store agrees with and drops the rest.
	if err := f.AppendRestore(Restore{ToSeq: r.AgreedSeq, ToHash: agreedHash, FromSeq: r.AnchorSeq, Reason: reason, Actor: actor}); err != nil {
		return r, err
	}
	sum := sha256.Sum256([]byte(reason))
	detail := map[string]any{
		"store_head": h.Seq, "agreed_head": r.AgreedSeq, "anchor_head": r.AnchorSeq, "diverge_from": r.DivergeSeq,
		"diverged_recorded_from": r.Recorded[0].UTC().Format(time.RFC3339),
		"diverged_recorded_to":   r.Recorded[1].UTC().Format(time.RFC3339),
		"reason_sha256":          hex.EncodeToString(sum[:]),
	}
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: now, Actor: actor, Action: "audit.accept_restore", Outcome: "ok", Detail: detail})
		return err
	}); err != nil {
		return r, err
	}
	return Verify(ctx, db, f)
}
