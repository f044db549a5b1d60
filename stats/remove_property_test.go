package stats_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/stats"
	"github.com/oubli/oubli/store"
)

type agentFigure struct {
	Agent   sql.NullString `db:"agent_id"`
	Day     string         `db:"day"`
	Handled int64          `db:"tickets_handled"`
	Firsts  int64          `db:"first_responses"`
	Avg     float64        `db:"avg_first_response_seconds"`
}

// removeWith takes uid out of the statistics in a transaction it rolls
// back, as an objection (or, erase, an erasure deleting their tickets)
// does — by subtracting their share (subtract) or by recomputing the days
// they contributed to (the reference) — and returns agent_stats as the
// transaction left it.
func removeWith(t *testing.T, db *store.DB, uid string, subtract, erase bool) []agentFigure {
	t.Helper()
	ctx := context.Background()
	var out []agentFigure
	done := errors.New("rolled back")
	err := db.InTx(ctx, func(tx *store.Tx) error {
		c, err := stats.Contribution(ctx, tx, uid, now)
		if err != nil {
			return err
		}
		if erase {
			for _, q := range []string{"DELETE FROM messages WHERE ticket_id IN (SELECT ticket_id FROM tickets WHERE user_id = ?)", "DELETE FROM tickets WHERE user_id = ?"} {
				if _, err := tx.Exec(ctx, q, uid); err != nil {
					return err
				}
			}
		} else if _, err := store.AddObjection(ctx, tx, uid, stats.Purpose, 0, ""); err != nil {
			return err
		}
		if subtract {
			_, _, err = stats.RemoveSubject(ctx, tx, uid, c, now)
		} else {
			days := c.Days()
			if days == nil {
				days = []string{} // nil would recompute every day
			}
			_, err = store.RefreshAgentStats(ctx, tx, stats.Scope(now), days)
		}
		if err != nil {
			return err
		}
		if err := tx.Select(ctx, &out, "SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds FROM agent_stats ORDER BY day, agent_id, tickets_handled, first_responses, avg_first_response_seconds"); err != nil {
			return err
		}
		return done
	})
	if !errors.Is(err, done) {
		t.Fatal(err)
	}
	return out
}

func sameFigures(a, b []agentFigure) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d rows, want %d:\n%+v\nwant\n%+v", len(a), len(b), a, b)
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Agent != y.Agent || x.Day != y.Day || x.Handled != y.Handled || x.Firsts != y.Firsts ||
			math.Abs(x.Avg-y.Avg) > 1e-6*math.Max(1, math.Abs(y.Avg)) {
			return fmt.Sprintf("row %d: %+v, want %+v", i, x, y)
		}
	}
	return ""
}

// TestRemoveSubjectEqualsRecompute is the property of the O(subject)
// removal (issue 11 items 1-2): on random stores, after random changes to
// the subject's own data that no refresh has taken in yet (a new message,
// a ticket restricted or deleted, the subject restricted, another
// objection), taking the subject's share out of agent_stats leaves it as
// recomputing the days they contributed to does, for an objection and an
// erasure alike, on both backends.
func TestRemoveSubjectEqualsRecompute(t *testing.T) {
	eng := engine(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OUBLI_STATS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (OUBLI_STATS_SEED replays it)", seed)
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for round := range 3 {
			m := &mutator{t: t, db: db, rng: rand.New(rand.NewPCG(seed, uint64(round))),
				epochs: []time.Time{now.AddDate(0, 0, -3), now.AddDate(0, 0, -2), now.AddDate(0, -13, 0), now.AddDate(-6, 0, 0)}}
			for _, q := range []string{"DELETE FROM objections", "DELETE FROM subject_stats", "DELETE FROM agent_stats", "DELETE FROM messages", "DELETE FROM tickets", "DELETE FROM subjects", "DELETE FROM stats_dirty", "DELETE FROM stats_state"} {
				m.exec(q)
			}
			for u := range 5 {
				uid := fmt.Sprintf("r%d-%d", round, u)
				m.users = append(m.users, uid)
				insertSubject(t, db, uid)
			}
			for range 25 {
				m.ticket()
			}
			m.exec(`INSERT INTO agent_stats (agent_id, day, tickets_handled, first_responses, avg_first_response_seconds, computed_at, anonymized_at)
				VALUES (NULL, ?, 3, 2, 60, 0, 0)`, store2day(m.when()))
			if _, err := stats.RefreshWith(ctx, db, eng, now, "test", stats.Options{Full: true}); err != nil {
				t.Fatal(err)
			}
			for step := range 10 {
				for range m.rng.IntN(3) {
					m.step()
				}
				if _, err := stats.RefreshWith(ctx, db, eng, now, "test", stats.Options{}); err != nil {
					t.Fatal(err)
				}
				uid := m.users[m.rng.IntN(len(m.users))]
				var did []string
				for range m.rng.IntN(3) {
					pickTicket := "SELECT ticket_id FROM tickets WHERE user_id = '" + uid + "'"
					switch m.rng.IntN(5) {
					case 0:
						if tid, ok := m.pick(pickTicket); ok {
							m.message(tid, m.when())
							did = append(did, "message")
						}
					case 1:
						if tid, ok := m.pick(pickTicket); ok {
							m.exec("UPDATE tickets SET restricted = NOT restricted WHERE ticket_id = ?", tid)
							did = append(did, "ticket restriction")
						}
					case 2:
						if tid, ok := m.pick(pickTicket); ok {
							m.exec("DELETE FROM messages WHERE ticket_id = ?", tid)
							m.exec("DELETE FROM tickets WHERE ticket_id = ?", tid)
							did = append(did, "ticket deleted")
						}
					case 3:
						m.exec("UPDATE subjects SET restricted = NOT restricted WHERE user_id = ?", uid)
						did = append(did, "subject restriction")
					default:
						m.exec("INSERT INTO objections (user_id, purpose, created_at) VALUES (?, 'marketing', 0) ON CONFLICT DO NOTHING", uid)
						did = append(did, "other objection")
					}
				}
				erase := m.rng.IntN(2) == 0
				got, want := removeWith(t, db, uid, true, erase), removeWith(t, db, uid, false, erase)
				if d := sameFigures(got, want); d != "" {
					t.Fatalf("round %d step %d, %s after %v (erase %v): subtracted vs recomputed: %s", round, step, uid, did, erase, d)
				}
			}
		}
	})
}

// TestRemoveSubjectWithoutAgentDays: a subject in whose tickets no agent
// ever wrote contributes to no agent figure, and their objection rewrites
// none (it used to pass a nil day list, which recomputed every day of the
// table).
func TestRemoveSubjectWithoutAgentDays(t *testing.T) {
	eng := engine(t)
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := &mutator{t: t, db: db, rng: rand.New(rand.NewPCG(1, 2)), epochs: []time.Time{now.AddDate(0, 0, -3)}}
		for _, u := range []string{"w-1", "w-2", "w-quiet"} {
			m.users = append(m.users, u)
			insertSubject(t, db, u)
		}
		m.users = m.users[:2]
		for range 10 {
			m.ticket()
		}
		m.exec(`INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at) VALUES ('TQ', 'w-quiet', 'R', 's', 'd', 'open', 0)`)
		m.exec(`INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES ('TQ-m1', 'TQ', 'user', NULL, 'b', ?)`, m.when())
		if _, err := stats.RefreshWith(ctx, db, eng, now, "test", stats.Options{Full: true}); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Hour)
		var rows int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			c, err := stats.Contribution(ctx, tx, "w-quiet", later)
			if err != nil {
				return err
			}
			if _, err := store.AddObjection(ctx, tx, "w-quiet", stats.Purpose, 0, ""); err != nil {
				return err
			}
			_, rows, err = stats.RemoveSubject(ctx, tx, "w-quiet", c, later)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var touched int
		if err := db.Get(ctx, &touched, "SELECT COUNT(*) FROM agent_stats WHERE computed_at = ?", store.Millis(later)); err != nil {
			t.Fatal(err)
		}
		if rows != 0 || touched != 0 {
			t.Errorf("objection of a subject without agent messages rewrote %d rows (%d with its time)", rows, touched)
		}
	})
}

// TestEraseThenRefreshEqualsFull: an erasure that took the subject's share
// out of the agents' figures (committed, as dsr.Erase does: contribution
// read, messages and tickets deleted, share removed) leaves the change log
// such that the next incremental refresh ends where a full recomputation
// does — and it does not recompute the erased subject's days again (the
// erasure dropped the day entries its own deletions logged; after 200
// erasures on a 1 M-ticket store the refresh used to recompute most of
// the table). Random stores, both backends.
func TestEraseThenRefreshEqualsFull(t *testing.T) {
	eng := engine(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OUBLI_STATS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (OUBLI_STATS_SEED replays it)", seed)
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for round := range 8 {
			m := &mutator{t: t, db: db, rng: rand.New(rand.NewPCG(seed, uint64(100+round))),
				epochs: []time.Time{now.AddDate(0, 0, -3), now.AddDate(0, 0, -2), now.AddDate(0, -13, 0), now.AddDate(-6, 0, 0)}}
			for _, q := range []string{"DELETE FROM objections", "DELETE FROM subject_stats", "DELETE FROM agent_stats", "DELETE FROM messages", "DELETE FROM tickets", "DELETE FROM subjects", "DELETE FROM stats_dirty", "DELETE FROM stats_state"} {
				m.exec(q)
			}
			for u := range 6 {
				uid := fmt.Sprintf("e%d-%d", round, u)
				m.users = append(m.users, uid)
				insertSubject(t, db, uid)
			}
			for range 30 {
				m.ticket()
			}
			if _, err := stats.RefreshWith(ctx, db, eng, now, "test", stats.Options{Full: true}); err != nil {
				t.Fatal(err)
			}
			// Changes no refresh has taken in yet, some of them the
			// erased subject's own: the erasure must not hide them.
			for range m.rng.IntN(4) {
				m.step()
			}
			uid := m.users[m.rng.IntN(len(m.users))]
			mode := m.rng.IntN(3)
			var days []string
			var logged int
			if err := db.Get(ctx, &logged, "SELECT COUNT(*) FROM stats_dirty WHERE kind = 'd'"); err != nil {
				t.Fatal(err)
			}
			err := db.InTx(ctx, func(tx *store.Tx) error {
				c, err := stats.Contribution(ctx, tx, uid, now)
				if err != nil {
					return err
				}
				days = c.Days()
				switch mode {
				case 0: // erasure
				case 1: // erasure keeping a ticket, restricted (a dispute, a hold)
					if _, err := tx.Exec(ctx, "UPDATE tickets SET restricted = TRUE WHERE ticket_id = (SELECT MIN(ticket_id) FROM tickets WHERE user_id = ?)", uid); err != nil {
						return err
					}
				default: // objection
					_, err := store.AddObjection(ctx, tx, uid, stats.Purpose, 0, "")
					if err != nil {
						return err
					}
					_, _, err = stats.RemoveSubject(ctx, tx, uid, c, now)
					return err
				}
				for _, q := range []string{"DELETE FROM messages WHERE ticket_id IN (SELECT ticket_id FROM tickets WHERE user_id = ? AND restricted = FALSE)", "DELETE FROM tickets WHERE user_id = ? AND restricted = FALSE"} {
					if _, err := tx.Exec(ctx, q, uid); err != nil {
						return err
					}
				}
				_, _, err = stats.RemoveSubject(ctx, tx, uid, c, now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var own int
			if err := db.Get(ctx, &own, "SELECT COUNT(*) FROM stats_dirty WHERE kind = 'd'"); err != nil {
				t.Fatal(err)
			}
			if own != logged && mode != 2 {
				t.Errorf("round %d: %d day entries before the erasure, %d after: want the erasure's own dropped, the others kept", round, logged, own)
			}
			inc, err := stats.RefreshWith(ctx, db, eng, now, "test", stats.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []agentFigure
			if err := db.Select(ctx, &got, "SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds FROM agent_stats ORDER BY day, agent_id, tickets_handled, first_responses, avg_first_response_seconds"); err != nil {
				t.Fatal(err)
			}
			if _, err := stats.RefreshWith(ctx, db, eng, now, "test", stats.Options{Full: true}); err != nil {
				t.Fatal(err)
			}
			if err := db.Select(ctx, &want, "SELECT agent_id, day, tickets_handled, first_responses, avg_first_response_seconds FROM agent_stats ORDER BY day, agent_id, tickets_handled, first_responses, avg_first_response_seconds"); err != nil {
				t.Fatal(err)
			}
			if d := sameFigures(got, want); d != "" {
				t.Fatalf("round %d, %s (mode %d: erase, erase keeping a ticket, object): incremental refresh after it vs full: %s", round, uid, mode, d)
			}
			t.Logf("round %d: erased %s (%d agent days), incremental refresh recomputed %d days", round, uid, len(days), inc.Days)
		}
	})
}

// TestErasureDropsOwnDayEntries: the day entries an erasure's deletions log
// are dropped with its share; entries another change logged before stay.
func TestErasureDropsOwnDayEntries(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m := &mutator{t: t, db: db, rng: rand.New(rand.NewPCG(7, 8)), epochs: []time.Time{now.AddDate(0, 0, -3)}}
		for _, u := range []string{"k-1", "k-2"} {
			m.users = append(m.users, u)
			insertSubject(t, db, u)
		}
		for range 12 {
			m.ticket()
		}
		if _, err := stats.RefreshWith(ctx, db, engine(t), now, "test", stats.Options{Full: true}); err != nil {
			t.Fatal(err)
		}
		// k-2 loses a ticket outside any erasure: its day entries stay.
		tid, ok := m.pick("SELECT ticket_id FROM tickets WHERE user_id = 'k-2' AND ticket_id IN (SELECT ticket_id FROM messages WHERE author = 'agent')")
		if !ok {
			t.Fatal("no ticket of k-2 with an agent message")
		}
		m.exec("DELETE FROM messages WHERE ticket_id = ?", tid)
		m.exec("DELETE FROM tickets WHERE ticket_id = ?", tid)
		var before int
		if err := db.Get(ctx, &before, "SELECT COUNT(*) FROM stats_dirty WHERE kind = 'd'"); err != nil {
			t.Fatal(err)
		}
		if before == 0 {
			t.Fatal("deleting a ticket with agent messages logged no day entry")
		}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			c, err := stats.Contribution(ctx, tx, "k-1", now)
			if err != nil {
				return err
			}
			if len(c.Days()) == 0 {
				return errors.New("k-1 has no agent day")
			}
			for _, q := range []string{"DELETE FROM messages WHERE ticket_id IN (SELECT ticket_id FROM tickets WHERE user_id = ?)", "DELETE FROM tickets WHERE user_id = ?"} {
				if _, err := tx.Exec(ctx, q, "k-1"); err != nil {
					return err
				}
			}
			var during int
			if err := tx.Get(ctx, &during, "SELECT COUNT(*) FROM stats_dirty WHERE kind = 'd'"); err != nil {
				return err
			}
			if during <= before {
				return fmt.Errorf("the erasure's deletions logged no day entry (%d before, %d during)", before, during)
			}
			_, _, err = stats.RemoveSubject(ctx, tx, "k-1", c, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var after int
		if err := db.Get(ctx, &after, "SELECT COUNT(*) FROM stats_dirty WHERE kind = 'd'"); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("day entries: %d before the erasure, %d after (want the erasure's own dropped, the others kept)", before, after)
		}
	})
}
