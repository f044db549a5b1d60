package policies

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
)

// Schedule formats accepted by RenderSchedule.
var ScheduleFormats = []string{"md", "html", "json"}

// RenderSchedule writes the retention schedule and register of processing
// as Markdown ("md"), a self-contained printable HTML page ("html", every
// value escaped) or JSON ("json").
func RenderSchedule(w io.Writer, s Schedule, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case "md":
		return renderMarkdown(w, s)
	case "html":
		return scheduleHTML.Execute(w, viewOf(s))
	}
	return fmt.Errorf("unknown schedule format %q (want md, html or json)", format)
}

// stopLabels words the stops of the schedule for readers.
var stopLabels = map[string]string{
	"open_ticket":  "ticket still open",
	"legal_hold":   "legal hold",
	"open_dispute": "open transaction dispute",
	"open_request": "request not closed",
	"active_hold":  "hold in force",
}

var actionLabels = map[string]string{
	"delete":              "delete",
	"anonymize":           "anonymise",
	"delete_or_anonymize": "delete, or anonymise while some of the subject's data must be kept",
	"keep":                "keep",
}

type scheduleRow struct {
	Category, Period, Clock, Stops, Action, Basis, Justification string
	Title                                                        Label
}

// dataSubjectRow is a category of data subjects with the English labels of
// the categories of personal data held about them.
type dataSubjectRow struct {
	Label Label
	Data  string
}

type personalDataRow struct {
	PersonalData
	Subjects string
}

type scheduleView struct {
	Schedule
	Rows         []scheduleRow
	DataSubjects []dataSubjectRow
	PersonalData []personalDataRow
}

func viewOf(s Schedule) scheduleView {
	v := scheduleView{Schedule: s}
	for _, r := range append(slices.Clone(s.Retention), s.Register.OutsideStore...) {
		row := scheduleRow{
			Category:      r.Category,
			Title:         r.Title,
			Clock:         r.ClockLabel.EN,
			Basis:         r.LegalBasis,
			Justification: r.Justification,
		}
		if r.GoesWith != "" {
			row.Period = "as its " + r.GoesWith
			row.Action = "with its " + r.GoesWith
		} else {
			row.Period = r.PeriodLabel.EN
			row.Action = actionLabel(r.Action)
			if r.Then != nil {
				row.Action += "; then " + actionLabel(r.Then.Action) + " after " + r.Then.PeriodLabel.EN
			}
		}
		var stops []string
		for _, st := range r.Stops {
			if l, ok := stopLabels[st]; ok {
				st = l
			}
			stops = append(stops, st)
		}
		row.Stops = strings.Join(stops, ", ")
		if row.Stops == "" {
			row.Stops = "none"
		}
		v.Rows = append(v.Rows, row)
	}
	pdLabel := map[string]string{}
	for _, c := range s.Register.PersonalData {
		pdLabel[c.Name] = c.Label.EN
	}
	dsLabel := map[string]string{}
	for _, d := range s.Register.DataSubjects {
		dsLabel[d.Name] = d.Label.EN
		var names []string
		for _, n := range d.Data {
			if l, ok := pdLabel[n]; ok {
				n = l
			}
			names = append(names, n)
		}
		v.DataSubjects = append(v.DataSubjects, dataSubjectRow{Label: d.Label, Data: strings.Join(names, "; ")})
	}
	for _, c := range s.Register.PersonalData {
		var who []string
		for _, n := range c.DataSubjects {
			if l, ok := dsLabel[n]; ok {
				n = l
			}
			who = append(who, n)
		}
		v.PersonalData = append(v.PersonalData, personalDataRow{PersonalData: c, Subjects: strings.Join(who, "; ")})
	}
	return v
}

func actionLabel(a string) string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return a
}

// cell escapes a value for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\\\")
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

// enfr words a bilingual text for Markdown: the English, then the French
// marked "(fr)". Markdown has no language attribute; the HTML rendering
// puts the French in an element of its own with lang="fr".
func enfr(l Label) string {
	if l.FR == "" || l.FR == l.EN {
		return cell(l.EN)
	}
	if l.EN == "" {
		return "(fr) " + cell(l.FR)
	}
	return cell(l.EN) + " — (fr) " + cell(l.FR)
}

func renderMarkdown(w io.Writer, s Schedule) error {
	v := viewOf(s)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Retention schedule and register of processing\n\n")
	p("Rendered from the oubli policies, revision `%s`. The record of processing activities of Art. 30 GDPR. Texts addressed to data subjects are given in English and, marked (fr), in French.\n\n", s.Revision)
	if s.Approval != "" {
		p("**Approval:** %s\n\n", s.Approval)
	}
	p("- Controller: %s (%s)\n", cell(s.Controller.Name), cell(s.Controller.Email))
	p("- Data Protection Officer: %s (%s)\n\n", cell(s.DPO.Name), cell(s.DPO.Email))
	p("## Purposes of processing\n\n")
	for _, pu := range s.Purposes {
		p("### %s (`%s`)\n\n", cell(pu.Title.EN), pu.Name)
		p("(fr) %s\n\n", cell(pu.Title.FR))
		p("%s\n\n", cell(pu.Description.EN))
		p("- Legal basis: %s\n", cell(pu.LegalBasis.EN))
		p("- Categories of data: %s\n", cell(strings.Join(pu.Categories, ", ")))
		var rs []string
		for _, r := range pu.Recipients {
			rs = append(rs, r.Name.EN)
		}
		p("- Recipients: %s\n", cell(strings.Join(rs, "; ")))
		if pu.Objection.Applies {
			p("- Objection (Art. 21): applies; stops %s. %s\n\n", cell(strings.Join(pu.Objection.Stops, ", ")), cell(pu.Objection.Reason.EN))
		} else {
			p("- Objection (Art. 21): does not apply. %s\n\n", cell(pu.Objection.Reason.EN))
		}
	}
	p("## Categories of data subjects\n\n| data subjects | categories of personal data |\n|---|---|\n")
	for _, d := range v.DataSubjects {
		p("| %s | %s |\n", enfr(d.Label), cell(d.Data))
	}
	p("\n## Categories of personal data\n\n| category | concerns | data | held in |\n|---|---|---|---|\n")
	for _, c := range v.PersonalData {
		p("| %s | %s | %s | %s |\n", enfr(c.Label), cell(c.Subjects), enfr(c.Description), cell("`"+strings.Join(c.StoredIn, "`, `")+"`"))
	}
	p("\n## Recipients\n\n| recipient | role | basis |\n|---|---|---|\n")
	for _, r := range s.Recipients {
		p("| %s | %s | %s |\n", cell(r.Name.EN), cell(r.Role.EN), cell(r.Basis.EN))
	}
	p("\n## Transfers outside the European Union\n\n")
	if len(s.Register.Transfers.ThirdCountries) == 0 {
		p("%s\n\n", cell(s.Register.Transfers.None.EN))
	} else {
		p("| recipient | country | safeguard |\n|---|---|---|\n")
		for _, t := range s.Register.Transfers.ThirdCountries {
			p("| %s | %s | %s |\n", cell(t.Recipient), cell(t.Country), cell(t.Safeguard.EN))
		}
		p("\n")
	}
	p("## Security measures\n\n%s\n\n", cell(s.Register.Security.EN))
	p("## Retention schedule\n\n")
	p("| category | data | period | counted from | stopped by | action | legal basis | justification |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	for _, r := range v.Rows {
		p("| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", r.Category, enfr(r.Title), cell(r.Period), cell(r.Clock), cell(r.Stops), cell(r.Action), cell(r.Basis), cell(r.Justification))
	}
	p("\nPeriods are calendar periods on the UTC calendar; a period ending on a day its month does not have ends with that month's last day (Regulation 1182/71, Art. 3(2)(c)). `erasure_ledger` and `backups` are kept outside the store: the retention run does not purge them.\n")
	p("\n## Rules\n\nEvery rule of the policies, with its annotation; the wording is the rule as the data subject reads it.\n\n")
	p("| rule | title | action | legal basis | wording | wording (fr) | where |\n|---|---|---|---|---|---|---|\n")
	for _, r := range s.Rules {
		p("| `%s` | %s | %s | %s | %s | %s | %s |\n", cell(r.ID), cell(r.Title), cell(r.Action), cell(r.LegalBasis), cell(r.Wording.EN), cell(r.Wording.FR), cell(r.Location))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var scheduleHTML = template.Must(template.New("schedule").Funcs(template.FuncMap{
	"join": strings.Join,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Retention schedule and register of processing</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;max-width:1200px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #bbb;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}code{font-family:ui-monospace,Menlo,monospace;font-size:.92em}.meta{color:#555}[lang=fr]{color:#444;font-style:italic}
@media print{body{margin:0;max-width:none;font-size:10.5pt}h2{page-break-after:avoid}tr{page-break-inside:avoid}}
</style>
</head>
<body>
<h1>Retention schedule and register of processing</h1>
<p class="meta">Rendered from the oubli policies, revision <code>{{.Revision}}</code>. The record of processing activities of Art. 30 GDPR. Texts addressed to data subjects are given in English and, in italics, in French.</p>
{{with .Approval}}<p class="meta" id="approval"><strong>Approval:</strong> {{.}}</p>{{end}}
<p>Controller: {{.Controller.Name}} ({{.Controller.Email}})<br>Data Protection Officer: {{.DPO.Name}} ({{.DPO.Email}})</p>
<h2 id="purposes">Purposes of processing</h2>
{{range .Purposes}}<h3>{{.Title.EN}} (<code>{{.Name}}</code>) <span lang="fr">{{.Title.FR}}</span></h3>
<p>{{.Description.EN}}</p>
<p lang="fr">{{.Description.FR}}</p>
<ul>
<li>Legal basis: {{.LegalBasis.EN}}</li>
<li>Categories of data: {{join .Categories ", "}}</li>
<li>Recipients: {{range $i, $r := .Recipients}}{{if $i}}; {{end}}{{$r.Name.EN}}{{end}}</li>
<li>Objection (Art. 21): {{if .Objection.Applies}}applies; stops {{join .Objection.Stops ", "}}.{{else}}does not apply.{{end}} {{.Objection.Reason.EN}}</li>
</ul>
{{end}}
<h2 id="data-subjects">Categories of data subjects</h2>
<table><thead><tr><th>data subjects</th><th>categories of personal data</th></tr></thead><tbody>
{{range .DataSubjects}}<tr><td>{{.Label.EN}}<br><span lang="fr">{{.Label.FR}}</span></td><td>{{.Data}}</td></tr>
{{end}}</tbody></table>
<h2 id="personal-data">Categories of personal data</h2>
<table><thead><tr><th>category</th><th>concerns</th><th>data</th><th>held in</th></tr></thead><tbody>
{{range .PersonalData}}<tr><td>{{.Label.EN}}<br><span lang="fr">{{.Label.FR}}</span></td><td>{{.Subjects}}</td><td>{{.Description.EN}}<br><span lang="fr">{{.Description.FR}}</span></td><td>{{range $i, $c := .StoredIn}}{{if $i}}, {{end}}<code>{{$c}}</code>{{end}}</td></tr>
{{end}}</tbody></table>
<h2 id="recipients">Recipients</h2>
<table><thead><tr><th>recipient</th><th>role</th><th>basis</th></tr></thead><tbody>
{{range .Recipients}}<tr><td>{{.Name.EN}}</td><td>{{.Role.EN}}</td><td>{{.Basis.EN}}</td></tr>
{{end}}</tbody></table>
<h2 id="transfers">Transfers outside the European Union</h2>
{{with .Register.Transfers}}{{if .ThirdCountries}}<table><thead><tr><th>recipient</th><th>country</th><th>safeguard</th></tr></thead><tbody>
{{range .ThirdCountries}}<tr><td>{{.Recipient}}</td><td>{{.Country}}</td><td>{{.Safeguard.EN}}</td></tr>
{{end}}</tbody></table>{{else}}<p>{{.None.EN}}</p>{{end}}{{end}}
<h2 id="security">Security measures</h2>
<p>{{.Register.Security.EN}}</p>
<h2 id="retention">Retention schedule</h2>
<table>
<thead><tr><th>category</th><th>data</th><th>period</th><th>counted from</th><th>stopped by</th><th>action</th><th>legal basis</th><th>justification</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td><code>{{.Category}}</code></td><td>{{.Title.EN}}<br><span lang="fr">{{.Title.FR}}</span></td><td>{{.Period}}</td><td>{{.Clock}}</td><td>{{.Stops}}</td><td>{{.Action}}</td><td>{{.Basis}}</td><td>{{.Justification}}</td></tr>
{{end}}</tbody>
</table>
<p>Periods are calendar periods on the UTC calendar; a period ending on a day its month does not have ends with that month's last day (Regulation 1182/71, Art. 3(2)(c)). <code>erasure_ledger</code> and <code>backups</code> are kept outside the store: the retention run does not purge them.</p>
<h2 id="rules">Rules</h2>
<p>Every rule of the policies, with its annotation; the wording is the rule as the data subject reads it.</p>
<table><thead><tr><th>rule</th><th>title</th><th>action</th><th>legal basis</th><th>wording</th><th>wording (fr)</th><th>where</th></tr></thead><tbody>
{{range .Rules}}<tr><td><code>{{.ID}}</code></td><td>{{.Title}}</td><td>{{.Action}}</td><td>{{.LegalBasis}}</td><td>{{.Wording.EN}}</td><td lang="fr">{{.Wording.FR}}</td><td>{{.Location}}</td></tr>
{{end}}</tbody></table>
</body>
</html>
`))
