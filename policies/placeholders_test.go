package policies

import (
	"strings"
	"testing"
)

// TestPlaceholders: the embedded policies still carry the controller's
// placeholders, and each is named by where it is; filled-in information
// has none.
func TestPlaceholders(t *testing.T) {
	info := Information{
		Controller: Contact{Name: "LBC France", Address: "TO BE FILLED BY THE CONTROLLER: postal address", Email: "privacy@example.invalid"},
		DPO:        Contact{Name: "DPO", URL: "https://example.invalid/dpo"},
		Links:      []Link{{Name: "rights", URL: "https://example.invalid/privacy/rights", Placeholder: true}},
	}
	got := strings.Join(Placeholders(info), "; ")
	for _, want := range []string{"controller.address", "controller.email", "dpo.url", "links.rights"} {
		if !strings.Contains(got, want) {
			t.Errorf("Placeholders = %q, want %s named", got, want)
		}
	}
	filled := Information{Controller: Contact{Name: "LBC France", Email: "privacy@lbc.fr"}, DPO: Contact{Name: "DPO", URL: "https://lbc.fr/dpo"}}
	if p := Placeholders(filled); len(p) != 0 {
		t.Errorf("filled information: placeholders %q", p)
	}
}
