package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"syscall"
)

// Lock is an exclusive, cross-process lock taken with TryLock. On PostgreSQL
// it is a session advisory lock held by a dedicated connection, so it is
// shared by every machine using the database and released by the server
// when the process dies; on SQLite it is an flock on a sidecar file
// ("<db>.<name>.lock"), released by the kernel even on SIGKILL.
type Lock struct {
	once    sync.Once
	release func() error
	err     error
	// check, when set, verifies the lock is still held (PostgreSQL).
	check func(ctx context.Context) error
}

// ErrLockLost is returned by Lock.Check when a lock taken with TryLock is
// no longer held: its PostgreSQL session ended (pg_terminate_backend, a
// server restart, idle_session_timeout) and another process may hold it now.
var ErrLockLost = errors.New("lock lost")

// Check reports whether the lock is still held: nil, or an error wrapping
// ErrLockLost. A file lock cannot be lost while its process lives; a
// PostgreSQL session lock is lost with its session, so Check asks the
// server, on the lock's own connection, whether that session still holds it.
// A long holder calls it before each commit that relies on the lock.
func (l *Lock) Check(ctx context.Context) error {
	if l == nil || l.check == nil {
		return nil
	}
	return l.check(ctx)
}

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	l.once.Do(func() { l.err = l.release() })
	return l.err
}

// memLocks serialises in-memory SQLite stores, which have no file to lock.
var memLocks sync.Map // name → *sync.Mutex

// TryLock takes the named lock without waiting: ErrBusy (wrapped) when
// another process, or another caller in this one, holds it.
func (db *DB) TryLock(ctx context.Context, name string) (*Lock, error) {
	if db.dialect == Postgres {
		return db.tryPGLock(ctx, name)
	}
	if db.path == "" {
		m, _ := memLocks.LoadOrStore(name, &sync.Mutex{})
		mu := m.(*sync.Mutex)
		if !mu.TryLock() {
			return nil, fmt.Errorf("%s lock: %w: another run holds it", name, ErrBusy)
		}
		return &Lock{release: func() error { mu.Unlock(); return nil }}, nil
	}
	return tryFileLock(db.path+"."+name+".lock", name)
}

// LockPath returns the sidecar lock file of a SQLite store for the named
// lock, or "" on PostgreSQL.
func (db *DB) LockPath(name string) string {
	if db.dialect == Postgres || db.path == "" {
		return ""
	}
	return db.path + "." + name + ".lock"
}

func tryFileLock(path, name string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s lock file: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s lock: %w: another run holds %s", name, ErrBusy, path)
		}
		return nil, fmt.Errorf("%s lock %s: %w", name, path, err)
	}
	// The file is left in place: removing it would let a third process lock
	// a fresh inode while a second still waits on the old one.
	return &Lock{release: func() error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}}, nil
}

// lockKey maps a lock name to a PostgreSQL advisory lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("oubli:" + name))
	return int64(h.Sum64())
}

func (db *DB) tryPGLock(ctx context.Context, name string) (*Lock, error) {
	conn, err := db.x.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s lock: connect: %w", name, err)
	}
	key := lockKey(name)
	var ok bool
	if err := conn.GetContext(ctx, &ok, "SELECT pg_try_advisory_lock($1)", key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s lock: %w", name, mapErr(err))
	}
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("%s lock: %w: another run holds it (PostgreSQL advisory lock %d)", name, ErrBusy, key)
	}
	// The lock lives as long as this session: a session-idle timeout set
	// for the database (PostgreSQL 14+) must not end it while the holder
	// works on other connections. Older servers do not know the setting.
	_, _ = conn.ExecContext(ctx, "SET idle_session_timeout = 0")
	var mu sync.Mutex // one query at a time on the lock's connection
	hi, lo := int64(uint64(key)>>32), int64(uint32(uint64(key)))
	check := func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		var n int
		err := conn.GetContext(ctx, &n, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`, hi, lo)
		if err != nil {
			return fmt.Errorf("%s lock: %w: its PostgreSQL session is gone (%v); another process may hold it now", name, ErrLockLost, err)
		}
		if n == 0 {
			return fmt.Errorf("%s lock: %w: its PostgreSQL session no longer holds advisory lock %d", name, ErrLockLost, key)
		}
		return nil
	}
	return &Lock{check: check, release: func() error {
		mu.Lock()
		defer mu.Unlock()
		// A fresh context: the caller's may be canceled (SIGTERM) by now.
		_, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		if err != nil {
			// Do not hand a connection that may still hold the lock back to
			// the pool: mark it bad so database/sql closes it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		return err
	}}, nil
}
