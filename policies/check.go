package policies

import (
	"bytes"
	"fmt"

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
