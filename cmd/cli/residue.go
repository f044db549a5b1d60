package cli

import (
	"sort"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/residue"
)

func init() { register(newResidueCmd) }

// runResidueSweep is `oubli check --residue`: one pass over the store and
// the blobs for every subject erased since the last sweep.
func runResidueSweep(e *Env, actor string) error {
	db, err := e.Store()
	if err != nil {
		return err
	}
	bs, err := e.Blobs()
	if err != nil {
		return err
	}
	h, err := db.Hasher(e.Ctx)
	if err != nil {
		return err
	}
	rep, err := residue.Sweep(e.Ctx, db, bs, h, residue.SweepOptions{Now: e.Now, Actor: actor})
	if rep == nil {
		return err
	}
	if e.JSON() {
		if perr := e.PrintJSON(map[string]any{"residue": rep}); perr != nil {
			return perr
		}
		return err
	}
	var rows, blobs int64
	for k, n := range rep.Scanned {
		if k == "blobs" {
			blobs += n
		} else {
			rows += n
		}
	}
	e.Printf("residue sweep: %s; %d erased subject(s) looked for in %d row(s) and %d blob(s) in one pass (%.1fs)\n",
		rep.Outcome, rep.Subjects, rows, blobs, rep.Seconds)
	printCounts(e, "residue in their own records", rep.Found)
	printCounts(e, "kept by policy", rep.Kept)
	for _, f := range rep.Findings {
		e.Printf("  finding %s: %s %s (%s)\n", f.ID, f.Place, f.RowRef, f.Strength)
	}
	if len(rep.Findings) > 0 {
		e.Printf("  review: oubli residue list; oubli residue redact FINDING-ID --dry-run\n")
	}
	if rep.StrayFiles > 0 {
		e.Printf("  skipped %d file(s) in the blobs directory that are not blob keys (not oubli's: move them out)\n", rep.StrayFiles)
	}
	if r := rep.Reindexed; r != nil && r.Indexed+r.Partial+r.Unsupported > 0 {
		e.Printf("  attachment index: %d document(s) stored before it indexed (%d in part, %d of a type it does not read)\n",
			r.Indexed+r.Partial+r.Unsupported, r.Partial, r.Unsupported)
	}
	for _, p := range rep.Unclassified {
		e.Printf("  unclassified text column %s: swept as personal text; classify it in residue.Catalog\n", p)
	}
	return err
}

func printCounts(e *Env, what string, m map[string]int64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.Printf("  %s: %s %d\n", what, k, m[k])
	}
}

func newResidueCmd(e *Env) *cobra.Command {
	c := &cobra.Command{Use: "residue", Short: "Findings of the residue sweep: erased subjects' identifiers in other people's records, for the DPO"}
	var all bool
	list := &cobra.Command{
		Use:   "list [--all]",
		Short: "List the open findings (place, row, keyed hash of the subject; never the text)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			fs, err := residue.List(e.Ctx, db, all)
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"findings": fs})
			}
			for _, f := range fs {
				e.Printf("%s  %s  %-22s %-20s %-6s subject %s\n", f.ID, f.FoundAt.Format("2006-01-02T15:04:05Z"), f.Place, f.RowRef, f.Strength, f.SubjectRef)
				if all {
					e.Printf("    status %s\n", f.Status)
				}
			}
			if len(fs) == 0 {
				e.Printf("no open finding\n")
			}
			return nil
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include redacted and dismissed findings")

	var dry bool
	redact := &cobra.Command{
		Use:   "redact FINDING-ID [--dry-run]",
		Short: "Replace the erased subject's identifiers by [redacted] in the text a finding names; audited",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			h, err := db.Hasher(e.Ctx)
			if err != nil {
				return err
			}
			rep, err := residue.Redact(e.Ctx, db, h, args[0], dry, "cli", e.Now())
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(rep)
			}
			verb := "redacted"
			if dry {
				verb = "would redact"
			}
			e.Printf("%s %d occurrence(s) in %s %s\n", verb, rep.Replaced, rep.Finding.Place, rep.Finding.RowRef)
			return nil
		},
	}
	redact.Flags().BoolVar(&dry, "dry-run", false, "count the occurrences, change nothing")

	dismiss := &cobra.Command{
		Use:   "dismiss FINDING-ID",
		Short: "Close a finding reviewed and kept as is (another person's own identifier, a legitimate record); audited",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			f, err := residue.Dismiss(e.Ctx, db, args[0], "cli", e.Now())
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(f)
			}
			e.Printf("dismissed %s\n", f.ID)
			return nil
		},
	}
	reindex := &cobra.Command{
		Use:   "reindex",
		Short: "Index the identifiers in the attachments stored before the attachment index (keyed hashes), so that erasures check them through it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			bs, err := e.Blobs()
			if err != nil {
				return err
			}
			h, err := db.Hasher(e.Ctx)
			if err != nil {
				return err
			}
			rep, err := residue.Reindex(e.Ctx, db, bs, h, e.Now)
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"reindex": rep})
			}
			e.Printf("attachment index: %d document(s) indexed, %d in part (too large), %d of a type it does not read, %d without contents (%.1fs)\n",
				rep.Indexed, rep.Partial, rep.Unsupported, rep.Missing, rep.Seconds)
			return nil
		},
	}
	c.AddCommand(list, redact, dismiss, reindex)
	return c
}
