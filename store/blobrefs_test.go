package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// BlobRefs answers like a lookup of each key, whether the keys come in
// order (the merge with the paged key lists, pages of 4 here) or not (a
// stray name in a listing), for keys that merely share a prefix with a
// known one too.
func TestBlobRefsMerge(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedTickets(t, db, 30) // blob000 … blob029 referenced
		queued := []string{"blob005", "blob0050", "blob017x", "zz-queued", "a-queued"}
		for _, k := range queued {
			exec(t, db, "INSERT INTO blob_deletions (blob_key, queued_at, reason) VALUES (?, 0, 'test')", k)
		}
		type want struct{ ref, queued bool }
		truth := map[string]want{}
		for i := range 30 {
			truth[fmt.Sprintf("blob%03d", i)] = want{ref: true}
		}
		for _, k := range queued {
			w := truth[k]
			w.queued = true
			truth[k] = w
		}
		for _, k := range []string{"blob00", "blob0000", "blob01", "blob030", "blob", "0000", "zzzz", "A-UPPER"} {
			truth[k] = want{}
		}
		var keys []string
		for k := range truth {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		check := func(name string, keys []string) {
			t.Helper()
			b := store.NewBlobRefs(db)
			store.SetBlobRefsPage(b, 4)
			for _, k := range keys {
				ref, q, err := b.Known(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if w := truth[k]; ref != w.ref || q != w.queued {
					t.Errorf("%s: Known(%q) = %v, %v; want %v, %v", name, k, ref, q, w.ref, w.queued)
				}
			}
		}
		check("in order", keys)
		// A stray name early in a listing, then the rest in order.
		check("one out of order", append([]string{"zzzz"}, keys...))
		shuffled := append([]string(nil), keys...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		check("shuffled", shuffled)
	})
}
