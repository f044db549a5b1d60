package policies

import "errors"

// ErrUnknownPurpose marks an objection or lookup naming a purpose the
// policies do not declare (exit 2).
var ErrUnknownPurpose = errors.New("unknown purpose")

// Cutoff is a conservative SQL pre-filter for one retention category: a
// record whose Column (Unix ms) is >= Before cannot be decided delete or
// anonymise at the evaluation time, so SQL may skip it. Every record with
// Column < Before, or NULL when NullIsCandidate, must still go to Decide.
type Cutoff struct {
	Column          string `json:"column"`
	Before          int64  `json:"before"`
	NullIsCandidate bool   `json:"null_is_candidate"`
}

// Purpose is one purpose of processing, as declared in purposes.rego.
type Purpose struct {
	Name        string        `json:"name"`
	Title       Label         `json:"title"`
	Description Label         `json:"description"`
	LegalBasis  Label         `json:"legal_basis"`
	Categories  []string      `json:"categories"`
	Recipients  []Recipient   `json:"recipients"`
	Objection   ObjectionRule `json:"objection"`
}

// Recipient is a recipient (or category of recipients) of personal data.
type Recipient struct {
	// ID is the recipient's stable id: the key of its delivery settings in
	// the --recipients file and the recipient of its notifications.
	ID    string `json:"id"`
	Name  Label  `json:"name"`
	Role  Label  `json:"role"`
	Basis Label  `json:"basis"`
}

// ObjectionRule says whether an objection (Art. 21) to a purpose applies,
// why, and which processing or categories it stops.
type ObjectionRule struct {
	Applies bool     `json:"applies"`
	Reason  Label    `json:"reason"`
	Stops   []string `json:"stops"`
}

// Label is a text in French and English.
type Label struct {
	FR string `json:"fr"`
	EN string `json:"en"`
	// Untagged is a text given in no stated language (a rule wording of one
	// plain string, in a policy written before wordings were bilingual): it
	// is shown in neither language, and `policy check` names it.
	Untagged string `json:"untagged,omitempty"`
}

// In returns the text in lang ("fr" or "en"); French otherwise.
func (l Label) In(lang string) string {
	if lang == "en" && l.EN != "" {
		return l.EN
	}
	return l.FR
}

// Period is a retention period in calendar years, months and days.
type Period struct {
	Years  int `json:"years"`
	Months int `json:"months"`
	Days   int `json:"days"`
}

// Contact is a controller's or DPO's contact details.
type Contact struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Email   string `json:"email,omitempty"`
	URL     string `json:"url,omitempty"`
}

// Link is one of the privacy notice's links.
type Link struct {
	Name  string `json:"name"`
	Label Label  `json:"label"`
	URL   string `json:"url"`
	// Placeholder is true while the URL is a placeholder the controller
	// must replace (https://example.invalid/…).
	Placeholder bool `json:"placeholder"`
}

// DataCategory is a category of personal data, for Art. 15(1)(b).
type DataCategory struct {
	Name        string `json:"name"`
	Label       Label  `json:"label"`
	Description Label  `json:"description"`
}

// RetentionEntry is one category's retention, for the schedule and Art. 15(1)(d).
type RetentionEntry struct {
	Category      string   `json:"category"`
	Title         Label    `json:"title"`
	Clock         string   `json:"clock"`
	ClockLabel    Label    `json:"clock_label"`
	Period        Period   `json:"period"`
	PeriodLabel   Label    `json:"period_label"`
	Stops         []string `json:"stops"`
	Action        string   `json:"action"`
	Then          *Stage   `json:"then,omitempty"`
	LegalBasis    string   `json:"legal_basis"`
	Justification string   `json:"justification"`
	GoesWith      string   `json:"goes_with,omitempty"`
}

// Stage is a second retention stage (agent statistics: anonymised first,
// deleted later).
type Stage struct {
	Period      Period `json:"period"`
	PeriodLabel Label  `json:"period_label"`
	Action      string `json:"action"`
}

// Right is one of the subject's rights, for Art. 15(1)(e)-(f).
type Right struct {
	Name    string `json:"name"`
	Article string `json:"article"`
	Label   Label  `json:"label"`
	How     Label  `json:"how"`
}

// Information is what an access export must tell the subject (Art. 15(1)),
// rendered from the policies' data, with labels in French and English.
type Information struct {
	Language   string           `json:"language"`
	Controller Contact          `json:"controller"`
	DPO        Contact          `json:"dpo"`
	Purposes   []Purpose        `json:"purposes"`
	Categories []DataCategory   `json:"categories"`
	Recipients []Recipient      `json:"recipients"`
	Retention  []RetentionEntry `json:"retention"`
	Rights     []Right          `json:"rights"`
	Source     Label            `json:"source"`
	Links      []Link           `json:"links"`
	Labels     map[string]Label `json:"labels"`
}

// RuleDoc is one policy rule's METADATA annotation, for the schedule.
type RuleDoc struct {
	ID            string `json:"id"`
	Package       string `json:"package"`
	Title         string `json:"title"`
	Description   string `json:"description"`
	Category      string `json:"category,omitempty"`
	Action        string `json:"action,omitempty"`
	LegalBasis    string `json:"legal_basis,omitempty"`
	Justification string `json:"justification,omitempty"`
	// Wording is the rule as the data subject reads it, in English and
	// French (METADATA custom wording: {en: …, fr: …}).
	Wording  Label  `json:"wording"`
	Location string `json:"location"`
}

// Schedule is the retention schedule and register of processing (Art. 30):
// every category's retention, the purposes, and every rule's annotation.
type Schedule struct {
	Revision   string           `json:"revision"`
	Controller Contact          `json:"controller"`
	DPO        Contact          `json:"dpo"`
	Retention  []RetentionEntry `json:"retention"`
	Purposes   []Purpose        `json:"purposes"`
	Recipients []Recipient      `json:"recipients"`
	Rules      []RuleDoc        `json:"rules"`
	// Register is the rest of the Art. 30 record (register.rego).
	Register Register `json:"register"`
	// Approval is the revision's approval status in the store it was
	// rendered against (oubli policy approve), "" when rendered without one.
	Approval string `json:"approval,omitempty"`
}

// Register is what the register of processing (Art. 30) says beyond the
// retention schedule, the purposes and the recipients (register.rego).
type Register struct {
	DataSubjects []DataSubjectCategory `json:"data_subjects"`
	PersonalData []PersonalData        `json:"personal_data"`
	Transfers    Transfers             `json:"transfers"`
	// Security says where the security measures (Art. 32) are described.
	Security Label `json:"security"`
	// OutsideStore are the schedule's entries for records kept outside the
	// store (the erasure ledger, backups).
	OutsideStore []RetentionEntry `json:"outside_store"`
}

// DataSubjectCategory is a category of data subjects (Art. 30(1)(c)) and
// the categories of personal data held about them (PersonalData names).
type DataSubjectCategory struct {
	Name  string   `json:"name"`
	Label Label    `json:"label"`
	Data  []string `json:"data"`
}

// PersonalData is a category of personal data, whom it concerns and the
// retention categories that hold it.
type PersonalData struct {
	Name         string   `json:"name"`
	DataSubjects []string `json:"data_subjects"`
	Label        Label    `json:"label"`
	Description  Label    `json:"description"`
	StoredIn     []string `json:"stored_in"`
}

// Transfers are the transfers outside the European Union (Art. 30(1)(e));
// None words their absence.
type Transfers struct {
	ThirdCountries []Transfer `json:"third_countries"`
	None           Label      `json:"none"`
}

// Transfer is one transfer to a third country, with its safeguard (Art. 46).
type Transfer struct {
	Recipient string `json:"recipient"`
	Country   string `json:"country"`
	Safeguard Label  `json:"safeguard"`
}
