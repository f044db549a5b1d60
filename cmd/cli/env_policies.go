package cli

import (
	"sync"

	"github.com/oubli/oubli/policies"
)

// engines caches each Env's policies engine. It lives here rather than in
// Env so that root.go need not know about policies.
var engines sync.Map // *Env → *policies.Engine

// Engine returns the policies engine, loaded once per Env: the directory
// named by --policies (OUBLI_POLICIES), or the policies embedded in the
// binary. A policy that fails to load is an error wrapping
// policies.ErrPolicy (exit 2).
func (e *Env) Engine() (*policies.Engine, error) {
	if v, ok := engines.Load(e); ok {
		return v.(*policies.Engine), nil
	}
	var (
		eng *policies.Engine
		err error
	)
	ctx := e.Ctx
	if e.PolicyTimeout > 0 {
		ctx = policies.WithEvalTimeout(ctx, e.PolicyTimeout)
	}
	if e.Policies != "" {
		eng, err = policies.LoadDir(ctx, e.Policies)
	} else {
		eng, err = policies.Load(ctx, policies.Embedded())
	}
	if err != nil {
		return nil, err
	}
	engines.Store(e, eng)
	return eng, nil
}
