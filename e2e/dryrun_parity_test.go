package e2e

import (
	"strings"
	"testing"
)

// TestDryRunRefusesLikeRealRun (issue 16 item 4): for every command that has
// a dry run, each refusal of the real run is also the dry run's, with the
// same exit code; the real run is tried after the dry one and must refuse
// too (nothing is changed by either).
func TestDryRunRefusesLikeRealRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		f := genFixture(11, 40)
		w.ingestFixture(f)
		access := w.openRequest("access", "u-011")
		otherErasure := w.openRequest("erasure", "u-012")
		refused := w.openRequest("erasure", "u-013")
		w.must("requests", "close", refused, "--refuse", "--reason", "manifestly unfounded")
		// u-014 is erased; a file holding their ticket again is refused
		// by ingest unless --allow-erased.
		var again []string
		for _, l := range strings.Split(string(f.jsonl), "\n") {
			if strings.Contains(l, `"user_id":"u-014"`) {
				again = append(again, l)
			}
		}
		w.must("erase", "--user-id", "u-014")
		erasedFile := w.file("erased.jsonl", []byte(strings.Join(again, "\n")+"\n"))
		otherKey := w.with("OUBLI_SECRET=another-secret-0123456789abcdef")

		rows := []struct {
			name string
			w    *world
			args []string // without --dry-run
			code int
		}{
			{"erase: an access request", w, []string{"erase", "--user-id", "u-022", "--request", access}, 2},
			{"erase: another subject's erasure request", w, []string{"erase", "--user-id", "u-022", "--request", otherErasure}, 2},
			{"erase: a closed request", w, []string{"erase", "--user-id", "u-013", "--request", refused}, 3},
			{"erase: an unknown request", w, []string{"erase", "--user-id", "u-022", "--request", "DSR-2026-999999"}, 5},
			{"erase: an unknown subject", w, []string{"erase", "--user-id", "u-999"}, 5},
			{"erase: an erased subject", w, []string{"erase", "--user-id", "u-014"}, 5},
			{"erase: bad --checkpoint-wait", w, []string{"erase", "--user-id", "u-022", "--checkpoint-wait", "0s"}, 2},
			{"erase --reapply: a ledger of another key", otherKey, []string{"erase", "--reapply"}, 2},
			{"ingest: an erased subject", w, []string{"ingest", erasedFile}, 2},
			{"ingest: a missing file", w, []string{"ingest", w.dir + "/missing.jsonl"}, 2},
		}
		before := w.dump()
		for _, r := range rows {
			dry := r.w.run(nil, append(append([]string{}, r.args...), "--dry-run")...)
			real := r.w.run(nil, r.args...)
			if dry.code != real.code || real.code != r.code {
				t.Errorf("%s: dry run exit %d, real run exit %d, want both %d\ndry: %s\nreal: %s", r.name, dry.code, real.code, r.code, dry, real)
			}
		}
		if after := w.dump(); after != before {
			t.Errorf("a refused command changed the store:\n%s", diff(before, after))
		}
	})
}
