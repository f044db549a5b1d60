package dsr

import (
	"context"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/store"
)

// Residue is what the post-erasure residue check found (see
// residue.CheckSubject): counts per place, never the values.
type Residue = residue.Report

// scan runs the residue check of an erasure that has committed: the
// subject's identifiers in their own records, in free text (trigram
// indexes) and in attachment contents (the attachment index), all by index;
// what no index covers is listed as deferred to the nightly sweep (oubli
// check --residue).
func (e *Eraser) scan(ctx context.Context, subj store.Subject, recs *store.SubjectRecords, rep *EraseReport, keptBlobs map[string]bool, subjAction policies.Action) (*Residue, error) {
	s := residue.Subject{
		Identifiers: residue.Identifiers{UserID: subj.UserID, Email: subj.Email, Pseudo: subj.Pseudo},
		KeptTickets: map[string]bool{},
		KeptBlobs:   len(keptBlobs),
		KeptAsIs:    subjAction != policies.Delete && subjAction != policies.Anonymize,
		Schema:      e.schema,
	}
	if e.Hasher != nil {
		s.Hasher = e.Hasher
	}
	for _, k := range rep.Kept {
		if k.Category == policies.CatTickets {
			s.KeptTickets[k.ID] = true
		}
	}
	for _, t := range recs.Tickets {
		if !s.KeptTickets[t.TicketID] {
			s.DeletedTickets = append(s.DeletedTickets, t.TicketID)
		}
	}
	for _, a := range recs.Attachments {
		if !keptBlobs[a.BlobKey] {
			s.DeletedBlobs = append(s.DeletedBlobs, a.BlobKey)
		}
	}
	return residue.CheckSubject(ctx, e.DB, e.Blobs, s)
}
