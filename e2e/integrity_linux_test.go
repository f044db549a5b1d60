package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIngestDuringErasure (issue 17 item 2, issue 18 item 3): an ingest
// whose validation pass started before an erasure must not bring the erased
// subject back. The ingest reads a named pipe, so the test knows (without a
// sleep) that the validation pass is under way when the erasure runs: the
// last ticket, of u-x, is written only after the erasure has ended.
func TestIngestDuringErasure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.must("ingest", w.file("x.jsonl", []byte(iTicket("T-X0", "u-x", []string{"M-X0"}, nil))))
		var b strings.Builder
		for i := range 3000 {
			b.WriteString(iTicket(fmt.Sprintf("T-%d", i), fmt.Sprintf("u-%d", i%500), []string{fmt.Sprintf("M-%d", i)}, nil))
		}
		head := b.String()
		last := iTicket("T-X1", "u-x", []string{"M-X1"}, nil)
		fifo := filepath.Join(w.dir, "big.jsonl")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		ing := w.start(nil, "ingest", fifo)
		defer ing.kill()
		// openW opens the pipe for writing: it returns once the ingest has
		// opened it for a pass.
		openW := func() *os.File {
			t.Helper()
			type res struct {
				f   *os.File
				err error
			}
			ch := make(chan res, 1)
			go func() { f, err := os.OpenFile(fifo, os.O_WRONLY, 0); ch <- res{f, err} }()
			select {
			case r := <-ch:
				if r.err != nil {
					t.Fatal(r.err)
				}
				return r.f
			case <-ing.done:
				t.Fatalf("ingest ended before reading: %s", ing.res)
			case <-time.After(cmdTimeout):
				t.Fatal("ingest never opened its file")
			}
			return nil
		}
		f := openW() // the validation pass is reading
		if _, err := f.WriteString(head); err != nil {
			t.Fatal(err)
		}
		if r := w.run(nil, "erase", "--user-id", "u-x"); r.code != 0 {
			t.Fatalf("erase while the ingest validates: %s", r)
		}
		if _, err := f.WriteString(last); err != nil {
			t.Fatal(err)
		}
		f.Close()
		closedBy(t, ing, fifo) // the validation pass has read it all
		g := openW()           // the load pass
		_, _ = g.WriteString(head + last)
		g.Close()
		r := ing.wait()
		db := w.open()
		defer db.Close()
		var n int
		if err := db.Get(context.Background(), &n, "SELECT COUNT(*) FROM subjects WHERE user_id = 'u-x'"); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("the erased subject is back (ingest: %s)", r)
		}
		if r.code != 2 || !strings.Contains(r.stderr, "3001: subject was erased while this file was being loaded") {
			t.Fatalf("want the ingest refused (exit 2, the line named): %s", r)
		}
		if strings.Contains(r.stderr, "u-x") {
			t.Errorf("the refusal echoes the user id: %s", r)
		}
	})
}

// closedBy waits until the process p no longer holds path open.
func closedBy(t *testing.T, p *proc, path string) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	deadline := time.Now().Add(cmdTimeout)
	for time.Now().Before(deadline) {
		open := false
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == path {
				open = true
			}
		}
		if !open || p.finished() {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling an observable state, not ordering
	}
	t.Fatal("the ingest never finished reading its first pass")
}

// TestIngestStdinLeavesNoNamedSpool (issue 17 item 10): `ingest -` killed
// while it reads leaves no named file holding e-mail addresses in TMPDIR.
func TestIngestStdinLeavesNoNamedSpool(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	tmp := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	p := w.with("TMPDIR="+tmp).start(pr, "ingest", "-")
	defer p.kill()
	if _, err := pw.WriteString(iTicket("T-1", "u-spool", []string{"M-1"}, nil)); err != nil {
		t.Fatal(err)
	}
	// Wait until the spool file exists (the process holds a file of tmp).
	spooling := func() bool {
		dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, tmp+"/") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(cmdTimeout); !spooling(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) || p.finished() {
			t.Fatalf("the ingest never spooled: %s", p.res)
		}
	}
	named := func() []string {
		ents, _ := os.ReadDir(tmp)
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	if n := named(); len(n) != 0 {
		t.Errorf("while reading, TMPDIR holds named files: %v", n)
	}
	p.kill()
	pw.Close()
	if n := named(); len(n) != 0 {
		t.Errorf("after a kill, TMPDIR holds: %v", n)
	}
}
