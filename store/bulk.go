package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Bulk loads new support-contact rows fast: PostgreSQL through COPY FROM
// STDIN, SQLite through prepared INSERT statements, both in one transaction
// (see DB.BulkLoad). Rows are buffered and written table by table in
// foreign-key order at each Flush, so a caller that adds a subject before its
// tickets, and a ticket before its messages, may flush whenever it likes.
// Unlike the upserts of data.go, Bulk only inserts: an id that already exists
// fails the whole load.
type Bulk struct {
	tx       *Tx
	subjects []Subject
	tickets  []Ticket
	messages []Message
	atts     []Attachment
	events   []AccountEvent
	stmts    map[string]*sql.Stmt // SQLite prepared inserts
	// Counts of the rows written so far, per table.
	Counts BulkCounts
}

// BulkCounts counts the rows a Bulk wrote.
type BulkCounts struct {
	Subjects, Tickets, Messages, Attachments, AccountEvents int64
}

// bulkTables lists the tables in foreign-key order with their columns.
var bulkTables = []struct {
	name string
	cols []string
}{
	{"subjects", []string{"user_id", "email", "pseudo", "account_created_at", "account_closed_at", "created_at", "updated_at"}},
	{"tickets", []string{"ticket_id", "user_id", "request_number", "subject", "description", "transaction_ref", "dispute_status", "status", "created_at", "closed_at"}},
	{"messages", []string{"message_id", "ticket_id", "author", "agent_id", "body", "sent_at"}},
	{"attachments", []string{"attachment_id", "ticket_id", "message_id", "filename", "content_type", "size", "sha256", "blob_key", "uploaded_at"}},
	{"account_events", []string{"event_id", "user_id", "type", "at", "detail"}},
}

// BulkLoad runs fn with a Bulk inside one transaction, flushes what fn left
// buffered, and commits. If fn or any write fails, nothing is committed. On
// PostgreSQL the transaction also takes the blob-writer lock
// (LockBlobWrites), since a bulk load usually writes attachment contents
// before their rows.
func (db *DB) BulkLoad(ctx context.Context, fn func(b *Bulk) error) (BulkCounts, error) {
	var counts BulkCounts
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := LockBlobWrites(ctx, tx); err != nil {
			return err
		}
		b := &Bulk{tx: tx, stmts: map[string]*sql.Stmt{}}
		defer func() {
			for _, s := range b.stmts {
				s.Close()
			}
		}()
		if err := fn(b); err != nil {
			return err
		}
		if err := b.Flush(ctx); err != nil {
			return err
		}
		counts = b.Counts
		return nil
	})
	return counts, err
}

// Tx returns the load's transaction, for the few rows a caller writes
// otherwise (legal holds, the audit entry).
func (b *Bulk) Tx() *Tx { return b.tx }

// Buffered returns how many rows wait for the next Flush.
func (b *Bulk) Buffered() int {
	return len(b.subjects) + len(b.tickets) + len(b.messages) + len(b.atts) + len(b.events)
}

// Subject buffers a new subject; its created_at and updated_at are its
// CreatedAt and UpdatedAt.
func (b *Bulk) Subject(s Subject) { b.subjects = append(b.subjects, s) }

// Ticket buffers a new ticket.
func (b *Bulk) Ticket(t Ticket) { b.tickets = append(b.tickets, t) }

// Message buffers a new message.
func (b *Bulk) Message(m Message) { b.messages = append(b.messages, m) }

// Attachment buffers a new attachment row; its contents must already be in
// the blob store.
func (b *Bulk) Attachment(a Attachment) { b.atts = append(b.atts, a) }

// AccountEvent buffers a new account event.
func (b *Bulk) AccountEvent(e AccountEvent) { b.events = append(b.events, e) }

// Flush writes the buffered rows, table by table in foreign-key order.
func (b *Bulk) Flush(ctx context.Context) error {
	for i, t := range bulkTables {
		var rows [][]any
		switch i {
		case 0:
			for _, s := range b.subjects {
				rows = append(rows, []any{s.UserID, s.Email, s.Pseudo, s.AccountCreatedAt, s.AccountClosedAt, s.CreatedAt, s.UpdatedAt})
			}
			b.Counts.Subjects += int64(len(rows))
			b.subjects = b.subjects[:0]
		case 1:
			for _, x := range b.tickets {
				ds := x.DisputeStatus
				if ds == "" {
					ds = "none"
				}
				rows = append(rows, []any{x.TicketID, x.UserID, x.RequestNumber, x.Subject, x.Description, x.TransactionRef, ds, x.Status, x.CreatedAt, x.ClosedAt})
			}
			b.Counts.Tickets += int64(len(rows))
			b.tickets = b.tickets[:0]
		case 2:
			for _, m := range b.messages {
				rows = append(rows, []any{m.MessageID, m.TicketID, m.Author, m.AgentID, m.Body, m.SentAt})
			}
			b.Counts.Messages += int64(len(rows))
			b.messages = b.messages[:0]
		case 3:
			for _, a := range b.atts {
				rows = append(rows, []any{a.AttachmentID, a.TicketID, a.MessageID, a.Filename, a.ContentType, a.Size, a.SHA256, a.BlobKey, a.UploadedAt})
			}
			b.Counts.Attachments += int64(len(rows))
			b.atts = b.atts[:0]
		case 4:
			for _, e := range b.events {
				rows = append(rows, []any{e.EventID, e.UserID, e.Type, e.At, e.Detail})
			}
			b.Counts.AccountEvents += int64(len(rows))
			b.events = b.events[:0]
		}
		if len(rows) == 0 {
			continue
		}
		if err := b.write(ctx, t.name, t.cols, rows); err != nil {
			return fmt.Errorf("bulk load %s: %w", t.name, mapErr(err))
		}
	}
	return nil
}

func (b *Bulk) write(ctx context.Context, table string, cols []string, rows [][]any) error {
	if b.tx.dialect == Postgres {
		// lib/pq v1.12: a prepared "COPY … FROM STDIN" statement inside a
		// transaction; each Exec sends one row, a final Exec without
		// arguments ends the copy and reports its errors.
		stmt, err := b.tx.x.PrepareContext(ctx, "COPY "+table+" ("+strings.Join(cols, ", ")+") FROM STDIN")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r...); err != nil {
				return err
			}
		}
		_, err = stmt.ExecContext(ctx)
		return err
	}
	stmt := b.stmts[table]
	if stmt == nil {
		var err error
		stmt, err = b.tx.x.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES ("+Placeholders(len(cols))+")")
		if err != nil {
			return err
		}
		b.stmts[table] = stmt
	}
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			return err
		}
	}
	return nil
}
