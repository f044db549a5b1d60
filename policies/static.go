package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Static documents evaluated once at Load.
const (
	queryPurposes    = "data.oubli.purposes.purposes"
	queryRecipients  = "data.oubli.purposes.recipients"
	querySchedule    = "data.oubli.retention.schedule"
	queryInformation = "data.oubli.requests.information"
	queryRegister    = "data.oubli.register.register"
)

// loadStatic evaluates the documents that do not depend on input, so that
// a policy missing one fails at Load rather than in the middle of a request.
func (e *Engine) loadStatic(ctx context.Context, prep func(string) (rego.PreparedEvalQuery, error)) error {
	get := func(q string, dst any) error {
		pq, err := prep(q)
		if err != nil {
			return err
		}
		v, err := e.evalOne(ctx, pq, q, ast.NewObject(), time.Time{})
		if err != nil {
			return err
		}
		return decodeInto(v, dst, q)
	}
	if err := get(queryPurposes, &e.purposes); err != nil {
		return err
	}
	if err := get(queryRecipients, &e.recipients); err != nil {
		return err
	}
	if err := checkRecipientIDs(e.recipients); err != nil {
		return err
	}
	if err := get(querySchedule, &e.retentionDB); err != nil {
		return err
	}
	if err := checkPeriods(e.retentionDB); err != nil {
		return err
	}
	if err := get(queryInformation, &e.info); err != nil {
		return err
	}
	if err := get(queryRegister, &e.register); err != nil {
		return err
	}
	if len(e.purposes) == 0 || len(e.retentionDB) == 0 {
		return fmt.Errorf("%w: the policies declare no purpose or no retention category", ErrPolicy)
	}
	e.rules = ruleDocs(e.compiler)
	return nil
}

// checkPeriods refuses a schedule with a negative period (adversarial pass
// 7 F4: "years": -5 made every closed ticket expired, and the run deleted
// them, giving the register the reason "closed more than 5 years ago").
func checkPeriods(entries []RetentionEntry) error {
	for _, r := range entries {
		ps := map[string]Period{"period": r.Period}
		if r.Then != nil {
			ps["then.period"] = r.Then.Period
		}
		for _, field := range []string{"period", "then.period"} {
			p, ok := ps[field]
			if ok && (p.Years < 0 || p.Months < 0 || p.Days < 0) {
				return fmt.Errorf("%w: schedule.%s.%s: a negative period (%d years, %d months, %d days)", ErrPolicy, r.Category, field, p.Years, p.Months, p.Days)
			}
		}
	}
	return nil
}

// ruleDocs collects the METADATA annotations of every rule, sorted by id.
func ruleDocs(c *ast.Compiler) []RuleDoc {
	var out []RuleDoc
	for _, ref := range c.GetAnnotationSet().Flatten() {
		a := ref.Annotations
		if a == nil || (a.Scope != "rule" && a.Scope != "document") {
			continue
		}
		if loc := a.Location; loc != nil && IsTestFile(loc.File) {
			continue
		}
		str := func(k string) string {
			if v, ok := a.Custom[k]; ok {
				if s, ok := v.(string); ok {
					return s
				}
				return fmt.Sprint(v)
			}
			return ""
		}
		d := RuleDoc{
			ID:            str("id"),
			Package:       ref.Path.String(),
			Title:         a.Title,
			Description:   a.Description,
			Category:      str("category"),
			Action:        str("action"),
			LegalBasis:    str("legal_basis"),
			Justification: str("justification"),
			Wording:       wording(a.Custom["wording"]),
		}
		if a.Location != nil {
			d.Location = a.Location.File + ":" + strconv.Itoa(a.Location.Row)
		}
		if d.ID == "" {
			d.ID = ref.Path.String()
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b RuleDoc) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// wording reads a rule's METADATA wording: {en: …, fr: …}. A wording of one
// plain string, in no stated language, is kept as Label.Untagged so that
// WordingProblems can name it; it is shown in neither language.
func wording(v any) Label {
	switch w := v.(type) {
	case map[string]any:
		var l Label
		l.EN, _ = w["en"].(string)
		l.FR, _ = w["fr"].(string)
		return l
	case string:
		return Label{Untagged: w}
	case nil:
		return Label{}
	}
	return Label{Untagged: fmt.Sprint(v)}
}

// WordingProblems names the policy texts a reader would find wrong: a rule
// wording not given in both English and French, and any wording, title,
// description, legal basis or reason of the purposes, recipients, register
// or information that is empty in one language or cut short ("…", "...").
// `policy check` reports them.
func (e *Engine) WordingProblems() []string {
	var out []string
	for _, r := range e.rules {
		w := r.Wording
		switch {
		case w.Untagged != "":
			out = append(out, fmt.Sprintf("rule %s: wording is not given per language (wording: {en: …, fr: …})", r.ID))
		case w.EN == "" && w.FR == "":
		case w.EN == "" || w.FR == "":
			out = append(out, fmt.Sprintf("rule %s: wording is given in one language only", r.ID))
		}
		for _, t := range []struct{ what, s string }{{"title", r.Title}, {"description", r.Description}, {"wording (en)", w.EN}, {"wording (fr)", w.FR}, {"justification", r.Justification}} {
			if truncated(t.s) {
				out = append(out, fmt.Sprintf("rule %s: %s ends with an ellipsis: write it out", r.ID, t.what))
			}
		}
	}
	for _, l := range e.labels() {
		switch {
		case l.l.EN == "" || l.l.FR == "":
			out = append(out, fmt.Sprintf("%s: not given in both English and French", l.where))
		case truncated(l.l.EN) || truncated(l.l.FR):
			out = append(out, fmt.Sprintf("%s: ends with an ellipsis: write it out", l.where))
		}
	}
	return out
}

func truncated(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasSuffix(s, "…") || strings.HasSuffix(s, "...")
}

type placedLabel struct {
	where string
	l     Label
}

// labels lists every bilingual text of the purposes, recipients, register
// and access information, with where it is.
func (e *Engine) labels() []placedLabel {
	var out []placedLabel
	add := func(where string, l Label) { out = append(out, placedLabel{where, l}) }
	for _, p := range e.purposes {
		add("purposes."+p.Name+".title", p.Title)
		add("purposes."+p.Name+".description", p.Description)
		add("purposes."+p.Name+".legal_basis", p.LegalBasis)
		add("purposes."+p.Name+".objection.reason", p.Objection.Reason)
	}
	for _, r := range e.recipients {
		add("recipients."+r.ID+".name", r.Name)
		add("recipients."+r.ID+".role", r.Role)
		add("recipients."+r.ID+".basis", r.Basis)
	}
	for _, r := range append(slices.Clone(e.retentionDB), e.register.OutsideStore...) {
		add("schedule."+r.Category+".title", r.Title)
		if r.GoesWith == "" {
			add("schedule."+r.Category+".period_label", r.PeriodLabel)
		}
		add("schedule."+r.Category+".clock_label", r.ClockLabel)
	}
	for _, s := range e.register.DataSubjects {
		add("register.data_subjects."+s.Name, s.Label)
	}
	for _, c := range e.register.PersonalData {
		add("register.personal_data."+c.Name+".label", c.Label)
		add("register.personal_data."+c.Name+".description", c.Description)
	}
	if len(e.register.Transfers.ThirdCountries) == 0 {
		add("register.transfers.none", e.register.Transfers.None)
	}
	for i, t := range e.register.Transfers.ThirdCountries {
		add(fmt.Sprintf("register.transfers.third_countries[%d].safeguard", i), t.Safeguard)
	}
	add("register.security", e.register.Security)
	for _, c := range e.info.Categories {
		add("requests.categories."+c.Name, c.Label)
	}
	for _, r := range e.info.Rights {
		add("requests.rights."+r.Name+".label", r.Label)
		add("requests.rights."+r.Name+".how", r.How)
	}
	add("requests.source", e.info.Source)
	for k, l := range e.info.Labels {
		add("requests.labels."+k, l)
	}
	slices.SortStableFunc(out, func(a, b placedLabel) int { return strings.Compare(a.where, b.where) })
	return out
}

// Purposes returns the purposes of processing, their legal bases,
// recipients and objection rules.
func (e *Engine) Purposes(ctx context.Context) ([]Purpose, error) {
	return clone(e.purposes), nil
}

// Object returns the objection rule (Art. 21) for a purpose. An unknown
// purpose is an error wrapping ErrUnknownPurpose. When Applies is false the
// caller refuses the objection (ErrRefused) with Reason.
func (e *Engine) Object(ctx context.Context, purpose string) (ObjectionRule, error) {
	for _, p := range e.purposes {
		if p.Name == purpose {
			return clone(p.Objection), nil
		}
	}
	names := make([]string, len(e.purposes))
	for i, p := range e.purposes {
		names[i] = p.Name
	}
	return ObjectionRule{}, fmt.Errorf("%w %q (the policies declare %v)", ErrUnknownPurpose, purpose, names)
}

// Recipients returns everyone to tell of a rectification or erasure
// (Art. 19): the recipients of every purpose.
func (e *Engine) Recipients(ctx context.Context) ([]Recipient, error) {
	return clone(e.recipients), nil
}

// RequestDeadline returns the due date of a data-subject request received
// at received (Art. 12(3): one month) and the latest date an extension may
// reach (two further months).
func (e *Engine) RequestDeadline(ctx context.Context, requestType string, received time.Time) (due, maxExtended time.Time, err error) {
	in := ast.NewObject(
		ast.Item(ast.StringTerm("type"), ast.StringTerm(requestType)),
		ast.Item(ast.StringTerm("received_ns"), ast.NumberTerm(json.Number(strconv.FormatInt(received.UnixNano(), 10)))),
	)
	v, err := e.evalOne(ctx, e.deadline, fmt.Sprintf("deadline for a %q request", requestType), in, received)
	if err != nil {
		return due, maxExtended, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return due, maxExtended, fmt.Errorf("%w: deadline: want an object, got %T", ErrPolicy, v)
	}
	d, err1 := toInt64(m["due_ns"])
	x, err2 := toInt64(m["max_extended_ns"])
	if err1 != nil || err2 != nil {
		return due, maxExtended, fmt.Errorf("%w: deadline: want due_ns and max_extended_ns numbers", ErrPolicy)
	}
	loc := received.Location()
	return time.Unix(0, d).In(loc), time.Unix(0, x).In(loc), nil
}

// AccessInformation returns what an access export must tell the subject
// (Art. 15(1)), from the policies' data.
func (e *Engine) AccessInformation(ctx context.Context) (Information, error) {
	return clone(e.info), nil
}

// Schedule returns the retention schedule and register of processing.
func (e *Engine) Schedule(ctx context.Context) (Schedule, error) {
	return clone(Schedule{
		Revision:   e.revision,
		Controller: e.info.Controller,
		DPO:        e.info.DPO,
		Retention:  e.retentionDB,
		Purposes:   e.purposes,
		Recipients: e.recipients,
		Rules:      e.rules,
		Register:   e.register,
	}), nil
}

// clone deep-copies a JSON-shaped value so callers cannot alter the cache.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// checkRecipientIDs fails closed when a recipient has no id, an id that is
// not a plain token, or the id of another: notifications are keyed by it.
func checkRecipientIDs(rs []Recipient) error {
	seen := map[string]bool{}
	for i, r := range rs {
		if !validRecipientID(r.ID) {
			return fmt.Errorf("%w: recipient #%d (%q) needs an id of 1-64 characters a-z, 0-9, _ or -, not %q", ErrPolicy, i+1, r.Name.EN, r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: recipient id %q is given twice", ErrPolicy, r.ID)
		}
		seen[r.ID] = true
	}
	return nil
}

func validRecipientID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
