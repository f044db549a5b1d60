package cli

import "github.com/spf13/cobra"

func init() { register(newMigrateCmd) }

func newMigrateCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e.noSchemaCheck = true
			db, err := e.Store()
			if err != nil {
				return err
			}
			applied, err := db.MigrateReport(e.Ctx)
			if err != nil {
				return err
			}
			v, _ := db.SchemaVersion(e.Ctx)
			if e.JSON() {
				if applied == nil {
					applied = []int64{}
				}
				return e.PrintJSON(map[string]any{"applied": applied, "version": v})
			}
			e.Printf("schema at version %d (%d migration(s) applied)\n", v, len(applied))
			return nil
		},
	}
}
