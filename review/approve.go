package review

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// ErrUnapproved is returned by CheckApproved when the store holds approvals
// but none of the active revision (exit 3, refused).
var ErrUnapproved = errors.New("policy revision not approved")

// Revisioned is a policy set whose files can be kept with its approval
// (*policies.Engine).
type Revisioned interface {
	Policy
	Files() []string
	Source(name string) (string, bool)
}

// Summary is the diff kept with an approval: counts only.
type Summary struct {
	Against string          `json:"against"` // the revision compared with ("" for the first approval)
	At      string          `json:"at"`
	Total   int64           `json:"total"`
	Changes []SummaryChange `json:"changes"`
}

// SummaryChange is a Change without its examples.
type SummaryChange struct {
	Category   string `json:"category"`
	ActionFrom string `json:"action_from"`
	ActionTo   string `json:"action_to"`
	RuleFrom   string `json:"rule_from"`
	RuleTo     string `json:"rule_to"`
	Count      int64  `json:"count"`
}

// ApproveOptions say who approves and why.
type ApproveOptions struct {
	By    string // the approver, as legal signs
	Note  string
	Actor string // who ran the command (the audit entry's actor)
	Now   time.Time
	Log   *slog.Logger
}

// maxNoteLen bounds an approval's note and approver name (bytes).
const maxNoteLen = 2000

// Approve records that pol's revision is approved: its files, the approver,
// time and note, and a summary of what it changes on the live store against
// the previously approved revision; an audit entry policy.approve links it.
func Approve(ctx context.Context, db *store.DB, pol Revisioned, o ApproveOptions) (store.PolicyApproval, *Report, error) {
	by, note := strings.TrimSpace(o.By), strings.TrimSpace(o.Note)
	switch {
	case by == "":
		return store.PolicyApproval{}, nil, fmt.Errorf("an approval needs the approver's name (--by): %w", store.ErrInvalid)
	case len(by) > 200 || len(note) > maxNoteLen:
		return store.PolicyApproval{}, nil, fmt.Errorf("--by (200 bytes) or --note (%d bytes) too long: %w", maxNoteLen, store.ErrInvalid)
	case !utf8.ValidString(by+note) || strings.ContainsAny(by+note, "\x00"):
		return store.PolicyApproval{}, nil, fmt.Errorf("--by or --note is not valid UTF-8 text: %w", store.ErrInvalid)
	}
	// Legal signs off only what the strict check passes (adversarial pass
	// 8 F9: a revision `policy check` refused — a period without its
	// label, read "more than  ago" — was approved and became runnable).
	if c, ok := pol.(interface{ Check() error }); ok {
		if err := c.Check(); err != nil {
			return store.PolicyApproval{}, nil, fmt.Errorf("not approved: `oubli policy check` refuses this revision: %w", err)
		}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	files := map[string]string{}
	for _, name := range pol.Files() {
		src, _ := pol.Source(name)
		files[name] = src
	}
	fb, err := json.Marshal(files)
	if err != nil {
		return store.PolicyApproval{}, nil, err
	}
	a := store.PolicyApproval{Revision: pol.Revision(), ApprovedBy: by, ApprovedAt: o.Now.UnixMilli(), Note: note, Files: string(fb)}
	sum := Summary{At: o.Now.UTC().Format(time.RFC3339), Changes: []SummaryChange{}}
	var rep *Report
	prev, err := store.LatestPolicyApproval(ctx, db, "")
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return a, nil, err
	default:
		a.PreviousRevision, sum.Against = prev.Revision, prev.Revision
		old, err := loadFiles(ctx, prev.Files)
		if err != nil {
			return a, nil, fmt.Errorf("the previously approved revision (approval %d): %w", prev.ID, err)
		}
		if rep, err = Diff(ctx, db, old, pol, Options{At: o.Now, Log: o.Log}); err != nil {
			return a, nil, err
		}
		sum.Total = rep.Total
		for _, c := range rep.Changes {
			sum.Changes = append(sum.Changes, SummaryChange{c.Category, c.ActionFrom, c.ActionTo, c.RuleFrom, c.RuleTo, c.Count})
		}
	}
	sb, _ := json.Marshal(sum)
	a.Summary = string(sb)
	err = db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if a.ID, err = store.AddPolicyApproval(ctx, tx, a); err != nil {
			return err
		}
		_, err = store.AppendAudit(ctx, tx, store.AuditRecord{At: o.Now, Actor: o.Actor, Action: "policy.approve", Outcome: "ok",
			Detail: map[string]any{"approval_id": a.ID, "revision": a.Revision, "previous_revision": a.PreviousRevision, "diff_total": sum.Total,
				"files_sha256": store.ApprovalFilesHash(a.Files)}})
		return err
	})
	return a, rep, err
}

// LoadApproval returns the policy set kept with approval id (0: the newest).
func LoadApproval(ctx context.Context, db *store.DB, id int64) (*policies.Engine, store.PolicyApproval, error) {
	var a store.PolicyApproval
	var err error
	if id == 0 {
		a, err = store.LatestPolicyApproval(ctx, db, "")
	} else {
		a, err = store.PolicyApprovalByID(ctx, db, id)
	}
	if err != nil {
		return nil, a, err
	}
	eng, err := loadFiles(ctx, a.Files)
	return eng, a, err
}

func loadFiles(ctx context.Context, files string) (*policies.Engine, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(files), &m); err != nil {
		return nil, fmt.Errorf("approved policy files: %w", err)
	}
	fsys := fstest.MapFS{}
	for name, src := range m {
		fsys[name] = &fstest.MapFile{Data: []byte(src), Mode: 0o644}
	}
	return policies.Load(ctx, fsys)
}

// Status is the approval state of a revision.
type Status struct {
	// Approvals is how many approvals the store holds (of any revision).
	Approvals int `json:"approvals"`
	// Approval is the newest approval of the revision, if any.
	Approval *store.PolicyApproval `json:"approval,omitempty"`
}

// CheckApproved returns the approval state of pol's revision. When the
// store holds approvals but no genuine one of that revision it returns
// ErrUnapproved; a store that never approved anything returns a Status with
// no approval and no error (it runs as before, with a warning). An approval
// is genuine when the files it keeps are byte for byte the active ones (the
// revision names them by 64 bits of a hash only) and the audit trail holds
// its policy.approve entry (or has pruned past it): a row written into
// policy_approvals by hand lifts nothing (adversarial pass 7 F5).
func CheckApproved(ctx context.Context, db *store.DB, pol Revisioned) (Status, error) {
	revision := pol.Revision()
	all, err := store.PolicyApprovals(ctx, db)
	if err != nil {
		return Status{}, err
	}
	st := Status{Approvals: len(all)}
	if len(all) == 0 {
		return st, nil
	}
	var why string
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Revision != revision {
			continue
		}
		a, err := store.PolicyApprovalByID(ctx, db, all[i].ID)
		if err != nil {
			return st, err
		}
		if !sameFiles(a.Files, pol) {
			why = cmp.Or(why, fmt.Sprintf(" (approval %d names this revision, but the files it keeps are not the active ones)", a.ID))
			continue
		}
		ok, err := store.ApprovalAudited(ctx, db, a)
		if err != nil {
			return st, err
		}
		if !ok {
			why = cmp.Or(why, fmt.Sprintf(" (approval %d names this revision, but the audit trail holds no policy.approve entry for it: not made by `oubli policy approve`)", a.ID))
			continue
		}
		a.Files = ""
		st.Approval = &a
		return st, nil
	}
	if why != "" {
		return st, fmt.Errorf("%w: no genuine approval of the active policies (revision %s)%s: have legal review `oubli policy diff --against approved` and `oubli policy approve`, or pass --allow-unapproved",
			ErrUnapproved, short(revision), why)
	}
	last := all[len(all)-1]
	return st, fmt.Errorf("%w: the active policies (revision %s) differ from every approved revision (the newest, %s, approved by %s on %s): have legal review `oubli policy diff --against approved` and `oubli policy approve`, or pass --allow-unapproved",
		ErrUnapproved, short(revision), short(last.Revision), last.ApprovedBy, time.UnixMilli(last.ApprovedAt).UTC().Format("2006-01-02"))
}

// sameFiles reports whether an approval's files (JSON: name → source) are
// exactly pol's.
func sameFiles(approved string, pol Revisioned) bool {
	var m map[string]string
	if json.Unmarshal([]byte(approved), &m) != nil {
		return false
	}
	names := pol.Files()
	if len(m) != len(names) {
		return false
	}
	for _, n := range names {
		src, _ := pol.Source(n)
		if got, ok := m[n]; !ok || got != src {
			return false
		}
	}
	return true
}

func short(rev string) string {
	if len(rev) > 19 {
		return rev[:19]
	}
	return rev
}
