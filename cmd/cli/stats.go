package cli

import (
	"github.com/spf13/cobra"

	"github.com/oubli/oubli/stats"
)

func init() { register(newStatsCmd) }

func newStatsCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "stats", Short: "Derived statistics under the statistics purpose"}
	var at string
	refresh := &cobra.Command{
		Use:   "refresh [--at TIME]",
		Short: "Recompute subject_stats and agent_stats, leaving out subjects who objected",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			when, err := e.TimeFlag("--at", at)
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			eng, err := e.Engine()
			if err != nil {
				return err
			}
			r, err := stats.Refresh(e.Ctx, db, eng, when, "cli")
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(r)
			}
			e.Printf("statistics refreshed at %s: subject_stats %d rows, agent_stats %d rows; %d objector(s) left out\n",
				r.At.Format("2006-01-02T15:04:05Z07:00"), r.SubjectStats, r.AgentStats, r.Objectors)
			return nil
		},
	}
	refresh.Flags().StringVar(&at, "at", "", "computation time (RFC 3339 or YYYY-MM-DD; default now)")
	c.AddCommand(refresh)
	return c
}
