package cli

import (
	"fmt"
	"strconv"
)

// shareFlag is a --max-share value: a fraction in (0, 1]. It is checked when
// the flag is parsed, so NaN, infinities and out-of-range values are refused
// (exit 2) before any command runs.
type shareFlag float64

// newShareFlag returns a shareFlag holding v, stored in p.
func newShareFlag(v float64, p *float64) *shareFlag {
	*p = v
	return (*shareFlag)(p)
}

// String implements pflag.Value.
func (s *shareFlag) String() string { return strconv.FormatFloat(float64(*s), 'g', -1, 64) }

// Set implements pflag.Value: it refuses anything but a finite fraction in (0, 1].
func (s *shareFlag) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || checkShare(f) != nil {
		return fmt.Errorf("want a fraction in (0, 1]")
	}
	*s = shareFlag(f)
	return nil
}

// Type implements pflag.Value (shown as "float" in help, as before).
func (s *shareFlag) Type() string { return "float64" }

// checkShare is the one validation of a --max-share value: a finite fraction
// in (0, 1]. Written so that NaN, which compares false with everything, fails.
func checkShare(f float64) error {
	if !(f > 0 && f <= 1) {
		return fmt.Errorf("%g: want a fraction in (0, 1]", f)
	}
	return nil
}
