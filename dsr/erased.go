package dsr

import (
	"context"
	"fmt"
	"time"

	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/store"
)

// ErasedOn reports when the erasure ledger at path records the subject named
// by key as erased (UTC, to the second): the only trace of an erased subject,
// by keyed hash. A missing or unreadable ledger knows nobody.
func ErasedOn(path string, h *store.Hasher, key store.SubjectKey) (time.Time, bool) {
	if path == "" || h == nil {
		return time.Time{}, false
	}
	set, err := ledger.Load(path, h)
	if err != nil {
		return time.Time{}, false
	}
	ent, ok := ledgerEntry(set, h, key)
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, ent.At)
	if err != nil {
		return time.Time{}, true
	}
	return at.UTC().Truncate(time.Second), true
}

// ErasedSubjectHash returns the keyed hash of the user id of the subject
// the erasure ledger at path records under key (an erased subject named by
// e-mail address: their requests are kept by that hash), or "" when the
// ledger does not know them.
func ErasedSubjectHash(path string, h *store.Hasher, key store.SubjectKey) string {
	if path == "" || h == nil {
		return ""
	}
	set, err := ledger.Load(path, h)
	if err != nil {
		return ""
	}
	ent, _ := ledgerEntry(set, h, key)
	return ent.UserID
}

// ErasedError returns the store.ErrNotFound error of a DSR command naming a
// subject that the erasure ledger records as erased ("erased on DATE"), or
// nil when the ledger does not know them.
func ErasedError(path string, h *store.Hasher, key store.SubjectKey) error {
	at, ok := ErasedOn(path, h, key)
	if !ok {
		return nil
	}
	when := "an earlier date"
	if !at.IsZero() {
		when = at.Format(time.RFC3339)
	}
	return fmt.Errorf("%s was erased on %s (erasure ledger): nothing of theirs remains to export: %w", key, when, store.ErrNotFound)
}

// ledgerEntry finds the subject named by key in the ledger: by the keyed
// hash of the user id, or of the e-mail address in the normalised form
// ingest stores and erasures record (store.NormalizeEmail: NFC, case
// folded), then as typed (entries of addresses stored before the
// normalisation). Any form of one address thus finds its entry, as
// store.FindSubject finds the subject while it exists.
func ledgerEntry(set *ledger.Set, h *store.Hasher, key store.SubjectKey) (ledger.Entry, bool) {
	if key.UserID != "" {
		return set.ByUserID(h.Hash("user_id", key.UserID))
	}
	if ent, ok := set.ByEmail(h.Hash("email", store.NormalizeEmail(key.Email))); ok {
		return ent, true
	}
	return set.ByEmail(h.Hash("email", key.Email))
}

// ErrRestoredErased marks a subject the erasure ledger records as erased
// but whose row in the store predates that erasure: a backup restored
// before `oubli erase --reapply` (a subject re-imported with
// --allow-erased after the erasure has a newer row). It wraps
// store.ErrState (exit 3).
var ErrRestoredErased = fmt.Errorf("%w: erased subject back from a restored backup", store.ErrState)

// CheckNotRestoredErased returns ErrRestoredErased (wrapped, saying when
// and what to do) when the ledger at path records subj as erased after
// their row was written: no right is exercised on such a copy but the
// erasure again (adversarial pass 8 F10: a restored subject was exported in
// full). It reads only the ledger's entries since the store's newest audit
// entry (storeHead; ledger.ReadSince): a restored store's newest entry is
// the backup's, and the erasures it lacks are all after it; on a current
// store that is the last minute's. A missing ledger knows nobody.
func CheckNotRestoredErased(path string, h *store.Hasher, subj store.Subject, storeHead time.Time) error {
	if path == "" || h == nil {
		return nil
	}
	want := h.Hash("user_id", subj.UserID)
	var at time.Time
	err := ledger.ReadSince(path, storeHead, func(e ledger.Entry) error {
		if e.UserID != want {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, e.At)
		if err == nil && t.After(at) {
			at = t
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A row written at or after the erasure is a re-import, not a copy.
	if at.IsZero() || subj.CreatedAt >= store.Millis(at) {
		return nil
	}
	return fmt.Errorf("%w: the erasure ledger records this subject as erased on %s, and the store holds a copy written before that — restored from an older backup? Run `oubli erase --reapply` first", ErrRestoredErased, at.UTC().Truncate(time.Second).Format(time.RFC3339))
}

// storeHeadTime is the time of the store's newest audit entry (zero when
// it has none).
func storeHeadTime(ctx context.Context, db *store.DB) time.Time {
	hd, ok, err := db.AuditHead(ctx)
	if err != nil || !ok || hd.At == 0 {
		return time.Time{}
	}
	return time.UnixMilli(hd.At)
}
