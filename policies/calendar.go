package policies

import "time"

// AddPeriod returns t plus the period p on the UTC calendar, as
// calendar.rego counts it: the same day and time p.Years and p.Months
// later, or, when that month has no such day, the end of its last day
// (midnight starting the next month, Regulation 1182/71 Art. 3(2)(c)); then
// p.Days days. It mirrors data.oubli.calendar.add_ns so that decisions can
// carry their expiry date without per-record date arithmetic in Rego; a
// test checks that both agree.
func AddPeriod(t time.Time, p Period) time.Time {
	t = t.UTC()
	s := t.AddDate(0, p.Years*12+p.Months, 0)
	if s.Day() != t.Day() {
		s = time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return s.AddDate(0, 0, p.Days)
}
