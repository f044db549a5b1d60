// Package blobs stores attachment contents outside the database, behind a
// small interface so that an object store can follow the directory one.
package blobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotFound is returned when a blob does not exist.
var ErrNotFound = errors.New("blob not found")

// Store holds blob contents by key. Keys are opaque strings made by NewKey:
// never a user-supplied file name.
type Store interface {
	// Put writes r under key atomically and durably, returning its SHA-256
	// (hex) and size.
	Put(ctx context.Context, key string, r io.Reader) (sha string, size int64, err error)
	// Open reads a blob.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// Exists reports whether a blob exists.
	Exists(ctx context.Context, key string) (bool, error)
	// Walk calls fn with every key in the store.
	Walk(ctx context.Context, fn func(key string) error) error
}

// NewKey returns a fresh random key (32 hex digits).
func NewKey() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Dir is a Store in a local directory: DIR/ab/abcdef….
type Dir struct{ root string }

// NewDir returns a directory blob store rooted at root, creating it (0700).
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("blob directory not set")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", root, err)
	}
	return &Dir{root: root}, nil
}

// Root returns the directory.
func (d *Dir) Root() string { return d.root }

func validKey(key string) error {
	if len(key) < 4 || len(key) > 128 {
		return fmt.Errorf("invalid blob key %q", key)
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("invalid blob key %q", key)
		}
	}
	return nil
}

// Path returns the file path of a key.
func (d *Dir) Path(key string) (string, error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, key[:2], key), nil
}

// Put implements Store.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (string, int64, error) {
	p, err := d.Path(key)
	if err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", 0, fmt.Errorf("blob %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", key, err)
	}
	syncDir(filepath.Dir(p))
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Open implements Store.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.Path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return f, err
}

// Delete implements Store.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.Path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	syncDir(filepath.Dir(p))
	return nil
}

// Exists implements Store.
func (d *Dir) Exists(ctx context.Context, key string) (bool, error) {
	p, err := d.Path(key)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Walk implements Store. Temporary files of interrupted writes are skipped.
func (d *Dir) Walk(ctx context.Context, fn func(key string) error) error {
	return filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(e.Name())
	})
}

// SweepTemp removes the temporary files that interrupted writes (a process
// killed inside Put) left behind, when they were last modified before
// before, and returns how many it removed. They may hold part of an
// attachment's contents, and Walk does not list them.
func (d *Dir) SweepTemp(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.ModTime().Before(before) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove interrupted blob write: %w", err)
		}
		n++
		return nil
	})
	return n, err
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

// TypedPutter is a Store that keeps the contents' media type (S3 does).
type TypedPutter interface {
	PutTyped(ctx context.Context, key, contentType string, r io.Reader) (sha string, size int64, err error)
}

// PutTyped writes r under key with its media type where the store keeps
// one, and as Put does elsewhere.
func PutTyped(ctx context.Context, s Store, key, contentType string, r io.Reader) (string, int64, error) {
	if tp, ok := s.(TypedPutter); ok {
		return tp.PutTyped(ctx, key, contentType, r)
	}
	return s.Put(ctx, key, r)
}

// BatchDeleter is a Store that deletes many keys in few requests (S3's
// DeleteObjects). DeleteKeys returns the keys that are gone, with the first
// error met.
type BatchDeleter interface {
	DeleteKeys(ctx context.Context, keys []string) (gone []string, err error)
}

// maxDeleteFailures bounds the failures DeleteEach goes past before it
// stops: a store failing every key is not worth a try per key.
const maxDeleteFailures = 100

// DeleteEach deletes keys one by one and calls deleted (which records the
// removal) after each success. A key the store refuses (a file the process
// may not remove, an object under Object Lock) does not stop the others
// (adversarial pass 8 F2: one such key kept every key queued after it, an
// erased subject's other documents included); a store that is unreachable
// (ErrUnavailable), a cancelled context, an error from deleted, or more
// than a hundred refusals stop it. It returns how many it removed and,
// when any key is left, an error counting them and wrapping the first
// failure.
func DeleteEach(ctx context.Context, s Store, keys []string, deleted func(key string) error) (int, error) {
	n, failed := 0, 0
	var first error
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return n, leftError(len(keys)-n, len(keys), first, err)
		}
		if err := s.Delete(ctx, k); err != nil {
			failed++
			if first == nil {
				first = err
			}
			if errors.Is(err, ErrUnavailable) || ctx.Err() != nil || failed > maxDeleteFailures {
				return n, leftError(len(keys)-n, len(keys), first, nil)
			}
			continue
		}
		if err := deleted(k); err != nil {
			return n, err
		}
		n++
	}
	if failed > 0 {
		return n, leftError(failed, len(keys), first, nil)
	}
	return n, nil
}

func leftError(left, of int, first, stop error) error {
	if first == nil {
		return fmt.Errorf("%d of %d contents left: %w", left, of, stop)
	}
	return fmt.Errorf("%d of %d contents left (first failure: %w)", left, of, first)
}
