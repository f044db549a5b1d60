package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Decide returns the retention decision for each record at time at, in one
// evaluation for the whole batch: len(out) == len(recs), out[i] for
// recs[i]. A record that no rule decides, or that two rules decide, is an
// error wrapping ErrPolicy naming its category, id and rules.
func (e *Engine) Decide(ctx context.Context, at time.Time, recs []Record) ([]Decision, error) {
	return e.decide(ctx, e.retention, "retention", at, recs)
}

// DecideErasure returns, for each record of a subject who asked for erasure
// (Art. 17), Delete, Anonymize (identifiers replaced by pseudonyms, record
// kept and restricted) or Keep (restricted), with the rule and the Art.
// 17(3) ground in Reason.
func (e *Engine) DecideErasure(ctx context.Context, at time.Time, recs []Record) ([]Decision, error) {
	return e.decide(ctx, e.erasure, "erasure", at, recs)
}

// batch groups records per category; index maps (category, position) back
// to the caller's slice.
type batch struct {
	index map[string][]int
}

// parallelMin is the batch size from which decide splits a batch across
// the CPUs: each part is still one evaluation of many records.
const parallelMin = 1024

func (e *Engine) decide(ctx context.Context, q rego.PreparedEvalQuery, what string, at time.Time, recs []Record) ([]Decision, error) {
	n := runtime.GOMAXPROCS(0)
	if len(recs) < parallelMin || n < 2 {
		return e.decideOne(ctx, q, what, at, recs)
	}
	size := (len(recs) + n - 1) / n
	out := make([]Decision, len(recs))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for p := 0; p*size < len(recs); p++ {
		lo, hi := p*size, min((p+1)*size, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds, err := e.decideOne(ctx, q, what, at, recs[lo:hi])
			if err != nil {
				errs[p] = err
				return
			}
			copy(out[lo:hi], ds)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decideOne decides recs in one evaluation.
func (e *Engine) decideOne(ctx context.Context, q rego.PreparedEvalQuery, what string, at time.Time, recs []Record) ([]Decision, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if at.IsZero() {
		return nil, fmt.Errorf("%w: %s: no evaluation time", ErrPolicy, what)
	}
	input, b, err := buildInput(at, recs)
	if err != nil {
		return nil, err
	}
	v, err := e.evalRaw(ctx, q, what+" decisions", input, at)
	if err != nil {
		return nil, err
	}
	items, ok := v.(ast.Set)
	if !ok {
		return nil, fmt.Errorf("%w: %s decisions: want a set, got %s", ErrPolicy, what, ast.ValueName(v))
	}
	out := make([]Decision, len(recs))
	seen := make([]string, len(recs)) // rule that decided, "" if none yet
	err = items.Iter(func(it *ast.Term) error {
		m, ok := it.Value.(ast.Object)
		if !ok {
			return fmt.Errorf("%w: %s decision: want an object, got %s", ErrPolicy, what, ast.ValueName(it.Value))
		}
		cat, _ := astString(m, keyCategory)
		pos, err := astInt64(m, keyI)
		idx, ok2 := b.index[cat]
		if err != nil || !ok2 || pos < 0 || int(pos) >= len(idx) {
			return fmt.Errorf("%w: %s decision for an unknown record (category %q, i %v)", ErrPolicy, what, cat, m.Get(keyI))
		}
		gi := idx[pos]
		d, err := toDecision(m)
		if err != nil {
			return fmt.Errorf("%w: %s decision for %s %s: %v", ErrPolicy, what, cat, recs[gi].ID, err)
		}
		if what == "retention" && d.Action != Keep {
			if err := retentionGuard(recs[gi], d, at); err != nil {
				return fmt.Errorf("%w: %s decision for %s %s: %v", ErrPolicy, what, cat, recs[gi].ID, err)
			}
		}
		if seen[gi] != "" {
			rules := []string{seen[gi], d.Rule}
			sort.Strings(rules)
			return fmt.Errorf("%w: %s: rules %s and %s both decide %s %s", ErrPolicy, what, rules[0], rules[1], cat, recs[gi].ID)
		}
		seen[gi] = d.Rule
		out[gi] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, r := range seen {
		if r == "" {
			return nil, fmt.Errorf("%w: %s: no rule decides %s %s (undefined decision)", ErrPolicy, what, recs[i].Category, recs[i].ID)
		}
	}
	return out, nil
}

// buildInput makes the evaluation input as an AST value directly:
// {"now_ms": …, "records": {category: [attrs, …]}}.
func buildInput(at time.Time, recs []Record) (ast.Value, batch, error) {
	b := batch{index: make(map[string][]int)}
	groups := make(map[string][]*ast.Term)
	for i, r := range recs {
		if r.Category == "" {
			return nil, b, fmt.Errorf("%w: record %d (%s) has no category", ErrPolicy, i, r.ID)
		}
		obj, err := attrsObject(r)
		if err != nil {
			return nil, b, err
		}
		groups[r.Category] = append(groups[r.Category], ast.NewTerm(obj))
		b.index[r.Category] = append(b.index[r.Category], i)
	}
	byCat := ast.NewObject()
	for c, ts := range groups {
		byCat.Insert(ast.StringTerm(c), ast.ArrayTerm(ts...))
	}
	in := ast.NewObject(
		ast.Item(ast.StringTerm("now_ms"), ast.NumberTerm(json.Number(strconv.FormatInt(at.UnixMilli(), 10)))),
		ast.Item(ast.StringTerm("records"), ast.NewTerm(byCat)),
	)
	return in, b, nil
}

// attrsObject converts a record's attributes; nil values are omitted.
func attrsObject(r Record) (ast.Object, error) {
	obj := ast.NewObject(ast.Item(ast.StringTerm("id"), ast.StringTerm(r.ID)))
	for k, v := range r.Attrs {
		t, err := attrTerm(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %s: attribute %q: %v", ErrPolicy, r.Category, r.ID, k, err)
		}
		if t != nil {
			obj.Insert(ast.StringTerm(k), t)
		}
	}
	return obj, nil
}

func attrTerm(v any) (*ast.Term, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return ast.StringTerm(x), nil
	case bool:
		return ast.BooleanTerm(x), nil
	case int:
		return ast.IntNumberTerm(x), nil
	case int64:
		return ast.NumberTerm(json.Number(strconv.FormatInt(x, 10))), nil
	case int32:
		return ast.IntNumberTerm(int(x)), nil
	case *int64:
		if x == nil {
			return nil, nil
		}
		return ast.NumberTerm(json.Number(strconv.FormatInt(*x, 10))), nil
	case time.Time:
		if x.IsZero() {
			return nil, nil
		}
		return ast.NumberTerm(json.Number(strconv.FormatInt(x.UnixMilli(), 10))), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("not a finite number")
		}
		return ast.FloatNumberTerm(x), nil
	default:
		val, err := ast.InterfaceToValue(x)
		if err != nil {
			return nil, err
		}
		return ast.NewTerm(val), nil
	}
}

// The keys of a decision object.
var (
	keyCategory = ast.StringTerm("category")
	keyI        = ast.StringTerm("i")
	keyAction   = ast.StringTerm("action")
	keyRule     = ast.StringTerm("rule")
	keyReason   = ast.StringTerm("reason")
	keyHeld     = ast.StringTerm("held")
	keyFrom     = ast.StringTerm("from")
	keyPeriod   = ast.StringTerm("period")
	keyPeriodOf = map[string]*ast.Term{"years": ast.StringTerm("years"), "months": ast.StringTerm("months"), "days": ast.StringTerm("days")}
)

// toDecision reads one decision object as the evaluator made it (no
// conversion to Go maps on the way: a batch has thousands).
func toDecision(m ast.Object) (Decision, error) {
	var d Decision
	a, _ := astString(m, keyAction)
	switch Action(a) {
	case Keep, Delete, Anonymize:
		d.Action = Action(a)
	default:
		return d, fmt.Errorf("unknown action %q", a)
	}
	d.Rule, _ = astString(m, keyRule)
	if d.Rule == "" {
		return d, fmt.Errorf("decision without a rule id")
	}
	d.Reason, _ = astString(m, keyReason)
	if t := m.Get(keyHeld); t != nil {
		b, _ := t.Value.(ast.Boolean)
		d.Held = bool(b)
	}
	// A decision with a clock carries its start ("from", Unix ms) and the
	// period it runs for; no clock (open ticket, active hold) means no
	// expiry yet.
	if m.Get(keyFrom) != nil {
		from, err := astInt64(m, keyFrom)
		if err != nil {
			return d, fmt.Errorf("from: %v", err)
		}
		var pm ast.Object
		if t := m.Get(keyPeriod); t != nil {
			pm, _ = t.Value.(ast.Object)
		}
		if pm == nil {
			return d, fmt.Errorf("a decision with a clock needs its period")
		}
		var p Period
		for k, dst := range map[string]*int{"years": &p.Years, "months": &p.Months, "days": &p.Days} {
			n, err := astInt64(pm, keyPeriodOf[k])
			if err != nil {
				return d, fmt.Errorf("period.%s: %v", k, err)
			}
			*dst = int(n)
		}
		d.ExpiresAt = AddPeriod(time.UnixMilli(from), p).UnixMilli()
	}
	return d, nil
}

// retentionGuard refuses a retention decision to delete or anonymise that
// contradicts what the record or the decision itself says (adversarial pass
// 7b: a rule edited to act early, or to ignore holds, deleted with exit 0):
// a record under a legal hold is never acted on (Art. 17(3)(e); a hold can
// only be released), and a decision that cites its clock and period acts
// only once that period has run out at the evaluation time. Not a period of
// Go's: the decision's own, checked with the policies' calendar (AddPeriod).
// The whole evaluation is then a policy error: nothing is deleted.
func retentionGuard(r Record, d Decision, at time.Time) error {
	if held, _ := r.Attrs["held"].(bool); held {
		return fmt.Errorf("rule %s decides %s for a record under a legal hold", d.Rule, d.Action)
	}
	if d.ExpiresAt > at.UnixMilli() {
		return fmt.Errorf("rule %s decides %s, but the period it cites runs until %s, after %s",
			d.Rule, d.Action, time.UnixMilli(d.ExpiresAt).UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return nil
}

// astString returns the string at key k of o.
func astString(o ast.Object, k *ast.Term) (string, bool) {
	t := o.Get(k)
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

// astInt64 returns the number at key k of o, rounded down to an integer.
func astInt64(o ast.Object, k *ast.Term) (int64, error) {
	t := o.Get(k)
	if t == nil {
		return 0, fmt.Errorf("missing")
	}
	n, ok := t.Value.(ast.Number)
	if !ok {
		return 0, fmt.Errorf("want a number, got %s", ast.ValueName(t.Value))
	}
	return toInt64(json.Number(n))
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, err
		}
		return int64(math.Floor(f)), nil
	case float64:
		return int64(math.Floor(x)), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// maxCutoffSlack bounds how far after the evaluation time a cutoff may lie:
// the pre-filter's slack over a period of zero. Not a retention period:
// a sanity bound on what the policies answer.
const maxCutoffSlack = 7 * 24 * time.Hour

// Candidates returns, per retention category, a conservative SQL
// pre-filter computed by the policies from the same period data as the
// decisions (see Cutoff). A cutoff later than the evaluation time (beyond
// maxCutoffSlack) is a policy error.
func (e *Engine) Candidates(ctx context.Context, at time.Time) (map[string]Cutoff, error) {
	in := ast.NewObject(ast.Item(ast.StringTerm("now_ms"), ast.NumberTerm(json.Number(strconv.FormatInt(at.UnixMilli(), 10)))))
	v, err := e.evalOne(ctx, e.cutoffs, "retention cutoffs", in, at)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: retention cutoffs: want an object, got %T", ErrPolicy, v)
	}
	out := make(map[string]Cutoff, len(m))
	for cat, raw := range m {
		c, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: cutoff %s: want an object", ErrPolicy, cat)
		}
		col, _ := c["column"].(string)
		before, err := toInt64(c["before"])
		if col == "" || err != nil || strings.ContainsAny(col, " ;'\"()") {
			return nil, fmt.Errorf("%w: cutoff %s: want a column name and a number", ErrPolicy, cat)
		}
		if before > at.UnixMilli()+1+maxCutoffSlack.Milliseconds() {
			// A cutoff is a pre-filter: the shortest period's limit plus
			// the policies' slack (a day in the shipped ones). One further
			// ahead than that means the policies take records not yet
			// expired for expired ones (adversarial pass 7 F4: a negative
			// period deleted every closed ticket): nothing is deleted.
			return nil, fmt.Errorf("%w: cutoff %s: records of %s before %s count as expired at %s — a cutoff after the evaluation time (a negative period?)",
				ErrPolicy, cat, col, time.UnixMilli(before).UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
		nullOK, _ := c["null_is_candidate"].(bool)
		out[cat] = Cutoff{Column: col, Before: before, NullIsCandidate: nullOK}
	}
	return out, nil
}
