package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSecretsNeverLeak runs a full scenario and searches everything printed
// (stderr of every command; stdout of those not meant to show a subject's
// data), everything stored beside the data (audit_log, retention_runs,
// settings, dsr_actions) and the /metrics text for every e-mail, pseudo,
// text and file name of the scenario's subjects, and for the database
// password.
func TestSecretsNeverLeak(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		f := genFixture(41, 12)
		const newEmail = "zq-rectified.secret@example.org"
		const password = "Pw-s3cr3t-NeverPrint"
		secrets := append(append([]string(nil), f.secrets...), newEmail, password, webhookSecret)
		// Art. 19: one recipient behind a webhook that fails (so deliver
		// logs), the other manual.
		var hookMu sync.Mutex
		var hookBodies []string
		hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			hookMu.Lock()
			if !strings.Contains(string(b), `"type":"rectification"`) { // a rectification carries the new values, by design
				hookBodies = append(hookBodies, string(b))
			}
			hookMu.Unlock()
			rw.WriteHeader(http.StatusInternalServerError)
		}))
		defer hook.Close()
		rf := w.file("recipients.json", []byte(`{"adevinta_france": {"webhook": "`+hook.URL+`", "secret_env": "E2E_HOOK_SECRET"}, "processors": {"manual": true}}`))
		w = w.with("OUBLI_RECIPIENTS="+rf, "E2E_HOOK_SECRET="+webhookSecret)

		var captured strings.Builder
		var logs strings.Builder // stderr, metrics and stored records: no user id either
		var cmds []string        // the command lines (they hold secrets: not captured)
		keep := func(what string, r result, stdout bool) result {
			cmds = append(cmds, what)
			fmt.Fprintf(&captured, "\n### command %d (exit %d)\n%s", len(cmds), r.code, r.stderr)
			if stdout {
				captured.WriteString(r.stdout)
			}
			logs.WriteString(r.stderr)
			return r
		}
		do := func(stdout bool, args ...string) result {
			return keep(strings.Join(args, " "), w.run(nil, args...), stdout)
		}
		mustDo := func(stdout bool, args ...string) {
			if r := do(stdout, args...); r.code != 0 {
				t.Fatalf("oubli %s: %s", strings.Join(args, " "), r)
			}
		}
		mustDo(true, "migrate")
		mustDo(true, "ingest", w.file("in.jsonl", f.jsonl))
		mustDo(true, "--output", "json", "ingest", w.file("in.jsonl", f.jsonl))
		mustDo(true, "stats", "refresh", "--at", "2025-06-01")
		mustDo(true, "inventory")
		mustDo(true, "export", "--user-id", "u-002", "--out", filepath.Join(w.dir, "x.zip"))
		mustDo(true, "--output", "json", "export", "--email", f.emails[3], "--out", filepath.Join(w.dir, "y.zip"))
		mustDo(true, "rectify", "--user-id", "u-004", "--set", "email="+newEmail, "--set", "pseudo=Pseudo-rect-Xq")
		secrets = append(secrets, "Pseudo-rect-Xq")
		// DSR commands echo the subject as the operator typed it (stdout is
		// theirs): not searched when named by e-mail.
		mustDo(false, "object", "--email", newEmail, "--purpose", "statistics")
		mustDo(true, "hold", "add", "--user-id", "u-005", "--reason", "litige")
		mustDo(true, "hold", "list")
		mustDo(false, "erase", "--email", f.emails[1])
		mustDo(true, "--output", "json", "erase", "--user-id", "u-006", "--dry-run")
		mustDo(true, "retention", "plan", "--at", at, "--explain", "5")
		mustDo(true, "--output", "json", "retention", "run", "--at", at, "--allow-large")
		mustDo(true, "retention", "history")
		mustDo(true, "requests", "list")
		mustDo(true, "notify", "deliver", "--all")
		mustDo(true, "--output", "json", "notify", "deliver", "--all")
		mustDo(true, "notify", "list")
		mustDo(true, "--output", "json", "notify", "list")
		mustDo(true, "requests", "list", "--overdue")
		mustDo(true, "check")
		mustDo(true, "audit", "verify")
		mustDo(true, "audit", "log")
		mustDo(true, "--output", "json", "audit", "log")
		// Failing commands naming subjects, and a database URL with a password.
		do(true, "erase", "--email", f.emails[1])                                        // already erased
		do(true, "export", "--email", "zq999.secret-mail@example.org", "--out", "z.zip") // unknown
		secrets = append(secrets, "zq999.secret-mail@example.org")
		do(true, "rectify", "--user-id", "u-002", "--set", "email="+f.emails[2]+"@bad")
		do(true, "ingest", w.file("bad.jsonl", []byte(strings.Replace(string(f.jsonl), "@example.org", "@@example.org", 3))))
		do(true, "--db", "postgres://oubli:"+password+"@127.0.0.1:1/oubli?sslmode=disable&connect_timeout=2", "--blobs", w.dir, "--ledger", w.dir+"/l", "inventory")
		if w.backend == "postgres" {
			u, _ := url.Parse(w.db)
			u.User = url.UserPassword("postgres", password)
			u.Path = "/no_such_database"
			do(true, "--db", u.String(), "inventory")
			u.Path = "/" + strings.TrimPrefix(mustParse(t, w.db).Path, "/")
			do(true, "--db", u.String(), "--user-id", "u-003", "export", "--out", "q.zip")
		}
		// The scheduler: logs and /metrics.
		port := freePort(t)
		p := w.start(nil, "schedule", "--retention", "@every 1s", "--stats", "@every 1s", "--report", "@every 1s", "--listen", port, "--allow-large")
		var metrics string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			resp, err := http.Get("http://" + port + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(b)
			if strings.Contains(metrics, `oubli_job_runs_total{job="retention"`) && strings.Contains(metrics, `job="stats"`) {
				break
			}
		}
		_ = p.cmd.Process.Signal(sigterm)
		r := p.wait()
		keep("schedule", r, true)
		if !strings.Contains(metrics, "oubli_job_runs_total") {
			t.Errorf("no job metrics scraped:\n%s\n%s", metrics, r.stderr)
		}
		captured.WriteString("\n### metrics\n" + metrics)
		logs.WriteString(metrics)

		// What is stored beside the data.
		db := w.open()
		defer db.Close()
		for _, q := range []string{
			"SELECT CAST(seq AS TEXT) || actor || action || subject_ref || outcome || detail FROM audit_log",
			"SELECT run_id || policy_revision || outcome || counts FROM retention_runs",
			"SELECT key || '=' || value FROM settings",
			"SELECT action || outcome FROM dsr_actions",
			"SELECT request_id || COALESCE(extension_reason, '') || COALESCE(refusal_reason, '') || subject_hash FROM dsr_requests",
			"SELECT id || request_id || recipient_id || type || status || subject_ref || payload_sha256 || COALESCE(last_error, '') FROM notifications",
		} {
			rows, err := db.SQL().QueryContext(context.Background(), q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			captured.WriteString("\n### " + q + "\n")
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				captured.WriteString(s + "\n")
				logs.WriteString(s + "\n")
			}
			rows.Close()
		}
		// Payloads hold the user id the recipient needs, never an e-mail
		// address or pseudo (a rectification's new values aside).
		rows, err := db.SQL().QueryContext(context.Background(), "SELECT payload FROM notifications WHERE type <> 'rectification'")
		if err != nil {
			t.Fatal(err)
		}
		captured.WriteString("\n### notification payloads\n")
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			captured.WriteString(s + "\n")
		}
		rows.Close()
		hookMu.Lock()
		if len(hookBodies) == 0 {
			t.Error("no notification reached the webhook")
		}
		captured.WriteString("\n### webhook bodies\n" + strings.Join(hookBodies, "\n"))
		hookMu.Unlock()
		all := captured.String()
		lower := strings.ToLower(all)
		for _, s := range secrets {
			secretsChecked.Add(1)
			if i := strings.Index(lower, strings.ToLower(s)); i >= 0 {
				lo, hi := max(0, i-200), min(len(all), i+len(s)+50)
				t.Errorf("%q leaked:\n…%s…\n(commands: %q)", s, all[lo:hi], cmds)
			}
		}
		for _, uid := range f.users {
			secretsChecked.Add(1)
			if strings.Contains(logs.String(), uid+`"`) || strings.Contains(logs.String(), uid+" ") {
				t.Errorf("user id %s appears in a log, metric or stored record", uid)
			}
		}
		// The capture is not empty: the test looked at real output.
		for _, want := range []string{"retention run", "oubli_job_runs_total", "erase", "h:"} {
			if !strings.Contains(all, want) {
				t.Errorf("captured output lacks %q: the scenario did not run", want)
			}
		}
		t.Logf("%s: %d bytes of output, logs, metrics and stored records searched for %d personal values and the password", w.backend, len(all), len(secrets))
	})
}

func mustParse(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// freePort returns a free local host:port.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
