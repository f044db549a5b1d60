package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Outbox queues notifications in the transaction of the change they report.
type Outbox struct {
	// Recipients are the policies' recipients: one notification each.
	Recipients []policies.Recipient
	// Config says which recipients have a webhook; nil: all manual.
	Config *Config
}

// Queued is one notification queued (or, in a dry run, that would be).
type Queued struct {
	ID        string `json:"id"`
	Recipient string `json:"recipient"`
	Status    string `json:"status"` // queued (webhook) or manual
}

// NewID returns a fresh notification id: "ntf_" and 32 hex digits.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "ntf_" + hex.EncodeToString(b[:])
}

// Queue writes one notification per recipient for ev inside tx, so the
// change and its notifications commit or roll back together. A recipient
// with a webhook is queued for delivery; the others are manual. An erasure
// also strips the new values from the subject's earlier notifications not
// yet sent: the erased subject's e-mail address or pseudo is kept nowhere.
// A recipient already notified of this change type for the same request is
// not queued again (its existing notification is returned).
// A nil Outbox queues nothing.
func (o *Outbox) Queue(ctx context.Context, tx *store.Tx, ev Event) ([]Queued, error) {
	if o == nil {
		return nil, nil
	}
	if ev.SubjectRef == "" || ev.UserID == "" {
		return nil, fmt.Errorf("queue notifications: event without subject or user id: %w", store.ErrInvalid)
	}
	if ev.Type == TypeErasure {
		if err := scrubValues(ctx, tx, ev.SubjectRef); err != nil {
			return nil, err
		}
	}
	// One notification per request, recipient and type: executing a
	// request again (after a crash, say) queues nothing twice.
	have := map[string]store.Notification{}
	if ev.RequestID != "" {
		ns, err := store.ListNotifications(ctx, tx, store.NotificationFilter{RequestID: ev.RequestID, Type: ev.Type})
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if n.Type == ev.Type {
				have[n.RecipientID] = n
			}
		}
	}
	at := store.Millis(ev.At)
	out := make([]Queued, 0, len(o.Recipients))
	for _, r := range o.Recipients {
		if n, ok := have[r.ID]; ok {
			out = append(out, Queued{ID: n.ID, Recipient: r.ID, Status: n.Status})
			continue
		}
		id := NewID()
		body, err := ev.payload(id, r.ID)
		if err != nil {
			return nil, fmt.Errorf("queue notification: payload: %w", err)
		}
		status := store.NotifyManual
		if o.Config.Webhook(r.ID) != "" {
			status = store.NotifyQueued
		}
		sum := sha256.Sum256(body)
		n := store.Notification{ID: id, RequestID: ev.RequestID, RecipientID: r.ID, Type: ev.Type, SubjectRef: ev.SubjectRef,
			Status: status, Payload: string(body), PayloadSHA256: hex.EncodeToString(sum[:]), CreatedAt: at, NextAttemptAt: at}
		if err := store.InsertNotification(ctx, tx, n); err != nil {
			return nil, err
		}
		out = append(out, Queued{ID: id, Recipient: r.ID, Status: status})
	}
	return out, nil
}

// scrubValues removes new_values from the subject's notifications that still
// hold a payload.
func scrubValues(ctx context.Context, tx *store.Tx, subjectRef string) error {
	ns, err := store.ListNotifications(ctx, tx, store.NotificationFilter{SubjectRef: subjectRef, Type: TypeRectification})
	if err != nil {
		return err
	}
	for _, n := range ns {
		if n.Type != TypeRectification || n.Payload == "" {
			continue
		}
		var p Payload
		if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
			return fmt.Errorf("notification %s: payload: %w", n.ID, err)
		}
		p.NewValues = nil
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		n.Payload = string(b)
		sum := sha256.Sum256(b)
		n.PayloadSHA256 = hex.EncodeToString(sum[:])
		if err := store.UpdateNotification(ctx, tx, n); err != nil {
			return err
		}
	}
	return nil
}

// Ack closes a manual notification, or a failed or gone one handled by hand,
// with a note and the actor (from ctx); audited. A queued, delivered or
// acknowledged notification is refused (ErrState).
func Ack(ctx context.Context, db *store.DB, id, note string, now time.Time) (store.Notification, error) {
	note = strings.TrimSpace(note)
	switch {
	case note == "":
		return store.Notification{}, fmt.Errorf("acknowledging notification %s needs --note (how and when the recipient was told): %w", id, store.ErrInvalid)
	case len(note) > 2000 || !utf8.ValidString(note) || strings.ContainsRune(note, 0):
		return store.Notification{}, fmt.Errorf("--note: want UTF-8 text of at most 2000 bytes: %w", store.ErrInvalid)
	}
	var n store.Notification
	err := db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if n, err = store.GetNotification(ctx, tx, id); err != nil {
			return err
		}
		switch n.Status {
		case store.NotifyManual, store.NotifyFailed, store.NotifyGone:
		default:
			return fmt.Errorf("notification %s is %s: only a manual, failed or gone one is acknowledged: %w", id, n.Status, ErrState)
		}
		prev := n.Status
		actor := store.ActorFrom(ctx)
		n.Status = store.NotifyAcknowledged
		n.Payload = ""
		n.AckNote.String, n.AckNote.Valid = note, true
		n.AckActor.String, n.AckActor.Valid = actor, actor != ""
		n.AckedAt.Int64, n.AckedAt.Valid = store.Millis(now), true
		if err := store.UpdateNotification(ctx, tx, n); err != nil {
			return err
		}
		_, err = store.AppendAudit(ctx, tx, store.AuditRecord{At: now, Actor: "notify", Action: "notify.ack", SubjectRef: n.SubjectRef,
			Outcome: "ok", Detail: map[string]any{"notification": n.ID, "request": n.RequestID, "recipient": n.RecipientID, "was": prev}})
		return err
	})
	return n, err
}
