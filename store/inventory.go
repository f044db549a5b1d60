package store

import (
	"context"
	"fmt"
)

// Inventory counts what the store holds, per data category. The JSON keys
// are the retention categories of the policies package.
type Inventory struct {
	Subjects             int64 `db:"subjects" json:"subjects"`
	SubjectsAnonymized   int64 `db:"subjects_anonymized" json:"subjects_anonymized"`
	SubjectsClosed       int64 `db:"subjects_closed" json:"subjects_closed"`
	Tickets              int64 `db:"tickets" json:"tickets"`
	TicketsOpen          int64 `db:"tickets_open" json:"tickets_open"`
	TicketsDisputed      int64 `db:"tickets_disputed" json:"tickets_disputed"`
	Messages             int64 `db:"messages" json:"messages"`
	Attachments          int64 `db:"attachments" json:"attachments"`
	AttachmentBytes      int64 `db:"attachment_bytes" json:"attachment_bytes"`
	AccountEvents        int64 `db:"account_events" json:"account_events"`
	SubjectStats         int64 `db:"subject_stats" json:"subject_stats"`
	AgentStats           int64 `db:"agent_stats" json:"agent_stats"`
	DSRRequests          int64 `db:"dsr_requests" json:"dsr_requests"`
	DSRRequestsOpen      int64 `db:"dsr_requests_open" json:"dsr_requests_open"`
	LegalHolds           int64 `db:"legal_holds" json:"legal_holds"`
	LegalHoldsActive     int64 `db:"legal_holds_active" json:"legal_holds_active"`
	Objections           int64 `db:"objections" json:"objections"`
	BlobDeletionsPending int64 `db:"blob_deletions_pending" json:"blob_deletions_pending"`
	AuditEntries         int64 `db:"audit_entries" json:"audit_entries"`
}

// inventoryQuery is one statement, so that every count comes from the same
// snapshot on both backends without a write transaction.
const inventoryQuery = `SELECT
	(SELECT COUNT(*) FROM subjects) AS subjects,
	(SELECT COUNT(*) FROM subjects WHERE anonymized_at IS NOT NULL) AS subjects_anonymized,
	(SELECT COUNT(*) FROM subjects WHERE account_closed_at IS NOT NULL) AS subjects_closed,
	(SELECT COUNT(*) FROM tickets) AS tickets,
	(SELECT COUNT(*) FROM tickets WHERE status = 'open') AS tickets_open,
	(SELECT COUNT(*) FROM tickets WHERE dispute_status = 'open') AS tickets_disputed,
	(SELECT COUNT(*) FROM messages) AS messages,
	(SELECT COUNT(*) FROM attachments) AS attachments,
	(SELECT COALESCE(SUM(size), 0) FROM attachments) AS attachment_bytes,
	(SELECT COUNT(*) FROM account_events) AS account_events,
	(SELECT COUNT(*) FROM subject_stats) AS subject_stats,
	(SELECT COUNT(*) FROM agent_stats) AS agent_stats,
	(SELECT COUNT(*) FROM dsr_requests) AS dsr_requests,
	(SELECT COUNT(*) FROM dsr_requests WHERE status IN ('open', 'in_progress')) AS dsr_requests_open,
	(SELECT COUNT(*) FROM legal_holds) AS legal_holds,
	(SELECT COUNT(*) FROM legal_holds WHERE released_at IS NULL) AS legal_holds_active,
	(SELECT COUNT(*) FROM objections) AS objections,
	(SELECT COUNT(*) FROM blob_deletions) AS blob_deletions_pending,
	(SELECT COUNT(*) FROM audit_log) AS audit_entries`

// Inventory counts every data category.
func (db *DB) Inventory(ctx context.Context) (Inventory, error) {
	var inv Inventory
	if err := db.Get(ctx, &inv, inventoryQuery); err != nil {
		return inv, fmt.Errorf("inventory: %w", err)
	}
	return inv, nil
}

// Rows returns the inventory as ordered (key, count) pairs, for tables.
func (inv Inventory) Rows() []InventoryRow {
	return []InventoryRow{
		{"subjects", inv.Subjects}, {"subjects_closed", inv.SubjectsClosed},
		{"subjects_anonymized", inv.SubjectsAnonymized},
		{"tickets", inv.Tickets}, {"tickets_open", inv.TicketsOpen}, {"tickets_disputed", inv.TicketsDisputed},
		{"messages", inv.Messages},
		{"attachments", inv.Attachments}, {"attachment_bytes", inv.AttachmentBytes},
		{"account_events", inv.AccountEvents},
		{"subject_stats", inv.SubjectStats}, {"agent_stats", inv.AgentStats},
		{"dsr_requests", inv.DSRRequests}, {"dsr_requests_open", inv.DSRRequestsOpen},
		{"legal_holds", inv.LegalHolds}, {"legal_holds_active", inv.LegalHoldsActive},
		{"objections", inv.Objections},
		{"blob_deletions_pending", inv.BlobDeletionsPending},
		{"audit_entries", inv.AuditEntries},
	}
}

// InventoryRow is one line of an inventory table.
type InventoryRow struct {
	Key   string
	Count int64
}
