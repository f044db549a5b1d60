package dsr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

// ErasurePolicy is what erasure needs from the policies engine
// (*policies.Engine implements it).
type ErasurePolicy interface {
	DecideErasure(ctx context.Context, at time.Time, recs []policies.Record) ([]policies.Decision, error)
	Recipients(ctx context.Context) ([]policies.Recipient, error)
}

// ErrResidue marks an erasure after which the subject's identifiers were
// still found outside what the policies keep (exit 1).
var ErrResidue = errors.New("erasure incomplete: identifiers remain")

// Eraser executes erasure requests (Art. 17).
type Eraser struct {
	DB       *store.DB
	Blobs    blobs.Store
	Policy   ErasurePolicy
	Register *Register
	Hasher   *store.Hasher
	// Ledger is the erasure ledger's path; it is required.
	Ledger string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Actor names who acts in the audit trail ("cli").
	Actor string
}

// EraseOptions tune Erase.
type EraseOptions struct {
	// DryRun runs the same code in a transaction that is rolled back: the
	// report says exactly what a real run would do, and nothing changes.
	DryRun bool
	// RequestID attaches the erasure to a request of the register; empty
	// opens one that is closed when the erasure is done.
	RequestID string
	// SkipLedger does not append to the ledger (reapply: it is there).
	SkipLedger bool
}

// Kept is a record the policies keep (Art. 17(3)), restricted.
type Kept struct {
	Category string `json:"category"`
	ID       string `json:"id"`
	Action   string `json:"action"` // keep or anonymize
	Rule     string `json:"rule"`
	Reason   string `json:"reason"`
}

// Residue is what the post-erasure scan found: counts per place, never the
// values. Kept counts identifiers inside records the policies keep.
//
// The user id and the e-mail address identify the subject wherever they
// appear: a hit outside kept records is residue and fails the erasure. A
// pseudo is weaker — another subject may have chosen the same one, or a
// message may use it as an ordinary word — so a pseudo-only hit in a row that
// is not the subject's own is reported under Ambiguous for the DPO to review,
// without failing the erasure.
type Residue struct {
	Scanned     map[string]int64 `json:"scanned"`             // rows per table, and "blobs"
	Found       map[string]int64 `json:"found"`               // "table.column" or "blobs" → hits outside kept records
	Kept        map[string]int64 `json:"kept"`                // hits inside kept records
	Ambiguous   map[string]int64 `json:"ambiguous,omitempty"` // pseudo-only hits in other subjects' rows
	BlobsKept   int              `json:"blobs_kept"`
	Checkpoint  string           `json:"checkpoint"` // SQLite WAL: done, busy, n/a
	TotalFound  int64            `json:"total_found"`
	Description string           `json:"description,omitempty"`
}

// EraseReport says what an erasure did (or, dry, would do).
type EraseReport struct {
	SubjectRef   string               `json:"subject_ref"`
	RequestID    string               `json:"request_id,omitempty"`
	DryRun       bool                 `json:"dry_run"`
	At           time.Time            `json:"at"`
	Deleted      map[string]int64     `json:"deleted"`
	Anonymized   map[string]int64     `json:"anonymized"`
	Kept         []Kept               `json:"kept"`
	BlobsQueued  int64                `json:"blobs_queued"`
	BlobsDeleted int64                `json:"blobs_deleted"`
	AgentStats   int64                `json:"agent_stats_recomputed"`
	Forgotten    int64                `json:"requests_forgotten"`
	Recipients   []policies.Recipient `json:"recipients"`
	Ledger       string               `json:"ledger"` // appended, already, skipped (dry run)
	Residue      *Residue             `json:"residue,omitempty"`
	decisions    map[string]policies.Decision
}

func (e *Eraser) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

// Erase erases the subject named by key. The database part runs in one
// transaction; blob contents are removed after it commits through the
// durable blob_deletions queue; the ledger entry is written and synced
// before the commit, so an erasure never commits unrecorded. Unknown subject:
// store.ErrNotFound (the message says so when the ledger knows them).
func (e *Eraser) Erase(ctx context.Context, key store.SubjectKey, opt EraseOptions) (*EraseReport, error) {
	if e.Ledger == "" && !opt.DryRun && !opt.SkipLedger {
		return nil, fmt.Errorf("erase: no erasure ledger configured: %w", store.ErrInvalid)
	}
	subj, err := store.FindSubject(ctx, e.DB, key)
	if errors.Is(err, store.ErrNotFound) {
		if when, ok := e.erasedBefore(key); ok {
			return nil, fmt.Errorf("%s was already erased on %s (erasure ledger): %w", key, when, store.ErrNotFound)
		}
	}
	if err != nil {
		return nil, err
	}
	at := e.now()
	var h *Handle
	if !opt.DryRun {
		h, err = e.Register.Start(ctx, opt.RequestID, "erasure", subj)
		if err != nil {
			return nil, err
		}
	}
	rep, err := e.erase(ctx, subj, at, h, opt)
	if h != nil {
		if ferr := e.Register.Finish(ctx, h, err); ferr != nil && err == nil {
			err = ferr
		}
	}
	return rep, err
}

// erasedBefore looks the key up in the ledger.
func (e *Eraser) erasedBefore(key store.SubjectKey) (string, bool) {
	if e.Ledger == "" {
		return "", false
	}
	set, err := ledger.Load(e.Ledger, e.Hasher)
	if err != nil {
		return "", false
	}
	var ent ledger.Entry
	var ok bool
	if key.UserID != "" {
		ent, ok = set.ByUserID(e.Hasher.Hash("user_id", key.UserID))
	} else {
		ent, ok = set.ByEmail(e.Hasher.Hash("email", key.Email))
	}
	return erasedDate(ent.At), ok
}

func (e *Eraser) erase(ctx context.Context, subj store.Subject, at time.Time, h *Handle, opt EraseOptions) (*EraseReport, error) {
	ms := store.Millis(at)
	ref := e.Hasher.Hash("user_id", subj.UserID)
	rep := &EraseReport{SubjectRef: ref, DryRun: opt.DryRun, At: at,
		Deleted: map[string]int64{}, Anonymized: map[string]int64{}, Kept: []Kept{}}
	if h != nil {
		rep.RequestID = h.Request.RequestID
	}
	recips, err := e.Policy.Recipients(ctx)
	if err != nil {
		return nil, fmt.Errorf("erase: recipients: %w", err)
	}
	rep.Recipients = recips
	tx, err := e.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Lock the subject first: a request opened for them from now on waits,
	// then finds them gone (see Register.open).
	if err := store.LockSubject(ctx, tx, subj.UserID, true); err != nil {
		return nil, err
	}
	recs, err := store.LoadSubjectRecords(ctx, tx, subj.UserID, ref, ms)
	if err != nil {
		return nil, err
	}
	dec, err := e.decide(ctx, at, recs)
	if err != nil {
		return nil, err
	}
	rep.decisions = dec
	act := func(cat, id string) policies.Decision { return dec[cat+"/"+id] }
	keep := func(cat, id string) {
		d := act(cat, id)
		rep.Kept = append(rep.Kept, Kept{Category: cat, ID: id, Action: string(d.Action), Rule: d.Rule, Reason: d.Reason})
		if d.Action == policies.Anonymize {
			rep.Anonymized[cat]++
		}
	}
	days, err := store.AgentStatsDays(ctx, tx, subj.UserID)
	if err != nil {
		return nil, err
	}

	// Tickets, with their messages and attachments.
	var delTickets, restrict, anon []string
	deletedTicket := map[string]bool{}
	for _, t := range recs.Tickets {
		switch act(policies.CatTickets, t.TicketID).Action {
		case policies.Delete:
			delTickets = append(delTickets, t.TicketID)
			deletedTicket[t.TicketID] = true
		case policies.Anonymize:
			anon = append(anon, t.TicketID)
			keep(policies.CatTickets, t.TicketID)
		default:
			restrict = append(restrict, t.TicketID)
			keep(policies.CatTickets, t.TicketID)
		}
	}
	var queued []string
	var delAtt []string
	keptBlobs := map[string]bool{}
	for _, a := range recs.Attachments {
		switch {
		case deletedTicket[a.TicketID]:
			queued = append(queued, a.BlobKey)
		case act(policies.CatAttachments, a.AttachmentID).Action == policies.Delete:
			delAtt = append(delAtt, a.AttachmentID)
			queued = append(queued, a.BlobKey)
		default:
			keptBlobs[a.BlobKey] = true
			keep(policies.CatAttachments, a.AttachmentID)
		}
	}
	const reason = "erasure"
	c, err := store.EraseTickets(ctx, tx, delTickets, reason, ms)
	if err != nil {
		return nil, err
	}
	c2, err := store.EraseAttachments(ctx, tx, delAtt, reason, ms)
	if err != nil {
		return nil, err
	}
	rep.Deleted[policies.CatTickets] = c.Tickets
	rep.Deleted[policies.CatMessages] = c.Messages
	rep.Deleted[policies.CatAttachments] = c.Attachments + c2.Attachments
	rep.BlobsQueued = c.BlobsQueued + c2.BlobsQueued
	if _, err := store.RestrictSubjectTickets(ctx, tx, restrict, 0); err != nil {
		return nil, err
	}
	if _, err := store.RestrictSubjectTickets(ctx, tx, anon, ms); err != nil {
		return nil, err
	}

	// Account events, statistics, objections.
	var delEvents []string
	for _, ev := range recs.Events {
		if act(policies.CatAccountEvents, ev.EventID).Action == policies.Delete {
			delEvents = append(delEvents, ev.EventID)
		} else {
			keep(policies.CatAccountEvents, ev.EventID)
		}
	}
	if rep.Deleted[policies.CatAccountEvents], err = store.EraseAccountEvents(ctx, tx, delEvents); err != nil {
		return nil, err
	}
	if recs.Stat != nil {
		if act(policies.CatSubjectStats, subj.UserID).Action == policies.Delete {
			if rep.Deleted[policies.CatSubjectStats], err = store.DeleteSubjectStats(ctx, tx, subj.UserID); err != nil {
				return nil, err
			}
		} else {
			keep(policies.CatSubjectStats, subj.UserID)
		}
	}
	var delObj []string
	for _, o := range recs.Objections {
		if act(policies.CatObjections, o.Purpose).Action == policies.Delete {
			delObj = append(delObj, o.Purpose)
		} else {
			keep(policies.CatObjections, o.Purpose)
		}
	}
	if rep.Deleted[policies.CatObjections], err = store.EraseObjections(ctx, tx, subj.UserID, delObj); err != nil {
		return nil, err
	}
	// The agents' figures of the days the subject contributed to, without
	// them (their kept tickets are restricted, hence left out too).
	if rep.AgentStats, err = store.RefreshAgentStats(ctx, tx, stats.Scope(at), days); err != nil {
		return nil, err
	}
	// The register keeps the requests as proof, without the plain user id.
	if rep.Forgotten, err = ForgetSubject(ctx, tx, subj.UserID); err != nil {
		return nil, err
	}

	// The subject row last: deleted only when nothing of theirs remains.
	pseud := pseudonymFor(ref)
	sd := act(policies.CatSubjects, subj.UserID)
	remaining := len(restrict) + len(anon) + len(recs.Events) - len(delEvents) + len(recs.Objections) - len(delObj)
	if recs.Stat != nil && rep.Deleted[policies.CatSubjectStats] == 0 {
		remaining++
	}
	switch sd.Action {
	case policies.Delete:
		if remaining > 0 {
			return nil, fmt.Errorf("%w: the erasure policy deletes the subject (rule %s) but keeps %d of their records: nothing was erased", policies.ErrPolicy, sd.Rule, remaining)
		}
		if err := store.EraseSubjectRow(ctx, tx, subj.UserID, pseud.UserID); err != nil {
			return nil, err
		}
		rep.Deleted[policies.CatSubjects] = 1
	case policies.Anonymize:
		if err := store.PseudonymiseSubject(ctx, tx, subj.UserID, pseud, ms); err != nil {
			return nil, err
		}
		keep(policies.CatSubjects, pseud.UserID)
	default:
		if err := store.RestrictSubject(ctx, tx, subj.UserID, ms); err != nil {
			return nil, err
		}
		keep(policies.CatSubjects, subj.UserID)
	}

	outcome := "ok"
	if opt.DryRun {
		outcome = "dry-run"
	}
	keptByRule := map[string]int{}
	for _, k := range rep.Kept {
		keptByRule[k.Category+":"+k.Rule]++
	}
	seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
		At: at, Actor: e.Actor, Action: "dsr.erase", SubjectRef: ref, Outcome: outcome,
		Detail: map[string]any{
			"request": rep.RequestID, "deleted": rep.Deleted, "anonymized": rep.Anonymized,
			"kept": keptByRule, "blobs_queued": rep.BlobsQueued, "agent_stats_recomputed": rep.AgentStats,
			"requests_forgotten": rep.Forgotten,
		},
	})
	if err != nil {
		return nil, err
	}
	if opt.DryRun {
		rep.Ledger = "skipped (dry run)"
		return rep, tx.Rollback()
	}
	if err := h.Record(ctx, tx, "erase", outcome, seq); err != nil {
		return nil, err
	}
	// The ledger entry is durable before the erasure commits: a crash in
	// between leaves an entry that --reapply completes, never an erasure a
	// backup restore could silently undo.
	if opt.SkipLedger {
		rep.Ledger = "already"
	} else {
		ent := ledger.NewEntry(e.Hasher, at, subj.UserID, subj.Email, subj.Pseudo, rep.RequestID)
		if err := ledger.Append(e.Ledger, ent); err != nil {
			return nil, err
		}
		rep.Ledger = "appended"
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("erase: commit: %w", err)
	}

	// After the commit: blob contents, the WAL, then the residue scan.
	rep.BlobsDeleted, err = e.drainBlobs(ctx, queued)
	if err != nil {
		return rep, err
	}
	res, err := e.scan(ctx, subj, recs, rep, keptBlobs, sd.Action)
	rep.Residue = res
	if err != nil {
		return rep, err
	}
	if res.TotalFound > 0 {
		return rep, fmt.Errorf("%w: %d occurrence(s) of the subject's identifiers outside what the policies keep (see residue.found)", ErrResidue, res.TotalFound)
	}
	return rep, nil
}

// decide asks the erasure policy about every record of the subject.
func (e *Eraser) decide(ctx context.Context, at time.Time, r *store.SubjectRecords) (map[string]policies.Decision, error) {
	var recs []policies.Record
	add := func(cat, id string, attrs map[string]any) {
		recs = append(recs, policies.Record{Category: cat, ID: id, Attrs: attrs})
	}
	var open, disputes int64
	var latestClosed, latestEvent int64
	ticketOf := map[string]store.SubjectTicket{}
	for _, t := range r.Tickets {
		ticketOf[t.TicketID] = t
		a := map[string]any{"status": t.Status, "created_at": t.CreatedAt, "dispute_status": t.DisputeStatus, "held": t.Held, "hold_reason": t.HoldReason}
		if t.ClosedAt.Valid {
			a["closed_at"] = t.ClosedAt.Int64
			latestClosed = max(latestClosed, t.ClosedAt.Int64)
		}
		if t.Status == "open" {
			open++
		}
		if t.DisputeStatus == "open" {
			disputes++
		}
		add(policies.CatTickets, t.TicketID, a)
	}
	for _, at := range r.Attachments {
		t := ticketOf[at.TicketID]
		a := map[string]any{"uploaded_at": at.UploadedAt, "ticket_status": t.Status, "dispute_status": t.DisputeStatus, "held": t.Held, "hold_reason": t.HoldReason}
		if t.ClosedAt.Valid {
			a["ticket_closed_at"] = t.ClosedAt.Int64
		}
		add(policies.CatAttachments, at.AttachmentID, a)
	}
	for _, ev := range r.Events {
		latestEvent = max(latestEvent, ev.At)
		add(policies.CatAccountEvents, ev.EventID, map[string]any{"at": ev.At, "type": ev.Type, "held": r.Held})
	}
	if r.Stat != nil {
		add(policies.CatSubjectStats, r.Subject.UserID, map[string]any{"computed_at": r.Stat.ComputedAt, "held": r.Held})
	}
	for _, o := range r.Objections {
		add(policies.CatObjections, o.Purpose, map[string]any{"created_at": o.CreatedAt, "purpose": o.Purpose})
	}
	for _, q := range r.Requests {
		a := map[string]any{"status": q.Status, "received_at": q.ReceivedAt}
		if q.ClosedAt.Valid {
			a["closed_at"] = q.ClosedAt.Int64
		}
		add(policies.CatDSRRequests, q.RequestID, a)
	}
	// A hold on any of their tickets holds the subject's record too: the
	// evidence keeps the identity it is about.
	held, holdReason := r.Held, r.HoldReason
	for _, t := range r.Tickets {
		if t.Held && !held {
			held, holdReason = true, t.HoldReason
		}
	}
	s := r.Subject
	sa := map[string]any{"tickets": int64(len(r.Tickets)), "open_tickets": open, "disputes_open": disputes, "held": held, "hold_reason": holdReason}
	for k, v := range map[string]int64{"account_created_at": s.AccountCreatedAt.Int64, "account_closed_at": s.AccountClosedAt.Int64} {
		if v != 0 {
			sa[k] = v
		}
	}
	if latestClosed != 0 {
		sa["latest_ticket_closed_at"] = latestClosed
	}
	if latestEvent != 0 {
		sa["latest_event_at"] = latestEvent
	}
	if !s.AccountCreatedAt.Valid {
		delete(sa, "account_created_at")
	}
	if !s.AccountClosedAt.Valid {
		delete(sa, "account_closed_at")
	}
	add(policies.CatSubjects, s.UserID, sa)
	out, err := e.Policy.DecideErasure(ctx, at, recs)
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	if len(out) != len(recs) {
		return nil, fmt.Errorf("erase: %w: %d decisions for %d records", policies.ErrPolicy, len(out), len(recs))
	}
	m := make(map[string]policies.Decision, len(recs))
	for i, rec := range recs {
		m[rec.Category+"/"+rec.ID] = out[i]
	}
	return m, nil
}

// pseudonymFor derives the pseudonyms that replace a kept subject's
// identifiers from its keyed hash: stable, and meaningless without the key.
func pseudonymFor(ref string) store.Pseudonym {
	hex := strings.TrimPrefix(ref, "h:")
	return store.Pseudonym{UserID: "erased-" + hex, Email: "erased-" + hex + "@erased.invalid", Pseudo: "erased-" + hex[:12]}
}

// drainBlobs removes the queued blob contents and their queue entries. A
// failure leaves the queue entry for `oubli check --repair` to finish.
func (e *Eraser) drainBlobs(ctx context.Context, keys []string) (int64, error) {
	var n int64
	for _, k := range keys {
		if err := e.Blobs.Delete(ctx, k); err != nil {
			return n, fmt.Errorf("erase: remove attachment contents (left queued for oubli check --repair): %w", err)
		}
		if err := store.BlobDeleted(ctx, e.DB, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// scan checkpoints the SQLite WAL, then looks for the subject's identifiers
// in every text column of every table and in every blob.
func (e *Eraser) scan(ctx context.Context, subj store.Subject, recs *store.SubjectRecords, rep *EraseReport, keptBlobs map[string]bool, subjAction policies.Action) (*Residue, error) {
	res := &Residue{Scanned: map[string]int64{}, Found: map[string]int64{}, Kept: map[string]int64{}, Ambiguous: map[string]int64{}, BlobsKept: len(keptBlobs)}
	switch ok, err := e.DB.Checkpoint(ctx); {
	case err != nil:
		return res, err
	case e.DB.Dialect() != store.SQLite:
		res.Checkpoint = "n/a"
	case ok:
		res.Checkpoint = "done"
	default:
		res.Checkpoint = "busy"
	}
	strong := newMatcher(subj.UserID, subj.Email)
	weak := newMatcher(subj.Pseudo)
	keptTickets := map[string]bool{}
	for _, k := range rep.Kept {
		if k.Category == policies.CatTickets {
			keptTickets[k.ID] = true
		}
	}
	keptUser := ""
	if subjAction != policies.Delete && subjAction != policies.Anonymize {
		keptUser = subj.UserID // kept as is, restricted
	}
	tables, err := store.TextColumns(ctx, e.DB)
	if err != nil {
		return res, err
	}
	for _, t := range tables {
		ti, ui := -1, -1
		for i, c := range t.Columns {
			if c == t.TicketCol && c != "" {
				ti = i
			}
			if c == t.UserCol && c != "" {
				ui = i
			}
		}
		err := store.ScanText(ctx, e.DB, t, func(vals []string) error {
			res.Scanned[t.Table]++
			kept := (ti >= 0 && keptTickets[vals[ti]]) || (ui >= 0 && keptUser != "" && vals[ui] == keptUser)
			// A row keyed to another subject is theirs; every row of the
			// erased subject's own tickets is gone or kept.
			other := ui >= 0 && vals[ui] != "" && vals[ui] != subj.UserID
			for i, v := range vals {
				if v == "" {
					continue
				}
				lv := strings.ToLower(v)
				place := t.Table + "." + t.Columns[i]
				switch {
				case !strong.match(lv) && !weak.match(lv):
				case kept:
					res.Kept[place]++
				case !strong.match(lv) && (other || ui < 0):
					res.Ambiguous[place]++
				default:
					res.Found[place]++
					res.TotalFound++
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	err = e.Blobs.Walk(ctx, func(key string) error {
		res.Scanned["blobs"]++
		hit, err := e.blobMatches(ctx, key, strong)
		if err != nil {
			return err
		}
		weakHit := false
		if !hit {
			if weakHit, err = e.blobMatches(ctx, key, weak); err != nil {
				return err
			}
		}
		switch {
		case !hit && !weakHit:
		case keptBlobs[key]:
			res.Kept["blobs"]++
		case hit:
			res.Found["blobs"]++
			res.TotalFound++
		default:
			// The subject's own blobs are deleted or kept: a pseudo in
			// another ticket's document is a mention, not their record.
			res.Ambiguous["blobs"]++
		}
		return nil
	})
	return res, err
}

// blobMatches streams one blob through m.
func (e *Eraser) blobMatches(ctx context.Context, key string, m *matcher) (bool, error) {
	if len(m.needles) == 0 {
		return false, nil
	}
	r, err := e.Blobs.Open(ctx, key)
	if errors.Is(err, blobs.ErrNotFound) {
		// Removed since the walk listed it (a retention run draining its
		// queue, say): gone, so it holds nothing.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	hit, err := m.matchReader(r)
	if err != nil {
		return false, fmt.Errorf("scan blob: %w", err)
	}
	return hit, nil
}

// matcher finds identifiers as whole tokens, case-insensitively: "u-4" is not
// found in "u-42", nor "alice" in "malice".
type matcher struct {
	needles [][]byte
	longest int
}

func newMatcher(ids ...string) *matcher {
	m := &matcher{}
	for _, id := range ids {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		m.needles = append(m.needles, []byte(id))
		m.longest = max(m.longest, len(id))
	}
	return m
}

func isIdentByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '@' || b == '+' || b >= 0x80
}

// find reports whether a needle occurs as a token in hay (lower-cased).
// With atEOF false, a hit touching the end of hay is not counted: the byte
// after it is not known yet.
func (m *matcher) find(hay []byte, atEOF bool) bool {
	for _, n := range m.needles {
		for off := 0; ; {
			i := indexBytes(hay[off:], n)
			if i < 0 {
				break
			}
			i += off
			end := i + len(n)
			before := i == 0 || !isIdentByte(hay[i-1])
			after := end == len(hay) && atEOF || end < len(hay) && !(isIdentByte(hay[end]) || hay[end] == '.' && end+1 < len(hay) && isIdentByte(hay[end+1]))
			if before && after {
				return true
			}
			off = i + 1
		}
	}
	return false
}

func (m *matcher) match(s string) bool { return m.find([]byte(s), true) }

// matchReader streams r, keeping enough of each chunk to find a token that
// straddles two reads.
func (m *matcher) matchReader(r io.Reader) (bool, error) {
	if len(m.needles) == 0 {
		return false, nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	carry := m.longest + 1
	buf := make([]byte, 0, 64<<10+carry)
	chunk := make([]byte, 64<<10)
	for {
		n, err := br.Read(chunk)
		for _, b := range chunk[:n] {
			if b >= 'A' && b <= 'Z' {
				b += 'a' - 'A'
			}
			buf = append(buf, b)
		}
		eof := errors.Is(err, io.EOF)
		if err != nil && !eof {
			return false, err
		}
		if m.find(buf, eof) {
			return true, nil
		}
		if eof {
			return false, nil
		}
		if len(buf) > carry {
			buf = append(buf[:0], buf[len(buf)-carry:]...)
		}
	}
}

func indexBytes(s, sep []byte) int { return strings.Index(string(s), string(sep)) }

// ReapplyReport says what `erase --reapply` did.
type ReapplyReport struct {
	DryRun        bool           `json:"dry_run"`
	LedgerEntries int            `json:"ledger_entries"`
	Scanned       int64          `json:"subjects_scanned"`
	Erased        []*EraseReport `json:"erased"`
	// EmailOnly counts subjects whose e-mail, but not user id, is in the
	// ledger: another account of a person who asked to be forgotten. They
	// are not erased automatically; the DPO reviews them.
	EmailOnly int `json:"email_only_matches"`
}

// Reapply erases again every subject of the ledger that is (again) in the
// store, as after restoring a backup taken before their erasure. Subjects
// are matched by the keyed hash of their user id, computed while streaming
// the subjects table in bounded pages.
func (e *Eraser) Reapply(ctx context.Context, dryRun bool) (*ReapplyReport, error) {
	set, err := ledger.Load(e.Ledger, e.Hasher)
	if err != nil {
		return nil, err
	}
	rep := &ReapplyReport{DryRun: dryRun, LedgerEntries: set.Len(), Erased: []*EraseReport{}}
	if set.Len() == 0 {
		return rep, nil
	}
	var match []string
	after := ""
	for {
		var page []struct {
			UserID string `db:"user_id"`
			Email  string `db:"email"`
		}
		if err := e.DB.Select(ctx, &page, "SELECT user_id, email FROM subjects WHERE user_id > ? ORDER BY user_id LIMIT 1000", after); err != nil {
			return nil, fmt.Errorf("reapply: scan subjects: %w", err)
		}
		for _, s := range page {
			rep.Scanned++
			if _, ok := set.ByUserID(e.Hasher.Hash("user_id", s.UserID)); ok {
				match = append(match, s.UserID)
			} else if _, ok := set.ByEmail(e.Hasher.Hash("email", s.Email)); ok {
				rep.EmailOnly++
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].UserID
	}
	for _, id := range match {
		r, err := e.Erase(ctx, store.SubjectKey{UserID: id}, EraseOptions{DryRun: dryRun, SkipLedger: true})
		if r != nil {
			rep.Erased = append(rep.Erased, r)
		}
		if err != nil {
			return rep, fmt.Errorf("reapply: %w", err)
		}
	}
	return rep, nil
}
