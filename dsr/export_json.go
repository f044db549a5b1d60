package dsr

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/oubli/oubli/store"
)

// ExportSchemaVersion is the version of data.json's documented schema
// (dsr/schema/data.schema.json). Adding an optional field is a minor version;
// renaming, removing or changing the meaning of one is a major version.
const ExportSchemaVersion = "1.0"

// The views below are data.json's records: what the subject receives. They
// never carry another person's identifier (agents appear as "Agent N").

type xSubject struct {
	UserID           string  `json:"user_id"`
	Email            string  `json:"email"`
	Pseudo           string  `json:"pseudo"`
	AccountCreatedAt *string `json:"account_created_at"`
	AccountClosedAt  *string `json:"account_closed_at"`
	Restricted       bool    `json:"restricted"`
	AnonymizedAt     *string `json:"anonymized_at"`
	RecordCreatedAt  string  `json:"record_created_at"`
	RecordUpdatedAt  string  `json:"record_updated_at"`
}

type xTicket struct {
	TicketID       string  `json:"ticket_id"`
	RequestNumber  string  `json:"request_number"`
	Subject        string  `json:"subject"`
	Description    string  `json:"description"`
	TransactionRef *string `json:"transaction_ref"`
	Status         string  `json:"status"`
	DisputeStatus  string  `json:"dispute_status"`
	CreatedAt      string  `json:"created_at"`
	ClosedAt       *string `json:"closed_at"`
	Restricted     bool    `json:"restricted"`
}

type xAttachment struct {
	AttachmentID string  `json:"attachment_id"`
	MessageID    *string `json:"message_id"`
	Filename     string  `json:"filename"`
	ContentType  string  `json:"content_type"`
	Size         int64   `json:"size"`
	SHA256       string  `json:"sha256"`
	UploadedAt   string  `json:"uploaded_at"`
	Path         string  `json:"path"`
}

type xMessage struct {
	MessageID string  `json:"message_id"`
	Author    string  `json:"author"`
	Agent     *string `json:"agent"`
	Body      string  `json:"body"`
	SentAt    string  `json:"sent_at"`
}

type xEvent struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	At      string `json:"at"`
	Detail  string `json:"detail"`
}

type xStats struct {
	AvgResponseSeconds float64 `json:"avg_response_seconds"`
	ResponsesCounted   int64   `json:"responses_counted"`
	ComputedAt         string  `json:"computed_at"`
}

type xObjection struct {
	Purpose   string  `json:"purpose"`
	CreatedAt string  `json:"created_at"`
	RequestID *string `json:"request_id"`
}

type xAction struct {
	At      string `json:"at"`
	Action  string `json:"action"`
	Outcome string `json:"outcome"`
}

type xRequest struct {
	RequestID       string    `json:"request_id"`
	Type            string    `json:"type"`
	Status          string    `json:"status"`
	ReceivedAt      string    `json:"received_at"`
	DueAt           string    `json:"due_at"`
	Extended        bool      `json:"extended"`
	ExtensionReason *string   `json:"extension_reason"`
	RefusalReason   *string   `json:"refusal_reason"`
	ClosedAt        *string   `json:"closed_at"`
	Actions         []xAction `json:"actions"`
}

// xHold tells the subject that a legal hold keeps their data beyond its
// normal retention period, from when and until when. The hold's reason is
// the controller's internal legal note and is not included (see README).
type xHold struct {
	HoldID     string  `json:"hold_id"`
	Scope      string  `json:"scope"` // subject, ticket
	TicketID   *string `json:"ticket_id"`
	CreatedAt  string  `json:"created_at"`
	Until      *string `json:"until"`
	ReleasedAt *string `json:"released_at"`
}

// Counts is how many records of each kind an export holds.
type Counts struct {
	Tickets         int64 `json:"tickets"`
	Messages        int64 `json:"messages"`
	Attachments     int64 `json:"attachments"`
	AttachmentBytes int64 `json:"attachment_bytes"`
	AccountEvents   int64 `json:"account_events"`
	SubjectStats    int64 `json:"subject_stats"`
	Objections      int64 `json:"objections"`
	Requests        int64 `json:"requests"`
	LegalHolds      int64 `json:"legal_holds"`
}

func rfc(ms int64) string { return store.FromMillis(ms).Format(time.RFC3339Nano) }

func nrfc(v sql.NullInt64) *string {
	if !v.Valid {
		return nil
	}
	s := rfc(v.Int64)
	return &s
}

func nstr(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	s := v.String
	return &s
}

func viewSubject(s store.Subject) xSubject {
	return xSubject{
		UserID: s.UserID, Email: s.Email, Pseudo: s.Pseudo,
		AccountCreatedAt: nrfc(s.AccountCreatedAt), AccountClosedAt: nrfc(s.AccountClosedAt),
		Restricted: s.Restricted, AnonymizedAt: nrfc(s.AnonymizedAt),
		RecordCreatedAt: rfc(s.CreatedAt), RecordUpdatedAt: rfc(s.UpdatedAt),
	}
}

func viewTicket(t store.Ticket) xTicket {
	return xTicket{
		TicketID: t.TicketID, RequestNumber: t.RequestNumber, Subject: t.Subject, Description: t.Description,
		TransactionRef: nstr(t.TransactionRef), Status: t.Status, DisputeStatus: t.DisputeStatus,
		CreatedAt: rfc(t.CreatedAt), ClosedAt: nrfc(t.ClosedAt), Restricted: t.Restricted,
	}
}

func viewAttachment(a store.Attachment) xAttachment {
	return xAttachment{
		AttachmentID: a.AttachmentID, MessageID: nstr(a.MessageID), Filename: a.Filename,
		ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256, UploadedAt: rfc(a.UploadedAt),
		Path: AttachmentPath(a.AttachmentID, a.Filename),
	}
}

func viewRequest(r store.Request, acts []store.RequestAction) xRequest {
	x := xRequest{
		RequestID: r.RequestID, Type: r.Type, Status: r.Status, ReceivedAt: rfc(r.ReceivedAt), DueAt: rfc(r.DueAt),
		Extended: r.Extended, ExtensionReason: nstr(r.ExtensionReason), RefusalReason: nstr(r.RefusalReason),
		ClosedAt: nrfc(r.ClosedAt), Actions: []xAction{},
	}
	for _, a := range acts {
		x.Actions = append(x.Actions, xAction{At: rfc(a.At), Action: a.Action, Outcome: a.Outcome})
	}
	return x
}

func viewHold(h store.Hold) xHold {
	scope := "subject"
	if h.TicketID.Valid {
		scope = "ticket"
	}
	return xHold{
		HoldID: h.HoldID, Scope: scope, TicketID: nstr(h.TicketID), CreatedAt: rfc(h.CreatedAt),
		Until: nrfc(h.Until), ReleasedAt: nrfc(h.ReleasedAt),
	}
}

// agentNames gives agents stable pseudonyms, numbered by first appearance in
// one export (Art. 15(4): other people's identities are not disclosed).
type agentNames struct {
	n     map[string]int
	label string
}

func newAgentNames(label string) *agentNames { return &agentNames{n: map[string]int{}, label: label} }

// name returns "Agent N" for an agent id; "Agent" when the id is unknown
// (an anonymised message).
func (a *agentNames) name(id sql.NullString) string {
	if !id.Valid || id.String == "" {
		return a.label
	}
	k, ok := a.n[id.String]
	if !ok {
		k = len(a.n) + 1
		a.n[id.String] = k
	}
	return a.label + " " + strconv.Itoa(k)
}

func viewMessage(m store.Message, agents *agentNames) xMessage {
	x := xMessage{MessageID: m.MessageID, Author: m.Author, Body: m.Body, SentAt: rfc(m.SentAt)}
	if m.Author == "agent" {
		n := agents.name(m.AgentID)
		x.Agent = &n
	}
	return x
}

// jsonOut writes a pretty-printed JSON document piece by piece, so that
// arrays of any length stream. The first error sticks.
type jsonOut struct {
	w   io.Writer
	err error
	buf bytes.Buffer
}

func (j *jsonOut) raw(s string) {
	if j.err == nil {
		_, j.err = io.WriteString(j.w, s)
	}
}

// encode returns v as indented JSON whose continuation lines start with
// prefix, without HTML escaping and without the trailing newline.
func (j *jsonOut) encode(v any, prefix string) []byte {
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	if err := enc.Encode(v); err != nil && j.err == nil {
		j.err = fmt.Errorf("encode data.json: %w", err)
	}
	return bytes.TrimRight(j.buf.Bytes(), "\n")
}

func (j *jsonOut) value(v any, prefix string) {
	b := j.encode(v, prefix)
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

// openObject writes v's fields without the closing brace, so that more
// fields can follow.
func (j *jsonOut) openObject(v any, prefix string) {
	b := j.encode(v, prefix)
	b = bytes.TrimSuffix(b, []byte("}"))
	b = bytes.TrimRight(b, " \n")
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

// array streams elements: begin, item…, end.
type jsonArray struct {
	j      *jsonOut
	prefix string
	n      int
}

func (j *jsonOut) beginArray(prefix string) *jsonArray {
	j.raw("[")
	return &jsonArray{j: j, prefix: prefix}
}

func (a *jsonArray) item(v any) {
	if a.n > 0 {
		a.j.raw(",")
	}
	a.n++
	a.j.raw("\n" + a.prefix + "  ")
	a.j.value(v, a.prefix+"  ")
}

func (a *jsonArray) end() {
	if a.n > 0 {
		a.j.raw("\n" + a.prefix)
	}
	a.j.raw("]")
}
