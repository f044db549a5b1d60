package dsr

import (
	"context"
	"encoding/json"
	"html/template"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/langcheck"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// policyTexts lists every text of the policies' information with the
// page's own labels: what the export page may show, in both languages.
func policyTexts(info policies.Information) []policies.Label {
	var out []policies.Label
	for _, p := range info.Purposes {
		out = append(out, p.Title, p.Description, p.LegalBasis, p.Objection.Reason)
	}
	for _, r := range info.Recipients {
		out = append(out, r.Name, r.Role, r.Basis)
	}
	for _, c := range info.Categories {
		out = append(out, c.Label, c.Description)
	}
	for _, r := range info.Retention {
		out = append(out, r.Title, r.ClockLabel, r.PeriodLabel)
	}
	for _, r := range info.Rights {
		out = append(out, r.Label, r.How)
	}
	for _, l := range info.Links {
		out = append(out, l.Label)
	}
	out = append(out, info.Source)
	for _, l := range info.Labels {
		out = append(out, l)
	}
	for _, l := range pageLabels {
		out = append(out, l)
	}
	return out
}

// TestExportPageOneLanguage: a French export shows no English text of the
// policies or of the page (purpose descriptions, legal bases, recipient
// roles, objection reasons, placeholders), and an English one no French;
// information.json's "language" is the page's.
func TestExportPageOneLanguage(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		info, err := x.Info.AccessInformation(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// A refused objection: its reason, recorded in the register, is
		// the policies' and shows in the page's language.
		ob := &Objector{DB: db, Policy: x.Register.Policies.(ObjectionPolicy), Register: x.Register, Hasher: x.Register.Hasher, Now: x.Register.Now}
		if _, err := ob.Object(context.Background(), store.SubjectKey{UserID: "u-42"}, "customer_support", ""); err == nil {
			t.Fatal("objection to customer_support not refused")
		}
		for _, lang := range []string{"fr", "en"} {
			other := map[string]string{"fr": "en", "en": "fr"}[lang]
			out := filepath.Join(t.TempDir(), lang+".zip")
			if _, err := x.Export(context.Background(), ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out, Lang: lang}); err != nil {
				t.Fatal(err)
			}
			files := unzip(t, out)
			page := string(files["index.html"])
			if !strings.Contains(page, `<html lang="`+lang+`">`) {
				t.Errorf("%s export: page is not lang=%q", lang, lang)
			}
			for _, l := range policyTexts(info) {
				mine, theirs := l.In(lang), l.In(other)
				if theirs == "" || theirs == mine || len(theirs) < 12 {
					continue
				}
				if strings.Contains(page, template.HTMLEscapeString(theirs)) {
					t.Errorf("%s export shows the %s text %q", lang, other, theirs)
				}
			}
			// The information section is policy text only.
			sec := page[strings.Index(page, `<section id="information">`):]
			text, _ := langcheck.Split(sec, other)
			text = regexp.MustCompile(`\S+@\S+|https?://\S+`).ReplaceAllString(text, " ")
			if lang == "fr" {
				if w := langcheck.English(text); len(w) > 0 {
					t.Errorf("English words in the French information section: %q", w)
				}
			} else if w := langcheck.French(text); len(w) > 0 {
				t.Errorf("French words in the English information section: %q", w)
			}
			for _, ph := range []string{"example.invalid", "TO BE FILLED"} {
				if strings.Contains(page, ph) {
					t.Errorf("%s export shows the placeholder %q instead of saying it is to be filled in", lang, ph)
				}
			}
			var ij struct {
				Language string `json:"language"`
			}
			if err := json.Unmarshal(files["information.json"], &ij); err != nil || ij.Language != lang {
				t.Errorf("%s export: information.json language %q (%v)", lang, ij.Language, err)
			}
		}
		// A language the page has no labels for is refused.
		if _, err := x.Export(context.Background(), ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: filepath.Join(t.TempDir(), "de.zip"), Lang: "de"}); err == nil || !strings.Contains(err.Error(), `"de"`) {
			t.Errorf("export in \"de\": %v, want an error naming it", err)
		}
	})
}
