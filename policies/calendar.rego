# METADATA
# title: Calendar arithmetic
# description: |
#   How every period in these policies is counted. A period is a number of
#   calendar years, months and days added to the moment its clock starts,
#   counted on the UTC calendar. When the resulting month has no such day
#   (31 March + 1 month, 29 February + 1 year), the period ends with the
#   last day of that month, as in Regulation (EEC, Euratom) No 1182/71, Art.
#   3(2)(c): 31 January + 1 month ends at the end of 28 (or 29) February,
#   29 February 2024 + 1 year at the end of 28 February 2025.
# custom:
#   wording:
#     en: Periods are counted in calendar months and years; a period that would end on a day the month does not have ends on that month's last day.
#     fr: Les durées se comptent en mois et années civils ; une durée qui s'achèverait un jour que le mois ne compte pas s'achève le dernier jour de ce mois.
package oubli.calendar

# Nanoseconds in one millisecond and in one day: the store counts in
# milliseconds, Rego's time built-ins in nanoseconds.
ns_per_ms := 1000000

ns_per_day := 86400000000000

# add_ns(ns, p) is the instant ns (nanoseconds since 1970, UTC) plus the
# period p = {"years": Y, "months": M, "days": D}.
add_ns(ns, p) := time.add_date(add_months(ns, (p.years * 12) + p.months), 0, 0, p.days)

# add_months(ns, n): the same day and time n months later; when that month
# has no such day, the end of its last day (midnight starting the next
# month).
add_months(ns, n) := shifted if {
	[_, _, day] := time.date(ns)
	shifted := time.add_date(ns, 0, n, 0)
	[_, _, day2] := time.date(shifted)
	day2 == day
}

add_months(ns, n) := start_of_day(time.add_date(shifted, 0, 0, 1 - day2)) if {
	[_, _, day] := time.date(ns)
	shifted := time.add_date(ns, 0, n, 0)
	[_, _, day2] := time.date(shifted)
	day2 != day
}

start_of_day(ns) := ns - (ns % ns_per_day)

# add_ms(ms, p) is add_ns for Unix milliseconds.
add_ms(ms, p) := add_ns(ms * ns_per_ms, p) / ns_per_ms

# latest_start_ms(now_ms, p) is the latest clock start (Unix ms) whose
# period p has run out at now_ms: add_ms(s, p) <= now_ms exactly when
# s <= latest_start_ms(now_ms, p). Computed once per category and
# evaluation, so that deciding a record is one comparison. (add_ms never
# decreases when its start increases, so that limit exists.)
latest_start_ms(now_ms, p) := limit if {
	w := time.add_date(now_ms * ns_per_ms, 0, 0, 0 - p.days)
	[_, _, wday] := time.date(w)
	n := (p.years * 12) + p.months

	# Day 1 of the month n months before w, at w's time of day, and that
	# month's length.
	first := time.add_date(w, 0, 0 - n, 1 - wday)
	[_, _, len] := time.date(time.add_date(first, 0, 1, -1))
	limit := latest_in_month(first, wday, len)
}

# w's day exists in that month: the same day and time.
latest_in_month(first, wday, len) := time.add_date(first, 0, 0, wday - 1) / ns_per_ms if wday <= len

# It does not: every instant of that month has expired, none of the next.
latest_in_month(first, wday, len) := (start_of_day(time.add_date(first, 0, 1, 0)) / ns_per_ms) - 1 if wday > len

# label(p) names a period in French and English ("5 ans", "13 months").
label(p) := {"fr": concat(" ", parts_fr(p)), "en": concat(" ", parts_en(p))}

parts_fr(p) := [s |
	some u in units(p)
	s := sprintf("%d %s", [u[0], plural(u[0], u[1], u[2])])
]

parts_en(p) := [s |
	some u in units(p)
	s := sprintf("%d %s", [u[0], plural(u[0], u[3], u[4])])
]

units(p) := [u |
	some u in [
		[p.years, "an", "ans", "year", "years"],
		[p.months, "mois", "mois", "month", "months"],
		[p.days, "jour", "jours", "day", "days"],
	]
	u[0] > 0
]

plural(1, one, _) := one

plural(n, _, many) := many if n != 1
