package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StatsScope says which data the derived statistics may use: every ticket
// that is not restricted (Art. 18, or kept after an erasure), of a subject
// who is not restricted and has not objected to ObjectionPurpose.
type StatsScope struct {
	// ObjectionPurpose is the purpose whose objections exclude a subject
	// from every figure ("statistics").
	ObjectionPurpose string
	// At is the computation time written in computed_at.
	At int64
}

// dayExpr returns the SQL expression of the UTC day ("YYYY-MM-DD") of a
// Unix-millisecond column.
func dayExpr(d Dialect, col string) string {
	if d == Postgres {
		return "to_char(to_timestamp(" + col + " / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return "strftime('%Y-%m-%d', " + col + " / 1000, 'unixepoch')"
}

// eligibleTickets is the CTE of the tickets the statistics may use.
const eligibleTickets = `el AS (
	SELECT t.ticket_id, t.user_id FROM tickets t
	LEFT JOIN subjects s ON s.user_id = t.user_id
	WHERE t.restricted = FALSE
	  AND (t.user_id IS NULL OR (s.restricted = FALSE
	       AND NOT EXISTS (SELECT 1 FROM objections o WHERE o.user_id = t.user_id AND o.purpose = ?))))`

// RefreshSubjectStats replaces the contents of subject_stats, set-wise, with
// each subject's average response time to agent messages (see
// RecomputeSubjectStats). It returns the number of rows written.
func RefreshSubjectStats(ctx context.Context, tx *Tx, sc StatsScope) (int64, error) {
	return RecomputeSubjectStats(ctx, tx, sc, nil, true)
}

// RecomputeSubjectStats replaces the subject_stats rows of users (every row
// when all), set-wise, with each subject's average response time to agent
// messages: for every agent message, the time until the subject's next
// message in that ticket. Agent messages never answered are not counted;
// anonymised subjects get no row. Unless all, only the tickets of users are
// read. It returns the number of rows written.
func RecomputeSubjectStats(ctx context.Context, tx *Tx, sc StatsScope, users []string, all bool) (int64, error) {
	if all {
		return recomputeSubjectStats(ctx, tx, sc, "", nil, true)
	}
	if len(users) == 0 {
		return 0, nil
	}
	cond, args := inList(tx.Dialect(), "", users)
	return recomputeSubjectStats(ctx, tx, sc, cond, args, false)
}

// recomputeSubjectStats is RecomputeSubjectStats for the users whose id
// satisfies "id "+cond (every user when all).
func recomputeSubjectStats(ctx context.Context, tx *Tx, sc StatsScope, cond string, condArgs []any, all bool) (int64, error) {
	del, delArgs := "DELETE FROM subject_stats", []any(nil)
	el, elArgs := eligibleTickets, []any{sc.ObjectionPurpose}
	if !all {
		del, delArgs = del+" WHERE user_id "+cond, condArgs
		el = strings.Replace(eligibleTickets, "WHERE t.restricted = FALSE", "WHERE t.user_id "+cond+" AND t.restricted = FALSE", 1)
		elArgs = append(append([]any{}, condArgs...), sc.ObjectionPurpose)
	}
	if _, err := tx.Exec(ctx, del, delArgs...); err != nil {
		return 0, fmt.Errorf("clear subject_stats: %w", err)
	}
	res, err := tx.Exec(ctx, `INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at)
	WITH `+el+`,
	r AS (
		SELECT el.user_id, a.sent_at,
		       (SELECT MIN(u.sent_at) FROM messages u
		        WHERE u.ticket_id = a.ticket_id AND u.author = 'user' AND u.sent_at > a.sent_at) AS next_at
		FROM messages a JOIN el ON el.ticket_id = a.ticket_id
		WHERE a.author = 'agent')
	SELECT r.user_id, AVG(CAST(r.next_at - r.sent_at AS DOUBLE PRECISION) / 1000.0), COUNT(*), ?
	FROM r JOIN subjects s ON s.user_id = r.user_id
	WHERE r.next_at IS NOT NULL AND s.anonymized_at IS NULL
	GROUP BY r.user_id`, append(elArgs, sc.At)...)
	if err != nil {
		return 0, fmt.Errorf("compute subject_stats: %w", err)
	}
	return res.RowsAffected()
}

// AgentStatsDays returns the UTC days ("YYYY-MM-DD") on which agents wrote in
// the subject's tickets: the agent_stats rows the subject contributes to.
func AgentStatsDays(ctx context.Context, q Querier, userID string) ([]string, error) {
	var days []string
	err := q.Select(ctx, &days, `SELECT DISTINCT `+dayExpr(q.Dialect(), "m.sent_at")+` AS day
		FROM messages m JOIN tickets t ON t.ticket_id = m.ticket_id
		WHERE t.user_id = ? AND m.author = 'agent' ORDER BY day`, userID)
	if err != nil {
		return nil, fmt.Errorf("days of a subject's tickets: %w", err)
	}
	return days, nil
}

// RefreshAgentStats takes a contribution out of the per-agent figures that
// exist: it recomputes, in named form, those of days (every day when days
// is nil) that hold named rows, reading only the tickets of those days. It
// never creates a row for a day that had none, nor touches a day holding
// anonymised rows, so it cannot produce figures in a form the policies no
// longer allow for the day's age (creating rows is Refresh's job, which
// asks the policies). Erasures and objections call it with the days the
// subject contributed to (AgentStatsDays, taken before their data
// changed). It returns the number of rows written.
func RefreshAgentStats(ctx context.Context, tx *Tx, sc StatsScope, days []string) (int64, error) {
	if days != nil && len(days) == 0 {
		return 0, nil
	}
	q, args := "SELECT DISTINCT day FROM agent_stats WHERE agent_id IS NOT NULL", []any(nil)
	if days != nil {
		cond, a := inList(tx.Dialect(), "day", days)
		q, args = q+" AND "+cond, a
	}
	var have []string
	if err := tx.Select(ctx, &have, q, args...); err != nil {
		return 0, fmt.Errorf("named days of agent_stats: %w", err)
	}
	plan := make(map[string]AgentStatsForm, len(have))
	for _, d := range have {
		plan[d] = AgentStatsNamed
	}
	return RecomputeAgentStats(ctx, tx, sc, plan, false)
}

// AgentStatsForm is the form in which a day's per-agent figures may exist,
// as the policies decide from the day's age: named (agent_id set),
// anonymised (agent_id NULL) or not at all.
type AgentStatsForm string

const (
	// AgentStatsNamed: one row per agent, naming them.
	AgentStatsNamed AgentStatsForm = "named"
	// AgentStatsAnonymized: the same figures without the agent's identifier
	// (agent_id NULL, anonymized_at set), as the retention run's anonymise
	// leaves them.
	AgentStatsAnonymized AgentStatsForm = "anonymized"
	// AgentStatsNone: no figure for the day.
	AgentStatsNone AgentStatsForm = "none"
)

// dayLayout is the format of agent_stats.day.
const dayLayout = "2006-01-02"

// DayStart returns 00:00 UTC of a "YYYY-MM-DD" day, in Unix milliseconds.
func DayStart(day string) (int64, error) {
	t, err := time.Parse(dayLayout, day)
	if err != nil {
		return 0, fmt.Errorf("day %q: %w", day, ErrInvalid)
	}
	return t.UnixMilli(), nil
}

// DayOf returns the UTC day ("YYYY-MM-DD") holding a Unix-millisecond time.
func DayOf(ms int64) string { return FromMillis(ms).Format(dayLayout) }

// AgentStatsSpan returns the first and last UTC days on which an agent
// wrote a message (ok false when no agent ever did): every day a full
// recomputation may produce a row for lies between them. Two index reads.
func AgentStatsSpan(ctx context.Context, q Querier) (first, last string, ok bool, err error) {
	var lo, hi sql.NullInt64
	const where = " FROM messages WHERE author = 'agent' AND agent_id IS NOT NULL"
	if err := q.Get(ctx, &lo, "SELECT MIN(sent_at)"+where); err != nil {
		return "", "", false, fmt.Errorf("first agent message: %w", err)
	}
	if err := q.Get(ctx, &hi, "SELECT MAX(sent_at)"+where); err != nil {
		return "", "", false, fmt.Errorf("last agent message: %w", err)
	}
	if !lo.Valid || !hi.Valid {
		return "", "", false, nil
	}
	return DayOf(lo.Int64), DayOf(hi.Int64), true, nil
}

// dayRanges merges days into half-open [start, end) millisecond ranges,
// consecutive days into one, with the SQL condition on col and its args.
func dayRanges(col string, days []string) (string, []any, error) {
	starts := make([]int64, 0, len(days))
	for _, d := range days {
		s, err := DayStart(d)
		if err != nil {
			return "", nil, err
		}
		starts = append(starts, s)
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	var conds []string
	var args []any
	for i := 0; i < len(starts); {
		j := i
		for j+1 < len(starts) && starts[j+1] == starts[j]+dayMs {
			j++
		}
		conds = append(conds, "("+col+" >= ? AND "+col+" < ?)")
		args = append(args, starts[i], starts[j]+dayMs)
		i = j + 1
	}
	return "(" + strings.Join(conds, " OR ") + ")", args, nil
}

const dayMs = 86400000

// frozenDays returns those of days (every day when all) that hold
// anonymised rows: their figures are never recomputed (the data behind
// them may be gone).
func frozenDays(ctx context.Context, tx *Tx, days []string, all bool) (map[string]bool, error) {
	q, args := "SELECT DISTINCT day FROM agent_stats WHERE agent_id IS NULL", []any(nil)
	if !all {
		if len(days) == 0 {
			return map[string]bool{}, nil
		}
		cond, a := inList(tx.Dialect(), "day", days)
		q, args = q+" AND "+cond, a
	}
	var got []string
	if err := tx.Select(ctx, &got, q, args...); err != nil {
		return nil, fmt.Errorf("anonymised days of agent_stats: %w", err)
	}
	m := make(map[string]bool, len(got))
	for _, d := range got {
		m[d] = true
	}
	return m, nil
}

// RecomputeAgentStats replaces the per-agent figures of the days of plan
// (each in the form the plan gives it; every day of the table when all)
// with figures computed from the store, set-wise: tickets handled (tickets
// in which the agent wrote that day), first responses (tickets whose first
// agent message after the first user message the agent wrote that day) and
// their average delay in seconds. Named rows of the planned days (of every
// day when all) are removed first; a day with form none gets no row. Days
// holding anonymised rows are left untouched. The statements read only the
// tickets in which an agent wrote on a planned day: the cost follows the
// days, not the store. It returns the number of rows written.
func RecomputeAgentStats(ctx context.Context, tx *Tx, sc StatsScope, plan map[string]AgentStatsForm, all bool) (int64, error) {
	if len(plan) == 0 && !all {
		return 0, nil
	}
	days := make([]string, 0, len(plan))
	for d := range plan {
		days = append(days, d)
	}
	slices.Sort(days)
	frozen, err := frozenDays(ctx, tx, days, all)
	if err != nil {
		return 0, err
	}
	var open, named, anon []string
	for _, d := range days {
		if frozen[d] {
			continue
		}
		open = append(open, d)
		switch plan[d] {
		case AgentStatsNamed:
			named = append(named, d)
		case AgentStatsAnonymized:
			anon = append(anon, d)
		case AgentStatsNone:
		default:
			return 0, fmt.Errorf("agent_stats day %s: unknown form %q: %w", d, plan[d], ErrInvalid)
		}
	}
	if all {
		_, err = tx.Exec(ctx, "DELETE FROM agent_stats WHERE agent_id IS NOT NULL AND day NOT IN (SELECT day FROM agent_stats WHERE agent_id IS NULL)")
	} else if len(open) > 0 {
		cond, args := inList(tx.Dialect(), "day", open)
		_, err = tx.Exec(ctx, "DELETE FROM agent_stats WHERE agent_id IS NOT NULL AND "+cond, args...)
	}
	if err != nil {
		return 0, fmt.Errorf("clear agent_stats: %w", err)
	}
	// Each form's statement reads only the tickets of its days, so the
	// named and the anonymised statements of a full recomputation share
	// the store between them instead of reading it twice.
	n1, err := insertAgentStats(ctx, tx, sc, named, false, true)
	if err != nil {
		return 0, err
	}
	n2, err := insertAgentStats(ctx, tx, sc, anon, true, true)
	if err != nil {
		return 0, err
	}
	return n1 + n2, nil
}

// agentFigures is the chain of CTEs, after el (the eligible tickets to
// read), that computes per agent and UTC day: handled (n, tickets in which
// the agent wrote that day; inRange restricts the messages counted) and
// firsts (n, avg_s and sum_s: first responses, the tickets whose first
// agent message at or after the first user message the agent wrote that
// day, ties going to the smallest message id, and their delay in seconds).
// Every message is read through its ticket (messages_ticket_id), once per
// CTE, without a correlated subquery.
func agentFigures(d Dialect, inRange string) string {
	day := func(col string) string { return dayExpr(d, col) }
	return `
	handled AS (
		SELECT m.agent_id, ` + day("m.sent_at") + ` AS day, COUNT(DISTINCT m.ticket_id) AS n
		FROM messages m JOIN el ON el.ticket_id = m.ticket_id
		WHERE m.author = 'agent' AND m.agent_id IS NOT NULL` + inRange + `
		GROUP BY m.agent_id, ` + day("m.sent_at") + `),
	fu AS (
		SELECT u.ticket_id, MIN(u.sent_at) AS at
		FROM messages u JOIN el ON el.ticket_id = u.ticket_id
		WHERE u.author = 'user'
		GROUP BY u.ticket_id),
	fa AS (
		SELECT a.agent_id, a.sent_at AS agent_at, fu.at AS user_at,
		       ROW_NUMBER() OVER (PARTITION BY a.ticket_id ORDER BY a.sent_at, a.message_id) AS rn
		FROM messages a JOIN fu ON fu.ticket_id = a.ticket_id
		WHERE a.author = 'agent' AND a.agent_id IS NOT NULL AND a.sent_at >= fu.at),
	firsts AS (
		SELECT fa.agent_id, ` + day("fa.agent_at") + ` AS day, COUNT(*) AS n,
		       AVG(CAST(fa.agent_at - fa.user_at AS DOUBLE PRECISION) / 1000.0) AS avg_s,
		       SUM(CAST(fa.agent_at - fa.user_at AS DOUBLE PRECISION) / 1000.0) AS sum_s
		FROM fa WHERE fa.rn = 1
		GROUP BY fa.agent_id, ` + day("fa.agent_at") + `)`
}

// insertAgentStats computes and inserts the figures of days, named or
// anonymised. With restrict, only the tickets in which an agent wrote on
// one of the days are read.
func insertAgentStats(ctx context.Context, tx *Tx, sc StatsScope, days []string, anonymise, restrict bool) (int64, error) {
	if len(days) == 0 {
		return 0, nil
	}
	var args []any
	dt, el, inRange := "", eligibleTickets, ""
	if restrict {
		cond, a, err := dayRanges("m.sent_at", days)
		if err != nil {
			return 0, err
		}
		// The tickets with an agent message on one of the days: the only
		// ones that can count in those days' figures (a first response is
		// an agent message of its day).
		dt = `dt AS (SELECT DISTINCT m.ticket_id FROM messages m
		WHERE m.author = 'agent' AND m.agent_id IS NOT NULL AND ` + cond + `),`
		el = strings.Replace(eligibleTickets, "FROM tickets t", "FROM tickets t JOIN dt ON dt.ticket_id = t.ticket_id", 1)
		inRange = " AND " + cond
		args = append(args, a...)
	}
	args = append(args, sc.ObjectionPurpose)
	if restrict {
		_, a, _ := dayRanges("m.sent_at", days)
		args = append(args, a...)
	}
	agent, anonAt := "h.agent_id", "NULL"
	if anonymise {
		agent, anonAt = "NULL", "?"
	}
	q := `INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at)
	WITH ` + dt + el + `,` + agentFigures(tx.Dialect(), inRange) + `
	SELECT ` + agent + `, h.day, h.n, COALESCE(f.n, 0), COALESCE(f.avg_s, 0), ?, ` + anonAt + `
	FROM handled h LEFT JOIN firsts f ON f.agent_id = h.agent_id AND f.day = h.day
	WHERE `
	args = append(args, sc.At)
	if anonymise {
		args = append(args, sc.At)
	}
	cond, a := inList(tx.Dialect(), "h.day", days)
	q += cond
	args = append(args, a...)
	res, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("compute agent_stats: %w", err)
	}
	return res.RowsAffected()
}

// LockStatsRefresh serialises the statistics' recomputations on PostgreSQL
// for the rest of tx (a transaction-level advisory lock; a second refresh
// waits for the first to commit, then recomputes from what it left, instead
// of inserting rows the first already inserted). No-op on SQLite, where the
// IMMEDIATE transaction already excludes every other writer.
func LockStatsRefresh(ctx context.Context, tx *Tx) error {
	if tx.dialect != Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", lockKey("stats_refresh")); err != nil {
		return fmt.Errorf("lock statistics refresh: %w", err)
	}
	return nil
}

// AgentContribution is what one subject's tickets add to the per-agent
// figures, read before an erasure or objection changes anything (see
// SubjectAgentContribution), so that RemoveAgentContribution can take it
// out of the rows that exist reading nothing but the subject's own data.
type AgentContribution struct {
	userID string
	// days are the UTC days on which agents wrote in the subject's tickets.
	days []string
	// recompute are those of days whose rows may not hold the contribution
	// as read now (a change to the subject's tickets or eligibility not yet
	// taken into the figures): they are recomputed instead.
	recompute []string
	parts     []agentPart
	// mark is the change log's last entry when the share was read: the
	// entries after it for the share's days are this transaction's own
	// (see dropOwnChanges).
	mark int64
	// tickets are the subject's tickets when the share was read.
	tickets []string
}

// agentPart is the subject's share of one agent's figures of one day.
type agentPart struct {
	Agent   string  `db:"agent_id"`
	Day     string  `db:"day"`
	Handled int64   `db:"n"`
	Firsts  int64   `db:"fn"`
	Sum     float64 `db:"sum_s"`
}

// Days returns the UTC days on which agents wrote in the subject's tickets.
func (c *AgentContribution) Days() []string { return c.days }

// SubjectAgentContribution reads, inside tx and before anything of the
// subject changes, their share of every per-agent figure: per agent and
// day, the tickets handled, the first responses and the sum of their
// delays, over their tickets the statistics may use (as sc's eligibility
// says now). It reads the subject's tickets and messages and their entries
// of the change log (stats_dirty) only: a day is marked for recomputation
// when the rows may not hold the share as read now — the subject's
// eligibility changed (kind u: every day of theirs), one of their tickets
// changed (kind t: the days of its agent messages), a ticket of theirs was
// deleted (kind s: those of their days whose agent messages were deleted,
// kind d) — since the figures were computed.
func SubjectAgentContribution(ctx context.Context, tx *Tx, sc StatsScope, userID string) (*AgentContribution, error) {
	days, err := AgentStatsDays(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	c := &AgentContribution{userID: userID, days: days}
	if err := tx.Get(ctx, &c.mark, "SELECT COALESCE(MAX(id), 0) FROM stats_dirty"); err != nil {
		return nil, fmt.Errorf("statistics change log: %w", err)
	}
	if err := tx.Select(ctx, &c.tickets, "SELECT ticket_id FROM tickets WHERE user_id = ?", userID); err != nil {
		return nil, fmt.Errorf("a subject's tickets: %w", err)
	}
	if len(days) == 0 {
		return c, nil
	}
	el := strings.Replace(eligibleTickets, "WHERE t.restricted = FALSE", "WHERE t.user_id = ? AND t.restricted = FALSE", 1)
	q := `WITH ` + el + `,` + agentFigures(tx.Dialect(), "") + `
	SELECT h.agent_id, h.day, h.n, COALESCE(f.n, 0) AS fn, COALESCE(f.sum_s, 0) AS sum_s
	FROM handled h LEFT JOIN firsts f ON f.agent_id = h.agent_id AND f.day = h.day
	ORDER BY h.day, h.agent_id`
	if err := tx.Select(ctx, &c.parts, q, userID, sc.ObjectionPurpose); err != nil {
		return nil, fmt.Errorf("a subject's share of agent_stats: %w", err)
	}
	var dirty []struct {
		Kind string `db:"kind"`
		Key  string `db:"key"`
	}
	// Two look-ups by key (stats_dirty_key), not one OR: PostgreSQL read the
	// whole change log for the OR (330 ms an erasure with 1.5 M entries
	// pending, a store whose statistics were never refreshed).
	err = tx.Select(ctx, &dirty, `SELECT kind, key FROM stats_dirty WHERE key = ? AND kind IN ('u', 's')
		UNION
		SELECT d.kind, d.key FROM tickets t JOIN stats_dirty d ON d.key = t.ticket_id WHERE t.user_id = ? AND d.kind = 't'`, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("a subject's pending statistics changes: %w", err)
	}
	again := map[string]bool{}
	var tickets []string
	for _, d := range dirty {
		switch d.Kind {
		case "u":
			for _, day := range days {
				again[day] = true
			}
		case "t":
			tickets = append(tickets, d.Key)
		case "s":
			cond, args := inList(tx.Dialect(), "key", days)
			var gone []string
			if err := tx.Select(ctx, &gone, "SELECT DISTINCT key FROM stats_dirty WHERE kind = 'd' AND "+cond, args...); err != nil {
				return nil, fmt.Errorf("days of deleted agent messages: %w", err)
			}
			for _, day := range gone {
				again[day] = true
			}
		}
	}
	if len(tickets) > 0 {
		cond, args := inList(tx.Dialect(), "m.ticket_id", tickets)
		var td []string
		if err := tx.Select(ctx, &td, `SELECT DISTINCT `+dayExpr(tx.Dialect(), "m.sent_at")+` AS day FROM messages m
			WHERE m.author = 'agent' AND `+cond, args...); err != nil {
			return nil, fmt.Errorf("days of changed tickets: %w", err)
		}
		for _, day := range td {
			again[day] = true
		}
	}
	for _, day := range days {
		if again[day] {
			c.recompute = append(c.recompute, day)
		}
	}
	return c, nil
}

// RemoveAgentContribution takes a subject's share (read before their data
// changed) out of the per-agent figures that exist, in named form: on each
// day holding named rows and no anonymised one, the agent's row loses the
// subject's tickets handled, first responses and their delays (the average
// recomputed from what is left; a row left with no ticket handled goes, as
// a recomputation would not write it). Days the share may not be exact for
// (see SubjectAgentContribution), and any row not holding the share, are
// recomputed by RefreshAgentStats instead. Like RefreshAgentStats it never
// creates a row. It returns the number of rows changed.
func RemoveAgentContribution(ctx context.Context, tx *Tx, sc StatsScope, c *AgentContribution) (int64, error) {
	if c == nil {
		return 0, nil
	}
	if len(c.days) == 0 {
		return 0, dropOwnChanges(ctx, tx, c)
	}
	cond, args := inList(tx.Dialect(), "day", c.days)
	var kinds []struct {
		Day   string `db:"day"`
		Named bool   `db:"named"`
	}
	if err := tx.Select(ctx, &kinds, "SELECT DISTINCT day, agent_id IS NOT NULL AS named FROM agent_stats WHERE "+cond, args...); err != nil {
		return 0, fmt.Errorf("agent_stats days: %w", err)
	}
	named, frozen := map[string]bool{}, map[string]bool{}
	for _, k := range kinds {
		if k.Named {
			named[k.Day] = true
		} else {
			frozen[k.Day] = true
		}
	}
	again := map[string]bool{}
	for _, d := range c.recompute {
		again[d] = true
	}
	// The rows of the share, read in one statement; the rewritten rows
	// written in one statement each for updates and deletions.
	type rowKey struct{ agent, day string }
	rows := map[rowKey]agentRow{}
	var agents []string
	for _, p := range c.parts {
		if named[p.Day] && !frozen[p.Day] && !again[p.Day] {
			agents = append(agents, p.Agent)
		}
	}
	if len(agents) > 0 {
		slices.Sort(agents)
		agents = slices.Compact(agents)
		dcond, dargs := inList(tx.Dialect(), "day", c.days)
		acond, aargs := inList(tx.Dialect(), "agent_id", agents)
		var got []agentRow
		if err := tx.Select(ctx, &got, `SELECT id, agent_id, day, tickets_handled, first_responses, avg_first_response_seconds
			FROM agent_stats WHERE `+dcond+` AND `+acond, append(dargs, aargs...)...); err != nil {
			return 0, fmt.Errorf("agent_stats rows: %w", err)
		}
		for _, r := range got {
			k := rowKey{r.Agent, r.Day}
			if _, dup := rows[k]; dup {
				again[r.Day] = true // two rows for one agent-day: recompute it
			}
			rows[k] = r
		}
	}
	var gone []int64
	var kept []agentRow
	for _, p := range c.parts {
		if !named[p.Day] || frozen[p.Day] || again[p.Day] {
			continue
		}
		r, ok := rows[rowKey{p.Agent, p.Day}]
		if !ok || r.Handled < p.Handled || r.Firsts < p.Firsts {
			again[p.Day] = true // the row does not hold the share: recompute the day
			continue
		}
		switch handled, firsts := r.Handled-p.Handled, r.Firsts-p.Firsts; {
		case handled == 0:
			gone = append(gone, r.ID)
		default:
			avg := 0.0
			if firsts > 0 {
				avg = (r.Avg*float64(r.Firsts) - p.Sum) / float64(firsts)
			}
			r.Handled, r.Firsts, r.Avg = handled, firsts, avg
			kept = append(kept, r)
		}
	}
	// A day recomputed below is rewritten whole: its subtractions are moot.
	kept = slices.DeleteFunc(kept, func(r agentRow) bool { return again[r.Day] })
	n, err := rewriteAgentRows(ctx, tx, sc, kept, gone)
	if err != nil {
		return 0, err
	}
	if err := dropOwnChanges(ctx, tx, c); err != nil {
		return 0, err
	}
	if len(again) == 0 {
		return n, nil
	}
	redo := make([]string, 0, len(again))
	for d := range again {
		redo = append(redo, d)
	}
	slices.Sort(redo)
	m, err := RefreshAgentStats(ctx, tx, sc, redo)
	return n + m, err
}

// agentRow is one agent_stats row as RemoveAgentContribution rewrites it.
type agentRow struct {
	ID      int64   `db:"id"`
	Agent   string  `db:"agent_id"`
	Day     string  `db:"day"`
	Handled int64   `db:"tickets_handled"`
	Firsts  int64   `db:"first_responses"`
	Avg     float64 `db:"avg_first_response_seconds"`
}

// rewriteAgentRows deletes the rows gone and writes the new figures of the
// rows kept, a bounded number of rows per statement.
func rewriteAgentRows(ctx context.Context, tx *Tx, sc StatsScope, kept []agentRow, gone []int64) (int64, error) {
	if len(gone) > 0 {
		cond, args := inListInt(tx.Dialect(), "id", gone)
		if _, err := tx.Exec(ctx, "DELETE FROM agent_stats WHERE "+cond, args...); err != nil {
			return 0, fmt.Errorf("take a subject's share out of agent_stats: %w", err)
		}
	}
	const batch = 200
	for i := 0; i < len(kept); i += batch {
		part := kept[i:min(i+batch, len(kept))]
		vals := make([]string, len(part))
		args := make([]any, 0, 4*len(part)+1)
		for j, r := range part {
			vals[j] = "(?, ?, ?, ?)"
			if tx.Dialect() == Postgres {
				vals[j] = "(?::bigint, ?::bigint, ?::bigint, ?::double precision)"
			}
			args = append(args, r.ID, r.Handled, r.Firsts, r.Avg)
		}
		args = append(args, sc.At)
		var q string
		if tx.Dialect() == Postgres {
			q = `UPDATE agent_stats SET tickets_handled = v.h, first_responses = v.f, avg_first_response_seconds = v.a, computed_at = ?
				FROM (VALUES ` + strings.Join(vals, ", ") + `) AS v(id, h, f, a) WHERE agent_stats.id = v.id`
			// The time comes first in the statement.
			args = append([]any{sc.At}, args[:len(args)-1]...)
		} else {
			q = `WITH v(id, h, f, a) AS (VALUES ` + strings.Join(vals, ", ") + `)
				UPDATE agent_stats SET tickets_handled = (SELECT h FROM v WHERE v.id = agent_stats.id),
					first_responses = (SELECT f FROM v WHERE v.id = agent_stats.id),
					avg_first_response_seconds = (SELECT a FROM v WHERE v.id = agent_stats.id), computed_at = ?
				WHERE id IN (SELECT id FROM v)`
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("take a subject's share out of agent_stats: %w", err)
		}
	}
	return int64(len(kept) + len(gone)), nil
}

// dropOwnChanges removes from the change log the entries this
// transaction logged about the subject of c once RemoveAgentContribution
// has made their share exact: the agent days of their messages (logged per
// deleted agent message) — those rows are exact now, subtracted,
// recomputed, or anonymised aggregates a refresh never recomputes — and,
// when the subject is left without a figure of their own (erased, or
// objecting), the entries naming them or their tickets (an objection, a
// ticket restricted or moved to a pseudonym, their figure deleted): the
// next refresh would recompute days and a figure that are already what it
// would compute (issue 11: after 200 erasures it recomputed most of the
// table; after 1,000, 624 rows in 5 s). Entries logged before the share was
// read, or by other transactions, stay: on PostgreSQL only rows this
// transaction inserted (xmin) go.
func dropOwnChanges(ctx context.Context, tx *Tx, c *AgentContribution) error {
	conds := []string{}
	var args []any
	if len(c.days) > 0 {
		cond, a := inList(tx.Dialect(), "key", c.days)
		conds = append(conds, "(kind = 'd' AND "+cond+")")
		args = append(args, a...)
	}
	var own int
	if err := tx.Get(ctx, &own, "SELECT COUNT(*) FROM subject_stats WHERE user_id = ?", c.userID); err != nil {
		return fmt.Errorf("statistics change log: %w", err)
	}
	if own == 0 {
		conds = append(conds, "(kind IN ('u', 's') AND key = ?)")
		args = append(args, c.userID)
		if len(c.tickets) > 0 {
			cond, a := inList(tx.Dialect(), "key", c.tickets)
			conds = append(conds, "(kind = 't' AND "+cond+")")
			args = append(args, a...)
		}
	}
	if len(conds) == 0 {
		return nil
	}
	q := "DELETE FROM stats_dirty WHERE id > ? AND (" + strings.Join(conds, " OR ") + ")"
	if tx.Dialect() == Postgres {
		q += " AND xmin::text = (pg_current_xact_id()::text::bigint % 4294967296)::text"
	}
	if _, err := tx.Exec(ctx, q, append([]any{c.mark}, args...)...); err != nil {
		return fmt.Errorf("statistics change log: %w", err)
	}
	return nil
}
