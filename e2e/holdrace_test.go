package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
)

// liveRun is a `retention run` in the background whose stderr (the
// structured log) is read as it is written, so that a test can act at a
// point of the run that the run itself reports, not at a time it guesses.
type liveRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	stdout strings.Builder
	lines  chan string
	done   chan struct{}
	code   int
}

func (w *world) startLive(args ...string) *liveRun {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	r := &liveRun{lines: make(chan string, 1024), done: make(chan struct{})}
	r.cmd = exec.CommandContext(ctx, oubliBin(w.t), args...)
	r.cmd.Env, r.cmd.Dir = w.env, w.dir
	r.cmd.Stdout = &lockedWriter{mu: &r.mu, b: &r.stdout}
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		cancel()
		w.t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		defer cancel()
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		err := r.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1000
		}
		close(r.lines)
	}()
	return r
}

// waitLine waits for a log line containing every one of parts; false when
// the run ended first.
func (r *liveRun) waitLine(parts ...string) bool {
	for l := range r.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (r *liveRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *liveRun) wait() result {
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return result{stdout: r.stdout.String(), stderr: r.stderr.String(), code: r.code}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestHoldDuringRun (issue 18 item 1): legal holds placed through the
// binary while a real retention run is deleting tickets protect from the
// moment `hold add` returns. The holds are placed when the run reports
// that it has started on tickets (its attachments phase is done), on the
// last ticket it will delete and on a subject whose expired tickets all come
// late in its order. Whatever the interleaving: a `hold add` that exits 0
// leaves its records in place after the run (a hold never sits on a ghost);
// one that finds its ticket already deleted exits 5; `hold list` shows no
// active hold on a missing ticket; check and the audit chain are clean.
func TestHoldDuringRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.must("seed", "--synthetic", "--tickets", "1500", "--old-share", "0.3", "--old-age", "5y10d")
		plan := w.must("--output", "json", "retention", "plan", "--explain", "100000")
		var pl struct {
			Rules map[string]struct {
				Examples []string `json:"examples"`
			} `json:"rules"`
		}
		if err := json.Unmarshal([]byte(plan.stdout), &pl); err != nil {
			t.Fatalf("plan: %v\n%s", err, plan.stdout)
		}
		doomed := pl.Rules["tickets.expired"].Examples
		sort.Strings(doomed) // the run's keyset order
		if len(doomed) < 100 {
			t.Fatalf("only %d tickets to delete", len(doomed))
		}
		target := doomed[len(doomed)-1]
		pos := map[string]int{}
		for i, id := range doomed {
			pos[id] = i
		}
		db := w.open()
		defer db.Close()
		ctx := context.Background()
		ticketsOf := func(uid string) []string {
			var ids []string
			if err := db.Select(ctx, &ids, "SELECT ticket_id FROM tickets WHERE user_id = ? ORDER BY ticket_id", uid); err != nil {
				t.Fatal(err)
			}
			return ids
		}
		var rows []struct {
			TicketID string `db:"ticket_id"`
			UserID   string `db:"user_id"`
		}
		if err := db.Select(ctx, &rows, "SELECT ticket_id, user_id FROM tickets WHERE user_id IS NOT NULL"); err != nil {
			t.Fatal(err)
		}
		first := map[string]int{} // subject → position of its first doomed ticket
		for _, r := range rows {
			if p, ok := pos[r.TicketID]; ok {
				if f, seen := first[r.UserID]; !seen || p < f {
					first[r.UserID] = p
				}
			}
		}
		subject, best := "", -1
		for u, p := range first {
			if u != "" && (p > best || p == best && u < subject) && !strings.Contains(strings.Join(ticketsOf(u), ","), target) {
				subject, best = u, p
			}
			if best > len(doomed)*9/10 {
				break
			}
		}
		if subject == "" {
			t.Fatal("no subject with doomed tickets")
		}

		run := w.startLive("--output", "json", "retention", "run", "--allow-large", "--batch-size", "1", "--workers", "1")
		if !run.waitLine(`"retention phase done"`, `"category":"attachments"`, `"dry_run":false`) {
			t.Fatalf("the run ended before its tickets phase: %s", run.wait())
		}
		h1 := w.run(nil, "hold", "add", "--ticket", target, "--reason", "claim filed during the run")
		if h1.code == 0 && ticketsExist(t, db, target) != 1 {
			t.Errorf("hold add on %s exited 0 but the ticket was already gone", target)
		}
		h2 := w.run(nil, "hold", "add", "--user-id", subject, "--reason", "subject claim filed during the run")
		kept := ticketsOf(subject) // in place when the subject hold committed
		midRun := !run.finished()
		res := run.wait()
		if res.code != 0 {
			t.Fatalf("retention run: %s", res)
		}
		if !midRun {
			t.Fatalf("the run ended before the holds were placed: the store is too small for this machine; nothing was proved")
		}
		switch h1.code {
		case 0:
			if n := ticketsExist(t, db, target); n != 1 {
				t.Errorf("ticket %s under a hold placed during the run was deleted by it", target)
			}
		case 5:
			if n := ticketsExist(t, db, target); n != 0 {
				t.Errorf("hold add said the ticket was gone, but it exists")
			}
		default:
			t.Errorf("hold add --ticket during the run: %s", h1)
		}
		if h2.code != 0 {
			t.Fatalf("hold add --user-id during the run: %s", h2)
		}
		if got := ticketsOf(subject); strings.Join(got, ",") != strings.Join(kept, ",") {
			t.Errorf("subject under a hold placed during the run: tickets %v after the run, %v when the hold was placed", got, kept)
		}
		var ghosts int
		if err := db.Get(ctx, &ghosts, "SELECT COUNT(*) FROM legal_holds h WHERE h.released_at IS NULL AND h.ticket_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.ticket_id = h.ticket_id)"); err != nil {
			t.Fatal(err)
		}
		if ghosts != 0 {
			t.Errorf("%d active holds on deleted tickets", ghosts)
		}
		w.healthy()
	})
}

func ticketsExist(t *testing.T, db interface {
	Get(context.Context, any, string, ...any) error
}, id string) int {
	t.Helper()
	var n int
	if err := db.Get(context.Background(), &n, "SELECT COUNT(*) FROM tickets WHERE ticket_id = ?", id); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetentionHistoryTellsWhy (issue 16 item 7, issue 18 item 10):
// `retention history` shows a refused run's reason and counts, and a run
// left "running" by a process that died (a PostgreSQL restart, SIGKILL) is
// shown as interrupted as soon as no run holds the lock, not as running
// until the next run.
func TestRetentionHistoryTellsWhy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.ingestFixture(genFixture(21, 40))
		if r := w.run(nil, "retention", "run", "--at", at, "--max-share", "0.01"); r.code != 3 {
			t.Fatalf("run with a tiny --max-share: %s", r)
		}
		db := w.open()
		defer db.Close()
		if _, err := db.Exec(context.Background(), "INSERT INTO retention_runs (run_id, at, started_at, policy_revision, outcome, counts, progress) VALUES ('R-dead', 1, 1, 'x', 'running', '{}', '{}')"); err != nil {
			t.Fatal(err)
		}
		h := w.must("retention", "history")
		if !strings.Contains(h.stdout, "refused") || !strings.Contains(h.stdout, "safety valve") || !strings.Contains(h.stdout, "more than the allowed 1.0%") {
			t.Errorf("history does not say why the run was refused:\n%s", h.stdout)
		}
		if !strings.Contains(h.stdout, "R-dead  interrupted") {
			t.Errorf("history shows a dead run as running:\n%s", h.stdout)
		}
		hj := w.must("--output", "json", "retention", "history")
		if !strings.Contains(hj.stdout, `"reason"`) || !strings.Contains(hj.stdout, `"total"`) {
			t.Errorf("history JSON lacks reason or total:\n%s", hj.stdout)
		}
	})
}
