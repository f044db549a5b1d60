package store

import (
	"context"
	"fmt"
	"strings"
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
// each subject's average response time to agent messages: for every agent
// message, the time until the subject's next message in that ticket. Agent
// messages never answered are not counted; anonymised subjects get no row.
// It returns the number of rows written.
func RefreshSubjectStats(ctx context.Context, tx *Tx, sc StatsScope) (int64, error) {
	if _, err := tx.Exec(ctx, "DELETE FROM subject_stats"); err != nil {
		return 0, fmt.Errorf("clear subject_stats: %w", err)
	}
	res, err := tx.Exec(ctx, `INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at)
	WITH `+eligibleTickets+`,
	r AS (
		SELECT el.user_id, a.sent_at,
		       (SELECT MIN(u.sent_at) FROM messages u
		        WHERE u.ticket_id = a.ticket_id AND u.author = 'user' AND u.sent_at > a.sent_at) AS next_at
		FROM messages a JOIN el ON el.ticket_id = a.ticket_id
		WHERE a.author = 'agent')
	SELECT r.user_id, AVG(CAST(r.next_at - r.sent_at AS DOUBLE PRECISION) / 1000.0), COUNT(*), ?
	FROM r JOIN subjects s ON s.user_id = r.user_id
	WHERE r.next_at IS NOT NULL AND s.anonymized_at IS NULL
	GROUP BY r.user_id`, sc.ObjectionPurpose, sc.At)
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

// RefreshAgentStats recomputes, set-wise, the per-agent daily figures:
// tickets handled (tickets in which the agent wrote that day), first
// responses (tickets whose first agent message after the first user message
// the agent wrote that day) and their average delay in seconds. Rows already
// anonymised (agent_id NULL) are left untouched and their days are not
// recomputed. With days non-nil only those days are replaced (the days a
// subject contributed to); with days nil the whole table is. It returns the
// number of rows written.
func RefreshAgentStats(ctx context.Context, tx *Tx, sc StatsScope, days []string) (int64, error) {
	if days != nil && len(days) == 0 {
		return 0, nil
	}
	dayFilter, dayArgs := "", []any{}
	if days != nil {
		dayFilter = " AND day IN (" + Placeholders(len(days)) + ")"
		for _, d := range days {
			dayArgs = append(dayArgs, d)
		}
	}
	const anonDays = "SELECT day FROM agent_stats WHERE agent_id IS NULL"
	if _, err := tx.Exec(ctx, "DELETE FROM agent_stats WHERE agent_id IS NOT NULL AND day NOT IN ("+anonDays+")"+dayFilter, dayArgs...); err != nil {
		return 0, fmt.Errorf("clear agent_stats: %w", err)
	}
	day := func(col string) string { return dayExpr(tx.Dialect(), col) }
	q := `INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at)
	WITH ` + eligibleTickets + `,
	handled AS (
		SELECT m.agent_id, ` + day("m.sent_at") + ` AS day, COUNT(DISTINCT m.ticket_id) AS n
		FROM messages m JOIN el ON el.ticket_id = m.ticket_id
		WHERE m.author = 'agent' AND m.agent_id IS NOT NULL
		GROUP BY m.agent_id, ` + day("m.sent_at") + `),
	fu AS (
		SELECT el.ticket_id, (SELECT MIN(u.sent_at) FROM messages u WHERE u.ticket_id = el.ticket_id AND u.author = 'user') AS at
		FROM el),
	fa AS (
		SELECT fu.ticket_id, fu.at AS user_at,
		       (SELECT MIN(a.sent_at) FROM messages a WHERE a.ticket_id = fu.ticket_id AND a.author = 'agent'
		        AND a.agent_id IS NOT NULL AND a.sent_at >= fu.at) AS agent_at
		FROM fu WHERE fu.at IS NOT NULL),
	firsts AS (
		SELECT a.agent_id, ` + day("fa.agent_at") + ` AS day, COUNT(*) AS n,
		       AVG(CAST(fa.agent_at - fa.user_at AS DOUBLE PRECISION) / 1000.0) AS avg_s
		FROM fa JOIN messages a ON a.message_id = (
			SELECT MIN(m.message_id) FROM messages m WHERE m.ticket_id = fa.ticket_id AND m.author = 'agent'
			AND m.agent_id IS NOT NULL AND m.sent_at = fa.agent_at)
		WHERE fa.agent_at IS NOT NULL
		GROUP BY a.agent_id, ` + day("fa.agent_at") + `)
	SELECT h.agent_id, h.day, h.n, COALESCE(f.n, 0), COALESCE(f.avg_s, 0), ?
	FROM handled h LEFT JOIN firsts f ON f.agent_id = h.agent_id AND f.day = h.day
	WHERE h.day NOT IN (` + anonDays + `)` + strings.ReplaceAll(dayFilter, "day", "h.day")
	args := append([]any{sc.ObjectionPurpose, sc.At}, dayArgs...)
	res, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("compute agent_stats: %w", err)
	}
	return res.RowsAffected()
}
