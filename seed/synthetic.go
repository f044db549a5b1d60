package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// SyntheticOptions shape a synthetic data set.
type SyntheticOptions struct {
	// Tickets is how many tickets to generate (required, > 0). Subjects are
	// about a third of that; tickets have about five messages; about one
	// ticket in ten has an attachment.
	Tickets int
	// Seed makes the data set; the same seed gives the same data. Ids are
	// prefixed with it, so that data sets of different seeds can coexist.
	Seed uint64
	// SpanYears is how far back tickets go (10 when 0).
	SpanYears int
	// OldShare, when >= 0, pins the share of tickets closed more than OldAge
	// before Now (the rest are younger). Negative: ages spread evenly.
	OldShare float64
	// OldAge goes with OldShare.
	OldAge time.Duration
	// Now anchors the data set (its UTC day); time.Now when zero.
	Now time.Time
	// ChunkTickets is how many tickets are buffered between two flushes
	// (10,000 when 0): memory does not grow with Tickets.
	ChunkTickets int
	// Progress, if set, is called after each flushed chunk with the tickets
	// done so far.
	Progress func(done int)
}

// Synthetic inserts a synthetic data set in one transaction (store.Bulk:
// COPY on PostgreSQL, prepared inserts on SQLite). The attachment contents
// are written before their rows and removed again if the load fails.
func Synthetic(ctx context.Context, db *store.DB, bs blobs.Store, o SyntheticOptions) (Summary, error) {
	if o.Tickets <= 0 {
		return Summary{}, fmt.Errorf("synthetic data: --tickets must be positive: %w", store.ErrInvalid)
	}
	if o.SpanYears <= 0 {
		o.SpanYears = 10
	}
	if o.OldShare > 1 || o.OldShare >= 0 && o.OldAge <= 0 {
		return Summary{}, fmt.Errorf("synthetic data: --old-share must be in [0, 1] and go with a positive --old-age: %w", store.ErrInvalid)
	}
	span := time.Duration(o.SpanYears) * 365 * day
	if o.OldShare >= 0 && o.OldAge >= span {
		return Summary{}, fmt.Errorf("synthetic data: --old-age must be shorter than --span-years: %w", store.ErrInvalid)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.ChunkTickets <= 0 {
		o.ChunkTickets = 10000
	}
	g := newGen(o.Seed, o.Now, span, "s"+strconv.FormatUint(o.Seed, 10)+"-")
	g.oldShare, g.oldAge = o.OldShare, o.OldAge
	if err := refuseIfPresent(ctx, db, "SELECT COUNT(*) FROM subjects WHERE user_id = ?", g.prefix+"u0"); err != nil {
		return Summary{}, err
	}
	_, err := db.BulkLoad(ctx, func(b *store.Bulk) error {
		nsub := max(1, o.Tickets/3)
		for i := 0; i < nsub; i++ {
			g.subject(b, i)
			if b.Buffered() >= 5*o.ChunkTickets {
				if err := g.flush(ctx, b, bs); err != nil {
					return err
				}
			}
		}
		for i := 0; i < o.Tickets; i++ {
			g.ticket(b, i)
			if (i+1)%o.ChunkTickets == 0 {
				if err := g.flush(ctx, b, bs); err != nil {
					return err
				}
				if o.Progress != nil {
					o.Progress(i + 1)
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		if err := g.flush(ctx, b, bs); err != nil {
			return err
		}
		g.sum.Subjects = b.Counts.Subjects
		return audit(ctx, b.Tx(), "seed.synthetic", o.Now, g.sum)
	})
	if err != nil {
		g.cleanup(bs)
		return Summary{}, err
	}
	g.sum.Seed = o.Seed
	return g.sum, nil
}

func refuseIfPresent(ctx context.Context, db *store.DB, query, arg string) error {
	var n int
	if err := db.Get(ctx, &n, query, arg); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("the data of this seed is already in the store (use another --seed or a fresh store): %w", ErrAlreadySeeded)
	}
	return nil
}

func audit(ctx context.Context, tx *store.Tx, action string, now time.Time, s Summary) error {
	_, err := store.AppendAudit(ctx, tx, store.AuditRecord{
		At: now, Actor: "cli", Action: action, Outcome: "ok",
		Detail: map[string]any{
			"subjects": s.Subjects, "tickets": s.Tickets, "messages": s.Messages, "attachments": s.Attachments,
			"attachment_bytes": s.AttachmentBytes, "account_events": s.AccountEvents, "seed": s.Seed,
		},
	})
	return err
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ParseAge parses an age such as "5y3d", "400d", "13mo" or "36h": years of
// 365 days, months of 30 days, weeks, days, and Go durations (h, m, s).
func ParseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty age")
	}
	var total time.Duration
	rest := s
	units := []struct {
		suffix string
		d      time.Duration
	}{{"mo", 30 * day}, {"y", 365 * day}, {"w", 7 * day}, {"d", day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("age %q: want a number before each unit (e.g. 5y3d)", s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, fmt.Errorf("age %q: %w", s, err)
		}
		rest = rest[i:]
		found := false
		for _, u := range units {
			if strings.HasPrefix(rest, u.suffix) {
				total += time.Duration(n) * u.d
				rest = rest[len(u.suffix):]
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("age %q: unknown unit (want y, mo, w, d, h, m or s)", s)
		}
	}
	return total, nil
}
