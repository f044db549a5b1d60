package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/oubli/oubli/store"
)

// Defaults of a Deliverer.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultHorizon     = 72 * time.Hour
	DefaultBaseDelay   = 30 * time.Second
	DefaultMaxDelay    = time.Hour
	DefaultConcurrency = 16
)

// Deliverer sends queued notifications to the recipients' webhooks.
type Deliverer struct {
	DB      *store.DB
	Config  *Config
	Secrets map[string][]byte // recipient id → HMAC key (Config.Secrets)
	// Client sends the requests; nil: one with Timeout, no redirects.
	Client *http.Client
	// Timeout bounds one attempt (DefaultTimeout when zero).
	Timeout time.Duration
	// Horizon: a notification not delivered this long after it was queued
	// is failed (DefaultHorizon when zero).
	Horizon time.Duration
	// BaseDelay and MaxDelay shape the exponential backoff (with jitter).
	BaseDelay, MaxDelay time.Duration
	// Concurrency bounds the requests in flight (DefaultConcurrency when zero).
	Concurrency int
	Now         func() time.Time
	Log         *slog.Logger
	// UserAgent is sent with each request.
	UserAgent string
}

// Report says what one Deliver run did.
type Report struct {
	Attempted int `json:"attempted"`
	Delivered int `json:"delivered"`
	Retrying  int `json:"retrying"`
	Failed    int `json:"failed"`
	Gone      int `json:"gone"`
	// MarkedGone counts the notifications not sent because their
	// recipient's endpoint answered 410 Gone to another one.
	MarkedGone int `json:"marked_gone"`
	Manual     int `json:"manual"`
	// Adopted counts the manual notifications (queued by a command without
	// the delivery settings) this run took over for a recipient it has a
	// webhook for.
	Adopted int `json:"adopted_manual"`
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Deliverer) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	to := d.Timeout
	if to <= 0 {
		to = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = d.concurrency()
	d.Client = &http.Client{Timeout: to, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return d.Client
}

func (d *Deliverer) concurrency() int {
	if d.Concurrency > 0 {
		return d.Concurrency
	}
	return DefaultConcurrency
}

// Deliver sends every queued notification whose next attempt is due (all:
// also those waiting for a retry), each at most once in this run. On
// PostgreSQL each batch's rows are locked FOR UPDATE SKIP LOCKED until their
// outcome is recorded, so deliverers running at once never send one
// notification twice; on SQLite the run holds the "notify" file lock (a
// second deliverer gets store.ErrBusy). A crash between a send and its record
// leaves the notification queued: it is sent again, with the same id.
func (d *Deliverer) Deliver(ctx context.Context, all bool) (*Report, error) {
	rep := &Report{}
	if d.DB.Dialect() == store.SQLite {
		l, err := d.DB.TryLock(ctx, "notify")
		if err != nil {
			return rep, fmt.Errorf("notify deliver: %w", err)
		}
		defer l.Unlock()
	}
	// Manual notifications of recipients this deliverer has a webhook for
	// were queued by a command without the delivery settings: send them.
	var hooks []string
	for id := range d.Secrets {
		if d.Config.Webhook(id) != "" {
			hooks = append(hooks, id)
		}
	}
	slices.Sort(hooks)
	adopted, err := store.AdoptManualNotifications(ctx, d.DB, hooks, store.Millis(d.now()))
	if err != nil {
		return rep, fmt.Errorf("notify deliver: %w", err)
	}
	rep.Adopted = int(adopted)
	batch := d.concurrency() * 8
	// A notification waits while an older one to the same recipient about
	// the same subject is queued (store.ClaimNotifications); one delivered
	// in a pass frees the next, so passes repeat while they send something
	// new. seen keeps each notification to one attempt in this run.
	seen := map[string]bool{}
	for pass := 0; pass < maxPasses; pass++ {
		after, fresh := "", 0
		for {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			n, last, got, err := d.batch(ctx, after, all, batch, rep, seen)
			if err != nil {
				return rep, err
			}
			fresh += got
			if n < batch {
				break
			}
			after = last
		}
		if fresh == 0 {
			break
		}
	}
	if rep.Attempted+rep.Manual+rep.Adopted > 0 {
		err := d.DB.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: d.now(), Actor: "notify", Action: "notify.deliver", Outcome: "ok",
				Detail: map[string]any{"attempted": rep.Attempted, "delivered": rep.Delivered, "retrying": rep.Retrying,
					"failed": rep.Failed, "gone": rep.Gone, "marked_gone": rep.MarkedGone, "manual": rep.Manual, "adopted_manual": rep.Adopted}})
			return err
		})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// maxPasses bounds the passes of one run: a subject with more queued
// notifications to one recipient than that is served by the next runs.
const maxPasses = 256

// batch claims up to limit notifications after id after, and sends and
// records those not in seen (adding them). It returns how many it claimed,
// the last id, and how many it sent or marked manual.
func (d *Deliverer) batch(ctx context.Context, after string, all bool, limit int, rep *Report, seen map[string]bool) (int, string, int, error) {
	now := d.now()
	var due int64
	if !all {
		due = store.Millis(now)
	}
	var tx *store.Tx
	var q store.Querier = d.DB
	if d.DB.Dialect() == store.Postgres {
		var err error
		if tx, err = d.DB.Begin(ctx); err != nil {
			return 0, "", 0, err
		}
		defer tx.Rollback()
		q = tx
	}
	claimed, err := store.ClaimNotifications(ctx, q, after, due, limit)
	if err != nil || len(claimed) == 0 {
		return 0, "", 0, err
	}
	last := claimed[len(claimed)-1].ID
	ns := claimed[:0:0]
	for _, n := range claimed {
		if !seen[n.ID] {
			seen[n.ID] = true
			ns = append(ns, n)
		}
	}
	if len(ns) == 0 {
		return len(claimed), last, 0, nil
	}
	results := make([]store.Notification, len(ns))
	var wg sync.WaitGroup
	sem := make(chan struct{}, d.concurrency())
	for i, n := range ns {
		if d.Config.Webhook(n.RecipientID) == "" || d.Secrets[n.RecipientID] == nil {
			// The recipient is told by hand now.
			n.Status = store.NotifyManual
			results[i] = n
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = d.attempt(ctx, n)
		}()
	}
	wg.Wait()
	if tx == nil {
		if tx, err = d.DB.Begin(ctx); err != nil {
			return 0, "", 0, err
		}
		defer tx.Rollback()
	}
	if err := store.UpdateNotifications(ctx, tx, results); err != nil {
		return 0, "", 0, err
	}
	// A 410 Gone is the endpoint's answer, not one notification's: the
	// recipient's other pending notifications are marked gone with it.
	goneTo := map[string]bool{}
	for _, n := range results {
		if n.Status != store.NotifyGone || goneTo[n.RecipientID] {
			continue
		}
		goneTo[n.RecipientID] = true
		reason := fmt.Sprintf("not sent: the recipient's endpoint answered 410 Gone to %s at %s; fix its webhook in the recipients file, tell them by hand, then ack",
			n.ID, store.FromMillis(n.LastAttemptAt.Int64).UTC().Format(time.RFC3339))
		marked, err := store.MarkRecipientGone(ctx, tx, n.RecipientID, reason)
		if err != nil {
			return 0, "", 0, err
		}
		rep.MarkedGone += int(marked)
	}
	for _, n := range results {
		switch n.Status {
		case store.NotifyManual:
			rep.Manual++
			continue
		case store.NotifyDelivered:
			rep.Delivered++
		case store.NotifyFailed:
			rep.Failed++
		case store.NotifyGone:
			rep.Gone++
		default:
			rep.Retrying++
		}
		rep.Attempted++
	}
	if err := tx.Commit(); err != nil {
		return 0, "", 0, fmt.Errorf("notify deliver: record outcomes: %w", err)
	}
	for _, n := range results {
		if n.Status != store.NotifyManual && n.Status != store.NotifyDelivered {
			// Ids and recipients only: never the payload or the URL.
			d.log().Warn("notification not delivered", "notification", n.ID, "recipient", n.RecipientID,
				"status", n.Status, "attempts", n.Attempts, "error", n.LastError.String)
		}
	}
	return len(claimed), last, len(ns), nil
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// attempt sends n once and returns it with its new state.
func (d *Deliverer) attempt(ctx context.Context, n store.Notification) store.Notification {
	now := d.now()
	n.Attempts++
	n.LastAttemptAt.Int64, n.LastAttemptAt.Valid = store.Millis(now), true
	code, err := d.send(ctx, n, now)
	switch {
	case err == nil && code >= 200 && code < 300:
		n.Status = store.NotifyDelivered
		n.DeliveredAt.Int64, n.DeliveredAt.Valid = store.Millis(d.now()), true
		n.Payload = "" // sent: only its SHA-256 stays
		n.LastError = nullString("")
		return n
	case err == nil && code == http.StatusGone:
		n.Status = store.NotifyGone
		n.LastError = nullString("HTTP 410 Gone: the recipient's endpoint is gone")
		return n
	case err == nil:
		n.LastError = nullString("HTTP " + strconv.Itoa(code))
	default:
		n.LastError = nullString(err.Error())
	}
	next := now.Add(d.backoff(n.Attempts))
	horizon := d.Horizon
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	if next.After(store.FromMillis(n.CreatedAt).Add(horizon)) {
		n.Status = store.NotifyFailed
		n.LastError = nullString(n.LastError.String + fmt.Sprintf("; not delivered within %s: failed", horizon))
		return n
	}
	n.NextAttemptAt = store.Millis(next)
	return n
}

// backoff is the wait after the attempt-th failed attempt: BaseDelay·2^(attempt-1)
// capped at MaxDelay, of which a random half is kept ("equal jitter").
func (d *Deliverer) backoff(attempt int) time.Duration {
	base, maxd := d.BaseDelay, d.MaxDelay
	if base <= 0 {
		base = DefaultBaseDelay
	}
	if maxd <= 0 {
		maxd = DefaultMaxDelay
	}
	delay := maxd
	if attempt-1 < 32 {
		if x := base << (attempt - 1); x > 0 && x < maxd {
			delay = x
		}
	}
	return delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
}

// Sign returns the Standard Webhooks signature header value of body: "v1,"
// and the standard base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// send POSTs the payload once and returns the status code. Errors name the
// kind of failure (timeout, connection), never the URL or the body.
func (d *Deliverer) send(ctx context.Context, n store.Notification, now time.Time) (int, error) {
	url := d.Config.Webhook(n.RecipientID)
	body := []byte(n.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("bad webhook URL")
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", n.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(d.Secrets[n.RecipientID], n.ID, ts, body))
	if d.UserAgent != "" {
		req.Header.Set("User-Agent", d.UserAgent)
	}
	resp, err := d.client().Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return 0, errors.New("timeout")
		case ctx.Err() != nil:
			return 0, errors.New("canceled")
		default:
			return 0, errors.New("connection error")
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func nullString(s string) (ns sql.NullString) {
	ns.String, ns.Valid = s, s != ""
	return ns
}
