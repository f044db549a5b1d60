package policies

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// policyDir copies the embedded policies into a new directory.
func policyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	names, _ := fs.Glob(Embedded(), "*.rego")
	for _, n := range names {
		b, _ := fs.ReadFile(Embedded(), n)
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fakeSecret = "OUBLI_SECRET=fake-s3cret-value-77\x00PGPASSWORD=hunter2-pw\x00"

// Issue 17 item 3: a policy directory may only hold regular files inside
// it. A symlink to a file outside (/proc/self/environ in the report) or a
// device is refused by name, and nothing of its contents is read or shown.
func TestLoadDirRefusesSymlinksOutAndDevices(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "environ")
	if err := os.WriteFile(outside, []byte(fakeSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := policyDir(t)
	if err := os.Symlink(outside, filepath.Join(dir, "zz.rego")); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(context.Background(), dir)
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz.rego") {
		t.Fatalf("want a policy error naming zz.rego, got %v", err)
	}
	for _, s := range []string{"fake-s3cret", "hunter2"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the error shows the file's contents: %v", err)
		}
	}
	// A FIFO (as a stand-in for a device node) is refused without blocking.
	dir2 := policyDir(t)
	if err := syscall.Mkfifo(filepath.Join(dir2, "zz.rego"), 0o600); err != nil {
		t.Skip(err)
	}
	if _, err := LoadDir(context.Background(), dir2); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz.rego: not a regular file") {
		t.Fatalf("want zz.rego refused as not a regular file, got %v", err)
	}
	// A symlink that stays inside the directory (Kubernetes ConfigMap
	// mounts are made of them) is fine.
	dir3 := policyDir(t)
	if err := os.Rename(filepath.Join(dir3, "retention.rego"), filepath.Join(dir3, "retention.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("retention.txt", filepath.Join(dir3, "retention.rego")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(context.Background(), dir3); err != nil {
		t.Fatalf("a symlink inside the directory: %v", err)
	}
}

// A file that fails to parse is named with its line and column; its source
// lines are never shown.
func TestParseErrorShowsNoSource(t *testing.T) {
	dir := policyDir(t)
	if err := os.WriteFile(filepath.Join(dir, "zz.rego"), []byte(fakeSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(context.Background(), dir)
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz.rego:1:") {
		t.Fatalf("want a parse error naming zz.rego:1:COL, got %v", err)
	}
	for _, s := range []string{"fake-s3cret", "hunter2", "OUBLI_SECRET"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the parse error shows source: %v", err)
		}
	}
}

// Unit tests (*_test.rego) never decide: a rule of a test file, even one
// in a decision package, takes no part in a decision (legal review never
// sees test files), and a test file that does not compile leaves the
// decisions alone but fails `policy check` (CompileAll). A test file that
// does not parse is a policy error, as any file of the directory.
func TestTestFilesDoNotDecide(t *testing.T) {
	ctx := context.Background()
	open := Record{Category: CatTickets, ID: "T", Attrs: map[string]any{"status": "open", "created_at": int64(0), "closed_at": nil, "dispute_status": "none", "held": false}}
	dir := policyDir(t)
	smuggled := `package oubli.retention

decisions contains {
	"category": "tickets", "i": i, "action": "delete", "rule": "smuggled",
	"reason": "a test file deleting", "held": false,
} if {
	some i, _ in input.records.tickets
}
`
	if err := os.WriteFile(filepath.Join(dir, "zz_test.rego"), []byte(smuggled), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := LoadDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Decide(ctx, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), []Record{open})
	if err != nil || len(got) != 1 || got[0].Action != Keep || got[0].Rule != "tickets.open" {
		t.Fatalf("open ticket with a rule in a test file: %+v, %v; want keep by tickets.open", got, err)
	}
	if err := e.CompileAll(); err != nil {
		t.Fatalf("CompileAll of compiling test files: %v", err)
	}

	// A type error in a test file: decisions unaffected, CompileAll refuses.
	bad := "package oubli.zz_test\n\ntest_bad if {\n\t1 + \"a\" == 2\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "zz_test.rego"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err = LoadDir(ctx, dir)
	if err != nil {
		t.Fatalf("a test file that does not compile stopped the decisions: %v", err)
	}
	if err := e.CompileAll(); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz_test.rego") {
		t.Fatalf("CompileAll: %v; want a policy error naming zz_test.rego", err)
	}

	// A syntax error in a test file is a policy error at load.
	if err := os.WriteFile(filepath.Join(dir, "zz_test.rego"), []byte("package oubli.zz_test\n\ntest_x if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(ctx, dir); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "zz_test.rego") {
		t.Fatalf("a test file that does not parse: %v; want a policy error naming it", err)
	}

	// Test files alone are no policy.
	only := t.TempDir()
	if err := os.WriteFile(filepath.Join(only, "a_test.rego"), []byte("package a_test\n\ntest_a if true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(ctx, only); !errors.Is(err, ErrPolicy) {
		t.Fatalf("a directory of test files only loaded: %v", err)
	}
}

// Adversarial pass 7 F4: a negative period in the schedule is a policy
// error at load (every command exits 2, nothing is deleted), and so is a
// cutoff that lies after the evaluation time, whatever gave it.
func TestNonsensePeriodsRefused(t *testing.T) {
	ctx := context.Background()
	edit := func(t *testing.T, from, to string) string {
		t.Helper()
		dir := policyDir(t)
		p := filepath.Join(dir, "retention.rego")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			t.Fatalf("retention.rego has no %q", from)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tickets := `"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"],`
	dir := edit(t, tickets, strings.Replace(tickets, `"years": 5`, `"years": -5`, 1))
	if _, err := LoadDir(ctx, dir); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "schedule.tickets.period: a negative period") {
		t.Fatalf("a negative period loaded: %v", err)
	}
	// The second stage's period is named as such (adversarial pass 7b).
	dir = edit(t, `"then": {"period": {"years": 5, "months": 0, "days": 0}, "action": "delete"},`,
		`"then": {"period": {"years": 0, "months": -1, "days": 0}, "action": "delete"},`)
	if _, err := LoadDir(ctx, dir); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "then.period: a negative period") {
		t.Fatalf("a negative then.period loaded or was misnamed: %v", err)
	}
	// The pre-filters' slack pushed eleven years ahead: the policies
	// themselves load, but no cutoff is answered.
	dir = edit(t, "margin_days := 1\n", "margin_days := 4000\n")
	e, err := LoadDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	if _, err := e.Candidates(ctx, at); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "after the evaluation time") {
		t.Fatalf("cutoffs eleven years ahead: %v", err)
	}
	// The shipped slack (a day) passes.
	e, err = Load(ctx, Embedded())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Candidates(ctx, at); err != nil {
		t.Fatal(err)
	}
}

// Adversarial pass 7b F3: rules edited to act early, or to ignore a legal
// hold, are policy errors at decision time whatever the schedule says —
// a retention decision to delete or anonymise a held record, or one whose
// own clock and period have not run out at the evaluation time.
func TestRetentionGuardRefusesEarlyOrHeldDeletes(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	load := func(t *testing.T, edits ...string) *Engine {
		t.Helper()
		dir := policyDir(t)
		p := filepath.Join(dir, "retention.rego")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for i := 0; i < len(edits); i += 2 {
			if !strings.Contains(src, edits[i]) {
				t.Fatalf("retention.rego has no %q", edits[i])
			}
			src = strings.Replace(src, edits[i], edits[i+1], 1)
		}
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := LoadDir(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ticket := func(closedAgo time.Duration, held bool) Record {
		return Record{Category: CatTickets, ID: "T", Attrs: map[string]any{"status": "closed", "created_at": int64(0),
			"closed_at": at.Add(-closedAgo).UnixMilli(), "dispute_status": "none", "held": held}}
	}
	// Every limit five days ahead of now: a year-old ticket "expired".
	early := load(t, "limit[cat] := calendar.latest_start_ms(input.now_ms, e.period) if {", "limit[cat] := input.now_ms + (5 * 86400000) if {")
	if _, err := early.Decide(ctx, at, []Record{ticket(365*24*time.Hour, false)}); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "the period it cites runs until") {
		t.Fatalf("a rule acting four years early: %v", err)
	}
	// tickets.expired without its hold condition, tickets.legal_hold gone.
	noHold := load(t, "\tt.closed_at <= lim\n\tt.held == false\n\tt.dispute_status != \"open\"\n", "\tt.closed_at <= lim\n\tt.dispute_status != \"open\"\n",
		"\tt.closed_at <= lim\n\tt.held == true\n", "\tt.closed_at <= lim\n\tt.held == \"never\"\n")
	if _, err := noHold.Decide(ctx, at, []Record{ticket(10*365*24*time.Hour, true)}); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "under a legal hold") {
		t.Fatalf("a rule deleting a held ticket: %v", err)
	}
	// The shipped rules pass the guard: a held ticket kept, an expired one deleted.
	e, err := Load(ctx, Embedded())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.Decide(ctx, at, []Record{ticket(10*365*24*time.Hour, true), ticket(10*365*24*time.Hour, false)})
	if err != nil || ds[0].Action != Keep || ds[1].Action != Delete {
		t.Fatalf("shipped rules: %+v %v", ds, err)
	}
}
