package policies

import (
	"strings"
)

// placeholderMarks are what the shipped policies put where the controller
// must fill in their own details.
var placeholderMarks = []string{"example.invalid", "TO BE FILLED"}

// IsPlaceholder reports whether s is one of the policies' placeholders for
// the controller's details (an example.invalid address, a "TO BE FILLED"
// text): a page for the subject says it is to be filled in instead.
func IsPlaceholder(s string) bool { return isPlaceholder(s) }

func isPlaceholder(s string) bool {
	for _, m := range placeholderMarks {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// Placeholders names the controller's details in info that are still the
// policies' placeholders (an example.invalid address or link, a "TO BE
// FILLED" text): "controller.email", "links.rights"… Exports and `policy
// check` warn while any remain: a subject would be told to write to an
// address that does not exist.
func Placeholders(info Information) []string {
	var out []string
	for _, c := range []struct {
		who string
		c   Contact
	}{{"controller", info.Controller}, {"dpo", info.DPO}} {
		for _, f := range []struct{ name, v string }{
			{"name", c.c.Name}, {"address", c.c.Address}, {"email", c.c.Email}, {"url", c.c.URL},
		} {
			if isPlaceholder(f.v) {
				out = append(out, c.who+"."+f.name)
			}
		}
	}
	for _, l := range info.Links {
		if l.Placeholder || isPlaceholder(l.URL) {
			out = append(out, "links."+l.Name)
		}
	}
	return out
}
