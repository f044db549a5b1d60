package blobs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ErrBadLocation marks a --blobs value that is neither a directory nor a
// valid s3://BUCKET[/PREFIX] URL (exit 2).
var ErrBadLocation = errors.New("bad blob store location")

// ErrUnavailable marks a blob store that cannot be reached (exit 1): an
// unreachable endpoint, refused credentials, a server that keeps failing.
var ErrUnavailable = errors.New("blob store unavailable")

// ErrSetup marks a blob store that is reachable but not usable as
// configured (exit 2): a missing bucket, a missing permission.
var ErrSetup = errors.New("blob store not set up")

// Location is a parsed --blobs value: a local directory, or a bucket and a
// key prefix in an S3-compatible object store.
type Location struct {
	Dir    string // set for a directory store
	Bucket string // set for an S3 store
	Prefix string // "" or ending in "/"
}

// IsS3 reports whether the location is an S3 bucket.
func (l Location) IsS3() bool { return l.Bucket != "" }

// String returns the location as the user wrote it (it holds no secret).
func (l Location) String() string {
	if l.IsS3() {
		return "s3://" + l.Bucket + "/" + l.Prefix
	}
	return l.Dir
}

var (
	schemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*:`)
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$`)
	ipRe     = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)
)

// ParseLocation parses a --blobs value. "s3://BUCKET[/PREFIX]" is an S3
// location; any other "SCHEME://…" (and "s3:" without "//") is
// ErrBadLocation, never a directory named after it; everything else is a
// directory path.
func ParseLocation(v string) (Location, error) {
	if v == "" {
		return Location{}, fmt.Errorf("%w: empty", ErrBadLocation)
	}
	scheme := ""
	if m := schemeRe.FindString(v); m != "" {
		scheme = strings.ToLower(strings.TrimSuffix(m, ":"))
	}
	switch {
	case scheme == "s3":
		return parseS3(v)
	case scheme != "" && strings.HasPrefix(v[len(scheme)+1:], "//"):
		return Location{}, fmt.Errorf("%w: unknown scheme %q in --blobs (want a directory or s3://BUCKET[/PREFIX])", ErrBadLocation, scheme)
	}
	return Location{Dir: v}, nil
}

func parseS3(v string) (Location, error) {
	bad := func(why string) (Location, error) {
		return Location{}, fmt.Errorf("%w: %s: want s3://BUCKET[/PREFIX]", ErrBadLocation, why)
	}
	if !strings.HasPrefix(v, "s3://") {
		return bad("an s3 location starts with s3:// (lower case)")
	}
	u, err := url.Parse(v)
	if err != nil {
		return bad("not a URL")
	}
	switch {
	case u.User != nil:
		return bad("credentials do not belong in the URL (use the AWS environment or config)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("no query or fragment allowed")
	case u.Port() != "":
		return bad("no port allowed (the endpoint comes from AWS_ENDPOINT_URL)")
	case u.Host == "":
		return bad("no bucket name")
	case !bucketRe.MatchString(u.Host) || strings.Contains(u.Host, "..") || ipRe.MatchString(u.Host):
		return bad(fmt.Sprintf("invalid bucket name %q (3-63 lower-case letters, digits, dots and hyphens)", u.Host))
	}
	p := strings.Trim(u.Path, "/")
	if p != "" {
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return bad("invalid prefix (empty, . or .. segment)")
			}
		}
		p += "/"
	}
	if len(p) > 512 {
		return bad("prefix too long")
	}
	return Location{Bucket: u.Host, Prefix: p}, nil
}

// Open opens the blob store at a --blobs value: a directory (created 0700)
// or an S3 bucket configured from the standard AWS environment and config
// chain (see NewS3).
func Open(ctx context.Context, v string) (Store, error) {
	loc, err := ParseLocation(v)
	if err != nil {
		return nil, err
	}
	if loc.IsS3() {
		return NewS3(ctx, loc, S3Options{})
	}
	return NewDir(loc.Dir)
}
