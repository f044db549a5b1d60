package residue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestSweepFindsUnicodeVariants: an erased subject's e-mail address quoted
// in other people's messages in a Unicode variant — ß for the ss that case
// folding stored, a decomposed é, full-width letters — is found by the
// sweep, the erasure's attachment index and the work list alike: one
// normalisation (store.NormalizeIdentifier) for ingest, hashing and the
// matcher. Before, the matcher lower-cased only, and every variant survived.
// Both backends.
func TestSweepFindsUnicodeVariants(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		stored := store.NormalizeEmail("Straße.Élise@Example.org") // what ingest stores
		w.subject(t, "u-elise", stored, "elise", "bonjour", "x")
		variants := []string{
			"STRASSE.ÉLISE@EXAMPLE.ORG",
			"straße.e\u0301lise@example.org",
			"ｓｔｒａｓｓｅ.ÉLISE＠ｅｘａｍｐｌｅ．ｏｒｇ",
		}
		for i, v := range variants {
			id := string(rune('a' + i))
			w.subject(t, "u-"+id, id+"@example.net", id, "merci d'écrire à "+v+" demain", "x")
		}
		w.exec(t, "DELETE FROM attachments")
		w.document(t, "D-1", "u-a", "text/plain", "copie à "+variants[2], true)
		w.erase(t, "u-elise", stored, "elise", false)
		if rep := w.checkErased(t, "u-elise", stored, "elise"); rep.Findings["blobs"] != 1 {
			t.Errorf("attachment index: findings %v", rep.Findings)
		}
		rep, err := w.sweep(t)
		if !errors.Is(err, ErrFound) {
			t.Fatalf("sweep: %v", err)
		}
		n := 0
		for _, f := range rep.Findings {
			if f.Place == "messages.body" && f.Strength == "strong" {
				n++
			}
		}
		if n != len(variants) {
			t.Errorf("variants found in messages: %d of %d (%+v)", n, len(variants), rep.Findings)
		}
	})
}

// TestSweepMatchesHashesWrittenBefore: work-list rows and findings written
// before the normalisation was unified hold hashes of the lower-cased form
// ("jürgen-ß1", now "jürgen-ss1"): the sweep still finds the identifier and
// the redaction still replaces it. Both backends.
func TestSweepMatchesHashesWrittenBefore(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		w.subject(t, "u-x", "x@example.org", "x", "voir Jürgen-ß1 demain", "x")
		const id = "Jürgen-ß1"
		if Normalize(id) == strings.ToLower(id) {
			t.Fatal("the test identifier does not change form")
		}
		w.exec(t, "INSERT INTO residue_worklist (subject_ref, token_hash, kind, strength, tokens, erased_at) VALUES (?, ?, 'user_id', 'strong', 1, 0)",
			w.h.Hash("user_id", id), w.h.Hash(HashKind, strings.ToLower(id)))
		rep, err := w.sweep(t)
		if !errors.Is(err, ErrFound) || len(rep.Findings) != 1 || rep.Findings[0].Place != "messages.body" {
			t.Fatalf("sweep: %+v %v", rep, err)
		}
		rr, err := Redact(ctx, db, w.h, rep.Findings[0].ID, false, "test", t0)
		if err != nil || rr.Replaced != 1 {
			t.Fatalf("redact: %+v %v", rr, err)
		}
		var body string
		if err := db.Get(ctx, &body, "SELECT body FROM messages WHERE message_id = 'M-u-x'"); err != nil || body != "voir [redacted] demain" {
			t.Fatalf("body %q %v", body, err)
		}
	})
}

// TestSweepFindsInvisibleAndTypographicVariants (session-5 adversarial
// pass, F7): the erased address or user id with an invisible format
// character glued to it (zero-width space or joiner, bidi override or
// isolates around it, a byte-order mark), with a Unicode dash, or between
// French guillemets and no-break spaces, renders as the erased identifier
// and is found: the sweep said clean. Both backends.
func TestSweepFindsInvisibleAndTypographicVariants(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, "vic-7788", "plain.victim@example.org", "victim", "bonjour", "x")
		variants := []string{
			"écrire à plain.victim@example.org\u200b demain",
			"\u202eplain.victim@example.org",
			"voir \u2068plain.victim@example.org\u2069 ici",
			"client \ufeffvic-7788 rappelé",
			"adresse plain.victim@example.org\u200d.",
			"compte vic\u20117788 fermé",
			"l'adresse «\u00a0plain.victim@example.org\u00a0» est fausse",
			"“plain.victim@example.org” puis…",
		}
		for i, v := range variants {
			id := string(rune('a' + i))
			w.subject(t, "u-"+id, id+"@example.net", id, v, "x")
		}
		w.erase(t, "vic-7788", "plain.victim@example.org", "victim", false)
		rep, err := w.sweep(t)
		if !errors.Is(err, ErrFound) {
			t.Fatalf("sweep: %v", err)
		}
		found := map[string]bool{}
		for _, f := range rep.Findings {
			if f.Place == "messages.body" && f.Strength == "strong" {
				found[f.RowRef] = true
			}
		}
		for i, v := range variants {
			if id := "u-" + string(rune('a'+i)); !found["M-"+id] {
				t.Errorf("not found: %q (in %s's message)", v, id)
			}
		}
	})
}
