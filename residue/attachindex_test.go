package residue

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// document adds an attachment of the subject's ticket with the given type
// and contents; indexed: recorded in the attachment index as ingest does.
func (w *world) document(t *testing.T, id, subject, ctype, doc string, indexed bool) string {
	t.Helper()
	ctx := context.Background()
	key := blobs.NewKey()
	sha, n, err := w.bs.Put(ctx, key, strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	w.exec(t, "INSERT INTO attachments (attachment_id, ticket_id, filename, content_type, size, sha256, blob_key, uploaded_at) VALUES (?, ?, 'doc', ?, ?, ?, ?, 0)",
		id, "T-"+subject, ctype, n, sha, key)
	if indexed {
		ix, err := IndexDocument(w.h, ctype, strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		ix.BlobKey = key
		if err := w.db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := store.PutAttachmentIndex(ctx, tx, ix, 0)
			if !ok && err == nil {
				t.Fatal("index not written")
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

func (w *world) checkErased(t *testing.T, id, email, pseudo string) *Report {
	t.Helper()
	rep, err := CheckSubject(context.Background(), w.db, w.bs, Subject{
		Identifiers: Identifiers{UserID: id, Email: email, Pseudo: pseudo}, KeptTickets: map[string]bool{}, Hasher: w.h})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func deferredBlobs(rep *Report) []string {
	var out []string
	for _, d := range rep.Deferred {
		if strings.HasPrefix(d, "blobs") {
			out = append(out, d)
		}
	}
	return out
}

// TestAttachmentIndexFindsOtherSubject: a text document of subject A holding
// subject B's e-mail address is found, through the index and without
// reading any blob, when B is erased: a strong finding in someone else's
// document. A document stored before the index is reported as not checked
// until reindexed, then found. An e-mail attachment with a base64 body is
// decoded. Both backends.
func TestAttachmentIndexFindsOtherSubject(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, "ua-1", "anne@example.org", "Anne", "bonjour", "%PDF-1.4 rien")
		w.subject(t, "ub-2", "Bruno.Blanc@example.org", "Bruno B", "bonjour", "%PDF-1.4 rien")
		w.subject(t, "uc-3", "chloe@example.org", "Chloé", "bonjour", "%PDF-1.4 rien")
		// The PDFs w.subject adds are of a type the index does not read.
		w.exec(t, "DELETE FROM attachments")
		w.document(t, "D-1", "ua-1", "text/plain; charset=utf-8", "Relevé: écrire à BRUNO.BLANC@example.org, merci.", true)
		w.document(t, "D-2", "ua-1", "text/csv", "nom\nBruno B\n", true)
		old := w.document(t, "D-3", "uc-3", "application/json", `{"contact":"anne@example.org"}`, false)

		// Nothing of B's rows remain; their e-mail is in A's document.
		w.erase(t, "ub-2", "bruno.blanc@example.org", "Bruno B", false)
		rep := w.checkErased(t, "ub-2", "bruno.blanc@example.org", "Bruno B")
		if rep.Findings["blobs"] != 1 || rep.Ambiguous["blobs"] != 1 || rep.Found["blobs"] != 0 {
			t.Fatalf("findings %v ambiguous %v found %v", rep.Findings, rep.Ambiguous, rep.Found)
		}
		if rep.Attachments == nil || rep.Attachments.Candidates != 2 || rep.Attachments.NotIndexed != 1 {
			t.Fatalf("attachments: %+v", rep.Attachments)
		}
		if d := deferredBlobs(rep); len(d) != 1 || !strings.Contains(d[0], "1 attachment(s) not read by the attachment index yet, not checked") {
			t.Fatalf("deferred: %q", rep.Deferred)
		}

		// A's own e-mail in C's document, stored before the index: not
		// checked, said so; found once reindexed.
		w.erase(t, "ua-1", "anne@example.org", "Anne", false)
		if rep := w.checkErased(t, "ua-1", "anne@example.org", "Anne"); rep.Findings["blobs"] != 0 || len(deferredBlobs(rep)) != 1 {
			t.Fatalf("before reindex: findings %v deferred %q", rep.Findings, rep.Deferred)
		}
		rx, err := Reindex(ctx, db, w.bs, w.h, nil)
		if err != nil || rx.Indexed != 1 {
			t.Fatalf("reindex: %+v %v", rx, err)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM attachment_index WHERE blob_key = ? AND status = 'indexed'", old); n != 1 {
			t.Fatalf("reindexed rows: %d", n)
		}
		rep = w.checkErased(t, "ua-1", "anne@example.org", "Anne")
		if rep.Findings["blobs"] != 1 || len(deferredBlobs(rep)) != 0 {
			t.Fatalf("after reindex: findings %v deferred %q", rep.Findings, rep.Deferred)
		}
		// A second backfill has nothing to do.
		if rx, err := Reindex(ctx, db, w.bs, w.h, nil); err != nil || rx.Indexed+rx.Partial+rx.Unsupported != 0 {
			t.Fatalf("second reindex: %+v %v", rx, err)
		}

		// An e-mail whose body is base64: the address inside is found.
		w.subject(t, "ud-4", "dora@example.org", "Dora", "bonjour", "x")
		w.exec(t, "DELETE FROM attachments WHERE ticket_id = 'T-ud-4'")
		body := base64.StdEncoding.EncodeToString([]byte("Merci d'écrire à chloe@example.org pour le remboursement."))
		eml := "From: =?utf-8?q?Dora?= <dora@example.org>\r\nTo: support@example.org\r\nSubject: remboursement\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			body[:20] + "\r\n" + body[20:] + "\r\n--XX--\r\n"
		if strings.Contains(eml, "chloe@") {
			t.Fatal("the test e-mail shows the address in clear")
		}
		w.document(t, "D-4", "ud-4", "message/rfc822", eml, true)
		w.erase(t, "uc-3", "chloe@example.org", "Chloé", false)
		if rep := w.checkErased(t, "uc-3", "chloe@example.org", "Chloé"); rep.Findings["blobs"] != 1 {
			t.Fatalf("e-mail attachment: findings %v", rep.Findings)
		}
	})
}

// TestAttachmentIndexGoesWithBlob: the index rows of a document are deleted
// with its attachment (erasure, retention) and when a re-ingest gives the
// attachment new contents; a late backfill of a document deleted meanwhile
// writes nothing. Both backends.
func TestAttachmentIndexGoesWithBlob(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, "ua-1", "anne@example.org", "Anne", "bonjour", "x")
		w.subject(t, "ub-2", "bruno@example.org", "Bruno", "bonjour", "x")
		k1 := w.document(t, "D-1", "ua-1", "text/plain", "bruno@example.org", true)
		k2 := w.document(t, "D-2", "ub-2", "text/plain", "anne@example.org", true)
		rows := func(k string) int64 {
			return w.count(t, "SELECT COUNT(*) FROM attachment_tokens WHERE blob_key = ?", k) +
				w.count(t, "SELECT COUNT(*) FROM attachment_index WHERE blob_key = ?", k)
		}
		if rows(k1) != 2 || rows(k2) != 2 {
			t.Fatalf("indexed rows: %d %d", rows(k1), rows(k2))
		}
		// New contents under a new key (what ingest's upsert does).
		nk := blobs.NewKey()
		if _, err := store.UpsertAttachment(ctx, db, store.Attachment{AttachmentID: "D-1", TicketID: "T-ua-1", Filename: "doc",
			ContentType: "text/plain", Size: 1, SHA256: "x", BlobKey: nk}, t0); err != nil {
			t.Fatal(err)
		}
		if rows(k1) != 0 || rows(k2) != 2 {
			t.Fatalf("after replacement: %d %d", rows(k1), rows(k2))
		}
		// The ticket deleted: its attachments and their index go (cascade).
		w.exec(t, "DELETE FROM tickets WHERE ticket_id = 'T-ub-2'")
		if rows(k2) != 0 {
			t.Fatalf("after deletion: %d", rows(k2))
		}
		// A backfill racing a deletion writes nothing for a gone blob.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := store.PutAttachmentIndex(ctx, tx, store.AttachmentIndex{BlobKey: k2, Status: store.IndexIndexed, Hashes: []string{"h:x"}}, 0)
			if ok {
				t.Error("index written for a deleted attachment")
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if rows(k2) != 0 {
			t.Fatalf("after late backfill: %d", rows(k2))
		}
	})
}

// TestAttachmentIndexHoldsNoClearText: the index holds keyed hashes only: a
// token of an indexed document is nowhere in the SQLite file or its WAL.
func TestAttachmentIndexHoldsNoClearText(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	w := newWorld(t, db)
	w.subject(t, "ua-1", "anne@example.org", "Anne", "bonjour", "x")
	const marker = "zq-marker-7781@example.net"
	w.document(t, "D-1", "ua-1", "text/plain", "Contact: "+marker+" ou Zqmarkerword.", true)
	if n := w.count(t, "SELECT COUNT(*) FROM attachment_tokens"); n < 4 {
		t.Fatalf("tokens indexed: %d", n)
	}
	if n := w.count(t, "SELECT COUNT(*) FROM attachment_tokens WHERE token_hash = ?", w.h.Hash(HashKind, marker)); n != 1 {
		t.Fatalf("marker's hash indexed: %d", n)
	}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(db.Path() + suffix)
		if err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		lower := bytes.ToLower(b)
		for _, s := range []string{marker, "zq-marker", "zqmarkerword"} {
			if bytes.Contains(lower, []byte(s)) {
				t.Errorf("%q in clear in %s", s, db.Path()+suffix)
			}
		}
	}
}

// endless yields n bytes of repeating text without holding them.
type endless struct {
	n    int64
	text []byte
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && e.n > 0 {
		c := copy(p[k:min(len(p), k+int(e.n))], e.text[e.off:])
		e.off = (e.off + c) % len(e.text)
		k += c
		e.n -= int64(c)
	}
	return k, nil
}

// TestIndexDocumentHostile: hostile documents are read within the bounds
// and recorded as partial, never beyond: a document larger than
// MaxIndexBytes, a flood of distinct tokens, binary bytes, invalid UTF-8,
// MIME nested without end. An identifier before the bound is still found.
func TestIndexDocumentHostile(t *testing.T) {
	h := store.NewHasher([]byte("k"))
	has := func(ix store.AttachmentIndex, tok string) bool {
		return slices.Contains(ix.Hashes, h.Hash(HashKind, tok))
	}
	// Huge: the same line, MaxIndexBytes + 1 MiB.
	ix, err := IndexDocument(h, "text/plain", io.MultiReader(strings.NewReader("alice@example.org "), &endless{n: MaxIndexBytes + 1<<20, text: []byte("la même ligne encore\n")}))
	if err != nil || ix.Status != store.IndexPartial || !has(ix, "alice@example.org") || len(ix.Hashes) != 5 {
		t.Fatalf("huge: %s %d %v", ix.Status, len(ix.Hashes), err)
	}
	// Distinct tokens without end.
	var b strings.Builder
	for i := range MaxIndexTokens + 100 {
		fmt.Fprintf(&b, "w%d ", i)
	}
	ix, err = IndexDocument(h, "text/csv", strings.NewReader(b.String()))
	if err != nil || ix.Status != store.IndexPartial || len(ix.Hashes) != MaxIndexTokens {
		t.Fatalf("flood: %s %d %v", ix.Status, len(ix.Hashes), err)
	}
	// Binary declared as text, and invalid UTF-8 around an address.
	bin := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range bin {
		bin[i] = byte(r.UintN(256))
	}
	ix, err = IndexDocument(h, "text/plain", bytes.NewReader(append(bin, " \xff\xfebob@example.org\xc3 fin"...)))
	if err != nil || len(ix.Hashes) > MaxIndexTokens {
		t.Fatalf("binary: %s %d %v", ix.Status, len(ix.Hashes), err)
	}
	ix, err = IndexDocument(h, "text/plain", strings.NewReader("x \xff\xfe bob@example.org \xc3"))
	if err != nil || !has(ix, "bob@example.org") {
		t.Fatalf("invalid UTF-8: %v %v", ix, err)
	}
	// MIME nested far beyond maxMIMEDepth.
	var eml strings.Builder
	eml.WriteString("Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range 200 {
		fmt.Fprintf(&eml, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	eml.WriteString("--b200\r\nContent-Type: text/plain\r\n\r\ncarol@example.org\r\n")
	ix, err = IndexDocument(h, "message/rfc822", strings.NewReader(eml.String()))
	if err != nil || ix.Status != store.IndexPartial || !has(ix, "carol@example.org") {
		t.Fatalf("nested: %s %v", ix.Status, err)
	}
	// A type the index does not read is not read.
	ix, err = IndexDocument(h, "application/pdf", strings.NewReader("alice@example.org"))
	if err != nil || ix.Status != store.IndexUnsupported || len(ix.Hashes) != 0 {
		t.Fatalf("pdf: %+v %v", ix, err)
	}
}

// TestAttachmentIndexGapsBounded: every attachment has an index row from its
// insertion (pending until read), and the count of documents the index does
// not cover stops past store.GapCountBound instead of counting the store.
// Both backends.
func TestAttachmentIndexGapsBounded(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, "ua-1", "anne@example.org", "Anne", "bonjour", "x") // a PDF, inserted as seed would
		if n := w.count(t, "SELECT COUNT(*) FROM attachment_index WHERE status = 'pending'"); n != 1 {
			t.Fatalf("pending rows after an insertion: %d", n)
		}
		for i := range store.GapCountBound + 5 {
			w.exec(t, "INSERT INTO attachment_index (blob_key, status, tokens, indexed_at) VALUES (?, 'unsupported', 0, 0)", fmt.Sprintf("k%05d", i))
		}
		g, err := store.AttachmentIndexGaps(ctx, db)
		if err != nil || g.NotIndexed != 1 || g.NotCovered != store.GapCountBound+1 || !g.Bounded {
			t.Fatalf("gaps: %+v %v", g, err)
		}
		w.erase(t, "ub-9", "b@example.org", "b", false)
		if d := deferredBlobs(w.checkErased(t, "ub-9", "b@example.org", "b")); len(d) != 2 || !strings.Contains(d[1], "more than 1000") {
			t.Fatalf("deferred: %q", d)
		}
	})
}
