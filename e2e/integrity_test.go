package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// iTicket is one ticket line of the integrity tests.
func iTicket(id, uid string, msgs []string, atts []string) string {
	var ms, as []map[string]any
	for _, m := range msgs {
		ms = append(ms, map[string]any{"message_id": m, "author": "user", "body": "texte de " + uid, "sent_at": "2024-03-01T10:00:00Z"})
	}
	for _, a := range atts {
		as = append(as, map[string]any{"attachment_id": a, "filename": "scan.pdf", "content_type": "application/pdf",
			"content_base64": "JVBERi0x", "uploaded_at": "2024-03-01T10:00:00Z"})
	}
	b, _ := json.Marshal(map[string]any{
		"kind": "ticket", "ticket_id": id, "request_number": "R-" + id,
		"user":    map[string]any{"user_id": uid, "email": uid + "@example.org", "pseudo": "p" + uid},
		"subject": "Paiement", "description": "desc", "status": "closed",
		"created_at": "2024-03-01T10:00:00Z", "closed_at": "2024-03-02T10:00:00Z",
		"messages": ms, "attachments": as,
	})
	return string(b) + "\n"
}

func iEvent(id, uid string) string {
	return fmt.Sprintf(`{"kind":"account_event","event_id":%q,"user_id":%q,"type":"login","at":"2024-03-01T10:00:00Z","detail":""}`+"\n", id, uid)
}

// TestIngestNeverMovesRecords (issue 17 item 1): on the real binary, a file
// moving Alice's message, attachment and event to Bob, or her ticket to Bob,
// is refused whole with exit 2, LINE: reason, echoing no value, in text and
// JSON; Alice's data stay hers.
func TestIngestNeverMovesRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.must("ingest", w.file("alice.jsonl", []byte(iTicket("T-1", "u-a", []string{"M-1", "M-1b"}, []string{"AT-1"})+iEvent("E-1", "u-a"))))
		before := w.dump()
		files := map[string]string{
			"bob.jsonl":   iTicket("T-2", "u-b", []string{"M-1"}, []string{"AT-1"}) + iEvent("E-1", "u-b"),
			"owner.jsonl": iTicket("T-1", "u-b", []string{"M-1", "M-1b"}, nil),
		}
		for name, content := range files {
			p := w.file(name, []byte(content))
			for _, args := range [][]string{{"ingest", p}, {"--output", "json", "ingest", p}} {
				r := w.run(nil, args...)
				if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "1: ") || !strings.Contains(r.stdout+r.stderr, "belongs to another") {
					t.Fatalf("%s: want exit 2 with LINE: reason: %s", name, r)
				}
				for _, v := range []string{"M-1", "AT-1", "E-1", "u-a", "u-b", "T-1", "example.org"} {
					if strings.Contains(r.stdout+r.stderr, v) {
						t.Errorf("%s: output echoes %q: %s", name, v, r)
					}
				}
			}
		}
		if after := w.dump(); after != before {
			t.Fatalf("a refused file changed the store:\n%s", diff(before, after))
		}
	})
}

// TestMissingStoreNotCreated (issue 16 item 6): a typo in --db is bad input
// for every command but migrate, seed and ingest, and creates nothing; a
// store oubli creates is private (issue 17 item 6).
func TestMissingStoreNotCreated(t *testing.T) {
	w := newWorld(t, "sqlite")
	typo := filepath.Join(w.dir, "oubil.db")
	for _, args := range [][]string{
		{"requests", "list"},
		{"retention", "run", "--at", "2026-01-01"},
		{"audit", "log"},
		{"check"},
	} {
		r := w.run(nil, append([]string{"--db", "sqlite:" + typo}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "no store at "+typo+" (run `oubli migrate` to create one)") {
			t.Errorf("%v: want exit 2, no store: %s", args, r)
		}
		if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s", args, typo)
		}
	}
	created := filepath.Join(w.dir, "new", "oubli.db")
	w.must("--db", "sqlite:"+created, "migrate")
	for p, want := range map[string]os.FileMode{created: 0o600, filepath.Dir(created): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", p, fi.Mode(), err, want)
		}
	}
	w.must("--db", "sqlite:"+created, "requests", "list")
}

// TestPolicyErrorsShowNoSecret (issue 17 item 3): a policy directory with
// a symlink to a file holding secrets (as /proc/self/environ does), or a
// file holding them that fails to parse, never shows them, in text or JSON.
func TestPolicyErrorsShowNoSecret(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	secret := "OUBLI_SECRET=fake-s3cret-77\x00PGPASSWORD=hunter2-pw\x00"
	outside := w.file("environ", []byte(secret))
	for i, mk := range []func(dir string){
		func(dir string) { _ = os.Symlink(outside, filepath.Join(dir, "zz.rego")) },
		func(dir string) { _ = os.WriteFile(filepath.Join(dir, "zz.rego"), []byte(secret), 0o600) },
	} {
		hostilePolicy("x := 1")(t, w, nil)
		dir := filepath.Join(w.dir, "pol")
		os.Remove(filepath.Join(dir, "zz.rego"))
		mk(dir)
		for _, args := range [][]string{
			{"--policies", dir, "policy", "check"},
			{"--policies", dir, "--output", "json", "policy", "check"},
			{"--policies", dir, "retention", "plan", "--at", "2026-01-01"},
		} {
			r := w.run(nil, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "zz.rego") {
				t.Errorf("case %d %v: want exit 2 naming zz.rego: %s", i, args, r)
			}
			for _, s := range []string{"fake-s3cret", "hunter2", "OUBLI_SECRET", "e2e-test-secret"} {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("case %d %v: output shows %q: %s", i, args, s, r)
				}
			}
		}
	}
}

// slowPolicies copies the repository's policies and the slow fixture (a
// nested `every` over numbers.range(1, 30000)) into dir.
func slowPolicies(t *testing.T, w *world) string {
	t.Helper()
	hostilePolicy("x := 1")(t, w, nil)
	dir := filepath.Join(w.dir, "pol")
	b, err := os.ReadFile(filepath.Join("..", "testdata", "policies", "slow", "slow.rego"))
	if err != nil {
		t.Fatal(err)
	}
	w.file("pol/slow.rego", b)
	return dir
}

// TestSlowPolicyIsAPolicyError (issue 17 item 4): a policy too slow to
// decide is a policy error under --policy-timeout (exit 2, nothing deleted,
// the run's lock released), and SIGTERM stops an evaluation.
func TestSlowPolicyIsAPolicyError(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(5, 6))
	dir := slowPolicies(t, w)
	before := w.counts()
	for _, args := range [][]string{
		{"--policies", dir, "--policy-timeout", "1s", "retention", "plan", "--at", "2035-01-01"},
		{"--policies", dir, "--policy-timeout", "1s", "retention", "run", "--at", "2026-01-01", "--allow-large"},
	} {
		r := w.run(nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "did not decide within 1s") {
			t.Fatalf("%v: want exit 2, too slow: %s", args, r)
		}
	}
	if got := w.with("OUBLI_POLICY_TIMEOUT=1s").run(nil, "--policies", dir, "retention", "plan", "--at", "2035-01-01"); got.code != 2 {
		t.Fatalf("OUBLI_POLICY_TIMEOUT: %s", got)
	}
	if r := w.run(nil, "--policy-timeout", "-1s", "inventory"); r.code != 2 || !strings.Contains(r.stderr, "--policy-timeout") {
		t.Fatalf("negative --policy-timeout: %s", r)
	}
	data := func(m map[string]int64) string {
		for k := range m {
			if strings.Contains(k, "audit") || strings.Contains(k, "run") {
				delete(m, k)
			}
		}
		return fmt.Sprint(m)
	}
	if after := w.counts(); data(after) != data(before) {
		t.Fatalf("a run whose policy was too slow changed data: %v -> %v", before, after)
	}
	// The lock was released: a run with sound policies proceeds.
	w.must("retention", "run", "--at", "2026-01-01", "--allow-large")
	// SIGTERM ends a long evaluation (here allowed ten minutes): the
	// process ends on its own, well before the harness would kill it.
	p := w.start(nil, "--policies", dir, "--policy-timeout", "10m", "retention", "plan", "--at", "2035-01-01")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := p.wait()
	if r.code == 0 || r.code == -int(syscall.SIGKILL) {
		t.Fatalf("retention plan after SIGTERM: %s", r)
	}
}
