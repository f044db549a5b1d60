package policies

import (
	"context"
	"testing"
)

// TestRego runs every *_test.rego of the embedded policies, so that
// `make test` runs the policies' own unit tests.
func TestRego(t *testing.T) {
	e, err := Load(context.Background(), Embedded())
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.RunTests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 10 {
		t.Fatalf("only %d Rego tests found", len(res))
	}
	for _, r := range res {
		if !r.Pass {
			t.Errorf("%s.%s (%s): %s", r.Package, r.Name, r.Location, r.Error)
		}
	}
}
