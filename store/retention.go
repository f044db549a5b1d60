package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// This file holds the SQL of the retention purge: the run history, the
// candidate scans (keyset pagination by primary key, pre-filtered by the
// policies' cutoffs), the facts gathered set-wise for a batch, and the
// batched deletions and anonymisations. It decides nothing: package
// retention asks the policies and calls these.

// RetentionRun is one row of the retention run history.
type RetentionRun struct {
	RunID          string        `db:"run_id" json:"run_id"`
	At             int64         `db:"at" json:"at"`
	StartedAt      int64         `db:"started_at" json:"started_at"`
	FinishedAt     sql.NullInt64 `db:"finished_at" json:"-"`
	PolicyRevision string        `db:"policy_revision" json:"policy_revision"`
	Outcome        string        `db:"outcome" json:"outcome"`
	Counts         string        `db:"counts" json:"counts"`
	Progress       string        `db:"progress" json:"progress"`
}

const runCols = "run_id, at, started_at, finished_at, policy_revision, outcome, counts, progress"

// StartRetentionRun records a new run as 'running', inside tx. Runs left
// 'running' by a process that died are marked 'interrupted' first, each
// with its audit entry (InterruptDeadRuns): the caller holds the retention
// lock, so no other run is alive.
func StartRetentionRun(ctx context.Context, tx *Tx, r RetentionRun) (interrupted int64, err error) {
	n, err := InterruptDeadRuns(ctx, tx, time.UnixMilli(r.StartedAt))
	if err != nil {
		return 0, err
	}
	if r.Counts == "" {
		r.Counts = "{}"
	}
	if r.Progress == "" {
		r.Progress = "{}"
	}
	_, err = tx.Exec(ctx, "INSERT INTO retention_runs ("+runCols+") VALUES (?, ?, ?, NULL, ?, 'running', ?, ?)",
		r.RunID, r.At, r.StartedAt, r.PolicyRevision, r.Counts, r.Progress)
	if err != nil {
		return 0, fmt.Errorf("record retention run: %w", err)
	}
	return n, nil
}

// InterruptDeadRuns marks every run recorded as running as interrupted,
// inside tx, and appends for each the audit entry its process could not
// write (retention.run, outcome interrupted) with what it committed: the
// counts each batch's transaction kept up to date. Call it only while
// holding the retention lock: then no run is live, and a run recorded as
// running died (SIGKILL, a lost connection, a server restart) before it
// could record its end. Adversarial pass 8 F6: the deletions of a killed
// run were in no audit entry.
func InterruptDeadRuns(ctx context.Context, tx *Tx, now time.Time) (int64, error) {
	var dead []RetentionRun
	q := "SELECT " + runCols + " FROM retention_runs WHERE outcome = 'running' ORDER BY started_at, run_id"
	if tx.Dialect() == Postgres {
		q += " FOR UPDATE"
	}
	if err := tx.Select(ctx, &dead, q); err != nil {
		return 0, fmt.Errorf("dead retention runs: %w", err)
	}
	for _, r := range dead {
		if _, err := tx.Exec(ctx, "UPDATE retention_runs SET outcome = 'interrupted' WHERE run_id = ? AND outcome = 'running'", r.RunID); err != nil {
			return 0, fmt.Errorf("mark interrupted runs: %w", err)
		}
		detail := map[string]any{"run_id": r.RunID, "at": FromMillis(r.At).Format(time.RFC3339Nano),
			"started_at": FromMillis(r.StartedAt).Format(time.RFC3339Nano), "policy_revision": r.PolicyRevision,
			"committed": "what its committed batches did, as recorded with each batch"}
		var counts map[string]any
		if json.Unmarshal([]byte(r.Counts), &counts) == nil {
			for k, v := range counts {
				if _, taken := detail[k]; !taken {
					detail[k] = v
				}
			}
		}
		if _, err := AppendAudit(ctx, tx, AuditRecord{At: now, Actor: "retention", Action: "retention.run", Outcome: "interrupted", Detail: detail}); err != nil {
			return 0, err
		}
	}
	return int64(len(dead)), nil
}

// UpdateRetentionRun stores a running run's counts and progress; called in
// each batch's transaction so the counts always match what was committed.
// A run no longer recorded as running (another run, which could take the
// lock only because this one lost it, marked it interrupted) gets an error
// wrapping ErrLockLost: its batch must not commit.
func UpdateRetentionRun(ctx context.Context, q Querier, runID, counts, progress string) error {
	res, err := q.Exec(ctx, "UPDATE retention_runs SET counts = ?, progress = ? WHERE run_id = ? AND outcome = 'running'", counts, progress, runID)
	if err != nil {
		return fmt.Errorf("update retention run: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("retention run %s is no longer recorded as running (another run marked it interrupted): %w", runID, ErrLockLost)
	}
	return nil
}

// FinishRetentionRun records a run's outcome and end time.
func FinishRetentionRun(ctx context.Context, q Querier, runID, outcome, counts string, finished int64) error {
	_, err := q.Exec(ctx, "UPDATE retention_runs SET outcome = ?, counts = ?, finished_at = ? WHERE run_id = ?", outcome, counts, finished, runID)
	if err != nil {
		return fmt.Errorf("finish retention run: %w", err)
	}
	return nil
}

// ListRetentionRuns returns the latest runs, newest first.
func ListRetentionRuns(ctx context.Context, q Querier, limit int) ([]RetentionRun, error) {
	var rs []RetentionRun
	err := q.Select(ctx, &rs, "SELECT "+runCols+" FROM retention_runs ORDER BY started_at DESC, run_id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list retention runs: %w", err)
	}
	return rs, nil
}

// Cutoff is a conservative SQL pre-filter on a category's candidates:
// records whose Column (a policy attribute name) is >= Before are skipped;
// NULL values are candidates only when NullIsCandidate. The zero Cutoff
// (Column "") selects every record.
type Cutoff struct {
	Column          string
	Before          int64
	NullIsCandidate bool
}

// cutoffColumns maps, per category, the policy attribute names that may
// carry a cutoff to the SQL expression holding them in that category's scan.
var cutoffColumns = map[string]map[string]string{
	"tickets":        {"closed_at": "t.closed_at", "created_at": "t.created_at"},
	"attachments":    {"ticket_closed_at": "a.ticket_closed_at", "uploaded_at": "a.uploaded_at"},
	"subjects":       {"account_closed_at": "s.account_closed_at", "account_created_at": "s.account_created_at"},
	"account_events": {"at": "e.at"},
	"subject_stats":  {"computed_at": "ss.computed_at"},
	"agent_stats":    {"day_start": "ag.day"},
	"dsr_requests":   {"closed_at": "r.closed_at", "received_at": "r.received_at"},
	"legal_holds":    {"released_at": "h.released_at", "created_at": "h.created_at", "until": "h.until"},
	"audit_log":      {"at": "l.at"},
}

// CutoffSupported reports whether the scan of category can pre-filter on
// the attribute column. When it cannot, callers scan every record.
func CutoffSupported(category, column string) bool {
	_, ok := cutoffColumns[category][column]
	return ok
}

// cutoffSQL returns the WHERE fragment (with a leading " AND ") and its args.
func cutoffSQL(category string, c Cutoff) (string, []any, error) {
	if c.Column == "" {
		return "", nil, nil
	}
	col, ok := cutoffColumns[category][c.Column]
	if !ok {
		return "", nil, fmt.Errorf("%s: no SQL column for cutoff attribute %q: %w", category, c.Column, ErrInvalid)
	}
	var cond string
	var arg any = c.Before
	if category == "agent_stats" {
		// day is 'YYYY-MM-DD'; its start (00:00 UTC) is < Before exactly
		// when the day is on or before the day holding Before-1ms.
		cond = col + " <= ?"
		arg = FromMillis(c.Before - 1).Format("2006-01-02")
	} else {
		cond = col + " < ?"
	}
	if c.NullIsCandidate {
		cond = "(" + cond + " OR " + col + " IS NULL)"
	}
	return " AND " + cond, []any{arg}, nil
}

// inList returns "expr IN (?, …)" on SQLite and "expr = ANY(?)" on
// PostgreSQL (one array parameter), with its arguments.
func inList(d Dialect, expr string, ids []string) (string, []any) {
	if len(ids) == 0 {
		return "1 = 0", nil
	}
	if d == Postgres {
		return expr + " = ANY(?)", []any{pq.StringArray(ids)}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return expr + " IN (" + Placeholders(len(ids)) + ")", args
}

func inListInt(d Dialect, expr string, ids []int64) (string, []any) {
	if len(ids) == 0 {
		return "1 = 0", nil
	}
	if d == Postgres {
		return expr + " = ANY(?)", []any{pq.Int64Array(ids)}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return expr + " IN (" + Placeholders(len(ids)) + ")", args
}

// ScanOptions bound one page of a candidate scan.
type ScanOptions struct {
	Cutoff Cutoff
	After  string // keyset: primary keys > After ("" from the start)
	Limit  int
	// Lock takes row locks on PostgreSQL (FOR UPDATE) so that a legal hold
	// added concurrently waits for the batch, or the batch for it.
	Lock bool
	// Settled, when set, skips the records settled under this memo key
	// whose recheck time is after At (the categories of settledTables).
	Settled *SettledKey
	// Few says the category's candidates are few (the safety valve's
	// bound, counted through the cutoff's index): the page reads them
	// through that index first and only then orders them, instead of
	// walking the primary key's order and filtering on the cutoff — which
	// read a million tickets to find the 4,000 a night keeps past their
	// period (disputes) on a 3 M-ticket store.
	Few bool
}

// FewCandidates is the largest candidate count for which a scan reads its
// candidates through the cutoff's index first (ScanOptions.Few).
const FewCandidates = 50_000

// SettledKey selects the settled records a scan may skip: those settled
// under policy revision key Revision whose recheck time is after At.
type SettledKey struct {
	Revision int64
	At       int64
}

// AfterInt parses After for the categories keyed by integers.
func (o ScanOptions) AfterInt() int64 {
	n, _ := strconv.ParseInt(o.After, 10, 64)
	return n
}

func (o ScanOptions) lockSQL(q Querier) string {
	if o.Lock && q.Dialect() == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func scan[T any](ctx context.Context, q Querier, category, sel, key string, o ScanOptions, after any) ([]T, error) {
	cond, args, err := cutoffSQL(category, o.Cutoff)
	if err != nil {
		return nil, err
	}
	query := sel + " WHERE " + key + " > ?" + cond + " ORDER BY " + key + " LIMIT ?" + o.lockSQL(q)
	args = append(append([]any{after}, args...), o.Limit)
	switch {
	case o.Settled != nil && settledTables[category].arms:
		// As ScanSubjects: the records to decide first, through the memo's
		// partial indexes (unsettledKeys), then ordered and cut.
		uq, uargs := unsettledKeys(category, cond, args[1:len(args)-1], o.Settled)
		query = "WITH c0 AS MATERIALIZED (SELECT u.k FROM (" + uq + ") u WHERE u.k > ?)," +
			" c AS MATERIALIZED (SELECT k FROM c0 ORDER BY k LIMIT ?) " +
			sel + " WHERE " + key + " IN (SELECT k FROM c) ORDER BY " + key + o.lockSQL(q)
		args = append(append(uargs, after), o.Limit)
	case o.Settled != nil:
		// The records not settled first, through the index of the cutoff
		// and the memo, then ordered.
		alias := key[:strings.Index(key, ".")]
		from := sel[strings.Index(sel, " FROM "):]
		query = "WITH c0 AS MATERIALIZED (SELECT " + key + " AS k" + from + " WHERE " + key + " > ?" + cond +
			" AND (" + alias + ".retention_settled IS NULL OR " + alias + ".retention_settled <> ? OR " + alias + ".retention_recheck_at <= ?))," +
			" c AS MATERIALIZED (SELECT k FROM c0 ORDER BY k LIMIT ?) " +
			sel + " WHERE " + key + " IN (SELECT k FROM c) ORDER BY " + key + o.lockSQL(q)
		args = append(append(args[:len(args)-1:len(args)-1], o.Settled.Revision, o.Settled.At), o.Limit)
	case o.Few && cond != "":
		// Few candidates: through the cutoff's index, then ordered and
		// cut, inside the CTE (see ScanSubjects).
		from := sel[strings.Index(sel, " FROM "):]
		query = "WITH c0 AS MATERIALIZED (SELECT " + key + " AS k" + from + " WHERE " + key + " > ?" + cond + ")," +
			" c AS MATERIALIZED (SELECT k FROM c0 ORDER BY k LIMIT ?) " +
			sel + " WHERE " + key + " IN (SELECT k FROM c) ORDER BY " + key + o.lockSQL(q)
	}
	var out []T
	// A page is small: never worth a parallel plan (readSerial).
	if err := readSerial(ctx, q, func(q Querier) error { return q.Select(ctx, &out, query, args...) }); err != nil {
		return nil, fmt.Errorf("scan %s: %w", category, err)
	}
	return out, nil
}

// TicketFacts is a ticket as the retention policy sees it.
type TicketFacts struct {
	ID            string         `db:"ticket_id"`
	UserID        sql.NullString `db:"user_id"`
	Status        string         `db:"status"`
	DisputeStatus string         `db:"dispute_status"`
	CreatedAt     int64          `db:"created_at"`
	ClosedAt      sql.NullInt64  `db:"closed_at"`
}

const ticketFactsSel = "SELECT t.ticket_id, t.user_id, t.status, t.dispute_status, t.created_at, t.closed_at FROM tickets t"

// ScanTickets returns one page of candidate tickets.
func ScanTickets(ctx context.Context, q Querier, o ScanOptions) ([]TicketFacts, error) {
	return scan[TicketFacts](ctx, q, "tickets", ticketFactsSel, "t.ticket_id", o, o.After)
}

// AttachmentFacts is an attachment as the retention policy sees it, with
// its ticket's state.
type AttachmentFacts struct {
	ID             string         `db:"attachment_id"`
	TicketID       string         `db:"ticket_id"`
	UserID         sql.NullString `db:"user_id"`
	UploadedAt     int64          `db:"uploaded_at"`
	TicketStatus   string         `db:"ticket_status"`
	TicketClosedAt sql.NullInt64  `db:"ticket_closed_at"`
	DisputeStatus  string         `db:"dispute_status"`
}

const attachmentFactsSel = `SELECT a.attachment_id, a.ticket_id, t.user_id, a.uploaded_at, t.status AS ticket_status,
	t.closed_at AS ticket_closed_at, t.dispute_status FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id`

// ScanAttachments returns one page of candidate attachments.
func ScanAttachments(ctx context.Context, q Querier, o ScanOptions) ([]AttachmentFacts, error) {
	return scan[AttachmentFacts](ctx, q, "attachments", attachmentFactsSel, "a.attachment_id", o, o.After)
}

// AttachmentsOfTickets returns the attachments of the given tickets, with
// the same facts as ScanAttachments.
func AttachmentsOfTickets(ctx context.Context, q Querier, ticketIDs []string) ([]AttachmentFacts, error) {
	cond, args := inList(q.Dialect(), "a.ticket_id", ticketIDs)
	var out []AttachmentFacts
	if err := q.Select(ctx, &out, attachmentFactsSel+" WHERE "+cond+" ORDER BY a.attachment_id", args...); err != nil {
		return nil, fmt.Errorf("attachments of tickets: %w", err)
	}
	return out, nil
}

// SubjectFacts is a subject as the retention policy sees it: its account
// dates and aggregates over what it has now.
type SubjectFacts struct {
	ID                   string        `db:"user_id"`
	AccountCreatedAt     sql.NullInt64 `db:"account_created_at"`
	AccountClosedAt      sql.NullInt64 `db:"account_closed_at"`
	AnonymizedAt         sql.NullInt64 `db:"anonymized_at"`
	Tickets              int64         `db:"tickets"`
	OpenTickets          int64         `db:"open_tickets"`
	LatestTicketClosedAt sql.NullInt64 `db:"latest_ticket_closed_at"`
	LatestEventAt        sql.NullInt64 `db:"latest_event_at"`
	DisputesOpen         int64         `db:"disputes_open"`
}

// subjectAggregates computes a page's aggregates over the rows picked by
// the inner keyset query (so only for that page, not for every candidate
// fed to the sort), in one pass over each subject's tickets.
const subjectAggregates = `SELECT s.user_id, s.account_created_at, s.account_closed_at, s.anonymized_at,
	COUNT(t.ticket_id) AS tickets,
	COUNT(CASE WHEN t.status = 'open' THEN 1 END) AS open_tickets,
	MAX(t.closed_at) AS latest_ticket_closed_at,
	(SELECT MAX(e.at) FROM account_events e WHERE e.user_id = s.user_id) AS latest_event_at,
	COUNT(CASE WHEN t.dispute_status = 'open' THEN 1 END) AS disputes_open
	FROM (`

// subjectAggregatesEnd closes subjectAggregates.
const subjectAggregatesEnd = `) s LEFT JOIN tickets t ON t.user_id = s.user_id
	GROUP BY s.user_id, s.account_created_at, s.account_closed_at, s.anonymized_at ORDER BY s.user_id`

// ScanSubjects returns one page of candidate subjects with their aggregates.
func ScanSubjects(ctx context.Context, q Querier, o ScanOptions) ([]SubjectFacts, error) {
	cond, args, err := cutoffSQL("subjects", o.Cutoff)
	if err != nil {
		return nil, err
	}
	var out []SubjectFacts
	var query string
	if o.Settled == nil {
		inner := "SELECT s.user_id, s.account_created_at, s.account_closed_at, s.anonymized_at FROM subjects s WHERE s.user_id > ?" + cond +
			" ORDER BY s.user_id LIMIT ?" + o.lockSQL(q)
		query = subjectAggregates + inner + subjectAggregatesEnd
		args = append(append([]any{o.After}, args...), o.Limit)
	} else {
		// The candidates not settled are read first, through the partial
		// indexes of the memo (unsettledKeys), and only then ordered
		// and locked: the primary key's order would walk every subject to
		// find the few a night has to decide.
		// The page's keys are ordered and cut inside the CTE: the planner
		// cannot know how few they are, and joined the whole candidate
		// estimate along the primary key (every subject) otherwise.
		uq, uargs := unsettledKeys("subjects", cond, args, o.Settled)
		args = append(append(uargs, o.After), o.Limit)
		inner := "SELECT s.user_id, s.account_created_at, s.account_closed_at, s.anonymized_at FROM subjects s WHERE s.user_id IN (SELECT k FROM c)" +
			" ORDER BY s.user_id" + o.lockSQL(q)
		query = "WITH c0 AS MATERIALIZED (SELECT u.k FROM (" + uq + ") u WHERE u.k > ?)," +
			" c AS MATERIALIZED (SELECT k FROM c0 ORDER BY k LIMIT ?) " +
			subjectAggregates + inner + subjectAggregatesEnd
	}
	if err := readSerial(ctx, q, func(q Querier) error { return q.Select(ctx, &out, query, args...) }); err != nil {
		return nil, fmt.Errorf("scan subjects: %w", err)
	}
	return out, nil
}

// unsettledKeys is a query of the keys (column k) of the records of a
// settled category (settledTables) a run must decide: past the cutoff
// (cond, " AND …" on the category's alias, with its arguments) and not
// settled under k — never settled, settled under another policy revision,
// or due for a recheck. One arm per case, joined by UNION ALL, so that each
// reads a partial index (migrations 00210, 00220) over only the rows it
// returns: the cost follows the records to decide, not the records the
// store keeps past their period.
func unsettledKeys(category, cond string, condArgs []any, k *SettledKey) (string, []any) {
	t := settledTables[category]
	a := t.alias
	arms := []struct {
		where string
		args  []any
	}{
		{a + ".retention_settled IS NULL", nil},
		{a + ".retention_settled < ?", []any{k.Revision}},
		{a + ".retention_settled > ?", []any{k.Revision}},
		{a + ".retention_settled = ? AND " + a + ".retention_recheck_at <= ?", []any{k.Revision, k.At}},
	}
	parts := make([]string, len(arms))
	var args []any
	for i, arm := range arms {
		parts[i] = "SELECT " + a + "." + t.key + " AS k FROM " + t.table + " " + a + " WHERE " + arm.where + cond
		args = append(append(args, arm.args...), condArgs...)
	}
	return strings.Join(parts, " UNION ALL "), args
}

// SettledRecord is a record a scan skips as settled, with what keeps it.
type SettledRecord struct {
	ID   string `db:"id"`
	Rule string `db:"rule"`
	Held bool   `db:"held"`
}

// settledWhere is the condition on alias a of the records a scan with
// cutoff cond and ScanOptions.Settled k skips: past the cutoff, settled
// under k's revision, with a recheck time after k.At.
func settledWhere(a, cond string) string {
	return a + ".retention_settled = ? AND " + a + ".retention_recheck_at > ?" + cond
}

// SettledSkipped returns those of ids (records of a settled category) that
// a scan with cutoff c and ScanOptions.Settled k skips because they are
// settled, in key order.
func SettledSkipped(ctx context.Context, q Querier, category string, ids []string, c Cutoff, k SettledKey) ([]SettledRecord, error) {
	t, ok := settledTables[category]
	if !ok || !t.arms {
		return nil, fmt.Errorf("settled %s: %w", category, ErrInvalid)
	}
	cond, cargs, err := cutoffSQL(category, c)
	if err != nil {
		return nil, err
	}
	var out []SettledRecord
	for len(ids) > 0 {
		part := ids[:min(1000, len(ids))]
		ids = ids[len(part):]
		in, iargs := inList(q.Dialect(), t.alias+"."+t.key, part)
		args := append(append(iargs, k.Revision, k.At), cargs...)
		var got []SettledRecord
		if err := q.Select(ctx, &got, "SELECT "+t.alias+"."+t.key+" AS id, COALESCE("+t.alias+".retention_settled_rule, '') AS rule,"+
			" COALESCE("+t.alias+".retention_settled_held, "+sqlFalse(q.Dialect())+") AS held FROM "+t.table+" "+t.alias+
			" WHERE "+in+" AND "+settledWhere(t.alias, cond)+" ORDER BY 1", args...); err != nil {
			return nil, fmt.Errorf("settled %s: %w", category, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// SettledCount is how many records a scan skips as settled under one rule.
type SettledCount struct {
	Rule string `db:"rule"`
	Held bool   `db:"held"`
	N    int64  `db:"n"`
}

// SettledCounts counts, per rule, the records of a settled category kept
// by a hold (an open dispute) that a scan with cutoff c and
// ScanOptions.Settled k skips: what a run reports as kept by hold without
// deciding it again. It reads a partial index of those records only
// (migration 00220): counting every settled record (64,000 subjects at
// 3 M) cost 100-270 ms a night for rule counts that `--full` gives.
func SettledCounts(ctx context.Context, q Querier, category string, c Cutoff, k SettledKey) ([]SettledCount, error) {
	t, ok := settledTables[category]
	if !ok {
		return nil, fmt.Errorf("settled %s: %w", category, ErrInvalid)
	}
	cond, cargs, err := cutoffSQL(category, c)
	if err != nil {
		return nil, err
	}
	var out []SettledCount
	err = readSerial(ctx, q, func(q Querier) error {
		return q.Select(ctx, &out, "SELECT COALESCE("+t.alias+".retention_settled_rule, '') AS rule, COALESCE("+t.alias+".retention_settled_held, "+
			sqlFalse(q.Dialect())+") AS held, COUNT(*) AS n FROM "+t.table+" "+t.alias+" WHERE "+settledWhere(t.alias, cond)+
			" AND "+t.alias+".retention_settled IS NOT NULL AND "+t.alias+".retention_settled_held GROUP BY 1, 2 ORDER BY 1, 2",
			append([]any{k.Revision, k.At}, cargs...)...)
	})
	if err != nil {
		return nil, fmt.Errorf("settled %s: %w", category, err)
	}
	return out, nil
}

// sqlFalse is the dialect's false literal.
func sqlFalse(d Dialect) string {
	if d == Postgres {
		return "FALSE"
	}
	return "0"
}

// SubjectFactsOf re-reads the facts of the given subjects (as ScanSubjects
// computes them), in a statement of its own: inside a purge batch's
// transaction, what concurrent writers committed since the scan counts.
func SubjectFactsOf(ctx context.Context, q Querier, ids []string) ([]SubjectFacts, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	c, args := inList(q.Dialect(), "s.user_id", ids)
	inner := "SELECT s.user_id, s.account_created_at, s.account_closed_at, s.anonymized_at FROM subjects s WHERE " + c
	var out []SubjectFacts
	if err := q.Select(ctx, &out, subjectAggregates+inner+subjectAggregatesEnd, args...); err != nil {
		return nil, fmt.Errorf("subject facts: %w", err)
	}
	return out, nil
}

// Settlement settles one record: the policies' decision on it stays the
// same, whatever the time, until RecheckAt or until what it rests on
// changes. ID is the record's key (an agent_stats id in decimal).
type Settlement struct {
	ID        string
	RecheckAt int64
	// Rule is the policies' rule that keeps the record, Held whether it
	// counts as kept by a hold: a run reports what it skips under them.
	Rule string
	Held bool
}

// settledTable describes a category whose records can be settled.
type settledTable struct {
	table, alias, key, keyType string
	// arms: the memo has the partial indexes unsettledKeys reads.
	arms bool
}

// settledTables names, per category that can be settled, its table, the
// alias its scan gives it, its key and the key's SQL type.
var settledTables = map[string]settledTable{
	"subjects":    {"subjects", "s", "user_id", "text", true},
	"tickets":     {"tickets", "t", "ticket_id", "text", true},
	"attachments": {"attachments", "a", "attachment_id", "text", true},
	"agent_stats": {"agent_stats", "ag", "id", "bigint", false},
}

// Settle records, inside tx, that records of a category (subjects,
// tickets, attachments, agent_stats) are settled under the policy revision
// key rev: a scan with ScanOptions.Settled skips them until their recheck
// time. The triggers of migrations 00170, 00171 and 00220 clear the memo
// whenever what the decision rests on changes (for a subject: their account
// dates or anonymisation, tickets, account events or legal holds; for a
// ticket: its user, status, dispute, dates or the legal holds on it or its
// subject; for an attachment: the same of its ticket, and its upload; for
// an agent day: its day, agent or anonymisation).
func Settle(ctx context.Context, tx *Tx, category string, rev int64, ss []Settlement) (int64, error) {
	st, ok := settledTables[category]
	if !ok {
		return 0, fmt.Errorf("settle %s: %w", category, ErrInvalid)
	}
	t := [3]string{st.table, st.key, st.keyType}
	const chunk = 500
	var total int64
	for len(ss) > 0 {
		part := ss[:min(chunk, len(ss))]
		ss = ss[len(part):]
		var res sql.Result
		var err error
		if tx.dialect == Postgres {
			ids := make([]string, len(part))
			at := make([]int64, len(part))
			rules := make([]string, len(part))
			held := make([]bool, len(part))
			for i, s := range part {
				ids[i], at[i], rules[i], held[i] = s.ID, s.RecheckAt, s.Rule, s.Held
			}
			res, err = tx.Exec(ctx, "UPDATE "+t[0]+" SET retention_settled = ?, retention_recheck_at = v.recheck_at, "+
				"retention_settled_rule = v.rule, retention_settled_held = v.held "+
				"FROM unnest(?::text[], ?::bigint[], ?::text[], ?::boolean[]) AS v(id, recheck_at, rule, held) WHERE "+t[0]+"."+t[1]+" = v.id::"+t[2],
				rev, pq.StringArray(ids), pq.Int64Array(at), pq.StringArray(rules), pq.BoolArray(held))
		} else {
			args := make([]any, 0, 1+4*len(part))
			for _, s := range part {
				args = append(args, s.ID, s.RecheckAt, s.Rule, s.Held)
			}
			key := "v.id"
			if t[2] == "bigint" {
				key = "CAST(v.id AS INTEGER)"
			}
			res, err = tx.Exec(ctx, "WITH v (id, recheck_at, rule, held) AS (VALUES "+strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(part)), ", ")+
				") UPDATE "+t[0]+" SET retention_settled = ?, retention_recheck_at = v.recheck_at, retention_settled_rule = v.rule, retention_settled_held = v.held"+
				" FROM v WHERE "+t[0]+"."+t[1]+" = "+key,
				append(args, rev)...)
		}
		n, err := rowsAffected(res, err)
		if err != nil {
			return total, fmt.Errorf("settle %s: %w", category, err)
		}
		total += n
	}
	return total, nil
}

// EventFacts is an account event as the retention policy sees it.
type EventFacts struct {
	ID     string `db:"event_id"`
	UserID string `db:"user_id"`
	Type   string `db:"type"`
	At     int64  `db:"at"`
}

const eventFactsSel = "SELECT e.event_id, e.user_id, e.type, e.at FROM account_events e"

// ScanAccountEvents returns one page of candidate account events.
func ScanAccountEvents(ctx context.Context, q Querier, o ScanOptions) ([]EventFacts, error) {
	return scan[EventFacts](ctx, q, "account_events", eventFactsSel, "e.event_id", o, o.After)
}

// SubjectStatFacts is a per-subject statistic as the policy sees it.
type SubjectStatFacts struct {
	ID         string `db:"user_id"`
	ComputedAt int64  `db:"computed_at"`
}

const subjectStatSel = "SELECT ss.user_id, ss.computed_at FROM subject_stats ss"

// ScanSubjectStats returns one page of candidate per-subject statistics.
func ScanSubjectStats(ctx context.Context, q Querier, o ScanOptions) ([]SubjectStatFacts, error) {
	return scan[SubjectStatFacts](ctx, q, "subject_stats", subjectStatSel, "ss.user_id", o, o.After)
}

// SubjectStatsOf returns the statistics rows of the given subjects.
func SubjectStatsOf(ctx context.Context, q Querier, userIDs []string) ([]SubjectStatFacts, error) {
	cond, args := inList(q.Dialect(), "ss.user_id", userIDs)
	var out []SubjectStatFacts
	if err := q.Select(ctx, &out, subjectStatSel+" WHERE "+cond+" ORDER BY ss.user_id", args...); err != nil {
		return nil, fmt.Errorf("subject stats of subjects: %w", err)
	}
	return out, nil
}

// AgentStatFacts is a per-agent daily statistic as the policy sees it.
type AgentStatFacts struct {
	ID         int64  `db:"id"`
	Day        string `db:"day"`
	Anonymized bool   `db:"anonymized"`
}

// DayStart returns the Unix milliseconds of the row's day at 00:00 UTC.
func (a AgentStatFacts) DayStart() (int64, error) {
	d, err := time.Parse("2006-01-02", a.Day)
	if err != nil {
		return 0, fmt.Errorf("agent_stats row %d: bad day %q: %w", a.ID, a.Day, ErrInvalid)
	}
	return Millis(d), nil
}

// ScanAgentStats returns one page of candidate per-agent statistics; After
// is a decimal id.
func ScanAgentStats(ctx context.Context, q Querier, o ScanOptions) ([]AgentStatFacts, error) {
	return scan[AgentStatFacts](ctx, q, "agent_stats",
		"SELECT ag.id, ag.day, (ag.anonymized_at IS NOT NULL) AS anonymized FROM agent_stats ag", "ag.id", o, o.AfterInt())
}

// DSRFacts is a data-subject request record as the policy sees it.
type DSRFacts struct {
	ID         string        `db:"request_id"`
	Status     string        `db:"status"`
	ReceivedAt int64         `db:"received_at"`
	ClosedAt   sql.NullInt64 `db:"closed_at"`
}

// ScanDSRRequests returns one page of candidate request records.
func ScanDSRRequests(ctx context.Context, q Querier, o ScanOptions) ([]DSRFacts, error) {
	return scan[DSRFacts](ctx, q, "dsr_requests", "SELECT r.request_id, r.status, r.received_at, r.closed_at FROM dsr_requests r", "r.request_id", o, o.After)
}

// HoldFacts is a legal hold record as the policy sees it.
type HoldFacts struct {
	ID         string        `db:"hold_id"`
	CreatedAt  int64         `db:"created_at"`
	Until      sql.NullInt64 `db:"until"`
	ReleasedAt sql.NullInt64 `db:"released_at"`
}

// ScanLegalHolds returns one page of candidate hold records.
func ScanLegalHolds(ctx context.Context, q Querier, o ScanOptions) ([]HoldFacts, error) {
	return scan[HoldFacts](ctx, q, "legal_holds", "SELECT h.hold_id, h.created_at, h.until, h.released_at FROM legal_holds h", "h.hold_id", o, o.After)
}

// AuditFacts is an audit entry as the policy sees it.
type AuditFacts struct {
	Seq int64 `db:"seq"`
	At  int64 `db:"at"`
}

// ScanAudit returns one page of the audit trail in sequence order, up to
// and including maxSeq. It takes no cutoff: only a prefix may be pruned.
func ScanAudit(ctx context.Context, q Querier, after, maxSeq int64, limit int) ([]AuditFacts, error) {
	var out []AuditFacts
	err := q.Select(ctx, &out, "SELECT seq, at FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", after, maxSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("scan audit_log: %w", err)
	}
	return out, nil
}

// MaxAuditSeq returns the last sequence number of the audit trail (0 when empty).
func MaxAuditSeq(ctx context.Context, q Querier) (int64, error) {
	var n sql.NullInt64
	if err := q.Get(ctx, &n, "SELECT MAX(seq) FROM audit_log"); err != nil {
		return 0, fmt.Errorf("audit tail: %w", err)
	}
	return n.Int64, nil
}

// HoldIndex tells which records of a batch are under an active legal hold,
// with the hold's reason.
type HoldIndex struct {
	Tickets map[string]string // ticket id → reason (holds on the ticket itself)
	Users   map[string]string // user id → reason (holds on the subject)
	// HeldTickets: user id → how many of the subject's tickets are under a
	// hold of their own (filled with viaTickets).
	HeldTickets map[string]int64
}

// ActiveHolds returns, in one query, the holds active at `at` on the given
// tickets and subjects; with viaTickets, also the holds on any ticket of the
// given subjects.
func ActiveHolds(ctx context.Context, q Querier, at int64, ticketIDs, userIDs []string, viaTickets bool) (HoldIndex, error) {
	return holdIndex(ctx, q, HoldActiveCond, at, ticketIDs, userIDs, viaTickets)
}

// InForceHolds is ActiveHolds by HoldInForceCond: the holds a retention run
// evaluated at `at` must respect, including those committed after `at`.
func InForceHolds(ctx context.Context, q Querier, at int64, ticketIDs, userIDs []string, viaTickets bool) (HoldIndex, error) {
	return holdIndex(ctx, q, HoldInForceCond, at, ticketIDs, userIDs, viaTickets)
}

func holdIndex(ctx context.Context, q Querier, cond string, at int64, ticketIDs, userIDs []string, viaTickets bool) (HoldIndex, error) {
	ix := HoldIndex{Tickets: map[string]string{}, Users: map[string]string{}, HeldTickets: map[string]int64{}}
	if len(ticketIDs) == 0 && len(userIDs) == 0 {
		return ix, nil
	}
	d := q.Dialect()
	act := []any{at, at, at}
	c1, a1 := inList(d, "h.ticket_id", ticketIDs)
	c2, a2 := inList(d, "h.user_id", userIDs)
	query := "SELECT 't' AS kind, h.ticket_id AS id, h.reason FROM legal_holds h WHERE " + c1 + " AND " + cond +
		" UNION ALL SELECT 'u', h.user_id, h.reason FROM legal_holds h WHERE " + c2 + " AND " + cond
	args := append(append(append(a1, act...), a2...), act...)
	if viaTickets {
		c3, a3 := inList(d, "t.user_id", userIDs)
		query += " UNION ALL SELECT DISTINCT 'ut', t.user_id, t.ticket_id FROM legal_holds h JOIN tickets t ON t.ticket_id = h.ticket_id WHERE " + c3 + " AND " + cond
		args = append(append(args, a3...), act...)
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return ix, fmt.Errorf("active holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, id, reason string
		if err := rows.Scan(&kind, &id, &reason); err != nil {
			return ix, fmt.Errorf("active holds: %w", err)
		}
		if kind == "ut" { // reason holds the ticket id; rows are distinct
			ix.HeldTickets[id]++
			continue
		}
		m := map[string]map[string]string{"t": ix.Tickets, "u": ix.Users}[kind]
		if _, dup := m[id]; !dup {
			m[id] = reason
		}
	}
	return ix, rows.Err()
}

// holdsLock names the transaction-level advisory lock that orders purge
// batches and new legal holds on PostgreSQL (see LockPurgeBatch).
const holdsLock = "holds"

// LockPurgeBatch makes a purge batch's transaction exclusive with AddHold
// on PostgreSQL: it takes the shared side of a transaction-level advisory
// lock whose exclusive side AddHold takes. A hold committed before the lock
// is granted is visible to every later statement of the batch (READ
// COMMITTED takes a snapshot per statement), and a hold added after it
// waits for the batch to commit (and then finds its record gone). Batches
// do not exclude each other. One statement per batch, instead of a row lock
// on every subject the batch touches. No-op on SQLite, where the batch's
// IMMEDIATE transaction already excludes every other writer.
func LockPurgeBatch(ctx context.Context, tx *Tx) error {
	if tx.dialect != Postgres {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared(?)", lockKey(holdsLock)); err != nil {
		return fmt.Errorf("lock purge batch: %w", err)
	}
	return nil
}

// holdLockPatience is how long a new hold polls for a gap between purge
// batches before it queues for the lock (see lockForHold).
const holdLockPatience = 5 * time.Second

// lockForHold is AddHold's side of LockPurgeBatch. A queued exclusive
// request makes every later shared request wait behind it in PostgreSQL's
// lock manager: a hold queued behind a slow batch would stall the run's
// next batches too. So the hold first polls for a gap between batches
// (pg_try_advisory_xact_lock), and only queues after holdLockPatience, so
// that it is never starved by batches that overlap (--workers > 1).
func lockForHold(ctx context.Context, tx *Tx) error {
	if tx.dialect != Postgres {
		return nil
	}
	key := lockKey(holdsLock)
	for deadline := time.Now().Add(holdLockPatience); time.Now().Before(deadline); {
		var ok bool
		if err := tx.Get(ctx, &ok, "SELECT pg_try_advisory_xact_lock(?)", key); err != nil {
			return fmt.Errorf("hold: lock out purge batches: %w", err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hold: lock out purge batches: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", key); err != nil {
		return fmt.Errorf("hold: lock out purge batches: %w", err)
	}
	return nil
}

// forUpdate returns " FOR UPDATE" on PostgreSQL.
func forUpdate(d Dialect) string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// ConfirmTickets re-reads, inside a purge batch's transaction and with row
// locks, the facts of tickets decided earlier outside it; the caller deletes
// only those whose facts are unchanged. Tickets gone since are absent.
func ConfirmTickets(ctx context.Context, tx *Tx, ids []string) ([]TicketFacts, error) {
	cond, args := inList(tx.dialect, "t.ticket_id", ids)
	var out []TicketFacts
	if err := tx.Select(ctx, &out, ticketFactsSel+" WHERE "+cond+" ORDER BY t.ticket_id"+forUpdate(tx.dialect), args...); err != nil {
		return nil, fmt.Errorf("confirm tickets: %w", err)
	}
	return out, nil
}

// ConfirmAttachments is ConfirmTickets for attachments (their ticket's row
// is locked too). Rows are locked in ticket order, as ConfirmTickets does:
// two batches whose attachments share tickets then wait for each other
// instead of deadlocking.
func ConfirmAttachments(ctx context.Context, tx *Tx, ids []string) ([]AttachmentFacts, error) {
	cond, args := inList(tx.dialect, "a.attachment_id", ids)
	var out []AttachmentFacts
	if err := tx.Select(ctx, &out, attachmentFactsSel+" WHERE "+cond+" ORDER BY t.ticket_id, a.attachment_id"+forUpdate(tx.dialect), args...); err != nil {
		return nil, fmt.Errorf("confirm attachments: %w", err)
	}
	return out, nil
}

// ConfirmAccountEvents is ConfirmTickets for account events.
func ConfirmAccountEvents(ctx context.Context, tx *Tx, ids []string) ([]EventFacts, error) {
	cond, args := inList(tx.dialect, "e.event_id", ids)
	var out []EventFacts
	if err := tx.Select(ctx, &out, eventFactsSel+" WHERE "+cond+" ORDER BY e.event_id"+forUpdate(tx.dialect), args...); err != nil {
		return nil, fmt.Errorf("confirm account events: %w", err)
	}
	return out, nil
}

// CountMessagesOfTickets counts the messages of the given tickets.
func CountMessagesOfTickets(ctx context.Context, q Querier, ticketIDs []string) (int64, error) {
	cond, args := inList(q.Dialect(), "ticket_id", ticketIDs)
	var n int64
	if err := q.Get(ctx, &n, "SELECT COUNT(*) FROM messages WHERE "+cond, args...); err != nil {
		return 0, fmt.Errorf("count messages: %w", err)
	}
	return n, nil
}

// CountObjectionsOf counts the objections of the given subjects.
func CountObjectionsOf(ctx context.Context, q Querier, userIDs []string) (int64, error) {
	cond, args := inList(q.Dialect(), "user_id", userIDs)
	var n int64
	if err := q.Get(ctx, &n, "SELECT COUNT(*) FROM objections WHERE "+cond, args...); err != nil {
		return 0, fmt.Errorf("count objections: %w", err)
	}
	return n, nil
}

// deleteReturningKeys runs a DELETE of attachments … RETURNING blob_key
// and returns the keys of the rows it removed.
func deleteReturningKeys(ctx context.Context, tx *Tx, cond string, args []any) ([]string, error) {
	var keys []string
	if err := tx.Select(ctx, &keys, "DELETE FROM attachments WHERE "+cond+" RETURNING blob_key", args...); err != nil {
		return nil, err
	}
	return keys, nil
}

// queueBlobKeys adds blob keys to the durable deletion queue, inside the
// transaction that deletes their rows: the contents are removed only after
// it commits.
func queueBlobKeys(ctx context.Context, tx *Tx, keys []string, now int64, reason string) error {
	const chunk = 500 // 3 parameters a row, well under SQLite's limit
	for len(keys) > 0 {
		part := keys[:min(chunk, len(keys))]
		keys = keys[len(part):]
		var err error
		if tx.dialect == Postgres {
			_, err = tx.Exec(ctx, "INSERT INTO blob_deletions (blob_key, queued_at, reason) SELECT unnest(?::text[]), ?, ? ON CONFLICT (blob_key) DO NOTHING",
				pq.StringArray(part), now, reason)
		} else {
			args := make([]any, 0, 3*len(part))
			for _, k := range part {
				args = append(args, k, now, reason)
			}
			_, err = tx.Exec(ctx, "INSERT INTO blob_deletions (blob_key, queued_at, reason) VALUES "+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(part)), ", ")+" ON CONFLICT (blob_key) DO NOTHING", args...)
		}
		if err != nil {
			return fmt.Errorf("queue blob deletions: %w", err)
		}
	}
	return nil
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// DeleteAttachments deletes attachments by id inside tx, queueing their
// blob contents for deletion in the same transaction. It returns the blob
// keys queued, one per attachment deleted.
func DeleteAttachments(ctx context.Context, tx *Tx, ids []string, now int64) ([]string, error) {
	cond, args := inList(tx.dialect, "attachment_id", ids)
	keys, err := deleteReturningKeys(ctx, tx, cond, args)
	if err != nil {
		return nil, fmt.Errorf("delete attachments: %w", err)
	}
	if err := queueBlobKeys(ctx, tx, keys, now, "retention"); err != nil {
		return nil, err
	}
	return keys, nil
}

// TicketDeletion counts what DeleteTickets removed; BlobKeys are the blob
// contents it queued for deletion.
type TicketDeletion struct {
	Tickets, Messages, Attachments int64
	BlobKeys                       []string
}

// DeleteTickets deletes tickets by id inside tx, with their attachments
// (blob contents queued in the same transaction) and messages.
func DeleteTickets(ctx context.Context, tx *Tx, ids []string, now int64) (TicketDeletion, error) {
	var d TicketDeletion
	cond, args := inList(tx.dialect, "ticket_id", ids)
	var err error
	if d.BlobKeys, err = deleteReturningKeys(ctx, tx, cond, args); err != nil {
		return d, fmt.Errorf("delete attachments of tickets: %w", err)
	}
	d.Attachments = int64(len(d.BlobKeys))
	if err := queueBlobKeys(ctx, tx, d.BlobKeys, now, "retention"); err != nil {
		return d, err
	}
	if d.Messages, err = rowsAffected(tx.Exec(ctx, "DELETE FROM messages WHERE "+cond, args...)); err != nil {
		return d, fmt.Errorf("delete messages of tickets: %w", err)
	}
	if d.Tickets, err = rowsAffected(tx.Exec(ctx, "DELETE FROM tickets WHERE "+cond, args...)); err != nil {
		return d, fmt.Errorf("delete tickets: %w", err)
	}
	return d, nil
}

// UnreferencedQueuedBlobs returns those of keys that are in the deletion
// queue and that no attachment row refers to: the ones whose contents may
// be removed.
func UnreferencedQueuedBlobs(ctx context.Context, q Querier, keys []string) ([]string, error) {
	cond, args := inList(q.Dialect(), "d.blob_key", keys)
	var out []string
	if err := q.Select(ctx, &out, "SELECT d.blob_key FROM blob_deletions d WHERE "+cond+
		" AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_key = d.blob_key) ORDER BY d.blob_key", args...); err != nil {
		return nil, fmt.Errorf("blob deletion queue: %w", err)
	}
	return out, nil
}

// DequeueBlobs removes keys from the deletion queue in one statement, once
// their contents are gone.
func DequeueBlobs(ctx context.Context, q Querier, keys []string) (int64, error) {
	cond, args := inList(q.Dialect(), "blob_key", keys)
	n, err := rowsAffected(q.Exec(ctx, "DELETE FROM blob_deletions WHERE "+cond, args...))
	if err != nil {
		return 0, fmt.Errorf("dequeue blob deletions: %w", err)
	}
	return n, nil
}

// deletable names, per category, the table and key deleted by DeleteRows.
var deletable = map[string][2]string{
	"account_events": {"account_events", "event_id"},
	"subject_stats":  {"subject_stats", "user_id"},
	"dsr_requests":   {"dsr_requests", "request_id"},
	"legal_holds":    {"legal_holds", "hold_id"},
}

// DeleteRows deletes rows of a simple category (account_events,
// subject_stats, dsr_requests with their actions, legal_holds) by primary
// key inside tx.
func DeleteRows(ctx context.Context, tx *Tx, category string, ids []string) (int64, error) {
	t, ok := deletable[category]
	if !ok {
		return 0, fmt.Errorf("delete rows: category %q: %w", category, ErrInvalid)
	}
	cond, args := inList(tx.dialect, t[1], ids)
	if category == "dsr_requests" {
		if _, err := tx.Exec(ctx, "DELETE FROM dsr_actions WHERE "+strings.Replace(cond, "request_id", "request_id", 1), args...); err != nil {
			return 0, fmt.Errorf("delete request actions: %w", err)
		}
	}
	n, err := rowsAffected(tx.Exec(ctx, "DELETE FROM "+t[0]+" WHERE "+cond, args...))
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", category, err)
	}
	return n, nil
}

// DeleteAgentStats deletes per-agent statistics rows by id inside tx.
func DeleteAgentStats(ctx context.Context, tx *Tx, ids []int64) (int64, error) {
	cond, args := inListInt(tx.dialect, "id", ids)
	n, err := rowsAffected(tx.Exec(ctx, "DELETE FROM agent_stats WHERE "+cond, args...))
	if err != nil {
		return 0, fmt.Errorf("delete agent_stats: %w", err)
	}
	return n, nil
}

// AnonymizeAgentStats clears the agent of per-agent statistics rows not yet
// anonymised, inside tx.
func AnonymizeAgentStats(ctx context.Context, tx *Tx, ids []int64, now int64) (int64, error) {
	cond, args := inListInt(tx.dialect, "id", ids)
	n, err := rowsAffected(tx.Exec(ctx, "UPDATE agent_stats SET agent_id = NULL, anonymized_at = ? WHERE anonymized_at IS NULL AND "+cond,
		append([]any{now}, args...)...))
	if err != nil {
		return 0, fmt.Errorf("anonymise agent_stats: %w", err)
	}
	return n, nil
}

// ErrSubjectNotEmpty is returned by DeleteSubjects when a subject to delete
// still has tickets or account events.
var ErrSubjectNotEmpty = errors.New("subject still has tickets or account events")

// SubjectsWithData returns, of the given subjects, those that have a ticket
// or an account event now (a fresh read inside tx: what a concurrent ingest
// committed since the subjects were scanned counts).
func SubjectsWithData(ctx context.Context, tx *Tx, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	c, args := inList(tx.dialect, "user_id", ids)
	var have []string
	if err := tx.Select(ctx, &have, "SELECT DISTINCT user_id FROM tickets WHERE "+c+" UNION SELECT DISTINCT user_id FROM account_events WHERE "+c,
		append(append([]any{}, args...), args...)...); err != nil {
		return nil, fmt.Errorf("subjects with data: %w", err)
	}
	for _, u := range have {
		out[u] = true
	}
	return out, nil
}

// SubjectDeletion counts what DeleteSubjects removed.
type SubjectDeletion struct{ Subjects, Objections, SubjectStats int64 }

// DeleteSubjects deletes subjects by id inside tx, with their objections and
// statistics. A subject that still has a ticket or an account event is not
// deleted: ErrSubjectNotEmpty (wrapped), and the caller rolls back.
func DeleteSubjects(ctx context.Context, tx *Tx, ids []string) (SubjectDeletion, error) {
	var d SubjectDeletion
	d0 := tx.dialect
	c, args := inList(d0, "user_id", ids)
	var left int64
	if err := tx.Get(ctx, &left, "SELECT (SELECT COUNT(*) FROM tickets WHERE "+c+") + (SELECT COUNT(*) FROM account_events WHERE "+c+")",
		append(append([]any{}, args...), args...)...); err != nil {
		return d, fmt.Errorf("delete subjects: %w", err)
	}
	if left > 0 {
		return d, fmt.Errorf("delete subjects: %d tickets or events remain: %w", left, ErrSubjectNotEmpty)
	}
	var err error
	if d.Objections, err = rowsAffected(tx.Exec(ctx, "DELETE FROM objections WHERE "+c, args...)); err != nil {
		return d, fmt.Errorf("delete objections: %w", err)
	}
	if d.SubjectStats, err = rowsAffected(tx.Exec(ctx, "DELETE FROM subject_stats WHERE "+c, args...)); err != nil {
		return d, fmt.Errorf("delete subject stats: %w", err)
	}
	if d.Subjects, err = rowsAffected(tx.Exec(ctx, "DELETE FROM subjects WHERE "+c, args...)); err != nil {
		return d, fmt.Errorf("delete subjects: %w", err)
	}
	return d, nil
}

// Anonymisation replaces one subject's identifying contact data.
type Anonymisation struct {
	UserID string
	Email  string // a non-identifying placeholder
	Pseudo string
}

// AnonymizeSubjects replaces the e-mail and pseudo of subjects not yet
// anonymised and sets anonymized_at, inside tx, in one statement.
func AnonymizeSubjects(ctx context.Context, tx *Tx, as []Anonymisation, now int64) (int64, error) {
	if len(as) == 0 {
		return 0, nil
	}
	var b strings.Builder
	args := make([]any, 0, 3*len(as)+2)
	b.WriteString("WITH v (user_id, email, pseudo) AS (VALUES ")
	for i, a := range as {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, a.UserID, a.Email, a.Pseudo)
	}
	b.WriteString(") UPDATE subjects SET email = v.email, pseudo = v.pseudo, anonymized_at = ?, updated_at = ? FROM v WHERE subjects.user_id = v.user_id AND subjects.anonymized_at IS NULL")
	args = append(args, now, now)
	n, err := rowsAffected(tx.Exec(ctx, b.String(), args...))
	if err != nil {
		return 0, fmt.Errorf("anonymise subjects: %w", err)
	}
	return n, nil
}

// CategoryTotals counts the records of every retention category, for the
// safety valve's shares.
func CategoryTotals(ctx context.Context, q Querier) (map[string]int64, error) {
	out := map[string]int64{}
	for _, c := range []struct{ cat, table string }{
		{"subjects", "subjects"}, {"tickets", "tickets"}, {"messages", "messages"}, {"attachments", "attachments"},
		{"account_events", "account_events"}, {"subject_stats", "subject_stats"}, {"agent_stats", "agent_stats"},
		{"dsr_requests", "dsr_requests"}, {"legal_holds", "legal_holds"}, {"objections", "objections"}, {"audit_log", "audit_log"},
	} {
		var n int64
		if err := q.Get(ctx, &n, "SELECT COUNT(*) FROM "+c.table); err != nil {
			return nil, fmt.Errorf("count %s: %w", c.cat, err)
		}
		out[c.cat] = n
	}
	return out, nil
}
