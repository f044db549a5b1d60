package blobs

import (
	"errors"
	"strings"
	"testing"
)

// A per-key error of a DeleteObjects batch is classified as a whole
// request's would be: a refused permission is a setup problem (exit 2),
// not an unreachable store (adversarial pass 7b). The key is never named.
func TestKeyErrorClassification(t *testing.T) {
	s := &S3{loc: Location{Bucket: "docs"}}
	for _, tc := range []struct {
		code string
		want error
		says string
	}{
		{"AccessDenied", ErrSetup, "Object Lock"},
		{"AllAccessDisabled", ErrSetup, "denied"},
		{"InternalError", ErrUnavailable, "InternalError"},
		{"SlowDown", ErrUnavailable, "SlowDown"},
	} {
		err := s.keyError("DeleteObject", tc.code)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), `"docs"`) {
			t.Errorf("%s: %v; want %v saying %q", tc.code, err, tc.want, tc.says)
		}
		if tc.want == ErrSetup && errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: both setup and unavailable: %v", tc.code, err)
		}
	}
}
