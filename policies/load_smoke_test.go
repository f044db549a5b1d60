package policies

import (
	"context"
	"testing"
)

func TestLoadEmbedded(t *testing.T) {
	e, err := Load(context.Background(), Embedded())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(e.Revision())
}
