package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/integrity"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/store"
)

// load is the second pass: one transaction for the whole file. Account
// events that precede the ticket line defining their subject (deferred) are
// loaded in a last sweep that parses only them.
func load(ctx context.Context, db *store.DB, bs blobs.Store, path string, v Result, deferred map[int]bool, opts Options) (res Result, err error) {
	res = v
	now := opts.Now()
	var written []string // blob keys written by this run
	defer func() {
		if err == nil {
			return
		}
		// The transaction rolled back: remove what this run wrote. A crash
		// here leaves orphan files that `oubli check --repair` removes.
		for _, k := range written {
			_ = bs.Delete(context.WithoutCancel(ctx), k)
		}
	}()
	// The attachment index's keyed hashes: the key is read (or made) before
	// the transaction, which must not wait on another connection.
	h, err := db.Hasher(ctx)
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.LockBlobWrites(ctx, tx); err != nil {
			return err
		}
		subjects := newIDSet()
		rows := &batch{now: now, h: h}
		flush := func() error {
			keys, replaced, err := rows.flush(ctx, tx, bs, opts)
			written = append(written, keys...)
			res.BlobsWritten += int64(len(keys))
			res.BlobsReplaced += int64(replaced)
			return err
		}
		for sweep := 0; sweep < 2; sweep++ {
			if sweep == 1 && len(deferred) == 0 {
				break
			}
			sum, err := scan(ctx, path, opts.MaxLineBytes, func(n int, line []byte, tooLong bool) error {
				if deferred[n] != (sweep == 1) {
					return nil
				}
				if tooLong {
					return fmt.Errorf("line %d: %w", n, ErrChanged)
				}
				rec, faults := parseLine(line)
				if len(faults) > 0 {
					return fmt.Errorf("line %d: %w", n, ErrChanged)
				}
				switch {
				case rec.Ticket != nil:
					rows.addTicket(rec.Ticket, subjects, n)
				case rec.Event != nil:
					e := rec.Event
					rows.add(lineRows{line: n, event: &store.AccountEvent{
						EventID: e.ID, UserID: e.UserID, Type: e.Type, At: store.Millis(e.At), Detail: e.Detail,
					}})
				}
				if rows.full() {
					return flush()
				}
				return nil
			})
			if err == nil {
				err = flush()
			}
			if err != nil {
				return err
			}
			if sum != v.File {
				return ErrChanged
			}
		}
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: now, Actor: opts.Actor, Action: "ingest", Outcome: "ok",
			Detail: map[string]any{
				"file_sha256": res.File, "lines": res.Lines, "subjects": res.Subjects, "tickets": res.Tickets,
				"messages": res.Messages, "attachments": res.Attachments, "attachment_bytes": res.AttachmentBytes,
				"account_events": res.AccountEvents, "blobs_written": res.BlobsWritten,
				"blobs_replaced": res.BlobsReplaced, "allow_erased": opts.AllowErased,
				"erased_reimported": res.ErasedReimports,
			},
		})
		res.AuditSeq = seq
		return err
	})
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	// Committed: remove the contents of attachments that were replaced.
	if res.BlobsReplaced > 0 {
		if _, derr := integrity.DrainBlobQueue(ctx, db, bs, 0); derr != nil {
			// The queue is durable; `oubli check --repair` finishes it.
			return res, nil
		}
	}
	return res, nil
}

// batchRows is how many rows (subjects, tickets, messages, events) a
// batch gathers before it is written: a few multi-row statements instead of
// one round trip per row, and memory bounded whatever the file's size.
const batchRows = 2000

// rowByRow writes each row in its own statement, as ingest did before
// batches: BenchmarkIngest's baseline.
var rowByRow = false

// batchAttachmentBytes bounds the attachment contents (base64) a batch
// holds before it is written.
const batchAttachmentBytes = 16 << 20

// lineRows are the rows of one line; a ticket line's attachments are
// written after the batch's rows (they refer to their ticket and message).
type lineRows struct {
	line     int
	subject  *store.Subject // nil when an earlier line already had it
	ticket   *store.Ticket
	messages []store.Message
	event    *store.AccountEvent
	atts     *ticket // the line's ticket when it has attachments
}

// batch gathers the rows of consecutive lines and writes them in multi-row
// upserts, parents first: subjects, tickets, messages, account events. A
// batch that fails is rolled back to its savepoint and written again line
// by line, so that the error names the line at fault.
type batch struct {
	now      time.Time      // the subjects' created_at / updated_at
	h        residue.Hasher // the attachment index's keyed hashes
	lines    []lineRows
	n        int // rows gathered
	attBytes int // attachment contents held
}

func (b *batch) add(l lineRows) {
	b.lines = append(b.lines, l)
	b.n += 1 + len(l.messages)
	if l.subject != nil {
		b.n++
	}
	if l.atts != nil {
		for _, a := range l.atts.Attachments {
			b.n++
			b.attBytes += len(a.Base64)
		}
	}
}

// addTicket gathers a ticket line's subject (the first time the file names
// it), ticket and messages.
func (b *batch) addTicket(t *ticket, subjects *idSet, line int) {
	l := lineRows{line: line, ticket: &store.Ticket{
		TicketID: t.ID, UserID: store.NullString(t.User.ID), RequestNumber: t.RequestNumber,
		Subject: t.Subject, Description: t.Description, TransactionRef: store.NullString(t.TransactionRef),
		DisputeStatus: t.DisputeStatus, Status: t.Status, CreatedAt: store.Millis(t.CreatedAt),
		ClosedAt: store.NullMillis(t.ClosedAt),
	}}
	if subjects.add(t.User.ID, line) == 0 {
		l.subject = &store.Subject{
			UserID: t.User.ID, Email: store.NormalizeEmail(t.User.Email), Pseudo: t.User.Pseudo,
			AccountCreatedAt: store.NullMillis(t.User.CreatedAt), AccountClosedAt: store.NullMillis(t.User.ClosedAt),
		}
	}
	for _, m := range t.Messages {
		l.messages = append(l.messages, store.Message{
			MessageID: m.ID, TicketID: t.ID, Author: m.Author, AgentID: store.NullString(m.AgentID),
			Body: m.Body, SentAt: store.Millis(m.SentAt),
		})
	}
	if len(t.Attachments) > 0 {
		l.atts = t
	}
	b.add(l)
}

func (b *batch) full() bool { return b.n >= batchRows || b.attBytes >= batchAttachmentBytes }

// flush writes the gathered rows, then the attachments of their lines, and
// empties the batch. It returns the blob keys it wrote (even on error, for
// the cleanup) and how many attachments got new contents.
func (b *batch) flush(ctx context.Context, tx *store.Tx, bs blobs.Store, opts Options) (written []string, replaced int, err error) {
	if len(b.lines) == 0 {
		return nil, 0, nil
	}
	defer func() { b.lines, b.n, b.attBytes = b.lines[:0], 0, 0 }()
	if err := b.guard(ctx, tx, opts); err != nil {
		return nil, 0, err
	}
	if err := b.writeRows(ctx, tx); err != nil {
		return nil, 0, err
	}
	return b.writeAttachments(ctx, tx, bs, opts)
}

// guard runs, inside the load's transaction and before the batch is
// written, the checks that must hold at commit and not only when the file
// was validated (issue 17): it takes the subject lock an erasure takes on the
// batch's subjects, then refuses a subject erased since the validation read
// the erasure ledger, and any record that would move from one ticket or
// subject to another. Each is a fault of its line (*FaultsError, exit 2).
func (b *batch) guard(ctx context.Context, tx *store.Tx, opts Options) error {
	var ids []string
	seen := map[string]bool{}
	var owners ownerCheck
	for _, l := range b.lines {
		uid := ""
		switch {
		case l.ticket != nil:
			uid = l.ticket.UserID.String
			if l.subject != nil && l.subject.Email != "" {
				owners.add(store.OwnedEmail, l.subject.Email, uid, l.line, 0)
			}
			owners.add(store.OwnedTicket, l.ticket.TicketID, uid, l.line, 0)
			for i, m := range l.messages {
				owners.add(store.OwnedMessage, m.MessageID, m.TicketID, l.line, i)
			}
			if l.atts != nil {
				for i, a := range l.atts.Attachments {
					owners.add(store.OwnedAttachment, a.ID, l.atts.ID, l.line, i)
				}
			}
		case l.event != nil:
			uid = l.event.UserID
			owners.add(store.OwnedEvent, l.event.EventID, uid, l.line, 0)
		}
		if uid != "" && !seen[uid] {
			seen[uid] = true
			ids = append(ids, uid)
		}
	}
	sort.Strings(ids) // one lock order for every writer
	if err := store.LockSubjects(ctx, tx, ids); err != nil {
		return err
	}
	var faults []Fault
	if opts.ReloadErased != nil && !opts.AllowErased {
		erased, changed, err := opts.ReloadErased()
		if err != nil {
			return fmt.Errorf("erasure ledger: %w", err)
		}
		if changed {
			checked := map[string]bool{}
			for _, l := range b.lines {
				uid, email := "", ""
				switch {
				case l.ticket != nil:
					uid = l.ticket.UserID.String
					if l.subject != nil {
						email = l.subject.Email
					}
				case l.event != nil:
					uid = l.event.UserID
				}
				if uid == "" || checked[uid] {
					continue
				}
				checked[uid] = true
				was, err := erased(uid, email)
				if err != nil {
					return fmt.Errorf("erasure ledger lookup: %w", err)
				}
				if was {
					faults = append(faults, Fault{Line: l.line,
						Reason: "subject was erased while this file was being loaded (it is in the erasure ledger); use --allow-erased to re-import it"})
				}
			}
		}
	}
	ofs, err := owners.run(ctx, storeOwners(tx))
	if err != nil {
		return err
	}
	faults = append(faults, ofs...)
	if len(faults) > 0 {
		sort.SliceStable(faults, func(i, j int) bool { return faults[i].Line < faults[j].Line })
		return &FaultsError{Faults: faults}
	}
	return nil
}

// writeRows writes the batch's rows but attachments.
func (b *batch) writeRows(ctx context.Context, tx *store.Tx) error {
	if rowByRow { // the benchmark's baseline
		for _, l := range b.lines {
			if err := writeLine(ctx, tx, l, b.now); err != nil {
				return fmt.Errorf("line %d: %w", l.line, err)
			}
		}
		return nil
	}
	var ss []store.Subject
	var ts []store.Ticket
	var ms []store.Message
	var es []store.AccountEvent
	for _, l := range b.lines {
		if l.subject != nil {
			ss = append(ss, *l.subject)
		}
		if l.ticket != nil {
			ts = append(ts, *l.ticket)
		}
		ms = append(ms, l.messages...)
		if l.event != nil {
			es = append(es, *l.event)
		}
	}
	now := b.now
	err := tx.Savepoint(ctx, func() error {
		if err := store.UpsertSubjects(ctx, tx, ss, now); err != nil {
			return err
		}
		if err := store.UpsertTickets(ctx, tx, ts); err != nil {
			return err
		}
		if err := store.UpsertMessages(ctx, tx, ms); err != nil {
			return err
		}
		return store.UpsertAccountEvents(ctx, tx, es)
	})
	if err == nil {
		return nil
	}
	// Find the line at fault: the same rows, one line at a time.
	for _, l := range b.lines {
		if err := writeLine(ctx, tx, l, now); err != nil {
			return fmt.Errorf("line %d: %w", l.line, err)
		}
	}
	return err // the batch failed but no line alone does: say so as it is
}

// writeLine writes one line's rows with single-row upserts.
func writeLine(ctx context.Context, tx *store.Tx, l lineRows, now time.Time) error {
	if l.subject != nil {
		if err := store.UpsertSubject(ctx, tx, *l.subject, now); err != nil {
			return err
		}
	}
	if l.ticket != nil {
		if err := store.UpsertTicket(ctx, tx, *l.ticket); err != nil {
			return err
		}
	}
	for _, m := range l.messages {
		if err := store.UpsertMessage(ctx, tx, m); err != nil {
			return err
		}
	}
	if l.event != nil {
		return store.UpsertAccountEvent(ctx, tx, *l.event)
	}
	return nil
}

// putWorkers is how many attachment contents are written to the blob
// store at once: each write syncs a file and its directory, and concurrent
// syncs share the file system's journal commits.
const putWorkers = 8

// attachmentWrite is one attachment of the batch on its way in.
type attachmentWrite struct {
	line int
	row  store.Attachment
	a    *attachment
	put  bool  // new contents to write under row.BlobKey
	err  error // of the contents' write
	// index: the keyed hashes of the new contents' tokens (residue).
	index store.AttachmentIndex
}

// writeAttachments writes the attachments of the batch's lines: the new
// contents to the blob store, putWorkers at a time, then the rows in line
// order. It returns the blob keys it wrote (even on error, for the
// cleanup) and how many attachments got new contents; an error names the
// first line at fault.
func (b *batch) writeAttachments(ctx context.Context, tx *store.Tx, bs blobs.Store, opts Options) (written []string, replaced int, err error) {
	var ws []*attachmentWrite
	for _, l := range b.lines {
		if l.atts == nil {
			continue
		}
		for i := range l.atts.Attachments {
			a := &l.atts.Attachments[i]
			w := &attachmentWrite{line: l.line, a: a, row: store.Attachment{
				AttachmentID: a.ID, TicketID: l.atts.ID, MessageID: store.NullString(a.MessageID),
				Filename: a.Filename, ContentType: a.ContentType, UploadedAt: store.Millis(a.UploadedAt),
			}}
			old, err := store.GetAttachment(ctx, tx, a.ID)
			switch {
			case err == nil && old.SHA256 == a.SHA256 && old.Size == a.Size:
				// Same contents: keep the blob, update the metadata only.
				w.row.BlobKey, w.row.SHA256, w.row.Size = old.BlobKey, old.SHA256, old.Size
			case err == nil || errors.Is(err, store.ErrNotFound):
				w.put, w.row.BlobKey = true, blobs.NewKey()
				written = append(written, w.row.BlobKey)
			default:
				return written, replaced, fmt.Errorf("line %d: %w", l.line, err)
			}
			ws = append(ws, w)
		}
	}
	// The contents, concurrently. Each write is checked against the hash
	// and size the first pass computed from the same line.
	jobs := make(chan *attachmentWrite)
	var wg sync.WaitGroup
	for range min(putWorkers, len(ws)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range jobs {
				sum, size, err := blobs.PutTyped(ctx, bs, w.row.BlobKey, w.a.ContentType, base64.NewDecoder(base64.StdEncoding, strings.NewReader(w.a.Base64)))
				switch {
				case err != nil:
					w.err = fmt.Errorf("store attachment %s: %w", w.a.ID, err)
				case sum != w.a.SHA256 || size != w.a.Size:
					w.err = fmt.Errorf("attachment %s: %w", w.a.ID, ErrChanged)
				default:
					w.row.SHA256, w.row.Size = sum, size
					// The attachment index: identifiers in the contents,
					// as keyed hashes, read from the same line's data.
					ix, err := residue.IndexDocument(b.h, w.a.ContentType, base64.NewDecoder(base64.StdEncoding, strings.NewReader(w.a.Base64)))
					if err != nil {
						w.err = fmt.Errorf("index attachment %s: %w", w.a.ID, err)
					}
					ix.BlobKey = w.row.BlobKey
					w.index = ix
				}
			}
		}()
	}
	for _, w := range ws {
		if w.put {
			jobs <- w
		}
	}
	close(jobs)
	wg.Wait()
	now := opts.Now()
	for _, w := range ws {
		if w.err != nil {
			return written, replaced, fmt.Errorf("line %d: %w", w.line, w.err)
		}
		r, err := store.UpsertAttachment(ctx, tx, w.row, now)
		if err != nil {
			return written, replaced, fmt.Errorf("line %d: %w", w.line, err)
		}
		if r != "" {
			replaced++
		}
		if w.put {
			if _, err := store.PutAttachmentIndex(ctx, tx, w.index, store.Millis(now)); err != nil {
				return written, replaced, fmt.Errorf("line %d: %w", w.line, err)
			}
		}
	}
	return written, replaced, nil
}
