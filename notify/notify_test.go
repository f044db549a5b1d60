package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var recips = []policies.Recipient{{ID: "adevinta_france", Name: policies.Label{EN: "Adevinta France"}}, {ID: "processors", Name: policies.Label{EN: "Processors"}}}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verify checks a Standard Webhooks signature the way a receiver would,
// written apart from Sign: decode the key, rebuild the signed content from
// the headers, compare in constant time, and check the timestamp's age.
func verify(t *testing.T, h http.Header, body []byte, now time.Time) error {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp too far from now")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid v1 signature")
}

// TestSignStandardWebhooksVector checks Sign against the test vector of the
// Standard Webhooks specification.
func TestSignStandardWebhooksVector(t *testing.T) {
	key, err := SecretBytes(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

// receiver is a loopback webhook endpoint: it verifies each request's
// signature and answers with the status plan gives for the n-th request of
// a notification id (200 past the plan), deduplicating accepted ids.
type receiver struct {
	t        *testing.T
	plan     func(id string, n int) (status int, delay time.Duration)
	mu       sync.Mutex
	attempts map[string]int
	accepted map[string]int
	bodies   map[string][]byte
	badSig   int
	clock    atomic.Int64 // Unix seconds the signature's timestamp is judged against; 0: now
}

func newReceiver(t *testing.T, plan func(string, int) (int, time.Duration)) (*receiver, *httptest.Server) {
	r := &receiver{t: t, plan: plan, attempts: map[string]int{}, accepted: map[string]int{}, bodies: map[string][]byte{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	now := time.Now()
	if c := r.clock.Load(); c != 0 {
		now = time.Unix(c, 0)
	}
	if err := verify(r.t, req.Header, body, now); err != nil || req.Method != http.MethodPost {
		r.badSig++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.attempts[id]++
	n := r.attempts[id]
	r.mu.Unlock()
	status, delay := http.StatusOK, time.Duration(0)
	if r.plan != nil {
		status, delay = r.plan(id, n)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if status/100 == 2 {
		r.mu.Lock()
		r.accepted[id]++
		r.bodies[id] = body
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

func writeConfig(t *testing.T, url string) *Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "recipients.json")
	b, _ := json.Marshal(map[string]any{"adevinta_france": map[string]any{"webhook": url, "secret_env": "T_SECRET"}, "processors": map[string]any{"manual": true}})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p, []string{"adevinta_france", "processors"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func queue(t *testing.T, db *store.DB, ob *Outbox, evs ...Event) []Queued {
	t.Helper()
	var out []Queued
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		for _, ev := range evs {
			q, err := ob.Queue(context.Background(), tx, ev)
			if err != nil {
				return err
			}
			out = append(out, q...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func deliverer(t *testing.T, db *store.DB, cfg *Config) *Deliverer {
	sec, err := cfg.Secrets(func(k string) string {
		if k == "T_SECRET" {
			return secret
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Deliverer{DB: db, Config: cfg, Secrets: sec, Timeout: 2 * time.Second, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
}

func get(t *testing.T, db *store.DB, id string) store.Notification {
	t.Helper()
	n, err := GetNotification(db, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// GetNotification is a test helper reading one row.
func GetNotification(db *store.DB, id string) (store.Notification, error) {
	return store.GetNotification(context.Background(), db, id)
}

var at = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestQueueAndPayloadSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("payload.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	c.AssertFormat()
	sch, err := c.Compile("payload.v1.json")
	if err != nil {
		t.Fatalf("the published schema does not compile: %v", err)
	}
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ob := &Outbox{Recipients: recips}
		evs := []Event{
			Rectification("DSR-1", "h:00aa", "u-42", at, "new@example.org", "newpseudo"),
			Objection("DSR-2", "h:00aa", "u-42", "statistics", at, []string{"subject_stats"}),
			Erasure("DSR-3", "h:00aa", "u-42", at, map[string]int64{"tickets": 2, "subjects": 1, "messages": 0}, map[string]int64{"subjects": 0}),
		}
		qs := queue(t, db, ob, evs...)
		if len(qs) != 6 {
			t.Fatalf("queued %d, want 6 (2 recipients × 3 changes)", len(qs))
		}
		for _, q := range qs {
			if q.Status != store.NotifyManual {
				t.Errorf("%s: status %s without a recipients file, want manual", q.ID, q.Status)
			}
			n := get(t, db, q.ID)
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(n.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%s payload %s: %v", n.Type, n.Payload, err)
			}
			var p Payload
			_ = json.Unmarshal([]byte(n.Payload), &p)
			if p.ID != n.ID || p.Recipient != n.RecipientID || p.UserID != "u-42" {
				t.Errorf("payload %+v of %s", p, n.ID)
			}
			sum := sha256.Sum256([]byte(n.Payload))
			if n.PayloadSHA256 != hexs(sum[:]) {
				t.Errorf("payload_sha256 mismatch")
			}
		}
		// The erasure stripped the earlier rectification's new values.
		for _, n := range mustList(t, db, store.NotificationFilter{}) {
			if strings.Contains(n.Payload, "new@example.org") || strings.Contains(n.Payload, "newpseudo") {
				t.Errorf("%s %s still holds the erased subject's new values: %s", n.Type, n.ID, n.Payload)
			}
			if n.Type == TypeErasure && !strings.Contains(n.Payload, `"fields":["subjects","tickets"]`) {
				t.Errorf("erasure payload fields: %s", n.Payload)
			}
		}
		// And a payload that breaks the schema is caught by it.
		bad := `{"version":1,"id":"ntf_00000000000000000000000000000000","type":"erasure","recipient":"x","request_id":"R","subject_ref":"h:00","user_id":"u","occurred_at":"2026-01-01T00:00:00Z","fields":[],"new_values":{"email":"a@b.c"}}`
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.Validate(inst) == nil {
			t.Error("an erasure payload with new_values passes the schema")
		}
	})
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func mustList(t *testing.T, db *store.DB, f store.NotificationFilter) []store.Notification {
	t.Helper()
	ns, err := store.ListNotifications(context.Background(), db, f)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestDeliverRetriesThenSucceeds: two 500s, a timeout, then 200: exactly one
// accepted delivery, the same webhook-id on every attempt, a valid
// signature each time, the payload emptied once delivered.
func TestDeliverRetriesThenSucceeds(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		rcv, srv := newReceiver(t, func(id string, n int) (int, time.Duration) {
			switch n {
			case 1, 2:
				return http.StatusInternalServerError, 0
			case 3:
				return http.StatusOK, 3 * time.Second // slower than the timeout: not accepted in time
			}
			return http.StatusNoContent, 0
		})
		cfg := writeConfig(t, srv.URL)
		qs := queue(t, db, &Outbox{Recipients: recips, Config: cfg}, Erasure("DSR-9", "h:00bb", "u-7", at, map[string]int64{"subjects": 1}, nil))
		var hook, manual string
		for _, q := range qs {
			if q.Recipient == "adevinta_france" {
				hook = q.ID
				if q.Status != store.NotifyQueued {
					t.Fatalf("webhook recipient queued as %s", q.Status)
				}
			} else {
				manual = q.ID
			}
		}
		d := deliverer(t, db, cfg)
		d.Timeout = 500 * time.Millisecond
		ctx := context.Background()
		for i := 1; i <= 4; i++ {
			rep, err := d.Deliver(ctx, true)
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			n := get(t, db, hook)
			if n.Attempts != i {
				t.Errorf("run %d: attempts %d", i, n.Attempts)
			}
			if i < 4 && (n.Status != store.NotifyQueued || rep.Retrying != 1 || !n.LastError.Valid) {
				t.Errorf("run %d: %s %+v %v", i, n.Status, rep, n.LastError)
			}
			if i == 3 && n.LastError.String != "timeout" {
				t.Errorf("run 3 error %q, want timeout", n.LastError.String)
			}
		}
		n := get(t, db, hook)
		if n.Status != store.NotifyDelivered || !n.DeliveredAt.Valid || n.Payload != "" {
			t.Errorf("after success: %+v", n)
		}
		time.Sleep(3 * time.Second) // let the slow handler of attempt 3 finish
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if rcv.attempts[hook] != 4 || rcv.badSig != 0 || len(rcv.attempts) != 1 {
			t.Errorf("receiver saw %v attempts, %d bad signatures", rcv.attempts, rcv.badSig)
		}
		if rcv.accepted[hook] != 1 {
			// The slow third attempt was answered after the client gave up:
			// the receiver may count it, which is why it deduplicates by id.
			if rcv.accepted[hook] != 2 {
				t.Errorf("accepted %d times", rcv.accepted[hook])
			}
		}
		var p Payload
		if err := json.Unmarshal(rcv.bodies[hook], &p); err != nil || p.ID != hook || p.UserID != "u-7" {
			t.Errorf("received body %s", rcv.bodies[hook])
		}
		if m := get(t, db, manual); m.Status != store.NotifyManual || m.Attempts != 0 {
			t.Errorf("manual notification: %+v", m)
		}
	})
}

// TestDeliverBackoffHorizonGone: without --all a notification waiting for
// its retry is not sent; past the horizon it is failed; 410 marks it gone.
func TestDeliverBackoffHorizonGone(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		var gone atomic.Bool
		rcv, srv := newReceiver(t, func(id string, n int) (int, time.Duration) {
			if gone.Load() {
				return http.StatusGone, 0
			}
			return http.StatusServiceUnavailable, 0
		})
		cfg := writeConfig(t, srv.URL)
		now := time.Now().UTC()
		qs := queue(t, db, &Outbox{Recipients: recips[:1], Config: cfg}, Erasure("DSR-1", "h:00cc", "u-1", now, nil, nil))
		id := qs[0].ID
		d := deliverer(t, db, cfg)
		d.BaseDelay, d.MaxDelay, d.Horizon = time.Hour, time.Hour, 150*time.Minute
		clock := now
		d.Now = func() time.Time { return clock }
		tick := func(d time.Duration) { clock = clock.Add(d); rcv.clock.Store(clock.Unix()) }
		tick(0)
		ctx := context.Background()
		if _, err := d.Deliver(ctx, false); err != nil {
			t.Fatal(err)
		}
		n := get(t, db, id)
		wait := store.FromMillis(n.NextAttemptAt).Sub(clock)
		if n.Attempts != 1 || wait < 30*time.Minute || wait > time.Hour {
			t.Fatalf("after one failure: attempts %d, next in %s (want 30m..1h: 1h with jitter)", n.Attempts, wait)
		}
		if rep, _ := d.Deliver(ctx, false); rep.Attempted != 0 {
			t.Errorf("a notification not yet due was sent: %+v", rep)
		}
		tick(time.Hour + time.Minute)
		if rep, _ := d.Deliver(ctx, false); rep.Attempted != 1 {
			t.Errorf("a due notification was not sent: %+v", rep)
		}
		tick(time.Hour + time.Minute) // the next retry (30-60 min) would pass the 2h30 horizon
		if rep, _ := d.Deliver(ctx, false); rep.Failed != 1 {
			t.Errorf("past the horizon: %+v", rep)
		}
		if n := get(t, db, id); n.Status != store.NotifyFailed || !strings.Contains(n.LastError.String, "HTTP 503") {
			t.Errorf("failed: %+v", n)
		}
		if got := mustList(t, db, store.NotificationFilter{Status: store.NotifyFailed}); len(got) != 1 {
			t.Errorf("list --status failed: %d", len(got))
		}
		// 410 Gone.
		gone.Store(true)
		qs = queue(t, db, &Outbox{Recipients: recips[:1], Config: cfg}, Erasure("DSR-2", "h:00dd", "u-2", clock, nil, nil))
		if rep, _ := d.Deliver(ctx, true); rep.Gone != 1 {
			t.Errorf("410: %+v", rep)
		}
		if n := get(t, db, qs[0].ID); n.Status != store.NotifyGone {
			t.Errorf("410: status %s", n.Status)
		}
		// Both are handled by hand: ack closes them, a second ack is refused.
		actx := store.WithActor(ctx, "alice")
		for _, x := range []string{id, qs[0].ID} {
			if _, err := Ack(actx, db, x, "told them by phone", clock); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Ack(actx, db, id, "again", clock); !errors.Is(err, ErrState) {
			t.Errorf("second ack: %v", err)
		}
		if _, err := Ack(actx, db, "ntf_nope", "x", clock); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		if _, err := Ack(actx, db, id, "  ", clock); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("empty note: %v", err)
		}
		if n := get(t, db, id); n.Status != store.NotifyAcknowledged || n.AckActor.String != "alice" || n.Payload != "" {
			t.Errorf("acked: %+v", n)
		}
	})
}

// TestTwoDeliverersNeverSendTwice runs two deliverers at once over many
// notifications: each is accepted exactly once. On PostgreSQL both run (SKIP
// LOCKED splits the rows); on SQLite the second finds the file lock held.
func TestTwoDeliverersNeverSendTwice(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		rcv, srv := newReceiver(t, func(string, int) (int, time.Duration) { return http.StatusOK, 2 * time.Millisecond })
		cfg := writeConfig(t, srv.URL)
		var evs []Event
		for i := range 150 {
			evs = append(evs, Erasure("DSR-"+strconv.Itoa(i), "h:00ee", "u-"+strconv.Itoa(i), at, nil, nil))
		}
		queue(t, db, &Outbox{Recipients: recips[:1], Config: cfg}, evs...)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := deliverer(t, db, cfg)
				d.Concurrency = 4
				_, errs[i] = d.Deliver(context.Background(), true)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && !(db.Dialect() == store.SQLite && errors.Is(err, store.ErrBusy)) {
				t.Fatal(err)
			}
		}
		if db.Dialect() == store.SQLite && errs[0] != nil && errs[1] != nil {
			t.Fatal("both deliverers were busy")
		}
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if len(rcv.attempts) != 150 {
			t.Errorf("%d notifications received, want 150", len(rcv.attempts))
		}
		for id, n := range rcv.attempts {
			if n != 1 {
				t.Errorf("%s sent %d times", id, n)
			}
		}
		if got := mustList(t, db, store.NotificationFilter{Status: store.NotifyDelivered}); len(got) != 150 {
			t.Errorf("%d delivered in the store", len(got))
		}
	})
}

func TestLoadConfigFaults(t *testing.T) {
	dir := t.TempDir()
	known := []string{"adevinta_france", "processors"}
	for _, tt := range []struct {
		name, body, want string
	}{
		{"not json", `{`, "want a JSON object"},
		{"array", `[]`, "want a JSON object"},
		{"unknown id", `{"acme": {"manual": true}}`, `unknown recipient id "acme" (the policies declare adevinta_france, processors)`},
		{"unknown field", `{"processors": {"manual": true, "url": "x"}}`, `recipient "processors": want`},
		{"no secret_env", `{"processors": {"webhook": "https://example.org/h"}}`, "needs secret_env"},
		{"bad env name", `{"processors": {"webhook": "https://example.org/h", "secret_env": "A-B"}}`, "not an environment variable name"},
		{"http", `{"processors": {"webhook": "http://example.org/h", "secret_env": "S"}}`, "must be https://"},
		{"ftp", `{"processors": {"webhook": "ftp://example.org/h", "secret_env": "S"}}`, "must be https://"},
		{"credentials", `{"processors": {"webhook": "https://u:p@example.org/h", "secret_env": "S"}}`, "without credentials"},
		{"both", `{"processors": {"webhook": "https://example.org/h", "secret_env": "S", "manual": true}}`, "manual excludes"},
		{"empty", `{"processors": {}}`, "give a webhook"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".json")
		_ = os.WriteFile(p, []byte(tt.body), 0o600)
		_, err := LoadConfig(p, known)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrConfig naming the file and %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json"), known); !errors.Is(err, ErrConfig) {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "ok.json")
	_ = os.WriteFile(p, []byte(`{"processors": {"webhook": "http://127.0.0.1:9/h", "secret_env": "MY_SECRET"}}`), 0o600)
	cfg, err := LoadConfig(p, known)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Secrets(func(string) string { return "" })
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "MY_SECRET") {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := cfg.Secrets(func(string) string { return "whsec_***" }); !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "***") {
		t.Errorf("bad whsec secret: %v", err)
	}
	if c, err := LoadConfig("", known); c != nil || err != nil || c.Webhook("processors") != "" {
		t.Errorf("no file: %v %v", c, err)
	}
}

// TestQueueOncePerRequest: executing a request again (the rerun after a
// crash) queues nothing twice.
func TestQueueOncePerRequest(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ob := &Outbox{Recipients: recips}
		a := queue(t, db, ob, Erasure("DSR-5", "h:00ff", "u-5", at, nil, nil))
		b := queue(t, db, ob, Erasure("DSR-5", "h:00ff", "u-5", at, nil, nil))
		if len(a) != 2 || len(b) != 2 || a[0].ID != b[0].ID || a[1].ID != b[1].ID {
			t.Errorf("first %v, again %v", a, b)
		}
		if n := len(mustList(t, db, store.NotificationFilter{RequestID: "DSR-5"})); n != 2 {
			t.Errorf("%d notifications, want 2", n)
		}
	})
}

// TestDeliveryKeepsOrderPerSubject (adversarial pass 7 F7): a recipient
// learns of one subject's changes in the order they were made. The
// rectification's first attempt fails; the erasure that followed it waits
// until the rectification is delivered, while another subject's
// notification goes at once.
func TestDeliveryKeepsOrderPerSubject(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		var mu sync.Mutex
		var accepted []string
		var rect string
		_, srv := newReceiver(t, func(id string, n int) (int, time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if id == rect && n == 1 {
				return http.StatusServiceUnavailable, 0
			}
			accepted = append(accepted, id)
			return http.StatusNoContent, 0
		})
		cfg := writeConfig(t, srv.URL)
		ob := &Outbox{Recipients: recips, Config: cfg}
		hookOf := func(qs []Queued) string {
			for _, q := range qs {
				if q.Recipient == "adevinta_france" {
					return q.ID
				}
			}
			t.Fatalf("no webhook notification in %+v", qs)
			return ""
		}
		mu.Lock()
		rect = hookOf(queue(t, db, ob, Rectification("DSR-1", "h:00cc", "u-1", at, "new@example.org", "")))
		mu.Unlock()
		erasure := hookOf(queue(t, db, ob, Erasure("DSR-2", "h:00cc", "u-1", at.Add(time.Second), map[string]int64{"subjects": 1}, nil)))
		other := hookOf(queue(t, db, ob, Erasure("DSR-3", "h:00dd", "u-2", at.Add(2*time.Second), map[string]int64{"subjects": 1}, nil)))
		d := deliverer(t, db, cfg)
		ctx := context.Background()
		for i := 1; i <= 3; i++ {
			if _, err := d.Deliver(ctx, true); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			if i == 1 {
				if n := get(t, db, erasure); n.Status != store.NotifyQueued || n.Attempts != 0 {
					t.Fatalf("the erasure was tried while the rectification before it was still queued: %+v", n)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{other, rect, erasure}; !slices.Equal(accepted, want) {
			t.Fatalf("delivered in the order %v; want %v (other subject, then rectification, then erasure)", accepted, want)
		}
		for _, id := range []string{rect, erasure, other} {
			if n := get(t, db, id); n.Status != store.NotifyDelivered {
				t.Errorf("%s: %s", id, n.Status)
			}
		}
	})
}

// TestGoneAndManualKeepTheOrder (adversarial pass 8 F11, F13): a later
// notification about a subject waits behind an older one that failed or
// met a 410 Gone until that one is acknowledged, and nothing more is sent
// to a gone endpoint meanwhile; a notification queued as manual by a
// command without the delivery settings is sent by a deliverer that has a
// webhook for its recipient, in its turn.
func TestGoneAndManualKeepTheOrder(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		var answer atomic.Int64
		answer.Store(http.StatusGone)
		var mu sync.Mutex
		var accepted []string
		_, srv := newReceiver(t, func(id string, n int) (int, time.Duration) {
			code := int(answer.Load())
			if code/100 == 2 {
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
			return code, 0
		})
		cfg := writeConfig(t, srv.URL)
		hook := func(qs []Queued) string {
			for _, q := range qs {
				if q.Recipient == "adevinta_france" {
					return q.ID
				}
			}
			t.Fatalf("no webhook recipient in %+v", qs)
			return ""
		}
		ctx := context.Background()
		d := deliverer(t, db, cfg)
		rect := hook(queue(t, db, &Outbox{Recipients: recips, Config: cfg}, Rectification("DSR-1", "h:00aa", "u-1", at, "", "newpseudo")))
		if rep, err := d.Deliver(ctx, true); err != nil || rep.Gone != 1 {
			t.Fatalf("410: %+v %v", rep, err)
		}
		// Queued by a command without the recipients file: manual.
		erasure := hook(queue(t, db, &Outbox{Recipients: recips}, Erasure("DSR-2", "h:00aa", "u-1", at.Add(time.Minute), map[string]int64{"subjects": 1}, nil)))
		other := hook(queue(t, db, &Outbox{Recipients: recips, Config: cfg}, Erasure("DSR-3", "h:00bb", "u-2", at.Add(2*time.Minute), map[string]int64{"subjects": 1}, nil)))
		if n := get(t, db, erasure); n.Status != store.NotifyManual {
			t.Fatalf("queued without the delivery settings: %s, want manual", n.Status)
		}
		answer.Store(http.StatusNoContent)
		rep, err := d.Deliver(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Adopted != 1 || rep.Attempted != 0 {
			t.Fatalf("with an unacknowledged 410: %+v; want the manual one adopted, nothing sent to the gone endpoint", rep)
		}
		if n := get(t, db, erasure); n.Status != store.NotifyQueued {
			t.Fatalf("adopted erasure: %s, want queued behind the gone rectification", n.Status)
		}
		if _, err := Ack(store.WithActor(ctx, "dpo"), db, rect, "told them by phone, webhook fixed", at); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Deliver(ctx, true); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(accepted) != 2 || !slices.Contains(accepted, erasure) || !slices.Contains(accepted, other) {
			t.Fatalf("delivered %v once the gone one was acknowledged; want the erasure and the other subject's", accepted)
		}
	})
}
