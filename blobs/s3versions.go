package blobs

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Listing the versions of many keys (a deletion on a versioned bucket).
//
// One ListObjectVersions per key (a prefix listing of exactly that key)
// costs one request per document: 75,000 requests to purge 75,000
// documents, and on servers that walk their namespace per listing
// (versitygw's posix backend reads the whole prefix directory for each) as
// many full scans. Instead the wanted keys are sorted and the prefix is
// listed in key order from just before the first of them, 1,000 entries a
// page: one page covers every wanted key up to its last entry. Where the
// next wanted key lies past the page, the listing jumps there (a new
// listing whose KeyMarker is just before it) rather than reading the keys
// in between. So a batch of N keys costs about (versions of the range) /
// 1,000 requests when the keys are dense, and at most one per key when
// they are sparse, where the listing falls back to prefix listings of one
// key each (small answers) until a probe page finds them dense again.
// Entries are matched by exact key: a key that merely shares a prefix with
// a wanted one ("att/abcd" and "att/abcd1") is never taken.

// listPage is the page size of a dense listing (the S3 maximum; tests
// lower it to cross pages with few objects).
var listPage int32 = 1000

const (
	// sparseRun is how many keys are listed one by one after a full page
	// found the keys sparse, before the next probe page.
	sparseRun = 32
	// segmentMin is the fewest keys a parallel listing segment gets.
	segmentMin = 64
)

// versionsOfKeys lists every version and delete marker of each of keys
// (object names under the prefix, i.e. s.name(key)). It returns them per
// key, in the order of keys, and per key the error that left its listing
// incomplete. The sorted keys are split into up to deleteWorkers
// contiguous segments listed at once.
func (s *S3) versionsOfKeys(ctx context.Context, keys []string) ([][]types.ObjectIdentifier, []error) {
	perKey := make([][]types.ObjectIdentifier, len(keys))
	errs := make([]error, len(keys))
	idx := make(map[string][]int, len(keys))
	names := make([]string, 0, len(keys))
	for i, k := range keys {
		n := s.name(k)
		if _, dup := idx[n]; !dup {
			names = append(names, n)
		}
		idx[n] = append(idx[n], i)
	}
	sort.Strings(names)
	segs := min(deleteWorkers, max(1, len(names)/segmentMin))
	var wg sync.WaitGroup
	var mu sync.Mutex
	per := (len(names) + segs - 1) / segs
	for lo := 0; lo < len(names); lo += per {
		seg := names[lo:min(lo+per, len(names))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			found, err := s.listVersions(ctx, seg)
			mu.Lock()
			defer mu.Unlock()
			for _, n := range seg {
				for _, i := range idx[n] {
					if err != nil {
						errs[i] = err
						continue
					}
					perKey[i] = found[n]
				}
			}
		}()
	}
	wg.Wait()
	return perKey, errs
}

// listVersions lists the versions and delete markers of names (sorted,
// distinct, each under the prefix) and returns them by name.
func (s *S3) listVersions(ctx context.Context, names []string) (map[string][]types.ObjectIdentifier, error) {
	found := make(map[string][]types.ObjectIdentifier, len(names))
	wanted := make(map[string]bool, len(names))
	for _, n := range names {
		wanted[n] = true
	}
	// seen drops an entry listed twice (a server that repeats the
	// version it was given as VersionIdMarker): DeleteObjects refuses a
	// request naming a version twice.
	seen := map[string]bool{} // key NUL version id
	take := func(out *s3.ListObjectVersionsOutput) {
		for _, v := range out.Versions {
			if k := aws.ToString(v.Key); wanted[k] && !seen[k+"\x00"+aws.ToString(v.VersionId)] {
				seen[k+"\x00"+aws.ToString(v.VersionId)] = true
				found[k] = append(found[k], types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
			}
		}
		for _, d := range out.DeleteMarkers {
			if k := aws.ToString(d.Key); wanted[k] && !seen[k+"\x00"+aws.ToString(d.VersionId)] {
				seen[k+"\x00"+aws.ToString(d.VersionId)] = true
				found[k] = append(found[k], types.ObjectIdentifier{Key: d.Key, VersionId: d.VersionId})
			}
		}
	}
	sparse := 0 // keys left to list one by one
	i := 0      // the first name not fully listed yet
	for i < len(names) {
		if sparse > 0 {
			// A prefix listing of this one name (and the names it is a
			// prefix of, which take ignores).
			p := s3.NewListObjectVersionsPaginator(s.client, &s3.ListObjectVersionsInput{
				Bucket: &s.loc.Bucket, Prefix: aws.String(names[i])})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					return nil, s.wrap("ListBucketVersions", err)
				}
				take(out)
			}
			i++
			sparse--
			continue
		}
		// A listing of the prefix in key order, from just before names[i]
		// (a KeyMarker shorter than it sorts before it: whether the server
		// takes the marker's own key or not, take ignores it).
		in := &s3.ListObjectVersionsInput{
			Bucket: &s.loc.Bucket, Prefix: aws.String(s.loc.Prefix),
			KeyMarker: aws.String(names[i][:len(names[i])-1]), MaxKeys: aws.Int32(listPage),
		}
		for {
			out, err := s.client.ListObjectVersions(ctx, in)
			if err != nil {
				return nil, s.wrap("ListBucketVersions", err)
			}
			take(out)
			if !aws.ToBool(out.IsTruncated) {
				return found, nil // the prefix is listed to its end
			}
			next := aws.ToString(out.NextKeyMarker)
			if next == "" || next < aws.ToString(in.KeyMarker) ||
				next == aws.ToString(in.KeyMarker) && aws.ToString(out.NextVersionIdMarker) == aws.ToString(in.VersionIdMarker) {
				return nil, fmt.Errorf("%w: s3 ListObjectVersions on bucket %q: a truncated page without a next marker past the last", ErrUnavailable, s.loc.Bucket)
			}
			covered := 0
			for i < len(names) && names[i] < next {
				i++
				covered++
			}
			if i == len(names) {
				return found, nil
			}
			if names[i] == next || names[i][:len(names[i])-1] <= next {
				// names[i]'s versions go on in the next page, or a jump
				// would not start past this page (keys between the
				// marker and names[i] filled it): page on.
				in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
				continue
			}
			if n := len(out.Versions) + len(out.DeleteMarkers); n >= int(listPage) && covered < 2 {
				// A full page held at most one wanted key: they are
				// sparse, list the next ones one by one.
				sparse = sparseRun
			}
			break // jump to names[i]
		}
	}
	return found, nil
}
