package oubli.erasure_test

import data.oubli.erasure

decide(cat, r) := d if {
	ds := erasure.decisions with input as {"now_ms": 0, "records": {cat: [r]}}
	count(ds) == 1
	some d in ds
}

is(d, action, rule) if {
	d.action == action
	d.rule == rule
}

test_plain_ticket_deleted if {
	is(decide("tickets", {"status": "closed", "dispute_status": "none", "held": false}), "delete", "erasure.delete")
}

test_open_ticket_deleted if {
	is(decide("tickets", {"status": "open", "dispute_status": "none", "held": false}), "delete", "erasure.delete")
}

test_held_ticket_kept if {
	d := decide("tickets", {"status": "closed", "dispute_status": "none", "held": true})
	is(d, "keep", "erasure.legal_hold")
	d.held == true
	contains(d.reason, "17(3)(e)")
}

test_held_and_disputed_ticket_kept_unchanged if {
	is(decide("tickets", {"status": "closed", "dispute_status": "open", "held": true}), "keep", "erasure.legal_hold")
}

test_disputed_ticket_pseudonymised if {
	d := decide("tickets", {"status": "open", "dispute_status": "open", "held": false})
	is(d, "anonymize", "erasure.open_dispute")
	d.held == true
}

test_resolved_dispute_deleted if {
	is(decide("tickets", {"status": "closed", "dispute_status": "resolved", "held": false}), "delete", "erasure.delete")
}

test_attachments if {
	is(decide("attachments", {"ticket_status": "closed", "dispute_status": "none", "held": false}), "delete", "erasure.delete")
	is(decide("attachments", {"ticket_status": "closed", "dispute_status": "open", "held": false}), "keep", "erasure.open_dispute_attachment")
	is(decide("attachments", {"ticket_status": "closed", "dispute_status": "none", "held": true}), "keep", "erasure.legal_hold")
}

test_subjects if {
	is(decide("subjects", {"disputes_open": 0, "held": false}), "delete", "erasure.delete")
	is(decide("subjects", {"disputes_open": 1, "held": false}), "anonymize", "erasure.subject_pseudonymised")
	is(decide("subjects", {"disputes_open": 1, "held": true}), "keep", "erasure.legal_hold")
	is(decide("subjects", {"disputes_open": 0, "held": false, "held_tickets": 1}), "keep", "erasure.legal_hold")
}

test_derived_and_history_deleted if {
	is(decide("account_events", {"held": false}), "delete", "erasure.delete")
	is(decide("subject_stats", {"held": false}), "delete", "erasure.delete")
	is(decide("objections", {}), "delete", "erasure.delete")
	is(decide("account_events", {"held": true}), "keep", "erasure.legal_hold")
}

test_register_kept_pseudonymised if {
	d := decide("dsr_requests", {"status": "done"})
	is(d, "anonymize", "erasure.dsr_register")
	contains(d.reason, "5(2)")
}

test_audit_kept if {
	is(decide("audit_log", {"at": 0}), "keep", "erasure.audit_log")
}

test_unknown_category_undecided if {
	ds := erasure.decisions with input as {"now_ms": 0, "records": {"agent_stats": [{}]}}
	count(ds) == 0
}
