package dsr

import (
	"fmt"
	"strings"
	"testing"
)

// Attachment ids that differ only by case ("A-1" and "a-1") must not share
// an archive path on a case-insensitive reader (Windows, macOS, most unzip
// tools on them): one file would overwrite the other, or the extraction
// fail. Nor may an id crafted to look like another's sanitised form.
func TestAttachmentPathCaseInsensitiveUnique(t *testing.T) {
	ids := []string{
		"A-1", "a-1", "Ab", "aB", "ab", "AB", "x", "X", "ticket-ATT.1", "TICKET-att.1", "t42a7", "T42A7",
		"A/1", "a/1", "A_1", "a_1",
		// Crafted to collide with a sanitised or suffixed form of another.
		"a-1-" + idHash("A-1"), "A-1-" + idHash("a-1"), "A-1-" + strings.ToUpper(idHash("a-1")),
		"a_1-" + idHash("a/1"), "A_1-" + idHash("A/1"), "A-12345678", "a-12345678",
		strings.Repeat("x", 70), strings.Repeat("X", 70),
	}
	seen := map[string]string{}
	for _, id := range ids {
		p := AttachmentPath(id, "f.pdf")
		dir := strings.ToLower(strings.TrimSuffix(p, "/f.pdf"))
		if other, ok := seen[dir]; ok {
			t.Errorf("ids %q and %q share the directory %q on a case-insensitive reader", other, id, dir)
		}
		seen[dir] = id
		if AttachmentPath(id, "f.pdf") != p {
			t.Errorf("AttachmentPath(%q) is not stable", id)
		}
	}
	// The common, all-upper-case ids keep their readable names.
	for _, id := range []string{"A-1", "A-ALICE-1", "ATT_2024.07"} {
		if got, want := AttachmentPath(id, "f"), fmt.Sprintf("attachments/%s/f", id); got != want {
			t.Errorf("AttachmentPath(%q) = %q, want %q", id, got, want)
		}
	}
}
