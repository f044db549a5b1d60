package blobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/tests3"
)

func walkAll(t *testing.T, bs blobs.Store) []string {
	t.Helper()
	var keys []string
	if err := bs.Walk(context.Background(), func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestStoreRoundTrip(t *testing.T) {
	tests3.Run(t, func(t *testing.T, bs blobs.Store) {
		ctx := context.Background()
		body := []byte("the document of alice@example.com")
		key := blobs.NewKey()
		sum, n, err := bs.Put(ctx, key, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(body)
		if sum != hex.EncodeToString(want[:]) || n != int64(len(body)) {
			t.Fatalf("Put = %s %d", sum, n)
		}
		rc, err := bs.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("Open read %q", got)
		}
		if ok, err := bs.Exists(ctx, key); !ok || err != nil {
			t.Fatalf("Exists = %v %v", ok, err)
		}
		if keys := walkAll(t, bs); len(keys) != 1 || keys[0] != key {
			t.Fatalf("Walk = %v", keys)
		}
		if err := bs.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if ok, err := bs.Exists(ctx, key); ok || err != nil {
			t.Fatalf("Exists after delete = %v %v", ok, err)
		}
		if _, err := bs.Open(ctx, key); !errors.Is(err, blobs.ErrNotFound) {
			t.Fatalf("Open after delete: %v", err)
		}
		if keys := walkAll(t, bs); len(keys) != 0 {
			t.Fatalf("Walk after delete = %v", keys)
		}
		if err := bs.Delete(ctx, key); err != nil {
			t.Fatalf("deleting a missing blob: %v", err)
		}
	})
}

// A blob larger than the in-memory spool goes through the temporary file.
func TestStoreLargeBlob(t *testing.T) {
	tests3.Run(t, func(t *testing.T, bs blobs.Store) {
		ctx := context.Background()
		body := bytes.Repeat([]byte("0123456789abcdef"), (20<<20)/16+7)
		key := blobs.NewKey()
		sum, n, err := bs.Put(ctx, key, bytes.NewReader(body))
		want := sha256.Sum256(body)
		if err != nil || sum != hex.EncodeToString(want[:]) || n != int64(len(body)) {
			t.Fatalf("Put = %s %d %v", sum, n, err)
		}
		rc, err := bs.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		h := sha256.New()
		if m, err := io.Copy(h, rc); err != nil || m != n || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("read back %d bytes, %v", m, err)
		}
	})
}

func versions(t *testing.T, st *blobs.S3, key string) int {
	t.Helper()
	out, err := st.Client().ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{
		Bucket: aws.String(st.Location().Bucket), Prefix: aws.String(st.Location().Prefix + key)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions) + len(out.DeleteMarkers)
}

// On a versioned bucket a plain DELETE only adds a delete marker: Delete
// must remove every version and marker, and no file of the server may hold
// the contents afterwards.
func TestS3VersionedDeleteRemovesEveryVersion(t *testing.T) {
	srv := tests3.Start(t)
	st := srv.Store(t, tests3.BucketOptions{Versioned: true, Prefix: "p/"})
	ctx := context.Background()
	key := blobs.NewKey()
	for _, v := range []string{"first secret-v1-zq", "second secret-v2-zq"} {
		if _, _, err := st.Put(ctx, key, strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	// A delete marker on top, as a plain DELETE by another tool leaves.
	if _, err := st.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(st.Location().Bucket), Key: aws.String("p/" + key)}); err != nil {
		t.Fatal(err)
	}
	if n := versions(t, st, key); n != 3 {
		t.Fatalf("versions before = %d, want 3", n)
	}
	// The key is still listed: its contents can be read back.
	if keys := walkAll(t, st); len(keys) != 1 || keys[0] != key {
		t.Fatalf("Walk of a key with only noncurrent versions = %v", keys)
	}
	if ok, err := st.Exists(ctx, key); !ok || err != nil {
		t.Fatalf("Exists of a key with only noncurrent versions = %v, %v", ok, err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := versions(t, st, key); n != 0 {
		t.Fatalf("versions after Delete = %d, want 0", n)
	}
	if hits := srv.FilesHolding(t, []byte("secret-v")); len(hits) != 0 {
		t.Fatalf("server files still hold the contents: %v", hits)
	}
	if keys := walkAll(t, st); len(keys) != 0 {
		t.Fatalf("Walk after Delete = %v", keys)
	}
}

// DeleteKeys sends batches of at most 1,000 keys and removes every key.
func TestS3DeleteKeysBatches(t *testing.T) {
	srv := tests3.Start(t)
	for _, versioned := range []bool{false, true} {
		t.Run(fmt.Sprintf("versioned=%v", versioned), func(t *testing.T) {
			st := srv.Store(t, tests3.BucketOptions{Versioned: versioned})
			ctx := context.Background()
			var keys []string
			for i := range 1203 {
				k := blobs.NewKey()
				if _, _, err := st.Put(ctx, k, strings.NewReader(fmt.Sprint("doc ", i))); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
			}
			keep := keys[1200:]
			gone, err := st.DeleteKeys(ctx, keys[:1200])
			if err != nil || len(gone) != 1200 {
				t.Fatalf("DeleteKeys = %d, %v", len(gone), err)
			}
			left := walkAll(t, st)
			sort.Strings(keep)
			if strings.Join(left, ",") != strings.Join(keep, ",") {
				t.Fatalf("left %d keys, want the 3 kept", len(left))
			}
		})
	}
}

func TestS3ContentTypeKept(t *testing.T) {
	st := tests3.Start(t).Store(t, tests3.BucketOptions{})
	ctx := context.Background()
	key := blobs.NewKey()
	if _, _, err := blobs.PutTyped(ctx, st, key, "application/pdf", strings.NewReader("%PDF-1.4")); err != nil {
		t.Fatal(err)
	}
	out, err := st.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.Location().Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ContentType) != "application/pdf" {
		t.Fatalf("content type %q", aws.ToString(out.ContentType))
	}
}

func TestS3Errors(t *testing.T) {
	srv := tests3.Start(t)
	ctx := context.Background()
	_, err := blobs.NewS3(ctx, blobs.Location{Bucket: "no-such-bucket"}, srv.Options())
	if !errors.Is(err, blobs.ErrSetup) || !strings.Contains(err.Error(), "oubli migrate") {
		t.Fatalf("missing bucket: %v", err)
	}
	o := srv.Options()
	o.SecretKey = "wrong-secret-value"
	_, err = blobs.NewS3(ctx, srv.Bucket(t, tests3.BucketOptions{}), o)
	if !errors.Is(err, blobs.ErrSetup) || strings.Contains(err.Error(), "wrong-secret-value") || strings.Contains(err.Error(), o.AccessKey) {
		t.Fatalf("bad credentials: %v", err)
	}
	o = srv.Options()
	o.Endpoint = "http://127.0.0.1:1"
	_, err = blobs.NewS3(ctx, blobs.Location{Bucket: "any-bucket"}, o)
	if !errors.Is(err, blobs.ErrUnavailable) {
		t.Fatalf("unreachable endpoint: %v", err)
	}
}

func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		in, bucket, prefix, dir string
		bad                     bool
	}{
		{in: "s3://my-bucket", bucket: "my-bucket"},
		{in: "s3://my-bucket/", bucket: "my-bucket"},
		{in: "s3://my.bucket/a/b", bucket: "my.bucket", prefix: "a/b/"},
		{in: "/var/lib/oubli/blobs", dir: "/var/lib/oubli/blobs"},
		{in: "blobs", dir: "blobs"},
		{in: "./a:b", dir: "./a:b"},
		{in: "s3://", bad: true},
		{in: "s3:/bucket", bad: true},
		{in: "s3:bucket", bad: true},
		{in: "S3://bucket", bad: true},
		{in: "s3://Bucket", bad: true},
		{in: "s3://b", bad: true},
		{in: "s3://bucket:9000/x", bad: true},
		{in: "s3://key:secret@bucket/x", bad: true},
		{in: "s3://bucket/x?versionId=1", bad: true},
		{in: "s3://bucket/a//b", bad: true},
		{in: "s3://bucket/../b", bad: true},
		{in: "s3://127.0.0.1/b", bad: true},
		{in: "gs://bucket/x", bad: true},
		{in: "https://example.com/x", bad: true},
		{in: "file:///tmp/x", bad: true},
		{in: "", bad: true},
	} {
		loc, err := blobs.ParseLocation(c.in)
		if c.bad {
			if !errors.Is(err, blobs.ErrBadLocation) {
				t.Errorf("%q: err %v, want ErrBadLocation", c.in, err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: the error echoes a credential: %v", c.in, err)
			}
			continue
		}
		if err != nil || loc.Bucket != c.bucket || loc.Prefix != c.prefix || loc.Dir != c.dir {
			t.Errorf("%q = %+v, %v", c.in, loc, err)
		}
	}
}

// On an Object Lock bucket, a version under a legal hold is never sent for
// deletion: the key is reported (ErrLocked) and stays; once the hold is
// off it goes. Without Object Lock, SetLegalHold says so.
func TestS3LegalHold(t *testing.T) {
	srv := tests3.Start(t)
	ctx := context.Background()
	plain := srv.Store(t, tests3.BucketOptions{Versioned: true})
	if err := plain.SetLegalHold(ctx, []string{blobs.NewKey()}, true); !errors.Is(err, blobs.ErrNoObjectLock) {
		t.Fatalf("legal hold without object lock: %v", err)
	}
	loc := srv.Bucket(t, tests3.BucketOptions{ObjectLock: true})
	st, err := blobs.NewS3(ctx, loc, srv.Options())
	if err != nil {
		t.Fatal(err)
	}
	if !st.ObjectLock() {
		t.Fatal("object lock not detected")
	}
	held, free := blobs.NewKey(), blobs.NewKey()
	for _, k := range []string{held, free} {
		for _, v := range []string{"v1", "v2"} {
			if _, _, err := st.Put(ctx, k, strings.NewReader(v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.SetLegalHold(ctx, []string{held}, true); err != nil {
		t.Fatal(err)
	}
	gone, err := st.DeleteKeys(ctx, []string{held, free})
	if !errors.Is(err, blobs.ErrLocked) || len(gone) != 1 || gone[0] != free {
		t.Fatalf("DeleteKeys with a held key = %v, %v", gone, err)
	}
	if n := versions(t, st, held); n != 2 {
		t.Fatalf("held key has %d versions, want its 2", n)
	}
	if n := versions(t, st, free); n != 0 {
		t.Fatalf("free key has %d versions left", n)
	}
	if err := st.SetLegalHold(ctx, []string{held}, false); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, held); err != nil {
		t.Fatal(err)
	}
	if n := versions(t, st, held); n != 0 {
		t.Fatalf("released key has %d versions left", n)
	}
}
