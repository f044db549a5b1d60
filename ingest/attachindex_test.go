package ingest_test

import (
	"context"
	"testing"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/store"
)

// TestIngestIndexesAttachmentIdentifiers: ingest records the keyed hashes of
// the tokens of a text-bearing attachment (never the text), marks a PDF as
// of a type the index does not read, and a re-ingest giving the attachment
// new contents replaces its index. Both backends.
func TestIngestIndexesAttachmentIdentifiers(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		h, err := db.Hasher(ctx)
		if err != nil {
			t.Fatal(err)
		}
		doc := att("A-1", "", []byte("Relevé transmis par Bruno.Blanc@Example.org le 3 mars."))
		doc["content_type"] = "text/plain; charset=utf-8"
		file := jsonl(t, ticketLine("T-1", "u-1", []obj{msg("M-1")}, []obj{doc, att("A-2", "", []byte("%PDF-1.4 u-2@example.org"))}))
		if _, err := ingest.File(ctx, db, bs, writeFile(t, file), opts()); err != nil {
			t.Fatal(err)
		}
		a1, _ := store.GetAttachment(ctx, db, "A-1")
		a2, _ := store.GetAttachment(ctx, db, "A-2")
		has := func(key, tok string) bool {
			var n int
			if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM attachment_tokens WHERE blob_key = ? AND token_hash = ?", key, h.Hash(residue.HashKind, tok)); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}
		status := func(key string) string {
			var s []string
			if err := db.Select(ctx, &s, "SELECT status FROM attachment_index WHERE blob_key = ?", key); err != nil {
				t.Fatal(err)
			}
			if len(s) == 0 {
				return ""
			}
			return s[0]
		}
		if !has(a1.BlobKey, "bruno.blanc@example.org") || !has(a1.BlobKey, "relevé") || status(a1.BlobKey) != store.IndexIndexed {
			t.Fatalf("text attachment not indexed: %s", status(a1.BlobKey))
		}
		if status(a2.BlobKey) != store.IndexUnsupported || has(a2.BlobKey, "u-2@example.org") {
			t.Fatalf("pdf: %s", status(a2.BlobKey))
		}
		var clear int
		if err := db.Get(ctx, &clear, "SELECT COUNT(*) FROM attachment_tokens WHERE token_hash LIKE '%bruno%' OR blob_key LIKE '%bruno%'"); err != nil || clear != 0 {
			t.Fatalf("clear text in the index: %d %v", clear, err)
		}

		// New contents: the old blob's index goes, the new one is indexed.
		doc2 := att("A-1", "", []byte("Corrigé: écrire à chloe@example.org."))
		doc2["content_type"] = "text/plain"
		if _, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, ticketLine("T-1", "u-1", []obj{msg("M-1")}, []obj{doc2}))), opts()); err != nil {
			t.Fatal(err)
		}
		b1, _ := store.GetAttachment(ctx, db, "A-1")
		if b1.BlobKey == a1.BlobKey || status(a1.BlobKey) != "" || has(a1.BlobKey, "bruno.blanc@example.org") {
			t.Fatalf("old contents still indexed")
		}
		if !has(b1.BlobKey, "chloe@example.org") || has(b1.BlobKey, "bruno.blanc@example.org") {
			t.Fatal("new contents not indexed")
		}
	})
}
