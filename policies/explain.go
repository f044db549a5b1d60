package policies

import (
	"context"
	"fmt"
	"time"
)

// TicketFacts are the facts about one ticket that its retention decision,
// and its attachments', depend on. Times are Unix ms; nil when NULL.
type TicketFacts struct {
	ID            string
	Status        string // open, closed
	CreatedAt     int64
	ClosedAt      *int64
	DisputeStatus string // none, open, resolved
	// Held: an active legal hold on the ticket or its subject at the
	// evaluation time; HoldReason is never printed by Explain (it may
	// hold personal data) but is passed to the policies.
	Held        bool
	HoldReason  string
	Attachments []AttachmentFacts
}

// AttachmentFacts are one attachment's facts.
type AttachmentFacts struct {
	ID         string
	UploadedAt int64
}

// Explained is one record's decision, for `policy explain`.
type Explained struct {
	Category string   `json:"category"`
	ID       string   `json:"id"`
	Decision Decision `json:"decision"`
	// Expires is ExpiresAt as RFC 3339 (UTC), "" when there is no expiry yet.
	Expires string `json:"expires,omitempty"`
}

// Explanation is the decision for a ticket and for each of its attachments.
type Explanation struct {
	At          string      `json:"at"`
	Revision    string      `json:"policy_revision"`
	Ticket      Explained   `json:"ticket"`
	Attachments []Explained `json:"attachments"`
}

// Records returns the retention records of a ticket and its attachments.
func (f TicketFacts) Records() []Record {
	var closed any
	if f.ClosedAt != nil {
		closed = *f.ClosedAt
	}
	recs := []Record{{Category: CatTickets, ID: f.ID, Attrs: map[string]any{
		"status": f.Status, "created_at": f.CreatedAt, "closed_at": closed,
		"dispute_status": f.DisputeStatus, "held": f.Held, "hold_reason": f.HoldReason,
	}}}
	for _, a := range f.Attachments {
		recs = append(recs, Record{Category: CatAttachments, ID: a.ID, Attrs: map[string]any{
			"uploaded_at": a.UploadedAt, "ticket_status": f.Status, "ticket_closed_at": closed,
			"dispute_status": f.DisputeStatus, "held": f.Held, "hold_reason": f.HoldReason,
		}})
	}
	return recs
}

// Explain decides a ticket and its attachments at at, in one evaluation.
func (e *Engine) Explain(ctx context.Context, at time.Time, f TicketFacts) (Explanation, error) {
	recs := f.Records()
	ds, err := e.Decide(ctx, at, recs)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain ticket: %w", err)
	}
	item := func(i int) Explained {
		x := Explained{Category: recs[i].Category, ID: recs[i].ID, Decision: ds[i]}
		if ds[i].ExpiresAt != 0 {
			x.Expires = time.UnixMilli(ds[i].ExpiresAt).UTC().Format(time.RFC3339Nano)
		}
		return x
	}
	out := Explanation{At: at.Format(time.RFC3339Nano), Revision: e.revision, Ticket: item(0), Attachments: []Explained{}}
	for i := 1; i < len(recs); i++ {
		out.Attachments = append(out.Attachments, item(i))
	}
	return out, nil
}
