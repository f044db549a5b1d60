package policies

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRecipientIDs(t *testing.T) {
	e := mustLoad(t)
	rs, err := e.Recipients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rs {
		ids[r.ID] = true
	}
	if !ids["adevinta_france"] || !ids["processors"] || len(ids) != len(rs) {
		t.Errorf("recipient ids %v", ids)
	}
	for _, tt := range []struct {
		name string
		rs   []Recipient
		want string
	}{
		{"missing", []Recipient{{Name: Label{EN: "A"}}}, `recipient #1 ("A") needs an id`},
		{"not a token", []Recipient{{ID: "Bad Id", Name: Label{EN: "A"}}}, `not "Bad Id"`},
		{"twice", []Recipient{{ID: "a", Name: Label{EN: "A"}}, {ID: "a", Name: Label{EN: "B"}}}, `"a" is given twice`},
	} {
		err := checkRecipientIDs(tt.rs)
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrPolicy naming %q", tt.name, err, tt.want)
		}
	}
}
