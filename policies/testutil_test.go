package policies

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func mustLoad(t testing.TB) *Engine {
	t.Helper()
	e, err := Load(context.Background(), Embedded())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ms(t testing.TB, s string) int64 { return ts(t, s).UnixMilli() }

// randomRecords makes n records of every decided category, with clocks
// spread over [at-8y, at+1y] and random stops, holds and NULLs.
func randomRecords(rng *rand.Rand, at time.Time, n int) []Record {
	lo := at.AddDate(-8, 0, 0).UnixMilli()
	hi := at.AddDate(1, 0, 0).UnixMilli()
	span := hi - lo
	when := func() int64 {
		// Half spread uniformly, half within ±10 days of an anniversary
		// of at, where the expiry edges are.
		if rng.IntN(2) == 0 {
			return lo + rng.Int64N(span)
		}
		y, m := rng.IntN(7), rng.IntN(14)
		base := at.AddDate(-y, -m, 0).UnixMilli()
		return base + rng.Int64N(20*86400000) - 10*86400000
	}
	maybe := func(v int64) any {
		if rng.IntN(5) == 0 {
			return nil
		}
		return v
	}
	dispute := func() string { return []string{"none", "open", "resolved"}[rng.IntN(3)] }
	held := func() bool { return rng.IntN(6) == 0 }
	var out []Record
	for i := 0; i < n; i++ {
		id := strconv.Itoa(i)
		status := "closed"
		var closed any = when()
		if rng.IntN(4) == 0 {
			status, closed = "open", nil
		}
		out = append(out,
			Record{Category: CatTickets, ID: "t" + id, Attrs: map[string]any{
				"status": status, "created_at": lo, "closed_at": closed,
				"dispute_status": dispute(), "held": held(),
			}},
			Record{Category: CatAttachments, ID: "a" + id, Attrs: map[string]any{
				"uploaded_at": lo, "ticket_status": status, "ticket_closed_at": closed,
				"dispute_status": dispute(), "held": held(),
			}},
		)
		tickets := rng.IntN(3)
		open := 0
		if tickets > 0 {
			open = rng.IntN(tickets + 1)
		}
		var latest any
		if tickets > open {
			latest = when()
		}
		out = append(out, Record{Category: CatSubjects, ID: "s" + id, Attrs: map[string]any{
			"account_created_at": lo, "account_closed_at": maybe(when()),
			"tickets": tickets, "open_tickets": open, "latest_ticket_closed_at": latest,
			"latest_event_at": maybe(when()), "disputes_open": rng.IntN(2) * rng.IntN(2),
			"held_tickets": rng.IntN(2) * rng.IntN(2), "held": held(), "anonymized": rng.IntN(3) == 0,
		}})
		out = append(out,
			Record{Category: CatAccountEvents, ID: "e" + id, Attrs: map[string]any{"at": when(), "type": "login", "held": held()}},
			Record{Category: CatSubjectStats, ID: "ss" + id, Attrs: map[string]any{"computed_at": when(), "held": held()}},
			Record{Category: CatAgentStats, ID: "ag" + id, Attrs: map[string]any{"day_start": when(), "anonymized": rng.IntN(2) == 0}},
			Record{Category: CatDSRRequests, ID: "r" + id, Attrs: map[string]any{"status": "done", "received_at": lo, "closed_at": maybe(when())}},
			Record{Category: CatLegalHolds, ID: "h" + id, Attrs: map[string]any{"created_at": lo, "until": maybe(when()), "released_at": maybe(when())}},
			Record{Category: CatAudit, ID: "l" + id, Attrs: map[string]any{"at": when()}},
		)
	}
	return out
}
