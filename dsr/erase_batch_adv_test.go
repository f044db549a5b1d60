package dsr

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestEraseBatchSameSubjectTwice (adversarial pass on erase --from): a
// subject named twice in one file, once by user id and once by e-mail
// address, is one subject named twice — refused as an invalid line (exit
// 2, nothing erased), by the dry run and the real run alike, and also once
// the ledger is the only one who knows them.
func TestEraseBatchSameSubjectTwice(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		er := w.eraser()
		for _, in := range []string{"u-bob\nu-alice\nbob@example.org\n", "BOB@Example.org\n# c\nu-bob\n"} {
			lines, err := ParseBatch(strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			for _, dry := range []bool{true, false} {
				rep, err := er.EraseBatch(ctx, lines, dry, nil)
				if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "the same subject as line 1") {
					t.Fatalf("%q dry=%v: %v %+v, want ErrInvalid naming line 1", in, dry, err, rep)
				}
				if strings.Contains(err.Error(), "bob") {
					t.Errorf("the error echoes a value: %v", err)
				}
				if n := erRows(t, db, "SELECT user_id FROM subjects WHERE user_id IN ('u-bob', 'u-alice')"); len(n) != 2 {
					t.Fatalf("%q dry=%v: erased although refused: %v", in, dry, n)
				}
			}
		}
		// Erased since: the ledger resolves both lines to one subject.
		lines, _ := ParseBatch(strings.NewReader("u-bob\n"))
		if _, err := er.EraseBatch(ctx, lines, false, nil); err != nil {
			t.Fatal(err)
		}
		lines, _ = ParseBatch(strings.NewReader("u-bob\nbob@example.org\n"))
		if _, err := er.EraseBatch(ctx, lines, false, nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "2: the same subject as line 1") {
			t.Errorf("erased subject named twice: %v, want ErrInvalid", err)
		}
	})
}

// TestEraseBatchUnknownSubject (adversarial pass): an unknown subject in
// --from has the outcome not_found and, as `erase` of an unknown subject,
// the batch ends with store.ErrNotFound (exit 5) — after erasing the
// others; a failure among them still makes it ErrBatchFailed (exit 1).
func TestEraseBatchUnknownSubject(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		er := w.eraser()
		lines, _ := ParseBatch(strings.NewReader("u-bob\nnobody\nnobody@example.org\n"))
		for _, dry := range []bool{true, false} {
			rep, err := er.EraseBatch(ctx, lines, dry, nil)
			if !errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrBatchFailed) || !strings.Contains(err.Error(), "lines 2, 3") {
				t.Fatalf("dry=%v: %v, want ErrNotFound naming lines 2, 3", dry, err)
			}
			if rep.NotFound != 2 || rep.Failed != 0 || rep.Erased != 1 {
				t.Errorf("dry=%v: report %+v", dry, rep)
			}
			for i, want := range []string{BatchWouldErase, BatchNotFound, BatchNotFound} {
				if !dry && want == BatchWouldErase {
					want = BatchErased
				}
				if rep.Outcomes[i].Outcome != want {
					t.Errorf("dry=%v line %d: %s, want %s", dry, rep.Outcomes[i].Line, rep.Outcomes[i].Outcome, want)
				}
			}
		}
		if n := erRows(t, db, "SELECT user_id FROM subjects WHERE user_id = 'u-bob'"); len(n) != 0 {
			t.Errorf("u-bob not erased: %v", n)
		}
		// A failing subject (an address two subjects share) outranks it:
		// ErrBatchFailed (exit 1), the message still naming the unknown.
		w.addSubject(t, "u-t1", "twin@example.org", "twin1", "TT1", "2025-03-12T09:00:00Z", "none")
		w.addSubject(t, "u-t2", "twin@example.org", "twin2", "TT2", "2025-03-12T09:00:00Z", "none")
		lines, _ = ParseBatch(strings.NewReader("nobody\ntwin@example.org\nu-alice\n"))
		rep, err := er.EraseBatch(ctx, lines, false, nil)
		if !errors.Is(err, ErrBatchFailed) || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "lines 2;") || !strings.Contains(err.Error(), "unknown") {
			t.Errorf("failure and unknown: %v, want ErrBatchFailed naming both", err)
		}
		if rep == nil || rep.Failed != 1 || rep.NotFound != 1 || rep.Erased != 1 {
			t.Errorf("report %+v", rep)
		}
	})
}

// TestErasedLookupNormalisedEmail (adversarial pass): the ledger finds an
// erased subject by any form of their address that names the same address
// (case, Unicode NFC/NFD), as FindSubject does while they exist: a second
// erasure says "already erased", a batch line is already_erased.
func TestErasedLookupNormalisedEmail(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, false)
		w.addSubject(t, "u-elise", store.NormalizeEmail("Élise@Example.org"), "elise", "TE1", "2025-03-12T09:00:00Z", "none")
		er := w.eraser()
		for _, id := range []string{"u-bob", "u-elise"} {
			if _, err := er.Erase(ctx, store.SubjectKey{UserID: id}, EraseOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, addr := range []string{"bob@example.org", "BOB@Example.ORG", " bob@example.org ", "élise@example.org", "ÉLISE@EXAMPLE.ORG", "e\u0301lise@example.org", "E\u0301LISE@example.org"} {
			key := store.SubjectKey{Email: addr}
			_, err := er.Erase(ctx, key, EraseOptions{})
			if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "already erased on") {
				t.Errorf("%q: %v, want already erased", addr, err)
			}
			if _, ok := ErasedOn(w.ledger, w.h, key); !ok {
				t.Errorf("%q: ErasedOn does not find them", addr)
			}
		}
		lines, _ := ParseBatch(strings.NewReader("BOB@example.org\ne\u0301lise@EXAMPLE.org\n"))
		rep, err := er.EraseBatch(ctx, lines, false, nil)
		if err != nil || rep.AlreadyErased != 2 {
			t.Errorf("batch: %v %+v", err, rep)
		}
		b, _ := os.ReadFile(w.ledger)
		if n := strings.Count(string(b), "\n"); n != 2 {
			t.Errorf("%d ledger lines, want 2", n)
		}
	})
}
