package store

import (
	"context"
	"fmt"
)

// Index statuses of an attachment's contents (table attachment_index).
const (
	// IndexPending: not read yet (stored before the index, or by a writer
	// other than ingest); every attachment has a row from its insertion.
	IndexPending = "pending"
	// IndexIndexed: every token of the document is in attachment_tokens.
	IndexIndexed = "indexed"
	// IndexPartial: the document was read but only in part (too large, too
	// many distinct tokens): absence from the index proves nothing.
	IndexPartial = "partial"
	// IndexUnsupported: a type whose text the index does not read (images,
	// PDF, archives): left to the sweep's byte scan.
	IndexUnsupported = "unsupported"
)

// AttachmentIndex is what was indexed of one blob's contents: the keyed
// hashes of its distinct tokens (never a token in clear).
type AttachmentIndex struct {
	BlobKey string
	Status  string
	Hashes  []string
}

// indexChunk is how many token rows one INSERT writes.
const indexChunk = 400

// PutAttachmentIndex records, in the caller's transaction, the index of a
// blob's contents, replacing what was recorded for it. The attachment row
// holding the blob is locked first (PostgreSQL: FOR UPDATE) and nothing is
// written when there is none any more: an index row never outlives its blob
// (the triggers of migration 00190 delete them with the attachment). It
// reports whether it wrote.
func PutAttachmentIndex(ctx context.Context, tx *Tx, ix AttachmentIndex, atMillis int64) (bool, error) {
	lock := ""
	if tx.Dialect() == Postgres {
		lock = " FOR UPDATE"
	}
	var n []int
	if err := tx.Select(ctx, &n, "SELECT 1 FROM attachments WHERE blob_key = ?"+lock, ix.BlobKey); err != nil {
		return false, fmt.Errorf("attachment index: lock attachment: %w", err)
	}
	if len(n) == 0 {
		return false, nil
	}
	if err := DeleteAttachmentIndex(ctx, tx, ix.BlobKey); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO attachment_index (blob_key, status, tokens, indexed_at) VALUES (?, ?, ?, ?)",
		ix.BlobKey, ix.Status, len(ix.Hashes), atMillis); err != nil {
		return false, fmt.Errorf("attachment index: %w", err)
	}
	for i := 0; i < len(ix.Hashes); i += indexChunk {
		chunk := ix.Hashes[i:min(i+indexChunk, len(ix.Hashes))]
		args := make([]any, 0, 2*len(chunk))
		for _, h := range chunk {
			args = append(args, h, ix.BlobKey)
		}
		q := "INSERT INTO attachment_tokens (token_hash, blob_key) VALUES " + repeatTuple(len(chunk)) + " ON CONFLICT DO NOTHING"
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return false, fmt.Errorf("attachment index: tokens: %w", err)
		}
	}
	return true, nil
}

func repeatTuple(n int) string {
	b := make([]byte, 0, n*8)
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "(?, ?)"...)
	}
	return string(b)
}

// DeleteAttachmentIndex removes what was indexed of a blob.
func DeleteAttachmentIndex(ctx context.Context, q Querier, blobKey string) error {
	if _, err := q.Exec(ctx, "DELETE FROM attachment_tokens WHERE blob_key = ?", blobKey); err != nil {
		return fmt.Errorf("attachment index: %w", err)
	}
	if _, err := q.Exec(ctx, "DELETE FROM attachment_index WHERE blob_key = ?", blobKey); err != nil {
		return fmt.Errorf("attachment index: %w", err)
	}
	return nil
}

// BlobsWithTokens returns, for the given token hashes, the blobs whose
// index holds them (blob key → the hashes it holds). It goes through the
// primary key of attachment_tokens: its cost follows the hashes asked and
// the blobs that hold them, not the store.
func BlobsWithTokens(ctx context.Context, q Querier, hashes []string) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for i := 0; i < len(hashes); i += 500 {
		chunk := hashes[i:min(i+500, len(hashes))]
		args := make([]any, len(chunk))
		for j, h := range chunk {
			args[j] = h
		}
		var rows []struct {
			Hash string `db:"token_hash"`
			Key  string `db:"blob_key"`
		}
		if err := q.Select(ctx, &rows, "SELECT token_hash, blob_key FROM attachment_tokens WHERE token_hash IN ("+Placeholders(len(chunk))+")", args...); err != nil {
			return nil, fmt.Errorf("attachment index: look up: %w", err)
		}
		for _, r := range rows {
			if out[r.Key] == nil {
				out[r.Key] = map[string]bool{}
			}
			out[r.Key][r.Hash] = true
		}
	}
	return out, nil
}

// GapCountBound bounds the counts of AttachmentIndexGaps: beyond it the
// erasure says "more than" instead of counting the store.
const GapCountBound = 1000

// AttachmentIndexCoverage counts the attachments whose contents the index
// does not fully cover: NotIndexed are not read yet (pending), NotCovered
// were read in part or are of a type it does not read. Each count stops at
// GapCountBound+1 (Bounded is then true).
type AttachmentIndexCoverage struct {
	NotIndexed int64 `json:"not_indexed"`
	NotCovered int64 `json:"not_covered"`
	Bounded    bool  `json:"bounded,omitempty"`
}

// AttachmentIndexGaps counts the attachments the index does not fully
// cover, through the partial index attachment_index_gaps and up to
// GapCountBound+1 each: its cost does not follow the store.
func AttachmentIndexGaps(ctx context.Context, q Querier) (AttachmentIndexCoverage, error) {
	var c AttachmentIndexCoverage
	for _, it := range []struct {
		cond string
		n    *int64
	}{{"status = 'pending'", &c.NotIndexed}, {"status IN ('partial', 'unsupported')", &c.NotCovered}} {
		err := q.Get(ctx, it.n, "SELECT COUNT(*) FROM (SELECT 1 FROM attachment_index WHERE status <> 'indexed' AND "+it.cond+" LIMIT ?) x", GapCountBound+1)
		if err != nil {
			return c, fmt.Errorf("attachment index: coverage: %w", err)
		}
		c.Bounded = c.Bounded || *it.n > GapCountBound
	}
	return c, nil
}

// UnindexedAttachment names an attachment whose contents have no index yet.
type UnindexedAttachment struct {
	BlobKey     string `db:"blob_key"`
	ContentType string `db:"content_type"`
}

// UnindexedAttachments returns up to limit attachments not read yet
// (pending), after the blob key `after` (keyset pagination).
func UnindexedAttachments(ctx context.Context, q Querier, after string, limit int) ([]UnindexedAttachment, error) {
	var out []UnindexedAttachment
	err := q.Select(ctx, &out, `SELECT a.blob_key, a.content_type FROM attachment_index i JOIN attachments a ON a.blob_key = i.blob_key
		WHERE i.status <> 'indexed' AND i.status = 'pending' AND i.blob_key > ?
		ORDER BY i.blob_key LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("attachment index: unindexed attachments: %w", err)
	}
	return out, nil
}
