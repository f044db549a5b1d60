package policies

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// fuzzCategories are the retention categories the fuzzers pick from (plus
// whatever string the fuzzer makes up).
var fuzzCategories = []string{CatSubjects, CatTickets, CatMessages, CatAttachments, CatAccountEvents,
	CatSubjectStats, CatAgentStats, CatDSRRequests, CatLegalHolds, CatObjections, CatAudit}

// FuzzBuildInput checks the policy input builder: for any category, id,
// attribute name and value of every supported Go type it never panics;
// it either fails with ErrPolicy (no category, non-finite number) or gives
// an input whose record carries exactly the id and the attribute given.
func FuzzBuildInput(f *testing.F) {
	f.Add("tickets", "T-1", "closed_at", int64(1551780000000), 1.5, "closed", true, uint8(0))
	f.Add("", "x' OR '1'='1", "id", int64(-1), math.Inf(1), "", false, uint8(1))
	f.Add("subjects", "\x00", "__proto__", int64(math.MaxInt64), math.NaN(), "<script>", true, uint8(2))
	f.Add("agent_stats", "\xff", "day", int64(0), math.Copysign(0, -1), "2019-01-01", false, uint8(3))
	f.Fuzz(func(t *testing.T, cat, id, key string, n int64, x float64, s string, b bool, kind uint8) {
		var v any
		switch kind % 8 {
		case 0:
			v = n
		case 1:
			v = x
		case 2:
			v = s
		case 3:
			v = b
		case 4:
			v = &n
		case 5:
			v = time.UnixMilli(n)
		case 6:
			v = nil
		case 7:
			v = int(n)
		}
		at := time.UnixMilli(n)
		in, _, err := buildInput(at, []Record{{Category: cat, ID: id, Attrs: map[string]any{key: v}}})
		nonFinite := kind%8 == 1 && (math.IsNaN(x) || math.IsInf(x, 0))
		if cat == "" || nonFinite {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("want ErrPolicy, got %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("buildInput: %v", err)
		}
		obj := in.(ast.Object)
		recs := obj.Get(ast.StringTerm("records")).Value.(ast.Object).Get(ast.StringTerm(cat))
		if recs == nil {
			t.Fatalf("category %q missing from the input", cat)
		}
		rec := recs.Value.(*ast.Array).Elem(0).Value.(ast.Object)
		if key != "id" {
			gotID := rec.Get(ast.StringTerm("id"))
			if gotID == nil || gotID.Value.Compare(ast.String(id)) != 0 {
				t.Fatalf("id %q became %v", id, gotID)
			}
		}
		got := rec.Get(ast.StringTerm(key))
		absent := v == nil || kind%8 == 5 && time.UnixMilli(n).IsZero()
		if absent && key != "id" {
			if got != nil {
				t.Fatalf("nil attribute %q present as %v", key, got)
			}
			return
		}
		if got == nil {
			t.Fatalf("attribute %q (%T) missing", key, v)
		}
		if kind%8 == 0 || kind%8 == 4 {
			if num, ok := got.Value.(ast.Number); ok && key != "id" {
				if i, ok := num.Int64(); !ok || i != n {
					t.Fatalf("int64 %d became %v", n, num)
				}
			}
		}
	})
}

// FuzzDecide evaluates the embedded policies on records with fuzzed facts:
// a decision is either one well-formed verdict per record or an error
// wrapping ErrPolicy (fail closed) — never a panic, never a verdict without
// a rule or with an unknown action.
func FuzzDecide(f *testing.F) {
	eng, err := Load(context.Background(), Embedded())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), "T-1", int64(1551780000000), int64(1551420000000), "closed", true, int64(1767225600000))
	f.Add(uint8(0), "u-1", int64(-1), int64(0), "", false, int64(0))
	f.Add(uint8(6), "ag-1", int64(1<<62), int64(-1<<62), "2019-02-29", true, int64(1767225600000))
	f.Fuzz(func(t *testing.T, ci uint8, id string, t1, t2 int64, s string, b bool, now int64) {
		cat := fuzzCategories[int(ci)%len(fuzzCategories)]
		attrs := map[string]any{
			"closed_at": t1, "created_at": t2, "account_closed_at": t1, "at": t2, "computed_at": t1,
			"released_at": t1, "status": s, "day": s, "held": b, "on_hold": b, "dispute_status": s,
			"anonymized": b, "has_records": b, "agent_id": s, "user_id": id,
		}
		ds, err := eng.Decide(context.Background(), time.UnixMilli(now), []Record{{Category: cat, ID: id, Attrs: attrs}})
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("Decide error does not wrap ErrPolicy: %v", err)
			}
			return
		}
		if len(ds) != 1 {
			t.Fatalf("%d decisions for one record", len(ds))
		}
		d := ds[0]
		if d.Rule == "" || (d.Action != Keep && d.Action != Delete && d.Action != Anonymize) {
			t.Fatalf("malformed decision %+v", d)
		}
	})
}
