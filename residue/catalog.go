// Package residue proves, after an erasure, that nothing of the subject's
// identifiers remains: it finds a subject's identifiers in the store and in
// the blobs, and only that.
//
// Two checks share one definition of a match (Tokens: identifiers are
// whole, case-folded tokens, an e-mail address being one token):
//
//   - CheckSubject, run by every erasure after its commit, costs what the
//     subject holds: it looks the identifiers up by equality in the columns
//     that hold a subject's own identifiers (indexed), checks that the
//     subject's deleted tickets and attachment contents are gone, and
//     leaves the free-text columns and the blob contents to the sweep.
//   - Sweep (`oubli check --residue`, nightly) reads every personal-text
//     column and every blob once for all the subjects erased since the last
//     sweep: each distinct token is hashed with the store's key and looked
//     up in the erasures' work list of keyed hashes, so its cost does not
//     depend on the number of subjects and no identifier is kept in clear.
//
// Hits in records that are not the erased subject's own (their e-mail in
// another person's message, a refusal reason, a hold's reason) are findings
// for the DPO to review (List, Redact, Dismiss), not a failed erasure.
//
// The catalog (Catalog) says which columns can hold personal text; it is the
// source of truth and is reviewed against the live schema: a text column
// missing from it is reported (Unclassified) and swept as personal text.
package residue

import (
	"context"
	"fmt"
	"sort"

	"github.com/oubli/oubli/store"
)

// Kind says what a text column can hold.
type Kind int

const (
	// None: no personal text (internal ids, enumerations, keyed hashes,
	// JSON written by oubli). Not searched.
	None Kind = iota
	// Key: a subject's own identifier (user id, e-mail, pseudo), searched by
	// equality through an index by the erasure and token by token by the
	// sweep.
	Key
	// Text: free text that can mention anyone. Searched by the sweep.
	Text
)

func (k Kind) String() string {
	switch k {
	case Key:
		return "key"
	case Text:
		return "text"
	}
	return "none"
}

// Column is one text column of the store and what it can hold.
type Column struct {
	Table, Name string
	Kind        Kind
	// Why justifies a None column: why it cannot hold personal text.
	Why string
}

// Place is "table.column", as reported.
func (c Column) Place() string { return c.Table + "." + c.Name }

// Table says how to name a row of a table holding Key or Text columns and
// how to find whose it is.
type Table struct {
	Name string
	// PK is the column naming a row (cast to text).
	PK string
	// PKPersonal: the PK is itself an identifier (a user id); findings
	// record its keyed hash instead.
	PKPersonal bool
	// Owner is a query taking the PK and returning the row's subject
	// (user id, or NULL) and whether the row is kept restricted or
	// anonymised (1) by a policy.
	Owner string
	// Ticket selects the row's ticket id from the table (or NULL).
	Ticket string
}

const keptSubject = "CASE WHEN s.restricted OR s.anonymized_at IS NOT NULL THEN 1 ELSE 0 END"
const keptTicket = "CASE WHEN t.restricted OR t.anonymized_at IS NOT NULL THEN 1 ELSE 0 END"

// Tables are the tables holding Key or Text columns.
var Tables = []Table{
	{Name: "subjects", PK: "user_id", PKPersonal: true, Ticket: "NULL",
		Owner: "SELECT s.user_id, " + keptSubject + " FROM subjects s WHERE s.user_id = ?"},
	{Name: "tickets", PK: "ticket_id", Ticket: "ticket_id",
		Owner: "SELECT t.user_id, " + keptTicket + " FROM tickets t WHERE t.ticket_id = ?"},
	{Name: "messages", PK: "message_id", Ticket: "ticket_id",
		Owner: "SELECT t.user_id, " + keptTicket + " FROM messages m JOIN tickets t ON t.ticket_id = m.ticket_id WHERE m.message_id = ?"},
	{Name: "attachments", PK: "attachment_id", Ticket: "ticket_id",
		Owner: "SELECT t.user_id, " + keptTicket + " FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE a.attachment_id = ?"},
	{Name: "account_events", PK: "event_id", Ticket: "NULL",
		Owner: "SELECT e.user_id, " + keptSubject + " FROM account_events e LEFT JOIN subjects s ON s.user_id = e.user_id WHERE e.event_id = ?"},
	{Name: "subject_stats", PK: "user_id", PKPersonal: true, Ticket: "NULL",
		Owner: "SELECT x.user_id, " + keptSubject + " FROM subject_stats x LEFT JOIN subjects s ON s.user_id = x.user_id WHERE x.user_id = ?"},
	{Name: "objections", PK: "user_id", PKPersonal: true, Ticket: "NULL",
		Owner: "SELECT o.user_id, " + keptSubject + " FROM objections o LEFT JOIN subjects s ON s.user_id = o.user_id WHERE o.user_id = ? LIMIT 1"},
	// A request's texts are the controller's: once the subject is
	// forgotten (user_id NULL) a mention there is a finding.
	{Name: "dsr_requests", PK: "request_id", Ticket: "NULL",
		Owner: "SELECT r.user_id, " + keptSubject + " FROM dsr_requests r LEFT JOIN subjects s ON s.user_id = r.user_id WHERE r.request_id = ?"},
	// The statistics' change log (stats/): user ids of subjects whose
	// figures changed (kinds 'u' and 's'), deleted with the subject row by a
	// trigger.
	{Name: "stats_dirty", PK: "id", Ticket: "NULL",
		Owner: "SELECT CASE WHEN d.kind IN ('u', 's') THEN d.key END, " + keptSubject + " FROM stats_dirty d LEFT JOIN subjects s ON d.kind IN ('u', 's') AND s.user_id = d.key WHERE CAST(d.id AS TEXT) = ?"},
	// Notifications to recipients (Art. 19): an erasure's payload names the
	// erased subject by the user id the recipients need; it is kept until
	// the notification is delivered or acknowledged (then emptied to its
	// SHA-256). The owner is the subject's keyed reference, in the form the
	// sweep matches for erased subjects.
	{Name: "notifications", PK: "id", Ticket: "NULL",
		Owner: "SELECT 'erased-' || SUBSTR(n.subject_ref, 3), CASE WHEN n.status IN ('queued', 'failed', 'gone', 'manual') THEN 1 ELSE 0 END FROM notifications n WHERE n.id = ?"},
	{Name: "legal_holds", PK: "hold_id", Ticket: "ticket_id",
		Owner: "SELECT COALESCE(h.user_id, t.user_id), CASE WHEN s.restricted OR t.restricted THEN 1 ELSE 0 END FROM legal_holds h LEFT JOIN tickets t ON t.ticket_id = h.ticket_id LEFT JOIN subjects s ON s.user_id = h.user_id WHERE h.hold_id = ?"},
}

// Catalog classifies every text column of the schema. A migration adding a
// text column must add it here (TestCatalogCoversSchema fails otherwise).
var Catalog = []Column{
	{"subjects", "user_id", Key, ""},
	{"subjects", "email", Key, ""},
	{"subjects", "pseudo", Key, ""},
	{"subjects", "retention_settled_rule", None, "a retention policy rule id"},

	{"tickets", "ticket_id", None, "internal id"},
	{"tickets", "user_id", Key, ""},
	{"tickets", "request_number", None, "the marketplace's request number"},
	{"tickets", "subject", Text, ""},
	{"tickets", "description", Text, ""},
	{"tickets", "transaction_ref", Text, ""},
	{"tickets", "retention_settled_rule", None, "a retention policy rule id"},
	{"tickets", "dispute_status", None, "enumeration"},
	{"tickets", "status", None, "enumeration"},

	{"messages", "message_id", None, "internal id"},
	{"messages", "ticket_id", None, "internal id"},
	{"messages", "author", None, "enumeration"},
	{"messages", "agent_id", None, "a staff member's id, not a customer's"},
	{"messages", "body", Text, ""},

	{"attachments", "attachment_id", None, "internal id"},
	{"attachments", "ticket_id", None, "internal id"},
	{"attachments", "message_id", None, "internal id"},
	{"attachments", "filename", Text, ""},
	{"attachments", "content_type", None, "media type"},
	{"attachments", "sha256", None, "digest"},
	{"attachments", "blob_key", None, "random key"},
	{"attachments", "retention_settled_rule", None, "a retention policy rule id"},

	{"blob_deletions", "blob_key", None, "random key"},
	{"blob_deletions", "reason", None, "enumeration"},

	{"account_events", "event_id", None, "internal id"},
	{"account_events", "user_id", Key, ""},
	{"account_events", "type", None, "enumeration"},
	{"account_events", "detail", Text, ""},

	{"subject_stats", "user_id", Key, ""},

	{"agent_stats", "agent_id", None, "a staff member's id, not a customer's"},
	{"agent_stats", "day", None, "date"},
	{"agent_stats", "retention_settled_rule", None, "a retention policy rule id"},

	{"stats_dirty", "kind", None, "enumeration"},
	{"stats_dirty", "key", Key, ""},

	{"dsr_requests", "request_id", None, "internal id"},
	{"dsr_requests", "type", None, "enumeration"},
	{"dsr_requests", "user_id", Key, ""},
	{"dsr_requests", "subject_hash", None, "keyed hash"},
	{"dsr_requests", "status", None, "enumeration"},
	{"dsr_requests", "extension_reason", Text, ""},
	{"dsr_requests", "refusal_reason", Text, ""},
	{"dsr_requests", "close_reason", Text, ""},

	{"notifications", "id", None, "internal id"},
	{"notifications", "request_id", None, "internal id"},
	{"notifications", "recipient_id", None, "a recipient of the policies"},
	{"notifications", "type", None, "enumeration"},
	{"notifications", "subject_ref", None, "keyed hash"},
	{"notifications", "status", None, "enumeration"},
	{"notifications", "payload", Text, ""},
	{"notifications", "payload_sha256", None, "digest"},
	{"notifications", "last_error", None, "a transport error"},
	{"notifications", "ack_note", Text, ""},
	{"notifications", "ack_actor", None, "a staff member's name"},

	{"policy_approvals", "revision", None, "digest"},
	{"policy_approvals", "approved_by", None, "a staff member's name"},
	{"policy_approvals", "note", None, "a note on a policy revision"},
	{"policy_approvals", "files", None, "policy file names and digests"},
	{"policy_approvals", "previous_revision", None, "digest"},
	{"policy_approvals", "summary", None, "JSON of the policy changes"},

	{"dsr_actions", "request_id", None, "internal id"},
	{"dsr_actions", "action", None, "enumeration"},
	{"dsr_actions", "outcome", None, "enumeration"},

	{"legal_holds", "hold_id", None, "internal id"},
	{"legal_holds", "ticket_id", None, "internal id"},
	{"legal_holds", "user_id", Key, ""},
	{"legal_holds", "reason", Text, ""},

	{"objections", "user_id", Key, ""},
	{"objections", "purpose", None, "a purpose of the policies"},
	{"objections", "request_id", None, "internal id"},

	{"audit_log", "actor", None, "cli or scheduler"},
	{"audit_log", "action", None, "enumeration"},
	{"audit_log", "subject_ref", None, "keyed hash"},
	{"audit_log", "outcome", None, "enumeration"},
	{"audit_log", "detail", None, "JSON of counts, ids and keyed hashes (the audit trail holds no identifier)"},
	{"audit_log", "prev_hash", None, "chain hash"},
	{"audit_log", "hash", None, "chain hash"},
	{"audit_anchor", "hash", None, "chain hash"},

	{"settings", "key", None, "setting name"},
	{"settings", "value", None, "the HMAC key and the scheduler's timestamps"},

	{"retention_runs", "run_id", None, "internal id"},
	{"retention_runs", "policy_revision", None, "digest"},
	{"retention_runs", "outcome", None, "enumeration"},
	{"retention_runs", "counts", None, "JSON of counts"},
	{"retention_runs", "progress", None, "JSON of counts"},

	{"residue_worklist", "subject_ref", None, "keyed hash"},
	{"residue_worklist", "token_hash", None, "keyed hash"},
	{"residue_worklist", "kind", None, "enumeration"},
	{"residue_worklist", "strength", None, "enumeration"},
	{"residue_findings", "finding_id", None, "internal id"},
	{"residue_findings", "place", None, "table.column or blobs"},
	{"residue_findings", "row_ref", None, "internal id, blob key or keyed hash"},
	{"residue_findings", "subject_ref", None, "keyed hash"},
	{"residue_findings", "token_hashes", None, "keyed hashes"},
	{"residue_findings", "strength", None, "enumeration"},
	{"residue_findings", "status", None, "enumeration"},

	{"attachment_index", "blob_key", None, "random key"},
	{"attachment_index", "status", None, "enumeration"},
	{"attachment_tokens", "token_hash", None, "keyed hash"},
	{"attachment_tokens", "blob_key", None, "random key"},
}

// lookup returns the catalog entry of table.column.
func lookup(table, col string) (Column, bool) {
	for _, c := range Catalog {
		if c.Table == table && c.Name == col {
			return c, true
		}
	}
	return Column{}, false
}

func tableOf(name string) (Table, bool) {
	for _, t := range Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Review compares the catalog with the live schema's text columns and
// returns the places the catalog does not classify ("table.column"), and
// those it classifies but the schema lacks.
func Review(ctx context.Context, q store.Querier) (unclassified, stale []string, err error) {
	tables, err := store.TextColumns(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("residue: review the catalog: %w", err)
	}
	live := map[string]bool{}
	for _, t := range tables {
		for _, c := range t.Columns {
			live[t.Table+"."+c] = true
			if _, ok := lookup(t.Table, c); !ok {
				unclassified = append(unclassified, t.Table+"."+c)
			}
		}
	}
	for _, c := range Catalog {
		if !live[c.Place()] {
			stale = append(stale, c.Place())
		}
	}
	sort.Strings(unclassified)
	sort.Strings(stale)
	return unclassified, stale, nil
}

// columns returns the catalog's columns of the given kinds, by table.
func columns(kinds ...Kind) map[string][]Column {
	out := map[string][]Column{}
	for _, c := range Catalog {
		for _, k := range kinds {
			if c.Kind == k {
				out[c.Table] = append(out[c.Table], c)
			}
		}
	}
	return out
}

func quoteIdent(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}
