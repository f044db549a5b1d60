package store

import (
	"context"
	"fmt"
)

// OwnedKind names a kind of record that belongs to a parent: a ticket to its
// subject, a message or an attachment to its ticket, an account event to its
// subject.
type OwnedKind int

// The kinds of owned records.
const (
	OwnedTicket OwnedKind = iota
	OwnedMessage
	OwnedAttachment
	OwnedEvent
	// OwnedEmail maps a normalised e-mail address (NormalizeEmail) to a
	// subject holding it.
	OwnedEmail
)

// ownerQueries select (id, owner) of the given ids. An anonymised ticket is
// left out: an upsert never changes its owner.
var ownerQueries = map[OwnedKind]string{
	OwnedTicket:     "SELECT ticket_id AS id, COALESCE(user_id, '') AS owner FROM tickets WHERE anonymized_at IS NULL AND ticket_id IN (?)",
	OwnedMessage:    "SELECT message_id AS id, ticket_id AS owner FROM messages WHERE message_id IN (?)",
	OwnedAttachment: "SELECT attachment_id AS id, ticket_id AS owner FROM attachments WHERE attachment_id IN (?)",
	OwnedEvent:      "SELECT event_id AS id, user_id AS owner FROM account_events WHERE event_id IN (?)",
	OwnedEmail:      "SELECT email AS id, user_id AS owner FROM subjects WHERE email IN (?) ORDER BY user_id",
}

// RecordOwners returns, for those of ids the store holds, the id of their
// owner: a ticket's subject, a message's or an attachment's ticket, an
// event's subject. Ingest uses it to refuse a record that would move from
// one ticket or subject to another.
func RecordOwners(ctx context.Context, q Querier, kind OwnedKind, ids []string) (map[string]string, error) {
	owners := make(map[string]string)
	const batch = 500
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		query, args, err := In(ownerQueries[kind], part)
		if err != nil {
			return nil, err
		}
		var rows []struct {
			ID    string `db:"id"`
			Owner string `db:"owner"`
		}
		if err := q.Select(ctx, &rows, query, args...); err != nil {
			return nil, fmt.Errorf("look up record owners: %w", err)
		}
		for _, r := range rows {
			owners[r.ID] = r.Owner
		}
	}
	return owners, nil
}
