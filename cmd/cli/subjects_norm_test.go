package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
)

// TestSubjectsFindNormalisedEmail: subjects find compares an e-mail address
// as ingest stores it and erase looks it up (store.NormalizeIdentifier):
// an address holding compatibility characters, a dotted capital İ, a
// combining accent or ß is found as typed at ingest and in its normal form.
func TestSubjectsFindNormalisedEmail(t *testing.T) {
	addrs := []string{"ﬁle@ex.org", "ｆｕｌｌ@ex.org", "İpek@ex.org", "jose\u0301@ex.org", "straße@ex.org"}
	bob := strings.Split(dsrFixture, "\n")[1]
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
			var in strings.Builder
			for i, a := range addrs {
				r := strings.NewReplacer(`"T-2"`, fmt.Sprintf(`"T-10%d"`, i), `"REQ-2"`, fmt.Sprintf(`"REQ-10%d"`, i),
					`"u-7"`, fmt.Sprintf(`"u-10%d"`, i), "bob@example.org", a, `"bobby"`, fmt.Sprintf(`"p-10%d"`, i),
					`"M-3"`, fmt.Sprintf(`"M-10%d"`, i), `"M-4"`, fmt.Sprintf(`"M-20%d"`, i))
				in.WriteString(r.Replace(bob) + "\n")
			}
			file := filepath.Join(w.dir, "in.jsonl")
			os.WriteFile(file, []byte(in.String()), 0o600)
			w.must(0, "migrate")
			w.must(0, "ingest", file)
			for i, a := range addrs {
				want := fmt.Sprintf("u-10%d", i)
				for _, typed := range []string{a, strings.ToUpper(a)} {
					r := w.must(0, "subjects", "find", "--output", "json", "--email", typed)
					subs, _ := r["subjects"].([]any)
					if len(subs) != 1 || subs[0].(map[string]any)["user_id"] != want {
						t.Errorf("subjects find --email %q = %v, want %s", typed, r, want)
					}
				}
			}
		})
	}
}
