package oubli.calendar_test

import data.oubli.calendar

ns(s) := time.parse_rfc3339_ns(s)

ms(s) := ns(s) / 1000000

test_plain_year if {
	calendar.add_ns(ns("2019-03-05T16:20:00Z"), {"years": 5, "months": 0, "days": 0}) == ns("2024-03-05T16:20:00Z")
}

test_month_end_ends_with_last_day if {
	# 31 January + 1 month: the period ends with 28 February.
	calendar.add_ns(ns("2026-01-31T10:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2026-03-01T00:00:00Z")
}

test_month_end_leap_year if {
	calendar.add_ns(ns("2024-01-31T10:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2024-03-01T00:00:00Z")
	calendar.add_ns(ns("2024-01-29T10:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2024-02-29T10:00:00Z")
}

test_march_31_plus_one_month if {
	calendar.add_ns(ns("2026-03-31T00:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2026-05-01T00:00:00Z")
	calendar.add_ns(ns("2026-03-30T23:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ns("2026-04-30T23:00:00Z")
}

test_leap_day_plus_one_year if {
	calendar.add_ns(ns("2024-02-29T12:00:00Z"), {"years": 1, "months": 0, "days": 0}) == ns("2025-03-01T00:00:00Z")
}

test_latest_start_plain if {
	calendar.latest_start_ms(ms("2024-03-05T16:20:00Z"), {"years": 5, "months": 0, "days": 0}) == ms("2019-03-05T16:20:00Z")
}

test_latest_start_month_end if {
	# At 1 March 00:00 every start in January has run a month.
	calendar.latest_start_ms(ms("2026-03-01T00:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ms("2026-02-01T00:00:00Z")
	calendar.latest_start_ms(ms("2026-02-28T23:59:59.999Z"), {"years": 0, "months": 1, "days": 0}) == ms("2026-01-28T23:59:59.999Z")

	# On 30 April every start in March up to 30 March at the same time.
	calendar.latest_start_ms(ms("2026-04-30T12:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ms("2026-03-30T12:00:00Z")

	# On 30 March, all of February (28 days) has run a month.
	calendar.latest_start_ms(ms("2026-03-30T12:00:00Z"), {"years": 0, "months": 1, "days": 0}) == ms("2026-02-28T23:59:59.999Z")
}

test_latest_start_inverts_add if {
	p := {"years": 1, "months": 1, "days": 2}
	every s in ["2024-02-29T12:00:00Z", "2023-01-31T00:00:00Z", "2025-12-31T23:59:59.999Z", "2022-06-15T08:00:00+02:00"] {
		e := calendar.add_ms(ms(s), p)
		calendar.latest_start_ms(e, p) >= ms(s)
		calendar.latest_start_ms(e - 1, p) < ms(s)
	}
}

test_leap_day_plus_four_years if {
	calendar.add_ns(ns("2024-02-29T12:00:00Z"), {"years": 4, "months": 0, "days": 0}) == ns("2028-02-29T12:00:00Z")
}

test_thirteen_months_across_year if {
	calendar.add_ns(ns("2025-12-31T23:59:59Z"), {"years": 0, "months": 13, "days": 0}) == ns("2027-01-31T23:59:59Z")
}

test_days_after_month_end if {
	calendar.add_ns(ns("2026-01-31T00:00:00Z"), {"years": 0, "months": 1, "days": 1}) == ns("2026-03-02T00:00:00Z")
}

test_offset_is_an_instant if {
	# 23:30 at UTC-02:00 on 5 March is 01:30 UTC on 6 March: the UTC
	# calendar counts from 6 March.
	calendar.add_ns(ns("2019-03-05T23:30:00-02:00"), {"years": 1, "months": 0, "days": 0}) == ns("2020-03-06T01:30:00Z")
}

test_add_ms_is_whole_milliseconds if {
	calendar.add_ms(ms("2019-03-05T16:20:00.123Z"), {"years": 1, "months": 0, "days": 0}) == ms("2020-03-05T16:20:00.123Z")
}

test_labels if {
	calendar.label({"years": 5, "months": 0, "days": 0}) == {"fr": "5 ans", "en": "5 years"}
	calendar.label({"years": 1, "months": 0, "days": 0}) == {"fr": "1 an", "en": "1 year"}
	calendar.label({"years": 0, "months": 13, "days": 0}) == {"fr": "13 mois", "en": "13 months"}
	calendar.label({"years": 1, "months": 1, "days": 1}) == {"fr": "1 an 1 mois 1 jour", "en": "1 year 1 month 1 day"}
}
