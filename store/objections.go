package store

import (
	"context"
	"database/sql"
	"fmt"
)

// AddObjection records a subject's objection to a purpose. It is idempotent:
// recording it again keeps the first record and reports added=false.
func AddObjection(ctx context.Context, tx *Tx, userID, purpose string, at int64, requestID string) (added bool, err error) {
	req := sql.NullString{String: requestID, Valid: requestID != ""}
	res, err := tx.Exec(ctx, `INSERT INTO objections (user_id, purpose, created_at, request_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, purpose) DO NOTHING`, userID, purpose, at, req)
	if err != nil {
		return false, fmt.Errorf("record objection: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Objections lists a subject's objections, oldest first.
func Objections(ctx context.Context, q Querier, userID string) ([]Objection, error) {
	var out []Objection
	err := q.Select(ctx, &out, "SELECT user_id, purpose, created_at, request_id FROM objections WHERE user_id = ? ORDER BY created_at, purpose", userID)
	if err != nil {
		return nil, fmt.Errorf("list objections: %w", err)
	}
	return out, nil
}

// HasObjected reports whether the subject objected to the purpose.
func HasObjected(ctx context.Context, q Querier, userID, purpose string) (bool, error) {
	var n int64
	if err := q.Get(ctx, &n, "SELECT COUNT(*) FROM objections WHERE user_id = ? AND purpose = ?", userID, purpose); err != nil {
		return false, fmt.Errorf("look up objection: %w", err)
	}
	return n > 0, nil
}

// DeleteSubjectStats removes the subject's row of subject_stats, returning
// how many rows went (0 or 1).
func DeleteSubjectStats(ctx context.Context, tx *Tx, userID string) (int64, error) {
	res, err := tx.Exec(ctx, "DELETE FROM subject_stats WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("delete subject_stats: %w", err)
	}
	return res.RowsAffected()
}
