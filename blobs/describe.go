package blobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Description is what `check` reports of an object store: where it is, its
// versioning status, whether it has Object Lock, and the settings that
// defeat erasure.
type Description struct {
	Kind       string   `json:"kind"`       // "s3"
	Location   string   `json:"location"`   // s3://BUCKET/PREFIX
	Versioning string   `json:"versioning"` // "Enabled", "Suspended" or "Off"
	ObjectLock bool     `json:"object_lock"`
	Warnings   []string `json:"warnings"`
}

// Describer is a Store that can describe itself for `check`.
type Describer interface {
	Describe(ctx context.Context) (Description, error)
}

// Describe reads the bucket's versioning status, Object Lock configuration
// and lifecycle rules. A lifecycle rule that keeps noncurrent versions (or
// moves them to another storage class) is a warning: whatever deletes a
// document other than oubli leaves it readable for that long.
func (s *S3) Describe(ctx context.Context) (Description, error) {
	d := Description{Kind: "s3", Location: s.loc.String(), Warnings: []string{}}
	if err := s.readVersioning(ctx); err != nil {
		return d, err
	}
	switch d.Versioning = s.Versioning(); d.Versioning {
	case "":
		d.Versioning = "Off"
	case "Suspended":
		d.Warnings = append(d.Warnings, "versioning is suspended: the versions made while it was enabled are still kept; oubli deletes every version of a key it deletes")
	}
	lock, err := s.objectLock(ctx)
	if err != nil {
		return d, err
	}
	d.ObjectLock = lock
	lc, err := s.client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &s.loc.Bucket})
	var api smithy.APIError
	switch {
	case err == nil:
		for _, r := range lc.Rules {
			if r.Status != types.ExpirationStatusEnabled {
				continue
			}
			id := aws.ToString(r.ID)
			if e := r.NoncurrentVersionExpiration; e != nil {
				d.Warnings = append(d.Warnings, fmt.Sprintf("lifecycle rule %q keeps noncurrent versions %d day(s): a document deleted by anything but oubli stays readable that long", id, aws.ToInt32(e.NoncurrentDays)))
			}
			for _, tr := range r.NoncurrentVersionTransitions {
				d.Warnings = append(d.Warnings, fmt.Sprintf("lifecycle rule %q moves noncurrent versions to storage class %s after %d day(s): copies outside the bucket's listing may outlive an erasure", id, tr.StorageClass, aws.ToInt32(tr.NoncurrentDays)))
			}
		}
	case errors.As(err, &api) && api.ErrorCode() == "NoSuchLifecycleConfiguration":
	case errors.As(err, &api) && (api.ErrorCode() == "NotImplemented" || api.ErrorCode() == "AccessDenied"):
		d.Warnings = append(d.Warnings, "lifecycle rules could not be read ("+api.ErrorCode()+"): check by hand that none keeps noncurrent versions")
	default:
		return d, s.wrap("GetLifecycleConfiguration", err)
	}
	return d, nil
}

// objectLock reports whether the bucket has Object Lock enabled.
func (s *S3) objectLock(ctx context.Context) (bool, error) {
	out, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &s.loc.Bucket})
	var api smithy.APIError
	switch {
	case err == nil:
		return out.ObjectLockConfiguration != nil && out.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled, nil
	case errors.As(err, &api) && (api.ErrorCode() == "ObjectLockConfigurationNotFoundError" || api.ErrorCode() == "NotImplemented" || api.ErrorCode() == "InvalidRequest"):
		return false, nil
	}
	return false, s.wrap("GetBucketObjectLockConfiguration", err)
}

// LastModified returns the newest modification time among key's versions
// and delete markers: the age `check --repair` compares with --grace. A
// key with only noncurrent versions has one (ok), unlike Stat.
func (s *S3) LastModified(ctx context.Context, key string) (time.Time, bool, error) {
	if !s.versioned() {
		info, err := s.Stat(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return time.Time{}, false, nil
		}
		return info.Modified, err == nil, err
	}
	name := s.name(key)
	var newest time.Time
	found := false
	p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{Bucket: &s.loc.Bucket, Prefix: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return time.Time{}, false, s.wrap("ListBucketVersions", err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == name {
				found = true
				if t := aws.ToTime(v.LastModified); t.After(newest) {
					newest = t
				}
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == name {
				found = true
				if t := aws.ToTime(m.LastModified); t.After(newest) {
					newest = t
				}
			}
		}
	}
	return newest, found, nil
}
