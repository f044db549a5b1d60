package blobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrLocked marks blobs that S3 Object Lock keeps (a legal hold ON, or a
// retention date still ahead): they are never deleted, and reported (exit
// 3 where a command had to delete them).
var ErrLocked = errors.New("kept by S3 Object Lock")

// ErrNoObjectLock is returned by SetLegalHold on a bucket without Object
// Lock: holds are then kept in oubli's database only.
var ErrNoObjectLock = errors.New("the bucket has no S3 Object Lock: legal holds are kept in oubli's database only, not on the objects")

// LegalHolder is a Store that can put an S3 legal hold on blobs.
type LegalHolder interface {
	SetLegalHold(ctx context.Context, keys []string, on bool) error
}

// ObjectLock reports whether the bucket has Object Lock (read at open).
func (s *S3) ObjectLock() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lock
}

// SetLegalHold turns the legal hold of every version of keys ON or OFF.
// ErrNoObjectLock when the bucket has no Object Lock.
func (s *S3) SetLegalHold(ctx context.Context, keys []string, on bool) error {
	if !s.ObjectLock() {
		return ErrNoObjectLock
	}
	status := types.ObjectLockLegalHoldStatusOff
	if on {
		status = types.ObjectLockLegalHoldStatusOn
	}
	for _, k := range keys {
		if err := validKey(k); err != nil {
			return err
		}
		ids, err := s.versionsOf(ctx, k)
		if err != nil {
			return err
		}
		for _, id := range ids {
			_, err := s.client.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{
				Bucket: &s.loc.Bucket, Key: id.Key, VersionId: id.VersionId,
				LegalHold: &types.ObjectLockLegalHold{Status: status},
			})
			var api smithy.APIError
			if errors.As(err, &api) && api.ErrorCode() == "MethodNotAllowed" {
				continue // a delete marker: nothing to hold
			}
			if err != nil {
				return s.wrap("PutObjectLegalHold", err)
			}
		}
	}
	return nil
}

// locked reports whether a version is kept by a legal hold or by a
// retention date still ahead.
func (s *S3) locked(ctx context.Context, id types.ObjectIdentifier, now time.Time) (bool, error) {
	lh, err := s.client.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: &s.loc.Bucket, Key: id.Key, VersionId: id.VersionId})
	var api smithy.APIError
	switch {
	case err == nil:
		if lh.LegalHold != nil && lh.LegalHold.Status == types.ObjectLockLegalHoldStatusOn {
			return true, nil
		}
	case errors.As(err, &api) && (api.ErrorCode() == "NoSuchObjectLockConfiguration" || api.ErrorCode() == "MethodNotAllowed" ||
		api.ErrorCode() == "InvalidRequest" || isNotFound(err)):
	default:
		return false, s.wrap("GetObjectLegalHold", err)
	}
	ret, err := s.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &s.loc.Bucket, Key: id.Key, VersionId: id.VersionId})
	switch {
	case err == nil:
		if ret.Retention != nil && ret.Retention.RetainUntilDate != nil && ret.Retention.RetainUntilDate.After(now) {
			return true, nil
		}
	case errors.As(err, &api) && (api.ErrorCode() == "NoSuchObjectLockConfiguration" || api.ErrorCode() == "MethodNotAllowed" ||
		api.ErrorCode() == "InvalidRequest" || isNotFound(err)):
	default:
		return false, s.wrap("GetObjectRetention", err)
	}
	return false, nil
}

// withoutLocked drops, on an Object Lock bucket, the keys with a locked
// version (never sent to DeleteObjects) and returns them.
func (s *S3) withoutLocked(ctx context.Context, keys []string, perKey [][]types.ObjectIdentifier) (lockedKeys map[int]bool, err error) {
	lockedKeys = map[int]bool{}
	if !s.ObjectLock() {
		return lockedKeys, nil
	}
	now := time.Now()
	for i := range keys {
		for _, id := range perKey[i] {
			l, err := s.locked(ctx, id, now)
			if err != nil {
				return lockedKeys, err
			}
			if l {
				lockedKeys[i] = true
				break
			}
		}
	}
	return lockedKeys, nil
}

func lockedError(n int) error {
	return fmt.Errorf("%w: %d blob(s) under a legal hold or retention date left in place (and queued)", ErrLocked, n)
}
