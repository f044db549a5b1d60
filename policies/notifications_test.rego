package oubli.notifications_test

import data.oubli.notifications

ms(s) := time.parse_rfc3339_ns(s) / 1000000

decide(n, now) := d if {
	some d in notifications.decisions with input as {"now_ms": ms(now), "records": {"notifications": [n]}}
}

test_pending_kept_whatever_its_age if {
	every s in {"queued", "failed", "gone", "manual"} {
		d := decide({"status": s, "created_at": ms("2015-01-01T00:00:00Z")}, "2026-12-01T00:00:00Z")
		d.action == "keep"
		d.rule == "notifications.pending"
	}
}

test_delivered_kept_within_a_year if {
	d := decide({"status": "delivered", "delivered_at": ms("2025-12-01T00:00:01Z")}, "2026-12-01T00:00:00Z")
	d.action == "keep"
	d.rule == "notifications.retained"
}

test_delivered_deleted_after_a_year if {
	d := decide({"status": "delivered", "delivered_at": ms("2025-12-01T00:00:00Z")}, "2026-12-01T00:00:00Z")
	d.action == "delete"
	d.rule == "notifications.expired"
}

test_acknowledged_counts_from_the_ack if {
	d := decide({"status": "acknowledged", "acked_at": ms("2026-02-01T00:00:00Z"), "created_at": ms("2020-01-01T00:00:00Z")}, "2026-12-01T00:00:00Z")
	d.action == "keep"
	e := decide({"status": "acknowledged", "acked_at": ms("2025-11-30T00:00:00Z")}, "2026-12-01T00:00:00Z")
	e.action == "delete"
}

test_one_decision_per_record if {
	ds := notifications.decisions with input as {"now_ms": ms("2026-12-01T00:00:00Z"), "records": {"notifications": [
		{"status": "delivered", "delivered_at": ms("2020-01-01T00:00:00Z")},
		{"status": "queued"},
		{"status": "acknowledged", "acked_at": ms("2026-11-01T00:00:00Z")},
	]}}
	count(ds) == 3
}

test_handled_without_its_time_is_undecided if {
	# A delivered notification without delivered_at is a broken fact: no
	# rule decides it, so the purge fails closed.
	ds := notifications.decisions with input as {"now_ms": ms("2026-12-01T00:00:00Z"), "records": {"notifications": [{"status": "delivered"}]}}
	count(ds) == 0
}
