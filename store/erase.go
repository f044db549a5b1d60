package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// SubjectTicket is a ticket of a subject with what an erasure decision needs.
type SubjectTicket struct {
	TicketID      string        `db:"ticket_id"`
	Status        string        `db:"status"`
	CreatedAt     int64         `db:"created_at"`
	ClosedAt      sql.NullInt64 `db:"closed_at"`
	DisputeStatus string        `db:"dispute_status"`
	Restricted    bool          `db:"restricted"`
	Held          bool          `db:"-"`
	HoldReason    string        `db:"-"`
}

// SubjectAttachment is an attachment of a subject's ticket.
type SubjectAttachment struct {
	AttachmentID string `db:"attachment_id"`
	TicketID     string `db:"ticket_id"`
	BlobKey      string `db:"blob_key"`
	Size         int64  `db:"size"`
	UploadedAt   int64  `db:"uploaded_at"`
}

// SubjectEvent is an account event of a subject.
type SubjectEvent struct {
	EventID string `db:"event_id"`
	Type    string `db:"type"`
	At      int64  `db:"at"`
}

// SubjectRecords is everything the store holds about one subject, as facts
// for the erasure policy. A subject's records are few (their own tickets),
// so they are loaded at once.
type SubjectRecords struct {
	Subject     Subject
	Tickets     []SubjectTicket
	Attachments []SubjectAttachment
	Events      []SubjectEvent
	Stat        *SubjectStat
	Objections  []Objection
	Requests    []Request
	// Held is true when a legal hold on the subject is active; HoldReason is
	// the first such hold's reason.
	Held       bool
	HoldReason string
}

// LoadSubjectRecords reads the subject's records and the legal holds on the
// subject or on its tickets that are in force at `at` (Unix ms): every hold
// committed so far that is neither released nor expired at `at`, whenever it
// was created — a hold is in force from the moment it commits, even when
// that is after the caller took its clock reading.
func LoadSubjectRecords(ctx context.Context, q Querier, userID, subjectHash string, at int64) (*SubjectRecords, error) {
	r := &SubjectRecords{}
	const cols = "user_id, email, pseudo, account_created_at, account_closed_at, restricted, anonymized_at, created_at, updated_at"
	if err := q.Get(ctx, &r.Subject, "SELECT "+cols+" FROM subjects WHERE user_id = ?", userID); err != nil {
		return nil, fmt.Errorf("load subject: %w", err)
	}
	if err := q.Select(ctx, &r.Tickets, `SELECT ticket_id, status, created_at, closed_at, dispute_status, restricted
		FROM tickets WHERE user_id = ? ORDER BY ticket_id`, userID); err != nil {
		return nil, fmt.Errorf("load tickets: %w", err)
	}
	if err := q.Select(ctx, &r.Attachments, `SELECT a.attachment_id, a.ticket_id, a.blob_key, a.size, a.uploaded_at
		FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE t.user_id = ? ORDER BY a.attachment_id`, userID); err != nil {
		return nil, fmt.Errorf("load attachments: %w", err)
	}
	if err := q.Select(ctx, &r.Events, "SELECT event_id, type, at FROM account_events WHERE user_id = ? ORDER BY event_id", userID); err != nil {
		return nil, fmt.Errorf("load account events: %w", err)
	}
	var st []SubjectStat
	if err := q.Select(ctx, &st, "SELECT user_id, avg_response_seconds, responses_counted, computed_at FROM subject_stats WHERE user_id = ?", userID); err != nil {
		return nil, fmt.Errorf("load subject_stats: %w", err)
	}
	if len(st) > 0 {
		r.Stat = &st[0]
	}
	if err := q.Select(ctx, &r.Objections, "SELECT user_id, purpose, created_at, request_id FROM objections WHERE user_id = ? ORDER BY purpose", userID); err != nil {
		return nil, fmt.Errorf("load objections: %w", err)
	}
	if err := q.Select(ctx, &r.Requests, `SELECT request_id, type, user_id, subject_hash, status, received_at, due_at, extended,
		extension_reason, refusal_reason, closed_at, created_at FROM dsr_requests
		WHERE user_id = ? OR subject_hash = ? ORDER BY request_id`, userID, subjectHash); err != nil {
		return nil, fmt.Errorf("load requests: %w", err)
	}
	// Active holds on the subject, then on each ticket.
	var holds []struct {
		TicketID sql.NullString `db:"ticket_id"`
		Reason   string         `db:"reason"`
	}
	if err := q.Select(ctx, &holds, `SELECT h.ticket_id, h.reason FROM legal_holds h
		WHERE (h.user_id = ? OR h.ticket_id IN (SELECT ticket_id FROM tickets WHERE user_id = ?))
		AND (h.released_at IS NULL OR h.released_at > ?) AND (h.until IS NULL OR h.until > ?)
		ORDER BY h.created_at, h.hold_id`, userID, userID, at, at); err != nil {
		return nil, fmt.Errorf("load legal holds: %w", err)
	}
	byTicket := map[string]string{}
	for _, h := range holds {
		if !h.TicketID.Valid {
			if !r.Held {
				r.Held, r.HoldReason = true, h.Reason
			}
			continue
		}
		if _, ok := byTicket[h.TicketID.String]; !ok {
			byTicket[h.TicketID.String] = h.Reason
		}
	}
	for i := range r.Tickets {
		t := &r.Tickets[i]
		if reason, ok := byTicket[t.TicketID]; ok {
			t.Held, t.HoldReason = true, reason
		} else if r.Held {
			t.Held, t.HoldReason = true, r.HoldReason
		}
	}
	return r, nil
}

// LockAgainstHolds orders an erasure's transaction with new legal holds on
// PostgreSQL: it takes the shared side of the lock AddHold takes
// exclusively (as a purge batch does, LockPurgeBatch). A hold committed
// before it is granted is seen by every later statement of the erasure; a
// hold added after it waits for the erasure to commit. No-op on SQLite,
// where the write transaction excludes every other writer.
func LockAgainstHolds(ctx context.Context, tx *Tx) error {
	if err := LockPurgeBatch(ctx, tx); err != nil {
		return fmt.Errorf("erasure: lock out new legal holds: %w", err)
	}
	return nil
}

// chunks calls fn with ids in slices of at most 500, so that statements stay
// under the backends' parameter limits.
func chunks(ids []string, fn func(part []string) error) error {
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		if err := fn(ids[i:min(i+batch, len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

func execIn(ctx context.Context, tx *Tx, query string, ids []string, args ...any) (int64, error) {
	var total int64
	err := chunks(ids, func(part []string) error {
		q, a, err := In(query, append(append([]any{}, args...), part)...)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, q, a...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		total += n
		return err
	})
	return total, err
}

// EraseCounts counts the rows an erasure step removed or changed.
type EraseCounts struct {
	Tickets     int64
	Messages    int64
	Attachments int64
	BlobsQueued int64
}

// EraseTickets deletes the tickets with their messages and attachments,
// queueing the attachments' blob contents in blob_deletions (drained after
// commit).
func EraseTickets(ctx context.Context, tx *Tx, ids []string, reason string, at int64) (EraseCounts, error) {
	var c EraseCounts
	var err error
	if c.BlobsQueued, err = execIn(ctx, tx, `INSERT INTO blob_deletions (blob_key, queued_at, reason)
		SELECT blob_key, ?, ? FROM attachments WHERE ticket_id IN (?) ON CONFLICT (blob_key) DO NOTHING`, ids, at, reason); err != nil {
		return c, fmt.Errorf("queue blob deletions: %w", err)
	}
	if c.Attachments, err = execIn(ctx, tx, "DELETE FROM attachments WHERE ticket_id IN (?)", ids); err != nil {
		return c, fmt.Errorf("delete attachments: %w", err)
	}
	if c.Messages, err = execIn(ctx, tx, "DELETE FROM messages WHERE ticket_id IN (?)", ids); err != nil {
		return c, fmt.Errorf("delete messages: %w", err)
	}
	if c.Tickets, err = execIn(ctx, tx, "DELETE FROM tickets WHERE ticket_id IN (?)", ids); err != nil {
		return c, fmt.Errorf("delete tickets: %w", err)
	}
	return c, nil
}

// EraseAttachments deletes attachment rows and queues their blob contents.
func EraseAttachments(ctx context.Context, tx *Tx, ids []string, reason string, at int64) (EraseCounts, error) {
	var c EraseCounts
	var err error
	if c.BlobsQueued, err = execIn(ctx, tx, `INSERT INTO blob_deletions (blob_key, queued_at, reason)
		SELECT blob_key, ?, ? FROM attachments WHERE attachment_id IN (?) ON CONFLICT (blob_key) DO NOTHING`, ids, at, reason); err != nil {
		return c, fmt.Errorf("queue blob deletions: %w", err)
	}
	if c.Attachments, err = execIn(ctx, tx, "DELETE FROM attachments WHERE attachment_id IN (?)", ids); err != nil {
		return c, fmt.Errorf("delete attachments: %w", err)
	}
	return c, nil
}

// RestrictSubjectTickets marks tickets restricted (Art. 18: kept, not processed),
// and anonymised at `anonymizedAt` when that is non-zero.
func RestrictSubjectTickets(ctx context.Context, tx *Tx, ids []string, anonymizedAt int64) (int64, error) {
	if anonymizedAt != 0 {
		return execIn(ctx, tx, "UPDATE tickets SET restricted = TRUE, anonymized_at = COALESCE(anonymized_at, ?) WHERE ticket_id IN (?)", ids, anonymizedAt)
	}
	return execIn(ctx, tx, "UPDATE tickets SET restricted = TRUE WHERE ticket_id IN (?)", ids)
}

// EraseAccountEvents deletes account events by id.
func EraseAccountEvents(ctx context.Context, tx *Tx, ids []string) (int64, error) {
	return execIn(ctx, tx, "DELETE FROM account_events WHERE event_id IN (?)", ids)
}

// EraseObjections deletes the subject's objections to the given purposes.
func EraseObjections(ctx context.Context, tx *Tx, userID string, purposes []string) (int64, error) {
	return execIn(ctx, tx, "DELETE FROM objections WHERE user_id = ? AND purpose IN (?)", purposes, userID)
}

// RestrictSubject marks the subject restricted.
func RestrictSubject(ctx context.Context, tx *Tx, userID string, at int64) error {
	_, err := tx.Exec(ctx, "UPDATE subjects SET restricted = TRUE, updated_at = ? WHERE user_id = ?", at, userID)
	return err
}

// EraseSubjectRow deletes the subject row. Its tickets, events, statistics and
// objections must be gone (else ErrConflict). Legal holds naming the subject
// are moved to holdRef (a pseudonym) so that their own retention can run
// without the identifier.
func EraseSubjectRow(ctx context.Context, tx *Tx, userID, holdRef string) error {
	if _, err := tx.Exec(ctx, "UPDATE legal_holds SET user_id = ? WHERE user_id = ?", holdRef, userID); err != nil {
		return fmt.Errorf("pseudonymise legal holds: %w", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM subjects WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("delete subject: %w", err)
	}
	return nil
}

// Pseudonym is what replaces a subject's identifiers when the policies keep
// the subject's record for a while (Art. 17(3)).
type Pseudonym struct {
	UserID, Email, Pseudo string
}

// PseudonymiseSubject replaces the subject's user id, e-mail and pseudo by
// the pseudonym everywhere they are held (subject row, tickets, account
// events, statistics, objections, legal holds), and marks the subject
// restricted and anonymised at `at`. The user id is a primary key referenced
// by other tables, so the row is copied under the new id, the references
// moved, and the old row deleted.
func PseudonymiseSubject(ctx context.Context, tx *Tx, userID string, p Pseudonym, at int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO subjects (user_id, email, pseudo, account_created_at, account_closed_at, restricted, anonymized_at, created_at, updated_at)
		SELECT ?, ?, ?, account_created_at, account_closed_at, TRUE, ?, created_at, ? FROM subjects WHERE user_id = ?`,
		p.UserID, p.Email, p.Pseudo, at, at, userID)
	if err != nil {
		return fmt.Errorf("pseudonymise subject: %w", err)
	}
	for _, table := range []string{"tickets", "account_events", "subject_stats", "objections", "legal_holds"} {
		if _, err := tx.Exec(ctx, "UPDATE "+table+" SET user_id = ? WHERE user_id = ?", p.UserID, userID); err != nil {
			return fmt.Errorf("pseudonymise %s: %w", table, err)
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM subjects WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("pseudonymise subject: %w", err)
	}
	return nil
}

// RectifySubject sets the subject's e-mail and/or pseudo (empty: unchanged).
func RectifySubject(ctx context.Context, tx *Tx, userID, email, pseudo string, at int64) error {
	sets, args := []string{"updated_at = ?"}, []any{at}
	if email != "" {
		sets, args = append(sets, "email = ?"), append(args, email)
	}
	if pseudo != "" {
		sets, args = append(sets, "pseudo = ?"), append(args, pseudo)
	}
	// An anonymised subject holds no contact data any more: writing a new
	// address would bring identifying data back past its retention period,
	// and no later run would anonymise it again (adversarial pass 6, F1).
	res, err := tx.Exec(ctx, "UPDATE subjects SET "+strings.Join(sets, ", ")+" WHERE user_id = ? AND anonymized_at IS NULL", append(args, userID)...)
	if err != nil {
		return fmt.Errorf("rectify subject: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var anon sql.NullInt64
		if err := tx.Get(ctx, &anon, "SELECT anonymized_at FROM subjects WHERE user_id = ?", userID); err != nil || !anon.Valid {
			return fmt.Errorf("rectify subject: %w", ErrNotFound)
		}
		return fmt.Errorf("rectify subject: the subject's contact data was anonymised on %s under the retention policies; nothing identifying is left to rectify: %w",
			FromMillis(anon.Int64).UTC().Format("2006-01-02"), ErrState)
	}
	return nil
}

// QueuedBlobs returns up to limit keys of the blob deletion queue.
func QueuedBlobs(ctx context.Context, q Querier, limit int) ([]string, error) {
	var keys []string
	err := q.Select(ctx, &keys, fmt.Sprintf("SELECT blob_key FROM blob_deletions ORDER BY queued_at, blob_key LIMIT %d", limit))
	return keys, err
}

// BlobDeleted removes a key from the blob deletion queue once its contents
// are gone.
func BlobDeleted(ctx context.Context, q Querier, key string) error {
	_, err := q.Exec(ctx, "DELETE FROM blob_deletions WHERE blob_key = ?", key)
	return err
}

// TableText is a table and its text columns, for residue scans.
type TableText struct {
	Table   string
	Columns []string
	// TicketCol and UserCol name the table's ticket_id / user_id columns
	// ("" when absent), so that rows kept by policy can be told apart.
	TicketCol, UserCol string
}

// TextColumns lists every table of the store with its text columns, from the
// database's own catalog, so that a table added later is scanned too.
func TextColumns(ctx context.Context, q Querier) ([]TableText, error) {
	var rows []struct {
		Table  string `db:"tbl"`
		Column string `db:"col"`
	}
	var err error
	if q.Dialect() == Postgres {
		err = q.Select(ctx, &rows, `SELECT table_name AS tbl, column_name AS col FROM information_schema.columns
			WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
			ORDER BY table_name, ordinal_position`)
	} else {
		err = q.Select(ctx, &rows, `SELECT m.name AS tbl, p.name AS col FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND (UPPER(p.type) LIKE '%TEXT%' OR UPPER(p.type) LIKE '%CHAR%' OR p.type = '')
			ORDER BY m.name, p.cid`)
	}
	if err != nil {
		return nil, fmt.Errorf("list text columns: %w", err)
	}
	var out []TableText
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Table != r.Table {
			out = append(out, TableText{Table: r.Table})
		}
		t := &out[len(out)-1]
		t.Columns = append(t.Columns, r.Column)
		switch r.Column {
		case "ticket_id":
			t.TicketCol = r.Column
		case "user_id":
			t.UserCol = r.Column
		}
	}
	return out, nil
}

// ScanText streams every row of t's text columns to fn (NULLs as "").
func ScanText(ctx context.Context, q Querier, t TableText, fn func(vals []string) error) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = "CAST(" + quoteIdent(c) + " AS TEXT)"
	}
	rows, err := q.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(t.Table))
	if err != nil {
		return fmt.Errorf("scan %s: %w", t.Table, err)
	}
	defer rows.Close()
	raw := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	vals := make([]string, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("scan %s: %w", t.Table, err)
		}
		for i := range raw {
			vals[i] = raw[i].String
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Checkpoint makes a SQLite store's erased content unrecoverable from its
// files: it copies the write-ahead log into the database file and truncates
// it (the WAL holds earlier page images, with the erased values). Freed pages
// and cells are already zeroed (secure_delete). It reports whether the
// checkpoint completed (a concurrent reader can hold it back). No-op on
// PostgreSQL.
//
// It waits for readers at most CheckpointWait, not the store's (long) busy
// timeout: a reader's open transaction can hold a checkpoint back for as
// long as it likes, and the caller reports a busy checkpoint as work left.
func (db *DB) Checkpoint(ctx context.Context) (bool, error) {
	return db.CheckpointWithin(ctx, CheckpointWait)
}

// CheckpointWait is how long Checkpoint waits for readers holding the WAL.
const CheckpointWait = 10 * time.Second

// CheckpointWithin is Checkpoint, retried by SQLite's busy handler for at
// most wait while readers hold the WAL back (a reader's open transaction
// pins the pages it may still read). It reports whether the checkpoint
// completed. No-op on PostgreSQL.
func (db *DB) CheckpointWithin(ctx context.Context, wait time.Duration) (bool, error) {
	if db.dialect != SQLite {
		return true, nil
	}
	conn, err := db.x.Connx(ctx)
	if err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", max(wait.Milliseconds(), 0))); err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	// The connection goes back to the pool with the store's usual wait.
	defer conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA busy_timeout = %d", SQLiteBusyTimeout.Milliseconds()))
	var r struct {
		Busy         int64 `db:"busy"`
		Log          int64 `db:"log"`
		Checkpointed int64 `db:"checkpointed"`
	}
	if err := conn.GetContext(ctx, &r, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	return r.Busy == 0, nil
}

// Vacuum rebuilds a SQLite store file (VACUUM), leaving no free page behind;
// then checkpoints. No-op on PostgreSQL, where VACUUM FULL is an operator's
// decision (it locks tables).
func (db *DB) Vacuum(ctx context.Context) error {
	if db.dialect != SQLite {
		return nil
	}
	if _, err := db.Exec(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	_, err := db.Checkpoint(ctx)
	return err
}
