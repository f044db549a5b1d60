package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MaxDeleteBatch is the most keys one DeleteObjects request carries (the
// S3 limit).
const MaxDeleteBatch = 1000

// memSpool is how much of a Put is held in memory before it spills to an
// unlinked temporary file: the upload needs its length and SHA-256 first.
const memSpool = 16 << 20

// deleteWorkers is how many version listings a batch deletion runs at once
// (each over a contiguous range of its sorted keys).
const deleteWorkers = 8

// S3Options override the standard AWS environment and config chain; the
// zero value uses the chain alone (what the command line does). Tests set
// them to reach the server they started.
type S3Options struct {
	Endpoint  string // e.g. http://127.0.0.1:7070; path-style addressing
	Region    string
	AccessKey string
	SecretKey string
	// MaxAttempts bounds the client's retries (5 when 0).
	MaxAttempts int
	// HTTPClient replaces the client's HTTP transport (tests wrap it to
	// count the requests sent to a real server).
	HTTPClient aws.HTTPClient
}

// S3 is a Store in an S3-compatible bucket: the contents of key live at
// PREFIX+key. Deleting a key removes every version and delete marker of it
// when the bucket is (or was) versioned, so that a deleted document cannot
// be read back from a noncurrent version.
type S3 struct {
	client *s3.Client
	loc    Location

	mu         sync.Mutex
	versioning string // "", "Enabled" or "Suspended", read at open
	lock       bool   // Object Lock enabled, read at open
}

// NewS3 connects to the bucket of loc. Endpoint, region and credentials come
// from the standard AWS chain (AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3,
// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the
// shared config files), with opts taking precedence. A custom endpoint
// means path-style addressing; the region is us-east-1 when none is set.
// Timeouts, 5xx and SlowDown are retried with backoff by the client. It
// checks that the bucket exists (ErrSetup when not: `oubli migrate` creates
// it) and reads its versioning status.
func NewS3(ctx context.Context, loc Location, opts S3Options) (*S3, error) {
	s, err := newS3Client(ctx, loc, opts)
	if err != nil {
		return nil, err
	}
	if err := s.head(ctx); err != nil {
		return nil, err
	}
	if err := s.readVersioning(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newS3Client(ctx context.Context, loc Location, opts S3Options) (*S3, error) {
	if !loc.IsS3() {
		return nil, fmt.Errorf("%w: not an s3 location", ErrBadLocation)
	}
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = 30 * time.Second })
	lopts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 5 * time.Second
			})
		}),
	}
	if opts.Region != "" {
		lopts = append(lopts, config.WithRegion(opts.Region))
	}
	if opts.AccessKey != "" {
		lopts = append(lopts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lopts...)
	if err != nil {
		// The config loader's errors name files and settings, never secrets.
		return nil, fmt.Errorf("%w: AWS configuration: %v", ErrSetup, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
	})
	return &S3{client: client, loc: loc}, nil
}

// Location returns where the store is.
func (s *S3) Location() Location { return s.loc }

// Client returns the S3 client (for tests and tools).
func (s *S3) Client() *s3.Client { return s.client }

func (s *S3) name(key string) string { return s.loc.Prefix + key }

// wrap classifies an S3 error: a missing bucket or permission is ErrSetup
// (naming the action), anything else (the endpoint unreachable, the server
// failing after the client's retries) ErrUnavailable. The messages name the
// bucket and the action, never a credential.
func (s *S3) wrap(action string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("%w: bucket %q does not exist (oubli migrate creates it)", ErrSetup, s.loc.Bucket)
		case "AccessDenied", "AllAccessDisabled":
			return fmt.Errorf("%w: bucket %q: permission s3:%s denied to these credentials", ErrSetup, s.loc.Bucket, action)
		case "Forbidden":
			// A HEAD answer has no body to tell why.
			return fmt.Errorf("%w: bucket %q: access denied (wrong credentials, or permission s3:%s missing)", ErrSetup, s.loc.Bucket, action)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
			return fmt.Errorf("%w: bucket %q: the server refused the credentials (%s)", ErrSetup, s.loc.Bucket, api.ErrorCode())
		}
		return fmt.Errorf("%w: s3 %s on bucket %q: %s", ErrUnavailable, action, s.loc.Bucket, api.ErrorCode())
	}
	return fmt.Errorf("%w: s3 %s on bucket %q: %v", ErrUnavailable, action, s.loc.Bucket, err)
}

// keyError classifies the error code S3 gave for one key of a batch: a
// refused permission is ErrSetup, as for a whole request (adversarial pass
// 7b: a per-key AccessDenied read "unavailable"), anything else
// ErrUnavailable. The key is not named.
func (s *S3) keyError(action, code string) error {
	switch code {
	case "AccessDenied", "AllAccessDisabled":
		return fmt.Errorf("%w: bucket %q: s3:%s denied for an object (permission missing, or the object is under Object Lock retention or a legal hold)", ErrSetup, s.loc.Bucket, action)
	}
	return fmt.Errorf("%w: s3 %s on bucket %q: %s", ErrUnavailable, action, s.loc.Bucket, code)
}

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchVersion")
}

func (s *S3) head(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.loc.Bucket})
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchBucket") {
		return fmt.Errorf("%w: bucket %q does not exist (oubli migrate creates it)", ErrSetup, s.loc.Bucket)
	}
	return s.wrap("ListBucket", err)
}

func (s *S3) readVersioning(ctx context.Context) error {
	out, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &s.loc.Bucket})
	if err != nil {
		return s.wrap("GetBucketVersioning", err)
	}
	lock := false
	if out.Status != "" {
		if lock, err = s.objectLock(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.versioning = string(out.Status)
	s.lock = lock
	s.mu.Unlock()
	return nil
}

// Versioning returns the bucket's versioning status as read at open: ""
// (never enabled), "Enabled" or "Suspended".
func (s *S3) Versioning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versioning
}

// versioned reports whether keys may have versions besides the current one.
func (s *S3) versioned() bool { return s.Versioning() != "" }

// EnsureBucket creates the bucket when it is missing. It returns whether it
// created it; a missing permission is ErrSetup naming s3:CreateBucket.
func EnsureBucket(ctx context.Context, loc Location, opts S3Options) (bool, error) {
	s, err := newS3Client(ctx, loc, opts)
	if err != nil {
		return false, err
	}
	err = s.head(ctx)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "does not exist") {
		return false, err
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &loc.Bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("CreateBucket", err)
	}
	return true, nil
}

// Put implements Store. The contents are hashed while they are read (held in
// memory, or past 16 MiB in an unlinked temporary file), then uploaded in
// one PUT carrying their SHA-256, which the server checks: a failed or
// corrupted upload stores nothing.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (string, int64, error) {
	return s.PutTyped(ctx, key, "", r)
}

// PutTyped is Put with the contents' media type kept as the object's
// Content-Type.
func (s *S3) PutTyped(ctx context.Context, key, contentType string, r io.Reader) (string, int64, error) {
	if err := validKey(key); err != nil {
		return "", 0, err
	}
	h := sha256.New()
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(r, memSpool+1))
	if err != nil {
		return "", 0, fmt.Errorf("read blob %s: %w", key, err)
	}
	var body io.ReadSeeker = bytes.NewReader(buf.Bytes())
	if n > memSpool {
		f, err := os.CreateTemp("", "oubli-put-*")
		if err != nil {
			return "", 0, fmt.Errorf("blob %s: spool: %w", key, err)
		}
		// Unlinked at once: nothing of the contents outlives the process.
		os.Remove(f.Name())
		defer f.Close()
		if _, err := f.Write(buf.Bytes()); err != nil {
			return "", 0, fmt.Errorf("blob %s: spool: %w", key, err)
		}
		buf = bytes.Buffer{}
		m, err := io.Copy(io.MultiWriter(f, h), r)
		if err != nil {
			return "", 0, fmt.Errorf("read blob %s: %w", key, err)
		}
		n += m
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", 0, fmt.Errorf("blob %s: spool: %w", key, err)
		}
		body = f
	}
	sum := h.Sum(nil)
	in := &s3.PutObjectInput{
		Bucket:         &s.loc.Bucket,
		Key:            aws.String(s.name(key)),
		Body:           body,
		ContentLength:  aws.Int64(n),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return "", 0, s.wrap("PutObject", err)
	}
	return hex.EncodeToString(sum), n, nil
}

// Open implements Store: the object's body, streamed.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.loc.Bucket, Key: aws.String(s.name(key))})
	if isNotFound(err) {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("GetObject", err)
	}
	return out.Body, nil
}

// Exists implements Store. On a versioned or suspended bucket a key whose
// current version is gone (a delete marker) still exists while any
// noncurrent version holds its contents: they can be read back, so the
// residue check after an erasure must see them.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err == nil, err
	}
	if !s.versioned() {
		return false, nil
	}
	name := s.name(key)
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.loc.Bucket, Prefix: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return false, s.wrap("ListBucketVersions", err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == name {
				return true, nil
			}
		}
	}
	return false, nil
}

// Info is what Stat tells of a blob.
type Info struct {
	Size     int64
	Modified time.Time
}

// Stat returns the current version's size and modification time
// (ErrNotFound when the key has none).
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := validKey(key); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: aws.String(s.name(key))})
	if isNotFound(err) {
		return Info{}, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Info{}, s.wrap("GetObject", err)
	}
	return Info{Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

// Delete implements Store: every version and delete marker of key.
func (s *S3) Delete(ctx context.Context, key string) error {
	gone, err := s.DeleteKeys(ctx, []string{key})
	if err != nil {
		return err
	}
	if len(gone) != 1 {
		return fmt.Errorf("delete blob %s: not deleted", key)
	}
	return nil
}

// DeleteKeys removes keys and returns those that are gone, with the first
// error met. On a bucket that was never versioned it sends DeleteObjects
// requests of up to 1,000 keys; on a versioned or suspended one it lists
// the keys' versions and delete markers (ListObjectVersions of the prefix
// in key order, a page covering many keys: see versionsOfKeys) and deletes
// every one of them, by version id, in requests of up to 1,000. A key is
// gone only when all of its versions are.
func (s *S3) DeleteKeys(ctx context.Context, keys []string) ([]string, error) {
	for _, k := range keys {
		if err := validKey(k); err != nil {
			return nil, err
		}
	}
	if !s.versioned() {
		var ids []types.ObjectIdentifier
		for _, k := range keys {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(s.name(k))})
		}
		failed, err := s.deleteIDs(ctx, ids)
		return s.goneKeys(keys, failed), err
	}
	perKey, errs := s.versionsOfKeys(ctx, keys)
	var ids []types.ObjectIdentifier
	failed := map[string]bool{}
	var first error
	// Object Lock: a key with a locked version is never sent.
	lockedKeys, err := s.withoutLocked(ctx, keys, perKey)
	if err != nil {
		return nil, err
	}
	if len(lockedKeys) > 0 {
		first = lockedError(len(lockedKeys))
	}
	for i, k := range keys {
		if lockedKeys[i] {
			failed[s.name(k)] = true
			continue
		}
		if errs[i] != nil {
			failed[s.name(k)] = true
			if first == nil {
				first = errs[i]
			}
			continue
		}
		ids = append(ids, perKey[i]...)
	}
	f2, err := s.deleteIDs(ctx, ids)
	for k := range f2 {
		failed[k] = true
	}
	if first == nil {
		first = err
	}
	return s.goneKeys(keys, failed), first
}

func (s *S3) goneKeys(keys []string, failed map[string]bool) []string {
	gone := make([]string, 0, len(keys))
	for _, k := range keys {
		if !failed[s.name(k)] {
			gone = append(gone, k)
		}
	}
	return gone
}

// versionsOf lists every version and delete marker of exactly key.
func (s *S3) versionsOf(ctx context.Context, key string) ([]types.ObjectIdentifier, error) {
	name := s.name(key)
	var ids []types.ObjectIdentifier
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.loc.Bucket, Prefix: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrap("ListBucketVersions", err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == name {
				ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
			}
		}
		for _, d := range out.DeleteMarkers {
			if aws.ToString(d.Key) == name {
				ids = append(ids, types.ObjectIdentifier{Key: d.Key, VersionId: d.VersionId})
			}
		}
	}
	return ids, nil
}

// deleteIDs deletes ids in DeleteObjects requests of up to MaxDeleteBatch
// and returns the object names of which some version failed. A missing
// object or version is deleted already.
func (s *S3) deleteIDs(ctx context.Context, ids []types.ObjectIdentifier) (map[string]bool, error) {
	failed := map[string]bool{}
	var first error
	for len(ids) > 0 {
		n := min(MaxDeleteBatch, len(ids))
		chunk := ids[:n]
		ids = ids[n:]
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.loc.Bucket,
			Delete: &types.Delete{Objects: chunk, Quiet: aws.Bool(true)},
		})
		if err != nil {
			for _, id := range chunk {
				failed[aws.ToString(id.Key)] = true
			}
			if first == nil {
				first = s.wrap("DeleteObject", err)
			}
			continue
		}
		for _, e := range out.Errors {
			if c := aws.ToString(e.Code); c == "NoSuchKey" || c == "NoSuchVersion" {
				continue
			}
			failed[aws.ToString(e.Key)] = true
			if first == nil {
				first = s.keyError("DeleteObject", aws.ToString(e.Code))
			}
		}
	}
	return failed, first
}

// Walk implements Store: every key under the prefix, in key order, from a
// paginated listing (constant memory). On a versioned or suspended bucket
// the listing is of versions: a key whose only versions are noncurrent, or
// delete markers, is listed too, since its contents can still be read back.
func (s *S3) Walk(ctx context.Context, fn func(key string) error) error {
	if !s.versioned() {
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.loc.Bucket, Prefix: aws.String(s.loc.Prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return s.wrap("ListBucket", err)
			}
			for _, o := range out.Contents {
				if err := fn(strings.TrimPrefix(aws.ToString(o.Key), s.loc.Prefix)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	last := ""
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.loc.Bucket, Prefix: aws.String(s.loc.Prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return s.wrap("ListBucketVersions", err)
		}
		names := make([]string, 0, len(out.Versions)+len(out.DeleteMarkers))
		for _, v := range out.Versions {
			names = append(names, aws.ToString(v.Key))
		}
		for _, d := range out.DeleteMarkers {
			names = append(names, aws.ToString(d.Key))
		}
		sort.Strings(names)
		for _, n := range names {
			if n == last {
				continue
			}
			last = n
			if err := fn(strings.TrimPrefix(n, s.loc.Prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}
