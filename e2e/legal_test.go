package e2e

import (
	"archive/zip"
	"encoding/json"
	"html/template"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/langcheck"
	"github.com/oubli/oubli/policies"
)

// TestLegalSchedule: `policy schedule` is the Art. 30 record rendered from
// the policies: data subjects (agents among them), categories of data,
// transfers, security, the erasure ledger and backups; the HTML page is
// lang="en" and every French text sits under lang="fr".
func TestLegalSchedule(t *testing.T) {
	w := newWorld(t, "sqlite")
	md := w.must("policy", "schedule").stdout
	for _, want := range []string{"## Categories of data subjects", "Customer-support agents", "## Categories of personal data",
		"## Transfers outside the European Union", "## Security measures", "| `erasure_ledger` |", "| `backups` |"} {
		if !strings.Contains(md, want) {
			t.Errorf("policy schedule lacks %q", want)
		}
	}
	if strings.Contains(md, "…") {
		t.Error("policy schedule holds a wording cut short (…)")
	}
	page := w.must("policy", "schedule", "--format", "html").stdout
	en, fr := langcheck.Split(page, "fr")
	if f := langcheck.French(en); len(f) > 0 {
		t.Errorf("French outside lang=\"fr\" in the HTML schedule: %q", f)
	}
	if e := langcheck.English(fr); len(e) > 0 {
		t.Errorf("English under lang=\"fr\" in the HTML schedule: %q", e)
	}
	var s policies.Schedule
	if err := json.Unmarshal([]byte(w.must("policy", "schedule", "--format", "json").stdout), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Register.DataSubjects) == 0 || len(s.Register.OutsideStore) != 2 || s.Register.Transfers.None.EN == "" || s.Register.Security.FR == "" {
		t.Errorf("schedule JSON lacks the register: %+v", s.Register)
	}
}

// TestLegalExportLanguage: on the demo data, an export in French shows no
// English text of the policies (and in English no French), taking the texts
// from the archive's own information.json; its "language" is the page's.
func TestLegalExportLanguage(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("seed", "--demo")
	// A refused objection puts the policy's reason in the register.
	if r := w.run(nil, "object", "--user-id", "d-u11", "--purpose", "customer_support"); r.code != 3 {
		t.Fatalf("objection to customer_support: %s", r)
	}
	for _, lang := range []string{"fr", "en"} {
		other := map[string]string{"fr": "en", "en": "fr"}[lang]
		out := filepath.Join(w.dir, lang+".zip")
		args := []string{"export", "--user-id", "d-u11", "--out", out}
		if lang == "en" {
			args = append(args, "--lang", "en")
		}
		r := w.must(args...)
		if !strings.Contains(r.stderr, "placeholder") {
			t.Errorf("export did not warn about the controller's placeholders: %q", r.stderr)
		}
		files := readZip(t, out)
		var info struct {
			Language string `json:"language"`
		}
		if err := json.Unmarshal(files["information.json"], &info); err != nil || info.Language != lang {
			t.Errorf("%s export: information.json language %q %v", lang, info.Language, err)
		}
		page := string(files["index.html"])
		if !strings.Contains(page, `<html lang="`+lang+`">`) {
			t.Errorf("%s export: index.html is not lang=%q", lang, lang)
		}
		// Every {"fr", "en"} text of information.json.
		var raw any
		_ = json.Unmarshal(files["information.json"], &raw)
		n := 0
		walkLabels(raw, func(l map[string]any) {
			mine, _ := l[lang].(string)
			theirs, _ := l[other].(string)
			if len(theirs) < 12 || theirs == mine {
				return
			}
			n++
			if strings.Contains(page, template.HTMLEscapeString(theirs)) {
				t.Errorf("%s export shows the %s text %q", lang, other, theirs)
			}
		})
		if n < 30 {
			t.Errorf("only %d bilingual texts in information.json", n)
		}
		if regexp.MustCompile(`example\.invalid|TO BE FILLED`).MatchString(page) {
			t.Errorf("%s export shows a placeholder as if it were the controller's detail", lang)
		}
	}
}

func walkLabels(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["fr"]; ok {
			if _, ok := x["en"]; ok {
				fn(x)
				return
			}
		}
		for _, c := range x {
			walkLabels(c, fn)
		}
	case []any:
		for _, c := range x {
			walkLabels(c, fn)
		}
	}
}

func readZip(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = b
	}
	return out
}
