package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// Issue 16 item 5, issue 17 item 9: one normalisation of e-mail addresses.
func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		" ÉLISE@Example.ORG ":     "élise@example.org",
		"E\u0301lise@example.org": "élise@example.org", // decomposed É, NFC
		"zoe@example.org":         "zoe@example.org",
		"\u0430lice@example.org":  "\u0430lice@example.org", // Cyrillic а stays
		"\u0410LICE@example.org":  "\u0430lice@example.org",
		"ALICE@EXAMPLE.ORG":       "alice@example.org",
	} {
		if got := store.NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// A subject ingested as ÉLISE@example.org (stored normalised, as ingest
// does) is found by élise@example.org or any case variant;
// a look-alike (Cyrillic е) is not.
func TestFindSubjectByEmailFoldsUnicodeCase(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := store.UpsertSubject(ctx, db, store.Subject{UserID: "u-e", Email: store.NormalizeEmail("ÉLISE@example.org"), Pseudo: "e"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"élise@example.org", "ÉLISE@EXAMPLE.ORG", "E\u0301lise@example.org"} {
			s, err := store.FindSubject(ctx, db, store.SubjectKey{Email: q})
			if err != nil || s.UserID != "u-e" {
				t.Errorf("lookup %q: %v %v", q, s.UserID, err)
			}
		}
		if _, err := store.FindSubject(ctx, db, store.SubjectKey{Email: "\u0435lise@example.org"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a look-alike address found a subject: %v", err)
		}
	})
}
