package cli

import (
	"errors"
	"fmt"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// objectHold puts (on) or lifts (off) the S3 legal hold of the documents a
// hold covers, when --blobs is a bucket with Object Lock; on release, a
// document another hold still covers stays locked. A directory store has
// nothing to do; a bucket without Object Lock gets one clear note on
// stderr. The database's hold is already recorded: it is what retention
// and erasure obey, the object lock a second guard.
func (e *Env) objectHold(h store.Hold, on bool) error {
	if e.BlobsDir == "" {
		return nil // the default: a directory beside the SQLite file
	}
	loc, err := e.BlobsLocation()
	if err != nil || !loc.IsS3() {
		return err
	}
	bs, err := e.Blobs()
	if err != nil {
		return err
	}
	lh, ok := bs.(blobs.LegalHolder)
	if !ok {
		return nil
	}
	db, err := e.Store()
	if err != nil {
		return err
	}
	keys, err := store.HoldBlobKeys(e.Ctx, db, h)
	if err != nil {
		return err
	}
	if !on {
		still, err := store.StillHeldBlobKeys(e.Ctx, db, keys, h.HoldID, store.Millis(e.Now()))
		if err != nil {
			return err
		}
		free := keys[:0]
		for _, k := range keys {
			if !still[k] {
				free = append(free, k)
			}
		}
		keys = free
	}
	err = lh.SetLegalHold(e.Ctx, keys, on)
	if errors.Is(err, blobs.ErrNoObjectLock) {
		fmt.Fprintf(e.Err, "oubli: note: %v\n", err)
		return nil
	}
	if err != nil {
		verb := "putting"
		if !on {
			verb = "lifting"
		}
		return fmt.Errorf("hold %s is recorded, but %s the S3 legal hold of its %d document(s) failed: %w", h.HoldID, verb, len(keys), err)
	}
	return nil
}
