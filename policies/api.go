// Package policies loads, compiles and evaluates oubli's Rego policies: the
// single source of every retention period, purpose, legal basis, recipient,
// request deadline and erasure exception. Go code elsewhere only executes the
// decisions returned here.
//
// Fail closed: a parse or compile error, an undefined decision, or two rules
// that disagree is an error wrapping ErrPolicy, and callers delete nothing.
package policies

import (
	"errors"
)

// ErrPolicy marks a policy that fails to load, compile or decide (exit 2).
var ErrPolicy = errors.New("policy error")

// ErrRefused marks a request the policies refuse (exit 3), for example an
// objection to a purpose whose legal basis does not allow one.
var ErrRefused = errors.New("refused by policy")

// Retention categories: the inventory's keys.
const (
	CatSubjects      = "subjects"
	CatTickets       = "tickets"
	CatMessages      = "messages"
	CatAttachments   = "attachments"
	CatAccountEvents = "account_events"
	CatSubjectStats  = "subject_stats"
	CatAgentStats    = "agent_stats"
	CatDSRRequests   = "dsr_requests"
	CatLegalHolds    = "legal_holds"
	CatObjections    = "objections"
	CatAudit         = "audit_log"
)

// Action is what a retention or erasure decision says to do with a record.
type Action string

const (
	// Keep leaves the record as it is.
	Keep Action = "keep"
	// Delete removes the record.
	Delete Action = "delete"
	// Anonymize strips the record's identifying fields and keeps the rest.
	Anonymize Action = "anonymize"
)

// Record is one record submitted for a decision. Attrs are the facts the
// policies need, named after the store's columns: times as Unix
// milliseconds (int64; absent when NULL), strings, bools and ints. The facts
// per category are listed in the package documentation of retention.go /
// README ("Policy input").
type Record struct {
	Category string
	ID       string
	Attrs    map[string]any
}

// Decision is the policies' verdict on one record.
type Decision struct {
	Action Action `json:"action"`
	// Rule is the id of the rule that decided ("tickets.closed_5y").
	Rule string `json:"rule"`
	// Reason is a human-readable sentence for the DPO and legal.
	Reason string `json:"reason"`
	// Held is true when the record would have expired but a legal hold (or
	// another stop such as an open dispute) keeps it: counted as kept_by_hold.
	Held bool `json:"held,omitempty"`
	// ExpiresAt is when the record expires (Unix ms), 0 when it has no
	// expiry yet (for example an open ticket).
	ExpiresAt int64 `json:"expires_at,omitempty"`
}
