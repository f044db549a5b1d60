// Package e2e drives the real oubli binary against real databases (SQLite
// and PostgreSQL): bad input, hostile input, crashes, concurrency and
// secrets. It is the proof suite of issue 7.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	summary()
	testdb.Stop()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// oubliBin builds the binary once per test process.
func oubliBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "oubli-e2e-bin-")
		if binErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		binPath = filepath.Join(binDir, "oubli")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/oubli")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// world is one oubli installation under test: a database, a blob directory,
// a ledger, and a fixed secret.
type world struct {
	t       testing.TB
	backend string
	dir     string
	db      string
	env     []string
	// request and fixture are set by some tests' setups and carried over
	// by clone.
	request string
	fixture string
}

func newWorld(t testing.TB, backend string) *world {
	t.Helper()
	return worldAt(t, backend, testdb.URL(t, backend))
}

// worldAt is a world on the database at db.
func worldAt(t testing.TB, backend, db string) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, backend: backend, dir: dir, db: db}
	w.env = append(os.Environ(),
		"OUBLI_DB="+w.db,
		"OUBLI_BLOBS="+filepath.Join(dir, "blobs"),
		"OUBLI_LEDGER="+filepath.Join(dir, "erasures.log"),
		"OUBLI_SECRET=e2e-test-secret-0123456789",
	)
	return w
}

// result is what one invocation produced.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run invokes the binary with args (stdin from in, if non-nil).
func (w *world) run(in []byte, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, oubliBin(w.t), args...)
	cmd.Env = w.env
	cmd.Dir = w.dir
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			w.t.Fatalf("oubli %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{stdout: so.String(), stderr: se.String(), code: code}
}

// must runs and fails the test unless the exit code is 0.
func (w *world) must(args ...string) result {
	w.t.Helper()
	r := w.run(nil, args...)
	if r.code != 0 {
		w.t.Fatalf("oubli %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// forEachBackend runs fn on a fresh world per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, w *world)) {
	for _, b := range testdb.Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, newWorld(t, b.Name)) })
	}
}
