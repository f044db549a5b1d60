package notify

import (
	_ "embed"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// PayloadVersion is the version of the payload format; the JSON Schema of
// version 1 is schema/payload.v1.json.
const PayloadVersion = 1

// Schema is the published JSON Schema (2020-12) of the payload.
//
//go:embed schema/payload.v1.json
var Schema []byte

// Change types.
const (
	TypeRectification = "rectification"
	TypeErasure       = "erasure"
	TypeObjection     = "objection"
)

// Payload is the body POSTed to a recipient: what it needs to act on the
// change and nothing more. It never holds an erased subject's e-mail address
// or pseudo; new values travel only with a rectification.
type Payload struct {
	Version    int               `json:"version"`
	ID         string            `json:"id"` // the notification id, also the webhook-id header
	Type       string            `json:"type"`
	Recipient  string            `json:"recipient"`
	RequestID  string            `json:"request_id"`
	SubjectRef string            `json:"subject_ref"` // keyed hash of the user id
	UserID     string            `json:"user_id"`     // the identifier the recipient knows the subject by
	OccurredAt string            `json:"occurred_at"` // RFC 3339, UTC
	Fields     []string          `json:"fields"`
	NewValues  map[string]string `json:"new_values,omitempty"`
	Purpose    string            `json:"purpose,omitempty"`
}

// Event is one change to tell every recipient of.
type Event struct {
	Type       string
	RequestID  string
	SubjectRef string
	UserID     string
	At         time.Time
	Fields     []string
	NewValues  map[string]string
	Purpose    string
}

// Erasure is the event of an erasure: fields are the data categories of the
// subject deleted or anonymised.
func Erasure(requestID, subjectRef, userID string, at time.Time, deleted, anonymized map[string]int64) Event {
	set := map[string]bool{}
	for _, m := range []map[string]int64{deleted, anonymized} {
		for k, n := range m {
			if n > 0 {
				set[k] = true
			}
		}
	}
	return Event{Type: TypeErasure, RequestID: requestID, SubjectRef: subjectRef, UserID: userID, At: at,
		Fields: slices.Sorted(maps.Keys(set))}
}

// Rectification is the event of a rectification: the fields changed and
// their new values ("" for a field left unchanged).
func Rectification(requestID, subjectRef, userID string, at time.Time, email, pseudo string) Event {
	ev := Event{Type: TypeRectification, RequestID: requestID, SubjectRef: subjectRef, UserID: userID, At: at,
		Fields: []string{}, NewValues: map[string]string{}}
	if email != "" {
		ev.Fields = append(ev.Fields, "email")
		ev.NewValues["email"] = email
	}
	if pseudo != "" {
		ev.Fields = append(ev.Fields, "pseudo")
		ev.NewValues["pseudo"] = pseudo
	}
	return ev
}

// Objection is the event of an objection to purpose: fields are what it
// stops, as the policies say.
func Objection(requestID, subjectRef, userID, purpose string, at time.Time, stops []string) Event {
	return Event{Type: TypeObjection, RequestID: requestID, SubjectRef: subjectRef, UserID: userID, At: at,
		Fields: append([]string{}, stops...), Purpose: purpose}
}

// payload builds the body for one recipient.
func (ev Event) payload(id, recipient string) ([]byte, error) {
	p := Payload{Version: PayloadVersion, ID: id, Type: ev.Type, Recipient: recipient, RequestID: ev.RequestID,
		SubjectRef: ev.SubjectRef, UserID: ev.UserID, OccurredAt: ev.At.UTC().Format(time.RFC3339Nano),
		Fields: ev.Fields, Purpose: ev.Purpose}
	if p.Fields == nil {
		p.Fields = []string{}
	}
	if ev.Type == TypeRectification && len(ev.NewValues) > 0 {
		p.NewValues = ev.NewValues
	}
	return json.Marshal(p)
}
