package ingest

import (
	"context"
	"fmt"

	"github.com/oubli/oubli/store"
)

// ownersFunc returns the stored owners of ids (store.RecordOwners).
type ownersFunc func(ctx context.Context, kind store.OwnedKind, ids []string) (map[string]string, error)

// storeOwners is ownersFunc over a store or a transaction.
func storeOwners(q store.Querier) ownersFunc {
	return func(ctx context.Context, kind store.OwnedKind, ids []string) (map[string]string, error) {
		return store.RecordOwners(ctx, q, kind, ids)
	}
}

// ownedItem is one record of the file with the owner the file gives it.
type ownedItem struct {
	kind  store.OwnedKind
	id    string
	owner string
	line  int
	index int // in the line's messages or attachments
}

// ownerCheckBatch is how many records an ownerCheck gathers before it asks
// the store.
const ownerCheckBatch = 2000

// ownerCheck refuses records that would move from one ticket or subject to
// another (issue 17): a ticket whose stored subject differs, a message or
// an attachment whose stored ticket differs, an account event whose stored
// subject differs. Upserts would otherwise move them silently, and with
// them a person's text into someone else's export. The faults name the
// line and the field, never the values.
type ownerCheck struct {
	items []ownedItem
}

func (c *ownerCheck) add(kind store.OwnedKind, id, owner string, line, index int) {
	if id == "" {
		return
	}
	c.items = append(c.items, ownedItem{kind: kind, id: id, owner: owner, line: line, index: index})
}

// addTicket gathers a ticket line's records (and, the first time the file
// names a subject, its e-mail address).
func (c *ownerCheck) addTicket(t *ticket, line int, firstOfSubject bool) {
	if firstOfSubject && t.User.Email != "" {
		c.add(store.OwnedEmail, store.NormalizeEmail(t.User.Email), t.User.ID, line, 0)
	}
	c.add(store.OwnedTicket, t.ID, t.User.ID, line, 0)
	for i, m := range t.Messages {
		c.add(store.OwnedMessage, m.ID, t.ID, line, i)
	}
	for i, a := range t.Attachments {
		c.add(store.OwnedAttachment, a.ID, t.ID, line, i)
	}
}

func (c *ownerCheck) full() bool { return len(c.items) >= ownerCheckBatch }

// run asks the store for the gathered records' owners and returns a fault
// for each record that belongs elsewhere, in the order gathered per kind.
// It empties the check.
func (c *ownerCheck) run(ctx context.Context, owners ownersFunc) ([]Fault, error) {
	defer func() { c.items = c.items[:0] }()
	if owners == nil || len(c.items) == 0 {
		return nil, nil
	}
	var faults []Fault
	for _, kind := range []store.OwnedKind{store.OwnedEmail, store.OwnedTicket, store.OwnedMessage, store.OwnedAttachment, store.OwnedEvent} {
		var ids []string
		for _, it := range c.items {
			if it.kind == kind {
				ids = append(ids, it.id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		stored, err := owners(ctx, kind, ids)
		if err != nil {
			return nil, err
		}
		for _, it := range c.items {
			if it.kind != kind {
				continue
			}
			if o, ok := stored[it.id]; ok && o != it.owner {
				faults = append(faults, Fault{Line: it.line, Reason: ownerReason(it)})
			}
		}
	}
	return faults, nil
}

func ownerReason(it ownedItem) string {
	const between = "(records never move between tickets)"
	switch it.kind {
	case store.OwnedEmail:
		return "user.email: another subject in the store holds this e-mail address (" + store.IdentifierNormalisation + ")"
	case store.OwnedTicket:
		return "ticket_id: this ticket belongs to another subject in the store (an owner change is refused)"
	case store.OwnedMessage:
		return fmt.Sprintf("messages[%d].message_id: this message belongs to another ticket in the store %s", it.index, between)
	case store.OwnedAttachment:
		return fmt.Sprintf("attachments[%d].attachment_id: this attachment belongs to another ticket in the store %s", it.index, between)
	default:
		return "event_id: this account event belongs to another subject in the store (records never move between subjects)"
	}
}
