package cli

import (
	"github.com/spf13/cobra"
)

func init() { register(newInventoryCmd) }

func newInventoryCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "inventory",
		Short: "Count what the store holds, per data category",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			inv, err := db.Inventory(e.Ctx)
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(inv)
			}
			e.Printf("%-24s %14s\n", "category", "count")
			for _, r := range inv.Rows() {
				e.Printf("%-24s %14d\n", r.Key, r.Count)
			}
			return nil
		},
	}
}
