# METADATA
# title: Purposes of processing, legal bases and recipients
# description: |
#   What the customer-support data is processed for, on which legal basis
#   (Art. 6 GDPR), who receives it, and whether a data subject may object
#   (Art. 21). The wording follows the privacy notice "Prise de contact avec
#   le service client".
# custom:
#   wording:
#     en: See the privacy notice, section "The controller, the recipients and the purpose of the collection of the data".
#     fr: Voir la politique de confidentialité, section « Le responsable de traitement, les destinataires et la finalité de la collecte des données ».
package oubli.purposes

# METADATA
# title: Recipients
# description: The controller's service providers, among them its parent company, which contribute administratively and technically to the purposes. Each has a stable id, the key of its delivery settings in the --recipients file (Art. 19 notifications).
# custom:
#   id: purposes.recipients
#   legal_basis: Art. 28 GDPR (processors); Art. 6(1)(f) for the parent company
#   wording:
#     en: This data is accessible to LBC France's service providers, among them Adevinta France (LBC France's parent company) on the basis of its legitimate interest, which contribute administratively and technically to these purposes.
#     fr: Ces données sont accessibles aux prestataires de LBC France, dont Adevinta France (société-mère de LBC France) sur la base de son intérêt légitime, qui concourent administrativement et techniquement à réaliser ces finalités.
recipients := [
	{
		"id": "adevinta_france",
		"name": {"en": "Adevinta France (parent company of LBC France)", "fr": "Adevinta France (société-mère de LBC France)"},
		"role": {
			"en": "service provider contributing administratively and technically to customer support and statistics",
			"fr": "prestataire concourant administrativement et techniquement au service client et aux statistiques",
		},
		"basis": {"en": "legitimate interest (Art. 6(1)(f) GDPR)", "fr": "intérêt légitime (art. 6(1)(f) du RGPD)"},
	},
	{
		"id": "processors",
		"name": {"en": "LBC France's service providers (processors)", "fr": "Prestataires de LBC France (sous-traitants)"},
		"role": {
			"en": "hosting, support tooling and maintenance, acting on LBC France's instructions",
			"fr": "hébergement, outils du service client et maintenance, sur instruction de LBC France",
		},
		"basis": {"en": "processing contract (Art. 28 GDPR)", "fr": "contrat de sous-traitance (art. 28 du RGPD)"},
	},
]

# METADATA
# title: Customer support
# description: Handling the contact request the user sent through the contact form.
# custom:
#   id: purposes.customer_support
#   legal_basis: Art. 6(1)(b) GDPR
#   justification: Answering a user's request is a step taken at the user's request within the contract of use of the service.
#   wording:
#     en: When you contact customer support through the contact form, LBC France collects and processes your identification, contact and account data and the data about your request.
#     fr: Lorsque vous contactez le service clients via le formulaire de contact, LBC France collecte et traite vos données d'identification, de contact et de compte et les données relatives à votre demande.
customer_support := {
	"name": "customer_support",
	"title": {"en": "Contacting customer support", "fr": "Prise de contact avec le service client"},
	"description": {
		"en": "Handling the contact request: identifying the user and the account, answering the request, keeping the exchange history and supporting documents.",
		"fr": "Traitement de la demande de contact : identification de l'utilisateur et du compte, réponse à la demande, conservation de l'historique des échanges et des justificatifs.",
	},
	"legal_basis": {
		"en": "Art. 6(1)(b) GDPR: contract, or steps taken at the request of the data subject prior to entering into a contract",
		"fr": "Art. 6(1)(b) du RGPD : exécution du contrat, ou mesures précontractuelles prises à la demande de la personne concernée",
	},
	"categories": ["subjects", "tickets", "messages", "attachments", "account_events"],
	"recipients": recipients,
	"objection": {
		"applies": false,
		"reason": {
			"en": "The right to object (Art. 21(1) GDPR) applies to processing based on Art. 6(1)(e) or (f); handling your contact request is based on Art. 6(1)(b) (steps taken at your request), so no objection can stop it. You may ask for erasure (Art. 17) instead.",
			"fr": "Le droit d'opposition (art. 21(1) du RGPD) s'applique aux traitements fondés sur l'art. 6(1)(e) ou (f) ; le traitement de votre demande de contact est fondé sur l'art. 6(1)(b) (mesures prises à votre demande) : une opposition ne peut donc pas l'arrêter. Vous pouvez en revanche demander l'effacement de vos données (art. 17).",
		},
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
#   wording:
#     en: On the basis of LBC France's legitimate interest in processing data to evaluate and train its customer support, we use your data to produce statistics and to compute your average response time to the messages sent to you.
#     fr: Sur la base de l'intérêt légitime de LBC France à traiter des données à des fins d'évaluation et de formation du service client, nous utilisons vos données pour réaliser des statistiques et calculer votre temps de réponse moyen aux messages qui vous sont envoyés.
statistics := {
	"name": "statistics",
	"title": {"en": "Statistics", "fr": "Réalisation de statistiques"},
	"description": {
		"en": "Evaluation and training of the support team; computing the user's average response time to the messages sent to them.",
		"fr": "Évaluation et formation du service client ; calcul du temps de réponse moyen de l'utilisateur aux messages qui lui sont envoyés.",
	},
	"legal_basis": {
		"en": "Art. 6(1)(f) GDPR: legitimate interest of LBC France in evaluating and training its customer-support team",
		"fr": "Art. 6(1)(f) du RGPD : intérêt légitime de LBC France à évaluer et former son service client",
	},
	"categories": ["subject_stats", "agent_stats"],
	"recipients": recipients,
	"objection": {
		"applies": true,
		"reason": {
			"en": "Statistics rest on LBC France's legitimate interest (Art. 6(1)(f)); on objection (Art. 21(1)) the user's average response time is deleted and no longer computed, and the user's tickets no longer count in the per-agent statistics.",
			"fr": "Les statistiques reposent sur l'intérêt légitime de LBC France (art. 6(1)(f)) ; en cas d'opposition (art. 21(1)), votre temps de réponse moyen est supprimé et n'est plus calculé, et vos demandes ne sont plus comptées dans les statistiques par conseiller.",
		},
		"stops": ["subject_stats", "agent_stats_contribution"],
	},
}

# purposes: every purpose, in the notice's order.
purposes := [customer_support, statistics]

# by_name[name] is one purpose.
by_name[p.name] := p if some p in purposes
