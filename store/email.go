package store

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeIdentifier is oubli's one normalisation of identifiers (e-mail
// addresses, user ids, pseudos) and of the tokens matched against them: the
// stored form of an e-mail address (ingest, rectification), the form looked
// up, the form hashed (Hasher) and the form the residue matcher and the
// attachment index compare. Unicode compatibility forms are unified (NFKC:
// full-width ａｌｉｃｅ＠ is alice@, the ligature ﬁ is fi), then the whole
// string is case folded (golang.org/x/text/cases.Fold: ÉLISE is élise,
// Straße is strasse) and recomposed (NFKC). Look-alike characters of other
// scripts (Cyrillic а for Latin a) are not folded together: they stay
// distinct. Pure ASCII takes a fast path with the same result.
func NormalizeIdentifier(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return foldUnicode(s)
		}
		upper = upper || c >= 'A' && c <= 'Z'
	}
	if !upper {
		return s
	}
	return strings.ToLower(s)
}

// foldUnicode is NFKC, case folding, NFKC again (folding may leave a
// string that is not in NFKC); the quick checks spare the copies of strings
// already normalised.
func foldUnicode(s string) string {
	if !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	s = cases.Fold().String(s)
	if !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	return s
}

// IdentifierNormalisation names NormalizeIdentifier for messages that say
// how two identifiers were compared.
const IdentifierNormalisation = "compared after normalisation: NFKC, Unicode case folding, NFKC; ß is ss, ﬁ is fi, full-width letters are ASCII"

// NormalizeEmail is NormalizeIdentifier of the address without surrounding
// white space.
//
// Compatibility: before the unification (migration range 00190) addresses
// were stored as NFC + case folding, without NFKC, and hashed after an ASCII
// lower-casing only. The two forms differ only for addresses holding
// compatibility characters (full-width letters, ligatures); those stored
// rows are still found (FindSubject compares LegacyEmailForms too) and
// those ledger lines still match (Hasher.EmailHashes).
//
// Invisible characters (InvisibleRune) are dropped: ingest and
// rectification refuse an address holding one, and a look-up typed or
// pasted with one (a zero-width space copied from a web page) finds the
// address it shows (adversarial pass 8 F3).
func NormalizeEmail(s string) string {
	if _, _, ok := InvisibleRune(s); ok {
		s = strings.Map(func(r rune) rune {
			if invisible(r) {
				return -1
			}
			return r
		}, s)
	}
	return NormalizeIdentifier(strings.TrimSpace(s))
}

// InvisibleRune returns the byte offset and value of the first character
// of s that renders as nothing: a format character (Unicode category Cf:
// zero-width space and joiners, word joiner, bidi controls, byte-order mark,
// soft hyphen), a variation selector, or another default-ignorable code
// point (combining grapheme joiner, Hangul fillers). Two addresses that
// differ only by such characters look the same to every reader: they must
// not be two subjects, nor escape the erasure of the one shown.
func InvisibleRune(s string) (int, rune, bool) {
	for i, r := range s {
		if r >= 0x80 && invisible(r) {
			return i, r, true
		}
	}
	return 0, 0, false
}

func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// LegacyEmailForms returns the forms an address may have been stored or
// hashed in before NormalizeEmail unified them (NFC + case folding; ASCII
// lower case), without the current form nor duplicates.
func LegacyEmailForms(s string) []string {
	cur := NormalizeEmail(s)
	var out []string
	for _, f := range []string{
		cases.Fold().String(norm.NFC.String(strings.TrimSpace(s))),
		strings.ToLower(strings.TrimSpace(s)),
	} {
		if f != cur && (len(out) == 0 || out[0] != f) {
			out = append(out, f)
		}
	}
	return out
}
