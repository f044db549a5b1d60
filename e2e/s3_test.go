package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/tests3"
)

// s3World is a world whose attachments live in a bucket of a fresh
// versitygw (s3://oubli-e2e/att), reached through the AWS environment the
// way an operator configures it. The bucket does not exist yet: migrate
// creates it.
type s3World struct {
	*world
	srv *tests3.Server
	loc blobs.Location
}

func newS3World(t *testing.T, backend string) *s3World {
	t.Helper()
	srv := tests3.Start(t)
	w := newWorld(t, backend)
	w.env = append(w.env, srv.Env()...)
	w.env = append(w.env, "OUBLI_BLOBS=s3://oubli-e2e/att")
	return &s3World{world: w, srv: srv, loc: blobs.Location{Bucket: "oubli-e2e", Prefix: "att/"}}
}

// store opens the world's bucket directly, for a test's own checks.
func (w *s3World) store() *blobs.S3 {
	w.t.Helper()
	st, err := blobs.NewS3(context.Background(), w.loc, w.srv.Options())
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// versions lists every version and delete marker under the prefix.
func (w *s3World) versions() (keys []string, n int) {
	w.t.Helper()
	st := w.store()
	p := s3.NewListObjectVersionsPaginator(st.Client(), &s3.ListObjectVersionsInput{Bucket: aws.String(w.loc.Bucket), Prefix: aws.String(w.loc.Prefix)})
	seen := map[string]bool{}
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		for _, v := range out.Versions {
			n++
			seen[aws.ToString(v.Key)] = true
		}
		for _, d := range out.DeleteMarkers {
			n++
			seen[aws.ToString(d.Key)] = true
		}
	}
	for k := range seen {
		keys = append(keys, k)
	}
	return keys, n
}

// TestS3Lifecycle drives the binary over a versioned bucket: migrate creates
// the bucket, ingest uploads, check reports the versioning status, export
// streams from the bucket, erasure and retention leave no version or delete
// marker behind (and no file of the server holds the erased document),
// check --repair removes an orphan's every version, and no credential is
// ever printed or stored.
func TestS3Lifecycle(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := newS3World(t, backend)
			var outputs []string
			do := func(args ...string) result {
				t.Helper()
				r := w.must(args...)
				outputs = append(outputs, r.stdout, r.stderr)
				return r
			}
			// migrate creates the bucket, once.
			if r := do("--output", "json", "migrate"); !strings.Contains(r.stdout, `"bucket_created": true`) {
				t.Fatalf("first migrate did not create the bucket: %s", r)
			}
			if r := do("--output", "json", "migrate"); !strings.Contains(r.stdout, `"bucket_created": false`) {
				t.Fatalf("second migrate: %s", r)
			}
			st := w.store()
			if _, err := st.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
				Bucket:                  aws.String(w.loc.Bucket),
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
			}); err != nil {
				t.Fatal(err)
			}
			// The subject to erase has a document naming them; the fixture
			// gives retention something to purge.
			doc := []byte("Attestation for zq-s3-alice@example.org: IBAN FR76 0000 s3needle")
			subject := line(`"u-9001"`, `"u-s3a"`, "carol@example.org", "zq-s3-alice@example.org",
				`"aGVsbG8="`, `"`+base64.StdEncoding.EncodeToString(doc)+`"`,
				`"closed_at":"2019-03-05T16:20:00Z"`, `"closed_at":null`, `"status":"closed"`, `"status":"open"`)
			f := genFixture(11, 12)
			w.file("fixture.jsonl", append([]byte(subject), f.jsonl...))
			do("ingest", filepath.Join(w.dir, "fixture.jsonl"))
			if _, err := os.Stat(filepath.Join(w.dir, "s3:")); err == nil {
				t.Fatal("a directory named s3: was created")
			}
			keys, n := w.versions()
			if len(keys) != f.attached+1 || n != f.attached+1 {
				t.Fatalf("after ingest: %d keys, %d versions; want %d", len(keys), n, f.attached+1)
			}
			// The content type is kept.
			head, err := st.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(keys[0])})
			if err != nil || aws.ToString(head.ContentType) != "application/pdf" {
				t.Fatalf("content type %q, %v", aws.ToString(head.ContentType), err)
			}
			r := do("--output", "json", "check", "--deep")
			var chk struct {
				Check struct {
					Clean     bool               `json:"clean"`
					BlobStore *blobs.Description `json:"blob_store"`
				} `json:"check"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &chk); err != nil || !chk.Check.Clean || chk.Check.BlobStore == nil || chk.Check.BlobStore.Versioning != "Enabled" {
				t.Fatalf("check: %v %s", err, r)
			}
			// Export streams the document from the bucket into the ZIP.
			zipPath := filepath.Join(w.dir, "alice.zip")
			do("export", "--user-id", "u-s3a", "--out", zipPath)
			zr, err := zip.OpenReader(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, zf := range zr.File {
				rc, _ := zf.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				found = found || bytes.Equal(b, doc)
			}
			zr.Close()
			if !found {
				t.Fatal("the export does not hold the document")
			}
			// A plain overwrite by another tool leaves a noncurrent version
			// of the document: erasure must remove it too.
			var aliceKey string
			for _, k := range keys {
				out, err := st.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(k)})
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if bytes.Equal(b, doc) {
					aliceKey = k
				}
			}
			if _, err := st.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(aliceKey), Body: bytes.NewReader(doc)}); err != nil {
				t.Fatal(err)
			}
			if len(w.srv.FilesHolding(t, []byte("s3needle"))) == 0 {
				t.Fatal("the server's files do not hold the document before the erasure: the check below could not fail")
			}
			do("erase", "--user-id", "u-s3a")
			if hits := w.srv.FilesHolding(t, []byte("s3needle")); len(hits) != 0 {
				t.Fatalf("after the erasure, server files still hold the document: %v", hits)
			}
			keys, n = w.versions()
			if len(keys) != f.attached || n != f.attached {
				t.Fatalf("after erase: %d keys, %d versions; want %d", len(keys), n, f.attached)
			}
			// Retention purges through the durable queue; no version is left
			// of a purged document.
			do("retention", "run", "--at", at, "--allow-large")
			var atts int64
			for k, v := range w.counts() {
				if k == "attachments" {
					atts = v
				}
			}
			keys, n = w.versions()
			if int64(len(keys)) != atts || int64(n) != atts || atts >= int64(f.attached) {
				t.Fatalf("after retention: %d keys, %d versions; want the %d attachments left (of %d)", len(keys), n, atts, f.attached)
			}
			// The history says what the run removed from the bucket, in
			// text as in JSON (adversarial pass 7b).
			if h := w.must("retention", "history", "--limit", "1"); !strings.Contains(h.stdout, fmt.Sprintf("contents removed %d", int64(f.attached)-atts)) {
				t.Fatalf("retention history does not say what the run removed from the bucket (%d): %s", int64(f.attached)-atts, h)
			}
			// An orphan with two versions and a delete marker: check reports
			// it, --repair past --grace removes every version.
			orphan := w.loc.Prefix + blobs.NewKey()
			for _, v := range []string{"orphan one", "orphan two"} {
				if _, err := st.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(orphan), Body: strings.NewReader(v)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(orphan)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // object times have a one-second resolution
			if r := w.run(nil, "check", "--grace", "1ms"); r.code != 1 || !strings.Contains(r.stdout, "blob_without_row") {
				t.Fatalf("check with an orphan: %s", r)
			}
			r = w.run(nil, "--output", "json", "check", "--repair", "--grace", "1h")
			if !strings.Contains(r.stdout, `"orphan_blobs_too_recent": 1`) || !strings.Contains(r.stdout, `"orphan_blobs_removed": 0`) {
				t.Fatalf("repair within the grace: %s", r)
			}
			do("check", "--repair", "--grace", "1ms")
			if _, n2 := w.versions(); int64(n2) != atts {
				t.Fatalf("after repair: %d versions, want %d", n2, atts)
			}
			do("check")
			do("audit", "verify")
			// No credential anywhere: outputs, and the SQLite store's files.
			for _, o := range outputs {
				if strings.Contains(o, w.srv.SecretKey) || strings.Contains(o, w.srv.AccessKey) {
					t.Fatalf("a credential was printed: %s", o)
				}
			}
			if backend == "sqlite" {
				p := strings.TrimPrefix(w.db, "sqlite:")
				for _, sfx := range []string{"", "-wal"} {
					b, _ := os.ReadFile(p + sfx)
					if bytes.Contains(b, []byte(w.srv.SecretKey)) || bytes.Contains(b, []byte(w.srv.AccessKey)) {
						t.Fatalf("a credential is stored in %s", p+sfx)
					}
				}
			}
		})
	}
}

// TestS3Setup: a missing bucket is exit 2 naming `oubli migrate`, refused
// credentials exit 2 without echoing them, nothing written.
func TestS3Setup(t *testing.T) {
	w := newS3World(t, "sqlite")
	in := w.file("in.jsonl", []byte(line()))
	r := w.run(nil, "ingest", in)
	if r.code != 2 || !strings.Contains(r.stderr, "oubli migrate") {
		t.Fatalf("ingest into a missing bucket: %s", r)
	}
	w.must("migrate")
	bad := *w.world
	bad.env = append(append([]string(nil), w.env...), "AWS_SECRET_ACCESS_KEY=not-the-secret-xyz")
	r = bad.run(nil, "ingest", in)
	if r.code != 2 || !strings.Contains(r.stderr, "denied") || strings.Contains(r.stderr, "not-the-secret-xyz") {
		t.Fatalf("ingest with a wrong secret: %s", r)
	}
	if n := w.counts()["tickets"]; n != 0 {
		t.Fatalf("%d ticket(s) written by failed ingests", n)
	}
}

// TestS3LegalHold: on a bucket with Object Lock, `hold add` puts the S3
// legal hold ON on the held subject's documents, a deletion never removes
// them while it is on (an out-of-band lock is reported, the erasure's
// follow-up exit 6, the key left queued), `hold release` turns it OFF and retention then removes every
// version. On a bucket without Object Lock, hold add says so once.
func TestS3LegalHold(t *testing.T) {
	w := newS3World(t, "sqlite")
	probe := w.srv.Store(t, tests3.BucketOptions{})
	if _, err := probe.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{
		Bucket: aws.String(w.loc.Bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	w.must("migrate")
	doc := base64.StdEncoding.EncodeToString([]byte("held document"))
	w.file("in.jsonl", []byte(line(`"aGVsbG8="`, `"`+doc+`"`)))
	w.must("ingest", filepath.Join(w.dir, "in.jsonl"))
	st := w.store()
	keys, _ := w.versions()
	if len(keys) != 1 {
		t.Fatalf("keys after ingest: %v", keys)
	}
	legalHold := func() types.ObjectLockLegalHoldStatus {
		out, err := st.Client().GetObjectLegalHold(context.Background(), &s3.GetObjectLegalHoldInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(keys[0])})
		if err != nil {
			return "none"
		}
		return out.LegalHold.Status
	}
	hold := strings.TrimSpace(w.must("hold", "add", "--user-id", "u-9001", "--reason", "case 12").stdout)
	if s := legalHold(); s != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("legal hold after hold add: %s", s)
	}
	// A second hold on the ticket: releasing the first keeps the lock.
	hold2 := strings.TrimSpace(w.must("hold", "add", "--ticket", "T-9001", "--reason", "case 13").stdout)
	w.must("hold", "release", hold)
	if s := legalHold(); s != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("legal hold after releasing one of two holds: %s", s)
	}
	w.must("hold", "release", hold2)
	if s := legalHold(); s != types.ObjectLockLegalHoldStatusOff {
		t.Fatalf("legal hold after releasing both: %s", s)
	}
	// A lock put by someone else: erasure leaves the object, reports it.
	if _, err := st.Client().PutObjectLegalHold(context.Background(), &s3.PutObjectLegalHoldInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(keys[0]),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}); err != nil {
		t.Fatal(err)
	}
	// The erasure commits and says what is left (exit 6, the document
	// queued): it never tried to delete the locked version.
	r := w.run(nil, "erase", "--user-id", "u-9001")
	if r.code != 6 || !strings.Contains(r.stderr, "kept by S3 Object Lock") {
		t.Fatalf("erase of a locked document: %s", r)
	}
	if _, n := w.versions(); n != 1 {
		t.Fatalf("the locked document has %d versions, want 1", n)
	}
	if _, err := st.Client().PutObjectLegalHold(context.Background(), &s3.PutObjectLegalHoldInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(keys[0]),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
		t.Fatal(err)
	}
	w.must("check", "--repair")
	if _, n := w.versions(); n != 0 {
		t.Fatalf("after the lock is lifted and check --repair: %d versions", n)
	}

	// Without Object Lock: one clear note.
	p := newS3World(t, "sqlite")
	p.must("migrate")
	p.file("in.jsonl", []byte(line()))
	p.must("ingest", filepath.Join(p.dir, "in.jsonl"))
	r = p.must("hold", "add", "--ticket", "T-9001", "--reason", "case 14")
	if strings.Count(r.stderr, "no S3 Object Lock") != 1 {
		t.Fatalf("hold add without object lock: %s", r)
	}
}
