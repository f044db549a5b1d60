package cli

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/integrity"
)

func init() { register(newCheckCmd) }

// errNotClean is returned by check when problems were found (exit 1).
var errNotClean = errors.New("integrity problems found")

func newCheckCmd(e *Env) *cobra.Command {
	var opts integrity.Options
	var repair, sweep bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Integrity: orphaned rows, blobs without rows and rows without blobs; exit 0 only when clean",
		Long: "Check the store and the blob store together; exit 0 only when clean, 1 with a listing\n" +
			"(internal ids and keyed hashes only) otherwise.\n" +
			"--repair finishes the queue of blob deletions and removes blob files that no row refers to\n" +
			"and that are older than --grace; it never deletes rows. --dry-run shows what it would do.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sweep {
				if repair || opts.Deep || opts.DryRun {
					return usageErrorf("--residue goes alone (not with --repair, --deep or --dry-run)")
				}
				return runResidueSweep(e, "cli")
			}
			if opts.DryRun && !repair {
				return usageErrorf("--dry-run goes with --repair")
			}
			if opts.Grace <= 0 {
				return usageErrorf("--grace %s: want a positive duration (e.g. 10m, 1s)", opts.Grace)
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			bs, err := e.Blobs()
			if err != nil {
				return err
			}
			opts.Now = e.Now
			out := map[string]any{}
			if repair {
				rr, err := integrity.Repair(e.Ctx, db, bs, opts)
				if err != nil {
					return err
				}
				out["repair"] = rr
				if !e.JSON() {
					verb := "removed"
					if rr.DryRun {
						verb = "would remove"
					}
					e.Printf("repair: %s %d queued blob deletion(s) and %d orphan blob file(s); %d orphan(s) younger than %ds left alone\n",
						verb, rr.DeletionsDrained, rr.OrphansRemoved, rr.OrphansTooRecent, rr.GraceSeconds)
					if rr.NotBlobs > 0 {
						e.Printf("repair: %d file(s) in the blob directory are not blob keys: skipped, left for you (check lists them)\n", rr.NotBlobs)
					}
				}
				if rr.DryRun {
					if e.JSON() {
						return e.PrintJSON(out)
					}
					return nil
				}
			}
			rep, err := integrity.Check(e.Ctx, db, bs, opts)
			if err != nil {
				return err
			}
			out["check"] = rep
			if e.JSON() {
				if err := e.PrintJSON(out); err != nil {
					return err
				}
			} else {
				printCheck(e, rep)
			}
			if !rep.Clean {
				var n int64
				for _, c := range rep.Counts {
					n += c
				}
				return fmt.Errorf("%w: %d problem(s)", errNotClean, n)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&opts.Deep, "deep", false, "read every blob and compare its SHA-256 with the recorded one")
	c.Flags().BoolVar(&sweep, "residue", false, "sweep the store and every blob, in one pass, for the subjects erased since the last sweep; exit 1 naming table.column or blobs on a hit")
	c.Flags().BoolVar(&repair, "repair", false, "finish queued blob deletions and remove orphan blob files")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "with --repair: show what would be removed, remove nothing")
	c.Flags().DurationVar(&opts.Grace, "grace", integrity.DefaultGrace, "blob files without a row younger than this are an ingest in progress: not reported, not removed (> 0)")
	return c
}

func printCheck(e *Env, rep integrity.Report) {
	if d := rep.BlobStore; d != nil {
		e.Printf("blob store %s: versioning %s, object lock %s\n", d.Location, d.Versioning, map[bool]string{true: "on", false: "off"}[d.ObjectLock])
		for _, w := range d.Warnings {
			e.Printf("warning: %s\n", w)
		}
	}
	if rep.Clean {
		e.Printf("clean: %d attachment(s) and %d blob file(s) checked%s\n", rep.Attachments, rep.Blobs, map[bool]string{true: " (deep)"}[rep.Deep])
		if rep.FreshBlobs > 0 {
			e.Printf("%d blob file(s) without a row younger than --grace left alone (an ingest in progress)\n", rep.FreshBlobs)
		}
		return
	}
	kinds := make([]string, 0, len(rep.Counts))
	for k := range rep.Counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		e.Printf("%-36s %d\n", k, rep.Counts[k])
	}
	for _, p := range rep.Problems {
		e.Printf("  %s %s\n", p.Kind, p.Ref)
	}
}
