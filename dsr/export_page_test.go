package dsr

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestExportPageClosedTicket: a closed ticket's status reads "fermée" and
// its closing date follows "fermée le"; no label stands without its date.
func TestExportPageClosedTicket(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		out := filepath.Join(t.TempDir(), "a.zip")
		if _, err := x.Export(context.Background(), ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out}); err != nil {
			t.Fatal(err)
		}
		html := string(unzip(t, out)["index.html"])
		if !regexp.MustCompile(`<span class="badge">fermée</span>`).MatchString(html) {
			t.Errorf("no closed ticket's status badge reads \"fermée\"")
		}
		for _, m := range regexp.MustCompile(`fermée le\s*(.{0,40})`).FindAllStringSubmatch(html, -1) {
			if !regexp.MustCompile(`^\d{1,2} |^\d{4}-\d\d-\d\d`).MatchString(m[1]) {
				t.Errorf("\"fermée le\" without a date: %q", m[0])
			}
		}
	})
}
