package dsr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/ledger"
	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/residue"
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
	// CheckpointWait bounds the wait for SQLite readers before the WAL
	// checkpoint is given up and reported left; 0 means
	// DefaultCheckpointWait.
	CheckpointWait time.Duration
	// Notify queues the Art. 19 notifications in the erasure's transaction.
	Notify *notify.Outbox

	// schema is the live schema as the residue check sees it, read once
	// for a batch (EraseBatch); nil: each erasure reads it.
	schema *residue.Schema
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
	// closeRequest closes a named request too, with the erasure (batch:
	// the requests it executes are its own).
	closeRequest bool
}

// Kept is a record the policies keep (Art. 17(3)), restricted.
type Kept struct {
	Category string `json:"category"`
	ID       string `json:"id"`
	Action   string `json:"action"` // keep or anonymize
	Rule     string `json:"rule"`
	Reason   string `json:"reason"`
}

// EraseReport says what an erasure did (or, dry, would do).
type EraseReport struct {
	SubjectRef  string           `json:"subject_ref"`
	RequestID   string           `json:"request_id,omitempty"`
	DryRun      bool             `json:"dry_run"`
	At          time.Time        `json:"at"`
	Deleted     map[string]int64 `json:"deleted"`
	Anonymized  map[string]int64 `json:"anonymized"`
	Kept        []Kept           `json:"kept"`
	BlobsQueued int64            `json:"blobs_queued"`
	// followUpOpen is set when the erasure's transaction recorded its
	// follow-up pending: the follow-up then records how it ended.
	followUpOpen bool
	BlobsDeleted int64                `json:"blobs_deleted"`
	AgentStats   int64                `json:"agent_stats_recomputed"`
	Forgotten    int64                `json:"requests_forgotten"`
	Recipients   []policies.Recipient `json:"recipients"`
	Ledger       string               `json:"ledger"` // appended, already, skipped (dry run)
	Residue      *Residue             `json:"residue,omitempty"`
	// RequestStatus is the request's status once the erasure committed.
	RequestStatus string `json:"request_status,omitempty"`
	// Left names the follow-up steps that did not complete (see
	// ErrIncomplete): attachment_contents, wal_checkpoint, residue_scan.
	Left []string `json:"left,omitempty"`
	// Resumed is set when the run only finished the follow-up of an
	// erasure committed earlier for the request, on ErasedAt.
	Resumed   bool   `json:"resumed,omitempty"`
	ErasedAt  string `json:"erased_at,omitempty"`
	decisions map[string]policies.Decision

	// Notifications are the Art. 19 notifications queued in the erasure's
	// transaction (dry run: that would be).
	Notifications []notify.Queued `json:"notifications"`
}

func (e *Eraser) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

// ErrIncomplete marks an erasure that committed and is recorded (ledger,
// audit, request) but whose follow-up after the commit did not finish: a
// blob content left queued, a WAL checkpoint held back by a reader, a
// post-commit step cut short by a lost connection. The message says what is
// left; `oubli erase --request ID` (or `oubli check --repair` for blob
// contents) finishes it. It is not a plain success (exit 6).
var ErrIncomplete = errors.New("erasure committed, follow-up left")

// DefaultCheckpointWait bounds how long an erasure waits for SQLite readers
// to let the WAL checkpoint complete.
const DefaultCheckpointWait = 10 * time.Second

// Erase erases the subject named by key. The database part runs in one
// transaction; blob contents are removed after it commits through the
// durable blob_deletions queue; the ledger entry is written and synced
// before the commit, so an erasure never commits unrecorded. An auto-opened
// request is closed (done) inside that transaction, so whatever happens
// after the commit the register says what was done. Unknown subject:
// store.ErrNotFound (the message says so when the ledger knows them). A
// subject already erased for the named request resumes the erasure's
// follow-up (queued blob contents, WAL checkpoint) instead.
func (e *Eraser) Erase(ctx context.Context, key store.SubjectKey, opt EraseOptions) (*EraseReport, error) {
	rep, err := e.erase0(ctx, key, opt)
	switch {
	case opt.DryRun:
	case rep != nil && rep.Ledger == "appended" && (rep.Deleted[policies.CatSubjects] > 0 || rep.Anonymized[policies.CatSubjects] > 0):
		// Erased: the subject's other pending erasure requests (a second
		// one registered, one a concurrent batch opened) are answered by
		// this erasure (adversarial pass F14).
		_, _ = e.Register.CloseAlreadyErased(ctx, rep.SubjectRef, ledgerDate(rep.At.Format(time.RFC3339Nano)), rep.RequestID)
	case err != nil && !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrResidue):
		e.settleLostRace(ctx, key)
	}
	return rep, err
}

func (e *Eraser) erase0(ctx context.Context, key store.SubjectKey, opt EraseOptions) (*EraseReport, error) {
	if e.Ledger == "" && !opt.SkipLedger {
		return nil, fmt.Errorf("erase: no erasure ledger configured: %w", store.ErrInvalid)
	}
	subj, err := store.FindSubject(ctx, e.DB, key)
	if errors.Is(err, store.ErrNotFound) {
		if when, ok := e.erasedBefore(key); ok {
			if opt.RequestID != "" {
				return e.resume(ctx, key, opt, when)
			}
			if ent, ok := e.ledgerEntryOf(key); ok && e.followUpPending(ctx, ent.Request) {
				// Adversarial pass 8 F16: say what is left and how to finish.
				return nil, fmt.Errorf("%s was already erased on %s (erasure ledger), but the follow-up of request %s is pending: run `oubli erase --request %s` naming the subject as here to finish it: %w",
					key, when, ent.Request, ent.Request, store.ErrNotFound)
			}
			return nil, fmt.Errorf("%s was already erased on %s (erasure ledger): %w", key, when, store.ErrNotFound)
		}
	}
	if err != nil {
		return nil, err
	}
	at := e.now()
	var h *Handle
	if opt.DryRun {
		// The checks the real run makes on its request, without starting it.
		if opt.RequestID != "" {
			if err := e.Register.checkStart(ctx, opt.RequestID, "erasure", subj); err != nil {
				return nil, e.goneMeanwhile(key, err)
			}
		}
	} else {
		h, err = e.Register.Start(ctx, opt.RequestID, "erasure", subj)
		if err != nil {
			return nil, e.goneMeanwhile(key, err)
		}
	}
	rep, err := e.erase(ctx, subj, at, h, opt)
	if rep == nil && err != nil {
		err = e.goneMeanwhile(key, err)
	}
	if h != nil {
		if ferr := e.Register.Finish(ctx, h, err); ferr != nil && err == nil {
			err = ferr
		}
	}
	return rep, err
}

// settleLostRace closes, when the subject turns out erased by another
// erasure meanwhile (the ledger has them and the store no longer does),
// the pending erasure requests of theirs that no erasure executed — the one
// this erasure opened or was given included (Register.CloseAlreadyErased).
// Best effort: what it cannot close stays pending, as before, for the DPO.
func (e *Eraser) settleLostRace(ctx context.Context, key store.SubjectKey) {
	if _, err := store.FindSubject(ctx, e.DB, key); !errors.Is(err, store.ErrNotFound) {
		return
	}
	ent, ok := e.ledgerEntryOf(key)
	if !ok {
		return
	}
	_, _ = e.Register.CloseAlreadyErased(ctx, ent.UserID, ledgerDate(ent.At), ent.Request)
}

// ledgerEntryOf looks the key up in the ledger.
func (e *Eraser) ledgerEntryOf(key store.SubjectKey) (ledger.Entry, bool) {
	if e.Ledger == "" {
		return ledger.Entry{}, false
	}
	set, err := ledger.Load(e.Ledger, e.Hasher)
	if err != nil {
		return ledger.Entry{}, false
	}
	return ledgerEntry(set, e.Hasher, key)
}

// goneMeanwhile turns the "no such subject" an erasure meets when another
// one removed the subject after it was looked up into the ledger's answer:
// already erased on DATE (store.ErrNotFound, exit 5).
func (e *Eraser) goneMeanwhile(key store.SubjectKey, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, ferr := store.FindSubject(context.Background(), e.DB, key); !errors.Is(ferr, store.ErrNotFound) {
		return err
	}
	if when, ok := e.erasedBefore(key); ok {
		return fmt.Errorf("%s was already erased on %s (erasure ledger): %w", key, when, store.ErrNotFound)
	}
	return err
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
	ent, ok := ledgerEntry(set, e.Hasher, key)
	return ledgerDate(ent.At), ok
}

// ledgerDate shows a ledger time to the second (RFC 3339, UTC).
func ledgerDate(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339)
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
	// Then new legal holds: one committed by now is read below and kept,
	// one added from now on waits for this erasure (issue 18 item 2).
	if err := store.LockAgainstHolds(ctx, tx); err != nil {
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
	// Their share of the agents' figures, read before anything changes.
	share, err := stats.Contribution(ctx, tx, subj.UserID, at)
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
	if rep.AgentStats, err = store.RemoveAgentContribution(ctx, tx, stats.Scope(at), share); err != nil {
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
		// Reported under the pseudonym, with the decision taken on the
		// subject (it was keyed by their user id: the report showed an
		// empty action, rule and reason).
		rep.Kept = append(rep.Kept, Kept{Category: policies.CatSubjects, ID: pseud.UserID, Action: string(sd.Action), Rule: sd.Rule, Reason: sd.Reason})
		rep.Anonymized[policies.CatSubjects]++
	default:
		if err := store.RestrictSubject(ctx, tx, subj.UserID, ms); err != nil {
			return nil, err
		}
		keep(policies.CatSubjects, subj.UserID)
	}

	// The residue sweep's work list (keyed hashes only).
	if err := residue.Enqueue(ctx, tx, e.Hasher, ref, residue.Identifiers{UserID: subj.UserID, Email: subj.Email, Pseudo: subj.Pseudo}, ms); err != nil {
		return nil, err
	}
	if rep.Notifications, err = e.Notify.Queue(ctx, tx, notify.Erasure(rep.RequestID, ref, subj.UserID, at, rep.Deleted, rep.Anonymized)); err != nil {
		return nil, err
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
	// The follow-up (contents, WAL, residue check) is pending from the
	// commit until it records its outcome: a process killed in between
	// (SIGKILL, the OOM killer) leaves the register saying so (adversarial
	// pass 8 F8: it said done, FOLLOW-UP PENDING nowhere, the subject's
	// documents still on disk).
	// Only where a lost follow-up leaves data behind: contents to remove,
	// or SQLite's WAL to checkpoint (the residue check of a subject is the
	// nightly sweep's too: its work list holds them from this commit).
	if rep.BlobsQueued > 0 || e.DB.Dialect() == store.SQLite {
		rep.followUpOpen = true
		if err := h.Record(ctx, tx, "erase.followup", "pending", seq); err != nil {
			return nil, err
		}
	}
	// An auto-opened request is closed with the erasure it records: after
	// the commit the register already says "done", whatever the follow-up
	// below meets (issue 17 item 5). Finish then has nothing left to do.
	if h.AutoClose || opt.closeRequest {
		req, err := store.LockRequest(ctx, tx, h.Request.RequestID)
		if err != nil {
			return nil, err
		}
		if err := e.Register.close(ctx, tx, &req, false, ""); err != nil {
			return nil, err
		}
		h.Request, h.AutoClose = req, false
	}
	rep.RequestStatus = h.Request.Status
	// The ledger entry is durable before the erasure commits: a crash in
	// between leaves an entry that --reapply completes, never an erasure a
	// backup restore could silently undo.
	if opt.SkipLedger {
		rep.Ledger = "already"
	} else {
		// The address in its normalised form: any form of it finds the
		// entry (ledgerEntry), whatever form the store held.
		ent := ledger.NewEntry(e.Hasher, at, subj.UserID, store.NormalizeEmail(subj.Email), subj.Pseudo, rep.RequestID)
		if err := ledger.Append(e.Ledger, ent); err != nil {
			return nil, err
		}
		rep.Ledger = "appended"
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("erase: commit: %w", err)
	}

	// After the commit: blob contents, the WAL, then the residue scan. The
	// erasure is recorded by now; what fails here is reported as left.
	return e.followUp(ctx, rep, queued, func(ctx context.Context) (*Residue, error) {
		return e.scan(ctx, subj, recs, rep, keptBlobs, sd.Action)
	})
}

// followUp runs an erasure's steps after its commit: remove the queued blob
// contents, checkpoint the SQLite WAL (bounded wait), then scan (when scan
// is not nil). Whatever is left is recorded (audit entry dsr.erase.followup,
// request action erase.followup, outcome "pending") and returned as
// ErrIncomplete naming it; a completed follow-up of a resumed erasure is
// recorded as "done".
func (e *Eraser) followUp(ctx context.Context, rep *EraseReport, queued []string, scan func(context.Context) (*Residue, error)) (*EraseReport, error) {
	var left []string
	var errs []error
	n, err := e.drainBlobs(ctx, queued)
	rep.BlobsDeleted += n
	if err != nil {
		left = append(left, "attachment_contents")
		errs = append(errs, err)
	}
	ck := "n/a"
	if e.DB.Dialect() == store.SQLite {
		wait := e.CheckpointWait
		if wait == 0 {
			wait = DefaultCheckpointWait
		}
		switch ok, err := e.DB.CheckpointWithin(ctx, wait); {
		case err != nil:
			ck = "failed"
			left = append(left, "wal_checkpoint")
			errs = append(errs, err)
		case ok:
			ck = "done"
		default:
			ck = "busy"
			left = append(left, "wal_checkpoint")
			errs = append(errs, fmt.Errorf("the WAL checkpoint stayed busy for %s (a reader held a transaction open): the erased values remain in the store's -wal file", wait))
		}
	}
	if scan != nil {
		res, err := scan(ctx)
		if res == nil {
			res = &Residue{}
		}
		res.Checkpoint = ck
		rep.Residue = res
		if err != nil {
			left = append(left, "residue_scan")
			errs = append(errs, err)
		}
	} else {
		rep.Residue = &Residue{Checkpoint: ck}
		if rep.Resumed {
			// The subject's own check needs identifiers the store no longer
			// holds; the sweep's work list has their keyed hashes since the
			// erasure's commit (adversarial pass 8 F12: a resumed follow-up
			// said done as if the check had run).
			rep.Residue.Deferred = []string{"store", "blobs"}
			rep.Residue.Description = "the subject's own residue check cannot run again (their identifiers are no longer in the store): the nightly sweep (oubli check --residue) checks them, its work list holding their keyed hashes since the erasure"
		}
	}
	rep.Left = left
	outcome := "done"
	if len(left) > 0 {
		outcome = "pending"
	}
	if len(left) > 0 || rep.Resumed || (rep.followUpOpen && rep.RequestID != "") {
		// Recorded even when a signal cut the follow-up short: what is
		// left must be in the register (adversarial pass F6).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := e.recordFollowUp(rctx, rep, outcome, left); err != nil {
			errs = append(errs, fmt.Errorf("record the follow-up: %w", err))
		}
	}
	if len(left) > 0 {
		how := "once the cause is gone, run `oubli erase --request " + rep.RequestID + "` again with the subject named as in this command (--user-id or --email)"
		if rep.RequestID == "" {
			how = "run `oubli check --repair`"
		}
		return rep, fmt.Errorf("the erasure is committed and recorded (request %s: %s); left: %s — %s: %w: %w",
			rep.RequestID, rep.RequestStatus, strings.Join(left, ", "), how, ErrIncomplete, errors.Join(errs...))
	}
	if res := rep.Residue; res != nil && res.TotalFound > 0 {
		return rep, fmt.Errorf("the erasure is committed and recorded (request %s: %s), but: %w: %d occurrence(s) of the subject's identifiers outside what the policies keep (see residue.found)",
			rep.RequestID, rep.RequestStatus, ErrResidue, res.TotalFound)
	}
	return rep, nil
}

// recordFollowUp appends the follow-up's audit entry and, when the erasure
// has a request, links it as the request's action erase.followup.
func (e *Eraser) recordFollowUp(ctx context.Context, rep *EraseReport, outcome string, left []string) error {
	if left == nil {
		left = []string{}
	}
	return e.DB.InTx(ctx, func(tx *store.Tx) error {
		at := e.now()
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: at, Actor: e.Actor, Action: "dsr.erase.followup", SubjectRef: rep.SubjectRef, Outcome: outcome,
			Detail: followUpDetail(rep, left),
		})
		if err != nil || rep.RequestID == "" {
			return err
		}
		a := store.RequestAction{RequestID: rep.RequestID, At: store.Millis(at), Action: "erase.followup", Outcome: outcome}
		a.AuditSeq.Int64, a.AuditSeq.Valid = seq, true
		return store.InsertRequestAction(ctx, tx, a)
	})
}

// followUpDetail is the audit detail of a follow-up: what it removed, what
// is left, and, for a resumed one, that the residue check is the sweep's.
func followUpDetail(rep *EraseReport, left []string) map[string]any {
	d := map[string]any{"request": rep.RequestID, "left": left, "blobs_deleted": rep.BlobsDeleted}
	if rep.Resumed {
		d["residue_check"] = "left_to_sweep"
	}
	return d
}

// resume handles `erase --request ID` for a subject the ledger says is
// erased: when that request recorded the erasure, it finishes the
// follow-up (every queued blob content, the WAL checkpoint) and records
// it, instead of answering "already erased". Another request, or one of
// another type or subject, gets the same refusal as Start gives.
func (e *Eraser) resume(ctx context.Context, key store.SubjectKey, opt EraseOptions, when string) (*EraseReport, error) {
	req, err := store.GetRequest(ctx, e.DB, opt.RequestID)
	if err != nil {
		return nil, err
	}
	hash := ""
	if key.UserID != "" {
		hash = e.Hasher.Hash("user_id", key.UserID)
	} else if set, err := ledger.Load(e.Ledger, e.Hasher); err == nil {
		ent, _ := ledgerEntry(set, e.Hasher, key)
		hash = ent.UserID
	}
	switch {
	case req.Type != "erasure":
		return nil, fmt.Errorf("request %s is an %s request, not erasure: %w", req.RequestID, req.Type, store.ErrInvalid)
	case req.SubjectHash != hash:
		return nil, fmt.Errorf("request %s was made by another subject: %w", req.RequestID, store.ErrInvalid)
	}
	acts, err := store.RequestActions(ctx, e.DB, req.RequestID)
	if err != nil {
		return nil, err
	}
	done := false
	for _, a := range acts {
		done = done || a.Action == "erase" && a.Outcome == "ok"
	}
	if !done {
		return nil, fmt.Errorf("%s was already erased on %s (erasure ledger), not for request %s: %w", key, when, req.RequestID, store.ErrNotFound)
	}
	rep := &EraseReport{SubjectRef: req.SubjectHash, RequestID: req.RequestID, RequestStatus: req.Status, DryRun: opt.DryRun,
		At: e.now(), Deleted: map[string]int64{}, Anonymized: map[string]int64{}, Kept: []Kept{},
		Ledger: "already", ErasedAt: when, Resumed: true}
	if opt.DryRun {
		return rep, nil
	}
	// Every content still queued (this erasure's, and any other's: removing
	// a queued content is always right), bounded per run.
	queued, err := store.QueuedBlobs(ctx, e.DB, 100_000)
	if err != nil {
		return rep, err
	}
	rep.BlobsQueued = int64(len(queued))
	return e.followUp(ctx, rep, queued, nil)
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
	n, err := blobs.DeleteEach(ctx, e.Blobs, keys, func(k string) error { return store.BlobDeleted(ctx, e.DB, k) })
	if err != nil {
		return int64(n), fmt.Errorf("erase: remove attachment contents (left queued for oubli check --repair): %w", err)
	}
	return int64(n), nil
}

// requestIDPattern is the form of the register's ids.
var requestIDPattern = regexp.MustCompile(`^DSR-(\d{4})-(\d{6})$`)

// advanceCounters moves each year's request counter past the highest id
// of that year the ledger names.
func advanceCounters(ctx context.Context, db store.Querier, set *ledger.Set) error {
	last := map[int]int64{}
	for _, ent := range set.Entries {
		m := requestIDPattern.FindStringSubmatch(ent.Request)
		if m == nil {
			continue
		}
		y, _ := strconv.Atoi(m[1])
		n, _ := strconv.ParseInt(m[2], 10, 64)
		last[y] = max(last[y], n)
	}
	for _, y := range slices.Sorted(maps.Keys(last)) {
		if err := store.AdvanceRequestCounter(ctx, db, y, last[y]); err != nil {
			return err
		}
	}
	return nil
}

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
	if !dryRun {
		// The register's counters come back with a restored backup; the
		// ledger names the erasures' request ids issued since: no id is
		// issued twice (adversarial pass 8 F10).
		if err := advanceCounters(ctx, e.DB, set); err != nil {
			return nil, err
		}
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
			} else if _, ok := ledgerEntry(set, e.Hasher, store.SubjectKey{Email: s.Email}); ok {
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
