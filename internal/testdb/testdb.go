// Package testdb runs tests against both backends: a SQLite file in a temp
// directory and a real PostgreSQL server — the one named by
// OUBLI_TEST_POSTGRES_URL, or a throwaway cluster started from the installed
// PostgreSQL binaries (initdb + postgres on a temp dir and a Unix socket).
//
// With OUBLI_REQUIRE_POSTGRES=1 a PostgreSQL test that cannot run fails
// instead of being skipped.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/oubli/oubli/store"
)

// Backend is one store backend under test.
type Backend struct {
	Name string // "sqlite" or "postgres"
}

// Backends are the two backends every store test runs against.
var Backends = []Backend{{Name: "sqlite"}, {Name: "postgres"}}

// Run runs fn as a subtest on each backend with a fresh, migrated store.
func Run(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Open(t, b.Name))
		})
	}
}

// Open returns a fresh, migrated store of the named backend, closed when the
// test ends.
func Open(t testing.TB, backend string) *store.DB {
	t.Helper()
	u := URL(t, backend)
	ctx := context.Background()
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatalf("open %s store: %v", backend, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		t.Fatalf("migrate %s store: %v", backend, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URL returns the URL of a fresh, empty database of the named backend
// ("sqlite:/tmp/…/oubli.db" or "postgres://…"), for tests that drive the
// binary. The database is not migrated.
func URL(t testing.TB, backend string) string {
	t.Helper()
	switch backend {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "oubli.db")
	case "postgres":
		return freshPostgresDB(t)
	}
	t.Fatalf("unknown backend %q", backend)
	return ""
}

// RequirePostgres reports whether OUBLI_REQUIRE_POSTGRES is set.
func RequirePostgres() bool { return os.Getenv("OUBLI_REQUIRE_POSTGRES") == "1" }

var (
	pgOnce    sync.Once
	pgBaseURL string
	pgErr     error
	pgCluster *cluster
	dbCounter atomic.Int64
)

func freshPostgresDB(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		if u := os.Getenv("OUBLI_TEST_POSTGRES_URL"); u != "" {
			pgBaseURL = u
			return
		}
		pgCluster, pgErr = startCluster()
		if pgErr == nil {
			pgBaseURL = pgCluster.url("postgres")
		}
	})
	if pgErr != nil {
		if RequirePostgres() {
			t.Fatalf("PostgreSQL required (OUBLI_REQUIRE_POSTGRES=1) but unavailable: %v", pgErr)
		}
		t.Skipf("PostgreSQL unavailable: %v", pgErr)
	}
	admin, err := sql.Open("postgres", pgBaseURL)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	name := fmt.Sprintf("oubli_t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, dbCounter.Add(1))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("postgres", pgBaseURL)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(pgBaseURL)
	if err != nil {
		t.Fatalf("bad OUBLI_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Stop tears down a cluster started by this package. Call it from TestMain
// after m.Run.
func Stop() {
	if pgCluster != nil {
		pgCluster.stop()
	}
}

// Main is a TestMain that tears the throwaway cluster down after the tests.
func Main(m interface{ Run() int }) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

type cluster struct {
	dir, sock string
	cmd       *exec.Cmd
	asUser    string
}

func (c *cluster) url(db string) string {
	return "postgres://postgres@/" + db + "?host=" + url.QueryEscape(c.sock) + "&sslmode=disable"
}

// PostgresBinDir finds the directory holding initdb and postgres.
func PostgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("initdb not found on PATH or under /usr/lib/postgresql/*/bin (install postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func startCluster() (*cluster, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oubli-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, sock: filepath.Join(dir, "sock")}
	if err := os.Mkdir(c.sock, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: drop to the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and no postgres user to drop to: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, c.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
		c.asUser = "postgres"
	}
	run := func(name string, args ...string) *exec.Cmd {
		path := filepath.Join(bin, name)
		if c.asUser != "" {
			return exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
		}
		return exec.Command(path, args...)
	}
	out, err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, strings.TrimSpace(string(out)))
	}
	logf, _ := os.Create(filepath.Join(dir, "postgres.log"))
	c.cmd = run("postgres", "-D", data, "-k", c.sock, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200", "-c", "shared_buffers=128MB")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("postgres", c.url("postgres"))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.stop()
			b, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return nil, fmt.Errorf("postgres did not start: %v: %s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) stop() {
	// runuser does not forward signals: signal the postmaster itself
	// (SIGQUIT: immediate shutdown; the data is thrown away anyway).
	if b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Signal(syscall.SIGQUIT)
			}
		}
	}
	if c.cmd != nil && c.cmd.Process != nil {
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
		}
	}
	os.RemoveAll(c.dir)
}
