package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/store"
)

func init() { register(newSubjectsCmd) }

// subjectView is a found subject as printed.
type subjectView struct {
	UserID          string  `json:"user_id"`
	AccountClosedAt *string `json:"account_closed_at"`
	AnonymizedAt    *string `json:"anonymized_at"`
	Tickets         int64   `json:"tickets"`
}

func newSubjectsCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "subjects", Short: "Find data subjects (their user ids) from what they wrote with"}
	var q store.SubjectQuery
	find := &cobra.Command{
		Use:   "find (--email ADDR | --pseudo P | --ticket ID)",
		Short: "The user ids of the subjects with this e-mail address, pseudo or ticket (exit 5 when none)",
		Long: "find looks subjects up by e-mail address (case-insensitive), pseudo (exact) or ticket id and\n" +
			"prints their user ids, to name them in requests and DSR commands. An erased subject is not\n" +
			"found: nothing of theirs remains to find it by.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, v := range []string{q.Email, q.Pseudo, q.Ticket} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				return usageErrorf("name exactly one of --email, --pseudo or --ticket")
			}
			if err := checkEmailFlag(q.Email); err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			found, err := store.SearchSubjects(e.Ctx, db, q)
			if err != nil {
				return err
			}
			views := make([]subjectView, 0, len(found))
			for _, s := range found {
				v := subjectView{UserID: s.UserID, Tickets: s.Tickets}
				if s.AccountClosedAt.Valid {
					t := store.FromMillis(s.AccountClosedAt.Int64).Format(time.RFC3339)
					v.AccountClosedAt = &t
				}
				if s.AnonymizedAt.Valid {
					t := store.FromMillis(s.AnonymizedAt.Int64).Format(time.RFC3339)
					v.AnonymizedAt = &t
				}
				views = append(views, v)
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"count": len(views), "subjects": views})
			}
			e.Printf("%-24s %-8s %s\n", "USER ID", "TICKETS", "ACCOUNT")
			for _, v := range views {
				state := "open"
				switch {
				case v.AnonymizedAt != nil:
					state = "anonymised " + *v.AnonymizedAt
				case v.AccountClosedAt != nil:
					state = "closed " + *v.AccountClosedAt
				}
				e.Printf("%-24s %-8d %s\n", v.UserID, v.Tickets, state)
			}
			return nil
		},
	}
	find.Flags().StringVar(&q.Email, "email", "", "the e-mail address (case-insensitive)")
	find.Flags().StringVar(&q.Pseudo, "pseudo", "", "the pseudo (exact)")
	find.Flags().StringVar(&q.Ticket, "ticket", "", "a ticket id of theirs")
	c.AddCommand(find)
	return c
}

// typedSubject is the subject as the operator named it on the command line:
// what the DSR commands print (the audit keeps the keyed hash).
func typedSubject(k store.SubjectKey) string {
	if k.UserID != "" {
		return k.UserID
	}
	return k.Email
}

// erasedOr returns, for a not-found error of a DSR command, the error saying
// when the erasure ledger records the subject as erased, or err itself.
func (e *Env) erasedOr(key store.SubjectKey, err error) error {
	path, perr := e.LedgerPath()
	h, herr := e.Hasher()
	if perr != nil || herr != nil {
		return err
	}
	if lerr := dsr.ErasedError(path, h, key); lerr != nil {
		return lerr
	}
	return err
}
