package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Notification statuses (the Art. 19 outbox).
const (
	NotifyQueued       = "queued"       // a webhook to send, now or at next_attempt_at
	NotifyDelivered    = "delivered"    // the recipient's endpoint answered 2xx
	NotifyFailed       = "failed"       // retries exhausted at the horizon: handle it, then ack
	NotifyGone         = "gone"         // the endpoint answered 410 Gone: handle it, then ack
	NotifyManual       = "manual"       // no webhook: someone tells the recipient, then acks
	NotifyAcknowledged = "acknowledged" // done by hand, with a note
)

// NotifyStatuses lists every notification status.
var NotifyStatuses = []string{NotifyQueued, NotifyDelivered, NotifyFailed, NotifyGone, NotifyManual, NotifyAcknowledged}

// Notification is one row of the outbox.
type Notification struct {
	ID            string         `db:"id"`
	RequestID     string         `db:"request_id"`
	RecipientID   string         `db:"recipient_id"`
	Type          string         `db:"type"`
	SubjectRef    string         `db:"subject_ref"`
	Status        string         `db:"status"`
	Payload       string         `db:"payload"` // "" once delivered or acknowledged
	PayloadSHA256 string         `db:"payload_sha256"`
	Attempts      int            `db:"attempts"`
	CreatedAt     int64          `db:"created_at"`
	NextAttemptAt int64          `db:"next_attempt_at"`
	LastAttemptAt sql.NullInt64  `db:"last_attempt_at"`
	DeliveredAt   sql.NullInt64  `db:"delivered_at"`
	LastError     sql.NullString `db:"last_error"`
	AckNote       sql.NullString `db:"ack_note"`
	AckActor      sql.NullString `db:"ack_actor"`
	AckedAt       sql.NullInt64  `db:"acked_at"`
}

const notificationCols = `id, request_id, recipient_id, type, subject_ref, status, payload, payload_sha256, attempts,
	created_at, next_attempt_at, last_attempt_at, delivered_at, last_error, ack_note, ack_actor, acked_at`

// InsertNotification queues one notification inside tx.
func InsertNotification(ctx context.Context, tx *Tx, n Notification) error {
	_, err := tx.Exec(ctx, `INSERT INTO notifications (id, request_id, recipient_id, type, subject_ref, status, payload,
		payload_sha256, attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		n.ID, n.RequestID, n.RecipientID, n.Type, n.SubjectRef, n.Status, n.Payload, n.PayloadSHA256, n.CreatedAt, n.NextAttemptAt)
	if err != nil {
		return fmt.Errorf("queue notification: %w", err)
	}
	return nil
}

// NotificationFilter narrows ListNotifications.
type NotificationFilter struct {
	Status     string
	RequestID  string
	SubjectRef string
	Type       string
}

// ListNotifications returns the notifications matching f, oldest first.
func ListNotifications(ctx context.Context, q Querier, f NotificationFilter) ([]Notification, error) {
	query := "SELECT " + notificationCols + " FROM notifications WHERE 1 = 1"
	var args []any
	if f.Status != "" {
		query += " AND status = ?"
		args = append(args, f.Status)
	}
	if f.RequestID != "" {
		query += " AND request_id = ?"
		args = append(args, f.RequestID)
	}
	if f.SubjectRef != "" {
		query += " AND subject_ref = ?"
		args = append(args, f.SubjectRef)
	}
	if f.Type != "" {
		query += " AND type = ?"
		args = append(args, f.Type)
	}
	query += " ORDER BY created_at, id"
	out := []Notification{}
	if err := q.Select(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// GetNotification loads one notification; inside a PostgreSQL transaction
// the row is locked (FOR UPDATE).
func GetNotification(ctx context.Context, q Querier, id string) (Notification, error) {
	query := "SELECT " + notificationCols + " FROM notifications WHERE id = ?"
	if _, ok := q.(*Tx); ok && q.Dialect() == Postgres {
		query += " FOR UPDATE"
	}
	var n Notification
	err := q.Get(ctx, &n, query, id)
	if errors.Is(err, ErrNotFound) {
		return n, fmt.Errorf("unknown notification %q: %w", id, ErrNotFound)
	}
	return n, err
}

// ClaimNotifications returns up to limit queued notifications with id >
// after, ordered by id; when dueBy is non-zero only those whose next attempt
// is due by then. A notification waits while an older one to the same
// recipient about the same subject is still queued: a recipient learns of a
// subject's changes in the order they were made (a rectification retried
// after a 503 never lands after the erasure that followed it — adversarial
// pass 7 F7); an older one failed or gone holds it back too, until
// acknowledged, and nothing is sent to a recipient whose endpoint answered
// 410 Gone while one of its gone notifications is not acknowledged
// (adversarial pass 8 F13). Inside a PostgreSQL transaction the rows are locked FOR
// UPDATE SKIP LOCKED: another deliverer skips them until tx ends, and the
// ones behind them wait, the locked row being still queued.
func ClaimNotifications(ctx context.Context, q Querier, after string, dueBy int64, limit int) ([]Notification, error) {
	query := "SELECT " + notificationCols + ` FROM notifications n WHERE status = 'queued' AND id > ?
		AND NOT EXISTS (SELECT 1 FROM notifications o WHERE o.subject_ref = n.subject_ref AND o.recipient_id = n.recipient_id
			AND o.status IN ('queued', 'failed', 'gone') AND (o.created_at < n.created_at OR (o.created_at = n.created_at AND o.id < n.id)))
		AND NOT EXISTS (SELECT 1 FROM notifications g WHERE g.status = 'gone' AND g.recipient_id = n.recipient_id)`
	args := []any{after}
	if dueBy != 0 {
		query += " AND next_attempt_at <= ?"
		args = append(args, dueBy)
	}
	query += " ORDER BY id LIMIT " + strconv.Itoa(limit)
	if _, ok := q.(*Tx); ok && q.Dialect() == Postgres {
		query += " FOR UPDATE OF n SKIP LOCKED"
	}
	out := []Notification{}
	if err := q.Select(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return out, nil
}

// UpdateNotification writes a notification's delivery state (status,
// payload, attempts, times, error, acknowledgement).
func UpdateNotification(ctx context.Context, tx *Tx, n Notification) error {
	_, err := tx.Exec(ctx, `UPDATE notifications SET status = ?, payload = ?, payload_sha256 = ?, attempts = ?, next_attempt_at = ?,
		last_attempt_at = ?, delivered_at = ?, last_error = ?, ack_note = ?, ack_actor = ?, acked_at = ? WHERE id = ?`,
		n.Status, n.Payload, n.PayloadSHA256, n.Attempts, n.NextAttemptAt, n.LastAttemptAt, n.DeliveredAt, n.LastError,
		n.AckNote, n.AckActor, n.AckedAt, n.ID)
	if err != nil {
		return fmt.Errorf("update notification %s: %w", n.ID, err)
	}
	return nil
}

// PendingNotifications counts the notifications of a request that are not
// delivered or acknowledged.
func PendingNotifications(ctx context.Context, q Querier, requestID string) (int64, error) {
	var n int64
	err := q.Get(ctx, &n, "SELECT COUNT(*) FROM notifications WHERE request_id = ? AND status NOT IN ('delivered', 'acknowledged')", requestID)
	if err != nil {
		return 0, fmt.Errorf("count pending notifications: %w", err)
	}
	return n, nil
}

// FailedNotificationRequests returns, per request id, how many of its
// notifications failed or met a gone endpoint and are not acknowledged yet.
func FailedNotificationRequests(ctx context.Context, q Querier) (map[string]int64, error) {
	return notificationsByRequest(ctx, q, "status IN ('failed', 'gone')", "failed notifications")
}

// notificationsByRequest counts, per request id, the notifications matching
// where (a constant condition).
func notificationsByRequest(ctx context.Context, q Querier, where, what string) (map[string]int64, error) {
	var rows []struct {
		RequestID string `db:"request_id"`
		N         int64  `db:"n"`
	}
	if err := q.Select(ctx, &rows, "SELECT request_id, COUNT(*) AS n FROM notifications WHERE "+where+" GROUP BY request_id"); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.RequestID] = r.N
	}
	return out, nil
}

// ManualNotificationRequests returns, per request id, how many of its
// notifications are to be told by hand (status manual) and not yet
// acknowledged: the recipients a DPO still owes the Art. 19 communication.
func ManualNotificationRequests(ctx context.Context, q Querier) (map[string]int64, error) {
	return notificationsByRequest(ctx, q, "status = 'manual'", "manual notifications")
}

// UpdateNotifications writes the delivery state of many notifications in
// one statement (a deliverer's batch): the same columns as
// UpdateNotification.
func UpdateNotifications(ctx context.Context, tx *Tx, ns []Notification) error {
	if len(ns) == 0 {
		return nil
	}
	const row = "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), " +
		"CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT))"
	var q strings.Builder
	q.WriteString("WITH v (id, status, payload, payload_sha256, attempts, next_attempt_at, last_attempt_at, delivered_at, last_error, ack_note, ack_actor, acked_at) AS (VALUES ")
	args := make([]any, 0, 12*len(ns))
	for i, n := range ns {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
		args = append(args, n.ID, n.Status, n.Payload, n.PayloadSHA256, n.Attempts, n.NextAttemptAt, n.LastAttemptAt, n.DeliveredAt,
			n.LastError, n.AckNote, n.AckActor, n.AckedAt)
	}
	q.WriteString(`) UPDATE notifications SET status = v.status, payload = v.payload, payload_sha256 = v.payload_sha256,
		attempts = v.attempts, next_attempt_at = v.next_attempt_at, last_attempt_at = v.last_attempt_at, delivered_at = v.delivered_at,
		last_error = v.last_error, ack_note = v.ack_note, ack_actor = v.ack_actor, acked_at = v.acked_at
		FROM v WHERE notifications.id = v.id`)
	res, err := tx.Exec(ctx, q.String(), args...)
	if err != nil {
		return fmt.Errorf("update %d notifications: %w", len(ns), err)
	}
	if n, err := res.RowsAffected(); err == nil && n != int64(len(ns)) {
		return fmt.Errorf("update notifications: %d of %d rows updated", n, len(ns))
	}
	return nil
}
