package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"time"

	_ "github.com/lib/pq"

	"github.com/oubli/oubli/store"
)

// cmdTimeout bounds every invocation: nothing may hang for ever.
const cmdTimeout = 2 * time.Minute

// long reports whether the slow suite was asked for (make test-long).
func long() bool { return os.Getenv("OUBLI_LONG") == "1" }

// with returns a copy of w whose invocations get extra environment entries
// (KEY=VALUE), overriding w's.
func (w *world) with(kv ...string) *world {
	c := *w
	c.env = append(append([]string(nil), w.env...), kv...)
	return &c
}

// proc is an invocation running in the background.
type proc struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan struct{}
	res      result
	cancel   context.CancelFunc
}

// start runs the binary in the background (stdin from in, if non-nil).
func (w *world) start(in io.Reader, args ...string) *proc {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	p := &proc{done: make(chan struct{}), cancel: cancel}
	p.cmd = exec.CommandContext(ctx, oubliBin(w.t), args...)
	p.cmd.Env, p.cmd.Dir = w.env, w.dir
	p.cmd.Stdin = in
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if err := p.cmd.Start(); err != nil {
		cancel()
		w.t.Fatalf("start oubli %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		err := p.cmd.Wait()
		p.res = result{stdout: p.out.String(), stderr: p.err.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			p.res.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.res.code = -int(ws.Signal())
			}
		} else if err != nil {
			p.res.code = -1000
		}
	}()
	return p
}

// kill sends SIGKILL (no-op once the process has ended) and waits.
func (p *proc) kill() result {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	return p.wait()
}

// wait waits for the end of the process (bounded by cmdTimeout).
func (p *proc) wait() result {
	<-p.done
	return p.res
}

// finished reports whether the process has ended.
func (p *proc) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// open opens the world's store directly (for dumps and fault injection).
func (w *world) open() *store.DB {
	w.t.Helper()
	db, err := store.Open(context.Background(), w.db)
	if err != nil {
		w.t.Fatalf("open store: %v", err)
	}
	return db
}

// blobDir is the world's blob directory.
func (w *world) blobDir() string { return filepath.Join(w.dir, "blobs") }

// dumpQueries are the canonical dump: every table's identifying content,
// without generated run/request ids, timestamps or blob keys (random).
var dumpQueries = []struct{ name, q string }{
	{"subjects", `SELECT user_id || '|' || email || '|' || pseudo || '|' || CAST(restricted AS TEXT) || '|' || CASE WHEN anonymized_at IS NULL THEN '-' ELSE 'anon' END FROM subjects`},
	{"tickets", `SELECT ticket_id || '|' || COALESCE(user_id, '<null>') || '|' || subject || '|' || status || '|' || CAST(restricted AS TEXT) || '|' || CASE WHEN anonymized_at IS NULL THEN '-' ELSE 'anon' END FROM tickets`},
	{"messages", `SELECT message_id || '|' || ticket_id || '|' || COALESCE(agent_id, '<null>') || '|' || body FROM messages`},
	{"attachments", `SELECT attachment_id || '|' || ticket_id || '|' || filename || '|' || sha256 || '|' || CAST(size AS TEXT) FROM attachments`},
	{"account_events", `SELECT event_id || '|' || user_id || '|' || type FROM account_events`},
	{"subject_stats", `SELECT user_id || '|' || CAST(responses_counted AS TEXT) FROM subject_stats`},
	{"agent_stats", `SELECT COALESCE(agent_id, '<null>') || '|' || day || '|' || CAST(tickets_handled AS TEXT) || '|' || CAST(first_responses AS TEXT) FROM agent_stats`},
	{"dsr_requests", `SELECT type || '|' || status || '|' || COALESCE(user_id, '<null>') FROM dsr_requests`},
	{"legal_holds", `SELECT COALESCE(ticket_id, '-') || '|' || COALESCE(user_id, '-') || '|' || CASE WHEN released_at IS NULL THEN 'active' ELSE 'released' END FROM legal_holds`},
	{"objections", `SELECT user_id || '|' || purpose FROM objections`},
	{"blob_deletions", `SELECT CAST(COUNT(*) AS TEXT) FROM blob_deletions`},
	{"notifications", `SELECT type || '|' || recipient_id || '|' || status || '|' || CAST(attempts AS TEXT) FROM notifications`},
}

// dump returns the canonical dump of the world: sorted rows per table and
// the SHA-256 of every blob file (keys are random, contents are not).
func (w *world) dump() string {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	var b strings.Builder
	for _, d := range dumpQueries {
		rows, err := db.SQL().QueryContext(context.Background(), d.q)
		if err != nil {
			w.t.Fatalf("dump %s: %v", d.name, err)
		}
		var lines []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				w.t.Fatalf("dump %s: %v", d.name, err)
			}
			lines = append(lines, s)
		}
		rows.Close()
		sort.Strings(lines)
		fmt.Fprintf(&b, "== %s (%d)\n%s\n", d.name, len(lines), strings.Join(lines, "\n"))
	}
	var sums []string
	_ = filepath.WalkDir(w.blobDir(), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			w.t.Fatalf("dump blob: %v", err)
		}
		s := sha256.Sum256(data)
		sums = append(sums, hex.EncodeToString(s[:]))
		return nil
	})
	sort.Strings(sums)
	fmt.Fprintf(&b, "== blobs (%d)\n%s\n", len(sums), strings.Join(sums, "\n"))
	return b.String()
}

// counts returns `oubli inventory --output json`.
func (w *world) counts() map[string]int64 {
	w.t.Helper()
	r := w.must("--output", "json", "inventory")
	var m map[string]int64
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		w.t.Fatalf("inventory: %v\n%s", err, r.stdout)
	}
	return m
}

// healthy asserts the world is consistent: check clean, audit chain intact.
func (w *world) healthy() {
	w.t.Helper()
	if r := w.run(nil, "check", "--deep"); r.code != 0 {
		w.t.Fatalf("oubli check: %s", r)
	}
	if r := w.run(nil, "audit", "verify"); r.code != 0 {
		w.t.Fatalf("oubli audit verify: %s", r)
	}
}

// diff returns the first differing lines of two dumps, for failure messages.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, x, y))
			if len(out) == 8 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// clone returns a new world holding a copy of w's database, blobs and
// ledger (SQLite: file copies; PostgreSQL: CREATE DATABASE … TEMPLATE).
// w must have no process running.
func (w *world) clone(t testing.TB) *world {
	t.Helper()
	var c *world
	if w.backend == "postgres" {
		c = worldAt(t, w.backend, clonePostgres(t, w.db))
	} else {
		c = newWorld(t, w.backend)
	}
	c.request, c.fixture = w.request, w.fixture
	c.env = append(append([]string(nil), w.env...), c.env[len(c.env)-4:]...)
	if err := copyTree(w.blobDir(), c.blobDir()); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(w.dir, "erasures.log")); err == nil {
		if err := writeFile(filepath.Join(c.dir, "erasures.log"), data); err != nil {
			t.Fatal(err)
		}
	}
	if w.backend == "sqlite" {
		src := strings.TrimPrefix(w.db, "sqlite:")
		dst := strings.TrimPrefix(c.db, "sqlite:")
		for _, sfx := range []string{"", "-wal", "-shm"} {
			data, err := os.ReadFile(src + sfx)
			if err != nil {
				continue
			}
			if err := writeFile(dst+sfx, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

var cloneCounter atomic.Int64

// clonePostgres creates a copy of the PostgreSQL database at dbURL (CREATE
// DATABASE … TEMPLATE, straight, without an empty database first), dropped
// when the test ends, and returns its URL.
func clonePostgres(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := strings.TrimPrefix(u.Path, "/")
	name := fmt.Sprintf("oubli_c_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, cloneCounter.Add(1))
	u.Path = "/postgres"
	admin, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name + " TEMPLATE " + tmpl); err != nil {
		t.Fatalf("clone database: %v", err)
	}
	adminURL := u.String()
	t.Cleanup(func() {
		a, err := sql.Open("postgres", adminURL)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == src {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if de.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
}

// openRequest opens a data-subject request for user id uid and keeps its id
// in w.request.
func (w *world) openRequest(typ, uid string) string {
	w.t.Helper()
	r := w.must("--output", "json", "requests", "open", "--type", typ, "--user-id", uid)
	var v struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.RequestID == "" {
		w.t.Fatalf("requests open: %v: %s", err, r)
	}
	w.request = v.RequestID
	return v.RequestID
}
