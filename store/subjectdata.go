package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Streaming reads of everything the store holds on one subject, for access
// and portability exports (Art. 15, 20). Every reader streams rows (or pages
// through them) so memory does not grow with the subject's history; run them
// inside one BeginRead transaction for a consistent snapshot.

// BeginRead starts a read-only transaction that sees one consistent snapshot:
// REPEATABLE READ on PostgreSQL; a deferred transaction on SQLite (whose WAL
// snapshot is fixed at the first read), which does not take the write lock.
// Only one query may be open at a time on it (lib/pq): finish reading one
// result set before starting the next.
func (db *DB) BeginRead(ctx context.Context) (*Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	x, err := db.x.BeginTxx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin read transaction: %w", mapErr(err))
	}
	return &Tx{x: x, dialect: db.dialect}, nil
}

// TicketPageSize is how many tickets WalkSubjectTickets loads at a time.
const TicketPageSize = 200

// TicketVisitor receives a subject's tickets in order (created_at, then
// ticket_id): Ticket with the ticket and its attachments' metadata, then
// Message for each of its messages (sent_at, then message_id), then End.
type TicketVisitor struct {
	Ticket  func(t Ticket, atts []Attachment) error
	Message func(m Message) error
	End     func(t Ticket) error
}

const (
	ticketCols     = "ticket_id, user_id, request_number, subject, description, transaction_ref, dispute_status, status, created_at, closed_at, restricted, anonymized_at"
	messageCols    = "m.message_id, m.ticket_id, m.author, m.agent_id, m.body, m.sent_at"
	attachmentCols = "attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at"
)

// WalkSubjectTickets streams the subject's tickets with their messages and
// attachments' metadata to v. Tickets are read a page at a time, messages
// streamed; memory holds one page of tickets and its attachments' metadata.
func WalkSubjectTickets(ctx context.Context, q Querier, userID string, v TicketVisitor) error {
	afterCreated, afterID := int64(-1<<62), ""
	for {
		var page []Ticket
		err := q.Select(ctx, &page, "SELECT "+ticketCols+` FROM tickets
			WHERE user_id = ? AND (created_at > ? OR (created_at = ? AND ticket_id > ?))
			ORDER BY created_at, ticket_id LIMIT ?`,
			userID, afterCreated, afterCreated, afterID, TicketPageSize)
		if err != nil {
			return fmt.Errorf("read tickets: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := walkPage(ctx, q, page, v); err != nil {
			return err
		}
		last := page[len(page)-1]
		afterCreated, afterID = last.CreatedAt, last.TicketID
		if len(page) < TicketPageSize {
			return nil
		}
	}
}

func walkPage(ctx context.Context, q Querier, page []Ticket, v TicketVisitor) error {
	ids := make([]any, len(page))
	for i, t := range page {
		ids[i] = t.TicketID
	}
	var atts []Attachment
	if err := q.Select(ctx, &atts, "SELECT "+attachmentCols+" FROM attachments WHERE ticket_id IN ("+Placeholders(len(ids))+
		") ORDER BY ticket_id, uploaded_at, attachment_id", ids...); err != nil {
		return fmt.Errorf("read attachments: %w", err)
	}
	byTicket := make(map[string][]Attachment, len(page))
	for _, a := range atts {
		byTicket[a.TicketID] = append(byTicket[a.TicketID], a)
	}
	// Messages in the page's ticket order, so tickets are visited in turn.
	rows, err := q.Query(ctx, "SELECT "+messageCols+` FROM messages m JOIN tickets t ON t.ticket_id = m.ticket_id
		WHERE m.ticket_id IN (`+Placeholders(len(ids))+`)
		ORDER BY t.created_at, t.ticket_id, m.sent_at, m.message_id`, ids...)
	if err != nil {
		return fmt.Errorf("read messages: %w", err)
	}
	defer rows.Close()
	i := -1 // index of the ticket being visited
	next := func() error {
		if i >= 0 && v.End != nil {
			if err := v.End(page[i]); err != nil {
				return err
			}
		}
		i++
		if v.Ticket != nil {
			return v.Ticket(page[i], byTicket[page[i].TicketID])
		}
		return nil
	}
	for rows.Next() {
		var m Message
		if err := rows.StructScan(&m); err != nil {
			return fmt.Errorf("read messages: %w", err)
		}
		for i < 0 || page[i].TicketID != m.TicketID {
			if i+1 >= len(page) {
				return fmt.Errorf("read messages: message out of ticket order")
			}
			if err := next(); err != nil {
				return err
			}
		}
		if v.Message != nil {
			if err := v.Message(m); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read messages: %w", err)
	}
	rows.Close()
	for i+1 < len(page) {
		if err := next(); err != nil {
			return err
		}
	}
	if i >= 0 && v.End != nil {
		return v.End(page[i])
	}
	return nil
}

// EachSubjectAttachment streams the metadata of every attachment of the
// subject's tickets, in the same order as WalkSubjectTickets visits them.
func EachSubjectAttachment(ctx context.Context, q Querier, userID string, fn func(Attachment) error) error {
	rows, err := q.Query(ctx, `SELECT a.attachment_id, a.ticket_id, a.message_id, a.filename, a.content_type, a.size, a.sha256, a.blob_key, a.uploaded_at
		FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id
		WHERE t.user_id = ? ORDER BY t.created_at, t.ticket_id, a.uploaded_at, a.attachment_id`, userID)
	if err != nil {
		return fmt.Errorf("read attachments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Attachment
		if err := rows.StructScan(&a); err != nil {
			return fmt.Errorf("read attachments: %w", err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read attachments: %w", err)
	}
	return nil
}

// EachSubjectEvent streams the subject's account events, oldest first.
func EachSubjectEvent(ctx context.Context, q Querier, userID string, fn func(AccountEvent) error) error {
	rows, err := q.Query(ctx, "SELECT event_id, user_id, type, at, detail FROM account_events WHERE user_id = ? ORDER BY at, event_id", userID)
	if err != nil {
		return fmt.Errorf("read account events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AccountEvent
		if err := rows.StructScan(&e); err != nil {
			return fmt.Errorf("read account events: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read account events: %w", err)
	}
	return nil
}

// SubjectStatOf returns the subject's derived statistics, or nil when none
// are held.
func SubjectStatOf(ctx context.Context, q Querier, userID string) (*SubjectStat, error) {
	var s []SubjectStat
	if err := q.Select(ctx, &s, "SELECT user_id, avg_response_seconds, responses_counted, computed_at FROM subject_stats WHERE user_id = ?", userID); err != nil {
		return nil, fmt.Errorf("read subject statistics: %w", err)
	}
	if len(s) == 0 {
		return nil, nil
	}
	return &s[0], nil
}

// SubjectObjections returns the subject's objections (Art. 21), oldest first.
func SubjectObjections(ctx context.Context, q Querier, userID string) ([]Objection, error) {
	out := []Objection{}
	if err := q.Select(ctx, &out, "SELECT user_id, purpose, created_at, request_id FROM objections WHERE user_id = ? ORDER BY created_at, purpose", userID); err != nil {
		return nil, fmt.Errorf("read objections: %w", err)
	}
	return out, nil
}

// SubjectHolds returns the legal holds on the subject or on any of their
// tickets, oldest first.
func SubjectHolds(ctx context.Context, q Querier, userID string) ([]Hold, error) {
	out := []Hold{}
	if err := q.Select(ctx, &out, `SELECT hold_id, ticket_id, user_id, reason, created_at, until, released_at FROM legal_holds
		WHERE user_id = ? OR ticket_id IN (SELECT ticket_id FROM tickets WHERE user_id = ?)
		ORDER BY created_at, hold_id`, userID, userID); err != nil {
		return nil, fmt.Errorf("read legal holds: %w", err)
	}
	return out, nil
}

// SubjectRequests returns the subject's entries of the request register
// (matched by keyed subject hash, so requests made before a change of user
// id record are found too), oldest first.
func SubjectRequests(ctx context.Context, q Querier, subjectHash string) ([]Request, error) {
	out := []Request{}
	if err := q.Select(ctx, &out, "SELECT "+requestCols+" FROM dsr_requests WHERE subject_hash = ? ORDER BY received_at, request_id", subjectHash); err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	return out, nil
}
