package store_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
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

// TestEmailHashUnified: the keyed hash of an e-mail address uses the one
// normalisation (NormalizeEmail): Unicode variants of one address hash
// alike. Hashes written before it (ASCII lower case only) are still among
// EmailHashes, so old ledger entries keep matching.
func TestEmailHashUnified(t *testing.T) {
	h := store.NewHasher([]byte("k"))
	want := h.Hash("email", "strasse.élise@example.org")
	for _, v := range []string{"Straße.Élise@example.org", "STRASSE.E\u0301LISE@example.org", "ｓｔｒａｓｓｅ.élise＠example.org"} {
		if got := h.Hash("email", v); got != want {
			t.Errorf("Hash(email, %q) = %s, want %s", v, got, want)
		}
	}
	// The hash of the address as stored before (NFC + case folding, then
	// hashed after ASCII lower-casing): what old ledger lines hold.
	legacy := func(v string) string {
		m := hmac.New(sha256.New, []byte("k"))
		m.Write([]byte("email\x00" + strings.ToLower(strings.TrimSpace(v))))
		return "h:" + hex.EncodeToString(m.Sum(nil)[:16])
	}
	for _, v := range []string{"ｆｕｌｌ@example.org", " Alice@Example.org"} {
		if !slices.Contains(h.EmailHashes(v), legacy(v)) {
			t.Errorf("EmailHashes(%q) lacks the hash written before the unification", v)
		}
		if hs := h.EmailHashes(v); hs[0] != h.Hash("email", v) {
			t.Errorf("EmailHashes(%q)[0] is not the current hash", v)
		}
	}
}

// TestFindSubjectStoredBeforeUnification: a subject stored before NFKC was
// part of the normalisation (full-width letters kept as folded) is still
// found by the address as typed then; one stored now is found by any
// variant. Both backends.
func TestFindSubjectStoredBeforeUnification(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old := "ｆｕｌｌ@example.org" // NFC + folding left it full-width
		if err := store.UpsertSubject(ctx, db, store.Subject{UserID: "u-old", Email: old, Pseudo: "o"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := store.UpsertSubject(ctx, db, store.Subject{UserID: "u-new", Email: store.NormalizeEmail("ＮＥＷ@example.org"), Pseudo: "n"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string]string{"ＦＵＬＬ@example.org": "u-old", "ｆｕｌｌ@example.org": "u-old", "new@example.org": "u-new", "ｎｅｗ@EXAMPLE.org": "u-new"} {
			s, err := store.FindSubject(ctx, db, store.SubjectKey{Email: q})
			if err != nil || s.UserID != want {
				t.Errorf("lookup %q: %q %v, want %s", q, s.UserID, err, want)
			}
		}
		if held, err := store.EmailHeldByOther(ctx, db, "ＦＵＬＬ@example.org", "u-new"); err != nil || !held {
			t.Errorf("EmailHeldByOther of the old form: %v %v", held, err)
		}
	})
}
