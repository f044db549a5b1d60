package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// drainWorkers is how many directories (or keys, for a store that is not
// a directory) a drainer works on at once: concurrent directory syncs
// share the file system's journal commits.
const drainWorkers = 4

// drainQueue is how many committed batches' keys may wait for the
// drainer: the removal of blob contents (I/O bound) then overlaps the next
// categories instead of holding up the attachments phase. 64 batches of at
// most 5000 keys is a few megabytes.
const drainQueue = 64

// drainer removes, in the background, the blob contents whose rows the
// run's committed batches deleted, while the next batches proceed. For
// each chunk of keys it checks that they are still queued and unreferenced,
// removes the contents, then dequeues them in one statement: a crash at any
// point leaves only queue rows whose contents may already be gone, which
// the next run (or check --repair) finishes. A failure is logged, never
// fatal: the queue is durable.
type drainer struct {
	db   *store.DB
	bs   blobs.Store
	log  *slog.Logger
	ch   chan []string
	done chan struct{}

	removed int64 // written by the drainer goroutine, read after done
	err     error // the first failure, likewise
	stopped bool  // a failure of the whole store (or a signal): try no more
}

// newDrainer starts a drainer that stops removing when ctx is done (a
// signal: the queue is durable, the next run finishes).
func newDrainer(ctx context.Context, db *store.DB, bs blobs.Store, log *slog.Logger) *drainer {
	d := &drainer{db: db, bs: bs, log: log, ch: make(chan []string, drainQueue), done: make(chan struct{})}
	go d.run(ctx)
	return d
}

// add hands over the keys of one committed batch. It blocks while the
// drainer is drainQueue batches behind, which bounds memory.
func (d *drainer) add(keys []string) {
	if len(keys) > 0 {
		d.ch <- keys
	}
}

// close waits for every key handed over and returns how many contents
// were removed, and the first failure.
func (d *drainer) close() (int64, error) {
	close(d.ch)
	<-d.done
	return d.removed, d.err
}

func (d *drainer) run(ctx context.Context) {
	defer close(d.done)
	for keys := range d.ch {
		if d.stopped {
			continue // left queued for the next run
		}
		if err := ctx.Err(); err != nil {
			d.err, d.stopped = cmp.Or(d.err, err), true
			continue
		}
		if err := d.drain(ctx, keys); err != nil {
			d.log.Warn("retention: blob queue not drained; it will be on the next run", "error", err.Error())
			d.err = cmp.Or(d.err, err)
			// A store that is unreachable (a hanging endpoint cost minutes
			// a try) or a signal stops the removals; a key the store
			// refuses does not stop the others (adversarial pass 8 F2).
			d.stopped = errors.Is(err, blobs.ErrUnavailable) || ctx.Err() != nil
		}
	}
}

func (d *drainer) drain(ctx context.Context, keys []string) error {
	keys, err := store.UnreferencedQueuedBlobs(ctx, d.db, keys)
	if err != nil || len(keys) == 0 {
		return err
	}
	gone, err := d.remove(ctx, keys)
	d.removed += int64(len(gone))
	if _, derr := store.DequeueBlobs(ctx, d.db, gone); derr != nil {
		return derr
	}
	return err
}

// pather is a blob store whose contents are files (*blobs.Dir).
type pather interface {
	Path(key string) (string, error)
}

// remove deletes the contents of keys durably and returns the keys whose
// contents are gone, with the first error met. For a directory store the
// files are removed grouped by directory, each directory synced once after
// its removals (a chunk of 2,000 keys spreads over the 256 directories of
// blobs.Dir: 8 times fewer syncs than one per key, the same durability
// before the dequeue); an object store deletes in batches
// (blobs.BatchDeleter); other stores delete key by key, drainWorkers at
// once.
func (d *drainer) remove(ctx context.Context, keys []string) ([]string, error) {
	if bd, ok := d.bs.(blobs.BatchDeleter); ok {
		// An object store: DeleteObjects in requests of up to 1,000 keys
		// (every version of each on a versioned bucket).
		return bd.DeleteKeys(ctx, keys)
	}
	var groups [][]string
	var paths map[string]string
	if pd, ok := d.bs.(pather); ok {
		paths = make(map[string]string, len(keys))
		byDir := map[string]int{}
		for _, k := range keys {
			p, err := pd.Path(k)
			if err != nil {
				return nil, err
			}
			paths[k] = p
			dir := filepath.Dir(p)
			i, ok := byDir[dir]
			if !ok {
				i = len(groups)
				byDir[dir] = i
				groups = append(groups, nil)
			}
			groups[i] = append(groups[i], k)
		}
	} else {
		for _, k := range keys {
			groups = append(groups, []string{k})
		}
	}
	errs := make([]error, len(groups))
	left := make([]map[string]bool, len(groups)) // a group's keys not removed
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(drainWorkers, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if paths == nil {
					errs[i] = d.bs.Delete(ctx, groups[i][0])
				} else {
					left[i], errs[i] = removeFiles(groups[i], paths)
				}
			}
		}()
	}
	for i := range groups {
		next <- i
	}
	close(next)
	wg.Wait()
	var gone []string
	var first error
	for i, g := range groups {
		if errs[i] != nil && first == nil {
			first = errs[i]
		}
		if errs[i] != nil && left[i] == nil {
			continue // nothing of the group is known removed
		}
		for _, k := range g {
			if !left[i][k] {
				gone = append(gone, k)
			}
		}
	}
	return gone, first
}

// removeFiles removes the files of keys, all in one directory, then syncs
// that directory so that the removals survive a crash. A missing file is
// not an error (removed before a crash, or never written). A file that
// cannot be removed does not stop the others (adversarial pass 8 F2): it
// returns the keys left, and the first failure. When the directory cannot
// be synced, no removal is known durable: every key is left.
func removeFiles(keys []string, paths map[string]string) (map[string]bool, error) {
	left := map[string]bool{}
	var first error
	for _, k := range keys {
		if err := os.Remove(paths[k]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			left[k] = true
			if first == nil {
				first = fmt.Errorf("delete blob %s: %w", k, err)
			}
		}
	}
	dir, err := os.Open(filepath.Dir(paths[keys[0]]))
	if err != nil {
		return nil, fmt.Errorf("sync blob directory: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return nil, fmt.Errorf("sync blob directory: %w", err)
	}
	return left, first
}
