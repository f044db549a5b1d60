package oubli.calendar_test

import data.oubli.calendar

ns(s) := time.parse_rfc3339_ns(s)

ms(s) := ns(s) / 1000000

test_plain_year if {
	calendar.add_ns(ns("2019-03-05T16:20:00Z"), {"years": 5, "months": 0, "days": 0}) == ns("2024-03-05T16:20:00Z")
}

test_month_end_clamps_to_last_day if {
	calendar.add_ns(ns("2026-01-31T10:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2026-02-28T10:00:00Z")
}

test_month_end_leap_year if {
	calendar.add_ns(ns("2024-01-31T10:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2024-02-29T10:00:00Z")
}

test_march_31_plus_one_month if {
	calendar.add_ns(ns("2026-03-31T00:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2026-04-30T00:00:00Z")
}

test_leap_day_plus_one_year if {
	calendar.add_ns(ns("2024-02-29T12:00:00Z"), {"years": 1, "months": 0, "days": 0}) == ns("2025-02-28T12:00:00Z")
}

test_leap_day_plus_four_years if {
	calendar.add_ns(ns("2024-02-29T12:00:00Z"), {"years": 4, "months": 0, "days": 0}) == ns("2028-02-29T12:00:00Z")
}

test_thirteen_months_across_year if {
	calendar.add_ns(ns("2025-12-31T23:59:59Z"), {"years": 0, "months": 13, "days": 0}) == ns("2027-01-31T23:59:59Z")
}

test_days_after_clamp if {
	calendar.add_ns(ns("2026-01-31T00:00:00Z"), {"years": 0, "months": 1, "days": 1}) == ns("2026-03-01T00:00:00Z")
}

test_offset_is_an_instant if {
	# 23:30 at UTC-02:00 on 5 March is 01:30 UTC on 6 March: the UTC
	# calendar counts from 6 March.
	calendar.add_ns(ns("2019-03-05T23:30:00-02:00"), {"years": 1, "months": 0, "days": 0}) == ns("2020-03-06T01:30:00Z")
}

test_add_ms_is_whole_milliseconds if {
	calendar.add_ms(ms("2019-03-05T16:20:00.123Z"), {"years": 1, "months": 0, "days": 0}) == ms("2020-03-05T16:20:00.123Z")
}

test_sub_ms_margin if {
	calendar.sub_ms(ms("2026-03-10T00:00:00Z"), {"years": 1, "months": 0, "days": 0}, 7) == ms("2025-03-03T00:00:00Z")
}

test_labels if {
	calendar.label({"years": 5, "months": 0, "days": 0}) == {"fr": "5 ans", "en": "5 years"}
	calendar.label({"years": 1, "months": 0, "days": 0}) == {"fr": "1 an", "en": "1 year"}
	calendar.label({"years": 0, "months": 13, "days": 0}) == {"fr": "13 mois", "en": "13 months"}
	calendar.label({"years": 1, "months": 1, "days": 1}) == {"fr": "1 an 1 mois 1 jour", "en": "1 year 1 month 1 day"}
}
