// Package integrity checks and repairs what the store and the blob store
// hold together: orphaned rows, attachment rows without contents, contents
// without rows, contents that do not match their recorded SHA-256 and size,
// and the durable queue of blob deletions.
package integrity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// Kinds of problems found in the blob store (the store's own are in
// store.Problem* constants).
const (
	ProblemBlobMissing      = "attachment_blob_missing"
	ProblemBlobSizeMismatch = "attachment_blob_size_mismatch"
	ProblemBlobHashMismatch = "attachment_blob_sha256_mismatch"
	ProblemBlobWithoutRow   = "blob_without_row"
	// ProblemNotABlob is a file in the blob directory whose name is not a
	// blob key (put there by hand, or by another program): never removed.
	ProblemNotABlob = "not_a_blob_file"
)

// DefaultGrace is how old a blob file without a row must be before Repair
// removes it: younger files may belong to a load that has not committed yet.
const DefaultGrace = 10 * time.Minute

// DefaultMaxListed bounds the problems a Report lists per kind; all are
// counted.
const DefaultMaxListed = 1000

// Options tune Check and Repair.
type Options struct {
	// Deep reads every blob and compares its SHA-256 with the row's.
	Deep bool
	// MaxListed bounds the problems listed per kind (DefaultMaxListed when 0).
	MaxListed int
	// DryRun makes Repair report what it would do without doing it.
	DryRun bool
	// Grace is the minimum age of an orphan blob file that Repair removes
	// and that Check reports: a younger one may belong to an ingest that
	// has not committed yet (DefaultGrace when 0).
	Grace time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxListed <= 0 {
		o.MaxListed = DefaultMaxListed
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Report is the outcome of Check.
type Report struct {
	Clean       bool             `json:"clean"`
	Counts      map[string]int64 `json:"counts"`   // problems per kind
	Problems    []store.Problem  `json:"problems"` // at most MaxListed per kind
	Attachments int64            `json:"attachments_checked"`
	Blobs       int64            `json:"blobs_checked"`
	Deep        bool             `json:"deep"`
	// FreshBlobs counts blob files without a row younger than the grace
	// period: left alone, not problems.
	FreshBlobs int64 `json:"fresh_blobs_without_row"`
	// BlobStore describes an object store (versioning, Object Lock,
	// lifecycle warnings); nil for a directory.
	BlobStore *blobs.Description `json:"blob_store,omitempty"`
}

func (r *Report) add(p store.Problem, maxListed int) {
	r.Counts[p.Kind]++
	if r.Counts[p.Kind] <= int64(maxListed) {
		r.Problems = append(r.Problems, p)
	}
}

// Check verifies the store and the blob store together. It writes nothing.
// The report is clean only when no problem of any kind was found (pending
// blob deletions included: they mean a purge has not finished).
func Check(ctx context.Context, db *store.DB, bs blobs.Store, opts Options) (Report, error) {
	opts.defaults()
	r := Report{Counts: map[string]int64{}, Problems: []store.Problem{}, Deep: opts.Deep}
	h, err := db.Hasher(ctx)
	if err != nil {
		return r, err
	}
	if err := db.CheckRows(ctx, h, func(p store.Problem) error { r.add(p, opts.MaxListed); return nil }); err != nil {
		return r, err
	}
	if d, ok := bs.(blobs.Describer); ok {
		desc, err := d.Describe(ctx)
		if err != nil {
			return r, fmt.Errorf("blob store: %w", err)
		}
		r.BlobStore = &desc
	}
	// Rows without blobs, and blobs that differ from their row.
	err = store.EachAttachmentBlob(ctx, db, func(a store.AttachmentBlob) error {
		r.Attachments++
		p, err := checkBlob(ctx, bs, a, opts.Deep)
		if err != nil {
			return err
		}
		if p != "" {
			r.add(store.Problem{Kind: p, Ref: a.AttachmentID}, opts.MaxListed)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	// Blobs without rows. Keys queued for deletion are reported as pending
	// deletions by the row checks, not as orphans. The listing (in key
	// order) is merged with the store's keys read in pages: memory stays
	// flat however many blobs there are.
	refs := store.NewBlobRefs(db)
	cutoff := opts.Now().Add(-opts.Grace)
	err = bs.Walk(ctx, func(key string) error {
		r.Blobs++
		if ref, queued, err := refs.Known(ctx, key); err != nil || ref || queued {
			return err
		}
		mod, ok, err := age(ctx, bs, key)
		switch {
		case errors.Is(err, errNotABlob):
			r.add(store.Problem{Kind: ProblemNotABlob, Ref: key}, opts.MaxListed)
		case errors.Is(err, os.ErrNotExist):
			// removed meanwhile (a drain)
		case err != nil:
			return err
		case ok && mod.After(cutoff):
			r.FreshBlobs++
		default:
			r.add(store.Problem{Kind: ProblemBlobWithoutRow, Ref: key}, opts.MaxListed)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("walk blob store: %w", err)
	}
	sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Kind < r.Problems[j].Kind })
	r.Clean = len(r.Counts) == 0
	return r, nil
}

// checkBlob returns the kind of problem of one attachment's blob, or "".
func checkBlob(ctx context.Context, bs blobs.Store, a store.AttachmentBlob, deep bool) (string, error) {
	if size, _, ok, err := stat(ctx, bs, a.BlobKey); ok || err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return ProblemBlobMissing, nil
		case err != nil:
			return "", fmt.Errorf("blob of attachment %s: %w", a.AttachmentID, err)
		case size != a.Size:
			return ProblemBlobSizeMismatch, nil
		}
	} else {
		exists, err := bs.Exists(ctx, a.BlobKey)
		if err != nil {
			return "", fmt.Errorf("blob of attachment %s: %w", a.AttachmentID, err)
		}
		if !exists {
			return ProblemBlobMissing, nil
		}
	}
	if !deep {
		return "", nil
	}
	rc, err := bs.Open(ctx, a.BlobKey)
	if errors.Is(err, blobs.ErrNotFound) {
		return ProblemBlobMissing, nil
	}
	if err != nil {
		return "", fmt.Errorf("blob of attachment %s: %w", a.AttachmentID, err)
	}
	defer rc.Close()
	hs := sha256.New()
	n, err := io.Copy(hs, rc)
	if err != nil {
		return "", fmt.Errorf("read blob of attachment %s: %w", a.AttachmentID, err)
	}
	if n != a.Size {
		return ProblemBlobSizeMismatch, nil
	}
	if hex.EncodeToString(hs.Sum(nil)) != a.SHA256 {
		return ProblemBlobHashMismatch, nil
	}
	return "", nil
}

// pather is what a blob store that keeps files offers (blobs.Dir does): the
// file behind a key, whose size and age Check and Repair can read.
type pather interface {
	Path(key string) (string, error)
}

// errNotABlob marks a file of the blob directory whose name is not a key.
var errNotABlob = errors.New("not a blob key")

// stat returns a blob's size and modification time; ok is false when
// the store has no files to stat and cannot stat objects either.
func stat(ctx context.Context, bs blobs.Store, key string) (size int64, mod time.Time, ok bool, err error) {
	if st, isStater := bs.(interface {
		Stat(context.Context, string) (blobs.Info, error)
	}); isStater {
		info, err := st.Stat(ctx, key)
		if errors.Is(err, blobs.ErrNotFound) {
			return 0, time.Time{}, true, os.ErrNotExist
		}
		return info.Size, info.Modified, true, err
	}
	p, isPather := bs.(pather)
	if !isPather {
		return 0, time.Time{}, false, nil
	}
	path, err := p.Path(key)
	if err != nil {
		return 0, time.Time{}, true, fmt.Errorf("%w: %w", errNotABlob, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, time.Time{}, true, err
	}
	return fi.Size(), fi.ModTime(), true, nil
}

// age returns when an orphan was last written, for the grace period. An
// object store tells it from its versions (an orphan may have only
// noncurrent ones); a directory from the file.
func age(ctx context.Context, bs blobs.Store, key string) (mod time.Time, ok bool, err error) {
	if lm, isLM := bs.(interface {
		LastModified(context.Context, string) (time.Time, bool, error)
	}); isLM {
		mod, found, err := lm.LastModified(ctx, key)
		if err == nil && !found {
			return mod, true, os.ErrNotExist
		}
		return mod, true, err
	}
	_, mod, ok, err = stat(ctx, bs, key)
	return mod, ok, err
}

// DrainBlobQueue carries out up to limit queued blob deletions (all of them
// when limit <= 0): for each key, the blob file is deleted, then the queue
// row. A crash between the two leaves the row, and the next drain deletes
// the (already missing) file again, which is harmless. Keys that an
// attachment still refers to are never deleted (check reports them). Call it
// after the transaction that queued the deletions has committed.
func DrainBlobQueue(ctx context.Context, db *store.DB, bs blobs.Store, limit int) (int, error) {
	const batch = 1000
	done := 0
	for limit <= 0 || done < limit {
		n := batch
		if limit > 0 {
			n = min(batch, limit-done)
		}
		keys, err := store.PendingBlobDeletions(ctx, db, n)
		if err != nil {
			return done, err
		}
		if bd, ok := bs.(blobs.BatchDeleter); ok {
			// An object store: one DeleteObjects request per 1,000 keys.
			gone, err := bd.DeleteKeys(ctx, keys)
			if _, derr := store.DequeueBlobs(ctx, db, gone); derr != nil {
				return done, derr
			}
			done += len(gone)
			if err != nil {
				return done, fmt.Errorf("drain blob deletion queue: %w", err)
			}
			if len(keys) < n {
				break
			}
			continue
		}
		// Keys the store refuses stay queued and reported; the others of
		// the batch go (a refused key is fetched first again next time, so
		// the drain stops after the batch that met one).
		m, err := blobs.DeleteEach(ctx, bs, keys, func(k string) error { return store.DequeueBlobDeletion(ctx, db, k) })
		done += m
		if err != nil {
			return done, fmt.Errorf("drain blob deletion queue: %w", err)
		}
		if len(keys) < n {
			break
		}
	}
	return done, nil
}

// RepairResult is the outcome of Repair.
type RepairResult struct {
	DryRun            bool     `json:"dry_run"`
	DeletionsDrained  int      `json:"blob_deletions_drained"`
	OrphansRemoved    int      `json:"orphan_blobs_removed"`
	OrphansTooRecent  int      `json:"orphan_blobs_too_recent"`
	OrphansUnknownAge int      `json:"orphan_blobs_unknown_age"`
	NotBlobs          int      `json:"not_a_blob_files"` // files whose name is not a blob key: skipped
	OrphanKeys        []string `json:"orphan_blob_keys"` // removed (or, in a dry run, to remove)
	TempFilesRemoved  int      `json:"interrupted_writes_removed"`
	GraceSeconds      int64    `json:"grace_seconds"`
	AuditSeq          int64    `json:"audit_seq,omitempty"`
}

// Repair finishes the blob deletion queue and removes blob files that no
// row refers to, no deletion is queued for and that are older than the
// grace period. It never deletes rows: orphaned rows need a human decision
// and are left for `check` to report. The orphan sweep holds the lock that
// loads writing blobs take (store.LockBlobWrites), so it never races an
// ingest; the grace period covers writers that do not take it.
func Repair(ctx context.Context, db *store.DB, bs blobs.Store, opts Options) (RepairResult, error) {
	opts.defaults()
	res := RepairResult{DryRun: opts.DryRun, OrphanKeys: []string{}, GraceSeconds: int64(opts.Grace / time.Second)}
	if opts.DryRun {
		keys, err := store.PendingBlobDeletions(ctx, db, 1<<30)
		if err != nil {
			return res, err
		}
		res.DeletionsDrained = len(keys)
	} else {
		n, err := DrainBlobQueue(ctx, db, bs, 0)
		res.DeletionsDrained = n
		if err != nil {
			return res, err
		}
	}
	cutoff := opts.Now().Add(-opts.Grace)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.LockBlobSweep(ctx, tx); err != nil {
			return err
		}
		refs := store.NewBlobRefs(tx)
		var orphans []string
		if err := bs.Walk(ctx, func(key string) error {
			ref, queued, err := refs.Known(ctx, key)
			if err == nil && !ref && !queued {
				orphans = append(orphans, key)
			}
			return err
		}); err != nil {
			return fmt.Errorf("walk blob store: %w", err)
		}
		// Temporary files of writes interrupted by a crash (not listed by
		// Walk) may hold part of an attachment: remove them past the grace.
		if sw, ok := bs.(interface {
			SweepTemp(context.Context, time.Time) (int, error)
		}); ok && !opts.DryRun {
			n, err := sw.SweepTemp(ctx, cutoff)
			res.TempFilesRemoved = n
			if err != nil {
				return err
			}
		}
		for _, k := range orphans {
			mod, ok, err := age(ctx, bs, k)
			switch {
			case errors.Is(err, os.ErrNotExist):
				continue
			case errors.Is(err, errNotABlob):
				res.NotBlobs++
				continue
			case err != nil:
				return err
			case !ok:
				res.OrphansUnknownAge++
				continue
			case mod.After(cutoff):
				res.OrphansTooRecent++
				continue
			}
			if !opts.DryRun {
				if err := bs.Delete(ctx, k); err != nil {
					return err
				}
			}
			res.OrphansRemoved++
			res.OrphanKeys = append(res.OrphanKeys, k)
		}
		if opts.DryRun {
			return nil
		}
		seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{
			At: opts.Now(), Actor: "cli", Action: "check.repair", Outcome: "ok",
			Detail: map[string]any{
				"blob_deletions_drained": res.DeletionsDrained, "orphan_blobs_removed": res.OrphansRemoved,
				"orphan_blobs_too_recent": res.OrphansTooRecent, "grace_seconds": res.GraceSeconds,
				"interrupted_writes_removed": res.TempFilesRemoved, "not_a_blob_files": res.NotBlobs,
			},
		})
		res.AuditSeq = seq
		return err
	})
	return res, err
}
