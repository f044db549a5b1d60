package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/retention"
	"github.com/oubli/oubli/store"
)

func init() { register(newHoldCmd) }

func newHoldCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "hold", Short: "Legal holds: data kept past its retention period for a legal claim"}
	var spec retention.HoldSpec
	var until string
	add := &cobra.Command{
		Use:   "add (--ticket ID | --user-id ID) --reason TEXT [--until TIME]",
		Short: "Place a legal hold on one ticket or on everything of one subject; prints the hold id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (spec.TicketID == "") == (spec.UserID == "") {
				return usageErrorf("name exactly one of --ticket or --user-id")
			}
			if spec.Reason == "" {
				return usageErrorf("--reason is required")
			}
			if until != "" {
				t, err := ParseTime("--until", until)
				if err != nil {
					return err
				}
				spec.Until = &t
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			h, err := retention.AddHoldNow(e.Ctx, db, spec, e.Now, "cli")
			if err != nil {
				return err
			}
			if err := e.objectHold(h, true); err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(holdJSON(h, e.Now()))
			}
			e.Printf("%s\n", h.HoldID)
			return nil
		},
	}
	add.Flags().StringVar(&spec.TicketID, "ticket", "", "ticket id to hold")
	add.Flags().StringVar(&spec.UserID, "user-id", "", "subject (user id) whose data to hold")
	add.Flags().StringVar(&spec.Reason, "reason", "", "why (case reference); shown to the DPO, never written to the audit trail")
	add.Flags().StringVar(&until, "until", "", "planned end of the hold (RFC 3339 or YYYY-MM-DD); default: until released")

	var all bool
	list := &cobra.Command{
		Use:   "list [--all]",
		Short: "The holds in force (with --all: every hold, released or lapsed too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			now := e.Now()
			hs, err := retention.ListHolds(e.Ctx, db, now, all)
			if err != nil {
				return err
			}
			if e.JSON() {
				out := make([]map[string]any, 0, len(hs))
				for _, h := range hs {
					out = append(out, holdJSON(h, now))
				}
				return e.PrintJSON(map[string]any{"holds": out})
			}
			for _, h := range hs {
				target := "ticket " + h.TicketID.String
				if h.UserID.Valid {
					target = "subject " + h.UserID.String
				}
				state := "active"
				if !h.Active(store.Millis(now)) {
					state = "inactive"
				}
				released := ""
				if h.Until.Valid {
					// A hold with an end lapses on its own: its records are
					// purged by the first run after (adversarial pass 6, F3).
					released = "  until " + store.FromMillis(h.Until.Int64).Format(time.RFC3339)
				}
				if h.ReleasedAt.Valid {
					released += "  released " + store.FromMillis(h.ReleasedAt.Int64).Format(time.RFC3339)
				}
				e.Printf("%s  %-8s  %-30s  since %s%s  %s\n", h.HoldID, state, target, store.FromMillis(h.CreatedAt).Format(time.RFC3339), released, h.Reason)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include released and lapsed holds")

	release := &cobra.Command{
		Use:   "release ID",
		Short: "Release a hold: its data follows the retention schedule again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			h, err := retention.ReleaseHold(e.Ctx, db, args[0], e.Now(), "cli")
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			if err != nil {
				return err
			}
			if err := e.objectHold(h, false); err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(holdJSON(h, e.Now()))
			}
			e.Printf("released %s\n", h.HoldID)
			return nil
		},
	}
	c.AddCommand(add, list, release)
	return c
}

func holdJSON(h store.Hold, now time.Time) map[string]any {
	m := map[string]any{"hold_id": h.HoldID, "reason": h.Reason, "created_at": store.FromMillis(h.CreatedAt).Format(time.RFC3339),
		"active": h.Active(store.Millis(now))}
	if h.TicketID.Valid {
		m["ticket_id"] = h.TicketID.String
	}
	if h.UserID.Valid {
		m["user_id"] = h.UserID.String
	}
	if h.Until.Valid {
		m["until"] = store.FromMillis(h.Until.Int64).Format(time.RFC3339)
	}
	if h.ReleasedAt.Valid {
		m["released_at"] = store.FromMillis(h.ReleasedAt.Int64).Format(time.RFC3339)
	}
	return m
}
