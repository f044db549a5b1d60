package policies

import (
	"context"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego unit test (a test_ rule of a
// *_test.rego file).
type TestResult struct {
	Package  string `json:"package"`
	Name     string `json:"name"`
	Location string `json:"location"`
	Pass     bool   `json:"pass"`
	Skip     bool   `json:"skip,omitempty"`
	Error    string `json:"error,omitempty"`
}

// RunTests runs the Rego unit tests of the loaded policies with OPA's
// tester, compiled with the same strict mode and capabilities as the
// policies. Results are sorted by package and name. A test that fails is a
// result with Pass false, not an error; the error is for tests that cannot
// run at all.
func (e *Engine) RunTests(ctx context.Context) ([]TestResult, error) {
	mods, err := parseModules(e.files, e.caps)
	if err != nil {
		return nil, err
	}
	comp := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(e.caps).
		WithEnablePrintStatements(false)
	ch, err := tester.NewRunner().
		SetCompiler(comp).
		SetModules(mods).
		RaiseBuiltinErrors(true).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: run tests: %v", ErrPolicy, err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Package: r.Package, Name: r.Name, Skip: r.Skip}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		switch {
		case r.Error != nil:
			tr.Error = r.Error.Error()
		case r.Fail:
			tr.Error = "failed"
			if r.FailedAt != nil {
				tr.Error = "failed at " + r.FailedAt.String()
				if r.FailedAt.Location != nil {
					tr.Error += fmt.Sprintf(" (%s:%d)", r.FailedAt.Location.File, r.FailedAt.Location.Row)
				}
			}
		default:
			tr.Pass = !r.Skip
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
