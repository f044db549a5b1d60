package cli

import (
	"github.com/spf13/cobra"

	"github.com/oubli/oubli/seed"
)

func init() { register(newSeedCmd) }

func newSeedCmd(e *Env) *cobra.Command {
	var (
		demo, synthetic bool
		so              seed.SyntheticOptions
		oldAge          string
	)
	c := &cobra.Command{
		Use:   "seed (--demo | --synthetic --tickets N)",
		Short: "Load realistic demo data, or bulk synthetic data for benchmarks",
		Long: "--demo loads a deterministic French-marketplace data set anchored at today's date.\n" +
			"--synthetic --tickets N loads N tickets (about 5 messages each, an attachment on about\n" +
			"one in ten, N/3 subjects) spread over --span-years, in one transaction (COPY on PostgreSQL).\n" +
			"--old-share F --old-age 5y3d pins the share of tickets closed longer ago than that age.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if demo == synthetic {
				return usageErrorf("give exactly one of --demo or --synthetic")
			}
			if synthetic && so.Tickets <= 0 {
				return usageErrorf("--synthetic needs --tickets N (N > 0)")
			}
			if cmd.Flags().Changed("old-share") != cmd.Flags().Changed("old-age") {
				return usageErrorf("--old-share and --old-age go together")
			}
			if oldAge != "" {
				d, err := seed.ParseAge(oldAge)
				if err != nil {
					return usageErrorf("--old-age: %v", err)
				}
				so.OldAge = d
			} else {
				so.OldShare = -1
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			bs, err := e.Blobs()
			if err != nil {
				return err
			}
			var sum seed.Summary
			if demo {
				reg, _, _, err := e.register()
				if err != nil {
					return err
				}
				sum, err = seed.Demo(e.Ctx, db, bs, seed.DemoOptions{Now: e.Now(), Requests: reg})
				if err != nil {
					return err
				}
			} else {
				so.Now = e.Now()
				so.Progress = func(done int) { e.Log.Info("seed progress", "tickets", done, "of", so.Tickets) }
				sum, err = seed.Synthetic(e.Ctx, db, bs, so)
				if err != nil {
					return err
				}
			}
			if e.JSON() {
				return e.PrintJSON(sum)
			}
			e.Printf("seeded %d subjects, %d tickets, %d messages, %d attachments (%d bytes), %d account events, %d legal holds, %d requests, %d objections, %d subject stats, %d agent stats\n",
				sum.Subjects, sum.Tickets, sum.Messages, sum.Attachments, sum.AttachmentBytes, sum.AccountEvents,
				sum.LegalHolds, sum.DSRRequests, sum.Objections, sum.SubjectStats, sum.AgentStats)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&demo, "demo", false, "load the demo data set")
	f.BoolVar(&synthetic, "synthetic", false, "load a synthetic data set")
	f.IntVar(&so.Tickets, "tickets", 0, "with --synthetic: number of tickets")
	f.Uint64Var(&so.Seed, "seed", 1, "with --synthetic: random seed (ids are prefixed with it)")
	f.IntVar(&so.SpanYears, "span-years", 10, "with --synthetic: how many years back tickets go")
	f.Float64Var(&so.OldShare, "old-share", -1, "with --synthetic: share of tickets closed longer ago than --old-age (0..1)")
	f.StringVar(&oldAge, "old-age", "", "with --synthetic: age for --old-share, e.g. 5y3d")
	return c
}
