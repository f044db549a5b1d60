package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// HoldActiveCond is the SQL condition "hold h is active at T", for a
// legal_holds table aliased h; it takes T three times as arguments. A hold
// is active at T when it was created at or before T, is not released at T
// and has not lapsed (until) at T.
const HoldActiveCond = "(h.created_at <= ? AND (h.released_at IS NULL OR h.released_at > ?) AND (h.until IS NULL OR h.until > ?))"

// HoldInForceCond is the SQL condition "hold h protects its records in a
// retention run evaluated at T", for a legal_holds table aliased h; it takes
// T three times. It is HoldActiveCond widened to every hold not released:
// a hold is in force from the moment it commits, even when that is after
// the run's evaluation time (a hold placed while the run deletes), so the
// delete-time re-check of a run sees it.
const HoldInForceCond = "((h.created_at <= ? OR h.released_at IS NULL) AND (h.released_at IS NULL OR h.released_at > ?) AND (h.until IS NULL OR h.until > ?))"

// Active reports whether the hold is active at ms (Unix milliseconds), by
// the same rule as HoldActiveCond.
func (h Hold) Active(ms int64) bool {
	return h.CreatedAt <= ms && (!h.ReleasedAt.Valid || h.ReleasedAt.Int64 > ms) && (!h.Until.Valid || h.Until.Int64 > ms)
}

// NewHoldID returns a fresh hold id ("H-" and 16 hex digits).
func NewHoldID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "H-" + hex.EncodeToString(b)
}

const holdCols = "hold_id, ticket_id, user_id, reason, created_at, until, released_at"

// AddHold inserts a legal hold on one ticket or one subject, inside tx, at
// h.CreatedAt. The ticket or subject must exist (ErrNotFound); exactly one
// must be named and the reason must not be empty (ErrInvalid).
func AddHold(ctx context.Context, tx *Tx, h Hold) error {
	_, err := addHold(ctx, tx, h, nil)
	return err
}

// AddHoldAt is AddHold with the hold's created_at read from clock inside tx,
// once the hold holds the locks that order it after every purge batch in
// flight (SQLite: the write transaction; PostgreSQL: lockForHold): a hold
// that waited for a batch is never recorded as older than that batch's
// decisions. It returns the hold as inserted.
func AddHoldAt(ctx context.Context, tx *Tx, h Hold, clock func() time.Time) (Hold, error) {
	return addHold(ctx, tx, h, clock)
}

func addHold(ctx context.Context, tx *Tx, h Hold, clock func() time.Time) (Hold, error) {
	if h.TicketID.Valid == h.UserID.Valid {
		return h, fmt.Errorf("a hold names exactly one of a ticket or a subject: %w", ErrInvalid)
	}
	if h.Reason == "" {
		return h, fmt.Errorf("a hold needs a reason: %w", ErrInvalid)
	}
	if clock == nil && h.Until.Valid && h.Until.Int64 <= h.CreatedAt {
		return h, fmt.Errorf("a hold's end (--until) must be after its start: %w", ErrInvalid)
	}
	// On PostgreSQL a purge batch in flight finishes first (and this hold
	// then finds its record gone), and later batches wait for this hold
	// (LockPurgeBatch); the target row is locked too, against a concurrent
	// erasure.
	if err := lockForHold(ctx, tx); err != nil {
		return h, err
	}
	lock := ""
	if tx.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	var ids []string
	var err error
	if h.TicketID.Valid {
		err = tx.Select(ctx, &ids, "SELECT ticket_id FROM tickets WHERE ticket_id = ?"+lock, h.TicketID.String)
		if err == nil && len(ids) == 0 {
			return h, fmt.Errorf("hold: unknown ticket: %w", ErrNotFound)
		}
	} else {
		err = tx.Select(ctx, &ids, "SELECT user_id FROM subjects WHERE user_id = ?"+lock, h.UserID.String)
		if err == nil && len(ids) == 0 {
			return h, fmt.Errorf("hold: unknown subject (by user id): %w", ErrNotFound)
		}
	}
	if err != nil {
		return h, fmt.Errorf("hold: %w", err)
	}
	if clock != nil {
		h.CreatedAt = Millis(clock())
		if h.Until.Valid && h.Until.Int64 <= h.CreatedAt {
			return h, fmt.Errorf("a hold's end (--until) must be after its start: %w", ErrInvalid)
		}
	}
	_, err = tx.Exec(ctx, "INSERT INTO legal_holds ("+holdCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		h.HoldID, h.TicketID, h.UserID, h.Reason, h.CreatedAt, h.Until, h.ReleasedAt)
	if err != nil {
		return h, fmt.Errorf("insert hold: %w", err)
	}
	return h, nil
}

// GetHold loads one hold (ErrNotFound when there is none).
func GetHold(ctx context.Context, q Querier, id string) (Hold, error) {
	var h Hold
	err := q.Get(ctx, &h, "SELECT "+holdCols+" FROM legal_holds WHERE hold_id = ?", id)
	if errors.Is(err, ErrNotFound) {
		return h, fmt.Errorf("unknown hold %q: %w", id, ErrNotFound)
	}
	return h, err
}

// ReleaseHold sets the release time of an unreleased hold, inside tx, and
// returns the hold as it was. Releasing a released hold is ErrState.
func ReleaseHold(ctx context.Context, tx *Tx, id string, at int64) (Hold, error) {
	h, err := GetHold(ctx, tx, id)
	if err != nil {
		return h, err
	}
	if h.ReleasedAt.Valid {
		return h, fmt.Errorf("hold %q was already released: %w", id, ErrState)
	}
	if _, err := tx.Exec(ctx, "UPDATE legal_holds SET released_at = ? WHERE hold_id = ? AND released_at IS NULL", at, id); err != nil {
		return h, fmt.Errorf("release hold: %w", err)
	}
	return h, nil
}

// ListHolds returns the holds active at ms, or every hold when all is set,
// oldest first.
func ListHolds(ctx context.Context, q Querier, ms int64, all bool) ([]Hold, error) {
	var hs []Hold
	var err error
	if all {
		err = q.Select(ctx, &hs, "SELECT "+holdCols+" FROM legal_holds h ORDER BY created_at, hold_id")
	} else {
		err = q.Select(ctx, &hs, "SELECT "+holdCols+" FROM legal_holds h WHERE "+HoldActiveCond+" ORDER BY created_at, hold_id", ms, ms, ms)
	}
	if err != nil {
		return nil, fmt.Errorf("list holds: %w", err)
	}
	return hs, nil
}
