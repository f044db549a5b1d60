package policies

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// overlay returns the embedded policies with the files of
// ../testdata/policies/<name> laid over them.
func overlay(t *testing.T, name string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	names, _ := fs.Glob(Embedded(), "*.rego")
	for _, n := range names {
		b, _ := fs.ReadFile(Embedded(), n)
		m[n] = &fstest.MapFile{Data: b}
	}
	dir := filepath.Join("..", "testdata", "policies", name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = &fstest.MapFile{Data: b}
	}
	return m
}

func TestDecide(t *testing.T) {
	e := mustLoad(t)
	at := ts(t, "2026-03-31T02:00:00+02:00")
	closed := func(s string, held bool, dispute string) Record {
		return Record{Category: CatTickets, ID: "T", Attrs: map[string]any{
			"status": "closed", "created_at": ms(t, "2015-01-01T00:00:00Z"), "closed_at": ms(t, s),
			"dispute_status": dispute, "held": held,
		}}
	}
	tests := []struct {
		name    string
		rec     Record
		action  Action
		rule    string
		held    bool
		expires string
	}{
		{"open ticket", Record{Category: CatTickets, ID: "T", Attrs: map[string]any{"status": "open", "created_at": int64(0), "closed_at": nil, "dispute_status": "none", "held": false}}, Keep, "tickets.open", false, ""},
		{"ticket day before", closed("2021-03-31T00:00:01Z", false, "none"), Keep, "tickets.retained", false, "2026-03-31T00:00:01Z"},
		{"ticket day of", closed("2021-03-31T00:00:00Z", false, "none"), Delete, "tickets.expired", false, "2026-03-31T00:00:00Z"},
		{"ticket held", closed("2019-01-01T00:00:00Z", true, "none"), Keep, "tickets.legal_hold", true, "2024-01-01T00:00:00Z"},
		{"ticket disputed", closed("2019-01-01T00:00:00Z", false, "open"), Keep, "tickets.open_dispute", true, "2024-01-01T00:00:00Z"},
		{"leap day", closed("2020-02-29T12:00:00Z", false, "resolved"), Delete, "tickets.expired", false, "2025-03-01T00:00:00Z"},
		{"agent stats anonymised", Record{Category: CatAgentStats, ID: "1", Attrs: map[string]any{"day_start": ms(t, "2025-01-01T00:00:00Z"), "anonymized": false}}, Anonymize, "agent_stats.anonymize", false, "2026-02-01T00:00:00Z"},
		{"audit kept", Record{Category: CatAudit, ID: "9", Attrs: map[string]any{"at": time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}}, Keep, "audit_log.retained", false, "2027-01-01T00:00:00Z"},
	}
	var recs []Record
	for _, tt := range tests {
		recs = append(recs, tt.rec)
	}
	// One batch for all, in order.
	got, err := e.Decide(context.Background(), at, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tests) {
		t.Fatalf("%d decisions for %d records", len(got), len(tests))
	}
	for i, tt := range tests {
		d := got[i]
		if d.Action != tt.action || d.Rule != tt.rule || d.Held != tt.held || d.Reason == "" {
			t.Errorf("%s: got %+v, want %s by %s (held %v)", tt.name, d, tt.action, tt.rule, tt.held)
		}
		var want int64
		if tt.expires != "" {
			want = ms(t, tt.expires)
		}
		if d.ExpiresAt != want {
			t.Errorf("%s: expires %s, want %s", tt.name, time.UnixMilli(d.ExpiresAt).UTC(), tt.expires)
		}
	}
}

func TestDecideFailsClosed(t *testing.T) {
	e := mustLoad(t)
	at := ts(t, "2026-03-31T00:00:00Z")
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"unknown category", Record{Category: "messages", ID: "M-1", Attrs: map[string]any{"sent_at": int64(1)}}, "no rule decides messages M-1"},
		{"closed without date", Record{Category: CatTickets, ID: "T-2", Attrs: map[string]any{"status": "closed", "dispute_status": "none", "held": false}}, "no rule decides tickets T-2"},
		{"missing held", Record{Category: CatTickets, ID: "T-3", Attrs: map[string]any{"status": "closed", "closed_at": int64(0), "dispute_status": "none"}}, "no rule decides tickets T-3"},
		{"no category", Record{ID: "X"}, "no category"},
		{"bad attr", Record{Category: CatAudit, ID: "A", Attrs: map[string]any{"at": struct{ C chan int }{}}}, "attribute"},
	}
	for _, tt := range tests {
		_, err := e.Decide(context.Background(), at, []Record{tt.rec})
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrPolicy containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := e.Decide(context.Background(), time.Time{}, []Record{{Category: CatAudit, ID: "1", Attrs: map[string]any{"at": int64(1)}}}); !errors.Is(err, ErrPolicy) {
		t.Errorf("zero time: %v", err)
	}
}

func TestBrokenPolicies(t *testing.T) {
	at := ts(t, "2030-01-01T00:00:00Z")
	probe := []Record{
		{Category: CatTickets, ID: "T-open", Attrs: map[string]any{"status": "open", "dispute_status": "none", "held": false}},
		{Category: CatTickets, ID: "T-old", Attrs: map[string]any{"status": "closed", "closed_at": int64(0), "dispute_status": "none", "held": false}},
		{Category: CatLegalHolds, ID: "H-1", Attrs: map[string]any{"created_at": int64(0), "released_at": int64(5)}},
		{Category: CatSubjects, ID: "S-1", Attrs: map[string]any{"account_closed_at": int64(0), "tickets": 1, "open_tickets": 0, "disputes_open": 0, "held": false, "latest_ticket_closed_at": int64(0)}},
	}
	tests := []struct {
		fixture string
		atLoad  bool
		want    []string
	}{
		{"syntax", true, []string{"broken.rego:", "rego_parse_error"}},
		{"strict", true, []string{"strict.rego:", "unused"}},
		{"http_send", true, []string{"exfil.rego:", "http.send"}},
		{"wall_clock", true, []string{"clock.rego:", "time.now_ns"}},
		{"undefined", false, []string{"no rule decides tickets T-old"}},
		{"conflict", false, []string{"tickets.open", "tickets.rogue", "T-open"}},
		{"conflict_function", false, []string{"two rules disagree", "rogue.rego"}},
		{"slow", false, []string{"retention decisions did not decide within 300ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			e, err := Load(WithEvalTimeout(context.Background(), 300*time.Millisecond), overlay(t, tt.fixture))
			if !tt.atLoad {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				_, err = e.Decide(context.Background(), at, probe)
			}
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("err = %v, want ErrPolicy", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestLoadDirErrors(t *testing.T) {
	if _, err := LoadDir(context.Background(), t.TempDir()); !errors.Is(err, ErrPolicy) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadDir(context.Background(), filepath.Join(t.TempDir(), "nope")); !errors.Is(err, ErrPolicy) {
		t.Errorf("missing dir: %v", err)
	}
	// A directory without the queries the engine needs.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.rego"), []byte("package x\n\ny := 1\n"), 0o644)
	if _, err := LoadDir(context.Background(), dir); !errors.Is(err, ErrPolicy) {
		t.Errorf("no decisions: %v", err)
	}
}

func TestRevisionChangesWithAnyFile(t *testing.T) {
	a := mustLoad(t)
	m := fstest.MapFS{}
	names, _ := fs.Glob(Embedded(), "*.rego")
	for _, n := range names {
		data, _ := fs.ReadFile(Embedded(), n)
		m[n] = &fstest.MapFile{Data: data}
	}
	m["purposes.rego"] = &fstest.MapFile{Data: append(append([]byte{}, m["purposes.rego"].Data...), "\n# a comment\n"...)}
	c, err := Load(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision() == c.Revision() || !strings.HasPrefix(a.Revision(), "sha256:") {
		t.Errorf("revisions %s and %s", a.Revision(), c.Revision())
	}
	if a.Revision() != mustLoad(t).Revision() {
		t.Error("revision not stable")
	}
}

// TestAddPeriodMatchesRego checks that Go's AddPeriod (used for ExpiresAt)
// and calendar.rego's add_ms agree, around month ends and leap days.
func TestAddPeriodMatchesRego(t *testing.T) {
	e := mustLoad(t)
	pq, err := rego.New(rego.Query("data.oubli.calendar.add_ms(input.s, input.p)"), rego.Compiler(e.compiler)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	periods := []Period{{5, 0, 0}, {1, 0, 0}, {0, 13, 0}, {0, 1, 0}, {3, 0, 0}, {0, 1, 2}}
	for i := 0; i < 400; i++ {
		// Days near month ends, random times.
		s := time.Date(2016+rng.IntN(10), time.Month(1+rng.IntN(12)), 26+rng.IntN(6), rng.IntN(24), rng.IntN(60), 0, rng.IntN(1000)*1e6, time.UTC)
		p := periods[rng.IntN(len(periods))]
		in, _ := ast.InterfaceToValue(map[string]any{"s": s.UnixMilli(), "p": map[string]any{"years": p.Years, "months": p.Months, "days": p.Days}})
		rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(in))
		if err != nil || len(rs) != 1 {
			t.Fatalf("eval: %v %v", rs, err)
		}
		got, _ := toInt64(rs[0].Expressions[0].Value)
		if want := AddPeriod(s, p).UnixMilli(); got != want {
			t.Errorf("%s + %+v: rego %s, go %s", s, p, time.UnixMilli(got).UTC(), time.UnixMilli(want).UTC())
		}
	}
}

// TestDecisionsAgreeWithExpiry: on random records, a record is decided
// delete/anonymise (or held) only once its ExpiresAt has passed, and a
// record still within its period is kept.
func TestDecisionsAgreeWithExpiry(t *testing.T) {
	e := mustLoad(t)
	for _, at := range []string{"2026-03-31T02:00:00Z", "2025-02-28T23:59:59.999Z", "2024-02-29T00:00:00Z", "2026-01-01T00:00:00Z"} {
		now := ts(t, at)
		recs := randomRecords(rand.New(rand.NewPCG(5, uint64(now.Unix()))), now, 300)
		ds, err := e.Decide(context.Background(), now, recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			acted := d.Action != Keep || d.Held
			switch {
			case acted && (d.ExpiresAt == 0 || d.ExpiresAt > now.UnixMilli()):
				t.Errorf("at %s: %s %s decided %s/%s before its expiry %d", at, recs[i].Category, recs[i].ID, d.Action, d.Rule, d.ExpiresAt)
			case strings.HasSuffix(d.Rule, ".retained") && d.ExpiresAt <= now.UnixMilli():
				t.Errorf("at %s: %s %s retained past its expiry", at, recs[i].Category, recs[i].ID)
			}
		}
	}
}

// TestCandidatesDifferential proves that pre-filtering records with
// Candidates, as SQL would, then deciding the candidates gives exactly the
// deletions, anonymisations and holds that deciding every record gives.
func TestCandidatesDifferential(t *testing.T) {
	e := mustLoad(t)
	ctx := context.Background()
	for k, at := range []string{"2026-03-31T02:00:00Z", "2025-03-01T00:00:00Z", "2024-02-29T23:59:59.999Z", "2027-01-31T12:00:00+01:00", "2026-12-31T23:00:00-05:00"} {
		now := ts(t, at)
		recs := randomRecords(rand.New(rand.NewPCG(uint64(k), 99)), now, 400)
		cut, err := e.Candidates(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		all, err := e.Decide(ctx, now, recs)
		if err != nil {
			t.Fatal(err)
		}
		var cands []Record
		var idx []int
		for i, r := range recs {
			c, ok := cut[r.Category]
			if !ok {
				t.Fatalf("no cutoff for %s", r.Category)
			}
			v, present := r.Attrs[c.Column]
			if _, isDecided := r.Attrs[c.Column]; !isDecided && c.Column != "released_at" {
				t.Fatalf("%s: cutoff column %q is not an attribute", r.Category, c.Column)
			}
			if !present || v == nil {
				if c.NullIsCandidate {
					cands, idx = append(cands, r), append(idx, i)
				}
				continue
			}
			if n, _ := toInt64(v); n < c.Before {
				cands, idx = append(cands, r), append(idx, i)
			}
		}
		some, err := e.Decide(ctx, now, cands)
		if err != nil {
			t.Fatal(err)
		}
		type key struct {
			i    int
			a    Action
			held bool
		}
		acted := func(d Decision) bool { return d.Action != Keep || d.Held }
		want := map[key]bool{}
		for i, d := range all {
			if acted(d) {
				want[key{i, d.Action, d.Held}] = true
			}
		}
		got := map[key]bool{}
		for j, d := range some {
			if acted(d) {
				got[key{idx[j], d.Action, d.Held}] = true
			}
		}
		if len(want) == 0 || len(cands) == len(recs) {
			t.Fatalf("at %s: degenerate test (%d acted, %d/%d candidates)", at, len(want), len(cands), len(recs))
		}
		for k := range want {
			if !got[k] {
				t.Errorf("at %s: %s %s (%s) missed by the pre-filter", at, recs[k.i].Category, recs[k.i].ID, k.a)
			}
		}
		for k := range got {
			if !want[k] {
				t.Errorf("at %s: %s %s decided %s only among candidates", at, recs[k.i].Category, recs[k.i].ID, k.a)
			}
		}
		t.Logf("at %s: %d records, %d candidates, %d acted on", at, len(recs), len(cands), len(want))
	}
}

func TestDecideErasure(t *testing.T) {
	e := mustLoad(t)
	recs := []Record{
		{Category: CatSubjects, ID: "u", Attrs: map[string]any{"disputes_open": 1, "held": false}},
		{Category: CatTickets, ID: "t1", Attrs: map[string]any{"status": "closed", "dispute_status": "none", "held": false}},
		{Category: CatTickets, ID: "t2", Attrs: map[string]any{"status": "closed", "dispute_status": "open", "held": false}},
		{Category: CatTickets, ID: "t3", Attrs: map[string]any{"status": "closed", "dispute_status": "none", "held": true}},
		{Category: CatDSRRequests, ID: "r", Attrs: map[string]any{"status": "done"}},
		{Category: CatAudit, ID: "1", Attrs: map[string]any{"at": int64(1)}},
		{Category: CatObjections, ID: "u/statistics", Attrs: map[string]any{}},
	}
	ds, err := e.DecideErasure(context.Background(), ts(t, "2026-01-01T00:00:00Z"), recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{Anonymize, Delete, Anonymize, Keep, Anonymize, Keep, Delete}
	for i, d := range ds {
		if d.Action != want[i] || d.Reason == "" {
			t.Errorf("%s %s: %+v, want %s", recs[i].Category, recs[i].ID, d, want[i])
		}
	}
}

func TestPurposesAndObjection(t *testing.T) {
	e := mustLoad(t)
	ctx := context.Background()
	ps, _ := e.Purposes(ctx)
	if len(ps) != 2 || ps[0].Name != "customer_support" || ps[1].Name != "statistics" {
		t.Fatalf("purposes %+v", ps)
	}
	o, err := e.Object(ctx, "customer_support")
	if err != nil || o.Applies || !strings.Contains(o.Reason.EN, "6(1)(b)") {
		t.Errorf("customer_support: %+v %v", o, err)
	}
	o, err = e.Object(ctx, "statistics")
	if err != nil || !o.Applies || len(o.Stops) == 0 {
		t.Errorf("statistics: %+v %v", o, err)
	}
	if _, err := e.Object(ctx, "marketing"); !errors.Is(err, ErrUnknownPurpose) {
		t.Errorf("unknown purpose: %v", err)
	}
	rs, _ := e.Recipients(ctx)
	if len(rs) == 0 || !strings.Contains(rs[0].Name.EN, "Adevinta") {
		t.Errorf("recipients %+v", rs)
	}
	// The cache is not the caller's to change.
	ps[0].Name = "x"
	if again, _ := e.Purposes(ctx); again[0].Name != "customer_support" {
		t.Error("Purposes returned the cache")
	}
}

func TestRequestDeadline(t *testing.T) {
	e := mustLoad(t)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		typ, received, due, max string
	}{
		{"access", "2026-03-10T09:00:00Z", "2026-04-10T09:00:00Z", "2026-06-10T09:00:00Z"},
		{"erasure", "2026-01-31T09:00:00Z", "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z"},
		{"objection", "2026-03-01T00:30:00+01:00", "2026-03-28T23:30:00Z", "2026-05-28T23:30:00Z"},
	}
	for _, tt := range tests {
		due, max, err := e.RequestDeadline(context.Background(), tt.typ, ts(t, tt.received))
		if err != nil {
			t.Fatal(err)
		}
		if !due.Equal(ts(t, tt.due)) || !max.Equal(ts(t, tt.max)) {
			t.Errorf("%s %s: due %s max %s", tt.typ, tt.received, due, max)
		}
	}
	if _, _, err := e.RequestDeadline(context.Background(), "bogus", time.Now().In(paris)); !errors.Is(err, ErrPolicy) {
		t.Errorf("bogus type: %v", err)
	}
}

func TestAccessInformation(t *testing.T) {
	e := mustLoad(t)
	info, err := e.AccessInformation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Language != "fr" || len(info.Purposes) != 2 || len(info.Links) != 3 || len(info.Rights) < 6 || info.Source.FR == "" || info.DPO.Email == "" || len(info.Retention) < 10 {
		t.Errorf("information incomplete: %+v", info)
	}
	for _, l := range info.Links {
		if !l.Placeholder || !strings.HasPrefix(l.URL, "https://example.invalid/") {
			t.Errorf("link %+v", l)
		}
	}
	if info.Labels["rights"].In("en") != "Your rights" || info.Labels["rights"].In("de") != "Vos droits" {
		t.Errorf("labels %+v", info.Labels["rights"])
	}
}

// overlayMap is the embedded policies as a MapFS, to alter in a test.
func overlayMap(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	names, _ := fs.Glob(Embedded(), "*.rego")
	for _, n := range names {
		b, _ := fs.ReadFile(Embedded(), n)
		m[n] = &fstest.MapFile{Data: b}
	}
	return m
}
