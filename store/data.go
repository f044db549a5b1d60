package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds the writes of the support-contact data that ingest and seed
// load: subjects, tickets, messages, attachments and account events. Every
// write is an upsert keyed by the source system's id, so loading the same
// data twice changes nothing and loading a changed record updates it in place.

// UpsertSubject inserts or updates a subject by user id. A subject that has
// been anonymised keeps its anonymised e-mail and pseudo: re-importing the
// source data does not re-identify it. The restriction flag (Art. 18) is
// never changed by an upsert.
func UpsertSubject(ctx context.Context, q Querier, s Subject, now time.Time) error {
	return UpsertSubjects(ctx, q, []Subject{s}, now)
}

// UpsertSubjects is UpsertSubject for many subjects, in multi-row
// statements; their user ids must be distinct.
func UpsertSubjects(ctx context.Context, q Querier, ss []Subject, now time.Time) error {
	ms := Millis(now)
	err := upsertRows(ctx, q, `INSERT INTO subjects
		(user_id, email, pseudo, account_created_at, account_closed_at, restricted, created_at, updated_at) VALUES `,
		"(?, ?, ?, ?, ?, FALSE, ?, ?)", 7, `
		ON CONFLICT (user_id) DO UPDATE SET
			email = CASE WHEN subjects.anonymized_at IS NULL THEN excluded.email ELSE subjects.email END,
			pseudo = CASE WHEN subjects.anonymized_at IS NULL THEN excluded.pseudo ELSE subjects.pseudo END,
			account_created_at = excluded.account_created_at,
			account_closed_at = excluded.account_closed_at,
			updated_at = excluded.updated_at`,
		len(ss), func(i int, args []any) []any {
			s := ss[i]
			return append(args, s.UserID, s.Email, s.Pseudo, s.AccountCreatedAt, s.AccountClosedAt, ms, ms)
		})
	if err != nil {
		return fmt.Errorf("upsert subject: %w", err)
	}
	return nil
}

// UpsertTicket inserts or updates a ticket by ticket id. An anonymised
// ticket keeps its anonymised subject line and description; restriction and
// anonymisation marks are never changed by an upsert.
func UpsertTicket(ctx context.Context, q Querier, t Ticket) error {
	if err := UpsertTickets(ctx, q, []Ticket{t}); err != nil {
		return fmt.Errorf("ticket %s: %w", t.TicketID, err)
	}
	return nil
}

// UpsertTickets is UpsertTicket for many tickets, in multi-row statements;
// their ticket ids must be distinct.
func UpsertTickets(ctx context.Context, q Querier, ts []Ticket) error {
	err := upsertRows(ctx, q, `INSERT INTO tickets
		(ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at, restricted) VALUES `,
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE)", 10, `
		ON CONFLICT (ticket_id) DO UPDATE SET
			user_id = CASE WHEN tickets.anonymized_at IS NULL THEN excluded.user_id ELSE tickets.user_id END,
			request_number = excluded.request_number,
			subject = CASE WHEN tickets.anonymized_at IS NULL THEN excluded.subject ELSE tickets.subject END,
			description = CASE WHEN tickets.anonymized_at IS NULL THEN excluded.description ELSE tickets.description END,
			transaction_ref = excluded.transaction_ref,
			dispute_status = excluded.dispute_status,
			status = excluded.status,
			created_at = excluded.created_at,
			closed_at = excluded.closed_at`,
		len(ts), func(i int, args []any) []any {
			t := ts[i]
			if t.DisputeStatus == "" {
				t.DisputeStatus = "none"
			}
			return append(args, t.TicketID, t.UserID, t.RequestNumber, t.Subject, t.Description, t.TransactionRef,
				t.DisputeStatus, t.Status, t.CreatedAt, t.ClosedAt)
		})
	if err != nil {
		return fmt.Errorf("upsert ticket: %w", err)
	}
	return nil
}

// UpsertMessage inserts or updates a message by message id.
func UpsertMessage(ctx context.Context, q Querier, m Message) error {
	if err := UpsertMessages(ctx, q, []Message{m}); err != nil {
		return fmt.Errorf("message %s: %w", m.MessageID, err)
	}
	return nil
}

// UpsertMessages is UpsertMessage for many messages, in multi-row
// statements; their message ids must be distinct.
func UpsertMessages(ctx context.Context, q Querier, ms []Message) error {
	err := upsertRows(ctx, q, "INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES ",
		"(?, ?, ?, ?, ?, ?)", 6, `
		ON CONFLICT (message_id) DO UPDATE SET
			ticket_id = excluded.ticket_id, author = excluded.author, agent_id = excluded.agent_id,
			body = excluded.body, sent_at = excluded.sent_at`,
		len(ms), func(i int, args []any) []any {
			m := ms[i]
			return append(args, m.MessageID, m.TicketID, m.Author, m.AgentID, m.Body, m.SentAt)
		})
	if err != nil {
		return fmt.Errorf("upsert message: %w", err)
	}
	return nil
}

// GetAttachment loads an attachment's metadata (ErrNotFound when absent).
func GetAttachment(ctx context.Context, q Querier, id string) (Attachment, error) {
	var a Attachment
	err := q.Get(ctx, &a, `SELECT attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at
		FROM attachments WHERE attachment_id = ?`, id)
	if err != nil {
		return Attachment{}, fmt.Errorf("attachment %s: %w", id, err)
	}
	return a, nil
}

// UpsertAttachment inserts or updates an attachment's metadata by attachment
// id. When the update points the row at another blob, the previous blob key
// is queued in blob_deletions in the same transaction (see QueueBlobDeletion)
// and returned; "" otherwise.
func UpsertAttachment(ctx context.Context, q Querier, a Attachment, now time.Time) (replaced string, err error) {
	old, err := GetAttachment(ctx, q, a.AttachmentID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", err
	case old.BlobKey != a.BlobKey:
		replaced = old.BlobKey
	}
	_, err = q.Exec(ctx, `INSERT INTO attachments
		(attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (attachment_id) DO UPDATE SET
			ticket_id = excluded.ticket_id, message_id = excluded.message_id, filename = excluded.filename,
			content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
			blob_key = excluded.blob_key, uploaded_at = excluded.uploaded_at`,
		a.AttachmentID, a.TicketID, a.MessageID, a.Filename, a.ContentType, a.Size, a.SHA256, a.BlobKey, a.UploadedAt)
	if err != nil {
		return "", fmt.Errorf("upsert attachment %s: %w", a.AttachmentID, err)
	}
	if replaced != "" {
		if err := QueueBlobDeletion(ctx, q, replaced, "replaced", now); err != nil {
			return "", err
		}
	}
	return replaced, nil
}

// QueueBlobDeletion records, in the caller's transaction, that a blob's
// contents must be removed once that transaction has committed. The queue is
// durable: integrity.DrainBlobQueue (or `oubli check --repair`) finishes it
// even after a crash.
func QueueBlobDeletion(ctx context.Context, q Querier, key, reason string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO blob_deletions (blob_key, queued_at, reason) VALUES (?, ?, ?)
		ON CONFLICT (blob_key) DO NOTHING`, key, Millis(now), reason)
	if err != nil {
		return fmt.Errorf("queue blob deletion: %w", err)
	}
	return nil
}

// UpsertAccountEvent inserts or updates an account event by event id.
func UpsertAccountEvent(ctx context.Context, q Querier, e AccountEvent) error {
	if err := UpsertAccountEvents(ctx, q, []AccountEvent{e}); err != nil {
		return fmt.Errorf("account event %s: %w", e.EventID, err)
	}
	return nil
}

// UpsertAccountEvents is UpsertAccountEvent for many events, in multi-row
// statements; their event ids must be distinct.
func UpsertAccountEvents(ctx context.Context, q Querier, es []AccountEvent) error {
	err := upsertRows(ctx, q, "INSERT INTO account_events (event_id, user_id, type, at, detail) VALUES ",
		"(?, ?, ?, ?, ?)", 5, `
		ON CONFLICT (event_id) DO UPDATE SET
			user_id = excluded.user_id, type = excluded.type, at = excluded.at, detail = excluded.detail`,
		len(es), func(i int, args []any) []any {
			e := es[i]
			return append(args, e.EventID, e.UserID, e.Type, e.At, e.Detail)
		})
	if err != nil {
		return fmt.Errorf("upsert account event: %w", err)
	}
	return nil
}

// maxParams bounds the parameters of one multi-row statement, under both
// PostgreSQL's limit (65,535) and SQLite's (32,766).
const maxParams = 30000

// upsertRows runs head + n tuples + tail, in as few statements as the
// parameter limit allows; args appends row i's nargs arguments.
func upsertRows(ctx context.Context, q Querier, head, tuple string, nargs int, tail string, n int, args func(i int, args []any) []any) error {
	per := maxParams / nargs
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		var b strings.Builder
		b.Grow(len(head) + (hi-lo)*(len(tuple)+2) + len(tail))
		b.WriteString(head)
		a := make([]any, 0, (hi-lo)*nargs)
		for i := lo; i < hi; i++ {
			if i > lo {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			a = args(i, a)
		}
		b.WriteString(tail)
		if _, err := q.Exec(ctx, b.String(), a...); err != nil {
			return err
		}
	}
	return nil
}

// KnownSubjects returns which of ids exist in the subjects table.
func KnownSubjects(ctx context.Context, q Querier, ids []string) (map[string]bool, error) {
	known := make(map[string]bool, len(ids))
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		query, args, err := In("SELECT user_id FROM subjects WHERE user_id IN (?)", part)
		if err != nil {
			return nil, err
		}
		var found []string
		if err := q.Select(ctx, &found, query, args...); err != nil {
			return nil, fmt.Errorf("look up subjects: %w", err)
		}
		for _, id := range found {
			known[id] = true
		}
	}
	return known, nil
}

// NullString returns NULL for "" and the string otherwise, for optional
// text columns.
func NullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// blobLockKey is the PostgreSQL advisory lock that orders blob writers
// (ingest, seed: shared) against the orphan-blob sweep (exclusive).
const blobLockKey = 0x0AB1_B10B

// LockBlobWrites declares, inside tx, that the transaction writes blob files
// whose rows are not committed yet, so that a concurrent orphan sweep
// (LockBlobSweep) does not mistake them for orphans. On SQLite the write
// transaction itself is that lock.
func LockBlobWrites(ctx context.Context, tx *Tx) error {
	if tx.dialect != Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared(?)", blobLockKey); err != nil {
		return fmt.Errorf("blob write lock: %w", err)
	}
	return nil
}

// LockBlobSweep takes, inside tx, the exclusive right to remove orphaned
// blob files: it fails with ErrBusy while any transaction holding
// LockBlobWrites is open. On SQLite the write transaction itself is that
// lock (Begin takes it at once).
func LockBlobSweep(ctx context.Context, tx *Tx) error {
	if tx.dialect != Postgres {
		return nil
	}
	var ok bool
	if err := tx.Get(ctx, &ok, "SELECT pg_try_advisory_xact_lock(?)", blobLockKey); err != nil {
		return fmt.Errorf("blob sweep lock: %w", err)
	}
	if !ok {
		return fmt.Errorf("a load that writes attachment contents is in progress: %w", ErrBusy)
	}
	return nil
}
