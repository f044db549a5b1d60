package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestWalkSubjectTickets checks the paged walk across page boundaries: many
// tickets sharing one created_at, tickets without messages, another
// subject's tickets interleaved; every ticket visited once, in order, each
// message under its own ticket, attachments with their ticket.
func TestWalkSubjectTickets(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for _, u := range []string{"u-1", "u-2"} {
			exec("INSERT INTO subjects (user_id, email, pseudo, restricted, created_at, updated_at) VALUES (?, ?, ?, FALSE, 0, 0)", u, u+"@example.org", u)
		}
		n := store.TicketPageSize*2 + 37
		wantMsgs := map[string]int{}
		for i := range n {
			for _, u := range []string{"u-1", "u-2"} {
				id := fmt.Sprintf("T-%s-%04d", u, i)
				created := int64(1000 + i/50) // 50 tickets share each created_at
				exec(`INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at, restricted)
					VALUES (?, ?, 'R', 's', 'd', 'open', ?, FALSE)`, id, u, created)
				for j := range i % 3 { // 0, 1 or 2 messages
					exec("INSERT INTO messages (message_id, ticket_id, author, body, sent_at) VALUES (?, ?, 'user', 'b', ?)",
						fmt.Sprintf("M-%s-%d", id, j), id, int64(2000-j)) // sent_at descending by j
					if u == "u-1" {
						wantMsgs[id]++
					}
				}
				if i%7 == 0 {
					exec(`INSERT INTO attachments (attachment_id, ticket_id, filename, content_type, size, sha256, blob_key, uploaded_at)
						VALUES (?, ?, 'f', 'c', 1, 'x', ?, 0)`, "A-"+id, id, "k"+id)
				}
			}
		}
		tx, err := db.BeginRead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var order []string
		cur := ""
		gotMsgs := map[string]int{}
		var lastSent int64
		atts, ended := 0, 0
		err = store.WalkSubjectTickets(ctx, tx, "u-1", store.TicketVisitor{
			Ticket: func(tk store.Ticket, a []store.Attachment) error {
				if cur != "" {
					return fmt.Errorf("ticket %s started before %s ended", tk.TicketID, cur)
				}
				cur = tk.TicketID
				order = append(order, tk.TicketID)
				lastSent = -1
				for _, x := range a {
					if x.TicketID != tk.TicketID {
						return fmt.Errorf("attachment %s given with ticket %s", x.AttachmentID, tk.TicketID)
					}
					atts++
				}
				return nil
			},
			Message: func(m store.Message) error {
				if m.TicketID != cur {
					return fmt.Errorf("message %s of %s visited under %s", m.MessageID, m.TicketID, cur)
				}
				if m.SentAt < lastSent {
					return fmt.Errorf("messages of %s out of order", cur)
				}
				lastSent = m.SentAt
				gotMsgs[cur]++
				return nil
			},
			End: func(tk store.Ticket) error {
				if tk.TicketID != cur {
					return fmt.Errorf("end of %s while visiting %s", tk.TicketID, cur)
				}
				cur = ""
				ended++
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(order) != n || ended != n {
			t.Fatalf("visited %d tickets (%d ended), want %d", len(order), ended, n)
		}
		for i, id := range order {
			if want := fmt.Sprintf("T-u-1-%04d", i); id != want {
				t.Fatalf("ticket %d = %s, want %s", i, id, want)
			}
		}
		if fmt.Sprint(gotMsgs) != fmt.Sprint(wantMsgs) {
			t.Errorf("messages per ticket differ")
		}
		if want := (n + 6) / 7; atts != want {
			t.Errorf("attachments %d, want %d", atts, want)
		}
		var streamed int
		if err := store.EachSubjectAttachment(ctx, tx, "u-1", func(a store.Attachment) error { streamed++; return nil }); err != nil || streamed != atts {
			t.Errorf("EachSubjectAttachment: %d, %v; want %d", streamed, err, atts)
		}
	})
}
