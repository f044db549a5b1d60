package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestApprovalGatesStatsAndObject: once the store holds an approval, the
// commands that delete or derive personal data by what the policies decide
// refuse an unapproved revision like erase does (exit 3, nothing changed,
// audited as policy.unapproved) unless --allow-unapproved (audited as
// policy.allow_unapproved): `stats refresh` (derives per-subject figures
// and drops expired ones by the policies) and `object` (the policies decide
// whether the objection applies; if so the subject's figures are deleted).
// `check --residue` asks no policy and deletes nothing: it verifies earlier
// erasures and is never refused (refusing it would hide residue).
func TestApprovalGatesStatsAndObject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		w.ingestFixture(genFixture(7, 12))
		short := repoPolicies(t, filepath.Join(w.dir, "short"), `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`, `"period": {"years": 1, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"]`)
		w.must("stats", "refresh")
		w.must("policy", "approve", "--by", "Legal team")

		ws := w.with("OUBLI_POLICIES=" + short)
		gated := [][]string{
			{"stats", "refresh", "--full"},
			{"object", "--user-id", "u-001", "--purpose", "statistics"},
		}
		before := w.dump()
		for _, args := range gated {
			if r := ws.run(nil, args...); r.code != 3 || !strings.Contains(r.stderr, "not approved") {
				t.Errorf("%v with an unapproved revision: want exit 3 naming it, got %s", args, r)
			}
		}
		if after := w.dump(); after != before {
			t.Errorf("a refused command changed the store:\n%s", diff(before, after))
		}
		if r := ws.run(nil, "check", "--residue"); r.code != 0 {
			t.Errorf("check --residue with an unapproved revision: want exit 0 (verification is never refused), got %s", r)
		}
		for _, args := range gated {
			r := ws.must(append([]string{"--actor", "dpo-on-call"}, append(args, "--allow-unapproved")...)...)
			if !strings.Contains(r.stderr, "unapproved policy revision") {
				t.Errorf("%v --allow-unapproved: no warning: %s", args, r)
			}
		}
		r := w.must("--output", "json", "audit", "log")
		for _, want := range []string{`"policy.unapproved"`, `"policy.allow_unapproved"`, `"dpo-on-call"`, `"oubli stats refresh"`, `"oubli object"`} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the audit trail lacks %s", want)
			}
		}
		if strings.Contains(r.stdout, `"oubli check"`) {
			t.Errorf("check --residue went through the approval gate")
		}
	})
}
