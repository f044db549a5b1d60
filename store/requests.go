package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Request statuses of the data-subject request register.
const (
	RequestOpen       = "open"
	RequestInProgress = "in_progress"
	RequestDone       = "done"
	RequestRefused    = "refused"
)

// RequestTypes are the kinds of data-subject request the register knows.
var RequestTypes = []string{"access", "rectification", "objection", "erasure"}

// RequestStatuses are the statuses a request can have.
var RequestStatuses = []string{RequestOpen, RequestInProgress, RequestDone, RequestRefused}

const requestCols = "request_id, type, user_id, subject_hash, status, received_at, due_at, extended, extension_reason, refusal_reason, closed_at, created_at, close_reason"

// NextRequestID reserves the next readable request id of a year,
// "DSR-2026-000123", inside tx. The per-year counter is taken with an upsert,
// which serialises concurrent openings on both backends (a row lock on
// PostgreSQL, the write lock on SQLite); ids already present in the register
// (loaded from elsewhere) are skipped.
func NextRequestID(ctx context.Context, tx *Tx, year int) (string, error) {
	for range 1000 {
		var n int64
		err := tx.Get(ctx, &n, `INSERT INTO dsr_request_counters (year, last) VALUES (?, 1)
			ON CONFLICT (year) DO UPDATE SET last = dsr_request_counters.last + 1
			RETURNING last`, year)
		if err != nil {
			return "", fmt.Errorf("reserve request id: %w", err)
		}
		id := fmt.Sprintf("DSR-%04d-%06d", year, n)
		var taken int
		if err := tx.Get(ctx, &taken, "SELECT COUNT(*) FROM dsr_requests WHERE request_id = ?", id); err != nil {
			return "", fmt.Errorf("reserve request id: %w", err)
		}
		if taken == 0 {
			return id, nil
		}
	}
	return "", fmt.Errorf("reserve request id: no free id for %d after 1000 tries: %w", year, ErrConflict)
}

// AdvanceRequestCounter makes the next id NextRequestID reserves for year
// come after last: a store restored from a backup has its counter back
// where the backup left it, while ids issued since are named elsewhere (the
// erasure ledger). It never moves a counter back.
func AdvanceRequestCounter(ctx context.Context, q Querier, year int, last int64) error {
	_, err := q.Exec(ctx, `INSERT INTO dsr_request_counters (year, last) VALUES (?, ?)
		ON CONFLICT (year) DO UPDATE SET last = CASE WHEN dsr_request_counters.last < excluded.last THEN excluded.last ELSE dsr_request_counters.last END`, year, last)
	if err != nil {
		return fmt.Errorf("advance request counter of %d: %w", year, err)
	}
	return nil
}

// InsertRequest adds r to the register.
func InsertRequest(ctx context.Context, q Querier, r Request) error {
	_, err := q.Exec(ctx, `INSERT INTO dsr_requests (`+requestCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RequestID, r.Type, r.UserID, r.SubjectHash, r.Status, r.ReceivedAt, r.DueAt,
		r.Extended, r.ExtensionReason, r.RefusalReason, r.ClosedAt, r.CreatedAt, r.CloseReason)
	if err != nil {
		return fmt.Errorf("insert request %s: %w", r.RequestID, err)
	}
	return nil
}

// GetRequest loads one request; ErrNotFound when the register has no such id.
func GetRequest(ctx context.Context, q Querier, id string) (Request, error) {
	var r Request
	err := q.Get(ctx, &r, "SELECT "+requestCols+" FROM dsr_requests WHERE request_id = ?", id)
	if errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("unknown request %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("load request %q: %w", id, err)
	}
	return r, nil
}

// LockRequest loads one request inside tx for update (SELECT … FOR UPDATE on
// PostgreSQL; SQLite's transactions already hold the write lock).
func LockRequest(ctx context.Context, tx *Tx, id string) (Request, error) {
	q := "SELECT " + requestCols + " FROM dsr_requests WHERE request_id = ?"
	if tx.Dialect() == Postgres {
		q += " FOR UPDATE"
	}
	var r Request
	err := tx.Get(ctx, &r, q, id)
	if errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("unknown request %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("load request %q: %w", id, err)
	}
	return r, nil
}

// UpdateRequest writes back the mutable fields of r: status, due date,
// extension, refusal, closing time and forced-closing reason.
func UpdateRequest(ctx context.Context, q Querier, r Request) error {
	res, err := q.Exec(ctx, `UPDATE dsr_requests SET status = ?, due_at = ?, extended = ?,
		extension_reason = ?, refusal_reason = ?, closed_at = ?, close_reason = ? WHERE request_id = ?`,
		r.Status, r.DueAt, r.Extended, r.ExtensionReason, r.RefusalReason, r.ClosedAt, r.CloseReason, r.RequestID)
	if err != nil {
		return fmt.Errorf("update request %s: %w", r.RequestID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update request %s: %w", r.RequestID, ErrNotFound)
	}
	return nil
}

// RequestFilter narrows EachRequest. Zero fields do not filter.
type RequestFilter struct {
	Status      []string // any of these statuses
	Type        string
	SubjectHash string
	DueBefore   int64 // due_at < DueBefore (Unix ms), with Status open/in_progress for overdue
	Limit       int
}

// EachRequest calls fn for every request matching f, oldest due date first,
// streaming.
func EachRequest(ctx context.Context, q Querier, f RequestFilter, fn func(Request) error) error {
	var where []string
	var args []any
	if len(f.Status) > 0 {
		where = append(where, "status IN ("+Placeholders(len(f.Status))+")")
		for _, s := range f.Status {
			args = append(args, s)
		}
	}
	if f.Type != "" {
		where = append(where, "type = ?")
		args = append(args, f.Type)
	}
	if f.SubjectHash != "" {
		where = append(where, "subject_hash = ?")
		args = append(args, f.SubjectHash)
	}
	if f.DueBefore != 0 {
		where = append(where, "due_at < ?")
		args = append(args, f.DueBefore)
	}
	query := "SELECT " + requestCols + " FROM dsr_requests"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY due_at, request_id"
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Request
		if err := rows.StructScan(&r); err != nil {
			return fmt.Errorf("list requests: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list requests: %w", err)
	}
	return nil
}

// InsertRequestAction links an action (and its audit entry) to a request.
func InsertRequestAction(ctx context.Context, q Querier, a RequestAction) error {
	_, err := q.Exec(ctx, "INSERT INTO dsr_actions (request_id, at, action, outcome, audit_seq) VALUES (?, ?, ?, ?, ?)",
		a.RequestID, a.At, a.Action, a.Outcome, a.AuditSeq)
	if err != nil {
		return fmt.Errorf("record action of request %s: %w", a.RequestID, err)
	}
	return nil
}

// PendingFollowUpRequests returns the requests whose erasure committed with
// a follow-up left (their latest erase.followup action is pending): the
// register says done, the work is not finished.
func PendingFollowUpRequests(ctx context.Context, q Querier) (map[string]bool, error) {
	var ids []string
	err := q.Select(ctx, &ids, `SELECT a.request_id FROM dsr_actions a
		WHERE a.action = 'erase.followup' AND a.outcome = 'pending'
		AND NOT EXISTS (SELECT 1 FROM dsr_actions b WHERE b.request_id = a.request_id AND b.action = 'erase.followup' AND b.id > a.id)`)
	if err != nil {
		return nil, fmt.Errorf("requests with a follow-up pending: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// RequestActions returns the actions of a request in the order they were taken.
func RequestActions(ctx context.Context, q Querier, requestID string) ([]RequestAction, error) {
	acts := []RequestAction{}
	err := q.Select(ctx, &acts, "SELECT id, request_id, at, action, outcome, audit_seq FROM dsr_actions WHERE request_id = ? ORDER BY id", requestID)
	if err != nil {
		return nil, fmt.Errorf("actions of request %s: %w", requestID, err)
	}
	return acts, nil
}

// ForgetRequestSubject clears the plain user id from every request of the
// subject (the keyed subject_hash stays), returning how many were changed.
func ForgetRequestSubject(ctx context.Context, q Querier, userID string) (int64, error) {
	res, err := q.Exec(ctx, "UPDATE dsr_requests SET user_id = NULL WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("forget subject in the request register: %w", err)
	}
	return res.RowsAffected()
}
