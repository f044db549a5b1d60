# METADATA
# title: Purposes of processing, legal bases and recipients
# description: |
#   What the customer-support data is processed for, on which legal basis
#   (Art. 6 GDPR), who receives it, and whether a data subject may object
#   (Art. 21). The wording follows the privacy notice "Prise de contact avec
#   le service client".
# custom:
#   wording: See the privacy notice, section "Le responsable de traitement, les destinataires et la finalité de la collecte des données".
package oubli.purposes

# METADATA
# title: Recipients
# description: The controller's service providers, among them its parent company, which contribute administratively and technically to the purposes. Each has a stable id, the key of its delivery settings in the --recipients file (Art. 19 notifications).
# custom:
#   id: purposes.recipients
#   legal_basis: Art. 28 GDPR (processors); Art. 6(1)(f) for the parent company
#   wording: Ces données sont accessibles aux prestataires de LBC France, dont Adevinta France (société-mère de LBC France) sur la base de son intérêt légitime, qui concourent administrativement et techniquement à réaliser ces finalités.
recipients := [
	{
		"id": "adevinta_france",
		"name": "Adevinta France (parent company of LBC France)",
		"role": "service provider contributing administratively and technically to customer support and statistics",
		"basis": "legitimate interest (Art. 6(1)(f) GDPR)",
	},
	{
		"id": "processors",
		"name": "LBC France's service providers (processors)",
		"role": "hosting, support tooling and maintenance, acting on LBC France's instructions",
		"basis": "processing contract (Art. 28 GDPR)",
	},
]

# METADATA
# title: Customer support
# description: Handling the contact request the user sent through the contact form.
# custom:
#   id: purposes.customer_support
#   legal_basis: Art. 6(1)(b) GDPR
#   justification: Answering a user's request is a step taken at the user's request within the contract of use of the service.
#   wording: Lorsque vous contactez le service clients via le formulaire de contact, LBC France collecte et traite les informations suivantes…
customer_support := {
	"name": "customer_support",
	"title": "Prise de contact avec le service client / Contacting customer support",
	"description": "Handling the contact request: identifying the user and the account, answering the request, keeping the exchange history and supporting documents.",
	"legal_basis": "Art. 6(1)(b) GDPR: contract, or steps taken at the request of the data subject prior to entering into a contract",
	"categories": ["subjects", "tickets", "messages", "attachments", "account_events"],
	"recipients": recipients,
	"objection": {
		"applies": false,
		"reason": "The right to object (Art. 21(1) GDPR) applies to processing based on Art. 6(1)(e) or (f); handling your contact request is based on Art. 6(1)(b) (steps taken at your request), so no objection can stop it. You may ask for erasure (Art. 17) instead.",
		"stops": [],
	},
}

# METADATA
# title: Statistics
# description: Statistics for the evaluation and training of the support team, and a user's average response time to the messages sent to them.
# custom:
#   id: purposes.statistics
#   legal_basis: Art. 6(1)(f) GDPR
#   justification: LBC France's legitimate interest in evaluating and training its customer-support team; the objection stops it for the objecting user.
#   wording: Sur la base de l'intérêt légitime de LBC France à traiter des données à des fins d'évaluation et de formation du service client, nous utilisons vos données pour réaliser des statistiques et calculer votre temps de réponse moyen aux messages qui vous sont envoyés.
statistics := {
	"name": "statistics",
	"title": "Réalisation de statistiques / Statistics",
	"description": "Evaluation and training of the support team; computing the user's average response time to the messages sent to them.",
	"legal_basis": "Art. 6(1)(f) GDPR: legitimate interest of LBC France in evaluating and training its customer-support team",
	"categories": ["subject_stats", "agent_stats"],
	"recipients": recipients,
	"objection": {
		"applies": true,
		"reason": "Statistics rest on LBC France's legitimate interest (Art. 6(1)(f)); on objection (Art. 21(1)) the user's average response time is deleted and no longer computed, and the user's tickets no longer count in the per-agent statistics.",
		"stops": ["subject_stats", "agent_stats_contribution"],
	},
}

# purposes: every purpose, in the notice's order.
purposes := [customer_support, statistics]

# by_name[name] is one purpose.
by_name[p.name] := p if some p in purposes
