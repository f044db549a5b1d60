package store

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail is oubli's one normalisation of e-mail addresses, used by
// ingest (the stored form), lookups and rectification: surrounding white
// space trimmed, Unicode NFC, then Unicode case folding of the whole address
// (golang.org/x/text/cases.Fold), so that ÉLISE@example.org and
// élise@example.org are one address. Look-alike characters from other
// scripts (Cyrillic а for Latin a) are not folded together: they stay
// distinct addresses.
func NormalizeEmail(s string) string {
	return cases.Fold().String(norm.NFC.String(strings.TrimSpace(s)))
}
