package cli

import (
	"github.com/spf13/cobra"

	"github.com/oubli/oubli/stats"
)

func init() { register(newStatsCmd) }

func newStatsCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "stats", Short: "Derived statistics under the statistics purpose"}
	var at string
	var full bool
	refresh := &cobra.Command{
		Use:   "refresh [--at TIME] [--full]",
		Short: "Recompute subject_stats and agent_stats, leaving out subjects who objected",
		Long: `Recompute the derived statistics, leaving out subjects who objected, in the
form the policies allow for each figure's age. By default only what changed
since the last refresh (ingested, erased, objected, restricted, expired) is
recomputed; --full recomputes every figure.`,
		Args: cobra.NoArgs,
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
			r, err := stats.RefreshWith(e.Ctx, db, eng, when, "cli", stats.Options{Full: full})
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(r)
			}
			e.Printf("statistics refreshed (%s, %d change(s)) at %s: subject_stats %d rows written, agent_stats %d rows written; %d objector(s) left out\n",
				r.Mode, r.Changes, r.At.Format("2006-01-02T15:04:05Z07:00"), r.SubjectStats, r.AgentStats, r.Objectors)
			return nil
		},
	}
	refresh.Flags().StringVar(&at, "at", "", "computation time (RFC 3339 or YYYY-MM-DD; default now)")
	refresh.Flags().BoolVar(&full, "full", false, "recompute every figure, not only what changed since the last refresh")
	c.AddCommand(refresh)
	return c
}
