package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Test, check, document and explain the Rego policies"}
	c.AddCommand(newPolicyTestCmd(e), newPolicyCheckCmd(e), newPolicyScheduleCmd(e), newPolicyExplainCmd(e),
		newPolicyDiffCmd(e), newPolicyApproveCmd(e), newPolicyHistoryCmd(e))
	return c
}

// ErrPolicyTests marks failing Rego unit tests (exit 1).
var ErrPolicyTests = errors.New("policy tests failed")

func newPolicyTestCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "test",
		Short: "Run the Rego unit tests (*_test.rego) of the active policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			res, err := eng.RunTests(e.Ctx)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range res {
				if !r.Pass && !r.Skip {
					failed++
				}
			}
			if e.JSON() {
				if err := e.PrintJSON(map[string]any{"policy_revision": eng.Revision(), "passed": len(res) - failed, "failed": failed, "tests": res}); err != nil {
					return err
				}
			} else {
				for _, r := range res {
					status := "PASS"
					switch {
					case r.Skip:
						status = "SKIP"
					case !r.Pass:
						status = "FAIL"
					}
					e.Printf("%s  %s.%s  (%s)", status, strings.TrimPrefix(r.Package, "data."), r.Name, r.Location)
					if r.Error != "" {
						e.Printf(": %s", r.Error)
					}
					e.Printf("\n")
				}
				e.Printf("%d passed, %d failed (policy revision %s)\n", len(res)-failed, failed, eng.Revision())
			}
			if len(res) == 0 {
				return fmt.Errorf("%w: no Rego test found", ErrPolicyTests)
			}
			if failed > 0 {
				return fmt.Errorf("%w: %d of %d", ErrPolicyTests, failed, len(res))
			}
			return nil
		},
	}
}

func newPolicyCheckCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Compile the policies strictly, check their formatting (opa fmt) and that every text is in English and French, written out; exit 2 on any fault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			if err := eng.CompileAll(); err != nil {
				return err
			}
			bad, err := eng.Unformatted()
			if err != nil {
				return err
			}
			holes, err := e.warnPlaceholders()
			if err != nil {
				return err
			}
			texts := eng.WordingProblems()
			ok := len(bad) == 0 && len(texts) == 0
			if e.JSON() {
				if err := e.PrintJSON(map[string]any{"policy_revision": eng.Revision(), "files": eng.Files(), "unformatted": nonNil(bad), "ok": ok,
					"placeholders": nonNil(holes), "wording_problems": nonNil(texts)}); err != nil {
					return err
				}
			} else if ok {
				e.Printf("ok: %d policy files compile in strict mode and are formatted, every text in English and French (revision %s)\n", len(eng.Files()), eng.Revision())
			}
			if len(bad) > 0 {
				return fmt.Errorf("%w: not formatted as opa fmt would (run opa fmt -w): %s", policies.ErrPolicy, strings.Join(bad, ", "))
			}
			if len(texts) > 0 {
				return fmt.Errorf("%w: texts for readers to fix: %s", policies.ErrPolicy, strings.Join(texts, "; "))
			}
			return nil
		},
	}
}

// warnPlaceholders says on stderr which of the controller's details in the
// policies are still placeholders (example.invalid, "TO BE FILLED"), and
// returns them.
func (e *Env) warnPlaceholders() ([]string, error) {
	eng, err := e.Engine()
	if err != nil {
		return nil, err
	}
	info, err := eng.AccessInformation(e.Ctx)
	if err != nil {
		return nil, err
	}
	holes := policies.Placeholders(info)
	if len(holes) > 0 {
		fmt.Fprintf(e.Err, "oubli: warning: the policies still hold the controller's placeholders (example.invalid, \"TO BE FILLED\"): %s; fill them in requests.rego before exports reach subjects\n",
			strings.Join(holes, ", "))
	}
	return holes, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newPolicyScheduleCmd(e *Env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "schedule",
		Short: "Print the retention schedule and register of processing (Art. 30) for legal review",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.JSON() && format == "" {
				format = "json"
			}
			if format == "" {
				format = "md"
			}
			if !slices.Contains(policies.ScheduleFormats, format) {
				return usageErrorf("--format must be md, html or json, not %q", format)
			}
			if e.JSON() && format != "json" {
				return usageErrorf("--output json prints JSON: use --format json")
			}
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			s, err := eng.Schedule(e.Ctx)
			if err != nil {
				return err
			}
			s.Approval = e.approvalStatus(eng)
			return policies.RenderSchedule(e.Out, s, format)
		},
	}
	c.Flags().StringVar(&format, "format", "", "md, html or json (default md; json with --output json)")
	return c
}

func newPolicyExplainCmd(e *Env) *cobra.Command {
	var ticket, at string
	c := &cobra.Command{
		Use:   "explain --ticket ID [--at TIME]",
		Short: "The retention decision for a ticket and its attachments, with rule, reason and expiry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ticket == "" {
				return usageErrorf("--ticket is required")
			}
			when, err := e.TimeFlag("--at", at)
			if err != nil {
				return err
			}
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			facts, err := loadTicketFacts(e.Ctx, db, ticket, when.UnixMilli())
			if err != nil {
				return err
			}
			x, err := eng.Explain(e.Ctx, when, facts)
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(x)
			}
			e.Printf("at %s, policy revision %s\n", x.At, x.Revision)
			line := func(x policies.Explained) {
				d := x.Decision
				e.Printf("%-11s %-20s %-9s %-26s", x.Category, x.ID, d.Action, d.Rule)
				if x.Expires != "" {
					e.Printf(" expires %s", x.Expires)
				} else {
					e.Printf(" no expiry yet")
				}
				if d.Held {
					e.Printf(" [kept by hold/dispute]")
				}
				e.Printf("\n            %s\n", d.Reason)
			}
			line(x.Ticket)
			for _, a := range x.Attachments {
				line(a)
			}
			return nil
		},
	}
	c.Flags().StringVar(&ticket, "ticket", "", "ticket id")
	c.Flags().StringVar(&at, "at", "", "evaluation time, RFC 3339 or YYYY-MM-DD (default now)")
	return c
}

// loadTicketFacts reads one ticket's retention facts at ms: status, dates,
// dispute, whether a legal hold on the ticket or its subject is active,
// and its attachments. store.ErrNotFound for an unknown ticket.
func loadTicketFacts(ctx context.Context, q store.Querier, id string, ms int64) (policies.TicketFacts, error) {
	var t struct {
		TicketID      string         `db:"ticket_id"`
		UserID        sql.NullString `db:"user_id"`
		Status        string         `db:"status"`
		CreatedAt     int64          `db:"created_at"`
		ClosedAt      sql.NullInt64  `db:"closed_at"`
		DisputeStatus string         `db:"dispute_status"`
	}
	err := q.Get(ctx, &t, "SELECT ticket_id, user_id, status, created_at, closed_at, dispute_status FROM tickets WHERE ticket_id = ?", id)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, store.ErrNotFound) {
		return policies.TicketFacts{}, fmt.Errorf("%w: no ticket with that id", store.ErrNotFound)
	}
	if err != nil {
		return policies.TicketFacts{}, fmt.Errorf("load ticket facts: %w", err)
	}
	f := policies.TicketFacts{ID: t.TicketID, Status: t.Status, CreatedAt: t.CreatedAt, DisputeStatus: t.DisputeStatus}
	if t.ClosedAt.Valid {
		v := t.ClosedAt.Int64
		f.ClosedAt = &v
	}
	var reasons []string
	err = q.Select(ctx, &reasons,
		"SELECT h.reason FROM legal_holds h WHERE (h.ticket_id = ? OR (h.user_id IS NOT NULL AND h.user_id = ?)) AND "+store.HoldActiveCond+" ORDER BY h.created_at",
		t.TicketID, t.UserID, ms, ms, ms)
	if err != nil {
		return policies.TicketFacts{}, fmt.Errorf("load ticket holds: %w", err)
	}
	if len(reasons) > 0 {
		f.Held, f.HoldReason = true, reasons[0]
	}
	var atts []struct {
		ID         string `db:"attachment_id"`
		UploadedAt int64  `db:"uploaded_at"`
	}
	if err := q.Select(ctx, &atts, "SELECT attachment_id, uploaded_at FROM attachments WHERE ticket_id = ? ORDER BY attachment_id", t.TicketID); err != nil {
		return policies.TicketFacts{}, fmt.Errorf("load ticket attachments: %w", err)
	}
	for _, a := range atts {
		f.Attachments = append(f.Attachments, policies.AttachmentFacts{ID: a.ID, UploadedAt: a.UploadedAt})
	}
	return f, nil
}
