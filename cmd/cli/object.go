package cli

import (
	"github.com/spf13/cobra"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/store"
)

func init() { register(newObjectCmd) }

func newObjectCmd(e *Env) *cobra.Command {
	var key store.SubjectKey
	var purpose, request string
	c := &cobra.Command{
		Use:   "object (--user-id ID | --email ADDR) --purpose NAME [--request ID]",
		Short: "Record a subject's objection to a purpose (Art. 21), when the policies say it applies",
		Long: "object asks the policies whether an objection to the purpose applies. If it does, it is\n" +
			"recorded and the processing stops at once (statistics: the subject's figures are removed\n" +
			"and the agents' figures recomputed without them). If not, the request is refused with\n" +
			"the policy's reason (exit 3). Objecting twice is harmless.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSubject(key); err != nil {
				return err
			}
			if purpose == "" {
				return usageErrorf("--purpose is required")
			}
			reg, db, h, err := e.register()
			if err != nil {
				return err
			}
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			ob, err := e.Outbox()
			if err != nil {
				return err
			}
			if err := e.notRestoredErased(key); err != nil {
				return err
			}
			o := &dsr.Objector{DB: db, Policy: eng, Register: reg, Hasher: h, Now: e.Now, Actor: "cli", Notify: ob}
			rep, err := o.Object(e.Ctx, key, purpose, request)
			if rep != nil {
				if e.JSON() {
					_ = e.PrintJSON(rep)
				} else if rep.Applies {
					e.Printf("objection to %s recorded for %s (request %s)%s: subject_stats removed %d, agent_stats recomputed %d\n  %s\n",
						rep.Purpose, typedSubject(key), rep.RequestID, map[bool]string{true: " (already recorded)"}[rep.Already],
						rep.StatsGone, rep.AgentStats, rep.Reason)
					printQueued(e, rep.Notifications, false)
				} else {
					e.Printf("objection to %s refused (request %s): %s\n", rep.Purpose, rep.RequestID, rep.Reason)
				}
			}
			return err
		},
	}
	c.Flags().StringVar(&key.UserID, "user-id", "", "the subject's user id")
	c.Flags().StringVar(&key.Email, "email", "", "the subject's e-mail address")
	c.Flags().StringVar(&purpose, "purpose", "", "the purpose objected to (see: oubli policy schedule)")
	c.Flags().StringVar(&request, "request", "", "the objection request of the register this executes")
	return c
}
