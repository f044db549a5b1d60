package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oubli/oubli/store"
)

// Limits on the fields of a line. Identifiers are the source system's keys:
// short, printable, without NUL or control characters.
const (
	// MaxIDBytes is the longest identifier accepted (ticket, message,
	// attachment, event, user, agent and request ids).
	MaxIDBytes = 200
	// MaxEmailBytes is the longest e-mail address accepted (RFC 5321).
	MaxEmailBytes = 254
	// MaxShortBytes bounds pseudos, file names, content types, event types
	// and transaction references.
	MaxShortBytes = 1024
)

// The wire types of a line. Pointers tell a missing or null field from an
// empty one.
type userIn struct {
	UserID           *string `json:"user_id"`
	Email            *string `json:"email"`
	Pseudo           *string `json:"pseudo"`
	AccountCreatedAt *string `json:"account_created_at"`
	AccountClosedAt  *string `json:"account_closed_at"`
}

type messageIn struct {
	MessageID *string `json:"message_id"`
	Author    *string `json:"author"`
	AgentID   *string `json:"agent_id"`
	Body      *string `json:"body"`
	SentAt    *string `json:"sent_at"`
}

type attachmentIn struct {
	AttachmentID  *string `json:"attachment_id"`
	MessageID     *string `json:"message_id"`
	Filename      *string `json:"filename"`
	ContentType   *string `json:"content_type"`
	ContentBase64 *string `json:"content_base64"`
	UploadedAt    *string `json:"uploaded_at"`
}

type ticketIn struct {
	Kind           string         `json:"kind"`
	TicketID       *string        `json:"ticket_id"`
	RequestNumber  *string        `json:"request_number"`
	User           *userIn        `json:"user"`
	Subject        *string        `json:"subject"`
	Description    *string        `json:"description"`
	TransactionRef *string        `json:"transaction_ref"`
	DisputeStatus  *string        `json:"dispute_status"`
	Status         *string        `json:"status"`
	CreatedAt      *string        `json:"created_at"`
	ClosedAt       *string        `json:"closed_at"`
	Messages       []messageIn    `json:"messages"`
	Attachments    []attachmentIn `json:"attachments"`
}

type eventIn struct {
	Kind    string  `json:"kind"`
	EventID *string `json:"event_id"`
	UserID  *string `json:"user_id"`
	Type    *string `json:"type"`
	At      *string `json:"at"`
	Detail  *string `json:"detail"`
}

// Record kinds.
const (
	KindTicket       = "ticket"
	KindAccountEvent = "account_event"
)

// user is a validated subject.
type user struct {
	ID, Email, Pseudo string
	CreatedAt         *time.Time
	ClosedAt          *time.Time
}

// message is a validated message.
type message struct {
	ID, Author, AgentID, Body string
	SentAt                    time.Time
}

// attachment is a validated attachment; its contents stay base64 until the
// load decodes them into the blob store.
type attachment struct {
	ID, MessageID, Filename, ContentType string
	Base64                               string
	Size                                 int64
	SHA256                               string
	UploadedAt                           time.Time
}

// ticket is a validated ticket line.
type ticket struct {
	ID, RequestNumber, Subject, Description string
	TransactionRef, DisputeStatus, Status   string
	User                                    user
	CreatedAt                               time.Time
	ClosedAt                                *time.Time
	Messages                                []message
	Attachments                             []attachment
}

// event is a validated account-event line.
type event struct {
	ID, UserID, Type, Detail string
	At                       time.Time
}

// record is one validated line: exactly one of Ticket and Event is set.
type record struct {
	Ticket *ticket
	Event  *event
}

// checker collects the faults of one line. Reasons name fields and rules,
// never the values, which may be personal data.
type checker struct{ faults []string }

func (c *checker) addf(format string, args ...any) {
	c.faults = append(c.faults, fmt.Sprintf(format, args...))
}

// text checks a required (or optional) free-text field.
func (c *checker) text(field string, v *string, required bool, maxBytes int) string {
	if v == nil {
		if required {
			c.addf("%s: required", field)
		}
		return ""
	}
	if strings.ContainsRune(*v, 0) {
		c.addf("%s: contains a NUL character", field)
	}
	if maxBytes > 0 && len(*v) > maxBytes {
		c.addf("%s: longer than %d bytes", field, maxBytes)
	}
	return *v
}

// id checks an identifier: non-empty, at most MaxIDBytes, no control
// characters, no surrounding spaces.
func (c *checker) id(field string, v *string, required bool) string {
	if v == nil {
		if required {
			c.addf("%s: required", field)
		}
		return ""
	}
	s := *v
	switch {
	case s == "":
		c.addf("%s: empty identifier", field)
	case len(s) > MaxIDBytes:
		c.addf("%s: identifier longer than %d bytes", field, MaxIDBytes)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		c.addf("%s: identifier contains a control character", field)
	case strings.TrimSpace(s) != s:
		c.addf("%s: identifier has leading or trailing spaces", field)
	default:
		if i, r, ok := store.InvisibleRune(s); ok {
			// It would look like another identifier (adversarial pass 8).
			c.addf("%s: identifier holds an invisible character, U+%04X, at byte %d", field, r, i)
		}
	}
	return s
}

// parseTime parses an RFC 3339 time that must carry a zone.
// leapSecond matches an RFC 3339 time whose seconds are 60.
var leapSecond = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:60(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$`)

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		// RFC 3339 offsets run from -23:59 to +23:59.
		if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
			return time.Time{}, errors.New("time zone offset out of range (-23:59 to +23:59)")
		}
		// The range holds for the stored (UTC) time, after conversion.
		if u := t.UTC(); u.Year() < 1970 || u.Year() > 9999 {
			return time.Time{}, errors.New("time out of range (1970–9999 UTC)")
		}
		return t.UTC(), nil
	}
	if leapSecond.MatchString(s) {
		return time.Time{}, errors.New("leap second (:60) is not supported: give 23:59:59 or the next second")
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if _, e := time.Parse(layout, s); e == nil {
			return time.Time{}, errors.New("time without zone (want RFC 3339 with Z or ±hh:mm, e.g. 2019-03-01T10:00:00Z)")
		}
	}
	return time.Time{}, errors.New("not an RFC 3339 time (e.g. 2019-03-01T10:00:00Z)")
}

func (c *checker) time(field string, v *string, required bool) *time.Time {
	if v == nil {
		if required {
			c.addf("%s: required", field)
		}
		return nil
	}
	t, err := parseTime(*v)
	if err != nil {
		c.addf("%s: %v", field, err)
		return nil
	}
	return &t
}

func (c *checker) oneOf(field string, v *string, required bool, allowed ...string) string {
	if v == nil {
		if required {
			c.addf("%s: required", field)
		}
		return ""
	}
	for _, a := range allowed {
		if *v == a {
			return a
		}
	}
	c.addf("%s: must be %s", field, strings.Join(allowed, " or "))
	return ""
}

// ValidEmail reports whether s is a plain e-mail address (no display name)
// that net/mail accepts and that follows sane rules: at most 254 bytes, a
// local part of at most 64, and a domain of ASCII letters, digits and hyphens
// with at least one dot.
func ValidEmail(s string) error {
	if s == "" {
		return errors.New("empty e-mail address")
	}
	if len(s) > MaxEmailBytes {
		return fmt.Errorf("e-mail address longer than %d bytes", MaxEmailBytes)
	}
	if i, r, ok := store.InvisibleRune(s); ok {
		return fmt.Errorf("e-mail address holds an invisible character, U+%04X, at byte %d (zero-width, joiner, bidi control, soft hyphen or the like): it would look like another address", r, i)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return errors.New("not a valid e-mail address")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return errors.New("e-mail local part longer than 64 bytes")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return errors.New("e-mail domain has no dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("e-mail domain is malformed")
		}
		for i := 0; i < len(l); i++ {
			b := l[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
				return errors.New("e-mail domain is malformed")
			}
		}
	}
	return nil
}

// decodeStrict decodes one JSON object, refusing unknown fields and
// trailing data.
func decodeStrict(line []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonFault(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("malformed JSON: data after the object")
	}
	return nil
}

// jsonFault rewrites encoding/json's errors as field-level reasons.
func jsonFault(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Errorf("want a JSON object, got %s", te.Value)
		}
		return fmt.Errorf("%s: want %s, got %s", field, jsonType(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("malformed JSON: unexpected end of line")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		// A field name is named only when it looks like one: an export
		// that put values in keys would otherwise print them (adversarial
		// pass 8 F19).
		if n, err := strconv.Unquote(name); err == nil && fieldName.MatchString(n) {
			return fmt.Errorf("unknown field %q", n)
		}
		return errors.New("unknown field (its name is not shown: it does not look like a field name — a value in a key?)")
	}
	return errors.New(msg)
}

// fieldName is what a field name of the format looks like.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "string"):
		return "string"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.Contains(goType, "ingest."):
		return "object"
	}
	return goType
}

// parseLine validates one line and returns the record, or the line's faults.
func parseLine(line []byte) (record, []string) {
	if !utf8.Valid(line) {
		return record{}, []string{"not valid UTF-8"}
	}
	var head struct {
		Kind *string `json:"kind"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return record{}, []string{jsonFault(err).Error()}
	}
	switch {
	case head.Kind == nil:
		return record{}, []string{"kind: required (ticket or account_event)"}
	case *head.Kind == KindTicket:
		var in ticketIn
		if err := decodeStrict(line, &in); err != nil {
			return record{}, []string{err.Error()}
		}
		t, faults := checkTicket(&in)
		return record{Ticket: t}, faults
	case *head.Kind == KindAccountEvent:
		var in eventIn
		if err := decodeStrict(line, &in); err != nil {
			return record{}, []string{err.Error()}
		}
		e, faults := checkEvent(&in)
		return record{Event: e}, faults
	}
	return record{}, []string{"kind: unknown kind (want ticket or account_event)"}
}

func checkTicket(in *ticketIn) (*ticket, []string) {
	var c checker
	t := &ticket{
		ID:             c.id("ticket_id", in.TicketID, true),
		RequestNumber:  c.id("request_number", in.RequestNumber, true),
		Subject:        c.text("subject", in.Subject, true, 0),
		Description:    c.text("description", in.Description, true, 0),
		TransactionRef: c.text("transaction_ref", in.TransactionRef, false, MaxShortBytes),
		DisputeStatus:  c.oneOf("dispute_status", in.DisputeStatus, false, "none", "open", "resolved"),
		Status:         c.oneOf("status", in.Status, true, "open", "closed"),
	}
	if t.DisputeStatus == "" {
		t.DisputeStatus = "none"
	}
	if ct := c.time("created_at", in.CreatedAt, true); ct != nil {
		t.CreatedAt = *ct
	}
	t.ClosedAt = c.time("closed_at", in.ClosedAt, false)
	switch {
	case t.Status == "closed" && in.ClosedAt == nil:
		c.addf("closed_at: required when status is closed")
	case t.Status == "open" && in.ClosedAt != nil:
		c.addf("closed_at: must be null while status is open")
	case t.ClosedAt != nil && !t.CreatedAt.IsZero() && t.ClosedAt.Before(t.CreatedAt):
		c.addf("closed_at: before created_at")
	}
	if in.User == nil {
		c.addf("user: required")
	} else {
		u := in.User
		t.User.ID = c.id("user.user_id", u.UserID, true)
		t.User.Email = c.text("user.email", u.Email, true, 0)
		if u.Email != nil {
			// Surrounding white space is trimmed (NormalizeEmail stores the
			// address without it); inner white space stays refused.
			if err := ValidEmail(strings.TrimSpace(*u.Email)); err != nil {
				c.addf("user.email: %v", err)
			}
		}
		t.User.Pseudo = c.text("user.pseudo", u.Pseudo, true, MaxShortBytes)
		t.User.CreatedAt = c.time("user.account_created_at", u.AccountCreatedAt, false)
		t.User.ClosedAt = c.time("user.account_closed_at", u.AccountClosedAt, false)
		if t.User.CreatedAt != nil && t.User.ClosedAt != nil && t.User.ClosedAt.Before(*t.User.CreatedAt) {
			c.addf("user.account_closed_at: before account_created_at")
		}
	}
	msgIDs := make(map[string]bool, len(in.Messages))
	for i, m := range in.Messages {
		f := fmt.Sprintf("messages[%d]", i)
		mm := message{
			ID:     c.id(f+".message_id", m.MessageID, true),
			Author: c.oneOf(f+".author", m.Author, true, "user", "agent"),
			Body:   c.text(f+".body", m.Body, true, 0),
		}
		mm.AgentID = c.id(f+".agent_id", m.AgentID, mm.Author == "agent")
		if mm.Author == "user" && m.AgentID != nil {
			c.addf("%s.agent_id: must be absent when author is user", f)
		}
		if st := c.time(f+".sent_at", m.SentAt, true); st != nil {
			mm.SentAt = *st
		}
		if mm.ID != "" {
			if msgIDs[mm.ID] {
				c.addf("%s.message_id: duplicate message id %s in this ticket", f, mm.ID)
			}
			msgIDs[mm.ID] = true
		}
		t.Messages = append(t.Messages, mm)
	}
	attIDs := make(map[string]bool, len(in.Attachments))
	for i, a := range in.Attachments {
		f := fmt.Sprintf("attachments[%d]", i)
		aa := attachment{
			ID:          c.id(f+".attachment_id", a.AttachmentID, true),
			MessageID:   c.id(f+".message_id", a.MessageID, false),
			Filename:    c.text(f+".filename", a.Filename, true, MaxShortBytes),
			ContentType: c.text(f+".content_type", a.ContentType, true, MaxShortBytes),
			Base64:      c.text(f+".content_base64", a.ContentBase64, true, 0),
		}
		if a.Filename != nil && *a.Filename == "" {
			c.addf("%s.filename: empty", f)
		}
		if a.ContentType != nil {
			if mt, _, err := mime.ParseMediaType(*a.ContentType); err != nil || !strings.Contains(mt, "/") {
				c.addf("%s.content_type: not a media type (e.g. application/pdf)", f)
			}
		}
		if aa.MessageID != "" && !msgIDs[aa.MessageID] {
			c.addf("%s.message_id: %s is not a message of this ticket", f, aa.MessageID)
		}
		if a.ContentBase64 != nil {
			sum, n, err := hashBase64(aa.Base64)
			if err != nil {
				c.addf("%s.content_base64: invalid base64 (%v)", f, err)
			}
			aa.SHA256, aa.Size = sum, n
		}
		if ut := c.time(f+".uploaded_at", a.UploadedAt, true); ut != nil {
			aa.UploadedAt = *ut
		}
		if aa.ID != "" {
			if attIDs[aa.ID] {
				c.addf("%s.attachment_id: duplicate attachment id %s in this ticket", f, aa.ID)
			}
			attIDs[aa.ID] = true
		}
		t.Attachments = append(t.Attachments, aa)
	}
	return t, c.faults
}

func checkEvent(in *eventIn) (*event, []string) {
	var c checker
	e := &event{
		ID:     c.id("event_id", in.EventID, true),
		UserID: c.id("user_id", in.UserID, true),
		Type:   c.id("type", in.Type, true),
		Detail: c.text("detail", in.Detail, false, 0),
	}
	if at := c.time("at", in.At, true); at != nil {
		e.At = *at
	}
	return e, c.faults
}

// hashBase64 decodes standard base64 (with padding) as a stream and returns
// the SHA-256 (hex) and size of the decoded bytes.
func hashBase64(s string) (string, int64, error) {
	h := newSHA256()
	n, err := io.Copy(h, base64.NewDecoder(base64.StdEncoding, strings.NewReader(s)))
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return "", 0, errors.New("corrupt at byte " + strconv.FormatInt(int64(ce), 10))
		}
		return "", 0, err
	}
	return h.hex(), n, nil
}
