package e2e

import (
	"maps"
	"strings"
	"testing"
)

// The eighth adversarial pass: invisible characters in e-mail addresses.

func init() { badInputs = append(badInputs, attack8BadInputs...) }

// attack8BadInputs are the catalogue's rows of the eighth adversarial pass.
var attack8BadInputs = []badInput{
	{input: "e-mail with an invisible character (zero-width space, joiner, soft hyphen, BOM, bidi control)", args: []string{"ingest", "{file}"},
		file: line(`"carol@example.org"`, `"\u200bcarol@example.org"`), code: 2,
		msg:  "user.email: e-mail address holds an invisible character, U+200B, at byte 0",
		note: "it would look like another address: a second subject, or an erased one back"},
	{input: "rectify to an e-mail with an invisible character", args: []string{"rectify", "--user-id", "u-000", "--set", "email=zq-new\u00ad@example.org"}, code: 2,
		msg: "e-mail address holds an invisible character, U+00AD"},
}

// TestInvisibleCharactersInAddresses (adversarial pass 8 F3): an address
// that differs from a subject's only by invisible characters is refused at
// ingest (it was a second subject, and brought an erased address back
// under a new user id), and a look-up typed or pasted with them finds the
// subject the address shows.
func TestInvisibleCharactersInAddresses(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			w.must("migrate")
			w.ingestFixture(genFixture(8, 20))
			addr := "zq005.secret-mail@example.org"
			before := w.counts()
			variant := func(id, email string) string {
				return line(`"u-9001"`, `"`+id+`"`, `"carol@example.org"`, `"`+email+`"`, `"T-9001"`, `"T-8`+id+`"`,
					`"M-9001"`, `"M-8`+id+`"`, `"M-9001"`, `"M-8`+id+`"`, `"A-9001"`, `"A-8`+id+`"`)
			}
			for _, v := range []string{`\u200b` + addr, strings.Replace(addr, "@", `\u200c@`, 1), strings.Replace(addr, "secret", `sec\u00adret`, 1), `\ufeff` + addr} {
				r := w.run(nil, "ingest", w.file("v.jsonl", []byte(variant("u-twin", v))))
				if r.code != 2 || !strings.Contains(r.stderr, "invisible character") {
					t.Fatalf("ingest of %q under another user id: want exit 2 naming the invisible character, got %s", v, r)
				}
			}
			if got := w.counts(); !maps.Equal(got, before) {
				t.Fatalf("refused ingests wrote: %v -> %v", before, got)
			}
			// A pasted address with a zero-width space finds the subject it shows.
			if r := w.must("subjects", "find", "--email", "\u200b"+addr); !strings.Contains(r.stdout, "u-005") {
				t.Fatalf("subjects find with a pasted zero-width space: %s", r)
			}
			w.must("erase", "--email", strings.Replace(addr, "@", "\u2060@", 1))
			if r := w.run(nil, "subjects", "find", "--email", addr); r.code != 5 {
				t.Fatalf("u-005 still found after the erasure by a variant of the address: %s", r)
			}
			// The erased address cannot come back, in any of its forms.
			r := w.run(nil, "ingest", w.file("back.jsonl", []byte(variant("u-back", `\u200c`+addr))))
			if r.code != 2 {
				t.Fatalf("the erased address with a zero-width non-joiner under a new user id: %s", r)
			}
			if r := w.run(nil, "ingest", w.file("back2.jsonl", []byte(variant("u-back", strings.ToUpper(addr))))); r.code != 2 || !strings.Contains(r.stderr, "erased") {
				t.Fatalf("the erased address in capitals under a new user id: %s", r)
			}
			w.healthy()
		})
	}
}
