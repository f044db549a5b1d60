// Package stats computes the derived statistics of the support service —
// each subject's average response time to agent messages and the agents'
// daily figures — under the "statistics" purpose of the policies: only the
// categories that purpose may use, never the data of a subject who objected
// to it (Art. 21) or whose data is restricted (Art. 18, or kept after an
// erasure).
package stats

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Purpose is the name of the purpose of processing the statistics serve, as
// declared by the policies; an objection to it removes the subject from
// every figure.
const Purpose = "statistics"

// Policy is what the statistics need from the policies engine.
type Policy interface {
	Purposes(ctx context.Context) ([]policies.Purpose, error)
	// Decide is the retention decision, asked of the record a figure would
	// be: the form the figure may take at its age.
	Decide(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error)
}

// Result reports a refresh.
type Result struct {
	At           time.Time `json:"at"`
	SubjectStats int64     `json:"subject_stats"`
	AgentStats   int64     `json:"agent_stats"`
	// Objectors is how many subjects were left out because they objected.
	Objectors int64 `json:"objectors"`
	// LegalBasis is the legal basis of the statistics purpose.
	LegalBasis string `json:"legal_basis"`
	// Mode is "full" or "incremental".
	Mode string `json:"mode"`
	// Changes is the number of change-log entries the refresh consumed.
	Changes int64 `json:"changes"`
	// Days is, for an incremental refresh, the number of agent days the
	// changes reached.
	Days int64 `json:"days_recomputed"`
}

// CheckPurpose returns the statistics purpose and fails with ErrPolicy when
// the policies do not declare it or let it produce neither table: then
// nothing is computed.
func CheckPurpose(ctx context.Context, pol Policy) (policies.Purpose, error) {
	ps, err := pol.Purposes(ctx)
	if err != nil {
		return policies.Purpose{}, fmt.Errorf("statistics: %w", err)
	}
	i := slices.IndexFunc(ps, func(p policies.Purpose) bool { return p.Name == Purpose })
	if i < 0 {
		return policies.Purpose{}, fmt.Errorf("%w: the policies declare no %q purpose: no statistics may be computed", policies.ErrPolicy, Purpose)
	}
	if !slices.Contains(ps[i].Categories, policies.CatSubjectStats) && !slices.Contains(ps[i].Categories, policies.CatAgentStats) {
		return policies.Purpose{}, fmt.Errorf("%w: the %q purpose lists neither %s nor %s: no statistics may be computed", policies.ErrPolicy, Purpose, policies.CatSubjectStats, policies.CatAgentStats)
	}
	return ps[i], nil
}

// Scope is the store's statistics scope at `at`.
func Scope(at time.Time) store.StatsScope {
	return store.StatsScope{ObjectionPurpose: Purpose, At: store.Millis(at)}
}

// Options choose how a refresh works.
type Options struct {
	// Full recomputes every figure; otherwise only those the changes
	// logged since the last refresh reach (the first refresh of a store is
	// always full).
	Full bool
}

// Refresh is RefreshWith and the default options: incremental.
func Refresh(ctx context.Context, db *store.DB, pol Policy, at time.Time, actor string) (Result, error) {
	return RefreshWith(ctx, db, pol, at, actor, Options{})
}

// RefreshWith recomputes the statistics tables from the store, set-wise, in
// one transaction that appends an audit entry per table (counts only). An
// incremental refresh recomputes only the figures the change log (filled by
// triggers in the transactions that ingest, erase, object, restrict or
// purge) reaches: the subjects and the agent days changed since the last
// refresh; a full one recomputes every figure; both consume the log. Each
// figure is produced only in the form the policies allow for its age,
// asked of them as the retention run asks (Decide on the record the figure
// would be): a day's per-agent figures named, anonymised or not at all, a
// subject's figure or none. Anonymised agent rows are kept. Concurrent
// refreshes wait for each other.
func RefreshWith(ctx context.Context, db *store.DB, pol Policy, at time.Time, actor string, opt Options) (Result, error) {
	p, err := CheckPurpose(ctx, pol)
	if err != nil {
		return Result{}, err
	}
	r := Result{At: at.UTC(), LegalBasis: p.LegalBasis.EN}
	sc := Scope(at)
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.LockStatsRefresh(ctx, tx); err != nil {
			return err
		}
		if err := tx.Get(ctx, &r.Objectors, "SELECT COUNT(*) FROM objections WHERE purpose = ?", Purpose); err != nil {
			return fmt.Errorf("count objections: %w", err)
		}
		ch, err := store.ReadStatsChanges(ctx, tx)
		if err != nil {
			return err
		}
		full := opt.Full || ch.Full
		r.Mode, r.Changes = "incremental", ch.Entries
		if full {
			r.Mode = "full"
		}
		var days []string
		if !full {
			if days, err = store.StatsChangedDays(ctx, tx); err != nil {
				return err
			}
		}

		ok, err := subjectStatsAllowed(ctx, pol, at)
		if err != nil {
			return err
		}
		var n int64
		switch {
		case !ok || !slices.Contains(p.Categories, policies.CatSubjectStats):
			// A table the purpose no longer lists is emptied: the processing stops.
			err = clear(ctx, tx, "DELETE FROM subject_stats")
		case full:
			n, err = store.RefreshSubjectStats(ctx, tx, sc)
		default:
			n, err = store.RecomputeChangedSubjectStats(ctx, tx, sc)
		}
		if err != nil {
			return fmt.Errorf("refresh subject statistics: %w", err)
		}
		r.SubjectStats = n
		if _, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: at, Actor: actor, Action: "stats.refresh", Outcome: "ok",
			Detail: map[string]any{"table": "subject_stats", "rows": n, "objectors_excluded": r.Objectors, "mode": r.Mode},
		}); err != nil {
			return err
		}

		n = 0
		switch {
		case !slices.Contains(p.Categories, policies.CatAgentStats):
			err = clear(ctx, tx, "DELETE FROM agent_stats WHERE agent_id IS NOT NULL")
		case full:
			var plan map[string]store.AgentStatsForm
			if plan, err = spanPlan(ctx, tx, pol, at); err == nil {
				n, err = store.RecomputeAgentStats(ctx, tx, sc, plan, true)
			}
		default:
			var plan map[string]store.AgentStatsForm
			if plan, err = AgentForms(ctx, pol, at, days); err == nil {
				n, err = store.RecomputeAgentStats(ctx, tx, sc, plan, false)
			}
			r.Days = int64(len(days))
		}
		if err != nil {
			return fmt.Errorf("refresh agent statistics: %w", err)
		}
		r.AgentStats = n
		if _, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: at, Actor: actor, Action: "stats.refresh", Outcome: "ok",
			Detail: map[string]any{"table": "agent_stats", "rows": n, "objectors_excluded": r.Objectors, "mode": r.Mode},
		}); err != nil {
			return err
		}
		return store.ConsumeStatsChanges(ctx, tx, full, store.Millis(at))
	})
	if err != nil {
		return r, fmt.Errorf("refresh statistics: %w", err)
	}
	return r, nil
}

// spanPlan is the plan of a full recomputation: every day from the first
// agent message to the last, each in the form the policies allow.
func spanPlan(ctx context.Context, q store.Querier, pol Policy, at time.Time) (map[string]store.AgentStatsForm, error) {
	first, last, ok, err := store.AgentStatsSpan(ctx, q)
	if err != nil || !ok {
		return nil, err
	}
	var days []string
	d, _ := time.Parse("2006-01-02", first)
	end, _ := time.Parse("2006-01-02", last)
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format("2006-01-02"))
	}
	return AgentForms(ctx, pol, at, days)
}

// AgentForms asks the policies in which form each day's per-agent figures
// may exist at `at`: the retention decision on a named row of that day. Keep
// means named, anonymise means anonymised, delete means none; anything else
// is a policy error (nothing is computed).
func AgentForms(ctx context.Context, pol Policy, at time.Time, days []string) (map[string]store.AgentStatsForm, error) {
	recs := make([]policies.Record, len(days))
	for i, d := range days {
		s, err := store.DayStart(d)
		if err != nil {
			return nil, err
		}
		recs[i] = policies.Record{Category: policies.CatAgentStats, ID: d,
			Attrs: map[string]any{"day_start": s, "anonymized": false}}
	}
	dec, err := pol.Decide(ctx, at, recs)
	if err != nil {
		return nil, fmt.Errorf("statistics: the form of the agents' figures: %w", err)
	}
	if len(dec) != len(days) {
		return nil, fmt.Errorf("%w: statistics: %d decisions for %d days", policies.ErrPolicy, len(dec), len(days))
	}
	plan := make(map[string]store.AgentStatsForm, len(days))
	for i, d := range days {
		switch dec[i].Action {
		case policies.Keep:
			plan[d] = store.AgentStatsNamed
		case policies.Anonymize:
			plan[d] = store.AgentStatsAnonymized
		case policies.Delete:
			plan[d] = store.AgentStatsNone
		default:
			return nil, fmt.Errorf("%w: statistics: agent_stats of %s: no usable decision (%q)", policies.ErrPolicy, d, dec[i].Action)
		}
	}
	return plan, nil
}

// subjectStatsAllowed asks the policies whether a subject's figure computed
// at `at` may exist: the retention decision on it is keep.
func subjectStatsAllowed(ctx context.Context, pol Policy, at time.Time) (bool, error) {
	dec, err := pol.Decide(ctx, at, []policies.Record{{Category: policies.CatSubjectStats, ID: "new",
		Attrs: map[string]any{"computed_at": store.Millis(at), "held": false}}})
	if err != nil {
		return false, fmt.Errorf("statistics: the form of the subjects' figures: %w", err)
	}
	if len(dec) != 1 {
		return false, fmt.Errorf("%w: statistics: %d decisions for one subject_stats record", policies.ErrPolicy, len(dec))
	}
	switch dec[0].Action {
	case policies.Keep:
		return true, nil
	case policies.Delete, policies.Anonymize:
		return false, nil
	}
	return false, fmt.Errorf("%w: statistics: subject_stats: no usable decision (%q)", policies.ErrPolicy, dec[0].Action)
}

// RemoveSubject takes a subject out of the statistics inside tx, for an
// objection or an erasure: their subject_stats row goes and the agent rows
// of the days they contributed to (days, from store.AgentStatsDays taken
// before their data changed) are recomputed without them. It returns the
// number of subject_stats rows removed and agent rows rewritten.
func RemoveSubject(ctx context.Context, tx *store.Tx, userID string, days []string, at time.Time) (subjectRows, agentRows int64, err error) {
	subjectRows, err = store.DeleteSubjectStats(ctx, tx, userID)
	if err != nil {
		return 0, 0, err
	}
	agentRows, err = store.RefreshAgentStats(ctx, tx, Scope(at), days)
	if err != nil {
		return 0, 0, err
	}
	return subjectRows, agentRows, nil
}

func clear(ctx context.Context, tx *store.Tx, q string) error {
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("statistics not allowed by the policies: %w", err)
	}
	return nil
}
