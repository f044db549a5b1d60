package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const webhookSecret = "whsec_c2VjcmV0LWtleS1mb3ItZTJlLXdlYmhvb2tz"

// hookReceiver is a recipient's endpoint on loopback. It checks every
// request's Standard Webhooks signature with its own code, and answers with
// respond(id, n) for the n-th request carrying webhook-id id.
type hookReceiver struct {
	t       *testing.T
	mu      sync.Mutex
	respond func(id string, n int) int
	seen    map[string]int    // requests per webhook-id
	ok      map[string]string // accepted (2xx) body per webhook-id: deduplicated by id
	badSig  int
	arrived chan string
}

func newHookReceiver(t *testing.T, respond func(string, int) int) (*hookReceiver, *httptest.Server) {
	h := &hookReceiver{t: t, respond: respond, seen: map[string]int{}, ok: map[string]string{}, arrived: make(chan string, 1000)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(webhookSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	h.mu.Lock()
	if err != nil || !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte(want)) || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		h.badSig++
		h.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.seen[id]++
	n := h.seen[id]
	h.mu.Unlock()
	h.arrived <- id
	code := h.respond(id, n)
	if code/100 == 2 {
		h.mu.Lock()
		h.ok[id] = string(body)
		h.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (h *hookReceiver) counts() (map[string]int, map[string]string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen, ok := map[string]int{}, map[string]string{}
	for k, v := range h.seen {
		seen[k] = v
	}
	for k, v := range h.ok {
		ok[k] = v
	}
	return seen, ok, h.badSig
}

// notificationsOf returns `notify list --output json` for a request ("" all).
func notificationsOf(t *testing.T, w *world, request string) []map[string]any {
	t.Helper()
	args := []string{"--output", "json", "notify", "list"}
	if request != "" {
		args = append(args, "--request", request)
	}
	r := w.must(args...)
	var v struct {
		Notifications []map[string]any `json:"notifications"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("notify list: %v\n%s", err, r.stdout)
	}
	return v.Notifications
}

// TestNotifyWebhookE2E drives the real binary: an erasure under a named
// request queues a signed webhook for one recipient and a manual
// notification for the other; the request cannot be closed until the
// webhook is delivered (after two 500s, with one id) and the manual one
// acknowledged; who acted is on every audit entry and in requests show.
func TestNotifyWebhookE2E(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		rcv, srv := newHookReceiver(t, func(_ string, n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		rf := w.file("recipients.json", []byte(`{"adevinta_france": {"webhook": "`+srv.URL+`/hook", "secret_env": "E2E_HOOK_SECRET"}, "processors": {"manual": true}}`))
		w = w.with("OUBLI_RECIPIENTS="+rf, "E2E_HOOK_SECRET="+webhookSecret, "OUBLI_ACTOR=dpo-alice")
		w.must("migrate")
		w.ingestFixture(genFixture(21, 8))
		req := w.openRequest("erasure", "u-003")
		// The dry run queues nothing and says what it would.
		r := w.must("erase", "--user-id", "u-003", "--request", req, "--dry-run")
		if !strings.Contains(r.stdout, "would queue (dry run)") || len(notificationsOf(t, w, "")) != 0 {
			t.Fatalf("dry run: %s", r)
		}
		w.must("erase", "--user-id", "u-003", "--request", req)
		ns := notificationsOf(t, w, req)
		if len(ns) != 2 {
			t.Fatalf("%d notifications, want 2: %v", len(ns), ns)
		}
		var hook, manual string
		for _, n := range ns {
			switch n["recipient"] {
			case "adevinta_france":
				hook = n["id"].(string)
				if n["status"] != "queued" {
					t.Errorf("webhook notification %v", n)
				}
			case "processors":
				manual = n["id"].(string)
				if n["status"] != "manual" {
					t.Errorf("manual notification %v", n)
				}
			}
		}
		if r := w.run(nil, "requests", "close", req); r.code != 3 || !strings.Contains(r.stderr, "not delivered or acknowledged") {
			t.Fatalf("close with notifications pending: %s", r)
		}
		// Two failures, then success: retried with --all (not yet due otherwise).
		for i := 0; i < 3; i++ {
			w.must("notify", "deliver", "--all")
		}
		seen, ok, bad := rcv.counts()
		if seen[hook] != 3 || len(ok) != 1 || bad != 0 || len(seen) != 1 {
			t.Fatalf("receiver: seen %v, accepted %d, bad signatures %d", seen, len(ok), bad)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(ok[hook]), &p); err != nil || p["id"] != hook || p["type"] != "erasure" || p["user_id"] != "u-003" || p["request_id"] != req {
			t.Errorf("payload %s", ok[hook])
		}
		if _, has := p["new_values"]; has {
			t.Errorf("erasure payload with new values: %s", ok[hook])
		}
		// Delivered: nothing sent again.
		w.must("notify", "deliver", "--all")
		if seen, _, _ := rcv.counts(); seen[hook] != 3 {
			t.Errorf("a delivered notification was sent again: %v", seen)
		}
		w.must("notify", "ack", manual, "--note", "sent by registered letter")
		if r := w.run(nil, "notify", "ack", manual, "--note", "again"); r.code != 3 {
			t.Errorf("second ack: %s", r)
		}
		w.must("requests", "close", req)
		// requests show: each recipient's state and who acted.
		r = w.must("--output", "json", "requests", "show", req)
		var v struct {
			Actions []struct {
				Action, Actor string
			} `json:"actions"`
			Notifications []struct {
				Recipient, Status string
				Attempts          int
				AckActor          *string `json:"ack_actor"`
			} `json:"notifications"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, n := range v.Notifications {
			states[n.Recipient] = n.Status
		}
		if states["adevinta_france"] != "delivered" || states["processors"] != "acknowledged" {
			t.Errorf("requests show: %s", r.stdout)
		}
		if len(v.Actions) < 3 {
			t.Errorf("actions: %s", r.stdout)
		}
		for _, a := range v.Actions {
			if a.Actor != "dpo-alice" {
				t.Errorf("action %s by %q, want dpo-alice", a.Action, a.Actor)
			}
		}
		// audit log --actor: every entry of the change carries the actor.
		r = w.must("--output", "json", "audit", "log", "--actor", "dpo-alice")
		var al struct {
			Entries []struct{ Actor, Action string } `json:"entries"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &al); err != nil {
			t.Fatal(err)
		}
		actions := map[string]bool{}
		for _, e := range al.Entries {
			actions[e.Action] = true
			if e.Actor != "dpo-alice" {
				t.Errorf("audit log --actor dpo-alice listed an entry of %q", e.Actor)
			}
		}
		for _, a := range []string{"dsr.erase", "dsr.request.open", "dsr.request.close", "notify.deliver", "notify.ack"} {
			if !actions[a] {
				t.Errorf("no %s entry by dpo-alice: %v", a, actions)
			}
		}
		if r := w.must("--output", "json", "audit", "log", "--actor", "nobody-else"); strings.Contains(r.stdout, "dsr.erase") {
			t.Errorf("audit log --actor filter does not filter")
		}
		w.healthy()
	})
}

// TestNotifyDeliverKilled SIGKILLs `notify deliver` while a notification is
// at the receiver (sent, outcome not recorded). After the rerun every
// notification is delivered, each under one id, the interrupted one at
// least once more, and none is lost.
func TestNotifyDeliverKilled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		var mu sync.Mutex
		block := true
		release := make(chan struct{})
		rcv, srv := newHookReceiver(t, func(string, int) int {
			mu.Lock()
			b := block
			mu.Unlock()
			if b {
				<-release // hold the first request until the deliverer is killed
			}
			return http.StatusNoContent
		})
		defer close(release)
		rf := w.file("recipients.json", []byte(`{"adevinta_france": {"webhook": "`+srv.URL+`", "secret_env": "E2E_HOOK_SECRET"}, "processors": {"webhook": "`+srv.URL+`", "secret_env": "E2E_HOOK_SECRET"}}`))
		w = w.with("OUBLI_RECIPIENTS="+rf, "E2E_HOOK_SECRET="+webhookSecret)
		w.must("migrate")
		w.ingestFixture(genFixture(22, 8))
		for _, u := range []string{"u-001", "u-002", "u-003"} {
			w.must("erase", "--user-id", u)
		}
		w.must("rectify", "--user-id", "u-004", "--set", "pseudo=zq-renamed")
		all := notificationsOf(t, w, "")
		if len(all) != 8 {
			t.Fatalf("%d notifications queued, want 8", len(all))
		}
		p := w.start(nil, "notify", "deliver", "--concurrency", "1")
		var first string
		select {
		case first = <-rcv.arrived:
		case <-time.After(time.Minute):
			t.Fatalf("nothing arrived: %s", p.kill())
		}
		if r := p.kill(); r.code != -9 {
			t.Fatalf("deliver was not killed mid-send: %s", r)
		}
		mu.Lock()
		block = false
		mu.Unlock()
		for _, n := range notificationsOf(t, w, "") {
			if n["status"] != "queued" {
				t.Errorf("after the kill: %v (nothing was recorded, so all stay queued)", n)
			}
		}
		w.must("notify", "deliver")
		seen, _, bad := rcv.counts()
		if bad != 0 || seen[first] != 2 {
			t.Errorf("bad signatures %d; the interrupted %s seen %d times, want 2", bad, first, seen[first])
		}
		for _, n := range notificationsOf(t, w, "") {
			id := n["id"].(string)
			if n["status"] != "delivered" || seen[id] < 1 {
				t.Errorf("%s: %v, received %d times", id, n["status"], seen[id])
			}
			if id != first && seen[id] != 1 {
				t.Errorf("%s received %d times", id, seen[id])
			}
		}
		if len(seen) != 8 {
			t.Errorf("%d distinct ids received, want 8", len(seen))
		}
		w.healthy()
	})
}
