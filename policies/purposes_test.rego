package oubli.purposes_test

import data.oubli.purposes

test_two_purposes_in_notice_order if {
	[p.name | some p in purposes.purposes] == ["customer_support", "statistics"]
}

test_customer_support_contract_basis_no_objection if {
	p := purposes.by_name.customer_support
	contains(p.legal_basis.en, "Art. 6(1)(b)")
	contains(p.legal_basis.fr, "Art. 6(1)(b)")
	p.objection.applies == false
	contains(p.objection.reason.en, "Art. 6(1)(b)")
	contains(p.objection.reason.fr, "art. 6(1)(b)")
	p.objection.stops == []
}

test_statistics_legitimate_interest_objection_stops_stats if {
	p := purposes.by_name.statistics
	contains(p.legal_basis.en, "Art. 6(1)(f)")
	p.objection.applies == true
	"subject_stats" in p.objection.stops
	"agent_stats_contribution" in p.objection.stops
}

test_recipients_include_parent_company if {
	some r in purposes.recipients
	contains(r.name.en, "Adevinta France")
	contains(r.basis.fr, "6(1)(f)")
}

test_every_purpose_has_recipients_and_categories if {
	every p in purposes.purposes {
		count(p.recipients) > 0
		count(p.categories) > 0
		bilingual(p.title)
		bilingual(p.description)
		bilingual(p.legal_basis)
		bilingual(p.objection.reason)
	}
}

test_unknown_purpose_undefined if {
	not purposes.by_name.marketing
}

test_recipients_have_unique_ids if {
	ids := [r.id | some r in purposes.recipients]
	count(ids) == count(purposes.recipients)
	count({id | some id in ids}) == count(ids)
	every id in ids {
		regex.match(`^[a-z0-9_-]{1,64}$`, id)
	}
}

test_parent_company_id_is_stable if {
	some r in purposes.recipients
	r.id == "adevinta_france"
	contains(r.name.en, "Adevinta France")
}

# bilingual(l): a text given in English and in French, neither empty.
bilingual(l) if {
	object.keys(l) == {"en", "fr"}
	l.en != ""
	l.fr != ""
	l.en != l.fr
}

test_recipients_texts_in_both_languages if {
	every r in purposes.recipients {
		bilingual(r.name)
		bilingual(r.role)
		bilingual(r.basis)
	}
}
