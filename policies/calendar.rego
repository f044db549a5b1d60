# METADATA
# title: Calendar arithmetic
# description: |
#   How every period in these policies is counted. A period is a number of
#   calendar years, months and days added to the moment its clock starts,
#   counted on the UTC calendar. When the resulting month has no such day
#   (31 March + 1 month, 29 February + 1 year), the period ends on the last
#   day of that month, as in Regulation (EEC, Euratom) No 1182/71, Art.
#   3(2)(c): 31 January + 1 month is 28 (or 29) February, 29 February 2024 +
#   1 year is 28 February 2025. Never later than the law's own count.
# custom:
#   wording: Periods are counted in calendar months and years; a period that would end on a day the month does not have ends on that month's last day.
package oubli.calendar

# Nanoseconds in one millisecond: the store counts in milliseconds, Rego's
# time built-ins in nanoseconds.
ns_per_ms := 1000000

# add_ns(ns, p) is the instant ns (nanoseconds since 1970, UTC) plus the
# period p = {"years": Y, "months": M, "days": D}, month-end clamped.
add_ns(ns, p) := out if {
	[_, _, day] := time.date(ns)

	# First day of the target month, same time of day.
	first := time.add_date(ns, 0, (p.years * 12) + p.months, 1 - day)

	# That month's number of days: the day before the 1st of the next one.
	[_, _, last] := time.date(time.add_date(first, 0, 1, -1))
	out := time.add_date(first, 0, 0, (min([day, last]) - 1) + p.days)
}

# add_ms(ms, p) is add_ns for Unix milliseconds.
add_ms(ms, p) := add_ns(ms * ns_per_ms, p) / ns_per_ms

# sub_ms(ms, p, margin_days) is ms minus the period p and margin_days more:
# used only for conservative pre-filters, never for decisions.
sub_ms(ms, p, margin_days) := time.add_date(
	ms * ns_per_ms,
	0 - p.years,
	0 - p.months,
	0 - (p.days + margin_days),
) / ns_per_ms

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
