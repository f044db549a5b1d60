package residue

import (
	"slices"
	"strings"
	"testing"

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
