package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SubjectKey names a data subject by exactly one of user id or e-mail.
type SubjectKey struct {
	UserID string
	Email  string
}

// Validate checks that exactly one identifier is set.
func (k SubjectKey) Validate() error {
	if (k.UserID == "") == (k.Email == "") {
		return fmt.Errorf("name a subject by exactly one of --user-id or --email: %w", ErrInvalid)
	}
	return nil
}

// String describes the key without revealing it (for errors that may be logged).
func (k SubjectKey) String() string {
	if k.UserID != "" {
		return "subject (by user id)"
	}
	return "subject (by e-mail)"
}

// byEmail is the condition finding a subject by e-mail address: as typed,
// trimmed, normalised (NormalizeEmail), or case-insensitively; each branch
// is an index probe (subjects_email, subjects_email_lower).
const byEmail = "email IN (?, ?, ?) OR LOWER(email) = ?"

// FindSubject loads the subject named by k. An e-mail address is compared
// after NormalizeEmail (ingest stores that form); addresses stored before
// it are still found by an ASCII case-insensitive match. ErrNotFound when
// there is none.
func FindSubject(ctx context.Context, q Querier, k SubjectKey) (Subject, error) {
	if err := k.Validate(); err != nil {
		return Subject{}, err
	}
	var s Subject
	var err error
	const cols = "user_id, email, pseudo, account_created_at, account_closed_at, restricted, anonymized_at, created_at, updated_at"
	if k.UserID != "" {
		err = q.Get(ctx, &s, "SELECT "+cols+" FROM subjects WHERE user_id = ?", k.UserID)
	} else {
		var all []Subject
		raw := strings.TrimSpace(k.Email)
		forms := emailForms(k.Email)
		err = q.Select(ctx, &all, "SELECT "+cols+" FROM subjects WHERE email IN ("+Placeholders(len(forms))+") OR LOWER(email) = ? ORDER BY user_id LIMIT 2",
			append(forms, strings.ToLower(raw))...)
		switch {
		case err != nil:
		case len(all) == 0:
			err = ErrNotFound
		case len(all) > 1:
			err = fmt.Errorf("two subjects share this e-mail address; name the subject by --user-id: %w", ErrInvalid)
		default:
			s = all[0]
		}
	}
	if errors.Is(err, ErrNotFound) {
		return Subject{}, fmt.Errorf("unknown %s: %w", k, ErrNotFound)
	}
	return s, err
}

// LockSubject locks one subject's row inside tx until it ends: exclusive
// (an erasure, before anything else it reads) or shared (a request opened
// for the subject). An erasure thereby sees every request opened before it
// and no request is opened, under the subject's plain id, while or after it
// runs. On SQLite the transaction's write lock already serialises them; the
// row is only checked. A subject that does not exist (any more) is
// ErrNotFound.
func LockSubject(ctx context.Context, tx *Tx, userID string, exclusive bool) error {
	q := "SELECT user_id FROM subjects WHERE user_id = ?"
	if tx.dialect == Postgres {
		if exclusive {
			q += " FOR UPDATE"
		} else {
			q += " FOR SHARE"
		}
	}
	var id string
	if err := tx.Get(ctx, &id, q, userID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("subject: %w", err)
		}
		return fmt.Errorf("lock subject: %w", err)
	}
	return nil
}

// LockSubjects takes the shared subject lock of LockSubject on every
// existing subject of ids inside tx (PostgreSQL: FOR SHARE, which waits for
// an erasure holding the subject FOR UPDATE and keeps any from starting
// until tx ends). On SQLite the transaction's write lock already serialises
// writers. Ids the store does not hold are skipped.
func LockSubjects(ctx context.Context, tx *Tx, ids []string) error {
	if tx.dialect != Postgres || len(ids) == 0 {
		return nil
	}
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		query, args, err := In("SELECT user_id FROM subjects WHERE user_id IN (?) ORDER BY user_id FOR SHARE", part)
		if err != nil {
			return err
		}
		var got []string
		if err := tx.Select(ctx, &got, query, args...); err != nil {
			return fmt.Errorf("lock subjects: %w", err)
		}
	}
	return nil
}

// SubjectMatch is a subject found by SearchSubjects: its user id and the
// state of its account.
type SubjectMatch struct {
	UserID          string        `db:"user_id" json:"user_id"`
	AccountClosedAt sql.NullInt64 `db:"account_closed_at" json:"-"`
	AnonymizedAt    sql.NullInt64 `db:"anonymized_at" json:"-"`
	Tickets         int64         `db:"tickets" json:"tickets"`
}

// SubjectQuery names what SearchSubjects looks for: exactly one of an
// e-mail address (compared as FindSubject compares it: NormalizeEmail,
// stored legacy forms, ASCII case-insensitively), a
// pseudo (exact) or a ticket id.
type SubjectQuery struct {
	Email, Pseudo, Ticket string
}

// SearchSubjects returns the subjects matching q, by user id; none is
// ErrNotFound. Several subjects may share a pseudo.
func SearchSubjects(ctx context.Context, q Querier, sq SubjectQuery) ([]SubjectMatch, error) {
	n := 0
	for _, v := range []string{sq.Email, sq.Pseudo, sq.Ticket} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("look a subject up by exactly one of --email, --pseudo or --ticket: %w", ErrInvalid)
	}
	const sel = `SELECT s.user_id, s.account_closed_at, s.anonymized_at,
		(SELECT COUNT(*) FROM tickets t WHERE t.user_id = s.user_id) AS tickets FROM subjects s WHERE `
	var where, what string
	var args []any
	switch {
	case sq.Email != "":
		// As FindSubject compares (erase, export, object): every stored form.
		forms := emailForms(sq.Email)
		where, what = "s.email IN ("+Placeholders(len(forms))+") OR LOWER(s.email) = ?", "e-mail address"
		args = append(forms, strings.ToLower(strings.TrimSpace(sq.Email)))
	case sq.Pseudo != "":
		where, what = "s.pseudo = ?", "pseudo"
		args = []any{sq.Pseudo}
	default:
		where, what = "s.user_id IN (SELECT user_id FROM tickets WHERE ticket_id = ?)", "ticket"
		args = []any{sq.Ticket}
	}
	out := []SubjectMatch{}
	if err := q.Select(ctx, &out, sel+where+" ORDER BY s.user_id LIMIT 1000", args...); err != nil {
		return nil, fmt.Errorf("find subjects: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no subject has this %s: %w", what, ErrNotFound)
	}
	return out, nil
}

// EmailHolders returns, for the given normalised e-mail addresses
// (NormalizeEmail), the user ids of the subjects that hold each.
func EmailHolders(ctx context.Context, q Querier, emails []string) (map[string][]string, error) {
	holders := make(map[string][]string)
	const batch = 500
	for i := 0; i < len(emails); i += batch {
		part := emails[i:min(i+batch, len(emails))]
		query, args, err := In("SELECT email, user_id FROM subjects WHERE email IN (?)", part)
		if err != nil {
			return nil, err
		}
		var rows []struct {
			Email  string `db:"email"`
			UserID string `db:"user_id"`
		}
		if err := q.Select(ctx, &rows, query, args...); err != nil {
			return nil, fmt.Errorf("look up e-mail addresses: %w", err)
		}
		for _, r := range rows {
			holders[r.Email] = append(holders[r.Email], r.UserID)
		}
	}
	return holders, nil
}

// EmailHeldByOther reports whether a subject other than userID holds the
// e-mail address (compared as FindSubject compares).
func EmailHeldByOther(ctx context.Context, q Querier, email, userID string) (bool, error) {
	raw := strings.TrimSpace(email)
	var n int
	forms := emailForms(email)
	err := q.Get(ctx, &n, "SELECT COUNT(*) FROM subjects WHERE (email IN ("+Placeholders(len(forms))+") OR LOWER(email) = ?) AND user_id <> ?",
		append(forms, strings.ToLower(raw), userID)...)
	if err != nil {
		return false, fmt.Errorf("look up e-mail address: %w", err)
	}
	return n > 0, nil
}

// emailForms are the stored forms an address typed as email may have: as
// typed, trimmed, normalised (NormalizeEmail) and as stored before the
// normalisation was unified (LegacyEmailForms).
func emailForms(email string) []any {
	raw := strings.TrimSpace(email)
	out := []any{email, raw, NormalizeEmail(raw)}
	for _, f := range LegacyEmailForms(raw) {
		out = append(out, f)
	}
	return out
}
