package dsr

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// RecipientsPolicy is what rectification needs from the policies engine
// (*policies.Engine implements it).
type RecipientsPolicy interface {
	Recipients(ctx context.Context) ([]policies.Recipient, error)
}

// Change is one field to rectify.
type Change struct {
	Field string `json:"field"`
	Value string `json:"-"` // never printed: it is personal data
}

// RectifiableFields are the fields `--set` accepts.
var RectifiableFields = []string{"email", "pseudo"}

// ParseSet parses --set FIELD=VALUE arguments and validates each value. A
// bad argument is store.ErrInvalid naming the flag and what is wrong with it
// (never echoing the value, which is personal data).
func ParseSet(args []string) ([]Change, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("--set: give at least one FIELD=VALUE (fields: %s): %w", strings.Join(RectifiableFields, ", "), store.ErrInvalid)
	}
	seen := map[string]bool{}
	var out []Change
	for i, a := range args {
		field, value, ok := strings.Cut(a, "=")
		field = strings.TrimSpace(field)
		switch {
		case !ok || field == "":
			return nil, fmt.Errorf("--set #%d: want FIELD=VALUE (fields: %s): %w", i+1, strings.Join(RectifiableFields, ", "), store.ErrInvalid)
		case field != "email" && field != "pseudo":
			return nil, fmt.Errorf("--set %s=…: unknown field %q (fields: %s): %w", field, field, strings.Join(RectifiableFields, ", "), store.ErrInvalid)
		case seen[field]:
			return nil, fmt.Errorf("--set %s=…: field given twice: %w", field, store.ErrInvalid)
		}
		seen[field] = true
		var err error
		if field == "email" {
			value, err = validEmail(value)
		} else {
			value, err = validPseudo(value)
		}
		if err != nil {
			return nil, fmt.Errorf("--set %s=…: %v: %w", field, err, store.ErrInvalid)
		}
		out = append(out, Change{Field: field, Value: value})
	}
	return out, nil
}

func validEmail(v string) (string, error) {
	v = strings.TrimSpace(v)
	a, err := mail.ParseAddress(v)
	switch {
	case v == "":
		return "", fmt.Errorf("empty e-mail address")
	case len(v) > 254:
		return "", fmt.Errorf("e-mail address longer than 254 bytes")
	case err != nil || a.Address != v || a.Name != "":
		return "", fmt.Errorf("not a plain e-mail address (want local@domain)")
	case !strings.Contains(v[strings.LastIndex(v, "@")+1:], "."):
		return "", fmt.Errorf("e-mail domain has no dot")
	}
	// The same rule as ingest: a rectified address must survive a re-ingest.
	if err := ingest.ValidEmail(v); err != nil {
		return "", err
	}
	// Stored in the one normalised form ingest stores and lookups compare.
	return store.NormalizeEmail(v), nil
}

func validPseudo(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fmt.Errorf("empty pseudo")
	case !utf8.ValidString(v):
		return "", fmt.Errorf("pseudo is not valid UTF-8")
	case utf8.RuneCountInString(v) > 64:
		return "", fmt.Errorf("pseudo longer than 64 characters")
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", fmt.Errorf("pseudo holds control characters")
	}
	return v, nil
}

// Rectifier executes rectifications (Art. 16).
type Rectifier struct {
	DB       *store.DB
	Policy   RecipientsPolicy
	Register *Register
	Hasher   *store.Hasher
	Now      func() time.Time
	Actor    string
	// Notify queues the Art. 19 notifications in the rectification's transaction.
	Notify *notify.Outbox
	// Ledger is the erasure ledger's path: an address it records for an
	// erased subject is not given to another ("" skips the check).
	Ledger string
}

// RectifyReport says what a rectification did.
type RectifyReport struct {
	SubjectRef string               `json:"subject_ref"`
	RequestID  string               `json:"request_id"`
	At         time.Time            `json:"at"`
	Fields     []string             `json:"fields"`
	Recipients []policies.Recipient `json:"recipients"` // to tell (Art. 19)

	// Notifications are the Art. 19 notifications queued with the change.
	Notifications []notify.Queued `json:"notifications"`
}

// Rectify applies the changes everywhere the store holds the values: the
// subject row is the only copy (tickets, events and statistics refer to the
// subject by user id, and the derived statistics do not depend on the
// e-mail or pseudo, so none needs recomputing). The audit entry names the
// fields and keyed hashes of the new values, never the old ones.
func (r *Rectifier) Rectify(ctx context.Context, key store.SubjectKey, changes []Change, requestID string) (*RectifyReport, error) {
	subj, err := store.FindSubject(ctx, r.DB, key)
	if err != nil {
		return nil, err
	}
	recips, err := r.Policy.Recipients(ctx)
	if err != nil {
		return nil, fmt.Errorf("rectify: recipients: %w", err)
	}
	at := time.Now().UTC()
	if r.Now != nil {
		at = r.Now().UTC()
	}
	rep := &RectifyReport{SubjectRef: r.Hasher.Hash("user_id", subj.UserID), At: at, Recipients: recips}
	var email, pseudo string
	hashes := map[string]string{}
	for _, c := range changes {
		rep.Fields = append(rep.Fields, c.Field)
		hashes[c.Field] = r.Hasher.Hash(c.Field, c.Value)
		if c.Field == "email" {
			email = c.Value
		} else {
			pseudo = c.Value
		}
	}
	h, err := r.Register.Start(ctx, requestID, "rectification", subj)
	if err != nil {
		return nil, err
	}
	rep.RequestID = h.Request.RequestID
	err = r.DB.InTx(ctx, func(tx *store.Tx) error {
		if email != "" {
			// An erased subject's address stays theirs: ingest refuses it
			// under a new user id, and so does rectification (adversarial
			// pass 8 F14: it put an erased person's address on another
			// subject and into the notification payloads).
			if h := ErasedSubjectHash(r.Ledger, r.Hasher, store.SubjectKey{Email: email}); h != "" && h != rep.SubjectRef {
				return fmt.Errorf("rectify: %w: this e-mail address is an erased subject's (erasure ledger)", policies.ErrRefused)
			}
			// Two subjects must never share an address: lookups and erasure
			// by e-mail would become ambiguous. The refusal names no other
			// subject's data.
			taken, err := store.EmailHeldByOther(ctx, tx, email, subj.UserID)
			if err != nil {
				return err
			}
			if taken {
				return fmt.Errorf("rectify: %w: another subject holds this e-mail address (%s)", policies.ErrRefused, store.IdentifierNormalisation)
			}
		}
		if err := store.RectifySubject(ctx, tx, subj.UserID, email, pseudo, store.Millis(at)); err != nil {
			if errors.Is(err, store.ErrState) { // anonymised: a refusal, recorded as such
				return fmt.Errorf("rectify: %w: %v", policies.ErrRefused, err)
			}
			return err
		}
		var err error
		if rep.Notifications, err = r.Notify.Queue(ctx, tx, notify.Rectification(rep.RequestID, rep.SubjectRef, subj.UserID, at, email, pseudo)); err != nil {
			return err
		}
		names := make([]string, 0, len(recips))
		for _, rc := range recips {
			names = append(names, rc.Name.EN)
		}
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: at, Actor: r.Actor, Action: "dsr.rectify", SubjectRef: rep.SubjectRef, Outcome: "ok",
			Detail: map[string]any{"request": rep.RequestID, "fields": rep.Fields, "new_value_hashes": hashes, "recipients_to_notify": names},
		})
		if err != nil {
			return err
		}
		return h.Record(ctx, tx, "rectify", "ok", seq)
	})
	if ferr := r.Register.Finish(ctx, h, err); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}
