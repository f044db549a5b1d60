package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/review"
	"github.com/oubli/oubli/store"
)

// approvalGated are the commands that refuse an active policy revision the
// store has not approved, once it holds any approval (oubli policy approve):
// every command that deletes or derives personal data by what the policies
// decide. retention run, schedule and erase delete by them; stats refresh
// derives per-subject figures in the form the policies allow for their age
// (and drops those that expired); object asks the policies whether an
// objection applies and, if so, deletes the subject's figures. Not gated:
// check --residue (it asks no policy and deletes nothing: it verifies
// earlier erasures, and refusing it would hide residue), the dry runs and
// plans, and the read-only commands.
var approvalGated = map[string]bool{
	"oubli retention run": true, "oubli schedule": true, "oubli erase": true,
	"oubli stats refresh": true, "oubli object": true,
}

// addApprovalFlags gives the gated commands --allow-unapproved.
func (e *Env) addApprovalFlags(root *cobra.Command) {
	for _, c := range root.Commands() {
		for _, s := range append([]*cobra.Command{c}, c.Commands()...) {
			if approvalGated[s.CommandPath()] {
				s.Flags().BoolVar(&e.allowUnapproved, "allow-unapproved", false, "run although the active policy revision is not approved (audited with the actor)")
			}
		}
	}
}

// gateApproval refuses (exit 3, audited) a gated command whose active policy
// revision the store has not approved, unless --allow-unapproved (audited
// too). A store that never approved anything runs, with a warning.
func (e *Env) gateApproval(cmd *cobra.Command) error {
	if !approvalGated[cmd.CommandPath()] {
		return nil
	}
	eng, err := e.Engine()
	if err != nil {
		return err
	}
	db, err := e.Store()
	if err != nil {
		return err
	}
	st, err := review.CheckApproved(e.Ctx, db, eng)
	switch {
	case err == nil && st.Approvals == 0:
		fmt.Fprintf(e.Err, "oubli: warning: the policies (revision %s) were never approved: have legal review them (oubli policy diff, oubli policy approve)\n", shortRev(eng.Revision()))
		return nil
	case err == nil:
		return nil
	case !errors.Is(err, review.ErrUnapproved):
		return err
	case isDryRun(cmd):
		// A dry run changes nothing and is not gated; it says what the
		// real run would meet.
		fmt.Fprintf(e.Err, "oubli: warning: the policies (revision %s) are unapproved in this store: a dry run is allowed, the real run will be refused (exit 3) unless legal approves them or --allow-unapproved\n", shortRev(eng.Revision()))
		return nil
	}
	outcome, action := "refused", "policy.unapproved"
	if e.allowUnapproved {
		outcome, action = "ok", "policy.allow_unapproved"
	}
	aerr := db.InTx(e.Ctx, func(tx *store.Tx) error {
		_, err := store.AppendAudit(e.Ctx, tx, store.AuditRecord{At: e.Now(), Actor: e.Actor, Action: action, Outcome: outcome,
			Detail: map[string]any{"revision": eng.Revision(), "command": cmd.CommandPath()}})
		return err
	})
	if aerr != nil {
		return aerr
	}
	if e.allowUnapproved {
		fmt.Fprintf(e.Err, "oubli: warning: running with an unapproved policy revision (%s), as --allow-unapproved asks; recorded in the audit trail\n", shortRev(eng.Revision()))
		return nil
	}
	return err
}

// isDryRun reports whether cmd was given --dry-run: a dry run changes
// nothing and is not gated (erase --dry-run, erase --from FILE --dry-run,
// erase --reapply --dry-run).
func isDryRun(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("dry-run")
	return f != nil && f.Value.String() == "true"
}

// approvalStatus describes the active revision's approval in the store, for
// the rendered schedule ("" without a store to ask).
func (e *Env) approvalStatus(pol review.Revisioned) string {
	if p := e.sqlitePath(); p != "" && !fileExists(p) {
		return ""
	}
	db, err := e.Store()
	if err != nil {
		return ""
	}
	st, err := review.CheckApproved(e.Ctx, db, pol)
	switch {
	case errors.Is(err, review.ErrUnapproved):
		return "NOT APPROVED: this revision differs from every revision approved in the store"
	case err != nil:
		return ""
	case st.Approval != nil:
		return fmt.Sprintf("approved by %s on %s (approval %d)", st.Approval.ApprovedBy, time.UnixMilli(st.Approval.ApprovedAt).UTC().Format("2006-01-02"), st.Approval.ID)
	default:
		return "never approved (oubli policy approve)"
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
