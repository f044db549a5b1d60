package dsr

import (
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
	var ent ledger.Entry
	var ok bool
	if key.UserID != "" {
		ent, ok = set.ByUserID(h.Hash("user_id", key.UserID))
	} else {
		ent, ok = set.ByEmail(h.Hash("email", key.Email))
	}
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, ent.At)
	if err != nil {
		return time.Time{}, true
	}
	return at.UTC().Truncate(time.Second), true
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
