package scheduler

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

// fires lists the first n fire times of spec after from, in loc's wall
// clock with the zone's abbreviation.
func fires(t *testing.T, spec string, from time.Time, n int) string {
	t.Helper()
	s, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	at := from
	for range n {
		at = s.Next(at)
		out = append(out, at.Format("01-02 15:04 MST"))
	}
	return strings.Join(out, ", ")
}

// TestDaylightSaving: the nights clocks change in Europe/Paris (29 March
// and 25 October 2026).
func TestDaylightSaving(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	spring := time.Date(2026, 3, 28, 12, 0, 0, 0, paris)
	autumn := time.Date(2026, 10, 24, 12, 0, 0, 0, paris)
	for _, c := range []struct {
		name, spec string
		from       time.Time
		n          int
		want       string
	}{
		// 02:30 does not exist on 29 March: no run that day.
		{"spring, in the gap", "30 2 * * *", spring, 3, "03-30 02:30 CEST, 03-31 02:30 CEST, 04-01 02:30 CEST"},
		{"spring, after the gap", "0 3 * * *", spring, 2, "03-29 03:00 CEST, 03-30 03:00 CEST"},
		// 02:30 happens twice on 25 October: one run, at the first.
		{"autumn, in the repeated hour", "30 2 * * *", autumn, 3, "10-25 02:30 CEST, 10-26 02:30 CET, 10-27 02:30 CET"},
		{"autumn, @daily", "@daily", autumn, 2, "10-25 00:00 CEST, 10-26 00:00 CET"},
		{"autumn, with seconds", "15 30 2 * * *", autumn, 2, "10-25 02:30 CEST, 10-26 02:30 CET"},
		// A job every hour keeps running through both passes of the hour.
		{"autumn, hourly", "30 * * * *", time.Date(2026, 10, 25, 1, 0, 0, 0, paris), 4,
			"10-25 01:30 CEST, 10-25 02:30 CEST, 10-25 02:30 CET, 10-25 03:30 CET"},
		{"autumn, every 20 minutes", "*/20 * * * *", time.Date(2026, 10, 25, 0, 50, 0, 0, time.UTC).In(paris), 3, // 02:50 CEST
			"10-25 02:00 CET, 10-25 02:20 CET, 10-25 02:40 CET"},
		// UTC has no such nights.
		{"UTC", "30 2 * * *", time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), 2, "10-25 02:30 UTC, 10-26 02:30 UTC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fires(t, c.spec, c.from, c.n); got != c.want {
				t.Errorf("%s from %s:\n got %s\nwant %s", c.spec, c.from.Format(time.RFC3339), got, c.want)
			}
		})
	}
}

func TestParseRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "61 * * * *", "* * *", "@fortnightly", "0 25 * * *"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted a bad spec", spec)
		}
	}
}
