package residue

import (
	"strings"
	"unicode/utf8"
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

// Normalize is the one normalisation of tokens and identifiers: case folded
// (Unicode lower case), surrounding space trimmed.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
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
	fn    func(tok string)
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
		Tokens(string(p[first:cut]), func(tok string, _, _ int) { s.fn(tok) })
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
		Tokens(string(s.carry), func(tok string, _, _ int) { s.fn(tok) })
	}
	s.carry, s.skip = s.carry[:0], false
}
