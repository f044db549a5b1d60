// Package policies loads, compiles and evaluates oubli's Rego policies: the
// single source of every retention period, purpose, legal basis, recipient,
// request deadline and erasure exception. Go code elsewhere only executes the
// decisions returned here.
//
// Fail closed: a parse or compile error, an undefined decision, or two rules
// that disagree is an error wrapping ErrPolicy, and callers delete nothing.
//
// # Policy files
//
// The *.rego files of this directory are embedded in the binary (Embedded)
// and can be replaced with --policies DIR (LoadDir). They are Rego v1,
// compiled in strict mode with capabilities that leave out every built-in
// reaching the network, the host or the wall clock (http.send,
// net.lookup_ip_addr, opa.runtime, time.now_ns, rand.intn, print, …): the
// evaluation time is the input's now_ms, never the clock.
//
//   - calendar.rego: how periods are counted (Reg. 1182/71 month ends)
//   - retention.rego: the schedule (categories) and the retention rules
//   - erasure.rego: what Art. 17 erasure deletes, pseudonymises or keeps
//   - purposes.rego: purposes, legal bases, recipients, objections
//   - requests.rego: Art. 12(3) deadlines and the Art. 15(1) information
//
// # Policy input
//
// Decide and DecideErasure evaluate data.oubli.retention.decisions (or
// data.oubli.erasure.decisions) once per batch with the input
//
//	{"now_ms": …, "records": {"tickets": [attrs, …], "attachments": […], …}}
//
// where each attrs object is a Record's Attrs plus "id". Times are Unix
// milliseconds and are omitted when NULL. Per category:
//
//   - tickets: status ("open"|"closed"), created_at, closed_at,
//     dispute_status ("none"|"open"|"resolved"), held (bool: an active legal
//     hold on the ticket or its subject), hold_reason
//   - attachments: uploaded_at, ticket_status, ticket_closed_at,
//     dispute_status, held, hold_reason
//   - subjects: account_created_at, account_closed_at, tickets,
//     open_tickets, latest_ticket_closed_at, latest_event_at, disputes_open,
//     held_tickets (tickets of theirs under a hold), held, anonymized
//   - account_events: at, type, held
//   - subject_stats: computed_at, held
//   - agent_stats: day_start (00:00 UTC of the day), anonymized
//   - dsr_requests: status, received_at, closed_at
//   - legal_holds: created_at, until, released_at
//   - audit_log: at
//
// A fact the rules need that is missing (a closed ticket without closed_at,
// a ticket without held) leaves the record undecided: an ErrPolicy error,
// not a guess. Each decision is an object with the record's category and
// position i, action, rule, reason, held, and for records with a clock the
// clock start ("from") and period, from which Decision.ExpiresAt is
// computed (AddPeriod).
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
