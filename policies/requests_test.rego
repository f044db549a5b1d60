package oubli.requests_test

import data.oubli.requests

ns(s) := time.parse_rfc3339_ns(s)

deadline(type, received) := d if {
	d := requests.deadline with input as {"type": type, "received_ns": ns(received)}
}

test_one_month if {
	d := deadline("access", "2026-03-10T09:00:00Z")
	d.due_ns == ns("2026-04-10T09:00:00Z")
	d.max_extended_ns == ns("2026-06-10T09:00:00Z")
}

test_month_end_ends_with_last_day if {
	# Received 31 January: due by the end of 28 February; extended, by the
	# end of 30 April.
	d := deadline("erasure", "2026-01-31T09:00:00Z")
	d.due_ns == ns("2026-03-01T00:00:00Z")
	d.max_extended_ns == ns("2026-05-01T00:00:00Z")
}

test_leap_year_month_end if {
	deadline("rectification", "2028-01-29T09:00:00Z").due_ns == ns("2028-02-29T09:00:00Z")
	deadline("rectification", "2028-01-30T09:00:00Z").due_ns == ns("2028-03-01T00:00:00Z")
}

test_offset_received if {
	# Received 00:30 on 1 March in Paris = 23:30 UTC on 28 February.
	d := deadline("objection", "2026-03-01T00:30:00+01:00")
	d.due_ns == ns("2026-03-28T23:30:00Z")
}

test_every_type_has_deadline if {
	every t in requests.request_types {
		deadline(t, "2026-03-10T09:00:00Z")
	}
}

test_unknown_type_undefined if {
	not deadline("portability_now", "2026-03-10T09:00:00Z")
}

test_information_art15 if {
	i := requests.information
	i.language == "fr"
	count(i.purposes) == 2
	count(i.recipients) > 0
	count(i.retention) > 0
	[c.name | some c in i.categories] == ["identification", "request", "statistics", "rights_requests"]
	some req in i.categories
	req.name == "request"
	contains(req.description.fr, "historique du compte")
	contains(req.description.en, "account history")
	some r in i.rights
	r.name == "complaint"
	contains(r.label.fr, "CNIL")
	i.source.fr != ""
	i.controller.name == "LBC France"
	i.dpo.email != ""
}

test_links_are_marked_placeholders if {
	count(requests.information.links) == 3
	every l in requests.information.links {
		startswith(l.url, "https://example.invalid/")
		l.placeholder == true
		l.label.fr != ""
		l.label.en != ""
	}
}

test_rights_bilingual if {
	every r in requests.rights {
		r.label.fr != ""
		r.label.en != ""
		r.how.fr != ""
	}
}
