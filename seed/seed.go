// Package seed generates support-contact data: a small, realistic demo data
// set and large synthetic data sets for benchmarks. Both are deterministic:
// a fixed seed gives the same rows (blob keys aside, which are always fresh
// random keys) for the same anchor day.
//
// Generated times are spread back from the anchor day so that the default
// retention periods find real work: attachments more than a year after
// their ticket closed, tickets more than five years, closed accounts more
// than three years, account events more than three years.
package seed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// ErrAlreadySeeded is returned when the data a seed would insert is already
// in the store (the same --seed twice, or --demo twice).
var ErrAlreadySeeded = errors.New("already seeded")

// Summary counts what a seed inserted.
type Summary struct {
	Subjects        int64  `json:"subjects"`
	Tickets         int64  `json:"tickets"`
	Messages        int64  `json:"messages"`
	Attachments     int64  `json:"attachments"`
	AttachmentBytes int64  `json:"attachment_bytes"`
	AccountEvents   int64  `json:"account_events"`
	SubjectStats    int64  `json:"subject_stats"`
	AgentStats      int64  `json:"agent_stats"`
	LegalHolds      int64  `json:"legal_holds"`
	DSRRequests     int64  `json:"dsr_requests"`
	Objections      int64  `json:"objections"`
	OldTickets      int64  `json:"tickets_closed_before_old_age,omitempty"`
	Seed            uint64 `json:"seed"`
}

const day = 24 * time.Hour

// gen is the generator shared by the demo and the synthetic data sets.
type gen struct {
	rng    *rand.Rand
	now    time.Time // the anchor: start of the UTC day
	span   time.Duration
	prefix string // id prefix
	// Ticket ages: when oldShare >= 0, that share of tickets closed more than
	// oldAge ago and the rest closed (or opened) since.
	oldShare float64
	oldAge   time.Duration

	subjects []subjectInfo
	sum      Summary
	// Tickets closed more than five years before now, and subjects whose
	// account closed more than three years before now (for the demo's holds).
	oldTickets     []string
	closedSubjects []string
	pending        []pendingBlob
	written        []string // blob keys written, for the cleanup on failure
}

type subjectInfo struct {
	id      string
	created time.Time
	closed  *time.Time
}

type pendingBlob struct {
	key  string
	data []byte
}

func newGen(seed uint64, now time.Time, span time.Duration, prefix string) *gen {
	return &gen{
		rng: rand.New(rand.NewPCG(seed, 0x6f75626c69)), now: now.UTC().Truncate(day),
		span: span, prefix: prefix, oldShare: -1,
	}
}

// between returns a time uniformly in [a, b).
func (g *gen) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(g.rng.Int64N(int64(b.Sub(a))))).Truncate(time.Second)
}

func (g *gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

// subject generates subject number i.
func (g *gen) subject(b *store.Bulk, i int) {
	first := g.pick(firstNames)
	pseudo := first + g.pick(pseudoSuffixes)
	if g.rng.IntN(3) == 0 {
		pseudo += strconv.Itoa(g.rng.IntN(100))
	}
	id := g.prefix + "u" + strconv.Itoa(i)
	email := first + "." + strconv.Itoa(i) + "@" + g.pick(emailDomains)
	created := g.between(g.now.Add(-g.span-2*365*day), g.now.Add(-30*day))
	s := subjectInfo{id: id, created: created}
	var closedMs *time.Time
	if g.rng.IntN(100) < 18 { // closed accounts, some long ago
		c := g.between(created, g.now)
		s.closed, closedMs = &c, &c
	}
	g.subjects = append(g.subjects, s)
	b.Subject(store.Subject{
		UserID: id, Email: email, Pseudo: pseudo,
		AccountCreatedAt: store.NullMillis(&created), AccountClosedAt: store.NullMillis(closedMs),
		CreatedAt: store.Millis(created), UpdatedAt: store.Millis(created),
	})
	// Account history: about one event per subject, and the closure.
	for k, n := 0, g.rng.IntN(3); k < n; k++ {
		typ := g.pick(eventTypes)
		end := g.now
		if s.closed != nil {
			end = *s.closed
		}
		g.event(b, id, typ, g.between(created, end))
	}
	if s.closed != nil {
		g.event(b, id, "account_closed", *s.closed)
		if g.now.Sub(*s.closed) > 3*365*day+30*day {
			g.closedSubjects = append(g.closedSubjects, id)
		}
	}
}

func (g *gen) event(b *store.Bulk, userID, typ string, at time.Time) {
	g.sum.AccountEvents++
	b.AccountEvent(store.AccountEvent{
		EventID: g.prefix + "e" + strconv.FormatInt(g.sum.AccountEvents, 10), UserID: userID,
		Type: typ, At: store.Millis(at), Detail: eventDetails[typ],
	})
}

// ticketTimes picks when a ticket was created and closed (nil: still open).
func (g *gen) ticketTimes() (created time.Time, closed *time.Time) {
	close := func(c time.Time) *time.Time { return &c }
	if g.oldShare >= 0 {
		border := g.now.Add(-g.oldAge)
		if g.rng.Float64() < g.oldShare {
			c := g.between(g.now.Add(-g.span), border.Add(-day))
			g.sum.OldTickets++
			return c.Add(-time.Duration(g.rng.Int64N(int64(20 * day)))), close(c)
		}
		created = g.between(border.Add(day), g.now)
	} else {
		created = g.between(g.now.Add(-g.span), g.now)
	}
	age := g.now.Sub(created)
	if age < 45*day && g.rng.IntN(3) == 0 || g.rng.IntN(50) == 0 {
		return created, nil // open
	}
	c := created.Add(time.Duration(g.rng.Int64N(int64(20*day))) + time.Hour)
	if c.After(g.now) {
		c = g.now.Add(-time.Hour)
	}
	return created, close(c)
}

// ticket generates ticket number i for a random subject.
func (g *gen) ticket(b *store.Bulk, i int) {
	s := g.subjects[g.rng.IntN(len(g.subjects))]
	tp := topics[g.rng.IntN(len(topics))]
	created, closed := g.ticketTimes()
	id := g.prefix + "t" + strconv.Itoa(i)
	g.sum.Tickets++
	t := store.Ticket{
		TicketID: id, UserID: store.NullString(s.id),
		RequestNumber: fmt.Sprintf("REQ-%d-%06d", created.Year(), i),
		Subject:       tp.subject, Description: g.pick(tp.descriptions),
		DisputeStatus: "none", Status: "open", CreatedAt: store.Millis(created), ClosedAt: store.NullMillis(closed),
	}
	if closed != nil {
		t.Status = "closed"
		if g.now.Sub(*closed) > 5*365*day+30*day {
			g.oldTickets = append(g.oldTickets, id)
		}
	}
	if tp.transaction {
		t.TransactionRef = store.NullString(fmt.Sprintf("TX-%08d", g.rng.IntN(1e8)))
		switch r := g.rng.IntN(200); {
		case r < 2:
			t.DisputeStatus = "open" // a pending dispute stops the retention clock
		case r < 8:
			t.DisputeStatus = "resolved"
		}
	}
	b.Ticket(t)
	// About five messages, alternating between the subject and an agent.
	end := g.now
	if closed != nil {
		end = *closed
	}
	n := 3 + g.rng.IntN(5)
	at := created
	agent := g.pick(agents)
	var firstUserMsg string
	for k := 0; k < n; k++ {
		g.sum.Messages++
		m := store.Message{MessageID: g.prefix + "m" + strconv.FormatInt(g.sum.Messages, 10), TicketID: id, SentAt: store.Millis(at)}
		if k%2 == 0 {
			m.Author, m.Body = "user", g.pick(tp.user)
			if firstUserMsg == "" {
				firstUserMsg = m.MessageID
			}
		} else {
			m.Author, m.AgentID, m.Body = "agent", store.NullString(agent), g.pick(tp.agent)
		}
		b.Message(m)
		at = at.Add(time.Duration(g.rng.Int64N(int64(30*time.Hour))) + 10*time.Minute)
		if at.After(end) {
			at = end
		}
	}
	// An attachment on about one ticket in ten.
	if tp.attachment != "" && g.rng.IntN(100) < 13 || tp.attachment == "" && g.rng.IntN(50) == 0 {
		name, ctype := tp.attachment, tp.contentType
		if name == "" {
			name, ctype = "piece_jointe.pdf", "application/pdf"
		}
		data := g.content(ctype)
		key := blobs.NewKey()
		g.pending = append(g.pending, pendingBlob{key: key, data: data})
		g.sum.Attachments++
		g.sum.AttachmentBytes += int64(len(data))
		b.Attachment(store.Attachment{
			AttachmentID: g.prefix + "a" + strconv.FormatInt(g.sum.Attachments, 10), TicketID: id,
			MessageID: store.NullString(firstUserMsg), Filename: name, ContentType: ctype,
			Size: int64(len(data)), SHA256: sha256Hex(data), BlobKey: key, UploadedAt: store.Millis(created),
		})
	}
}

// content returns small PDF- or PNG-like bytes.
func (g *gen) content(ctype string) []byte {
	n := 256 + g.rng.IntN(1792)
	var head []byte
	if strings.HasPrefix(ctype, "image/png") {
		head = []byte("\x89PNG\r\n\x1a\n")
	} else {
		head = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	}
	b := make([]byte, n)
	copy(b, head)
	for i := len(head); i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], g.rng.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// writeBlobs writes the pending attachment contents, several at a time
// (each Put syncs its file).
func (g *gen) writeBlobs(ctx context.Context, bs blobs.Store) error {
	if len(g.pending) == 0 {
		return nil
	}
	const workers = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan pendingBlob)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				_, _, err := bs.Put(ctx, p.key, strings.NewReader(string(p.data)))
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range g.pending {
		g.written = append(g.written, p.key) // before the write: a failed write may leave a file
		next <- p
	}
	close(next)
	wg.Wait()
	g.pending = g.pending[:0]
	if first != nil {
		return fmt.Errorf("write attachment contents: %w", first)
	}
	return nil
}

// flush writes the pending blobs, then the buffered rows.
func (g *gen) flush(ctx context.Context, b *store.Bulk, bs blobs.Store) error {
	if err := g.writeBlobs(ctx, bs); err != nil {
		return err
	}
	return b.Flush(ctx)
}

// cleanup removes the blobs written by a load that did not commit.
func (g *gen) cleanup(bs blobs.Store) {
	for _, k := range g.written {
		_ = bs.Delete(context.Background(), k)
	}
}
