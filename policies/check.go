package policies

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

// Unformatted returns the policy files that `opa fmt` would change, sorted.
// (The files compiled, so formatting cannot fail on a parse error.)
func (e *Engine) Unformatted() ([]string, error) {
	var out []string
	for _, n := range e.Files() {
		src := []byte(e.files[n])
		got, err := format.SourceWithOpts(n, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("%w: format %s: %v", ErrPolicy, n, err)
		}
		if !bytes.Equal(got, src) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Format returns a policy file's text as `opa fmt` writes it.
func Format(name string, src []byte) ([]byte, error) {
	out, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("%w: format %s: %v", ErrPolicy, name, err)
	}
	return out, nil
}

// Check is what `oubli policy check` requires of a revision, as one error
// (ErrPolicy) naming every fault: every file compiles strictly, tests
// included; every file is formatted as opa fmt writes it; every text for
// readers is written out in English and French. An approval requires it too.
func (e *Engine) Check() error {
	if err := e.CompileAll(); err != nil {
		return err
	}
	bad, err := e.Unformatted()
	if err != nil {
		return err
	}
	var faults []string
	if len(bad) > 0 {
		faults = append(faults, "not formatted as opa fmt would (run opa fmt -w): "+strings.Join(bad, ", "))
	}
	if texts := e.WordingProblems(); len(texts) > 0 {
		faults = append(faults, "texts for readers to fix: "+strings.Join(texts, "; "))
	}
	if len(faults) > 0 {
		return fmt.Errorf("%w: %s", ErrPolicy, strings.Join(faults, "; "))
	}
	return nil
}
