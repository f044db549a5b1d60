package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// PolicyApproval is one approval of a policy revision.
type PolicyApproval struct {
	ID               int64  `db:"id" json:"id"`
	Revision         string `db:"revision" json:"revision"`
	ApprovedBy       string `db:"approved_by" json:"approved_by"`
	ApprovedAt       int64  `db:"approved_at" json:"-"`
	Note             string `db:"note" json:"note"`
	Files            string `db:"files" json:"-"` // JSON object: file name → source
	PreviousRevision string `db:"previous_revision" json:"previous_revision"`
	Summary          string `db:"summary" json:"-"` // JSON
}

const approvalCols = "id, revision, approved_by, approved_at, note, files, previous_revision, summary"

// AddPolicyApproval records an approval and returns its id.
func AddPolicyApproval(ctx context.Context, tx *Tx, a PolicyApproval) (int64, error) {
	q := `INSERT INTO policy_approvals (revision, approved_by, approved_at, note, files, previous_revision, summary)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	args := []any{a.Revision, a.ApprovedBy, a.ApprovedAt, a.Note, a.Files, a.PreviousRevision, a.Summary}
	if tx.dialect == Postgres {
		var id int64
		if err := tx.Get(ctx, &id, q+" RETURNING id", args...); err != nil {
			return 0, fmt.Errorf("record policy approval: %w", err)
		}
		return id, nil
	}
	res, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("record policy approval: %w", err)
	}
	return res.LastInsertId()
}

// PolicyApprovals returns every approval, oldest first, without their
// files (see PolicyApprovalByID).
func PolicyApprovals(ctx context.Context, q Querier) ([]PolicyApproval, error) {
	out := []PolicyApproval{}
	err := q.Select(ctx, &out, `SELECT id, revision, approved_by, approved_at, note, '' AS files, previous_revision, summary
		FROM policy_approvals ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("policy approvals: %w", err)
	}
	return out, nil
}

// LatestPolicyApproval returns the newest approval (ErrNotFound: none), or
// the newest of revision when revision is not "".
func LatestPolicyApproval(ctx context.Context, q Querier, revision string) (PolicyApproval, error) {
	var a PolicyApproval
	query, args := "SELECT "+approvalCols+" FROM policy_approvals ORDER BY id DESC LIMIT 1", []any{}
	if revision != "" {
		query, args = "SELECT "+approvalCols+" FROM policy_approvals WHERE revision = ? ORDER BY id DESC LIMIT 1", []any{revision}
	}
	if err := q.Get(ctx, &a, query, args...); err != nil {
		return a, fmt.Errorf("policy approval: %w", err)
	}
	return a, nil
}

// PolicyApprovalByID returns one approval with its files.
func PolicyApprovalByID(ctx context.Context, q Querier, id int64) (PolicyApproval, error) {
	var a PolicyApproval
	if err := q.Get(ctx, &a, "SELECT "+approvalCols+" FROM policy_approvals WHERE id = ?", id); err != nil {
		return a, fmt.Errorf("policy approval %d: %w", id, err)
	}
	return a, nil
}

// ApprovalFilesHash is the SHA-256 (hex) of an approval's kept files, as
// its policy.approve entry records it.
func ApprovalFilesHash(files string) string {
	h := sha256.Sum256([]byte(files))
	return hex.EncodeToString(h[:])
}

// ApprovalAudited reports whether the audit trail holds the policy.approve
// entry written in a's transaction (same time, its approval id) and that
// entry names a's revision and, when it records one, the hash of a's files
// — a row edited in place after its approval no longer matches
// (adversarial pass 7b) — or has pruned past it (an approval older than
// the trail's first entry, in a store whose trail retention has pruned).
func ApprovalAudited(ctx context.Context, q Querier, a PolicyApproval) (bool, error) {
	var details []string
	if err := q.Select(ctx, &details, `SELECT detail FROM audit_log WHERE action = 'policy.approve' AND at = ? AND detail LIKE ?`,
		a.ApprovedAt, fmt.Sprintf(`%%"approval_id":%d,%%`, a.ID)); err != nil {
		return false, fmt.Errorf("approval %d's audit entry: %w", a.ID, err)
	}
	for _, d := range details {
		var e struct {
			ID       int64  `json:"approval_id"`
			Revision string `json:"revision"`
			Files    string `json:"files_sha256"`
		}
		if json.Unmarshal([]byte(d), &e) != nil || e.ID != a.ID || e.Revision != a.Revision {
			continue
		}
		if e.Files != "" && e.Files != ApprovalFilesHash(a.Files) {
			continue
		}
		return true, nil
	}
	if len(details) > 0 {
		return false, nil
	}
	var n int64
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM audit_anchor a WHERE a.id = 1
		AND ? < (SELECT COALESCE(MIN(at), 0) FROM audit_log)`, a.ApprovedAt); err != nil {
		return false, fmt.Errorf("audit trail's pruning: %w", err)
	}
	return n > 0, nil
}
