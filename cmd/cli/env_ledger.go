package cli

import (
	"github.com/oubli/oubli/ledger"
)

// The ingest hook: a subject named in the erasure ledger (by the keyed hash
// of their user id or e-mail) is not re-imported without --allow-erased.
func init() { erasedLookup = (*Env).erasedLookup }

func (e *Env) erasedLookup() (func(userID, email string) (bool, error), error) {
	path, err := e.LedgerPath()
	if err != nil {
		return nil, err
	}
	h, err := e.Hasher()
	if err != nil {
		return nil, err
	}
	set, err := ledger.Load(path, h)
	if err != nil {
		return nil, err
	}
	return func(userID, email string) (bool, error) {
		if _, ok := set.ByUserID(h.Hash("user_id", userID)); ok {
			return true, nil
		}
		if email == "" {
			return false, nil
		}
		_, ok := set.ByEmail(h.Hash("email", email))
		return ok, nil
	}, nil
}
