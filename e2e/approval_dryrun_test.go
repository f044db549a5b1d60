package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApprovalDryRunNotGated: a dry run changes nothing, so it is not gated
// on the policy approval (README: "plans, dry runs and reads are not
// gated"): erase --dry-run, erase --from FILE --dry-run and erase --reapply
// --dry-run run under an unapproved revision, while erase itself is refused.
func TestApprovalDryRunNotGated(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.ingestFixture(genFixture(7, 12))
		short := repoPolicies(t, filepath.Join(w.dir, "short"), `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 1, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
		w.must("policy", "approve", "--by", "Legal team")
		list := filepath.Join(w.dir, "subjects.txt")
		if err := os.WriteFile(list, []byte("u-001\nu-002\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ws := w.with("OUBLI_POLICIES=" + short)
		for _, args := range [][]string{
			{"erase", "--user-id", "u-001", "--dry-run"},
			{"erase", "--from", list, "--dry-run"},
			{"erase", "--reapply", "--dry-run"},
		} {
			if r := ws.run(nil, args...); r.code != 0 || strings.Contains(r.stderr, "not approved") {
				t.Errorf("%v under an unapproved revision: want exit 0 (a dry run is not gated), got %s", args, r)
			}
		}
		if r := ws.run(nil, "erase", "--user-id", "u-001"); r.code != 3 || !strings.Contains(r.stderr, "not approved") {
			t.Errorf("erase under an unapproved revision: want exit 3, got %s", r)
		}
		if r := w.must("--output", "json", "audit", "log"); strings.Count(r.stdout, `"policy.unapproved"`) != 1 {
			t.Errorf("want exactly one policy.unapproved audit entry (the real erase):\n%s", r.stdout)
		}
	})
}
