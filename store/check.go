package store

import (
	"context"
	"fmt"
	"strconv"
)

// Problem is one integrity problem found in the store. Ref is an internal
// id (ticket, message, attachment, event, request action, blob key) or, for
// rows keyed by a subject, the keyed hash of the user id: never personal
// data.
type Problem struct {
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
}

// Kinds of problems found by CheckRows.
const (
	ProblemTicketWithoutSubject       = "ticket_without_subject"
	ProblemMessageWithoutTicket       = "message_without_ticket"
	ProblemAttachmentWithoutTicket    = "attachment_without_ticket"
	ProblemAttachmentWithoutMessage   = "attachment_without_message"
	ProblemAttachmentMessageElsewhere = "attachment_message_of_other_ticket"
	ProblemEventWithoutSubject        = "account_event_without_subject"
	ProblemStatWithoutSubject         = "subject_stat_of_unknown_subject"
	ProblemObjectionWithoutSubject    = "objection_of_unknown_subject"
	ProblemActionWithoutRequest       = "dsr_action_without_request"
	ProblemBlobDeletionPending        = "blob_deletion_pending"
	ProblemBlobDeletionReferenced     = "blob_deletion_still_referenced"
)

// rowChecks are the orphan queries. They do not rely on foreign keys: a
// restored or hand-edited database may lack them. keyed marks refs that are
// user ids, replaced by their keyed hash.
var rowChecks = []struct {
	kind  string
	query string
	keyed bool
}{
	{ProblemTicketWithoutSubject, `SELECT t.ticket_id FROM tickets t WHERE t.user_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM subjects s WHERE s.user_id = t.user_id) ORDER BY t.ticket_id`, false},
	{ProblemMessageWithoutTicket, `SELECT m.message_id FROM messages m
		WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.ticket_id = m.ticket_id) ORDER BY m.message_id`, false},
	{ProblemAttachmentWithoutTicket, `SELECT a.attachment_id FROM attachments a
		WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.ticket_id = a.ticket_id) ORDER BY a.attachment_id`, false},
	{ProblemAttachmentWithoutMessage, `SELECT a.attachment_id FROM attachments a WHERE a.message_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = a.message_id) ORDER BY a.attachment_id`, false},
	{ProblemAttachmentMessageElsewhere, `SELECT a.attachment_id FROM attachments a
		JOIN messages m ON m.message_id = a.message_id WHERE m.ticket_id <> a.ticket_id ORDER BY a.attachment_id`, false},
	{ProblemEventWithoutSubject, `SELECT e.event_id FROM account_events e
		WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.user_id = e.user_id) ORDER BY e.event_id`, false},
	{ProblemStatWithoutSubject, `SELECT st.user_id FROM subject_stats st
		WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.user_id = st.user_id) ORDER BY st.user_id`, true},
	{ProblemObjectionWithoutSubject, `SELECT DISTINCT o.user_id FROM objections o
		WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.user_id = o.user_id) ORDER BY o.user_id`, true},
	{ProblemActionWithoutRequest, `SELECT CAST(d.id AS TEXT) FROM dsr_actions d
		WHERE NOT EXISTS (SELECT 1 FROM dsr_requests r WHERE r.request_id = d.request_id) ORDER BY 1`, false},
	{ProblemBlobDeletionReferenced, `SELECT d.blob_key FROM blob_deletions d
		WHERE EXISTS (SELECT 1 FROM attachments a WHERE a.blob_key = d.blob_key) ORDER BY d.blob_key`, false},
	{ProblemBlobDeletionPending, `SELECT d.blob_key FROM blob_deletions d
		WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_key = d.blob_key) ORDER BY d.blob_key`, false},
}

// CheckRows streams the store's row-level integrity problems to fn:
// children without parents, statistics and objections of unknown subjects,
// and blob deletions not yet carried out. h hashes user ids.
func (db *DB) CheckRows(ctx context.Context, h *Hasher, fn func(Problem) error) error {
	for _, c := range rowChecks {
		if err := db.eachString(ctx, c.query, func(ref string) error {
			if c.keyed {
				ref = h.Hash("user_id", ref)
			}
			return fn(Problem{Kind: c.kind, Ref: ref})
		}); err != nil {
			return fmt.Errorf("check %s: %w", c.kind, err)
		}
	}
	return nil
}

// AttachmentBlob is the part of an attachment row that the blob checks need.
type AttachmentBlob struct {
	AttachmentID string `db:"attachment_id"`
	BlobKey      string `db:"blob_key"`
	Size         int64  `db:"size"`
	SHA256       string `db:"sha256"`
}

// EachAttachmentBlob streams every attachment's blob reference to fn.
func EachAttachmentBlob(ctx context.Context, q Querier, fn func(AttachmentBlob) error) error {
	rows, err := q.Query(ctx, "SELECT attachment_id, blob_key, size, sha256 FROM attachments ORDER BY attachment_id")
	if err != nil {
		return fmt.Errorf("list attachments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a AttachmentBlob
		if err := rows.StructScan(&a); err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PendingBlobDeletions returns up to limit queued blob keys, oldest first,
// that no attachment refers to any more.
func PendingBlobDeletions(ctx context.Context, q Querier, limit int) ([]string, error) {
	var keys []string
	err := q.Select(ctx, &keys, `SELECT d.blob_key FROM blob_deletions d
		WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_key = d.blob_key)
		ORDER BY d.queued_at, d.blob_key LIMIT `+strconv.Itoa(limit))
	if err != nil {
		return nil, fmt.Errorf("blob deletion queue: %w", err)
	}
	return keys, nil
}

// DequeueBlobDeletion removes a key from the deletion queue, once its
// contents are gone.
func DequeueBlobDeletion(ctx context.Context, q Querier, key string) error {
	_, err := q.Exec(ctx, "DELETE FROM blob_deletions WHERE blob_key = ?", key)
	if err != nil {
		return fmt.Errorf("dequeue blob deletion: %w", err)
	}
	return nil
}

func (db *DB) eachString(ctx context.Context, query string, fn func(string) error) error {
	rows, err := db.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}
