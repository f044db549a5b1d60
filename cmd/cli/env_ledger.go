package cli

import (
	"errors"
	"io/fs"
	"os"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/store"
)

// The ingest hook: a subject named in the erasure ledger (by the keyed hash
// of their user id or e-mail) is not re-imported without --allow-erased.
func init() { erasedLookup = (*Env).erasedLookup }

// erasedLookup sets opts.Erased (the ledger as the ingest starts) and
// opts.ReloadErased (the ledger as it is when the load, inside its
// transaction, checks a batch: an erasure may have committed meanwhile).
func (e *Env) erasedLookup(opts *ingest.Options) error {
	path, err := e.LedgerPath()
	if err != nil {
		return err
	}
	h, err := e.Hasher()
	if err != nil {
		return err
	}
	size := func() (int64, error) {
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return -1, nil
		}
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	// The size of the ledger (an append-only file) tells whether it changed.
	first, err := size()
	if err != nil {
		return err
	}
	set, err := ledger.Load(path, h)
	if err != nil {
		return err
	}
	opts.Erased = lookupIn(set, h)
	cur, curSize := opts.Erased, first
	opts.ReloadErased = func() (func(userID, email string) (bool, error), bool, error) {
		n, err := size()
		if err != nil {
			return nil, false, err
		}
		if n != curSize {
			set, err := ledger.Load(path, h)
			if err != nil {
				return nil, false, err
			}
			cur, curSize = lookupIn(set, h), n
		}
		return cur, curSize != first, nil
	}
	return nil
}

func lookupIn(set *ledger.Set, h *store.Hasher) func(userID, email string) (bool, error) {
	return func(userID, email string) (bool, error) {
		if _, ok := set.ByUserID(h.Hash("user_id", userID)); ok {
			return true, nil
		}
		if email == "" {
			return false, nil
		}
		// The address's hash and those entries written before the
		// normalisation was unified may hold (store.Hasher.EmailHashes).
		for _, x := range h.EmailHashes(email) {
			if _, ok := set.ByEmail(x); ok {
				return true, nil
			}
		}
		return false, nil
	}
}
