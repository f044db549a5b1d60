# METADATA
# title: Erasure (Art. 17 GDPR)
# description: |
#   What happens to each record of a data subject who asks for erasure.
#   Everything is deleted, except what Art. 17(3) allows or requires to keep:
#   tickets needed for legal claims (legal hold, open transaction dispute),
#   the register of requests (proof of compliance) and the audit trail
#   (keyed hashes only). What is kept is restricted (Art. 18) and its
#   identifiers are replaced by pseudonyms where the purpose allows.
# custom:
#   wording:
#     en: You may ask for your data to be erased; some of it may be kept where the law requires it or for the establishment, exercise or defence of legal claims.
#     fr: Vous pouvez demander la suppression de vos données ; certaines peuvent être conservées lorsque la loi l'exige ou pour la constatation, l'exercice ou la défense de droits en justice.
package oubli.erasure

held(r) if r.held == true

# A hold on one of a subject's tickets holds the subject's record too: the
# evidence keeps the identity it is about.
held(r) if r.held_tickets > 0

disputed(r) if r.dispute_status == "open"

disputed(r) if r.disputes_open > 0

verdict(cat, i, action, rule, reason, kept) := {
	"category": cat,
	"i": i,
	"action": action,
	"rule": rule,
	"reason": reason,
	"held": kept,
	"expires_at": 0,
}

# Categories of a subject's data that erasure deletes outright.
deleted := {"account_events", "subject_stats", "objections"}

# METADATA
# title: Records under a legal hold are kept unchanged and restricted
# description: A legal hold preserves evidence for a claim; nothing under it is altered or deleted until it is released.
# custom:
#   id: erasure.legal_hold
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR (establishment, exercise or defence of legal claims); Art. 18(2)
#   wording:
#     en: Data needed for the establishment, exercise or defence of legal claims is kept, with restricted access.
#     fr: Les données nécessaires à la constatation, à l'exercice ou à la défense de droits en justice sont conservées, avec un accès restreint.
decisions contains d if {
	some cat in {"subjects", "tickets", "attachments", "account_events", "subject_stats", "objections"}
	some i, r in input.records[cat]
	held(r)
	d := verdict(cat, i, "keep", "erasure.legal_hold", "kept and restricted: under a legal hold (Art. 17(3)(e) GDPR: establishment, exercise or defence of legal claims)", true)
}

# METADATA
# title: Tickets of an open transaction dispute are pseudonymised and kept
# custom:
#   id: erasure.open_dispute
#   action: anonymize
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: A request about a transaction still in dispute is kept for as long as the dispute lasts, without your contact details.
#     fr: Une demande liée à un litige en cours sur une transaction est conservée le temps du litige, sans vos coordonnées.
decisions contains d if {
	some i, t in input.records.tickets
	not held(t)
	disputed(t)
	d := verdict("tickets", i, "anonymize", "erasure.open_dispute", "kept, restricted and pseudonymised: its transaction dispute is open (Art. 17(3)(e) GDPR: legal claims)", true)
}

# METADATA
# title: Supporting documents of an open transaction dispute are kept
# custom:
#   id: erasure.open_dispute_attachment
#   action: keep
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: The supporting documents of a dispute in progress are kept for as long as the dispute lasts, with restricted access.
#     fr: Les justificatifs d'un litige en cours sont conservés le temps du litige, avec un accès restreint.
decisions contains d if {
	some i, a in input.records.attachments
	not held(a)
	disputed(a)
	d := verdict("attachments", i, "keep", "erasure.open_dispute_attachment", "kept and restricted: evidence in an open transaction dispute (Art. 17(3)(e) GDPR)", true)
}

# METADATA
# title: A subject with a disputed ticket is pseudonymised
# custom:
#   id: erasure.subject_pseudonymised
#   action: anonymize
#   legal_basis: Art. 17(3)(e) GDPR
#   wording:
#     en: Where some of your requests must be kept, your e-mail address and username are replaced by pseudonyms.
#     fr: Lorsque certaines de vos demandes doivent être conservées, votre adresse électronique et votre pseudo sont remplacés par des pseudonymes.
decisions contains d if {
	some i, s in input.records.subjects
	not held(s)
	disputed(s)
	d := verdict("subjects", i, "anonymize", "erasure.subject_pseudonymised", "e-mail and pseudo replaced by pseudonyms; kept restricted while a transaction dispute is open (Art. 17(3)(e) GDPR)", true)
}

# METADATA
# title: Everything else of the subject is deleted
# custom:
#   id: erasure.delete
#   action: delete
#   legal_basis: Art. 17(1) GDPR
#   wording:
#     en: Your other data is deleted.
#     fr: Vos autres données sont supprimées.
decisions contains d if {
	some cat in {"subjects", "tickets", "attachments"}
	some i, r in input.records[cat]
	not held(r)
	not disputed(r)
	d := verdict(cat, i, "delete", "erasure.delete", "erased at the subject's request (Art. 17(1) GDPR)", false)
}

decisions contains d if {
	some cat in deleted
	some i, r in input.records[cat]
	not held(r)
	d := verdict(cat, i, "delete", "erasure.delete", "erased at the subject's request (Art. 17(1) GDPR)", false)
}

# METADATA
# title: The register of requests is kept, pseudonymised
# description: The request record proves the request was received and answered; the subject's identifier is cleared and only its keyed hash stays.
# custom:
#   id: erasure.dsr_register
#   action: anonymize
#   legal_basis: Art. 5(2) and 17(3)(b) GDPR (legal obligation; accountability)
#   wording:
#     en: A record of your request is kept, without your contact details, to prove that it was handled.
#     fr: La trace de votre demande est conservée pour prouver qu'elle a été traitée, sans vos coordonnées.
decisions contains d if {
	some i, _ in input.records.dsr_requests
	d := verdict("dsr_requests", i, "anonymize", "erasure.dsr_register", "kept as proof of compliance (Art. 5(2), 17(3)(b) GDPR), identifiers pseudonymised", false)
}

# METADATA
# title: Audit entries are kept
# description: The audit trail holds keyed hashes only, never an identifier in clear.
# custom:
#   id: erasure.audit_log
#   action: keep
#   legal_basis: Art. 5(2) and 17(3)(b) GDPR
#   wording:
#     en: The audit trail, which holds only keyed hashes, is kept.
#     fr: Le journal d'audit, qui ne contient que des empreintes chiffrées, est conservé.
decisions contains d if {
	some i, _ in input.records.audit_log
	d := verdict("audit_log", i, "keep", "erasure.audit_log", "kept: holds keyed hashes only, as proof of compliance (Art. 5(2) GDPR)", false)
}
