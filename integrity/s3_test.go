package integrity_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/integrity"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/internal/tests3"
	"github.com/oubli/oubli/store"
)

// objectVersions counts the versions and delete markers of key.
func objectVersions(t *testing.T, st *blobs.S3, key string) int {
	t.Helper()
	out, err := st.Client().ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{
		Bucket: aws.String(st.Location().Bucket), Prefix: aws.String(st.Location().Prefix + key)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions) + len(out.DeleteMarkers)
}

// TestCheckAndRepairS3 is TestCheck and TestRepairAndDrain on a versioned
// bucket: a missing object, an object overwritten with other contents, an
// orphan whose only version is noncurrent (behind a delete marker); check
// reports the versioning status; repair removes the orphan's every version
// past the grace and drains the queue in batches.
func TestCheckAndRepairS3(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := tests3.Start(t).Store(t, tests3.BucketOptions{Versioned: true, Prefix: "x/"})
		if _, err := ingest.File(ctx, db, st, sample, ingest.Options{}); err != nil {
			t.Fatal(err)
		}
		rep, err := integrity.Check(ctx, db, st, integrity.Options{Deep: true})
		if err != nil || !rep.Clean || rep.Attachments != 2 || rep.Blobs != 2 {
			t.Fatalf("after ingest: %+v %v", rep, err)
		}
		if rep.BlobStore == nil || rep.BlobStore.Versioning != "Enabled" || rep.BlobStore.Kind != "s3" {
			t.Fatalf("blob store description: %+v", rep.BlobStore)
		}
		k1, k2 := blobKey(t, db, "A-1"), blobKey(t, db, "A-2")
		if err := st.Delete(ctx, k1); err != nil {
			t.Fatal(err)
		}
		rc, err := st.Open(ctx, k2)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := rc.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		rc.Close()
		altered := []byte(b.String())
		altered[0] ^= 0xff
		if _, err := st.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Location().Bucket),
			Key: aws.String("x/" + k2), Body: strings.NewReader(string(altered))}); err != nil {
			t.Fatal(err)
		}
		orphan := blobs.NewKey()
		if _, _, err := st.Put(ctx, orphan, strings.NewReader("orphan")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(st.Location().Bucket), Key: aws.String("x/" + orphan)}); err != nil {
			t.Fatal(err)
		}
		// Check leaves orphans younger than the grace alone (an ingest in
		// progress): look an hour later.
		hourLater := func() time.Time { return time.Now().Add(time.Hour) }
		rep, err = integrity.Check(ctx, db, st, integrity.Options{Now: hourLater})
		want := []string{"attachment_blob_missing A-1", "blob_without_row " + orphan}
		if got := problems(rep); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("shallow check: %v\n got %q\nwant %q", err, got, want)
		}
		rep, _ = integrity.Check(ctx, db, st, integrity.Options{Deep: true, Now: hourLater})
		want = []string{"attachment_blob_missing A-1", "attachment_blob_sha256_mismatch A-2", "blob_without_row " + orphan}
		if got := problems(rep); !reflect.DeepEqual(got, want) {
			t.Fatalf("deep check:\n got %q\nwant %q", got, want)
		}

		// Repair: within the grace nothing goes; past it every version.
		res, err := integrity.Repair(ctx, db, st, integrity.Options{})
		if err != nil || res.OrphansRemoved != 0 || res.OrphansTooRecent != 1 || objectVersions(t, st, orphan) != 2 {
			t.Fatalf("repair within the grace: %+v %v", res, err)
		}
		later := func() time.Time { return time.Now().Add(time.Hour) }
		queued := blobs.NewKey()
		if _, _, err := st.Put(ctx, queued, strings.NewReader("queued")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Put(ctx, queued, strings.NewReader("queued, second version")); err != nil {
			t.Fatal(err)
		}
		if err := store.QueueBlobDeletion(ctx, db, queued, "test", now); err != nil {
			t.Fatal(err)
		}
		res, err = integrity.Repair(ctx, db, st, integrity.Options{Now: later})
		if err != nil || res.OrphansRemoved != 1 || res.DeletionsDrained != 1 {
			t.Fatalf("repair: %+v %v", res, err)
		}
		if n := objectVersions(t, st, orphan) + objectVersions(t, st, queued); n != 0 {
			t.Fatalf("%d version(s) left of the orphan and the queued key", n)
		}
		if ok, _ := st.Exists(ctx, k2); !ok {
			t.Fatal("repair removed a referenced object")
		}
	})
}
