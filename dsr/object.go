package dsr

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

// ObjectionPolicy is what an objection needs from the policies engine
// (*policies.Engine implements it).
type ObjectionPolicy interface {
	Object(ctx context.Context, purpose string) (policies.ObjectionRule, error)
}

// Objector executes objections (Art. 21).
type Objector struct {
	DB       *store.DB
	Policy   ObjectionPolicy
	Register *Register
	Hasher   *store.Hasher
	Now      func() time.Time
	Actor    string
	// Notify queues the Art. 19 notifications in the objection's transaction.
	Notify *notify.Outbox
}

// ObjectReport says what an objection did.
type ObjectReport struct {
	SubjectRef  string    `json:"subject_ref"`
	RequestID   string    `json:"request_id"`
	Purpose     string    `json:"purpose"`
	At          time.Time `json:"at"`
	Applies     bool      `json:"applies"`
	Reason      string    `json:"reason"`
	Stops       []string  `json:"stops"`
	Already     bool      `json:"already_recorded"`
	StatsGone   int64     `json:"subject_stats_removed"`
	AgentStats  int64     `json:"agent_stats_recomputed"`
	RequestDone string    `json:"request_status"`

	// Notifications are the Art. 19 notifications queued with the objection.
	Notifications []notify.Queued `json:"notifications"`
}

// Object records the subject's objection to a purpose when the policies say
// it applies: processing for that purpose stops at once (for statistics:
// their subject_stats row goes and the agents' figures they contributed to
// are recomputed without them). When it does not apply, the request is
// refused with the policy's reason (policies.ErrRefused). Objecting twice is
// harmless.
func (o *Objector) Object(ctx context.Context, key store.SubjectKey, purpose, requestID string) (*ObjectReport, error) {
	rule, err := o.Policy.Object(ctx, purpose)
	if err != nil {
		return nil, fmt.Errorf("objection to %q: %w", purpose, err)
	}
	subj, err := store.FindSubject(ctx, o.DB, key)
	if err != nil {
		return nil, err
	}
	at := time.Now().UTC()
	if o.Now != nil {
		at = o.Now().UTC()
	}
	rep := &ObjectReport{SubjectRef: o.Hasher.Hash("user_id", subj.UserID), Purpose: purpose, At: at,
		Applies: rule.Applies, Reason: rule.Reason.EN, Stops: rule.Stops}
	h, err := o.Register.Start(ctx, requestID, "objection", subj)
	if err != nil {
		return nil, err
	}
	rep.RequestID = h.Request.RequestID
	var result error
	if !rule.Applies {
		result = fmt.Errorf("%w: objection to %q: %s", policies.ErrRefused, purpose, rule.Reason.EN)
	}
	err = o.DB.InTx(ctx, func(tx *store.Tx) error {
		outcome := "refused"
		if rule.Applies {
			outcome = "ok"
			days, err := store.AgentStatsDays(ctx, tx, subj.UserID)
			if err != nil {
				return err
			}
			added, err := store.AddObjection(ctx, tx, subj.UserID, purpose, store.Millis(at), rep.RequestID)
			if err != nil {
				return err
			}
			rep.Already = !added
			if purpose == stats.Purpose || slices.Contains(rule.Stops, policies.CatSubjectStats) {
				if rep.StatsGone, rep.AgentStats, err = stats.RemoveSubject(ctx, tx, subj.UserID, days, at); err != nil {
					return err
				}
			}
			if !rep.Already {
				if rep.Notifications, err = o.Notify.Queue(ctx, tx, notify.Objection(rep.RequestID, rep.SubjectRef, subj.UserID, purpose, at, rule.Stops)); err != nil {
					return err
				}
			}
		}
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: at, Actor: o.Actor, Action: "dsr.object", SubjectRef: rep.SubjectRef, Outcome: outcome,
			Detail: map[string]any{"request": rep.RequestID, "purpose": purpose, "already_recorded": rep.Already,
				"subject_stats_removed": rep.StatsGone, "agent_stats_recomputed": rep.AgentStats},
		})
		if err != nil {
			return err
		}
		return o.Register.RecordOutcome(ctx, tx, h, "object", outcome, seq, result)
	})
	if err != nil {
		return nil, err
	}
	if ferr := o.Register.Finish(ctx, h, result); ferr != nil && result == nil {
		return rep, ferr
	}
	rep.RequestDone = h.Request.Status
	return rep, result
}
