package dsr

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestParseBatch(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []store.SubjectKey // nil: refused
		msg      string
	}{
		{"ids, e-mails, comments, blanks, CRLF, BOM", "\ufeffu-1\r\n# c\n\n  Bob@Example.org \nu-2\n",
			[]store.SubjectKey{{UserID: "u-1"}, {Email: "Bob@Example.org"}, {UserID: "u-2"}}, ""},
		{"two words", "u-1\nu 2\n", nil, "2: more than one word"},
		{"bad e-mail", "a@b\n", nil, "1: e-mail address"},
		{"control character", "u-\x01\n", nil, "1: contains a control character"},
		{"duplicate e-mail, other case", "a@example.org\nA@example.org\n", nil, "2: the same subject as line 1"},
		{"too long", strings.Repeat("x", 201) + "\n", nil, "1: user id longer than 200 bytes"},
		{"empty", "# only\n", nil, "no subject"},
		{"invalid UTF-8", "u-\xff\n", nil, "1: not valid UTF-8"},
		{"full-width at sign: an address", "maxime.5\uff20example.net\n", []store.SubjectKey{{Email: "maxime.5\uff20example.net"}}, ""},
		{"full-width at sign, same subject as an address", "maxime.5@example.net\nmaxime.5\uff20example.net\n", nil, "2: the same subject as line 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseBatch(strings.NewReader(c.in))
			if c.want == nil {
				if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("err = %v, want ErrInvalid with %q", err, c.msg)
				}
				if strings.Contains(err.Error(), "example.org") || strings.Contains(err.Error(), "u 2") {
					t.Errorf("the error echoes a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if got[i].Key != c.want[i] {
					t.Errorf("line %d: %+v, want %+v", got[i].Line, got[i].Key, c.want[i])
				}
			}
		})
	}
}

// TestEraseBatch (issue 11 item 6): each subject in its own transaction,
// ledger line and request (closed done); an unknown subject does not stop
// the others and the batch ends ErrNotFound naming its line; a rerun
// finds the erased ones already erased; a dry run changes nothing.
func TestEraseBatch(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		w.addSubject(t, "u-carol", "carol@example.org", "carolyn", "TC1", "2025-03-12T09:00:00Z", "none")
		er := w.eraser()
		lines, err := ParseBatch(strings.NewReader("u-bob\nnobody\ncarol@example.org\n"))
		if err != nil {
			t.Fatal(err)
		}
		dry, err := er.EraseBatch(ctx, lines, true, nil)
		if !errors.Is(err, store.ErrNotFound) || dry.Erased != 2 || dry.NotFound != 1 {
			t.Fatalf("dry run: %v %+v", err, dry)
		}
		if n := erRows(t, db, "SELECT user_id FROM subjects WHERE user_id IN ('u-bob', 'u-carol')"); len(n) != 2 {
			t.Fatalf("the dry run erased: %v", n)
		}
		ticks := 0
		rep, err := er.EraseBatch(ctx, lines, false, func() { ticks++ })
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "lines 2") {
			t.Fatalf("err = %v, want ErrNotFound naming line 2", err)
		}
		if rep.Erased != 2 || rep.NotFound != 1 || ticks != 3 {
			t.Fatalf("report %+v, %d ticks", rep, ticks)
		}
		want := []string{BatchErased, BatchNotFound, BatchErased}
		for i, o := range rep.Outcomes {
			if o.Outcome != want[i] {
				t.Errorf("line %d: %s, want %s", o.Line, o.Outcome, want[i])
			}
			if o.Outcome == BatchErased {
				req, _, err := er.Register.Get(ctx, o.RequestID)
				if err != nil || req.Status != store.RequestDone {
					t.Errorf("line %d: request %s %s %v", o.Line, o.RequestID, req.Status, err)
				}
			}
		}
		if n := erRows(t, db, "SELECT user_id FROM subjects WHERE user_id IN ('u-bob', 'u-carol')"); len(n) != 0 {
			t.Errorf("not erased: %v", n)
		}
		b, _ := os.ReadFile(w.ledger)
		if n := strings.Count(string(b), "\n"); n != 2 {
			t.Errorf("%d ledger lines, want 2", n)
		}
		again, err := er.EraseBatch(ctx, lines, false, nil)
		if !errors.Is(err, store.ErrNotFound) || again.AlreadyErased != 2 || again.NotFound != 1 {
			t.Errorf("rerun: %v %+v", err, again)
		}
		// Alice alone: no failure, no error.
		lines, _ = ParseBatch(strings.NewReader("u-alice\n"))
		if rep, err := er.EraseBatch(ctx, lines, false, nil); err != nil || rep.Erased != 1 {
			t.Errorf("u-alice: %v %+v", err, rep)
		}
	})
}

// Adversarial pass 5 F13: `erase --from` reports each subject's residue
// check as `erase` does — other people's records holding the subject's
// identifiers (places and counts, never a value) — so that a DPO sees it
// without running the sweep.
func TestEraseBatchReportsResidue(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		// Alice's message names Bob by his address: a strong identifier in
		// someone else's record, which the erasure leaves (not Bob's data).
		w.exec(t, `UPDATE messages SET body = 'écrire à bob@example.org' WHERE message_id = 'TA1-m3'`)
		er := w.eraser()
		lines, err := ParseBatch(strings.NewReader("u-bob\nu-alice\n"))
		if err != nil {
			t.Fatal(err)
		}
		dry, err := er.EraseBatch(ctx, lines, true, nil)
		if err != nil || dry.Outcomes[0].Residue != nil {
			t.Fatalf("dry run: %v, residue %+v (a dry run checks nothing)", err, dry.Outcomes[0].Residue)
		}
		lines, _ = ParseBatch(strings.NewReader("u-bob\n"))
		rep, err := er.EraseBatch(ctx, lines, false, nil)
		if err != nil || rep.Erased != 1 {
			t.Fatalf("erase: %v %+v", err, rep)
		}
		res := rep.Outcomes[0].Residue
		want := `"findings":{"messages.body":1}`
		if db.Dialect() == store.SQLite {
			// No free-text index on SQLite: the erasure says it left
			// messages.body to the sweep.
			want = `"messages.body"`
			if res == nil || len(res.Findings) != 0 || !slices.Contains(res.Deferred, "messages.body") {
				t.Fatalf("bob's residue: %+v; want messages.body deferred to the sweep", res)
			}
		} else if res == nil || res.Findings["messages.body"] != 1 || len(res.Found) != 0 || slices.Contains(res.Deferred, "messages.body") {
			t.Fatalf("bob's residue: %+v; want one finding in messages.body, nothing left of his own", res)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "bob@example.org") || !strings.Contains(string(b), want) {
			t.Fatalf("report JSON (want %s): %s", want, b)
		}
	})
}
