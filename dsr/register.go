// Package dsr executes data-subject requests (GDPR Art. 15–21) and keeps
// their register: every request with its received time, its due date and
// extension (Art. 12(3)), its status and the actions taken for it, each
// linked to its audit entry.
package dsr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// ErrState marks an operation the request's current state does not allow: a
// second extension, an extension after the due date, closing a closed
// request, executing a closed request (exit 3, refused). It is
// store.ErrState, the one sentinel of a wrong state.
var ErrState = store.ErrState

// Deadlines is the part of the policies engine the register needs
// (*policies.Engine implements it): the due date of a request and the latest
// date an extension may reach.
type Deadlines interface {
	RequestDeadline(ctx context.Context, requestType string, received time.Time) (due, maxExtended time.Time, err error)
}

// Register is the register of data-subject requests.
type Register struct {
	DB       *store.DB
	Policies Deadlines // normally a *policies.Engine
	Hasher   *store.Hasher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Ledger is the erasure ledger's path ("" for none): the request ids
	// it names are never issued again, whatever the store's counters say
	// (a store restored from a backup has them back where the backup left
	// them — adversarial pass 8 F10).
	Ledger string

	ledgerOnce sync.Once
	ledgerErr  error
}

// catchUpCounters advances the register's counters past the request ids
// the ledger names since the store's newest audit entry, once per Register
// (a command), inside tx.
func (r *Register) catchUpCounters(ctx context.Context, tx *store.Tx) error {
	if r.Ledger == "" || r.Hasher == nil {
		return nil
	}
	r.ledgerOnce.Do(func() {
		// Only the entries since the store's newest audit entry: those a
		// restored store lacks (nothing, on a current store).
		set := &ledger.Set{}
		err := ledger.ReadSince(r.Ledger, storeHeadTime(ctx, r.DB), func(e ledger.Entry) error {
			set.Entries = append(set.Entries, e)
			return nil
		})
		if err != nil {
			r.ledgerErr = fmt.Errorf("request ids: %w", err)
			return
		}
		r.ledgerErr = advanceCounters(ctx, tx, set)
	})
	return r.ledgerErr
}

// maxReasonLen bounds extension and refusal reasons (bytes).
const maxReasonLen = 2000

// auditActor is the actor of the register's own audit entries.
const auditActor = "dsr"

func (r *Register) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// SubjectHash returns the keyed hash the register keeps for a subject.
func (r *Register) SubjectHash(userID string) string { return r.Hasher.Hash("user_id", userID) }

// ValidType checks a request type (ErrInvalid, exit 2, when unknown).
func ValidType(typ string) error {
	if !slices.Contains(store.RequestTypes, typ) {
		return fmt.Errorf("request type %q: want one of %s: %w", typ, strings.Join(store.RequestTypes, ", "), store.ErrInvalid)
	}
	return nil
}

// Open records a request of type typ from subj, received at receivedAt (zero
// means now), with its due date from the policies.
func (r *Register) Open(ctx context.Context, typ string, subj store.Subject, receivedAt time.Time) (store.Request, error) {
	var req store.Request
	err := r.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		req, err = r.open(ctx, tx, typ, subj, receivedAt, store.RequestOpen)
		return err
	})
	return req, err
}

func (r *Register) open(ctx context.Context, tx *store.Tx, typ string, subj store.Subject, receivedAt time.Time, status string) (store.Request, error) {
	if err := ValidType(typ); err != nil {
		return store.Request{}, err
	}
	if subj.UserID == "" {
		return store.Request{}, fmt.Errorf("open request: subject without a user id: %w", store.ErrInvalid)
	}
	now := r.now()
	if receivedAt.IsZero() {
		receivedAt = now
	}
	receivedAt = receivedAt.UTC()
	if receivedAt.After(now) {
		return store.Request{}, fmt.Errorf("received time %s is in the future: %w", receivedAt.Format(time.RFC3339), store.ErrInvalid)
	}
	due, _, err := r.Policies.RequestDeadline(ctx, typ, receivedAt)
	if err != nil {
		return store.Request{}, fmt.Errorf("due date of a %s request: %w", typ, err)
	}
	if !due.After(receivedAt) {
		return store.Request{}, fmt.Errorf("due date of a %s request: the policies give %s, not after its receipt: %w", typ, due.Format(time.RFC3339), policies.ErrPolicy)
	}
	// The subject must still exist, and stays until this request is in:
	// an erasure running at the same time then either sees the request
	// (and forgets its plain id) or has already removed the subject.
	if err := store.LockSubject(ctx, tx, subj.UserID, false); err != nil {
		return store.Request{}, fmt.Errorf("open request: %w", err)
	}
	if err := r.catchUpCounters(ctx, tx); err != nil {
		return store.Request{}, err
	}
	id, err := store.NextRequestID(ctx, tx, receivedAt.Year())
	if err != nil {
		return store.Request{}, err
	}
	req := store.Request{
		RequestID:   id,
		Type:        typ,
		SubjectHash: r.SubjectHash(subj.UserID),
		Status:      status,
		ReceivedAt:  store.Millis(receivedAt),
		DueAt:       store.Millis(due),
		CreatedAt:   store.Millis(now),
	}
	req.UserID.String, req.UserID.Valid = subj.UserID, true
	if err := store.InsertRequest(ctx, tx, req); err != nil {
		return store.Request{}, err
	}
	if err := r.record(ctx, tx, req, "request.open", "ok", map[string]any{
		"type": typ, "received_at": req.ReceivedAt, "due_at": req.DueAt,
	}); err != nil {
		return store.Request{}, err
	}
	return req, nil
}

// record appends an audit entry for a register operation and links it to the
// request as one of its actions.
func (r *Register) record(ctx context.Context, tx *store.Tx, req store.Request, action, outcome string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["request_id"] = req.RequestID
	now := r.now()
	seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
		At: now, Actor: auditActor, Action: "dsr." + action, SubjectRef: req.SubjectHash,
		Outcome: outcome, Detail: detail,
	})
	if err != nil {
		return err
	}
	a := store.RequestAction{RequestID: req.RequestID, At: store.Millis(now), Action: action, Outcome: outcome}
	a.AuditSeq.Int64, a.AuditSeq.Valid = seq, true
	return store.InsertRequestAction(ctx, tx, a)
}

// Get returns a request and its actions.
func (r *Register) Get(ctx context.Context, id string) (store.Request, []store.RequestAction, error) {
	req, err := store.GetRequest(ctx, r.DB, id)
	if err != nil {
		return req, nil, err
	}
	acts, err := store.RequestActions(ctx, r.DB, id)
	return req, acts, err
}

// Overdue returns the requests still open or in progress whose due date is
// before at: what the nightly report and the DPO look at.
func Overdue(ctx context.Context, db *store.DB, at time.Time) ([]store.Request, error) {
	out := []store.Request{}
	err := store.EachRequest(ctx, db, store.RequestFilter{
		Status:    []string{store.RequestOpen, store.RequestInProgress},
		DueBefore: store.Millis(at),
	}, func(r store.Request) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// IsOverdue reports whether req is still pending after its due date at time at.
func IsOverdue(req store.Request, at time.Time) bool {
	return (req.Status == store.RequestOpen || req.Status == store.RequestInProgress) && req.DueAt < store.Millis(at)
}

func checkReason(what, reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", fmt.Errorf("%s needs a reason (--reason): %w", what, store.ErrInvalid)
	case len(reason) > maxReasonLen:
		return "", fmt.Errorf("%s: reason longer than %d bytes: %w", what, maxReasonLen, store.ErrInvalid)
	case !utf8.ValidString(reason) || strings.ContainsRune(reason, 0):
		return "", fmt.Errorf("%s: reason is not valid UTF-8 text: %w", what, store.ErrInvalid)
	}
	return reason, nil
}

// Extend postpones a pending request's due date, once, with a mandatory
// reason (Art. 12(3): by up to two further months where necessary, the
// subject being told within the first month). The new due date is until, or
// when until is zero the latest the policies allow. A second extension, an
// extension of a closed request or one asked for after the due date has
// passed is refused (ErrState); a date beyond the policies' limit or not
// after the current due date is bad input (ErrInvalid).
func (r *Register) Extend(ctx context.Context, id, reason string, until time.Time) (store.Request, error) {
	reason, err := checkReason("extending a request", reason)
	if err != nil {
		return store.Request{}, err
	}
	var req store.Request
	err = r.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		req, err = store.LockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		now := r.now()
		switch {
		case req.Status != store.RequestOpen && req.Status != store.RequestInProgress:
			return fmt.Errorf("request %s is %s: only a pending request can be extended: %w", id, req.Status, ErrState)
		case req.Extended:
			return fmt.Errorf("request %s was already extended once: %w", id, ErrState)
		case store.Millis(now) > req.DueAt:
			return fmt.Errorf("request %s was due %s: an extension must be decided and told to the subject before the due date: %w",
				id, store.FromMillis(req.DueAt).Format(time.RFC3339), ErrState)
		}
		_, maxExt, err := r.Policies.RequestDeadline(ctx, req.Type, store.FromMillis(req.ReceivedAt))
		if err != nil {
			return fmt.Errorf("extension limit of a %s request: %w", req.Type, err)
		}
		newDue := maxExt
		if !until.IsZero() {
			newDue = until.UTC()
		}
		switch {
		case store.Millis(newDue) > store.Millis(maxExt):
			return fmt.Errorf("extend request %s to %s: beyond the latest date allowed, %s: %w",
				id, newDue.Format(time.RFC3339), maxExt.Format(time.RFC3339), store.ErrInvalid)
		case store.Millis(newDue) <= req.DueAt:
			return fmt.Errorf("extend request %s to %s: not after its due date %s: %w",
				id, newDue.Format(time.RFC3339), store.FromMillis(req.DueAt).Format(time.RFC3339), store.ErrInvalid)
		}
		oldDue := req.DueAt
		req.DueAt = store.Millis(newDue)
		req.Extended = true
		req.ExtensionReason.String, req.ExtensionReason.Valid = reason, true
		if err := store.UpdateRequest(ctx, tx, req); err != nil {
			return err
		}
		return r.record(ctx, tx, req, "request.extend", "ok", map[string]any{"previous_due_at": oldDue, "due_at": req.DueAt})
	})
	return req, err
}

// TypeAction is the action that answers each type of request: a request is
// done only when the register holds that action, with outcome ok, for it.
var TypeAction = map[string]string{
	"access":        "export",
	"rectification": "rectify",
	"objection":     "object",
	"erasure":       "erase",
}

// Close closes a pending request as done or, when refuse is set, as refused
// with a mandatory reason. Closing a closed request, or closing as done a
// request whose type's action (TypeAction) was never recorded for it, is
// refused (ErrState); ForceClose records the latter with a reason.
func (r *Register) Close(ctx context.Context, id string, refuse bool, reason string) (store.Request, error) {
	if refuse {
		var err error
		if reason, err = checkReason("refusing a request", reason); err != nil {
			return store.Request{}, err
		}
	} else if strings.TrimSpace(reason) != "" {
		return store.Request{}, fmt.Errorf("a reason is recorded only when refusing (--refuse --reason): %w", store.ErrInvalid)
	}
	var req store.Request
	err := r.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		req, err = store.LockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if !refuse {
			if err := needAction(ctx, tx, req); err != nil {
				return err
			}
		}
		if err := checkNotified(ctx, tx, req); err != nil && (req.Status == store.RequestOpen || req.Status == store.RequestInProgress) {
			return err
		}
		return r.close(ctx, tx, &req, refuse, reason)
	})
	return req, err
}

// ForceClose closes a pending request as done although the register holds
// no action of its type for it (the action was taken outside oubli), or
// although some of its Art. 19 notifications are not delivered or
// acknowledged (they stay queued and are still delivered), with a mandatory
// reason kept on the request; the closing audit entry says it was forced and
// how many notifications were pending.
func (r *Register) ForceClose(ctx context.Context, id, reason string) (store.Request, error) {
	reason, err := checkReason("forcing a request closed", reason)
	if err != nil {
		return store.Request{}, err
	}
	var req store.Request
	err = r.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		req, err = store.LockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		pending, err := store.PendingNotifications(ctx, tx, id)
		if err != nil {
			return err
		}
		req.CloseReason.String, req.CloseReason.Valid = reason, true
		if err := r.close(ctx, tx, &req, false, ""); err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		return r.record(ctx, tx, req, "request.force_close", "ok", map[string]any{"pending_notifications": pending})
	})
	return req, err
}

// needAction refuses (ErrState) closing req as done when the register holds
// no successful action of its type for it.
func needAction(ctx context.Context, tx *store.Tx, req store.Request) error {
	want := TypeAction[req.Type]
	acts, err := store.RequestActions(ctx, tx, req.RequestID)
	if err != nil {
		return err
	}
	for _, a := range acts {
		if a.Action == want && a.Outcome == "ok" {
			return nil
		}
	}
	if isClosed(req.Status) {
		return nil // close says why
	}
	return fmt.Errorf("request %s: no %s was recorded for this %s request, so it cannot be closed as done: run `oubli %s --request %s`, close it as refused (--refuse --reason), or, if it was done outside oubli, --force --reason: %w",
		req.RequestID, want, req.Type, want, req.RequestID, ErrState)
}

// isClosed reports whether a request status is final (done or refused).
func isClosed(status string) bool {
	return status != store.RequestOpen && status != store.RequestInProgress
}

func (r *Register) close(ctx context.Context, tx *store.Tx, req *store.Request, refuse bool, reason string) error {
	if isClosed(req.Status) {
		return fmt.Errorf("request %s is already %s: %w", req.RequestID, req.Status, ErrState)
	}
	now := r.now()
	req.Status = store.RequestDone
	if refuse {
		req.Status = store.RequestRefused
		req.RefusalReason.String, req.RefusalReason.Valid = reason, true
	}
	req.ClosedAt.Int64, req.ClosedAt.Valid = store.Millis(now), true
	if err := store.UpdateRequest(ctx, tx, *req); err != nil {
		return err
	}
	return r.record(ctx, tx, *req, "request.close", req.Status, map[string]any{
		"late": req.ClosedAt.Int64 > req.DueAt, "forced": req.CloseReason.Valid,
	})
}

// Handle ties one DSR command to its request.
type Handle struct {
	Request store.Request
	// AutoClose is true when the request was opened by Start and is closed
	// by Finish.
	AutoClose bool

	now func() time.Time
}

// Start attaches a DSR command to a request: the given request id (must
// exist, else store.ErrNotFound; be open or in_progress, else ErrState; of
// the right type and the same subject, else store.ErrInvalid), or, when requestID is "", a
// new request opened now that Finish closes: nothing goes unrecorded. The
// request is in_progress when Start returns.
func (r *Register) Start(ctx context.Context, requestID, typ string, subj store.Subject) (*Handle, error) {
	if err := ValidType(typ); err != nil {
		return nil, err
	}
	h := &Handle{now: r.now}
	err := r.DB.InTx(ctx, func(tx *store.Tx) error {
		if requestID == "" {
			req, err := r.open(ctx, tx, typ, subj, time.Time{}, store.RequestInProgress)
			h.Request, h.AutoClose = req, true
			return err
		}
		req, err := store.LockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if err := r.checkNamed(req, typ, subj); err != nil {
			return err
		}
		if req.Status == store.RequestOpen {
			req.Status = store.RequestInProgress
			if err := store.UpdateRequest(ctx, tx, req); err != nil {
				return err
			}
		}
		h.Request = req
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Record links an action (and its audit entry) to the request, inside the
// action's transaction.
func (h *Handle) Record(ctx context.Context, tx *store.Tx, action, outcome string, auditSeq int64) error {
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	a := store.RequestAction{RequestID: h.Request.RequestID, At: store.Millis(now()), Action: action, Outcome: outcome}
	if auditSeq > 0 {
		a.AuditSeq.Int64, a.AuditSeq.Valid = auditSeq, true
	}
	return store.InsertRequestAction(ctx, tx, a)
}

// RecordOutcome links an action to the request (as Record does) and, when
// result wraps policies.ErrRefused, closes the request as refused with the
// policy's reason in the same transaction (Art. 12(4)) — whether the request
// was opened by Start or named by the operator: a refusal is the request's
// answer, and the register must not show it pending (nor let it be closed as
// done).
func (r *Register) RecordOutcome(ctx context.Context, tx *store.Tx, h *Handle, action, outcome string, auditSeq int64, result error) error {
	if err := h.Record(ctx, tx, action, outcome, auditSeq); err != nil {
		return err
	}
	if !errors.Is(result, policies.ErrRefused) {
		return nil
	}
	req, err := store.LockRequest(ctx, tx, h.Request.RequestID)
	if err != nil {
		return err
	}
	if err := r.close(ctx, tx, &req, true, refusalReason(result)); err != nil {
		return err
	}
	h.Request = req
	return nil
}

// refusalReason is the register's reason for a refusal error, bounded.
func refusalReason(err error) string {
	reason := err.Error()
	if len(reason) > maxReasonLen {
		reason = strings.ToValidUTF8(reason[:maxReasonLen], "")
	}
	return reason
}

// Finish closes an auto-opened request: done when err is nil, refused (with
// the error's reason) when err wraps policies.ErrRefused, left in_progress
// otherwise, so that the failure stays visible in the register. A request
// named by the operator is left for them to close; one already closed (a
// refusal recorded by RecordOutcome) is left as it is.
func (r *Register) Finish(ctx context.Context, h *Handle, err error) error {
	if h == nil || !h.AutoClose || isClosed(h.Request.Status) {
		return nil
	}
	refuse := errors.Is(err, policies.ErrRefused)
	if err != nil && !refuse {
		return nil
	}
	reason := ""
	if refuse {
		reason = refusalReason(err)
	}
	return r.DB.InTx(ctx, func(tx *store.Tx) error {
		req, lerr := store.LockRequest(ctx, tx, h.Request.RequestID)
		if lerr != nil {
			return lerr
		}
		if cerr := r.close(ctx, tx, &req, refuse, reason); cerr != nil {
			return cerr
		}
		h.Request = req
		return nil
	})
}

// ForgetSubject replaces the subject's user id in every request by nothing
// (subject_hash stays) — called by erasure, in its Tx.
func ForgetSubject(ctx context.Context, tx *store.Tx, userID string) (int64, error) {
	return store.ForgetRequestSubject(ctx, tx, userID)
}

// CloseAlreadyErased closes the subject's pending erasure requests — open
// or in progress, holding no erasure of their own — as done, with the
// reason that the subject was already erased (the erasure ledger's date
// and request): the person's request is answered, by another erasure. It
// is what an erasure that lost a race to another (two batches naming one
// subject), or a batch rerun after a kill, does with the requests opened
// for the subject meanwhile: they must not stay pending, go overdue and
// show as unanswered Art. 17 requests of a person who was erased
// (session-5 adversarial pass, F5). The audit entry of each close says so.
// It returns the requests closed.
func (r *Register) CloseAlreadyErased(ctx context.Context, subjectHash, erasedOn, byRequest string) ([]string, error) {
	reqs, err := store.SubjectRequests(ctx, r.DB, subjectHash)
	if err != nil {
		return nil, err
	}
	reason := "already erased on " + erasedOn + " (erasure ledger"
	if byRequest != "" {
		reason += ", request " + byRequest
	}
	reason += ")"
	var closed []string
	for _, q := range reqs {
		if q.Type != "erasure" || isClosed(q.Status) || q.RequestID == byRequest {
			continue
		}
		err := r.DB.InTx(ctx, func(tx *store.Tx) error {
			req, err := store.LockRequest(ctx, tx, q.RequestID)
			if err != nil || isClosed(req.Status) {
				return err
			}
			acts, err := store.RequestActions(ctx, tx, req.RequestID)
			if err != nil {
				return err
			}
			for _, a := range acts {
				if a.Action == "erase" {
					return nil // an erasure of its own: its follow-up decides
				}
			}
			req.CloseReason.String, req.CloseReason.Valid = reason, true
			if err := r.close(ctx, tx, &req, false, ""); err != nil {
				return err
			}
			closed = append(closed, req.RequestID)
			return nil
		})
		if err != nil {
			return closed, err
		}
	}
	return closed, nil
}
