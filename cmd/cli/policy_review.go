package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/review"
	"github.com/oubli/oubli/store"
)

// againstPolicies loads --against: a policy directory, "approved" (the
// newest approved revision) or "approved:ID".
func (e *Env) againstPolicies(v string) (review.Policy, string, error) {
	switch {
	case v == "":
		return nil, "", usageErrorf("--against DIR (a policy directory), approved or approved:ID is required")
	case v == "approved" || strings.HasPrefix(v, "approved:"):
		var id int64
		if s, ok := strings.CutPrefix(v, "approved:"); ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return nil, "", usageErrorf("--against %q: want approved or approved:ID (an id of oubli policy history)", v)
			}
			id = n
		}
		db, err := e.Store()
		if err != nil {
			return nil, "", err
		}
		eng, a, err := review.LoadApproval(e.Ctx, db, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", fmt.Errorf("--against %s: no such approval (oubli policy history lists them): %w", v, store.ErrNotFound)
		}
		if err != nil {
			return nil, "", err
		}
		return eng, fmt.Sprintf("approval %d (%s)", a.ID, a.ApprovedBy), nil
	default:
		st, err := os.Stat(v)
		if err != nil || !st.IsDir() {
			return nil, "", usageErrorf("--against %q: not a policy directory", v)
		}
		eng, err := policies.LoadDir(e.Ctx, v)
		if err != nil {
			return nil, "", fmt.Errorf("--against %s: %w", v, err)
		}
		return eng, v, nil
	}
}

// parseHorizon reads a duration with days and weeks (30d, 2w) as well as
// Go's units (72h).
func parseHorizon(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			k, err := strconv.Atoi(n)
			if err != nil || k <= 0 || k > 3660 {
				return 0, usageErrorf("--horizon %q: want a positive duration such as 30d, 2w or 72h", v)
			}
			return time.Duration(k) * unit, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usageErrorf("--horizon %q: want a positive duration such as 30d, 2w or 72h", v)
	}
	return d, nil
}

func newPolicyDiffCmd(e *Env) *cobra.Command {
	var against, at, horizon, format string
	c := &cobra.Command{
		Use:   "diff --against DIR|approved|approved:ID",
		Short: "What a policy change does on the live store: every record whose action differs, by category and rule pair",
		Long: `Evaluate the active policies and those of --against on the live store at --at
(default now), and report every record whose action differs, grouped by
category and rule pair, with counts and example ids. --against names a policy
directory, or a revision approved in the store (approved: the newest;
approved:ID). With --horizon 30d, also the comparison at --at plus the horizon:
the records whose expiry the change moves inside that window. Changes nothing.

The active policies are the "from" side: run it from the directory legal
proposes with --policies NEW --against approved to see what approving NEW
would do, or with the running policies and --against NEW.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.JSON() {
				format = "json"
			}
			switch format {
			case "text", "json", "md", "html":
			default:
				return usageErrorf("--format %q: want text, json, md or html", format)
			}
			h, err := parseHorizon(horizon)
			if err != nil {
				return err
			}
			t, err := e.TimeFlag("--at", at)
			if err != nil {
				return err
			}
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			other, _, err := e.againstPolicies(against)
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			rep, err := review.Diff(e.Ctx, db, eng, other, review.Options{At: t, Horizon: h, Log: e.Log})
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return e.PrintJSON(rep)
			case "md":
				return rep.WriteMarkdown(e.Out)
			case "html":
				return rep.WriteHTML(e.Out)
			}
			return rep.WriteText(e.Out)
		},
	}
	c.Flags().StringVar(&against, "against", "", "the policies to compare with: a directory, approved, or approved:ID")
	c.Flags().StringVar(&at, "at", "", "evaluate at this time (RFC 3339 or a date; default now)")
	c.Flags().StringVar(&horizon, "horizon", "", "also compare at --at plus this duration (30d, 2w, 72h)")
	c.Flags().StringVar(&format, "format", "text", "text, json, md or html")
	return c
}

func newPolicyApproveCmd(e *Env) *cobra.Command {
	var by, note string
	c := &cobra.Command{
		Use:   "approve --by NAME [--note TEXT]",
		Short: "Approve the active policy revision: kept with its files, the approver, and what it changes against the previous approval",
		Long: `Record that the active policy revision is approved: its hash and files (so it
can be rendered and compared with later), the approver, the time, the note, and
a summary of its effect on the live store against the previously approved
revision. Once a store holds any approval, retention run, schedule and erase
refuse (exit 3) a revision that is not approved, unless --allow-unapproved.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			a, rep, err := review.Approve(e.Ctx, db, eng, review.ApproveOptions{By: by, Note: note, Actor: e.Actor, Now: e.Now(), Log: e.Log})
			if err != nil {
				return err
			}
			if e.JSON() {
				out := map[string]any{"approval_id": a.ID, "revision": a.Revision, "approved_by": a.ApprovedBy,
					"approved_at": time.UnixMilli(a.ApprovedAt).UTC().Format(time.RFC3339), "previous_revision": a.PreviousRevision}
				if rep != nil {
					out["diff"] = rep
				}
				return e.PrintJSON(out)
			}
			e.Printf("approval %d: revision %s approved by %s\n", a.ID, a.Revision, a.ApprovedBy)
			if rep != nil {
				e.Printf("against the previous approval (%s): %d record(s) treated differently today\n", a.PreviousRevision, rep.Total)
			} else {
				e.Printf("the store's first approval: retention run, schedule and erase now refuse any revision not approved\n")
			}
			return nil
		},
	}
	c.Flags().StringVar(&by, "by", "", "the approver's name, as legal signs (required)")
	c.Flags().StringVar(&note, "note", "", "a note kept with the approval")
	return c
}

func newPolicyHistoryCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "history",
		Short: "List the approvals of policy revisions, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			all, err := store.PolicyApprovals(e.Ctx, db)
			if err != nil {
				return err
			}
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			type view struct {
				store.PolicyApproval
				ApprovedAt string `json:"approved_at"`
				Summary    any    `json:"summary"`
				Active     bool   `json:"active"`
				// Genuine: the audit trail holds its policy.approve entry,
				// naming its revision and files (review.CheckApproved).
				Genuine bool `json:"genuine"`
			}
			st, _ := review.CheckApproved(e.Ctx, db, eng)
			out := []view{}
			for _, a := range all {
				full, err := store.PolicyApprovalByID(e.Ctx, db, a.ID)
				if err != nil {
					return err
				}
				genuine, err := store.ApprovalAudited(e.Ctx, db, full)
				if err != nil {
					return err
				}
				v := view{PolicyApproval: a, ApprovedAt: time.UnixMilli(a.ApprovedAt).UTC().Format(time.RFC3339),
					Active: st.Approval != nil && st.Approval.ID == a.ID, Genuine: genuine}
				var s review.Summary
				if json.Unmarshal([]byte(a.Summary), &s) == nil {
					v.Summary = s
				}
				out = append(out, v)
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"active_revision": eng.Revision(), "approvals": out})
			}
			if len(out) == 0 {
				e.Printf("no approval yet: the policies (revision %s) were never approved\n", eng.Revision())
				return nil
			}
			e.Printf("%-4s %-20s %-14s %-24s %-9s %s\n", "ID", "APPROVED AT", "REVISION", "BY", "CHANGES", "NOTE")
			for _, v := range out {
				mark := ""
				if v.Active {
					mark = " (active)"
				}
				if !v.Genuine {
					mark += " (NOT GENUINE: the audit trail holds no policy.approve entry for this row as it stands)"
				}
				total := "-"
				if s, ok := v.Summary.(review.Summary); ok && s.Against != "" {
					total = strconv.FormatInt(s.Total, 10)
				}
				e.Printf("%-4d %-20s %-14s %-24s %-9s %s%s\n", v.ID, v.ApprovedAt, shortRev(v.Revision), v.ApprovedBy, total, v.Note, mark)
			}
			return nil
		},
	}
}

func shortRev(r string) string {
	if len(r) > 19 {
		return r[:19]
	}
	return r
}
