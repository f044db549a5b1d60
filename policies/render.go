package policies

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
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
	Category, Title, Period, Clock, Stops, Action, Basis, Justification string
}

type scheduleView struct {
	Schedule
	Rows []scheduleRow
}

func viewOf(s Schedule) scheduleView {
	v := scheduleView{Schedule: s}
	for _, r := range s.Retention {
		row := scheduleRow{
			Category:      r.Category,
			Title:         r.Title.EN + " / " + r.Title.FR,
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

func renderMarkdown(w io.Writer, s Schedule) error {
	v := viewOf(s)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Retention schedule and register of processing\n\n")
	p("Rendered from the oubli policies, revision `%s`. Art. 30 GDPR.\n\n", s.Revision)
	if s.Approval != "" {
		p("**Approval:** %s\n\n", s.Approval)
	}
	p("- Controller: %s (%s)\n", cell(s.Controller.Name), cell(s.Controller.Email))
	p("- Data Protection Officer: %s (%s)\n\n", cell(s.DPO.Name), cell(s.DPO.Email))
	p("## Retention schedule\n\n")
	p("| category | data | period | counted from | stopped by | action | legal basis | justification |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	for _, r := range v.Rows {
		p("| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", r.Category, cell(r.Title), cell(r.Period), cell(r.Clock), cell(r.Stops), cell(r.Action), cell(r.Basis), cell(r.Justification))
	}
	p("\nPeriods are calendar periods on the UTC calendar; a period ending on a day its month does not have ends with that month's last day (Regulation 1182/71, Art. 3(2)(c)).\n")
	p("\n## Purposes of processing\n\n")
	for _, pu := range s.Purposes {
		p("### %s (`%s`)\n\n", cell(pu.Title), pu.Name)
		p("%s\n\n", cell(pu.Description))
		p("- Legal basis: %s\n", cell(pu.LegalBasis))
		p("- Categories of data: %s\n", cell(strings.Join(pu.Categories, ", ")))
		var rs []string
		for _, r := range pu.Recipients {
			rs = append(rs, r.Name)
		}
		p("- Recipients: %s\n", cell(strings.Join(rs, "; ")))
		if pu.Objection.Applies {
			p("- Objection (Art. 21): applies; stops %s. %s\n\n", cell(strings.Join(pu.Objection.Stops, ", ")), cell(pu.Objection.Reason))
		} else {
			p("- Objection (Art. 21): does not apply. %s\n\n", cell(pu.Objection.Reason))
		}
	}
	p("## Recipients\n\n| recipient | role | basis |\n|---|---|---|\n")
	for _, r := range s.Recipients {
		p("| %s | %s | %s |\n", cell(r.Name), cell(r.Role), cell(r.Basis))
	}
	p("\n## Rules\n\nEvery rule of the policies, with its annotation.\n\n")
	p("| rule | title | action | legal basis | wording | where |\n|---|---|---|---|---|---|\n")
	for _, r := range s.Rules {
		p("| `%s` | %s | %s | %s | %s | %s |\n", cell(r.ID), cell(r.Title), cell(r.Action), cell(r.LegalBasis), cell(r.Wording), cell(r.Location))
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
th{background:#f0f0f0}code{font-family:ui-monospace,Menlo,monospace;font-size:.92em}.meta{color:#555}
@media print{body{margin:0;max-width:none;font-size:10.5pt}h2{page-break-after:avoid}tr{page-break-inside:avoid}}
</style>
</head>
<body>
<h1>Retention schedule and register of processing</h1>
<p class="meta">Rendered from the oubli policies, revision <code>{{.Revision}}</code>. Art. 30 GDPR.</p>
{{with .Approval}}<p class="meta" id="approval"><strong>Approval:</strong> {{.}}</p>{{end}}
<p>Controller: {{.Controller.Name}} ({{.Controller.Email}})<br>Data Protection Officer: {{.DPO.Name}} ({{.DPO.Email}})</p>
<h2>Retention schedule</h2>
<table>
<thead><tr><th>category</th><th>data</th><th>period</th><th>counted from</th><th>stopped by</th><th>action</th><th>legal basis</th><th>justification</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td><code>{{.Category}}</code></td><td>{{.Title}}</td><td>{{.Period}}</td><td>{{.Clock}}</td><td>{{.Stops}}</td><td>{{.Action}}</td><td>{{.Basis}}</td><td>{{.Justification}}</td></tr>
{{end}}</tbody>
</table>
<p>Periods are calendar periods on the UTC calendar; a period ending on a day its month does not have ends with that month's last day (Regulation 1182/71, Art. 3(2)(c)).</p>
<h2>Purposes of processing</h2>
{{range .Purposes}}<h3>{{.Title}} (<code>{{.Name}}</code>)</h3>
<p>{{.Description}}</p>
<ul>
<li>Legal basis: {{.LegalBasis}}</li>
<li>Categories of data: {{join .Categories ", "}}</li>
<li>Recipients: {{range $i, $r := .Recipients}}{{if $i}}; {{end}}{{$r.Name}}{{end}}</li>
<li>Objection (Art. 21): {{if .Objection.Applies}}applies; stops {{join .Objection.Stops ", "}}.{{else}}does not apply.{{end}} {{.Objection.Reason}}</li>
</ul>
{{end}}
<h2>Recipients</h2>
<table><thead><tr><th>recipient</th><th>role</th><th>basis</th></tr></thead><tbody>
{{range .Recipients}}<tr><td>{{.Name}}</td><td>{{.Role}}</td><td>{{.Basis}}</td></tr>
{{end}}</tbody></table>
<h2>Rules</h2>
<table><thead><tr><th>rule</th><th>title</th><th>action</th><th>legal basis</th><th>wording</th><th>where</th></tr></thead><tbody>
{{range .Rules}}<tr><td><code>{{.ID}}</code></td><td>{{.Title}}</td><td>{{.Action}}</td><td>{{.LegalBasis}}</td><td>{{.Wording}}</td><td>{{.Location}}</td></tr>
{{end}}</tbody></table>
</body>
</html>
`))
