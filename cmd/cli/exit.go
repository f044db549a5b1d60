package cli

import (
	"errors"

	"github.com/oubli/oubli/anchor"
	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/review"
	"github.com/oubli/oubli/store"
)

// Exit codes, as documented in INTERFACE.md.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitBadInput = 2
	ExitRefused  = 3
	ExitBusy     = 4
	ExitNotFound = 5
	// ExitIncomplete: the change is committed and recorded, but a step after
	// the commit is left (an erasure's WAL checkpoint held back by a reader,
	// blob contents left queued, a post-commit scan cut short); the message
	// says what, and how to finish it.
	ExitIncomplete = 6
)

// exitCodes maps sentinel errors to exit codes: the one place where that
// happens. The first match wins, so more specific errors come first.
var exitCodes = []struct {
	err  error
	code int
}{
	{dsr.ErrIncomplete, ExitIncomplete},
	{retention.ErrBlobsLeft, ExitIncomplete},
	{store.ErrAuditBroken, ExitFailed},
	{store.ErrAuditBehind, ExitFailed},
	{anchor.ErrCheckpoint, ExitFailed},
	{anchor.ErrNothingToAccept, ExitRefused},
	{review.ErrUnapproved, ExitRefused},
	{anchor.ErrKey, ExitBadInput},
	{dsr.ErrResidue, ExitFailed},
	{residue.ErrFound, ExitFailed},
	{residue.ErrNotRedactable, ExitRefused},
	{ledger.ErrKeyMismatch, ExitBadInput},
	{ErrUsage, ExitBadInput},
	{notify.ErrConfig, ExitBadInput},
	{notify.ErrState, ExitRefused},
	{policies.ErrPolicy, ExitBadInput},
	{policies.ErrUnknownPurpose, ExitBadInput},
	{policies.ErrRefused, ExitRefused},
	{store.ErrState, ExitRefused}, // dsr.ErrState is the same sentinel
	{dsr.ErrIntegrity, ExitFailed},
	{store.ErrInvalid, ExitBadInput},
	{store.ErrSchema, ExitBadInput},
	{ingest.ErrInvalid, ExitBadInput},
	{retention.ErrSafetyValve, ExitRefused},
	{store.ErrLockTimeout, ExitFailed}, // not busy: exit 4 is only "another retention run holds the lock"
	{store.ErrLockLost, ExitFailed},
	{store.ErrBusy, ExitBusy},
	{store.ErrNotFound, ExitNotFound},
	{blobs.ErrLocked, ExitRefused},
	{blobs.ErrBadLocation, ExitBadInput},
	{blobs.ErrSetup, ExitBadInput},
	{blobs.ErrUnavailable, ExitFailed},
}

// ExitCode returns the exit code for an error returned by a command.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	for _, m := range exitCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return ExitFailed
}
