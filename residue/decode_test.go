package residue

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestIndexDocumentDecodes: the index reads a document's text as its
// encoding says (byte order marks, charset, HTML references, JSON escapes),
// and a document it cannot decode (unknown charset, bytes not UTF-8 once
// decoded, NUL bytes of UTF-16 without a mark, JSON that does not parse) is
// recorded partial — not covered — never indexed as clean.
func TestIndexDocumentDecodes(t *testing.T) {
	h := store.NewHasher([]byte("k"))
	u16 := func(s string, bom bool) string {
		var b []byte
		if bom {
			b = append(b, 0xFE, 0xFF)
		}
		for _, r := range s {
			b = append(b, byte(r>>8), byte(r))
		}
		return string(b)
	}
	for _, c := range []struct {
		name, ctype, doc, tok, status string
	}{
		{"utf16be bom", "text/plain", u16("x bob@ex.org y", true), "bob@ex.org", store.IndexIndexed},
		{"utf16 charset", "text/plain; charset=utf-16be", u16("x bob@ex.org y", false), "bob@ex.org", store.IndexIndexed},
		{"latin1", "text/plain; charset=iso-8859-1", "a bob.m\xfcller@ex.org", "bob.müller@ex.org", store.IndexIndexed},
		{"windows-1252", "text/csv; charset=windows-1252", "a;bob.m\xfcller@ex.org", "bob.müller@ex.org", store.IndexIndexed},
		{"html", "text/html", "<p>bob&#64;ex.org</p>", "bob@ex.org", store.IndexIndexed},
		{"xml", "application/xml", "<a>bob&#x40;ex.org</a>", "bob@ex.org", store.IndexIndexed},
		{"json", "application/json", `{"e":"bob.m\u00fcller@ex.org","n":[1,"bob\u0040ex.org"]}`, "bob@ex.org", store.IndexIndexed},
		{"unknown charset", "text/plain; charset=x-klingon", "bob@ex.org", "", store.IndexPartial},
		{"not utf-8", "text/plain", "a bob.m\xfcller@ex.org", "", store.IndexPartial},
		{"utf16 no bom", "text/plain", u16("x bob@ex.org y", false), "", store.IndexPartial},
		{"bad json", "application/json", `{"e":"bob@ex.org"`, "bob@ex.org", store.IndexPartial},
	} {
		ix, err := IndexDocument(h, c.ctype, strings.NewReader(c.doc))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ix.Status != c.status {
			t.Errorf("%s: status %s, want %s", c.name, ix.Status, c.status)
		}
		if c.tok != "" && !slices.Contains(ix.Hashes, h.Hash(HashKind, Normalize(c.tok))) {
			t.Errorf("%s: token %q not indexed", c.name, c.tok)
		}
	}
}

// TestSweepReadsDecodedAttachments: the sweep reads a text attachment as the
// index does, so an address in UTF-16, behind HTML references or JSON
// escapes is a finding of the sweep too, not only of the erasure. Both
// backends.
func TestSweepReadsDecodedAttachments(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.subject(t, "u-bob", "bob@ex.org", "bobby", "x", "x")
		w.subject(t, "u-ann", "ann@ex.org", "ann", "x", "x")
		w.exec(t, "DELETE FROM attachments")
		u16 := []byte{0xFF, 0xFE}
		for _, r := range "à bob@ex.org merci" {
			u16 = append(u16, byte(r), byte(r>>8))
		}
		w.document(t, "D-1", "u-ann", "text/plain", string(u16), false)
		w.document(t, "D-2", "u-ann", "text/html", "<p>bob&#64;ex.org</p>", false)
		w.document(t, "D-3", "u-ann", "application/json", `{"e":"bob\u0040ex.org"}`, false)
		w.erase(t, "u-bob", "bob@ex.org", "bobby", false)
		rep, err := w.sweep(t)
		if !errors.Is(err, ErrFound) {
			t.Fatalf("sweep: %v", err)
		}
		n := 0
		for _, f := range rep.Findings {
			if f.Place == "blobs" && f.Strength == "strong" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("sweep: %d blob findings, want 3 (%+v)", n, rep.Findings)
		}
	})
}
