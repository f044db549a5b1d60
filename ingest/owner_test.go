package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// Issue 17 item 1: a re-ingest never moves a record from one ticket or
// subject to another. Alice's ticket T-1 holds M-1, M-1b, AT-1; her event
// E-1. A file where Bob's ticket reuses M-1 and AT-1 and E-1 names Bob, or
// where T-1 changes owner, is refused whole (exit 2), each fault naming its
// line and field, never the values.
func TestReingestNeverMovesRecords(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		alice := jsonl(t,
			ticketLine("T-1", "u-a", []obj{msg("M-1"), msg("M-1b")}, []obj{att("AT-1", "M-1", []byte("alice's scan"))}),
			event("E-1", "u-a"),
		)
		if _, err := ingest.File(ctx, db, bs, writeFile(t, alice), opts()); err != nil {
			t.Fatal(err)
		}
		before := inventory(t, db)
		cases := []struct {
			name    string
			content string
			want    []ingest.Fault
		}{
			{"message, attachment and event taken by another subject's ticket", jsonl(t,
				ticketLine("T-2", "u-b", []obj{msg("M-1")}, []obj{att("AT-1", "M-1", []byte("bob's"))}),
				event("E-1", "u-b"),
			), []ingest.Fault{
				{Line: 1, Reason: "messages[0].message_id: this message belongs to another ticket in the store (records never move between tickets)"},
				{Line: 1, Reason: "attachments[0].attachment_id: this attachment belongs to another ticket in the store (records never move between tickets)"},
				{Line: 2, Reason: "event_id: this account event belongs to another subject in the store (records never move between subjects)"},
			}},
			{"ticket changing owner", jsonl(t,
				ticketLine("T-1", "u-b", []obj{msg("M-1"), msg("M-1b")}, nil),
			), []ingest.Fault{
				{Line: 1, Reason: "ticket_id: this ticket belongs to another subject in the store (an owner change is refused)"},
			}},
			{"message moved to another ticket of the same subject", jsonl(t,
				ticketLine("T-3", "u-a", []obj{msg("M-1b")}, nil),
			), []ingest.Fault{
				{Line: 1, Reason: "messages[0].message_id: this message belongs to another ticket in the store (records never move between tickets)"},
			}},
		}
		for _, c := range cases {
			_, err := ingest.File(ctx, db, bs, writeFile(t, c.content), opts())
			var fe *ingest.FaultsError
			if !errors.As(err, &fe) || !errors.Is(err, ingest.ErrInvalid) {
				t.Fatalf("%s: want faults (exit 2), got %v", c.name, err)
			}
			if len(fe.Faults) != len(c.want) {
				t.Fatalf("%s: faults %v, want %v", c.name, fe.Faults, c.want)
			}
			for i := range c.want {
				if fe.Faults[i] != c.want[i] {
					t.Errorf("%s: fault %d = %v, want %v", c.name, i, fe.Faults[i], c.want[i])
				}
			}
			for _, v := range []string{"M-1", "AT-1", "E-1", "u-a", "u-b", "T-1"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("%s: the error echoes %q: %v", c.name, v, err)
				}
			}
			if after := inventory(t, db); after != before {
				t.Fatalf("%s: rows changed:\n%+v\n%+v", c.name, before, after)
			}
		}
		var owner string
		if err := db.Get(ctx, &owner, "SELECT t.user_id FROM messages m JOIN tickets t ON t.ticket_id = m.ticket_id WHERE m.message_id = 'M-1'"); err != nil || owner != "u-a" {
			t.Fatalf("M-1 now belongs to %q (%v)", owner, err)
		}
		// The same file again is still fine: nothing moves.
		if _, err := ingest.File(ctx, db, bs, writeFile(t, alice), opts()); err != nil {
			t.Fatalf("re-ingest of the same data: %v", err)
		}
	})
}

// Issue 16 item 5, issue 17 item 9: ingest stores the one normalised form
// of an e-mail address (found whatever its case or Unicode form), and
// refuses an address another subject holds, in the file or in the store,
// as LINE: reason without the address. Look-alikes stay distinct.
func TestIngestEmailNormalisedAndCollisionsRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		elise := ticketLine("T-1", "u-e", nil, nil)
		elise["user"].(obj)["email"] = "ÉLISE@example.org"
		if _, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, elise)), opts()); err != nil {
			t.Fatal(err)
		}
		if s, err := store.FindSubject(ctx, db, store.SubjectKey{Email: "élise@example.org"}); err != nil || s.UserID != "u-e" {
			t.Fatalf("lookup by a case variant: %v %v", s.UserID, err)
		}
		lookalike := ticketLine("T-2", "u-l", nil, nil)
		lookalike["user"].(obj)["email"] = "\u0415LISE@example.org" // Cyrillic Е
		if _, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, lookalike)), opts()); err != nil {
			t.Fatalf("a look-alike address is another address: %v", err)
		}
		other := ticketLine("T-3", "u-o", nil, nil)
		other["user"].(obj)["email"] = "E\u0301lise@Example.org"
		twin1 := ticketLine("T-4", "u-t1", nil, nil)
		twin2 := ticketLine("T-5", "u-t2", nil, nil)
		twin1["user"].(obj)["email"] = "twin@example.org"
		twin2["user"].(obj)["email"] = "TWIN@example.org"
		_, err := ingest.File(ctx, db, bs, writeFile(t, jsonl(t, other, twin1, twin2)), opts())
		var fe *ingest.FaultsError
		if !errors.As(err, &fe) || len(fe.Faults) != 2 ||
			fe.Faults[0].Line != 1 || !strings.HasPrefix(fe.Faults[0].Reason, "user.email: another subject in the store holds this e-mail address") ||
			fe.Faults[1].Line != 3 || !strings.HasPrefix(fe.Faults[1].Reason, "user.email: the subject on line 2 has the same e-mail address") {
			t.Fatalf("want two e-mail faults, got %v", err)
		}
		if strings.Contains(strings.ToLower(err.Error()), "lise") || strings.Contains(strings.ToLower(err.Error()), "twin") {
			t.Errorf("the faults echo the address: %v", err)
		}
	})
}
