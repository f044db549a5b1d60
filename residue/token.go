package residue

import (
	"strings"
	"unicode/utf8"

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
func Normalize(s string) string {
	return store.NormalizeIdentifier(strings.TrimSpace(s))
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
		if !isTokenByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) {
			if isTokenByte(s[j]) {
				j++
				continue
			}
			if s[j] == '.' && j+1 < len(s) && isTokenByte(s[j+1]) {
				j++
				continue
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
