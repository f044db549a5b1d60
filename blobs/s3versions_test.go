package blobs_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/tests3"
)

// countingClient passes every request to the real server and counts them
// by S3 operation.
type countingClient struct {
	inner *http.Client
	mu    sync.Mutex
	n     map[string]int
}

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	op := r.Method
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && q.Has("versions"):
		op = "ListObjectVersions"
	case r.Method == http.MethodPost && q.Has("delete"):
		op = "DeleteObjects"
	}
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
	return c.inner.Do(r)
}

func (c *countingClient) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

func (c *countingClient) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = map[string]int{}
}

// A batch deletion on a versioned bucket lists the versions of its keys by
// pages of the prefix, not one listing per key; every version and delete
// marker of the deleted keys is gone (from the listing and from the
// server's files), and keys that merely share a prefix with a deleted one
// (longer, or the deleted key's own prefix, which the listing starts from)
// keep every version.
func TestS3VersionedDeleteKeysListsByPages(t *testing.T) {
	srv := tests3.Start(t)
	loc := srv.Bucket(t, tests3.BucketOptions{Versioned: true, Prefix: "att/"})
	cc := &countingClient{inner: &http.Client{}, n: map[string]int{}}
	o := srv.Options()
	o.HTTPClient = cc
	st, err := blobs.NewS3(context.Background(), loc, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(k, body string) {
		t.Helper()
		if _, _, err := st.Put(ctx, k, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	const nDel, nKeep = 1200, 300
	var del, keep []string
	versionsOfKept := map[string]int{}
	markers := 0
	for i := range nDel {
		k := blobs.NewKey()
		del = append(del, k)
		put(k, fmt.Sprintf("gone-%05d-v1", i))
		put(k, fmt.Sprintf("gone-%05d-v2", i))
		if i%3 == 0 {
			// A delete marker on top, as a plain DELETE leaves.
			if _, err := st.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Prefix + k)}); err != nil {
				t.Fatal(err)
			}
			markers++
		}
	}
	for i := range nKeep {
		k := blobs.NewKey()
		keep = append(keep, k)
		versionsOfKept[k] = 1
		put(k, fmt.Sprintf("kept-%05d", i))
	}
	// Exactness: a longer key and a shorter one sharing the deleted key's
	// characters, each with two versions.
	for _, d := range del[:5] {
		for _, k := range []string{d + "0", d + "z", d[:len(d)-1]} {
			keep = append(keep, k)
			versionsOfKept[k] = 2
			put(k, "kept-share-"+k+"-v1")
			put(k, "kept-share-"+k+"-v2")
		}
	}
	rand.Shuffle(len(del), func(i, j int) { del[i], del[j] = del[j], del[i] })

	cc.reset()
	gone, err := st.DeleteKeys(ctx, del)
	if err != nil || len(gone) != nDel {
		t.Fatalf("DeleteKeys = %d gone, %v", len(gone), err)
	}
	lists, deletes := cc.count("ListObjectVersions"), cc.count("DeleteObjects")
	entries := nDel*2 + markers + nKeep + 15*2
	t.Logf("deleting %d keys (%d versions and markers among %d) took %d ListObjectVersions and %d DeleteObjects", nDel, nDel*2+markers, entries, lists, deletes)
	// About one page per parallel segment; per key it was 1,200.
	if limit := entries/1000 + 1 + 2*8; lists > limit {
		t.Errorf("%d ListObjectVersions for %d keys, want at most %d", lists, nDel, limit)
	}
	if want := (nDel*2 + markers + 999) / 1000; deletes != want {
		t.Errorf("%d DeleteObjects, want %d (batches of 1,000 versions)", deletes, want)
	}

	// Nothing of the deleted keys is left: not in the listing of versions,
	// not in any file of the server.
	left := map[string]int{}
	p := s3.NewListObjectVersionsPaginator(st.Client(), &s3.ListObjectVersionsInput{Bucket: aws.String(loc.Bucket)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			left[aws.ToString(v.Key)]++
		}
		for _, m := range out.DeleteMarkers {
			left[aws.ToString(m.Key)]++
		}
	}
	for _, k := range del {
		if n := left[loc.Prefix+k]; n != 0 {
			t.Errorf("deleted key %s has %d versions or markers left", k, n)
		}
	}
	if hits := srv.FilesHolding(t, []byte("gone-")); len(hits) != 0 {
		t.Errorf("%d server files still hold deleted contents, e.g. %s", len(hits), hits[0])
	}
	// Everything else is untouched, every version of it.
	for _, k := range keep {
		if n, want := left[loc.Prefix+k], versionsOfKept[k]; n != want {
			t.Errorf("kept key %s has %d versions, want %d", k, n, want)
		}
		rc, err := st.Open(ctx, k)
		if err != nil {
			t.Fatalf("kept key %s: %v", k, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !strings.HasPrefix(string(b), "kept-") {
			t.Errorf("kept key %s reads %q", k, b)
		}
	}
	if len(left) != len(keep) {
		t.Errorf("%d keys left in the bucket, want the %d kept", len(left), len(keep))
	}
}

// With pages of 4 entries, the listing crosses pages inside a key's
// versions, jumps over the keys between wanted ones, and falls back to
// one listing per key when a full page holds at most one wanted key: every
// mix of dense and sparse keys deletes exactly the wanted keys.
func TestS3VersionedDeleteKeysSmallPages(t *testing.T) {
	defer blobs.SetListPage(4)()
	srv := tests3.Start(t)
	ctx0, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a listing that loops fails
	defer cancel()
	st := srv.Store(t, tests3.BucketOptions{Versioned: true, Prefix: "p/q/"})
	ctx := ctx0
	var keys []string
	versions := map[string]int{}
	for i := range 60 {
		k := fmt.Sprintf("kk%03d", i)
		if i%7 == 0 {
			k = fmt.Sprintf("kk%02d", i/10) // a prefix of its neighbours
		}
		if versions[k] > 0 {
			continue
		}
		keys = append(keys, k)
		n := 1 + i%5 // up to 5 versions: a key spans pages
		for v := range n {
			if _, _, err := st.Put(ctx, k, strings.NewReader(fmt.Sprint("body-", k, "-", v))); err != nil {
				t.Fatal(err)
			}
		}
		versions[k] = n
	}
	count := func() map[string]int {
		left := map[string]int{}
		p := s3.NewListObjectVersionsPaginator(st.Client(), &s3.ListObjectVersionsInput{Bucket: aws.String(st.Location().Bucket)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range out.Versions {
				left[strings.TrimPrefix(aws.ToString(v.Key), "p/q/")]++
			}
		}
		return left
	}
	for _, pick := range []func(i int) bool{
		func(i int) bool { return i%11 == 3 },           // sparse
		func(i int) bool { return i >= 20 && i < 40 },   // dense
		func(i int) bool { return i%2 == 0 || i == 59 }, // half
	} {
		var del []string
		for i, k := range keys {
			if pick(i) && versions[k] > 0 {
				del = append(del, k)
			}
		}
		del = append(del, "kk999x") // missing: gone already
		gone, err := st.DeleteKeys(ctx, del)
		if err != nil || len(gone) != len(del) {
			t.Fatalf("DeleteKeys(%v) = %v, %v", del, gone, err)
		}
		for _, k := range del {
			versions[k] = 0
		}
		left := count()
		for _, k := range keys {
			if left[k] != versions[k] {
				t.Errorf("after deleting %v: %s has %d versions, want %d", del, k, left[k], versions[k])
			}
		}
	}
	// More keys than a page between the listing's start (the wanted key
	// less its last character) and the wanted key: the listing pages on.
	for _, k := range []string{"zzzz0a", "zzzz0b", "zzzz0c", "zzzz0d", "zzzz0e", "zzzz0f", "zzzz1"} {
		if _, _, err := st.Put(ctx, k, strings.NewReader("body-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if gone, err := st.DeleteKeys(ctx, []string{"zzzz1"}); err != nil || len(gone) != 1 {
		t.Fatalf("DeleteKeys(zzzz1) = %v, %v", gone, err)
	}
	if left := count(); left["zzzz1"] != 0 || left["zzzz0f"] != 1 {
		t.Errorf("after deleting zzzz1: %d versions left of it, %d of zzzz0f", left["zzzz1"], left["zzzz0f"])
	}
}
