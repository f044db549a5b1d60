# METADATA
# title: Data-subject requests
# description: |
#   Deadlines for answering data-subject requests (Art. 12(3) GDPR) and the
#   information an access request must give (Art. 15(1)). Contact details
#   and links marked https://example.invalid/ are placeholders that the
#   controller must fill in before going live.
# custom:
#   wording:
#     en: You may exercise your rights of access, rectification, objection and erasure.
#     fr: Vous pouvez exercer vos droits d'accès, de rectification, d'opposition et de suppression.
package oubli.requests

import data.oubli.calendar
import data.oubli.purposes
import data.oubli.register
import data.oubli.retention

# The request types the register accepts.
request_types := {"access", "rectification", "objection", "erasure"}

# METADATA
# title: One month to answer, extendable once by two months
# description: |
#   A request is answered without undue delay and at the latest one month
#   after receipt. That period may be extended by two further months where
#   necessary, taking into account the complexity and number of requests;
#   the subject is told of the extension and its reasons within the first
#   month.
# custom:
#   id: requests.deadline
#   legal_basis: Art. 12(3) GDPR
#   wording:
#     en: We answer within one month of receiving your request; this period may be extended by two months, taking into account the complexity and number of requests, and we will tell you so within the first month.
#     fr: Nous répondons dans un délai d'un mois à compter de la réception de votre demande ; ce délai peut être prolongé de deux mois, compte tenu de la complexité et du nombre de demandes, et nous vous en informerons dans le premier mois.
deadline := {
	"due_ns": calendar.add_ns(input.received_ns, answer_period),
	"max_extended_ns": calendar.add_ns(input.received_ns, extended_period),
	"answer_period": answer_period,
	"extension": extension_period,
} if {
	input.type in request_types
}

answer_period := {"years": 0, "months": 1, "days": 0}

extension_period := {"years": 0, "months": 2, "days": 0}

extended_period := {"years": 0, "months": answer_period.months + extension_period.months, "days": 0}

# METADATA
# title: Controller and DPO
# description: Placeholders to be filled in by the controller (https://example.invalid/ and example.invalid addresses).
# custom:
#   id: requests.contacts
#   legal_basis: Art. 13(1)(a)-(b) and 15(1) GDPR
controller := {
	"name": "LBC France",
	"address": "TO BE FILLED BY THE CONTROLLER: postal address",
	"email": "privacy@example.invalid",
	"url": "https://example.invalid/contact",
}

dpo := {
	"name": "TO BE FILLED BY THE CONTROLLER: name of the Data Protection Officer of LBC France",
	"address": "TO BE FILLED BY THE CONTROLLER: postal address",
	"email": "dpo@example.invalid",
	"url": "https://example.invalid/dpo",
}

# The notice's three links ("cliquez ici"). Placeholders until the
# controller gives the real addresses.
links := [
	{
		"name": "retention",
		"label": {"fr": "La durée de conservation de vos données", "en": "How long your data is kept"},
		"url": "https://example.invalid/privacy/retention",
		"placeholder": true,
	},
	{
		"name": "dpo",
		"label": {"fr": "Les coordonnées du délégué à la protection des données", "en": "Contact details of the Data Protection Officer"},
		"url": "https://example.invalid/privacy/dpo",
		"placeholder": true,
	},
	{
		"name": "rights",
		"label": {"fr": "L'exercice de vos droits d'accès, de rectification, d'opposition, de suppression", "en": "Exercising your rights of access, rectification, objection and erasure"},
		"url": "https://example.invalid/privacy/rights",
		"placeholder": true,
	},
]

# Categories of personal data (Art. 15(1)(b)): the users' categories of the
# register (register.rego), as the privacy notice lists them; the account
# history is filed with the data about the request, as in the notice.
data_categories := [{"name": c.name, "label": c.label, "description": c.description} |
	some c in register.personal_data
	"users" in c.data_subjects
]

# METADATA
# title: Rights of the data subject
# custom:
#   id: requests.rights
#   legal_basis: Art. 15(1)(e)-(f), 77 GDPR
rights := [
	{"name": "access", "article": "15", "label": {"fr": "Droit d'accès", "en": "Right of access"}, "how": how},
	{"name": "rectification", "article": "16", "label": {"fr": "Droit de rectification", "en": "Right to rectification"}, "how": how},
	{"name": "erasure", "article": "17", "label": {"fr": "Droit à l'effacement", "en": "Right to erasure"}, "how": how},
	{"name": "restriction", "article": "18", "label": {"fr": "Droit à la limitation du traitement", "en": "Right to restriction of processing"}, "how": how},
	{"name": "portability", "article": "20", "label": {"fr": "Droit à la portabilité", "en": "Right to data portability"}, "how": how},
	{"name": "objection", "article": "21", "label": {"fr": "Droit d'opposition (statistiques)", "en": "Right to object (statistics)"}, "how": how},
	{
		"name": "complaint",
		"article": "77",
		"label": {"fr": "Droit d'introduire une réclamation auprès de la CNIL", "en": "Right to lodge a complaint with the CNIL"},
		"how": {
			"fr": "Commission nationale de l'informatique et des libertés, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07 — https://www.cnil.fr/fr/plaintes",
			"en": "CNIL (the French data protection authority), 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, France — https://www.cnil.fr/fr/plaintes",
		},
	},
]

how := {
	"fr": "Contactez le délégué à la protection des données (voir ses coordonnées) ; nous répondons sous un mois.",
	"en": "Contact the Data Protection Officer (see contact details); we answer within one month.",
}

# METADATA
# title: Information given with an access request
# description: Everything Art. 15(1) GDPR requires, rendered from these policies, in French and English.
# custom:
#   id: requests.information
#   legal_basis: Art. 15(1) GDPR
information := {
	"language": "fr",
	"controller": controller,
	"dpo": dpo,
	"purposes": purposes.purposes,
	"categories": data_categories,
	"recipients": purposes.recipients,
	"retention": retention.schedule,
	"rights": rights,
	"source": {
		"fr": "Vous-même, via le formulaire de contact du service client, et l'historique de votre compte.",
		"en": "You, through the customer-support contact form, and your account history.",
	},
	"links": links,
	"labels": labels,
}

# Section headings for renderers (exports, schedule).
labels := {
	"title": {"fr": "Vos données personnelles", "en": "Your personal data"},
	"controller": {"fr": "Responsable de traitement", "en": "Controller"},
	"dpo": {"fr": "Délégué à la protection des données", "en": "Data Protection Officer"},
	"purposes": {"fr": "Finalités et bases légales", "en": "Purposes and legal bases"},
	"categories": {"fr": "Catégories de données", "en": "Categories of data"},
	"recipients": {"fr": "Destinataires", "en": "Recipients"},
	"retention": {"fr": "Durées de conservation", "en": "Retention periods"},
	"rights": {"fr": "Vos droits", "en": "Your rights"},
	"source": {"fr": "Source des données", "en": "Source of the data"},
	"links": {"fr": "Pour en savoir plus", "en": "More information"},
	"placeholder": {"fr": "adresse à compléter par le responsable de traitement", "en": "address to be filled in by the controller"},
}
