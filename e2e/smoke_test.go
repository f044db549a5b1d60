package e2e

import (
	"strings"
	"testing"
)

func TestMigrateAndVerify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		r := w.must("audit", "verify")
		if !strings.Contains(r.stdout, "intact") {
			t.Fatalf("audit verify: %s", r)
		}
		if r := w.run(nil, "--output", "yaml", "migrate"); r.code != 2 {
			t.Fatalf("--output yaml: want exit 2, got %s", r)
		}
	})
}
