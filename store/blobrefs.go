package store

import (
	"context"
	"fmt"
	"strconv"
)

// BlobRefsPage is how many keys BlobRefs reads per query.
const BlobRefsPage = 5000

// BlobRefs tells, key by key, whether the store refers to a blob key (an
// attachment's) or has queued its deletion, in memory that does not grow
// with the number of attachments: it reads both key sets in key order, a
// page at a time, and merges them with the keys it is asked about, which a
// blob store's listing gives in key order (S3 lists in UTF-8 binary order,
// the directory store by its sorted two-character directories). A key asked
// out of order (a listing not quite sorted), and every key found in
// neither set, is looked up directly: the merge saves queries, it never
// decides that a blob is unreferenced, so an orphan verdict does not depend
// on the database's collation agreeing with the listing's order.
type BlobRefs struct {
	q          Querier
	last       string
	started    bool
	refs, queu keyCursor
	page       int // keys per query (BlobRefsPage)
}

// NewBlobRefs returns a BlobRefs reading through q (a transaction, or the
// store).
func NewBlobRefs(q Querier) *BlobRefs {
	return &BlobRefs{q: q, page: BlobRefsPage,
		refs: keyCursor{table: "attachments"},
		queu: keyCursor{table: "blob_deletions"},
	}
}

// Known reports whether an attachment refers to key and whether its
// deletion is queued.
func (b *BlobRefs) Known(ctx context.Context, key string) (referenced, queued bool, err error) {
	if b.started && key < b.last {
		// Out of order (a stray name in a listing): the cursors start
		// again from key.
		b.refs.restart(key)
		b.queu.restart(key)
	}
	b.started, b.last = true, key
	if referenced, err = b.refs.has(ctx, b.q, key, b.page); err != nil {
		return false, false, err
	}
	if queued, err = b.queu.has(ctx, b.q, key, b.page); err != nil {
		return false, false, err
	}
	if referenced || queued {
		return referenced, queued, nil
	}
	return BlobKeyKnown(ctx, b.q, key)
}

// BlobKeyKnown looks one key up: whether an attachment refers to it and
// whether its deletion is queued.
func BlobKeyKnown(ctx context.Context, q Querier, key string) (referenced, queued bool, err error) {
	var n []int
	if err := q.Select(ctx, &n, `SELECT 1 FROM attachments WHERE blob_key = ?
		UNION ALL SELECT 2 FROM blob_deletions WHERE blob_key = ?`, key, key); err != nil {
		return false, false, fmt.Errorf("look up blob key: %w", err)
	}
	for _, v := range n {
		referenced = referenced || v == 1
		queued = queued || v == 2
	}
	return referenced, queued, nil
}

// keyCursor walks one table's blob keys in the database's key order, a
// page at a time.
type keyCursor struct {
	table string
	page  []string
	after string // the last key read (or, with from, the first to read)
	from  bool   // the next page starts at after, included
	done  bool   // no key after the page
}

// restart makes the cursor read again from key (included).
func (c *keyCursor) restart(key string) {
	c.page, c.after, c.from, c.done = nil, key, true, false
}

// has advances the cursor up to key and reports whether key is the key it
// stops at.
func (c *keyCursor) has(ctx context.Context, q Querier, key string, size int) (bool, error) {
	for {
		for len(c.page) > 0 && c.page[0] < key {
			c.page = c.page[1:]
		}
		if len(c.page) > 0 {
			return c.page[0] == key, nil
		}
		if c.done {
			return false, nil
		}
		op := ">"
		if c.from {
			op = ">="
		}
		var page []string
		if err := q.Select(ctx, &page, "SELECT blob_key FROM "+c.table+" WHERE blob_key "+op+" ? ORDER BY blob_key LIMIT "+
			strconv.Itoa(size), c.after); err != nil {
			return false, fmt.Errorf("list blob keys: %w", err)
		}
		c.done, c.from = len(page) < size, false
		if len(page) > 0 {
			c.after = page[len(page)-1]
		}
		c.page = page
	}
}
