package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestNotifyEndpointGone: a recipient's webhook answers 410 Gone to the
// first notification: the endpoint is gone, so its other pending
// notification (retrying after a 503 in the same run) is marked gone too
// and not sent again; notify status says the endpoint is gone until the
// notifications are acknowledged. The manual recipient is untouched.
func TestNotifyEndpointGone(t *testing.T) {
	w := newWorld(t, "sqlite")
	var mu sync.Mutex
	first := true
	rcv, srv := newHookReceiver(t, func(string, int) int {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return http.StatusGone
		}
		return http.StatusServiceUnavailable
	})
	rf := w.file("recipients.json", []byte(`{"adevinta_france": {"webhook": "`+srv.URL+`/hook", "secret_env": "E2E_HOOK_SECRET"}, "processors": {"manual": true}}`))
	w = w.with("OUBLI_RECIPIENTS="+rf, "E2E_HOOK_SECRET="+webhookSecret)
	w.must("migrate")
	w.ingestFixture(genFixture(23, 6))
	w.must("erase", "--user-id", "u-001")
	w.must("erase", "--user-id", "u-002")
	r := w.must("notify", "deliver", "--concurrency", "1")
	if !strings.Contains(r.stdout, "gone 1") || !strings.Contains(r.stdout, "1 more notification(s) marked gone") {
		t.Fatalf("deliver: %s", r)
	}
	seen, _, _ := rcv.counts()
	if len(seen) != 2 {
		t.Fatalf("the receiver saw %v", seen)
	}
	var gone []string
	for _, n := range notificationsOf(t, w, "") {
		switch n["recipient"] {
		case "adevinta_france":
			if n["status"] != "gone" {
				t.Errorf("%v: want gone", n)
			}
			gone = append(gone, n["id"].(string))
		default:
			if n["status"] != "manual" {
				t.Errorf("%v: want manual", n)
			}
		}
	}
	if r := w.must("notify", "deliver", "--all"); !strings.Contains(r.stdout, "attempted 0") {
		t.Errorf("a notification to the gone endpoint was sent again: %s", r)
	}
	r = w.must("notify", "status")
	if !strings.Contains(r.stdout, "endpoint gone: it answered 410 Gone") || !strings.Contains(r.stdout, "its 2 notification(s) marked gone") {
		t.Errorf("notify status does not say the endpoint is gone:\n%s", r.stdout)
	}
	for _, id := range gone {
		w.must("notify", "ack", id, "--note", "told by phone; new endpoint requested")
	}
	var st struct {
		Recipients []struct {
			Recipient    string           `json:"recipient"`
			How          string           `json:"how"`
			EndpointGone bool             `json:"endpoint_gone"`
			Counts       map[string]int64 `json:"counts"`
		} `json:"recipients"`
	}
	r = w.must("--output", "json", "notify", "status")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Recipients) != 2 {
		t.Fatalf("notify status --output json: %v\n%s", err, r.stdout)
	}
	for _, x := range st.Recipients {
		if x.EndpointGone {
			t.Errorf("%s still shown gone once its notifications are acknowledged", x.Recipient)
		}
		if x.Recipient == "adevinta_france" && (x.How != "webhook" || x.Counts["acknowledged"] != 2) {
			t.Errorf("%+v", x)
		}
	}
	w.healthy()
}
