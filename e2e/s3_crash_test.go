package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oubli/oubli/internal/tests3"
)

// s3WorldOn is an s3World on srv's bucket (a fresh, versioned one).
func s3WorldOn(t *testing.T, backend string, srv *tests3.Server) *s3World {
	t.Helper()
	loc := srv.Bucket(t, tests3.BucketOptions{Versioned: true, Prefix: "att/"})
	w := newWorld(t, backend)
	w.env = append(w.env, srv.Env()...)
	w.env = append(w.env, "OUBLI_BLOBS=s3://"+loc.Bucket+"/att")
	return &s3World{world: w, srv: srv, loc: loc}
}

// bucketDump is the SHA-256 of every version under the prefix and the
// number of delete markers: keys are random, contents are not.
func (w *s3World) bucketDump() string {
	w.t.Helper()
	st := w.store()
	ctx := context.Background()
	var sums []string
	markers := 0
	p := s3.NewListObjectVersionsPaginator(st.Client(), &s3.ListObjectVersionsInput{Bucket: aws.String(w.loc.Bucket), Prefix: aws.String(w.loc.Prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		markers += len(out.DeleteMarkers)
		for _, v := range out.Versions {
			o, err := st.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.loc.Bucket), Key: v.Key, VersionId: v.VersionId})
			if err != nil {
				w.t.Fatal(err)
			}
			h := sha256.New()
			_, err = io.Copy(h, o.Body)
			o.Body.Close()
			if err != nil {
				w.t.Fatal(err)
			}
			sums = append(sums, hex.EncodeToString(h.Sum(nil)))
		}
	}
	sort.Strings(sums)
	return fmt.Sprintf("== object versions (%d), delete markers %d\n%s\n", len(sums), markers, strings.Join(sums, "\n"))
}

// TestS3Crash is TestCrash's loop on a versioned bucket: retention run,
// erase and ingest SIGKILLed at random moments; after the documented
// recovery, check --deep is clean, the audit chain verifies, and the store
// and the bucket (every version, every delete marker) equal an
// uninterrupted run's. SQLite only (the PostgreSQL half of the store is
// proven by TestCrash; the bucket is the same code). Each iteration rebuilds
// its world from scratch: make test kills once the commands that delete
// object versions (retention run) and put them (ingest);
// TestLongS3Crash kills every command eight times.
func TestS3Crash(t *testing.T) { testS3Crash(t, 1, "retention-run", "ingest") }

// TestLongS3Crash is the S3 crash loop over every command (make test-long;
// OUBLI_CRASH_ITERS sets its length).
func TestLongS3Crash(t *testing.T) {
	if !long() {
		t.Skip("set OUBLI_LONG=1 (make test-long)")
	}
	testS3Crash(t, 8)
}

// testS3Crash runs the loop with iters iterations (OUBLI_CRASH_ITERS
// overrides it) over the crash cases named in only, or all of them.
func testS3Crash(t *testing.T, iters int, only ...string) {
	seed := crashSeed(t)
	if os.Getenv("OUBLI_CRASH_ITERS") != "" {
		iters = crashIterations(t)
	}
	t.Logf("crash seed %d (OUBLI_CRASH_SEED=%d replays it), %d iterations per command", seed, seed, iters)
	for _, cc := range crashCases {
		if len(only) > 0 && !slices.Contains(only, cc.name) {
			continue
		}
		t.Run(cc.name, func(t *testing.T) {
			srv := tests3.Start(t)
			rng := rand.New(rand.NewPCG(seed, uint64(len(cc.name))))
			fresh := func() *s3World {
				w := s3WorldOn(t, "sqlite", srv)
				cc.base(w.world)
				return w
			}
			ref := fresh()
			start := time.Now()
			if r := ref.run(nil, cc.args(ref.world)...); r.code != 0 {
				t.Fatalf("reference run: %s", r)
			}
			took := time.Since(start)
			cc.recover(t, ref.world)
			ref.healthy()
			want := ref.dump() + ref.bucketDump()
			mid := 0
			for i := 0; i < iters; i++ {
				w := fresh()
				delay := time.Duration(rng.Int64N(int64(took + took/5)))
				p := w.start(nil, cc.args(w.world)...)
				time.Sleep(delay)
				running := !p.finished()
				r := p.kill()
				if running && r.code < 0 {
					mid++
				}
				cc.recover(t, w.world)
				w.healthy()
				if got := w.dump() + w.bucketDump(); got != want {
					t.Fatalf("iteration %d (seed %d, kill after %v): state differs from the uninterrupted run:\n%s", i, seed, delay, diff(want, got))
				}
			}
			crashIters.Add(int64(iters))
			crashMidRun.Add(int64(mid))
			t.Logf("%s/s3: %d iterations, %d killed mid-run (reference run %v)", cc.name, iters, mid, took.Round(time.Millisecond))
		})
	}
}
