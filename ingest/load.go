package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/integrity"
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
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.LockBlobWrites(ctx, tx); err != nil {
			return err
		}
		subjects := newIDSet()
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
					keys, replaced, err := loadTicket(ctx, tx, bs, rec.Ticket, subjects, n, opts)
					written = append(written, keys...)
					res.BlobsWritten += int64(len(keys))
					res.BlobsReplaced += int64(replaced)
					if err != nil {
						return fmt.Errorf("line %d: %w", n, err)
					}
				case rec.Event != nil:
					e := rec.Event
					if err := store.UpsertAccountEvent(ctx, tx, store.AccountEvent{
						EventID: e.ID, UserID: e.UserID, Type: e.Type, At: store.Millis(e.At), Detail: e.Detail,
					}); err != nil {
						return fmt.Errorf("line %d: %w", n, err)
					}
				}
				return nil
			})
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

// loadTicket upserts one ticket line: its subject, the ticket, its messages
// and its attachments. It returns the blob keys it wrote (even on error, for
// the cleanup) and how many attachments got new contents.
func loadTicket(ctx context.Context, tx *store.Tx, bs blobs.Store, t *ticket, subjects *idSet, line int, opts Options) (written []string, replaced int, err error) {
	now := opts.Now()
	if subjects.add(t.User.ID, line) == 0 {
		if err := store.UpsertSubject(ctx, tx, store.Subject{
			UserID: t.User.ID, Email: t.User.Email, Pseudo: t.User.Pseudo,
			AccountCreatedAt: store.NullMillis(t.User.CreatedAt), AccountClosedAt: store.NullMillis(t.User.ClosedAt),
		}, now); err != nil {
			return nil, 0, err
		}
	}
	if err := store.UpsertTicket(ctx, tx, store.Ticket{
		TicketID: t.ID, UserID: store.NullString(t.User.ID), RequestNumber: t.RequestNumber,
		Subject: t.Subject, Description: t.Description, TransactionRef: store.NullString(t.TransactionRef),
		DisputeStatus: t.DisputeStatus, Status: t.Status, CreatedAt: store.Millis(t.CreatedAt),
		ClosedAt: store.NullMillis(t.ClosedAt),
	}); err != nil {
		return nil, 0, err
	}
	for _, m := range t.Messages {
		if err := store.UpsertMessage(ctx, tx, store.Message{
			MessageID: m.ID, TicketID: t.ID, Author: m.Author, AgentID: store.NullString(m.AgentID),
			Body: m.Body, SentAt: store.Millis(m.SentAt),
		}); err != nil {
			return nil, 0, err
		}
	}
	for _, a := range t.Attachments {
		row := store.Attachment{
			AttachmentID: a.ID, TicketID: t.ID, MessageID: store.NullString(a.MessageID),
			Filename: a.Filename, ContentType: a.ContentType, UploadedAt: store.Millis(a.UploadedAt),
		}
		old, err := store.GetAttachment(ctx, tx, a.ID)
		switch {
		case err == nil && old.SHA256 == a.SHA256 && old.Size == a.Size:
			// Same contents: keep the blob, update the metadata only.
			row.BlobKey, row.SHA256, row.Size = old.BlobKey, old.SHA256, old.Size
		case err == nil || errors.Is(err, store.ErrNotFound):
			key := blobs.NewKey()
			written = append(written, key)
			sum, size, err := bs.Put(ctx, key, base64.NewDecoder(base64.StdEncoding, strings.NewReader(a.Base64)))
			if err != nil {
				return written, replaced, fmt.Errorf("store attachment %s: %w", a.ID, err)
			}
			if sum != a.SHA256 || size != a.Size {
				return written, replaced, fmt.Errorf("attachment %s: %w", a.ID, ErrChanged)
			}
			row.BlobKey, row.SHA256, row.Size = key, sum, size
		default:
			return written, replaced, err
		}
		r, err := store.UpsertAttachment(ctx, tx, row, now)
		if err != nil {
			return written, replaced, err
		}
		if r != "" {
			replaced++
		}
	}
	return written, replaced, nil
}
