package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/store"
)

func init() { register(newRectifyCmd) }

func newRectifyCmd(e *Env) *cobra.Command {
	var key store.SubjectKey
	var sets []string
	var request string
	c := &cobra.Command{
		Use:   "rectify (--user-id ID | --email ADDR) --set FIELD=VALUE... [--request ID]",
		Short: "Rectify a subject's e-mail or pseudo (Art. 16) and list whom to tell (Art. 19)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSubject(key); err != nil {
				return err
			}
			changes, err := dsr.ParseSet(sets)
			if err != nil {
				return err
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
			ledgerPath, err := e.LedgerPath()
			if err != nil {
				return err
			}
			if err := e.notRestoredErased(key); err != nil {
				return err
			}
			r := &dsr.Rectifier{DB: db, Policy: eng, Register: reg, Hasher: h, Now: e.Now, Actor: "cli", Notify: ob, Ledger: ledgerPath}
			rep, err := r.Rectify(e.Ctx, key, changes, request)
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(rep)
			}
			e.Printf("rectified %s of %s (request %s)\n", strings.Join(rep.Fields, ", "), typedSubject(key), rep.RequestID)
			e.Printf("recipients to inform (Art. 19):\n")
			for _, rc := range rep.Recipients {
				e.Printf("  - %s (%s; %s)\n", rc.Name.EN, rc.Role.EN, rc.Basis.EN)
			}
			printQueued(e, rep.Notifications, false)
			return nil
		},
	}
	c.Flags().StringVar(&key.UserID, "user-id", "", "the subject's user id")
	c.Flags().StringVar(&key.Email, "email", "", "the subject's e-mail address")
	// StringArray, not StringSlice: a value may hold a comma.
	c.Flags().StringArrayVar(&sets, "set", nil, "FIELD=VALUE to set (fields: email, pseudo); repeatable")
	c.Flags().StringVar(&request, "request", "", "the rectification request of the register this executes")
	return c
}
