package oubli.register_test

import data.oubli.purposes
import data.oubli.register
import data.oubli.requests
import data.oubli.retention

bilingual(l) if {
	object.keys(l) == {"en", "fr"}
	l.en != ""
	l.fr != ""
	l.en != l.fr
}

test_agents_are_data_subjects_through_agent_stats if {
	some s in register.data_subjects
	s.name == "agents"
	some c in register.personal_data
	c.name in s.data
	"agents" in c.data_subjects
	"agent_stats" in c.stored_in
}

test_users_are_data_subjects if {
	some s in register.data_subjects
	s.name == "users"
	"identification" in s.data
}

test_every_data_subject_category_is_declared if {
	names := {c.name | some c in register.personal_data}
	every s in register.data_subjects {
		bilingual(s.label)
		every d in s.data {
			d in names
		}
	}
}

# Every store category of the retention schedule holds some category of
# personal data, and every category named exists.
test_personal_data_covers_every_store_category if {
	stored := {x | some c in register.personal_data; some x in c.stored_in}
	stored == object.keys(retention.categories)
	every c in register.personal_data {
		bilingual(c.label)
		bilingual(c.description)
		count(c.data_subjects) > 0
	}
}

# The privacy notice files the account history with the data about the
# request; so does the register, and so does the access export.
test_account_history_filed_with_the_request if {
	some c in register.personal_data
	c.name == "request"
	"account_events" in c.stored_in
	contains(c.description.fr, "historique du compte")
	some i in register.personal_data
	i.name == "identification"
	not contains(i.description.fr, "historique")
	some e in requests.data_categories
	e.name == "request"
	contains(e.description.fr, "historique du compte")
}

test_no_transfer_outside_the_eu_is_stated if {
	register.transfers.third_countries == []
	bilingual(register.transfers.none)
}

test_a_transfer_names_its_safeguard if {
	every t in register.transfers.third_countries {
		t.country != ""
		bilingual(t.safeguard)
		some r in purposes.recipients
		r.id == t.recipient
	}
}

test_security_pointer_names_where_measures_are_described if {
	bilingual(register.security)
	contains(register.security.en, "README")
	contains(register.security.en, "TO BE FILLED")
}

test_ledger_and_backups_are_schedule_entries if {
	cats := {e.category | some e in register.outside_store}
	cats == {"erasure_ledger", "backups"}
	every e in register.outside_store {
		bilingual(e.title)
		bilingual(e.period_label)
		bilingual(e.clock_label)
		e.legal_basis != ""
		e.justification != ""
		not e.category in object.keys(retention.categories)
	}
}

test_backups_rotate_after_a_month if {
	some e in register.outside_store
	e.category == "backups"
	e.period == {"years": 0, "months": 1, "days": 0}
	e.period_label.en == "1 month"
	e.action == "delete"
	contains(e.justification, "erase --reapply")
}

test_ledger_is_never_pruned_by_oubli if {
	some e in register.outside_store
	e.category == "erasure_ledger"
	e.action == "keep"
	contains(e.justification, "erase --reapply")
}
