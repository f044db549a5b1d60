package residue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// Bounds of the attachment indexer: a hostile document (huge, binary, a
// flood of distinct tokens, MIME nested without end) is read within them
// and recorded as partial, never read further.
const (
	// MaxIndexBytes is how much of a document is read.
	MaxIndexBytes = 32 << 20
	// MaxIndexTokens is how many distinct tokens are recorded per document.
	MaxIndexTokens = 50_000
	// maxIndexTokenBytes bounds the bytes of the distinct tokens held.
	maxIndexTokenBytes = 8 << 20
	// maxMIMEDepth bounds the nesting of multipart e-mail parts.
	maxMIMEDepth = 8
	// maxMIMEParts bounds the parts of one e-mail.
	maxMIMEParts = 1000
)

// IndexedTypes are the media types whose text the index reads; every other
// type (images, PDF, office documents, archives) is recorded as
// unsupported and left to the sweep's byte scan.
var IndexedTypes = []string{"text/*", "application/json", "application/xml", "message/rfc822"}

// TextBearing reports whether the index reads documents of this media type.
func TextBearing(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/xml" ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") || mt == "message/rfc822"
}

// tokenSet gathers the distinct normalised tokens of a document, bounded.
type tokenSet struct {
	toks    map[string]struct{}
	bytes   int
	partial bool
}

func (s *tokenSet) add(tok string) {
	if _, ok := s.toks[tok]; ok {
		return
	}
	if len(s.toks) >= MaxIndexTokens || s.bytes+len(tok) > maxIndexTokenBytes {
		s.partial = true
		return
	}
	s.toks[tok] = struct{}{}
	s.bytes += len(tok)
}

// IndexDocument reads a document of the given media type and returns the
// keyed hashes (h, kind HashKind) of its distinct tokens — the tokens of
// Tokens, so that an identifier found by the sweep is found by the index.
// Text types are tokenized as they are; an e-mail (message/rfc822) also
// has its header words (RFC 2047) and its quoted-printable or base64 text
// parts decoded. The status is store.IndexPartial when the document goes
// beyond MaxIndexBytes or MaxIndexTokens, store.IndexUnsupported for a type
// the index does not read (nothing is read then).
func IndexDocument(h Hasher, contentType string, r io.Reader) (store.AttachmentIndex, error) {
	if !TextBearing(contentType) {
		return store.AttachmentIndex{Status: store.IndexUnsupported}, nil
	}
	set := &tokenSet{toks: map[string]struct{}{}}
	lr := &io.LimitedReader{R: r, N: MaxIndexBytes + 1}
	mt, params := mediaType(contentType)
	var err error
	if mt == "message/rfc822" {
		err = indexEmail(lr, set)
	} else {
		err = indexText(mt, params, lr, set, func() bool { return lr.N <= 0 })
	}
	if err != nil {
		return store.AttachmentIndex{}, err
	}
	if lr.N <= 0 {
		set.partial = true
	}
	ix := store.AttachmentIndex{Status: store.IndexIndexed, Hashes: make([]string, 0, len(set.toks))}
	if set.partial {
		ix.Status = store.IndexPartial
	}
	for tok := range set.toks {
		ix.Hashes = append(ix.Hashes, h.Hash(HashKind, tok))
	}
	sort.Strings(ix.Hashes)
	return ix, nil
}

// indexText reads a text document (bounded by the caller), decodes it
// (decodeText: its encoding, HTML character references, JSON escapes) and
// tokenizes what it says. A document that cannot be decoded is marked
// partial: counted not covered by the erasure, never indexed as clean. When
// cut (non-nil) reports the read was cut short, the last run (a token
// perhaps cut) is dropped.
func indexText(mt string, params map[string]string, r io.Reader, set *tokenSet, cut func() bool) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("attachment index: read: %w", err)
	}
	if cut != nil && cut() {
		for len(raw) > 0 && isRunByte(raw[len(raw)-1]) {
			raw = raw[:len(raw)-1]
		}
	}
	texts, covered := decodeText(mt, params, raw)
	if !covered {
		set.partial = true
	}
	for _, t := range texts {
		Tokens(t, func(tok string, _, _ int) { set.add(tok) })
	}
	return nil
}

// indexStream tokenizes r as it comes, in bounded memory. The last run is
// dropped when cut (non-nil) reports the read was cut short.
func indexStream(r io.Reader, set *tokenSet, cut func() bool) error {
	st := &streamTokens{fn: func(tok, _ string) { set.add(tok) }}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		st.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("attachment index: read: %w", err)
		}
	}
	if cut == nil || !cut() {
		st.flush()
	}
	return nil
}

// indexEmail tokenizes an e-mail as its bytes are (headers and bodies as
// sent), then its decoded header words and text parts. A message that does
// not parse is indexed as its bytes only, and marked partial.
func indexEmail(r io.Reader, set *tokenSet) error {
	raw, err := io.ReadAll(r) // bounded by the caller's LimitedReader
	if err != nil {
		return fmt.Errorf("attachment index: read: %w", err)
	}
	if err := indexStream(bytes.NewReader(raw), set, nil); err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		set.partial = true
		return nil
	}
	parts := 0
	indexPart(msg.Header, msg.Body, set, 0, &parts)
	return nil
}

// header is the part of a MIME header the indexer reads (mail.Header,
// textproto.MIMEHeader).
type header interface{ Get(string) string }

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// indexPart decodes one part (headers' encoded words, transfer encoding)
// and tokenizes it; multipart parts recurse, bounded in depth and count.
func indexPart(h header, body io.Reader, set *tokenSet, depth int, parts *int) {
	*parts++
	if depth > maxMIMEDepth || *parts > maxMIMEParts {
		set.partial = true
		return
	}
	for _, k := range []string{"From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Content-Disposition"} {
		if v := h.Get(k); strings.Contains(v, "=?") {
			if d, err := wordDecoder.DecodeHeader(v); err == nil {
				Tokens(d, func(tok string, _, _ int) { set.add(tok) })
			}
		}
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return // tokenized from the raw bytes already
	}
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); enc {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // ignores CR and LF
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					set.partial = true
				}
				return
			}
			indexPart(p.Header, p, set, depth+1, parts)
		}
	case mt == "message/rfc822":
		msg, err := mail.ReadMessage(bufio.NewReader(body))
		if err != nil {
			set.partial = true
			return
		}
		indexPart(msg.Header, msg.Body, set, depth+1, parts)
	case TextBearing(mt):
		if err := indexText(mt, params, body, set, nil); err != nil {
			set.partial = true
		}
	}
}

// ReindexReport says what a backfill of the attachment index did.
type ReindexReport struct {
	Indexed     int64   `json:"indexed"`
	Partial     int64   `json:"partial"`
	Unsupported int64   `json:"unsupported"`
	Missing     int64   `json:"missing"` // attachment rows whose contents are gone
	Seconds     float64 `json:"seconds"`
}

// Reindex indexes the contents of every attachment stored before the index
// existed (no attachment_index row): the backfill of `oubli residue
// reindex` and of the sweep. Each batch of documents is written in its own
// transaction, so an interrupted backfill keeps what it did and the next one
// goes on. A blob whose contents are missing is counted and left without an
// index (the erasure keeps reporting it as not indexed).
func Reindex(ctx context.Context, db *store.DB, bs blobs.Store, h Hasher, now func() time.Time) (*ReindexReport, error) {
	if now == nil {
		now = time.Now
	}
	start := time.Now()
	rep := &ReindexReport{}
	after := ""
	for {
		batch, err := store.UnindexedAttachments(ctx, db, after, 200)
		if err != nil {
			return rep, err
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].BlobKey
		var ixs []store.AttachmentIndex
		for _, a := range batch {
			ix := store.AttachmentIndex{Status: store.IndexUnsupported}
			if TextBearing(a.ContentType) {
				rc, err := bs.Open(ctx, a.BlobKey)
				if errors.Is(err, blobs.ErrNotFound) {
					rep.Missing++
					continue
				}
				if err != nil {
					return rep, fmt.Errorf("attachment index: open blob: %w", err)
				}
				ix, err = IndexDocument(h, a.ContentType, rc)
				rc.Close()
				if err != nil {
					return rep, err
				}
			}
			ix.BlobKey = a.BlobKey
			ixs = append(ixs, ix)
		}
		at := store.Millis(now())
		err = db.InTx(ctx, func(tx *store.Tx) error {
			for _, ix := range ixs {
				ok, err := store.PutAttachmentIndex(ctx, tx, ix, at)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				switch ix.Status {
				case store.IndexIndexed:
					rep.Indexed++
				case store.IndexPartial:
					rep.Partial++
				default:
					rep.Unsupported++
				}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("attachment index: %w", err)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}
