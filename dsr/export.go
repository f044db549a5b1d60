package dsr

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

//go:embed schema/data.schema.json
var schemaFS embed.FS

// DataSchema returns data.json's JSON Schema (dsr/schema/data.schema.json).
func DataSchema() []byte {
	b, err := schemaFS.ReadFile("schema/data.schema.json")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// ErrIntegrity marks an attachment whose stored contents no longer match
// the SHA-256 or size recorded when it was received (exit 1: the export is
// not written).
var ErrIntegrity = errors.New("attachment contents do not match their recorded checksum")

// InformationSource renders the Art. 15(1) information from the policies
// (*policies.Engine implements it).
type InformationSource interface {
	AccessInformation(ctx context.Context) (policies.Information, error)
}

// Exporter writes access and portability archives (Art. 15, 20).
type Exporter struct {
	Register *Register
	Blobs    blobs.Store
	Info     InformationSource
}

// ExportOptions name what to export and where.
type ExportOptions struct {
	Subject   store.SubjectKey
	RequestID string // "" opens (and closes) a request of its own
	Out       string // the archive's path
	Force     bool   // replace an existing file at Out
	// Lang is the language of index.html and information.json's
	// "language": "fr" or "en"; "" takes the policies' (information.language).
	Lang string
}

// ExportResult describes a written archive. It holds no personal data.
type ExportResult struct {
	Path          string `json:"path"`
	RequestID     string `json:"request_id"`
	RequestStatus string `json:"request_status"`
	GeneratedAt   string `json:"generated_at"`
	SHA256        string `json:"sha256"`
	Bytes         int64  `json:"bytes"`
	Counts        Counts `json:"counts"`
	AuditSeq      int64  `json:"audit_seq"`
}

// Export writes the archive of everything held on the subject to opts.Out:
// data.json (schema.json describes it), attachments/ (the original files,
// checked against their SHA-256), information.json and index.html (the
// Art. 15(1) information and a readable, printable page). The archive is
// written in Out's directory, unnamed where the file system allows
// (export_file.go), and synced; the export is then recorded in the register
// (the given request, or one opened and closed for it) with an audit entry
// holding the keyed subject hash, counts and the archive's SHA-256, never
// content; only then does the archive appear at Out (mode 0600), by a link or
// a rename. A file at Out is therefore always complete and recorded; a
// killed export leaves none, nor any part of one (on a file system without
// unnamed files, the next export in that directory removes it). If the
// archive cannot be placed after it was recorded, the failure is recorded
// after it.
func (x *Exporter) Export(ctx context.Context, opts ExportOptions) (ExportResult, error) {
	var res ExportResult
	if err := checkOut(opts.Out, opts.Force); err != nil {
		return res, err
	}
	if opts.Lang != "" && !slices.Contains(Languages, opts.Lang) {
		return res, fmt.Errorf("export language %q: the page is written in %s: %w", opts.Lang, strings.Join(Languages, " or "), store.ErrInvalid)
	}
	sweepStale(filepath.Dir(opts.Out))
	db := x.Register.DB
	subj, err := store.FindSubject(ctx, db, opts.Subject)
	if err != nil {
		return res, err
	}
	info, err := x.Info.AccessInformation(ctx)
	if err != nil {
		return res, fmt.Errorf("access information: %w", err)
	}
	// The page is in one language; information.json says which, and gives
	// every text of the policies in both.
	info.Language = pageLanguage(info.Language)
	if opts.Lang != "" {
		info.Language = opts.Lang
	}
	h, err := x.Register.Start(ctx, opts.RequestID, "access", subj)
	if err != nil {
		return res, err
	}
	res, err = x.export(ctx, h, subj, info, opts)
	if err != nil {
		x.recordFailure(ctx, h, err)
	}
	if ferr := x.Register.Finish(ctx, h, err); ferr != nil && err == nil {
		err = fmt.Errorf("close request %s: %w", h.Request.RequestID, ferr)
	}
	res.RequestStatus = h.Request.Status
	return res, err
}

// Languages are the languages an export page can be written in.
var Languages = []string{"fr", "en"}

// pageLanguage is the policies' language for the page, French unless it is
// one of Languages.
func pageLanguage(lang string) string {
	if slices.Contains(Languages, lang) {
		return lang
	}
	return "fr"
}

func checkOut(out string, force bool) error {
	if out == "" {
		return fmt.Errorf("no output file (--out FILE.zip): %w", store.ErrInvalid)
	}
	dir := filepath.Dir(out)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("output directory %s does not exist: %w", dir, store.ErrInvalid)
	}
	if st, err := os.Lstat(out); err == nil {
		if st.IsDir() {
			return fmt.Errorf("output %s is a directory: %w", out, store.ErrInvalid)
		}
		if !force {
			return existsError(out)
		}
	}
	return nil
}

func (x *Exporter) recordFailure(ctx context.Context, h *Handle, cause error) {
	_ = x.Register.DB.InTx(ctx, func(tx *store.Tx) error {
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: x.Register.now(), Actor: auditActor, Action: "dsr.export", SubjectRef: h.Request.SubjectHash,
			Outcome: "failed", Detail: map[string]any{"request_id": h.Request.RequestID},
		})
		if err != nil {
			return err
		}
		return h.Record(ctx, tx, "export", "failed", seq)
	})
}

func (x *Exporter) export(ctx context.Context, h *Handle, subj store.Subject, info policies.Information, opts ExportOptions) (ExportResult, error) {
	now := x.Register.now()
	res := ExportResult{Path: opts.Out, RequestID: h.Request.RequestID, GeneratedAt: now.Format(time.RFC3339Nano)}
	// A purge committing while the archive is written removes contents the
	// snapshot still lists (rows go first, their contents after the
	// commit): the archive is then written again from a new snapshot, in
	// which those rows are gone, so that rows and files always agree.
	var af *archiveFile
	for attempt := 1; ; attempt++ {
		var counts Counts
		var err error
		af, counts, err = x.writeArchive(ctx, h, subj, info, opts, now, &res)
		if err == nil {
			res.Counts = counts
			break
		}
		if af != nil {
			af.close()
		}
		if !errors.Is(err, blobs.ErrNotFound) || attempt == maxSnapshots {
			return res, err
		}
	}
	defer af.close() // an archive never placed leaves nothing
	if !opts.Force {
		if _, err := os.Lstat(opts.Out); err == nil {
			return res, existsError(opts.Out) // appeared meanwhile: refused before it is recorded
		}
	}
	// Record the export, then let the archive appear: a file at Out is
	// always a recorded export. Killed in between, the export is recorded
	// and its archive never appears.
	counts := res.Counts
	err := x.Register.DB.InTx(ctx, func(tx *store.Tx) error {
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: now, Actor: auditActor, Action: "dsr.export", SubjectRef: h.Request.SubjectHash, Outcome: "ok",
			Detail: map[string]any{
				"request_id": h.Request.RequestID, "counts": counts,
				"archive_sha256": res.SHA256, "archive_bytes": res.Bytes, "schema_version": ExportSchemaVersion,
			},
		})
		if err != nil {
			return err
		}
		res.AuditSeq = seq
		return h.Record(ctx, tx, "export", "ok", seq)
	})
	if err != nil {
		return res, fmt.Errorf("record export: %w", err)
	}
	return res, af.place(opts.Out, opts.Force)
}

// maxSnapshots bounds how many times an export reads a new snapshot after a
// concurrent purge removed contents its snapshot listed.
const maxSnapshots = 5

// writeArchive writes, synced, one archive from one snapshot into an
// unnamed file of Out's directory, and fills res's size and checksum. On
// error the returned file (if any) is to be closed by the caller.
func (x *Exporter) writeArchive(ctx context.Context, h *Handle, subj store.Subject, info policies.Information, opts ExportOptions, now time.Time, res *ExportResult) (*archiveFile, Counts, error) {
	af, err := createArchiveFile(filepath.Dir(opts.Out))
	if err != nil {
		return nil, Counts{}, fmt.Errorf("create archive: %w", err)
	}
	f := af.f
	if err := f.Chmod(0o600); err != nil {
		return af, Counts{}, fmt.Errorf("create archive: %w", err)
	}
	sum := sha256.New()
	cw := &countWriter{}
	bw := bufio.NewWriterSize(io.MultiWriter(f, sum, cw), 1<<20)
	a := &archive{zw: zip.NewWriter(bw), modified: now, blobs: x.Blobs}
	counts, err := a.write(ctx, x.Register, subj, info, h.Request.RequestID, now)
	if err != nil {
		return af, counts, err
	}
	if err := a.zw.Close(); err != nil {
		return af, counts, fmt.Errorf("write archive: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return af, counts, fmt.Errorf("write archive: %w", err)
	}
	if err := f.Sync(); err != nil {
		return af, counts, fmt.Errorf("sync archive: %w", err)
	}
	res.Bytes, res.SHA256 = cw.n, hex.EncodeToString(sum.Sum(nil))
	return af, counts, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// archive writes the entries of one export.
type archive struct {
	zw       *zip.Writer
	modified time.Time
	blobs    blobs.Store
}

func (a *archive) create(name string, method uint16) (io.Writer, error) {
	w, err := a.zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: a.modified})
	if err != nil {
		return nil, fmt.Errorf("archive entry %s: %w", name, err)
	}
	return w, nil
}

// snapshot is what is read once, before the streamed parts.
type snapshot struct {
	subject    xSubject
	stats      *xStats
	objections []xObjection
	requests   []xRequest
	holds      []xHold
}

func (a *archive) write(ctx context.Context, reg *Register, subj store.Subject, info policies.Information, requestID string, now time.Time) (Counts, error) {
	var c Counts
	tx, err := reg.DB.BeginRead(ctx)
	if err != nil {
		return c, err
	}
	defer tx.Rollback()
	snap, err := readSnapshot(ctx, tx, reg.SubjectHash(subj.UserID), subj.UserID)
	if err != nil {
		return c, err
	}
	c.Objections, c.Requests, c.LegalHolds = int64(len(snap.objections)), int64(len(snap.requests)), int64(len(snap.holds))
	if snap.stats != nil {
		c.SubjectStats = 1
	}
	agents := newAgentNames("Agent")

	w, err := a.create("data.json", zip.Deflate)
	if err != nil {
		return c, err
	}
	if err := writeData(ctx, tx, w, subj, snap, agents, requestID, now, &c); err != nil {
		return c, err
	}
	w, err = a.create("index.html", zip.Deflate)
	if err != nil {
		return c, err
	}
	if err := writePage(ctx, tx, w, subj, snap, info, agents, requestID, now, c); err != nil {
		return c, err
	}
	if err := a.copyAttachments(ctx, tx, subj.UserID); err != nil {
		return c, err
	}
	w, err = a.create("information.json", zip.Deflate)
	if err != nil {
		return c, err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(info); err != nil {
		return c, fmt.Errorf("write information.json: %w", err)
	}
	w, err = a.create("schema.json", zip.Deflate)
	if err != nil {
		return c, err
	}
	if _, err := w.Write(DataSchema()); err != nil {
		return c, fmt.Errorf("write schema.json: %w", err)
	}
	return c, nil
}

func readSnapshot(ctx context.Context, tx *store.Tx, subjectHash, userID string) (snapshot, error) {
	var s snapshot
	subj, err := store.FindSubject(ctx, tx, store.SubjectKey{UserID: userID})
	if err != nil {
		return s, err
	}
	s.subject = viewSubject(subj)
	st, err := store.SubjectStatOf(ctx, tx, userID)
	if err != nil {
		return s, err
	}
	if st != nil {
		s.stats = &xStats{AvgResponseSeconds: st.AvgResponseSeconds, ResponsesCounted: st.ResponsesCounted, ComputedAt: rfc(st.ComputedAt)}
	}
	objs, err := store.SubjectObjections(ctx, tx, userID)
	if err != nil {
		return s, err
	}
	s.objections = []xObjection{}
	for _, o := range objs {
		s.objections = append(s.objections, xObjection{Purpose: o.Purpose, CreatedAt: rfc(o.CreatedAt), RequestID: nstr(o.RequestID)})
	}
	reqs, err := store.SubjectRequests(ctx, tx, subjectHash)
	if err != nil {
		return s, err
	}
	s.requests = []xRequest{}
	for _, r := range reqs {
		acts, err := store.RequestActions(ctx, tx, r.RequestID)
		if err != nil {
			return s, err
		}
		s.requests = append(s.requests, viewRequest(r, acts))
	}
	holds, err := store.SubjectHolds(ctx, tx, userID)
	if err != nil {
		return s, err
	}
	s.holds = []xHold{}
	for _, h := range holds {
		s.holds = append(s.holds, viewHold(h))
	}
	return s, nil
}

// writeData streams data.json.
func writeData(ctx context.Context, tx *store.Tx, w io.Writer, subj store.Subject, snap snapshot, agents *agentNames, requestID string, now time.Time, c *Counts) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	j := &jsonOut{w: bw}
	j.raw("{\n  \"schema_version\": ")
	j.value(ExportSchemaVersion, "  ")
	j.raw(",\n  \"generated_at\": ")
	j.value(now.Format(time.RFC3339Nano), "  ")
	j.raw(",\n  \"request_id\": ")
	j.value(requestID, "  ")
	j.raw(",\n  \"subject\": ")
	j.value(snap.subject, "  ")
	j.raw(",\n  \"tickets\": ")
	tickets := j.beginArray("  ")
	var msgs *jsonArray
	err := store.WalkSubjectTickets(ctx, tx, subj.UserID, store.TicketVisitor{
		Ticket: func(t store.Ticket, atts []store.Attachment) error {
			c.Tickets++
			if tickets.n > 0 {
				j.raw(",")
			}
			tickets.n++
			j.raw("\n    ")
			j.openObject(viewTicket(t), "    ")
			j.raw(",\n      \"attachments\": ")
			xa := make([]xAttachment, 0, len(atts))
			for _, a := range atts {
				xa = append(xa, viewAttachment(a))
				c.Attachments++
				c.AttachmentBytes += a.Size
			}
			j.value(xa, "      ")
			j.raw(",\n      \"messages\": ")
			msgs = j.beginArray("      ")
			return j.err
		},
		Message: func(m store.Message) error {
			c.Messages++
			msgs.item(viewMessage(m, agents))
			return j.err
		},
		End: func(store.Ticket) error {
			msgs.end()
			j.raw("\n    }")
			return j.err
		},
	})
	if err != nil {
		return err
	}
	tickets.end()
	j.raw(",\n  \"account_events\": ")
	events := j.beginArray("  ")
	err = store.EachSubjectEvent(ctx, tx, subj.UserID, func(e store.AccountEvent) error {
		c.AccountEvents++
		events.item(xEvent{EventID: e.EventID, Type: e.Type, At: rfc(e.At), Detail: e.Detail})
		return j.err
	})
	if err != nil {
		return err
	}
	events.end()
	j.raw(",\n  \"subject_stats\": ")
	j.value(snap.stats, "  ")
	j.raw(",\n  \"objections\": ")
	j.value(snap.objections, "  ")
	j.raw(",\n  \"requests\": ")
	j.value(snap.requests, "  ")
	j.raw(",\n  \"legal_holds\": ")
	j.value(snap.holds, "  ")
	j.raw(",\n  \"counts\": ")
	j.value(c, "  ")
	j.raw("\n}\n")
	if j.err != nil {
		return fmt.Errorf("write data.json: %w", j.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write data.json: %w", err)
	}
	return nil
}

// writePage streams index.html.
func writePage(ctx context.Context, tx *store.Tx, w io.Writer, subj store.Subject, snap snapshot, info policies.Information, agents *agentNames, requestID string, now time.Time, c Counts) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	p, err := newPage(bw, info)
	if err != nil {
		return err
	}
	p.exec("head", map[string]any{
		"Lang": p.lang, "GeneratedAt": now.Format(time.RFC3339Nano), "RequestID": requestID,
		"Counts": c, "Subject": snap.subject,
	})
	var ticketAtts []xAttachment // attachments of the current ticket not tied to a message
	var msgAtts map[string][]xAttachment
	var tn, mn int
	err = store.WalkSubjectTickets(ctx, tx, subj.UserID, store.TicketVisitor{
		Ticket: func(t store.Ticket, atts []store.Attachment) error {
			tn++
			ticketAtts, msgAtts = nil, map[string][]xAttachment{}
			for _, a := range atts {
				x := viewAttachment(a)
				if a.MessageID.Valid {
					msgAtts[a.MessageID.String] = append(msgAtts[a.MessageID.String], x)
				} else {
					ticketAtts = append(ticketAtts, x)
				}
			}
			p.exec("ticket_open", map[string]any{"T": viewTicket(t), "Anchor": tn})
			return p.err
		},
		Message: func(m store.Message) error {
			mn++
			atts := msgAtts[m.MessageID]
			delete(msgAtts, m.MessageID)
			p.exec("message", map[string]any{"M": viewMessage(m, agents), "Atts": atts, "Anchor": mn})
			return p.err
		},
		End: func(store.Ticket) error {
			// Attachments naming a message that is not in this ticket are
			// shown with the ticket rather than lost.
			for _, rest := range msgAtts {
				ticketAtts = append(ticketAtts, rest...)
			}
			p.exec("ticket_close", map[string]any{"Atts": ticketAtts})
			return p.err
		},
	})
	if err != nil {
		return err
	}
	p.exec("events_open", map[string]any{"Counts": c})
	err = store.EachSubjectEvent(ctx, tx, subj.UserID, func(e store.AccountEvent) error {
		p.exec("event", xEvent{EventID: e.EventID, Type: e.Type, At: rfc(e.At), Detail: e.Detail})
		return p.err
	})
	if err != nil {
		return err
	}
	p.exec("tail", map[string]any{
		"Counts": c, "Stats": snap.stats, "Objections": snap.objections, "Requests": snap.requests,
		"Holds": snap.holds, "Info": info, "SchemaVersion": ExportSchemaVersion,
	})
	if p.err != nil {
		return p.err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write index.html: %w", err)
	}
	return nil
}

// copyAttachments copies every attachment's original file into the archive,
// byte for byte, checking its SHA-256 and size against the recorded ones.
func (a *archive) copyAttachments(ctx context.Context, tx *store.Tx, userID string) error {
	buf := make([]byte, 256<<10)
	return store.EachSubjectAttachment(ctx, tx, userID, func(att store.Attachment) error {
		name := AttachmentPath(att.AttachmentID, att.Filename)
		w, err := a.create(name, zip.Store)
		if err != nil {
			return err
		}
		r, err := a.blobs.Open(ctx, att.BlobKey)
		if err != nil {
			return fmt.Errorf("attachment %s: contents unavailable: %w", att.AttachmentID, err)
		}
		defer r.Close()
		h := sha256.New()
		n, err := io.CopyBuffer(io.MultiWriter(w, h), r, buf)
		if err != nil {
			return fmt.Errorf("attachment %s: copy: %w", att.AttachmentID, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != att.SHA256 || n != att.Size {
			return fmt.Errorf("attachment %s: %w (recorded %d bytes, found %d)", att.AttachmentID, ErrIntegrity, att.Size, n)
		}
		return nil
	})
}
