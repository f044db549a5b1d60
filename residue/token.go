package residue

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/oubli/oubli/store"
)

// MaxToken is the longest token considered, in bytes: longer runs cannot be
// an identifier (an e-mail address has at most 254 bytes) and are skipped.
const MaxToken = 1024

// isTokenByte reports whether b belongs to a token: ASCII letters and
// digits, '-', '_', '@', '+' and every byte of a non-ASCII character. A '.'
// belongs to a token only between two token bytes ("alice@example.org", not
// the full stop after it).
func isTokenByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '-' || b == '_' || b == '@' || b == '+' || b >= 0x80
}

// Normalize is the normalisation of tokens and identifiers: surrounding
// space trimmed, then store.NormalizeIdentifier — the one normalisation of
// e-mail addresses at ingest, in look-ups and in keyed hashes, so that a
// Unicode variant of an address (ß, a decomposed é, full-width letters) is
// the same token as the address stored.
//
// Before that, a token loses its invisible format characters (Unicode
// category Cf: zero-width space and joiners, bidi controls and isolates, a
// byte-order mark, a soft hyphen) and every Unicode dash becomes '-': an
// address rendered exactly as the erased one, but with a zero-width space
// glued to it or a bidi isolate around it (as bidi-aware interfaces insert
// around user text), is the erased address (session-5 adversarial pass,
// F7; the sweep said clean).
func Normalize(s string) string {
	return store.NormalizeIdentifier(strings.TrimSpace(visible(s)))
}

// visible returns s without format characters and with Unicode dashes as
// '-' (s itself when it holds neither, the common case).
func visible(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Cf, r):
			return -1
		case unicode.Is(unicode.Pd, r) || r == '\u2212': // dashes, minus sign
			return '-'
		}
		return r
	}, s)
}

// legacyToken is how a token was normalised before the normalisation was
// unified (Unicode lower case only), or "" when that is the current form:
// the work list and the findings written before hold hashes of that form,
// and the sweep and the redaction still match them.
func legacyToken(raw, tok string) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 {
			if !utf8.ValidString(raw) {
				raw = strings.ToValidUTF8(raw, "\uFFFD")
			}
			if l := strings.ToLower(strings.TrimSpace(raw)); l != tok {
				return l
			}
			return ""
		}
	}
	return "" // ASCII: the same form
}

// Tokens calls fn with each token of s (normalised) and its byte span in s.
// "u-4" is not a token of "u-42", nor "alice" of "malice" or of
// "alice@example.org".
func Tokens(s string, fn func(tok string, start, end int)) {
	i := 0
	for i < len(s) {
		w, ok := unitAt(s, i)
		if !ok {
			i += w
			continue
		}
		j := i
		for j < len(s) {
			w, ok := unitAt(s, j)
			if ok {
				j += w
				continue
			}
			if s[j] == '.' && j+1 < len(s) {
				if _, next := unitAt(s, j+1); next {
					j++
					continue
				}
			}
			break
		}
		if j-i <= MaxToken {
			tok := s[i:j]
			if !utf8.ValidString(tok) {
				tok = strings.ToValidUTF8(tok, "\uFFFD")
			}
			fn(Normalize(tok), i, j)
		}
		i = j
	}
}

// unitAt returns the width of the byte or character at s[i] and whether it
// belongs to a token: an ASCII token byte (isTokenByte), or a non-ASCII
// character that is not a separator (tokenRune).
func unitAt(s string, i int) (int, bool) {
	if s[i] < 0x80 {
		return 1, isTokenByte(s[i])
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	return w, tokenRune(r)
}

// tokenRune reports whether a non-ASCII character belongs to a token:
// letters, numbers and marks; format characters and dashes, which Normalize
// drops or makes '-'; bytes that are not UTF-8; and the full-width and small
// forms whose compatibility form is an ASCII token character (＠, ．, ｅ).
// Other punctuation, symbols and spaces separate tokens, as ASCII ones do:
// «alice@example.org», “alice@example.org” or alice@example.org…
// in French typography (with a no-break space before the »), are the
// address (session-5 adversarial pass; before, the guillemet was part of
// the token and the address was missed).
func tokenRune(r rune) bool {
	switch {
	case r == utf8.RuneError, unicode.IsLetter(r), unicode.IsNumber(r), unicode.IsMark(r),
		unicode.Is(unicode.Cf, r), unicode.Is(unicode.Pd, r), r == '\u2212':
		return true
	case r >= 0xFE50 && r <= 0xFE6F || r >= 0xFF00 && r <= 0xFFEF:
		k := norm.NFKC.String(string(r))
		return len(k) == 1 && (isTokenByte(k[0]) || k[0] == '.')
	}
	return false
}

// IdentifierTokens returns the tokens of an identifier: one for a user id or
// an e-mail address, several for a pseudo such as "Alice W". nil when it has
// none.
func IdentifierTokens(id string) []string {
	var toks []string
	Tokens(id, func(tok string, _, _ int) { toks = append(toks, tok) })
	return toks
}

// streamTokens tokenizes a byte stream written in chunks, carrying a token
// that straddles two chunks. Runs longer than MaxToken are skipped.
type streamTokens struct {
	carry []byte
	skip  bool // inside a run longer than MaxToken
	fn    func(tok, raw string)
}

func isRunByte(b byte) bool { return isTokenByte(b) || b == '.' }

// Write feeds p; tokens that are complete are passed to fn.
func (s *streamTokens) Write(p []byte) {
	// The last separator of p ends every token before it.
	cut := len(p)
	for cut > 0 && isRunByte(p[cut-1]) {
		cut--
	}
	if cut == 0 { // no separator: the whole chunk extends the carried run
		s.extend(p)
		return
	}
	// The carried run ends inside p[:cut].
	first := 0
	for first < cut && isRunByte(p[first]) {
		first++
	}
	s.extend(p[:first])
	s.flush()
	if first < cut {
		chunk := string(p[first:cut])
		Tokens(chunk, func(tok string, i, j int) { s.fn(tok, chunk[i:j]) })
	}
	s.extend(p[cut:])
}

func (s *streamTokens) extend(b []byte) {
	if s.skip || len(b) == 0 {
		return
	}
	if len(s.carry)+len(b) > MaxToken+1 {
		s.carry, s.skip = s.carry[:0], true
		return
	}
	s.carry = append(s.carry, b...)
}

// flush ends the carried run (a separator or the end of the stream).
func (s *streamTokens) flush() {
	if !s.skip && len(s.carry) > 0 {
		run := string(s.carry)
		Tokens(run, func(tok string, i, j int) { s.fn(tok, run[i:j]) })
	}
	s.carry, s.skip = s.carry[:0], false
}
