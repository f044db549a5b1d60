package policies

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/oubli/oubli/internal/langcheck"
)

// TestScheduleLanguages: the HTML schedule is lang="en"; every French text
// of the policies (titles, descriptions, rule wordings) sits in an element
// of its own with lang="fr". No French word appears outside those, and no
// English word inside them.
func TestScheduleLanguages(t *testing.T) {
	e := mustLoad(t)
	s, err := e.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := RenderSchedule(&b, s, "html"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, `<html lang="en">`) {
		t.Fatal(`the schedule is not <html lang="en">`)
	}
	en, fr := langcheck.Split(page, "fr")
	if f := langcheck.French(en); len(f) > 0 {
		t.Errorf("French in the English text of the schedule: %q", f)
	}
	if g := langcheck.English(fr); len(g) > 0 {
		t.Errorf("English in the lang=\"fr\" texts of the schedule: %q", g)
	}
	for _, r := range s.Rules {
		if r.Wording.FR != "" && !strings.Contains(fr, r.Wording.FR) {
			t.Errorf("rule %s: its French wording is not under lang=\"fr\"", r.ID)
		}
	}
	// The detector detects: a French wording left in the English column.
	s.Rules[0].Wording.EN = s.Rules[0].Wording.FR
	b.Reset()
	_ = RenderSchedule(&b, s, "html")
	if en, _ := langcheck.Split(b.String(), "fr"); len(langcheck.French(en)) == 0 {
		t.Error("a French wording in the English column went unnoticed")
	}
}

// TestNoWordingProblems: every rule wording is given in English and French,
// and no text of the policies is cut short ("…"); purposes.customer_support
// used to end with "…".
func TestNoWordingProblems(t *testing.T) {
	e := mustLoad(t)
	if p := e.WordingProblems(); len(p) > 0 {
		t.Errorf("wording problems:\n%s", strings.Join(p, "\n"))
	}
	for _, r := range e.rules {
		if r.ID == "purposes.customer_support" && (r.Wording.EN == "" || r.Wording.FR == "") {
			t.Errorf("purposes.customer_support has no wording in both languages: %+v", r.Wording)
		}
	}
	var b bytes.Buffer
	s, _ := e.Schedule(context.Background())
	for _, f := range ScheduleFormats {
		b.Reset()
		if err := RenderSchedule(&b, s, f); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "…") || strings.Contains(b.String(), "...") {
			t.Errorf("the %s schedule holds an ellipsis", f)
		}
	}
}

// TestWordingProblemsNamed: a wording cut short, given in one language or
// as one plain string is named by WordingProblems (policy check).
func TestWordingProblemsNamed(t *testing.T) {
	m := overlayMap(t)
	src := string(m["purposes.rego"].Data)
	i := strings.Index(src, "#   id: purposes.statistics")
	if i < 0 {
		t.Fatal("purposes.statistics annotation not found")
	}
	j := strings.Index(src[i:], "#   wording:") + i
	k := strings.Index(src[j:], "\nstatistics := {") + j
	m["purposes.rego"] = &fstest.MapFile{Data: []byte(src[:j] + "#   wording: Sur la base de l'intérêt légitime…" + src[k:])}
	src = string(m["requests.rego"].Data)
	src = strings.Replace(src, `"en": "Contact the Data Protection Officer (see contact details); we answer within one month."`, `"en": "Contact the Data Protection Officer..."`, 1)
	m["requests.rego"] = &fstest.MapFile{Data: []byte(src)}
	e, err := Load(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(e.WordingProblems(), "\n")
	for _, want := range []string{"rule purposes.statistics: wording is not given per language", "requests.rights.access.how: ends with an ellipsis"} {
		if !strings.Contains(got, want) {
			t.Errorf("WordingProblems lacks %q:\n%s", want, got)
		}
	}
}

// TestScheduleRegister: the schedule carries the Art. 30 record from the
// policies: categories of data subjects (agents among them), of personal
// data, transfers outside the EU, the security pointer, and the erasure
// ledger and backups as entries with their own retention.
func TestScheduleRegister(t *testing.T) {
	e := mustLoad(t)
	s, _ := e.Schedule(context.Background())
	var b bytes.Buffer
	if err := RenderSchedule(&b, s, "md"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## Categories of data subjects", "| Customer-support agents — (fr) Conseillers du service client | Agents' activity |",
		"| Users who contact customer support — (fr) Utilisateurs qui contactent le service client | Identification, contact and account data; Data about your request; Statistics; Your data-protection requests |",
		"## Categories of personal data", "`agent_stats`, `messages`",
		"## Transfers outside the European Union\n\nNone: ",
		"## Security measures\n\nDescribed in the controller's information-security policy",
		"| `erasure_ledger` | Erasure ledger", "| `backups` | Backups of the store", "| 1 month | date of the backup |",
		"erase --reapply",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown schedule lacks %q", want)
		}
	}
	// A transfer in the policies is listed with its safeguard.
	s.Register.Transfers.ThirdCountries = []Transfer{{Recipient: "processors", Country: "United States", Safeguard: Label{EN: "standard contractual clauses (Art. 46(2)(c))", FR: "clauses contractuelles types"}}}
	b.Reset()
	_ = RenderSchedule(&b, s, "md")
	if !strings.Contains(b.String(), "| processors | United States | standard contractual clauses (Art. 46(2)(c)) |") || strings.Contains(b.String(), "None: ") {
		t.Errorf("a transfer is not listed with its safeguard:\n%s", b.String())
	}
}
