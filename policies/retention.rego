# METADATA
# title: Retention schedule
# description: |
#   How long each category of customer-support data is kept, from which
#   event the clock starts, what stops it, and what happens when it runs
#   out. The table `categories` is the schedule itself; the rules below
#   apply it to each record. Every record gets exactly one decision: keep,
#   delete or anonymise.
# custom:
#   wording:
#     en: Personal data is kept no longer than necessary for the purposes for which it is processed (Art. 5(1)(e) GDPR).
#     fr: Les données personnelles ne sont pas conservées plus longtemps que nécessaire au regard des finalités pour lesquelles elles sont traitées (art. 5(1)(e) du RGPD).
package oubli.retention

import data.oubli.calendar

# ---------------------------------------------------------------------------
# The schedule. One entry per category of data.
#   clock:   the fact (attribute / column) the period is counted from
#   period:  calendar years, months, days
#   stops:   what keeps the data beyond its period
#   action:  what happens when the period has run out
#   then:    a second stage (statistics: anonymised first, deleted later)
#   null_is_candidate: a record whose clock is empty may still expire
#            (a legal hold whose end date has passed without release)
# ---------------------------------------------------------------------------

# METADATA
# title: Retention periods per category
# description: |
#   The retention schedule signed off by legal. Every period, clock and stop
#   used by the decision rules comes from here. The account history
#   (account_events) is filed with the data about the request, as in the
#   privacy notice, but keeps its own period of three years from each event
#   (see its justification).
# custom:
#   id: retention.categories
#   justification: Each period is justified in its category's entry; the records kept outside the store (erasure ledger, backups) are in register.rego.
#   legal_basis: Art. 5(1)(e) GDPR (storage limitation); Art. 30(1)(f) (envisaged time limits for erasure)
categories := {
	"attachments": {
		"order": 3,
		"title": {"fr": "Pièces jointes (justificatifs)", "en": "Attachments (supporting documents)"},
		"clock": "ticket_closed_at",
		"clock_label": {"fr": "clôture du ticket", "en": "closure of the ticket"},
		"period": {"years": 1, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"],
		"action": "delete",
		"legal_basis": "Art. 6(1)(b) GDPR: steps taken at the subject's request (handling the contact request)",
		"justification": "Supporting documents are needed while the request is handled and for a year after, to answer a follow-up or a complaint about the same request; beyond that the ticket's own text is enough.",
	},
	"tickets": {
		"order": 2,
		"title": {"fr": "Demandes (tickets) et historique des échanges", "en": "Contact requests (tickets) and message history"},
		"clock": "closed_at",
		"clock_label": {"fr": "clôture du ticket", "en": "closure of the ticket"},
		"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_ticket", "legal_hold", "open_dispute"],
		"action": "delete",
		"legal_basis": "Art. 6(1)(b) GDPR; Art. 6(1)(f) for the establishment, exercise or defence of legal claims",
		"justification": "Five years is the general limitation period for civil and commercial claims in France (Code civil, art. 2224; Code de commerce, art. L110-4): a request may be evidence in a dispute over a transaction until then.",
	},
	"messages": {
		"order": 2.5,
		"title": {"fr": "Messages des échanges", "en": "Messages of the exchange"},
		"goes_with": "tickets",
		"legal_basis": "As for their ticket",
		"justification": "Messages are part of their ticket and are deleted with it.",
	},
	"subjects": {
		"order": 1,
		"title": {"fr": "Données d'identification, de contact et de compte", "en": "Identification, contact and account data"},
		"clock": "account_closed_at",
		"clock_label": {"fr": "fermeture du compte", "en": "closure of the account"},
		"period": {"years": 3, "months": 0, "days": 0},
		"stops": ["legal_hold"],
		"action": "delete_or_anonymize",
		"legal_basis": "Art. 6(1)(b) GDPR",
		"justification": "Three years after the account is closed the subject is no longer a user; contact data is deleted when nothing of theirs remains, otherwise e-mail and pseudo are replaced by pseudonyms so the remaining tickets no longer identify them.",
	},
	# The account history. The privacy notice files it with the data about
	# the request ("historique du compte"), and so do the register
	# (register.personal_data) and the access export. It keeps its own
	# period, three years from each event, rather than the tickets' five
	# years from closure: see the justification.
	"account_events": {
		"order": 4,
		"title": {"fr": "Historique du compte", "en": "Account history"},
		"clock": "at",
		"clock_label": {"fr": "date de l'événement", "en": "date of the event"},
		"period": {"years": 3, "months": 0, "days": 0},
		"stops": ["legal_hold"],
		"action": "delete",
		"legal_basis": "Art. 6(1)(b) GDPR",
		"justification": "The privacy notice files the account history with the data about the request, and so do the register and the access export; it is kept on its own clock rather than the tickets' five years from closure: an account event (a sign-in, a change of e-mail address, a suspension) is context for the requests about the account, not part of a request's exchange, and three years from the event covers the requests that can reasonably refer to it. A ticket that cites an event keeps its own text for its five years.",
	},
	"subject_stats": {
		"order": 5,
		"title": {"fr": "Statistiques par utilisateur (temps de réponse moyen)", "en": "Per-user statistics (average response time)"},
		"clock": "computed_at",
		"clock_label": {"fr": "date du calcul", "en": "date of computation"},
		"period": {"years": 0, "months": 13, "days": 0},
		"stops": ["legal_hold"],
		"action": "delete",
		"legal_basis": "Art. 6(1)(f) GDPR: legitimate interest in evaluating and training the support team",
		"justification": "Thirteen months allows a year-on-year comparison, as the CNIL accepts for audience measurement; the figure is recomputed from live data.",
	},
	"agent_stats": {
		"order": 6,
		"title": {"fr": "Statistiques quotidiennes par agent", "en": "Per-agent daily statistics"},
		"clock": "day_start",
		"clock_label": {"fr": "jour concerné", "en": "the day concerned"},
		"period": {"years": 0, "months": 13, "days": 0},
		"stops": [],
		"action": "anonymize",
		"then": {"period": {"years": 5, "months": 0, "days": 0}, "action": "delete"},
		"legal_basis": "Art. 6(1)(f) GDPR: legitimate interest in evaluating and training the support team",
		"justification": "Named figures serve the agents' yearly evaluation (13 months); anonymised aggregates serve staffing and training trends for five years.",
	},
	"objections": {
		"order": 7,
		"title": {"fr": "Oppositions (art. 21)", "en": "Objections (Art. 21)"},
		"goes_with": "subjects",
		"legal_basis": "Art. 6(1)(c) GDPR: legal obligation to honour the objection",
		"justification": "An objection must be honoured as long as its subject is known.",
	},
	"dsr_requests": {
		"order": 8,
		"title": {"fr": "Registre des demandes d'exercice des droits", "en": "Register of data-subject requests"},
		"clock": "closed_at",
		"clock_label": {"fr": "clôture de la demande", "en": "closure of the request"},
		"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["open_request"],
		"action": "delete",
		"legal_basis": "Art. 6(1)(c) and Art. 5(2) GDPR: demonstrating compliance",
		"justification": "Proof that a request was answered, and how, for as long as the answer may be challenged (five years).",
	},
	"legal_holds": {
		"order": 9,
		"title": {"fr": "Gels pour contentieux (levés)", "en": "Legal holds (released)"},
		"clock": "released_at",
		"clock_label": {"fr": "levée du gel (ou date de fin prévue)", "en": "release of the hold (or its planned end)"},
		"period": {"years": 5, "months": 0, "days": 0},
		"stops": ["active_hold"],
		"action": "delete",
		"null_is_candidate": true,
		"legal_basis": "Art. 6(1)(f) GDPR: establishment, exercise or defence of legal claims; Art. 5(2)",
		"justification": "A released hold documents why data was kept past its period; it is kept five years after release.",
	},
	"audit_log": {
		"order": 10,
		"title": {"fr": "Journal d'audit (empreintes chiffrées uniquement)", "en": "Audit trail (keyed hashes only)"},
		"clock": "at",
		"clock_label": {"fr": "date de l'entrée", "en": "date of the entry"},
		"period": {"years": 6, "months": 0, "days": 0},
		"stops": [],
		"action": "delete",
		"legal_basis": "Art. 5(2) and 24 GDPR: accountability",
		"justification": "Six years: one year beyond the longest period above, so the trail still proves every deletion it records. Entries are pruned from the oldest.",
	},
}

# ---------------------------------------------------------------------------
# How the rules read
#
# limit[cat] is the latest clock start whose period has run out at
# input.now_ms (see calendar.latest_start_ms): a record has expired when
# its clock started on or before it. Each decision names its rule, gives a
# reason, says whether a stop (hold, dispute) kept an expired record
# (held), and gives the clock start and period it expires by (from,
# period), from which the engine prints the expiry date.
#
# A rule takes the batch's records of its category (none: the rule does
# not apply), looks up the category's limit (lim) and period, then goes
# through the records: the lookups are done once per batch, not once per
# record (a batch has thousands), and read the same.
# ---------------------------------------------------------------------------

# (A partial object: each category's limit is computed once per
# evaluation, and only for the categories in the batch.)
limit[cat] := calendar.latest_start_ms(input.now_ms, e.period) if {
	some cat, e in categories
	e.period
}

# Per-agent statistics have a second stage: deletion after five years.
agent_delete_limit := calendar.latest_start_ms(input.now_ms, categories.agent_stats.then.period)

# period_label_en(p) names a period in the decisions' reasons ("5 years"),
# from the schedule itself: a period edited in `categories` changes the
# reasons the register and the reports give with it.
period_label_en(p) := calendar.label(p).en

# Wording of the stops, shared by the rules below.
hold_reason := "under a legal hold (Art. 17(3)(e) GDPR: establishment, exercise or defence of legal claims); kept and restricted until the hold is released"

dispute_reason := "its transaction dispute is open; kept until the dispute is resolved"

# ---------------------------------------------------------------------------
# Tickets (and, with them, their messages)
# ---------------------------------------------------------------------------

# METADATA
# title: Open tickets are kept
# description: The retention clock of a ticket starts only when it is closed.
# custom:
#   id: tickets.open
#   category: tickets
#   action: keep
#   legal_basis: Art. 6(1)(b) GDPR
#   wording:
#     en: A request that is still being handled is kept.
#     fr: Une demande en cours de traitement est conservée.
decisions contains {
	"category": "tickets", "i": i, "action": "keep", "rule": "tickets.open",
	"reason": "ticket still open: the retention clock starts at closure",
	"held": false,
} if {
	some i, t in input.records.tickets
	t.status == "open"
}

# METADATA
# title: Closed tickets within their period are kept
# custom:
#   id: tickets.retained
#   category: tickets
#   action: keep
#   wording:
#     en: A closed request is kept five years after its closure.
#     fr: Une demande clôturée est conservée cinq ans après sa clôture.
decisions contains {
	"category": "tickets", "i": i, "action": "keep", "rule": "tickets.retained",
	"reason": sprintf("closed ticket within its retention period (%s after closure)", [period_label_en(period)]),
	"held": false, "from": t.closed_at, "period": period,
} if {
	records := input.records.tickets
	lim := limit.tickets
	period := categories.tickets.period
	some i, t in records
	t.status == "closed"
	t.closed_at > lim
}

# METADATA
# title: Closed tickets are deleted five years after closure
# description: The ticket, its messages and its attachments are deleted.
# custom:
#   id: tickets.expired
#   category: tickets
#   action: delete
#   legal_basis: Art. 5(1)(e) and 17(1)(a) GDPR
#   justification: General limitation period of five years (Code civil, art. 2224).
#   wording:
#     en: Five years after its closure a request and its exchange history are deleted.
#     fr: Cinq ans après sa clôture, une demande et l'historique de ses échanges sont supprimés.
decisions contains {
	"category": "tickets", "i": i, "action": "delete", "rule": "tickets.expired",
	"reason": sprintf("ticket closed more than %s ago", [period_label_en(period)]),
	"held": false, "from": t.closed_at, "period": period,
} if {
	records := input.records.tickets
	lim := limit.tickets
	period := categories.tickets.period
	some i, t in records
	t.status == "closed"
	t.closed_at <= lim
	t.held == false
	t.dispute_status != "open"
}

# METADATA
# title: Expired tickets under a legal hold are kept
# custom:
#   id: tickets.legal_hold
#   category: tickets
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR; Art. 6(1)(f)
#   wording:
#     en: A request needed for a legal claim is kept, restricted, until the hold is released.
#     fr: Une demande nécessaire à une action en justice est conservée, avec un accès restreint, jusqu'à la levée du gel.
decisions contains {
	"category": "tickets", "i": i, "action": "keep", "rule": "tickets.legal_hold",
	"reason": concat("", ["ticket past its retention period but ", hold_reason]),
	"held": true, "from": t.closed_at, "period": period,
} if {
	records := input.records.tickets
	lim := limit.tickets
	period := categories.tickets.period
	some i, t in records
	t.status == "closed"
	t.closed_at <= lim
	t.held == true
}

# METADATA
# title: Expired tickets of an open transaction dispute are kept
# custom:
#   id: tickets.open_dispute
#   category: tickets
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR; Art. 6(1)(f)
#   wording:
#     en: A request about a transaction still in dispute is kept, restricted, until the dispute is resolved.
#     fr: Une demande portant sur une transaction encore en litige est conservée, avec un accès restreint, jusqu'à la résolution du litige.
decisions contains {
	"category": "tickets", "i": i, "action": "keep", "rule": "tickets.open_dispute",
	"reason": concat("", ["ticket past its retention period but ", dispute_reason]),
	"held": true, "from": t.closed_at, "period": period,
} if {
	records := input.records.tickets
	lim := limit.tickets
	period := categories.tickets.period
	some i, t in records
	t.status == "closed"
	t.closed_at <= lim
	t.held == false
	t.dispute_status == "open"
}

# ---------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------

# METADATA
# title: Attachments of open tickets are kept
# custom:
#   id: attachments.open_ticket
#   category: attachments
#   action: keep
#   wording:
#     en: Supporting documents of a request still being handled are kept.
#     fr: Les justificatifs d'une demande en cours de traitement sont conservés.
decisions contains {
	"category": "attachments", "i": i, "action": "keep", "rule": "attachments.open_ticket",
	"reason": "its ticket is still open: the retention clock starts at closure",
	"held": false,
} if {
	some i, a in input.records.attachments
	a.ticket_status == "open"
}

# METADATA
# title: Attachments within their period are kept
# custom:
#   id: attachments.retained
#   category: attachments
#   action: keep
#   wording:
#     en: Supporting documents are kept one year after their request is closed.
#     fr: Les justificatifs sont conservés un an après la clôture de leur demande.
decisions contains {
	"category": "attachments", "i": i, "action": "keep", "rule": "attachments.retained",
	"reason": sprintf("its ticket closed less than %s ago", [period_label_en(period)]),
	"held": false, "from": a.ticket_closed_at, "period": period,
} if {
	records := input.records.attachments
	lim := limit.attachments
	period := categories.attachments.period
	some i, a in records
	a.ticket_status == "closed"
	a.ticket_closed_at > lim
}

# METADATA
# title: Attachments are deleted one year after their ticket closed
# custom:
#   id: attachments.expired
#   category: attachments
#   action: delete
#   legal_basis: Art. 5(1)(c) and (e) GDPR (data minimisation, storage limitation)
#   justification: The documents served the handling of the request; the ticket's text keeps the outcome.
#   wording:
#     en: One year after a request is closed its supporting documents are deleted.
#     fr: Un an après la clôture d'une demande, ses justificatifs sont supprimés.
decisions contains {
	"category": "attachments", "i": i, "action": "delete", "rule": "attachments.expired",
	"reason": sprintf("its ticket closed more than %s ago", [period_label_en(period)]),
	"held": false, "from": a.ticket_closed_at, "period": period,
} if {
	records := input.records.attachments
	lim := limit.attachments
	period := categories.attachments.period
	some i, a in records
	a.ticket_status == "closed"
	a.ticket_closed_at <= lim
	a.held == false
	a.dispute_status != "open"
}

# METADATA
# title: Expired attachments under a legal hold are kept
# custom:
#   id: attachments.legal_hold
#   category: attachments
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: Supporting documents needed for a legal claim are kept, restricted.
#     fr: Les justificatifs nécessaires à une action en justice sont conservés, avec un accès restreint.
decisions contains {
	"category": "attachments", "i": i, "action": "keep", "rule": "attachments.legal_hold",
	"reason": concat("", ["attachment past its retention period but ", hold_reason]),
	"held": true, "from": a.ticket_closed_at, "period": period,
} if {
	records := input.records.attachments
	lim := limit.attachments
	period := categories.attachments.period
	some i, a in records
	a.ticket_status == "closed"
	a.ticket_closed_at <= lim
	a.held == true
}

# METADATA
# title: Expired attachments of an open transaction dispute are kept
# custom:
#   id: attachments.open_dispute
#   category: attachments
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: Supporting documents of a transaction still in dispute are kept, restricted.
#     fr: Les justificatifs d'une transaction encore en litige sont conservés, avec un accès restreint.
decisions contains {
	"category": "attachments", "i": i, "action": "keep", "rule": "attachments.open_dispute",
	"reason": concat("", ["attachment past its retention period but ", dispute_reason]),
	"held": true, "from": a.ticket_closed_at, "period": period,
} if {
	records := input.records.attachments
	lim := limit.attachments
	period := categories.attachments.period
	some i, a in records
	a.ticket_status == "closed"
	a.ticket_closed_at <= lim
	a.held == false
	a.dispute_status == "open"
}

# ---------------------------------------------------------------------------
# Subjects: contact and account data
# ---------------------------------------------------------------------------

# remains: the subjects (positions) of which something remains after this run: a ticket that
# is open, disputed, held or still within its period (or whose closure
# date is unknown), or an account event still within its period.
remains := {i |
	some i, s in input.records.subjects
	subject_remains(s)
}

subject_remains(s) if s.open_tickets > 0

subject_remains(s) if s.disputes_open > 0

subject_remains(s) if s.held_tickets > 0

subject_remains(s) if {
	s.tickets > 0
	s.latest_ticket_closed_at > limit.tickets
}

subject_remains(s) if {
	s.tickets > 0
	not s.latest_ticket_closed_at
}

subject_remains(s) if s.latest_event_at > limit.account_events

# METADATA
# title: Subjects with an open account are kept
# custom:
#   id: subjects.active
#   category: subjects
#   action: keep
#   wording:
#     en: The contact data of a user whose account is open is kept.
#     fr: Les coordonnées d'un utilisateur dont le compte est ouvert sont conservées.
decisions contains {
	"category": "subjects", "i": i, "action": "keep", "rule": "subjects.active",
	"reason": "account still open: the retention clock starts at its closure",
	"held": false,
} if {
	some i, s in input.records.subjects
	not s.account_closed_at
}

# METADATA
# title: Subjects within three years of account closure are kept
# custom:
#   id: subjects.retained
#   category: subjects
#   action: keep
#   wording:
#     en: Contact data is kept three years after the account is closed.
#     fr: Les coordonnées sont conservées trois ans après la fermeture du compte.
decisions contains {
	"category": "subjects", "i": i, "action": "keep", "rule": "subjects.retained",
	"reason": sprintf("account closed less than %s ago", [period_label_en(period)]),
	"held": false, "from": s.account_closed_at, "period": period,
} if {
	records := input.records.subjects
	lim := limit.subjects
	period := categories.subjects.period
	some i, s in records
	s.account_closed_at > lim
}

# METADATA
# title: Subjects under a legal hold are kept
# custom:
#   id: subjects.legal_hold
#   category: subjects
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: The contact data of a user concerned by a legal claim is kept, restricted, until the hold is released.
#     fr: Les coordonnées d'un utilisateur concerné par une action en justice sont conservées, avec un accès restreint, jusqu'à la levée du gel.
decisions contains {
	"category": "subjects", "i": i, "action": "keep", "rule": "subjects.legal_hold",
	"reason": concat("", ["account closed more than 3 years ago but ", hold_reason]),
	"held": true, "from": s.account_closed_at, "period": period,
} if {
	records := input.records.subjects
	lim := limit.subjects
	period := categories.subjects.period
	some i, s in records
	s.account_closed_at <= lim
	s.held == true
}

# METADATA
# title: Subjects with nothing left are deleted
# description: Three years after account closure, when none of the subject's tickets or account events remains after this run, the subject's contact data (with its statistics and objections) is deleted.
# custom:
#   id: subjects.expired
#   category: subjects
#   action: delete
#   legal_basis: Art. 5(1)(e) and 17(1)(a) GDPR
#   wording:
#     en: Three years after the account is closed, once nothing else of the user remains, the user's contact data is deleted.
#     fr: Trois ans après la fermeture du compte, lorsqu'il ne reste plus rien d'autre de l'utilisateur, ses coordonnées sont supprimées.
decisions contains {
	"category": "subjects", "i": i, "action": "delete", "rule": "subjects.expired",
	"reason": sprintf("account closed more than %s ago and nothing of the subject remains", [period_label_en(period)]),
	"held": false, "from": s.account_closed_at, "period": period,
} if {
	records := input.records.subjects
	lim := limit.subjects
	period := categories.subjects.period
	some i, s in records
	s.account_closed_at <= lim
	s.held == false
	not remains[i]
}

# METADATA
# title: Subjects whose tickets remain are anonymised
# description: Three years after account closure, when some of the subject's tickets or events must still be kept, the e-mail and pseudo are replaced by pseudonyms so that what remains no longer identifies the subject directly.
# custom:
#   id: subjects.anonymize
#   category: subjects
#   action: anonymize
#   legal_basis: Art. 5(1)(c) and (e) GDPR
#   wording:
#     en: When the user's requests must still be kept, the user's e-mail address and pseudo are replaced by pseudonyms.
#     fr: Lorsque les demandes de l'utilisateur doivent encore être conservées, son adresse électronique et son pseudo sont remplacés par des pseudonymes.
decisions contains {
	"category": "subjects", "i": i, "action": "anonymize", "rule": "subjects.anonymize",
	"reason": sprintf("account closed more than %s ago; some of the subject's tickets or events must still be kept", [period_label_en(period)]),
	"held": false, "from": s.account_closed_at, "period": period,
} if {
	records := input.records.subjects
	lim := limit.subjects
	period := categories.subjects.period
	some i, s in records
	s.account_closed_at <= lim
	s.held == false
	remains[i]
	not s.anonymized == true
}

# METADATA
# title: Anonymised subjects whose tickets remain are kept as they are
# custom:
#   id: subjects.anonymized
#   category: subjects
#   action: keep
#   wording:
#     en: A pseudonymised user record stays until the user's last request is deleted.
#     fr: Une fiche utilisateur pseudonymisée est conservée jusqu'à la suppression de sa dernière demande.
decisions contains {
	"category": "subjects", "i": i, "action": "keep", "rule": "subjects.anonymized",
	"reason": "already anonymised; deleted once none of the subject's tickets or events remains",
	"held": false, "from": s.account_closed_at, "period": period,
} if {
	records := input.records.subjects
	lim := limit.subjects
	period := categories.subjects.period
	some i, s in records
	s.account_closed_at <= lim
	s.held == false
	remains[i]
	s.anonymized == true
}

# ---------------------------------------------------------------------------
# Account events, per-subject statistics: one period, stopped by a hold
# ---------------------------------------------------------------------------

# The clock of each of these categories.
simple := {"account_events": "at", "subject_stats": "computed_at"}

# METADATA
# title: Account events and per-user statistics within their period are kept
# custom:
#   id: simple.retained
#   action: keep
#   wording:
#     en: Account events are kept three years, per-user statistics thirteen months.
#     fr: L'historique du compte est conservé trois ans, les statistiques par utilisateur treize mois.
decisions contains {
	"category": cat, "i": i, "action": "keep", "rule": rule_id,
	"reason": "within its retention period",
	"held": false, "from": r[col], "period": period,
} if {
	some cat, col in simple
	records := input.records[cat]
	lim := limit[cat]
	period := categories[cat].period
	rule_id := concat(".", [cat, "retained"])
	some i, r in records
	r[col] > lim
}

# METADATA
# title: Account events (3 years) and per-user statistics (13 months) are deleted
# custom:
#   id: simple.expired
#   action: delete
#   legal_basis: Art. 5(1)(e) GDPR
#   wording:
#     en: Account events are deleted three years after they happened, per-user statistics thirteen months after they were computed.
#     fr: Les événements du compte sont supprimés trois ans après leur date, les statistiques par utilisateur treize mois après leur calcul.
decisions contains {
	"category": cat, "i": i, "action": "delete", "rule": rule_id,
	"reason": "past its retention period",
	"held": false, "from": r[col], "period": period,
} if {
	some cat, col in simple
	records := input.records[cat]
	lim := limit[cat]
	period := categories[cat].period
	rule_id := concat(".", [cat, "expired"])
	some i, r in records
	r[col] <= lim
	r.held == false
}

# METADATA
# title: Expired account events and statistics under a legal hold are kept
# custom:
#   id: simple.legal_hold
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: Data concerned by a legal claim is kept, restricted, until the hold is released.
#     fr: Les données concernées par une action en justice sont conservées, avec un accès restreint, jusqu'à la levée du gel.
decisions contains {
	"category": cat, "i": i, "action": "keep", "rule": rule_id,
	"reason": concat("", ["past its retention period but ", hold_reason]),
	"held": true, "from": r[col], "period": period,
} if {
	some cat, col in simple
	records := input.records[cat]
	lim := limit[cat]
	period := categories[cat].period
	rule_id := concat(".", [cat, "legal_hold"])
	some i, r in records
	r[col] <= lim
	r.held == true
}

# ---------------------------------------------------------------------------
# Per-agent daily statistics: anonymised after 13 months, deleted after 5 years
# ---------------------------------------------------------------------------

# METADATA
# title: Recent per-agent statistics are kept
# custom:
#   id: agent_stats.retained
#   category: agent_stats
#   action: keep
#   wording:
#     en: Named per-agent figures are kept thirteen months.
#     fr: Les statistiques nominatives par conseiller sont conservées treize mois.
decisions contains {
	"category": "agent_stats", "i": i, "action": "keep", "rule": "agent_stats.retained",
	"reason": sprintf("less than %s old", [period_label_en(period)]),
	"held": false, "from": r.day_start, "period": period,
} if {
	records := input.records.agent_stats
	lim := limit.agent_stats
	period := categories.agent_stats.period
	some i, r in records
	r.day_start > lim
}

# METADATA
# title: Per-agent statistics are anonymised after 13 months
# custom:
#   id: agent_stats.anonymize
#   category: agent_stats
#   action: anonymize
#   legal_basis: Art. 5(1)(c) and (e) GDPR
#   wording:
#     en: After thirteen months the agent's identifier is removed from the daily figures.
#     fr: Après treize mois, l'identifiant du conseiller est retiré des statistiques quotidiennes.
decisions contains {
	"category": "agent_stats", "i": i, "action": "anonymize", "rule": "agent_stats.anonymize",
	"reason": sprintf("more than %s old: the agent is no longer named", [period_label_en(period)]),
	"held": false, "from": r.day_start, "period": period,
} if {
	records := input.records.agent_stats
	lim := limit.agent_stats
	delete_lim := agent_delete_limit
	period := categories.agent_stats.period
	some i, r in records
	r.day_start <= lim
	r.day_start > delete_lim
	r.anonymized == false
}

# METADATA
# title: Anonymised per-agent statistics are kept five years
# custom:
#   id: agent_stats.anonymized
#   category: agent_stats
#   action: keep
#   wording:
#     en: Anonymised daily figures are kept five years.
#     fr: Les statistiques quotidiennes anonymisées sont conservées cinq ans.
decisions contains {
	"category": "agent_stats", "i": i, "action": "keep", "rule": "agent_stats.anonymized",
	"reason": sprintf("anonymised; deleted %s after the day", [period_label_en(then_period)]),
	"held": false, "from": r.day_start, "period": then_period,
} if {
	records := input.records.agent_stats
	lim := limit.agent_stats
	delete_lim := agent_delete_limit
	then_period := categories.agent_stats.then.period
	some i, r in records
	r.day_start <= lim
	r.day_start > delete_lim
	r.anonymized == true
}

# METADATA
# title: Per-agent statistics are deleted after five years
# custom:
#   id: agent_stats.expired
#   category: agent_stats
#   action: delete
#   legal_basis: Art. 5(1)(e) GDPR
#   wording:
#     en: Daily figures are deleted five years after the day.
#     fr: Les statistiques quotidiennes sont supprimées cinq ans après le jour concerné.
decisions contains {
	"category": "agent_stats", "i": i, "action": "delete", "rule": "agent_stats.expired",
	"reason": sprintf("more than %s old", [period_label_en(then_period)]),
	"held": false, "from": r.day_start, "period": then_period,
} if {
	records := input.records.agent_stats
	delete_lim := agent_delete_limit
	then_period := categories.agent_stats.then.period
	some i, r in records
	r.day_start <= delete_lim
}

# ---------------------------------------------------------------------------
# Register of data-subject requests
# ---------------------------------------------------------------------------

# METADATA
# title: Open data-subject requests are kept
# custom:
#   id: dsr_requests.open
#   category: dsr_requests
#   action: keep
#   wording:
#     en: A request being handled is kept.
#     fr: Une demande en cours de traitement est conservée.
decisions contains {
	"category": "dsr_requests", "i": i, "action": "keep", "rule": "dsr_requests.open",
	"reason": "request not closed: the retention clock starts at closure",
	"held": false,
} if {
	some i, r in input.records.dsr_requests
	not r.closed_at
}

# METADATA
# title: Closed requests are kept five years
# custom:
#   id: dsr_requests.retained
#   category: dsr_requests
#   action: keep
#   wording:
#     en: The register keeps a closed request five years, as proof of compliance.
#     fr: Le registre conserve une demande clôturée cinq ans, pour prouver la conformité.
decisions contains {
	"category": "dsr_requests", "i": i, "action": "keep", "rule": "dsr_requests.retained",
	"reason": sprintf("closed less than %s ago: kept as proof of compliance", [period_label_en(period)]),
	"held": false, "from": r.closed_at, "period": period,
} if {
	records := input.records.dsr_requests
	lim := limit.dsr_requests
	period := categories.dsr_requests.period
	some i, r in records
	r.closed_at > lim
}

# METADATA
# title: Closed requests are deleted after five years
# custom:
#   id: dsr_requests.expired
#   category: dsr_requests
#   action: delete
#   legal_basis: Art. 5(1)(e) GDPR
#   wording:
#     en: Five years after its closure a request is removed from the register.
#     fr: Cinq ans après sa clôture, une demande est retirée du registre.
decisions contains {
	"category": "dsr_requests", "i": i, "action": "delete", "rule": "dsr_requests.expired",
	"reason": sprintf("closed more than %s ago", [period_label_en(period)]),
	"held": false, "from": r.closed_at, "period": period,
} if {
	records := input.records.dsr_requests
	lim := limit.dsr_requests
	period := categories.dsr_requests.period
	some i, r in records
	r.closed_at <= lim
}

# ---------------------------------------------------------------------------
# Legal holds
# ---------------------------------------------------------------------------

# hold_end[i]: when hold i ended: its release, or its planned end once that
# has passed.
hold_end := {i: end |
	some i, h in input.records.legal_holds
	end := ended(h)
}

ended(h) := h.released_at

ended(h) := h.until if {
	not h.released_at
	h.until <= input.now_ms
}

# METADATA
# title: Active legal holds are kept
# custom:
#   id: legal_holds.active
#   category: legal_holds
#   action: keep
#   wording:
#     en: A hold in force is kept.
#     fr: Un gel en vigueur est conservé.
decisions contains {
	"category": "legal_holds", "i": i, "action": "keep", "rule": "legal_holds.active",
	"reason": "hold in force",
	"held": false,
} if {
	some i, _ in input.records.legal_holds
	not hold_end[i]
}

# METADATA
# title: Released legal holds are kept five years
# custom:
#   id: legal_holds.retained
#   category: legal_holds
#   action: keep
#   wording:
#     en: A released hold is kept five years after its release.
#     fr: Un gel levé est conservé cinq ans après sa levée.
decisions contains {
	"category": "legal_holds", "i": i, "action": "keep", "rule": "legal_holds.retained",
	"reason": sprintf("released less than %s ago", [period_label_en(categories.legal_holds.period)]),
	"held": false, "from": end, "period": categories.legal_holds.period,
} if {
	some i, end in hold_end
	end > limit.legal_holds
}

# METADATA
# title: Released legal holds are deleted after five years
# custom:
#   id: legal_holds.expired
#   category: legal_holds
#   action: delete
#   legal_basis: Art. 5(1)(e) GDPR
#   wording:
#     en: Five years after its release a hold is deleted.
#     fr: Cinq ans après sa levée, un gel est supprimé.
decisions contains {
	"category": "legal_holds", "i": i, "action": "delete", "rule": "legal_holds.expired",
	"reason": sprintf("released more than %s ago", [period_label_en(categories.legal_holds.period)]),
	"held": false, "from": end, "period": categories.legal_holds.period,
} if {
	some i, end in hold_end
	end <= limit.legal_holds
}

# ---------------------------------------------------------------------------
# Audit trail
# ---------------------------------------------------------------------------

# METADATA
# title: Audit entries are kept six years
# custom:
#   id: audit_log.retained
#   category: audit_log
#   action: keep
#   wording:
#     en: The audit trail keeps an entry six years.
#     fr: Le journal d'audit conserve une entrée six ans.
decisions contains {
	"category": "audit_log", "i": i, "action": "keep", "rule": "audit_log.retained",
	"reason": sprintf("less than %s old", [period_label_en(period)]),
	"held": false, "from": r.at, "period": period,
} if {
	records := input.records.audit_log
	lim := limit.audit_log
	period := categories.audit_log.period
	some i, r in records
	r.at > lim
}

# METADATA
# title: Audit entries are pruned after six years
# description: Pruned from the oldest, keeping the hash chain verifiable from an anchor.
# custom:
#   id: audit_log.expired
#   category: audit_log
#   action: delete
#   legal_basis: Art. 5(1)(e) GDPR
#   wording:
#     en: Audit entries older than six years are removed, oldest first.
#     fr: Les entrées du journal d'audit de plus de six ans sont supprimées, les plus anciennes d'abord.
decisions contains {
	"category": "audit_log", "i": i, "action": "delete", "rule": "audit_log.expired",
	"reason": sprintf("more than %s old", [period_label_en(period)]),
	"held": false, "from": r.at, "period": period,
} if {
	records := input.records.audit_log
	lim := limit.audit_log
	period := categories.audit_log.period
	some i, r in records
	r.at <= lim
}

# ---------------------------------------------------------------------------
# SQL pre-filters and the schedule document
# ---------------------------------------------------------------------------

# Days of slack added to the SQL pre-filters, on top of the exact limit.
margin_days := 1

# cutoffs[cat]: a record whose clock is on or after `before` cannot be
# decided delete or anonymise now (shortest period of the category), so the
# store may skip it.
cutoffs[cat] := {
	"column": e.clock,
	"before": (limit[cat] + 1) + (margin_days * 86400000),
	"null_is_candidate": object.get(e, "null_is_candidate", false),
} if {
	some cat, e in categories
	e.clock
}

# schedule: the retention schedule, in the order legal reads it.
schedule := [entry |
	some order in sort([e.order | some e in categories])
	some cat, e in categories
	e.order == order
	entry := schedule_entry(cat, e)
]

schedule_entry(cat, e) := object.union(
	{
		"category": cat,
		"title": e.title,
		"goes_with": e.goes_with,
		"legal_basis": e.legal_basis,
		"justification": e.justification,
		"clock": "",
		"action": "",
		"stops": [],
	},
	{"clock_label": categories[e.goes_with].clock_label},
) if {
	e.goes_with
}

schedule_entry(cat, e) := object.union(
	{
		"category": cat,
		"title": e.title,
		"clock": e.clock,
		"clock_label": e.clock_label,
		"period": e.period,
		"period_label": calendar.label(e.period),
		"stops": e.stops,
		"action": e.action,
		"legal_basis": e.legal_basis,
		"justification": e.justification,
	},
	then_entry(e),
) if {
	not e.goes_with
}

then_entry(e) := {"then": {
	"period": e.then.period,
	"period_label": calendar.label(e.then.period),
	"action": e.then.action,
}} if {
	e.then
}

then_entry(e) := {} if not e.then
