package store

import "database/sql"

// Subject is a data subject: identification, contact and account data.
type Subject struct {
	UserID           string        `db:"user_id"`
	Email            string        `db:"email"`
	Pseudo           string        `db:"pseudo"`
	AccountCreatedAt sql.NullInt64 `db:"account_created_at"`
	AccountClosedAt  sql.NullInt64 `db:"account_closed_at"`
	Restricted       bool          `db:"restricted"`
	AnonymizedAt     sql.NullInt64 `db:"anonymized_at"`
	CreatedAt        int64         `db:"created_at"`
	UpdatedAt        int64         `db:"updated_at"`
}

// Ticket is one contact request.
type Ticket struct {
	TicketID       string         `db:"ticket_id"`
	UserID         sql.NullString `db:"user_id"`
	RequestNumber  string         `db:"request_number"`
	Subject        string         `db:"subject"`
	Description    string         `db:"description"`
	TransactionRef sql.NullString `db:"transaction_ref"`
	DisputeStatus  string         `db:"dispute_status"` // none, open, resolved
	Status         string         `db:"status"`         // open, closed
	CreatedAt      int64          `db:"created_at"`
	ClosedAt       sql.NullInt64  `db:"closed_at"`
	Restricted     bool           `db:"restricted"`
	AnonymizedAt   sql.NullInt64  `db:"anonymized_at"`
}

// Message is one message of a ticket's exchange history.
type Message struct {
	MessageID string         `db:"message_id"`
	TicketID  string         `db:"ticket_id"`
	Author    string         `db:"author"` // user, agent
	AgentID   sql.NullString `db:"agent_id"`
	Body      string         `db:"body"`
	SentAt    int64          `db:"sent_at"`
}

// Attachment is a supporting document's metadata; its contents are in the
// blob store under BlobKey.
type Attachment struct {
	AttachmentID string         `db:"attachment_id"`
	TicketID     string         `db:"ticket_id"`
	MessageID    sql.NullString `db:"message_id"`
	Filename     string         `db:"filename"`
	ContentType  string         `db:"content_type"`
	Size         int64          `db:"size"`
	SHA256       string         `db:"sha256"`
	BlobKey      string         `db:"blob_key"`
	UploadedAt   int64          `db:"uploaded_at"`
}

// AccountEvent is one entry of a subject's account history.
type AccountEvent struct {
	EventID string `db:"event_id"`
	UserID  string `db:"user_id"`
	Type    string `db:"type"`
	At      int64  `db:"at"`
	Detail  string `db:"detail"`
}

// SubjectStat is a subject's derived average response time.
type SubjectStat struct {
	UserID             string  `db:"user_id"`
	AvgResponseSeconds float64 `db:"avg_response_seconds"`
	ResponsesCounted   int64   `db:"responses_counted"`
	ComputedAt         int64   `db:"computed_at"`
}

// AgentStat is one agent's figures for one day.
type AgentStat struct {
	ID                      int64          `db:"id"`
	AgentID                 sql.NullString `db:"agent_id"`
	Day                     string         `db:"day"` // YYYY-MM-DD (UTC)
	TicketsHandled          int64          `db:"tickets_handled"`
	FirstResponses          int64          `db:"first_responses"`
	AvgFirstResponseSeconds float64        `db:"avg_first_response_seconds"`
	ComputedAt              int64          `db:"computed_at"`
	AnonymizedAt            sql.NullInt64  `db:"anonymized_at"`
}

// Request is an entry of the data-subject request register.
type Request struct {
	RequestID       string         `db:"request_id"`
	Type            string         `db:"type"` // access, rectification, objection, erasure
	UserID          sql.NullString `db:"user_id"`
	SubjectHash     string         `db:"subject_hash"`
	Status          string         `db:"status"` // open, in_progress, done, refused
	ReceivedAt      int64          `db:"received_at"`
	DueAt           int64          `db:"due_at"`
	Extended        bool           `db:"extended"`
	ExtensionReason sql.NullString `db:"extension_reason"`
	RefusalReason   sql.NullString `db:"refusal_reason"`
	ClosedAt        sql.NullInt64  `db:"closed_at"`
	CreatedAt       int64          `db:"created_at"`
	// CloseReason is why a request was closed as done without an action of
	// its type in the register (requests close --force --reason).
	CloseReason sql.NullString `db:"close_reason"`
}

// RequestAction is one action taken for a request.
type RequestAction struct {
	ID        int64         `db:"id"`
	RequestID string        `db:"request_id"`
	At        int64         `db:"at"`
	Action    string        `db:"action"`
	Outcome   string        `db:"outcome"`
	AuditSeq  sql.NullInt64 `db:"audit_seq"`
}

// Hold is a legal hold on one ticket or on all of a subject's data.
type Hold struct {
	HoldID     string         `db:"hold_id"`
	TicketID   sql.NullString `db:"ticket_id"`
	UserID     sql.NullString `db:"user_id"`
	Reason     string         `db:"reason"`
	CreatedAt  int64          `db:"created_at"`
	Until      sql.NullInt64  `db:"until"`
	ReleasedAt sql.NullInt64  `db:"released_at"`
}

// Objection records a subject's objection (Art. 21) to a purpose.
type Objection struct {
	UserID    string         `db:"user_id"`
	Purpose   string         `db:"purpose"`
	CreatedAt int64          `db:"created_at"`
	RequestID sql.NullString `db:"request_id"`
}
