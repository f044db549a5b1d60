package seed

// French-marketplace vocabulary for generated data. Everything here is
// invented: pseudos and e-mail addresses at example domains (RFC 2606).

var firstNames = []string{
	"camille", "lea", "manon", "chloe", "ines", "jade", "louise", "emma", "sarah", "julie",
	"lucas", "hugo", "louis", "nathan", "theo", "jules", "arthur", "gabriel", "maxime", "thomas",
	"nicolas", "antoine", "pauline", "margaux", "clement", "romain", "elodie", "aurelie", "yanis", "mathis",
	"zoe", "lina", "adam", "rayan", "noemie", "oceane", "baptiste", "quentin", "amandine", "sylvie",
}

var pseudoSuffixes = []string{
	"", "_75", "_13", "69", "_lyon", "_nantes", "33", "_bzh", "_du_sud", "59", "_brocante", "_vintage",
	"_collection", "31", "_paris", "_marseille", "67", "_velo", "_bebe", "_deco",
}

var emailDomains = []string{"example.org", "example.com", "example.net", "exemple.fr.example.org"}

// topic is a kind of contact request with its subject line, descriptions and
// typical exchange.
type topic struct {
	subject      string
	descriptions []string
	user         []string
	agent        []string
	attachment   string // file name of a typical supporting document, "" if none
	contentType  string
	transaction  bool
}

var topics = []topic{
	{"Paiement non reçu",
		[]string{"J'ai vendu un article il y a dix jours et je n'ai toujours pas reçu le paiement sur mon compte.",
			"L'acheteur a confirmé la réception mais le virement n'apparaît pas dans mon porte-monnaie."},
		[]string{"Bonjour, pouvez-vous vérifier où en est mon paiement ?", "Toujours rien reçu ce matin.", "Merci, je vous envoie le relevé."},
		[]string{"Bonjour, nous avons bien reçu votre demande et vérifions la transaction.", "Le paiement a été débloqué, il apparaîtra sous 48 heures.", "Pourriez-vous nous transmettre un relevé bancaire ?"},
		"releve_bancaire.pdf", "application/pdf", true},
	{"Colis jamais arrivé",
		[]string{"Le suivi indique que le colis est livré mais je ne l'ai jamais reçu.",
			"Mon colis est bloqué en point relais depuis trois semaines."},
		[]string{"Bonjour, je n'ai pas reçu mon colis.", "Le point relais dit ne rien avoir.", "Voici la photo de la boîte aux lettres."},
		[]string{"Bonjour, nous avons ouvert une enquête auprès du transporteur.", "Le transporteur confirme la perte : vous allez être remboursé.", "Pouvez-vous nous envoyer une déclaration sur l'honneur ?"},
		"declaration_non_reception.pdf", "application/pdf", true},
	{"Annonce refusée",
		[]string{"Mon annonce de vélo a été refusée sans explication.",
			"Je ne comprends pas pourquoi mon annonce de location a été retirée."},
		[]string{"Bonjour, pourquoi mon annonce a-t-elle été refusée ?", "J'ai modifié les photos, pouvez-vous revoir ?"},
		[]string{"Bonjour, votre annonce ne respectait pas nos règles de diffusion (photo non conforme).", "Votre annonce modifiée est désormais en ligne."},
		"photo_annonce.png", "image/png", false},
	{"Compte piraté",
		[]string{"Quelqu'un s'est connecté à mon compte et a changé mon adresse e-mail.",
			"Je reçois des messages de connexion que je n'ai pas faites."},
		[]string{"Bonjour, mon compte a été piraté, aidez-moi.", "J'ai changé mon mot de passe.", "Je joins la capture du message reçu."},
		[]string{"Bonjour, nous avons sécurisé votre compte et réinitialisé votre mot de passe.", "Nous avons rétabli votre adresse e-mail d'origine.", "Activez la double authentification pour plus de sécurité."},
		"capture_ecran.png", "image/png", false},
	{"Remboursement en attente",
		[]string{"J'ai annulé ma commande mais je n'ai pas été remboursé.",
			"Le vendeur a accepté le retour, j'attends le remboursement."},
		[]string{"Bonjour, où en est mon remboursement ?", "Le vendeur a bien reçu l'article retourné."},
		[]string{"Bonjour, le remboursement a été initié, comptez 5 jours ouvrés.", "Nous relançons le vendeur."},
		"", "", true},
	{"Article non conforme",
		[]string{"L'article reçu ne correspond pas à la description de l'annonce.",
			"La console reçue ne fonctionne pas alors que l'annonce disait le contraire."},
		[]string{"Bonjour, l'article est abîmé.", "Voici les photos de l'article reçu.", "Je souhaite ouvrir un litige."},
		[]string{"Bonjour, nous avons contacté le vendeur.", "Le litige est ouvert ; le paiement du vendeur est suspendu.", "Le vendeur accepte le retour."},
		"photo_article.png", "image/png", true},
	{"Problème de connexion",
		[]string{"Je n'arrive plus à me connecter à l'application.",
			"Le code de vérification n'arrive jamais par SMS."},
		[]string{"Bonjour, impossible de me connecter.", "J'ai réinstallé l'application, sans succès."},
		[]string{"Bonjour, pouvez-vous essayer de vider le cache de l'application ?", "Le problème venait d'une mise à jour, il est corrigé."},
		"", "", false},
	{"Suppression de compte",
		[]string{"Je souhaite fermer définitivement mon compte.",
			"Merci de supprimer mon compte, je n'utilise plus le service."},
		[]string{"Bonjour, je veux supprimer mon compte.", "Oui, je confirme."},
		[]string{"Bonjour, pouvez-vous confirmer votre demande de fermeture ?", "Votre compte est fermé. Vos données seront conservées selon notre politique de confidentialité."},
		"", "", false},
	{"Facture professionnelle",
		[]string{"J'ai besoin d'une facture pour mes options payantes.",
			"La facture de mon pack pro comporte une erreur d'adresse."},
		[]string{"Bonjour, pouvez-vous m'envoyer la facture ?", "L'adresse de facturation est incorrecte."},
		[]string{"Bonjour, la facture est disponible dans votre espace pro.", "Nous avons corrigé la facture."},
		"facture.pdf", "application/pdf", false},
	{"Signalement d'un utilisateur",
		[]string{"Un acheteur m'envoie des messages insistants et déplacés.",
			"Je pense qu'une annonce est une arnaque."},
		[]string{"Bonjour, je signale un comportement suspect.", "Voici la capture de la conversation."},
		[]string{"Bonjour, merci pour votre signalement, nous l'examinons.", "Le compte signalé a été suspendu."},
		"capture_conversation.png", "image/png", false},
}

var eventTypes = []string{"password_reset", "email_changed", "login_from_new_device", "phone_changed", "two_factor_enabled", "login_from_new_device", "password_reset"}

var eventDetails = map[string]string{
	"password_reset":        "réinitialisation du mot de passe par e-mail",
	"email_changed":         "adresse e-mail modifiée depuis les paramètres",
	"login_from_new_device": "connexion depuis un nouvel appareil",
	"phone_changed":         "numéro de téléphone modifié",
	"two_factor_enabled":    "double authentification activée",
	"account_closed":        "fermeture du compte à la demande de l'utilisateur",
}

// agents are the support team (pseudonymous agent ids).
var agents = []string{"ag-01", "ag-02", "ag-03", "ag-04", "ag-05", "ag-06", "ag-07", "ag-08", "ag-09", "ag-10", "ag-11", "ag-12"}
