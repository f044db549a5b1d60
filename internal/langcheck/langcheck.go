// Package langcheck tells, for tests, whether a rendered text strays from
// its language: French words in an English text, English words in a French
// one. It is a heuristic on common function words and accented letters,
// good enough to catch a policy text left in the other language; proper
// names (LBC France, the CNIL, Code civil) do not trip it.
package langcheck

import (
	"html"
	"regexp"
	"strings"
)

// frenchWords are French function words that English prose never uses.
var frenchWords = []string{"les", "des", "du", "vos", "votre", "une", "est", "sont", "avec", "pour", "dans", "aux", "qui", "ces", "leur", "être", "été", "données", "demande"}

// englishWords are English function words that French prose never uses.
var englishWords = []string{"the", "and", "of", "is", "are", "with", "your", "to", "for", "from", "by", "which", "this", "data", "request", "when", "after"}

var (
	wordRE   = regexp.MustCompile(`[\p{L}']+`)
	accentRE = regexp.MustCompile(`[éèêàùçœâîôûë]`)
)

// French returns the French words and accented letters found in s (an
// English text), each once.
func French(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range wordRE.FindAllString(strings.ToLower(s), -1) {
		for _, f := range frenchWords {
			if w == f && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
		if accentRE.MatchString(w) && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// English returns the English words found in s (a French text), each once.
func English(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range wordRE.FindAllString(strings.ToLower(s), -1) {
		for _, e := range englishWords {
			if w == e && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

var (
	langElemRE = regexp.MustCompile(`(?s)<(span|p|td|div|li|section)\s[^>]*\blang="(fr|en)"[^>]*>(.*?)</(?:span|p|td|div|li|section)>`)
	tagRE      = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`)
)

// Split parses an HTML page whose nested elements carry their own lang
// attribute (one level deep, as oubli's pages write them) and returns the
// text in the page's language and the text of the elements marked with
// other, tags removed and entities decoded.
func Split(page, other string) (main, marked string) {
	var m strings.Builder
	rest := langElemRE.ReplaceAllStringFunc(page, func(el string) string {
		sub := langElemRE.FindStringSubmatch(el)
		if sub[2] == other {
			m.WriteString(text(sub[3]))
			m.WriteString("\n")
			return " "
		}
		return el
	})
	return text(rest), m.String()
}

func text(h string) string {
	return html.UnescapeString(tagRE.ReplaceAllString(h, " "))
}
