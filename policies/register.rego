# METADATA
# title: Register of processing (Art. 30 GDPR)
# description: |
#   What the register of processing says beyond the retention schedule
#   (retention.rego) and the purposes, legal bases and recipients
#   (purposes.rego): the categories of data subjects and of personal data,
#   transfers outside the European Union, where the security measures are
#   described, and the records kept outside the store (the erasure ledger
#   and the backups), each with its own retention and justification.
#   `oubli policy schedule` renders it; nothing of it is written in Go.
# custom:
#   wording:
#     en: The register of processing lists who the data is about, what data is kept, for how long, who receives it and where it goes.
#     fr: Le registre des traitements indique sur qui portent les données, quelles données sont conservées, pendant combien de temps, qui les reçoit et où elles sont transférées.
package oubli.register

import data.oubli.calendar

# METADATA
# title: Categories of data subjects
# description: |
#   Whom the customer-support data is about. Users contact customer support.
#   Support agents are data subjects too: the per-agent daily statistics
#   (agent_stats) name them for thirteen months, and each answer records the
#   agent who wrote it. The people who run oubli are named, as actors, in the
#   audit trail.
# custom:
#   id: register.data_subjects
#   legal_basis: Art. 30(1)(c) GDPR
#   justification: Every person the store holds data about is listed, not only the users who write to customer support, so that the agents' and operators' data has a period and a basis too.
#   wording:
#     en: The data concerns the users who contact customer support, the support agents who answer them and the staff who operate the tool.
#     fr: Les données concernent les utilisateurs qui contactent le service client, les conseillers qui leur répondent et le personnel qui exploite l'outil.
data_subjects := [
	{
		"name": "users",
		"label": {"en": "Users who contact customer support", "fr": "Utilisateurs qui contactent le service client"},
		"data": ["identification", "request", "statistics", "rights_requests"],
	},
	{
		"name": "agents",
		"label": {"en": "Customer-support agents", "fr": "Conseillers du service client"},
		"data": ["agent_activity"],
	},
	{
		"name": "operators",
		"label": {"en": "Staff operating oubli (DPO, support and IT staff)", "fr": "Personnel exploitant oubli (DPO, service client, informatique)"},
		"data": ["operator_actions"],
	},
]

# METADATA
# title: Categories of personal data
# description: |
#   The categories of personal data, whom they concern and the store
#   categories (retention schedule) that hold them. The users' categories
#   follow the privacy notice, which files the account history ("historique
#   du compte") with the data about the request: so does this list. The
#   account history keeps its own period (account_events, three years from
#   each event) rather than the tickets' five years from closure: see the
#   justification of that category in retention.rego.
# custom:
#   id: register.personal_data
#   legal_basis: Art. 30(1)(c) GDPR; Art. 15(1)(b)
#   justification: The categories are those of the privacy notice, so that the register, the notice and the access export (requests.information, which takes the users' categories from here) say the same.
#   wording:
#     en: 'We process your identification, contact and account data, the data about your request (including your account history) and your average response time.'
#     fr: 'Nous traitons vos données d''identification, de contact et de compte, les données relatives à votre demande (y compris l''historique de votre compte) et votre temps de réponse moyen.'
personal_data := [
	{
		"name": "identification",
		"data_subjects": ["users"],
		"label": {"fr": "Données d'identification, de contact et de compte", "en": "Identification, contact and account data"},
		"description": {"fr": "Adresse électronique, pseudo d'utilisateur, numéro d'identifiant utilisateur.", "en": "E-mail address, username, user id number."},
		"stored_in": ["subjects"],
	},
	{
		"name": "request",
		"data_subjects": ["users"],
		"label": {"fr": "Données relatives à votre demande", "en": "Data about your request"},
		"description": {
			"fr": "Numéro de demande, objet et description (y compris les éléments relatifs à la transaction concernée), documents et justificatifs joints, historique des échanges avec le service clients, historique du compte.",
			"en": "Request number, subject and description (including the transaction concerned), attached documents, history of the exchanges with customer support, account history.",
		},
		"stored_in": ["tickets", "messages", "attachments", "account_events"],
	},
	{
		"name": "statistics",
		"data_subjects": ["users"],
		"label": {"fr": "Statistiques", "en": "Statistics"},
		"description": {"fr": "Votre temps de réponse moyen aux messages qui vous sont envoyés.", "en": "Your average response time to the messages sent to you."},
		"stored_in": ["subject_stats"],
	},
	{
		"name": "rights_requests",
		"data_subjects": ["users"],
		"label": {"fr": "Vos demandes d'exercice de droits", "en": "Your data-protection requests"},
		"description": {
			"fr": "Type, dates, suite donnée et motif d'un refus de vos demandes d'accès, de rectification, d'opposition et d'effacement ; vos oppositions ; les gels pour contentieux qui vous concernent.",
			"en": "Type, dates, outcome and reason for any refusal of your requests for access, rectification, objection and erasure; your objections; the legal holds that concern you.",
		},
		"stored_in": ["dsr_requests", "objections", "legal_holds"],
	},
	{
		"name": "agent_activity",
		"data_subjects": ["agents"],
		"label": {"fr": "Activité des conseillers", "en": "Agents' activity"},
		"description": {
			"fr": "Identifiant du conseiller ; par jour, nombre de demandes traitées, de premières réponses et temps moyen de première réponse ; auteur de chaque réponse.",
			"en": "The agent's identifier; per day, the number of requests handled, of first responses and the average first-response time; the author of each answer.",
		},
		"stored_in": ["agent_stats", "messages"],
	},
	{
		"name": "operator_actions",
		"data_subjects": ["operators"],
		"label": {"fr": "Actions des opérateurs", "en": "Operators' actions"},
		"description": {
			"fr": "Nom de la personne qui a agi (option --actor ou nom d'utilisateur du système), avec la date et la nature de l'action.",
			"en": "Name of the person who acted (--actor, or the operating-system user name), with the date and kind of action.",
		},
		"stored_in": ["audit_log"],
	},
]

# METADATA
# title: Transfers outside the European Union
# description: |
#   Transfers of personal data to a third country or an international
#   organisation (Art. 30(1)(e), 44-49 GDPR). There are none: the recipients
#   (purposes.recipients) are LBC France's parent company, established in
#   France, and its processors, bound by their contract (Art. 28) to process
#   the data in the European Economic Area. A transfer would be listed in
#   `third_countries` as {"recipient", "country", "safeguard"} (the safeguard
#   of Art. 45-46, such as an adequacy decision or standard contractual
#   clauses) before any data leaves the EEA.
# custom:
#   id: register.transfers
#   legal_basis: Art. 30(1)(e) and 44-49 GDPR
#   justification: The register must name every transfer outside the EU and its safeguard, or say that there is none.
#   wording:
#     en: Your data is not transferred outside the European Economic Area.
#     fr: Vos données ne sont pas transférées en dehors de l'Espace économique européen.
transfers := {
	"third_countries": [],
	"none": {
		"en": "None: the recipients are established in, and process the data in, the European Economic Area.",
		"fr": "Aucun : les destinataires sont établis dans l'Espace économique européen et y traitent les données.",
	},
}

# METADATA
# title: Security measures
# description: |
#   Where the technical and organisational security measures (Art. 32 GDPR)
#   are described. The controller's own document is a placeholder until the
#   controller names it; the measures oubli itself applies to this data are
#   described in its README.
# custom:
#   id: register.security
#   legal_basis: Art. 30(1)(g) and 32 GDPR
#   justification: The register gives a general description of the security measures; it points to the documents that describe them rather than copying them.
security := {
	"en": "Described in the controller's information-security policy (TO BE FILLED BY THE CONTROLLER: title and reference of the document) and, for what oubli does with this data, in oubli's README: \"The audit trail\" and \"Completeness: the anchor file and signed checkpoints\" (a tamper-evident trail holding keyed hashes only), \"Erasure\" and \"Backups and restores\" (erasure ledger, re-erasure after a restore), \"Running against PostgreSQL\" and \"Attachments in S3-compatible object storage\" (storage, encryption and access).",
	"fr": "Décrites dans la politique de sécurité de l'information du responsable de traitement (À COMPLÉTER PAR LE RESPONSABLE DE TRAITEMENT : titre et référence du document) et, pour ce qu'oubli fait de ces données, dans le README d'oubli : sections sur le journal d'audit et son ancrage (journal infalsifiable ne contenant que des empreintes chiffrées), sur l'effacement, les sauvegardes et les restaurations (journal des effacements, nouvel effacement après une restauration), sur PostgreSQL et sur le stockage objet des pièces jointes (stockage, chiffrement et accès).",
}

# METADATA
# title: Records kept outside the store
# description: |
#   The erasure ledger and the backups of the store hold personal data too,
#   outside the tables the retention run purges. They are entries of the
#   schedule with their own retention and justification. The ledger is what
#   keeps an erasure in force after a backup is restored: `oubli erase
#   --reapply` erases again every subject it names that the restored store
#   holds, and ingest refuses to import them again.
# custom:
#   id: register.outside_store
#   legal_basis: Art. 5(1)(e), 17(1) and 32(1)(c) GDPR
#   justification: A backup restored without the ledger would bring erased subjects back; a ledger pruned while a backup may still be restored would too. Their periods are therefore tied.
#   wording:
#     en: Backups of our systems are deleted after one month; when a backup is restored, the data of people who asked for erasure is erased again.
#     fr: Les sauvegardes de nos systèmes sont supprimées au bout d'un mois ; lorsqu'une sauvegarde est restaurée, les données des personnes ayant demandé leur effacement sont à nouveau effacées.
outside_store := [
	{
		"category": "erasure_ledger",
		"title": {
			"en": "Erasure ledger (keyed hashes of each erased subject's user id, e-mail address and username; no identifier)",
			"fr": "Journal des effacements (empreintes chiffrées de l'identifiant, de l'adresse électronique et du pseudo de chaque personne effacée ; aucun identifiant en clair)",
		},
		"clock": "",
		"clock_label": {"en": "the erasure", "fr": "l'effacement"},
		"period_label": {
			"en": "no fixed period: as long as a backup or an ingest source may still hold the subject",
			"fr": "pas de durée fixe : tant qu'une sauvegarde ou une source d'import peut encore contenir la personne",
		},
		"stops": [],
		"action": "keep",
		"legal_basis": "Art. 17(1) GDPR (the erasure must last) and Art. 5(2) (demonstrating it); Art. 6(1)(c)",
		"justification": "After any restore of a backup, `oubli erase --reapply` reads the ledger and erases again every subject it names that the store holds again; ingest refuses to import them again (unless --allow-erased). It holds keyed hashes only, which match nothing without the store's key, and is kept outside the store and its backups, append-only. oubli never prunes it: an entry removed while a backup taken before the erasure, or an upstream export, may still hold the subject would let that subject come back.",
	},
	{
		"category": "backups",
		"title": {
			"en": "Backups of the store (every category above, as it stood when the backup was taken)",
			"fr": "Sauvegardes de la base (toutes les catégories ci-dessus, telles qu'au moment de la sauvegarde)",
		},
		"clock": "",
		"clock_label": {"en": "date of the backup", "fr": "date de la sauvegarde"},
		"period": backup_period,
		"period_label": calendar.label(backup_period),
		"stops": [],
		"action": "delete",
		"legal_basis": "Art. 32(1)(c) GDPR: ability to restore the availability of and access to personal data in a timely manner after an incident",
		"justification": "Backups serve only to restore the store after an incident, which is noticed within days; they are rotated (deleted) one month after they are taken, by the backup system, which must be set to this period. A restored backup brings back data erased or expired since it was taken: the restore is followed by `oubli erase --reapply` (the erasure ledger) and `oubli audit verify --accept-restore`, and the next retention run deletes what has expired.",
	},
]

# backup_period: how long a backup of the store is kept.
backup_period := {"years": 0, "months": 1, "days": 0}

# register: the document `oubli policy schedule` renders with the schedule.
register := {
	"data_subjects": data_subjects,
	"personal_data": personal_data,
	"transfers": transfers,
	"security": security,
	"outside_store": outside_store,
}
