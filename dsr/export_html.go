package dsr

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/oubli/oubli/policies"
)

//go:embed templates/index.html.tmpl
var templateFS embed.FS

// pageLabels are the page's own headings in French and English. The legal
// content (purposes, bases, recipients, retention, rights) comes from the
// policies; a label of the same key in Information.Labels takes precedence.
var pageLabels = map[string]policies.Label{
	"title":                      {FR: "Vos données personnelles", EN: "Your personal data"},
	"generated":                  {FR: "Export généré le", EN: "Export generated on"},
	"request":                    {FR: "Demande", EN: "Request"},
	"intro":                      {FR: "Cette page présente toutes les données que nous détenons sur vous dans le cadre du service client, et les informations prévues par l’article 15 du RGPD. Elle fonctionne sans connexion et peut être imprimée.", EN: "This page shows all the data we hold about you for customer support, and the information required by Article 15 GDPR. It works offline and can be printed."},
	"files":                      {FR: "L’archive contient aussi data.json (les mêmes données dans un format lisible par machine, décrit par schema.json), information.json et vos pièces jointes d’origine dans le dossier attachments/.", EN: "The archive also holds data.json (the same data in a machine-readable format described by schema.json), information.json and your original attachments in the attachments/ folder."},
	"contents":                   {FR: "Sommaire", EN: "Contents"},
	"account":                    {FR: "Votre compte", EN: "Your account"},
	"user_id":                    {FR: "Identifiant utilisateur", EN: "User id"},
	"email":                      {FR: "Adresse électronique", EN: "E-mail address"},
	"pseudo":                     {FR: "Pseudo", EN: "Username"},
	"account_created":            {FR: "Compte créé le", EN: "Account created"},
	"account_closed":             {FR: "Compte fermé le", EN: "Account closed"},
	"restricted":                 {FR: "Traitement limité", EN: "Processing restricted"},
	"yes":                        {FR: "oui", EN: "yes"},
	"tickets":                    {FR: "Vos demandes au service client", EN: "Your customer-support requests"},
	"tickets_n":                  {FR: "demande(s)", EN: "request(s)"},
	"messages_n":                 {FR: "message(s)", EN: "message(s)"},
	"attachments_n":              {FR: "pièce(s) jointe(s)", EN: "attachment(s)"},
	"agents_note":                {FR: "Les conseillers sont désignés par un numéro (« Agent 1 ») pour protéger leur identité.", EN: "Agents are shown by number (\"Agent 1\") to protect their identity."},
	"you":                        {FR: "Vous", EN: "You"},
	"none":                       {FR: "Aucune donnée.", EN: "No data."},
	"request_number":             {FR: "N° de demande", EN: "Request number"},
	"ticket_id":                  {FR: "Ticket", EN: "Ticket"},
	"status":                     {FR: "Statut", EN: "Status"},
	"open":                       {FR: "ouverte", EN: "open"},
	"closed":                     {FR: "fermée le", EN: "closed on"},
	"status_open":                {FR: "ouverte", EN: "open"},
	"status_closed":              {FR: "fermée", EN: "closed"},
	"in_progress":                {FR: "en cours", EN: "in progress"},
	"done":                       {FR: "traitée", EN: "done"},
	"refused":                    {FR: "refusée", EN: "refused"},
	"dispute":                    {FR: "Litige", EN: "Dispute"},
	"dispute_open":               {FR: "en cours", EN: "open"},
	"dispute_resolved":           {FR: "résolu", EN: "resolved"},
	"opened":                     {FR: "Ouverte le", EN: "Opened on"},
	"transaction":                {FR: "Transaction", EN: "Transaction"},
	"ticket_attachments":         {FR: "Pièces jointes de la demande :", EN: "Attachments of the request:"},
	"events":                     {FR: "Historique du compte", EN: "Account history"},
	"date":                       {FR: "Date", EN: "Date"},
	"event_type":                 {FR: "Événement", EN: "Event"},
	"detail":                     {FR: "Détail", EN: "Detail"},
	"statistics":                 {FR: "Statistiques vous concernant", EN: "Statistics about you"},
	"avg_response":               {FR: "Temps de réponse moyen", EN: "Average response time"},
	"responses_counted":          {FR: "Réponses prises en compte", EN: "Responses counted"},
	"computed":                   {FR: "Calculé le", EN: "Computed on"},
	"objections":                 {FR: "Vos oppositions", EN: "Your objections"},
	"objection":                  {FR: "Droit d’opposition (art. 21) :", EN: "Right to object (Art. 21):"},
	"purpose":                    {FR: "Finalité", EN: "Purpose"},
	"requests":                   {FR: "Vos demandes d’exercice de droits", EN: "Your data-protection requests"},
	"type":                       {FR: "Type", EN: "Type"},
	"type_access":                {FR: "accès", EN: "access"},
	"type_rectification":         {FR: "rectification", EN: "rectification"},
	"type_objection":             {FR: "opposition", EN: "objection"},
	"type_erasure":               {FR: "effacement", EN: "erasure"},
	"received":                   {FR: "Reçue le", EN: "Received"},
	"due":                        {FR: "Échéance", EN: "Due"},
	"extended":                   {FR: "prolongée", EN: "extended"},
	"holds":                      {FR: "Conservation pour raison légale", EN: "Legal holds"},
	"holds_note":                 {FR: "Une conservation pour raison légale (par exemple un litige) suspend la suppression de vos données au-delà de leur durée normale.", EN: "A legal hold (for example for a dispute) keeps your data beyond its normal retention period."},
	"scope":                      {FR: "Portée", EN: "Scope"},
	"all_data":                   {FR: "toutes vos données", EN: "all your data"},
	"since":                      {FR: "Depuis", EN: "Since"},
	"until":                      {FR: "Jusqu’au", EN: "Until"},
	"released":                   {FR: "Levée le", EN: "Released"},
	"information":                {FR: "Informations sur le traitement de vos données", EN: "How your data is processed"},
	"controller":                 {FR: "Responsable du traitement", EN: "Controller"},
	"dpo":                        {FR: "Délégué à la protection des données", EN: "Data protection officer"},
	"purposes":                   {FR: "Finalités et bases légales", EN: "Purposes and legal bases"},
	"legal_basis":                {FR: "Base légale", EN: "Legal basis"},
	"recipients":                 {FR: "Destinataires", EN: "Recipients"},
	"categories":                 {FR: "Catégories de données", EN: "Categories of data"},
	"retention":                  {FR: "Durées de conservation", EN: "Retention periods"},
	"category":                   {FR: "Catégorie", EN: "Category"},
	"period":                     {FR: "Durée", EN: "Period"},
	"from":                       {FR: "À compter de", EN: "Counted from"},
	"then":                       {FR: "Ensuite", EN: "Then"},
	"action_delete":              {FR: "suppression", EN: "deletion"},
	"action_anonymize":           {FR: "anonymisation", EN: "anonymisation"},
	"action_keep":                {FR: "conservation", EN: "kept"},
	"action_delete_or_anonymize": {FR: "suppression, ou anonymisation tant que d’autres données en dépendent", EN: "deletion, or anonymisation while other data depends on it"},
	"goes_with":                  {FR: "suit le sort de", EN: "follows"},
	"rights":                     {FR: "Vos droits", EN: "Your rights"},
	"source":                     {FR: "Origine des données", EN: "Source of the data"},
	"links":                      {FR: "Pour en savoir plus", EN: "Further information"},
	"footer":                     {FR: "Document généré automatiquement.", EN: "Generated automatically."},
	"schema":                     {FR: "Version du format de données :", EN: "Data format version:"},
}

// page renders index.html piece by piece, so tickets and messages stream.
type page struct {
	t    *template.Template
	w    io.Writer
	err  error
	lang string
}

func newPage(w io.Writer, info policies.Information) (*page, error) {
	lang := pageLanguage(info.Language)
	label := func(key string) string {
		if l, ok := info.Labels[key]; ok && l.In(lang) != "" {
			return l.In(lang)
		}
		if l, ok := pageLabels[key]; ok {
			return l.In(lang)
		}
		return key
	}
	funcs := template.FuncMap{
		"t":  label,
		"in": func(l policies.Label) string { return l.In(lang) },
		// ph shows a controller's detail, or says it is still to be filled
		// in while it is the policies' placeholder.
		"ph": func(s string) string {
			if policies.IsPlaceholder(s) {
				return label("placeholder")
			}
			return s
		},
		"isph": policies.IsPlaceholder,
		// purpose names a purpose by its title.
		"purpose": func(name string) string {
			for _, p := range info.Purposes {
				if p.Name == name {
					return p.Title.In(lang)
				}
			}
			return name
		},
		// reason shows a refusal reason: the policies' own reason for
		// refusing an objection in the page's language, any other (typed
		// by the DPO) as recorded.
		"reason": func(s *string) string {
			if s == nil {
				return ""
			}
			for _, p := range info.Purposes {
				r := p.Objection.Reason
				if (r.EN != "" && strings.Contains(*s, r.EN)) || (r.FR != "" && strings.Contains(*s, r.FR)) {
					return r.In(lang)
				}
			}
			return *s
		},
		// colon is the colon as each language sets it ("5 ans : …", "5 years: …").
		"colon": func() string {
			if lang == "fr" {
				return "\u00a0: "
			}
			return ": "
		},
		"quote": func(s string) string {
			if lang == "fr" {
				return "« " + s + " »"
			}
			return "“" + s + "”"
		},
		"cattitle": func(cat string) string {
			for _, r := range info.Retention {
				if r.Category == cat {
					return r.Title.In(lang)
				}
			}
			return cat
		},
		"when": func(s string) string {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return s
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"whenp": func(s *string) string {
			if s == nil {
				return "—"
			}
			t, err := time.Parse(time.RFC3339Nano, *s)
			if err != nil {
				return *s
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
		"bytes": humanBytes,
		// base shows an attachment by its name in the archive: the stored
		// name with separators, control and bidirectional-override
		// characters removed, so it cannot disguise its extension.
		"base":     path.Base,
		"duration": func(sec float64) string { return (time.Duration(sec) * time.Second).String() },
	}
	t, err := template.New("index").Funcs(funcs).ParseFS(templateFS, "templates/index.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("export page template: %w", err)
	}
	return &page{t: t, w: w, lang: lang}, nil
}

func (p *page) exec(name string, data any) {
	if p.err == nil {
		if err := p.t.ExecuteTemplate(p.w, name, data); err != nil {
			p.err = fmt.Errorf("render index.html (%s): %w", name, err)
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1024*1024:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
	default:
		return strconv.FormatFloat(float64(n)/(1024*1024), 'f', 1, 64) + " MiB"
	}
}
