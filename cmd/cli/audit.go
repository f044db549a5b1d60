package cli

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/store"
)

func init() { register(newAuditCmd) }

func newAuditCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Read and verify the audit trail"}
	var f store.AuditFilter
	log := &cobra.Command{
		Use:   "log",
		Short: "Print the audit trail (keyed hashes only, never personal data)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			entries := []store.AuditEntry{}
			err = db.ListAudit(e.Ctx, f, func(a store.AuditEntry) error {
				if e.JSON() {
					entries = append(entries, a)
					return nil
				}
				e.Printf("%6d  %s  %-10s %-24s %-8s %s %s\n", a.Seq, time.UnixMilli(a.At).UTC().Format(time.RFC3339), a.Actor, a.Action, a.Outcome, a.SubjectRef, a.Detail)
				return nil
			})
			if err != nil {
				return err
			}
			if e.JSON() {
				out := make([]map[string]any, 0, len(entries))
				for _, a := range entries {
					var d any
					_ = json.Unmarshal([]byte(a.Detail), &d)
					out = append(out, map[string]any{
						"seq": a.Seq, "at": time.UnixMilli(a.At).UTC().Format(time.RFC3339Nano), "actor": a.Actor,
						"action": a.Action, "subject_ref": a.SubjectRef, "outcome": a.Outcome, "detail": d,
						"prev_hash": a.PrevHash, "hash": a.Hash,
					})
				}
				return e.PrintJSON(map[string]any{"entries": out})
			}
			return nil
		},
	}
	log.Flags().StringVar(&f.Action, "action", "", "only entries of this action")
	log.Flags().StringVar(&f.SubjectRef, "subject-ref", "", "only entries about this keyed subject hash")
	log.Flags().StringVar(&f.Actor, "actor", "", "only entries of this actor (who acted)")
	log.Flags().Int64Var(&f.AfterSeq, "after", 0, "only entries after this sequence number")
	log.Flags().IntVar(&f.Limit, "limit", 0, "at most this many entries")
	c.AddCommand(newAuditVerifyCmd(e), newAuditCheckpointCmd(e), newAuditKeygenCmd(e))
	c.AddCommand(log)
	return c
}
