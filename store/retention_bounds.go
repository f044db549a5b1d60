package store

import (
	"context"
	"fmt"
	"strings"
)

// This file gives the retention run's safety valve its figures without a
// dry run over the store (issue 11 item 7): upper bounds of what a run can
// delete or anonymise per category, counted through the indexes of the
// policies' cutoffs, and category sizes counted only as far as the valve
// needs. Both cost what the candidates cost, not what the store holds.

// candidateCount is one category's bound: a COUNT over the rows its scan
// can return (cutoff) and, for categories deleted with another, the rows of
// that other category's candidates.
type candidateCount struct {
	cat   string
	query string // %[1]s: the tickets cutoff, %[2]s: the category's own, %[3]s: the subjects cutoff, %[4]s: agent days not settled
}

// The records deleted with their ticket or subject are counted by a scalar
// subquery per candidate, through the index of their key: the planner
// cannot turn it into a join that reads the whole table. What is counted
// twice (an attachment both expired and its ticket's) only makes the bound
// larger.
var candidateCounts = []candidateCount{
	{"tickets", "SELECT COUNT(*) FROM tickets t WHERE 1 = 1%[1]s"},
	{"messages", "SELECT COALESCE(SUM((SELECT COUNT(*) FROM messages m WHERE m.ticket_id = t.ticket_id)), 0) FROM tickets t WHERE 1 = 1%[1]s"},
	{"attachments", "SELECT (SELECT COUNT(*) FROM attachments a WHERE 1 = 1%[2]s)" +
		" + (SELECT COALESCE(SUM((SELECT COUNT(*) FROM attachments a WHERE a.ticket_id = t.ticket_id)), 0) FROM tickets t WHERE 1 = 1%[1]s)"},
	{"account_events", "SELECT COUNT(*) FROM account_events e WHERE 1 = 1%[2]s"},
	{"subject_stats", "SELECT (SELECT COUNT(*) FROM subject_stats ss WHERE 1 = 1%[2]s)" +
		" + (SELECT COALESCE(SUM((SELECT COUNT(*) FROM subject_stats ss WHERE ss.user_id = s.user_id)), 0) FROM subjects s WHERE 1 = 1%[3]s)"},
	{"agent_stats", "SELECT COUNT(*) FROM agent_stats ag WHERE 1 = 1%[2]s%[4]s"},
	{"dsr_requests", "SELECT COUNT(*) FROM dsr_requests r WHERE 1 = 1%[2]s"},
	{"legal_holds", "SELECT COUNT(*) FROM legal_holds h WHERE 1 = 1%[2]s"},
	{"subjects", "SELECT COUNT(*) FROM subjects s WHERE 1 = 1%[3]s"},
	{"objections", "SELECT COALESCE(SUM((SELECT COUNT(*) FROM objections o WHERE o.user_id = s.user_id)), 0) FROM subjects s WHERE 1 = 1%[3]s"},
	{"audit_log", "SELECT COUNT(*) FROM audit_log l WHERE 1 = 1%[2]s"},
}

// CandidateBounds returns, per retention category, how many records a run
// with these cutoffs can delete or anonymise at most: the records its scans
// can return, and those deleted with them (messages and attachments with
// their tickets, statistics and objections with their subjects). settled,
// when set, leaves out the subjects, tickets, attachments and agent days a
// run skips (see ScanOptions.Settled).
// A category without a cutoff counts all its records.
func CandidateBounds(ctx context.Context, q Querier, cuts map[string]Cutoff, settled *SettledKey) (map[string]int64, error) {
	cond := func(cat string) (frag, error) {
		s, a, err := cutoffSQL(cat, cuts[cat])
		return frag{s, a}, err
	}
	tk, err := cond("tickets")
	if err != nil {
		return nil, err
	}
	sj, err := cond("subjects")
	if err != nil {
		return nil, err
	}
	var at frag
	if at, err = cond("attachments"); err != nil {
		return nil, err
	}
	if settled != nil {
		// The subjects, tickets and attachments a run decides, through the
		// memo's partial indexes (the subquery's alias hides the outer
		// one): what the run skips cannot be deleted, nor what goes with
		// it (a settled ticket's messages).
		only := func(cat string, f frag) frag {
			uq, uargs := unsettledKeys(cat, f.sql, f.args, settled)
			t := settledTables[cat]
			return frag{" AND " + t.alias + "." + t.key + " IN (" + uq + ")", uargs}
		}
		sj, tk, at = only("subjects", sj), only("tickets", tk), only("attachments", at)
	}
	var ag frag
	if settled != nil {
		ag.sql = " AND (ag.retention_settled IS NULL OR ag.retention_settled <> ? OR ag.retention_recheck_at <= ?)"
		ag.args = []any{settled.Revision, settled.At}
	}
	out := map[string]int64{}
	err = readSerial(ctx, q, func(q Querier) error {
		return countCandidates(ctx, q, out, cond, map[string]frag{"%[1]s": tk, "%[3]s": sj, "%[4]s": ag}, at)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// countCandidates runs CandidateBounds' counts into out.
func countCandidates(ctx context.Context, q Querier, out map[string]int64, cond func(string) (frag, error), frags map[string]frag, at frag) error {
	for _, c := range candidateCounts {
		own, err := cond(c.cat)
		if err != nil {
			return err
		}
		if c.cat == "attachments" {
			own = at
		}
		frags["%[2]s"] = own
		query, args := expand(c.query, frags)
		var n int64
		if err := q.Get(ctx, &n, query, args...); err != nil {
			return fmt.Errorf("retention candidates of %s: %w", c.cat, err)
		}
		out[c.cat] = n
	}
	return nil
}

// frag is a WHERE fragment with its arguments.
type frag struct {
	sql  string
	args []any
}

// expand replaces the fragments' verbs in query, in the order they occur,
// and returns the arguments in that order.
func expand(query string, frags map[string]frag) (string, []any) {
	var b strings.Builder
	var args []any
	for {
		i := strings.Index(query, "%[")
		if i < 0 {
			b.WriteString(query)
			return b.String(), args
		}
		verb := query[i : i+5]
		f := frags[verb]
		b.WriteString(query[:i])
		b.WriteString(f.sql)
		args = append(args, f.args...)
		query = query[i+5:]
	}
}

// CountAtLeast returns how many records the table of a retention category
// holds, counting no further than limit: min(size, limit). The safety valve
// needs a category's size only as far as its bound allows.
func CountAtLeast(ctx context.Context, q Querier, category string, limit int64) (int64, error) {
	t, ok := categoryTables[category]
	if !ok {
		return 0, fmt.Errorf("count %s: %w", category, ErrInvalid)
	}
	var n int64
	if err := q.Get(ctx, &n, "SELECT COUNT(*) FROM (SELECT 1 FROM "+t+" LIMIT ?) x", limit); err != nil {
		return 0, fmt.Errorf("count %s: %w", category, err)
	}
	return n, nil
}

// categoryTables names the table of each retention category.
var categoryTables = map[string]string{
	"subjects": "subjects", "tickets": "tickets", "messages": "messages", "attachments": "attachments",
	"account_events": "account_events", "subject_stats": "subject_stats", "agent_stats": "agent_stats",
	"dsr_requests": "dsr_requests", "legal_holds": "legal_holds", "objections": "objections", "audit_log": "audit_log",
}
