package cli

import (
	"time"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/store"
)

// checkSubject validates a subject named on the command line: exactly one
// of --user-id or --email, and an address that is one (the rule ingest
// applies, after the normalisation look-ups apply). A malformed address is
// bad input (exit 2), never "unknown subject" (exit 5): a script reading 5
// as "we hold nothing on this person" would answer so after a typo
// (adversarial pass 8 F7).
func checkSubject(key store.SubjectKey) error {
	if err := key.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	return checkEmailFlag(key.Email)
}

// checkEmailFlag validates an --email flag's value ("" passes).
func checkEmailFlag(email string) error {
	if email == "" {
		return nil
	}
	if err := ingest.ValidEmail(store.NormalizeEmail(email)); err != nil {
		return usageErrorf("--email: %v", err)
	}
	return nil
}

// erasedSubjectHash is the keyed hash the erasure ledger records for the
// subject named by key ("" when it records none, or has no ledger).
func (e *Env) erasedSubjectHash(db *store.DB, key store.SubjectKey) string {
	path, err := e.LedgerPath()
	if err != nil || path == "" {
		return ""
	}
	h, err := db.Hasher(e.Ctx)
	if err != nil {
		return ""
	}
	return dsr.ErasedSubjectHash(path, h, key)
}

// notRestoredErased refuses (exit 3) a DSR command on a subject the
// erasure ledger records as erased after the store's copy of them was
// written (a restored backup, before erase --reapply). A subject not in the
// store is left to the command (not found, or erased on DATE).
func (e *Env) notRestoredErased(key store.SubjectKey) error {
	db, err := e.Store()
	if err != nil {
		return err
	}
	subj, err := store.FindSubject(e.Ctx, db, key)
	if err != nil {
		return nil
	}
	path, err := e.LedgerPath()
	if err != nil || path == "" {
		return err
	}
	h, err := db.Hasher(e.Ctx)
	if err != nil {
		return err
	}
	var since time.Time
	if hd, ok, err := db.AuditHead(e.Ctx); err != nil {
		return err
	} else if ok && hd.At != 0 {
		since = time.UnixMilli(hd.At)
	}
	return dsr.CheckNotRestoredErased(path, h, subj, since)
}

// ledgerPathOrEmpty is the erasure ledger's path, "" when none can be
// derived (the commands that need one say so themselves).
func (e *Env) ledgerPathOrEmpty() string {
	p, err := e.LedgerPath()
	if err != nil {
		return ""
	}
	return p
}
