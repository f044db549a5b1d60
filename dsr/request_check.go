package dsr

import (
	"context"
	"fmt"

	"github.com/oubli/oubli/store"
)

// checkStart makes, without changing anything, the checks Start makes on a
// named request (checkNamed, the one implementation of both): a dry run
// calls it so that it refuses whatever the real run refuses, with the same
// error (issue 16 item 4).
func (r *Register) checkStart(ctx context.Context, requestID, typ string, subj store.Subject) error {
	if err := ValidType(typ); err != nil {
		return err
	}
	req, err := store.GetRequest(ctx, r.DB, requestID)
	if err != nil {
		return err
	}
	return r.checkNamed(req, typ, subj)
}

// checkNamed says whether a DSR command of type typ for subj may attach to
// the request req the operator named: not closed (ErrState), of type typ
// and made by subj (store.ErrInvalid).
func (r *Register) checkNamed(req store.Request, typ string, subj store.Subject) error {
	switch {
	case isClosed(req.Status):
		return fmt.Errorf("request %s is already %s: %w", req.RequestID, req.Status, ErrState)
	case req.Type != typ:
		return fmt.Errorf("request %s is an %s request, not %s: %w", req.RequestID, req.Type, typ, store.ErrInvalid)
	case req.SubjectHash != r.SubjectHash(subj.UserID):
		return fmt.Errorf("request %s was made by another subject: %w", req.RequestID, store.ErrInvalid)
	}
	return nil
}
