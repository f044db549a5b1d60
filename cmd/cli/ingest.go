package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/ingest"
)

func init() { register(newIngestCmd) }

// erasedLookup is the erasure ledger hook: the erasure command's file sets
// it (in an init function) to a function returning the ledger lookup for
// this Env. While it is nil, ingest knows of no erased subject.
var erasedLookup func(e *Env, opts *ingest.Options) error

func newIngestCmd(e *Env) *cobra.Command {
	var opts ingest.Options
	c := &cobra.Command{
		Use:   "ingest FILE.jsonl",
		Short: "Load support-contact data (JSON Lines; - for stdin); idempotent by id",
		Long: "Load support-contact data from a JSON Lines file (- reads stdin).\n" +
			"The whole file is validated first: if any line is bad, every fault is listed as\n" +
			"LINE: reason, nothing is written, and the exit code is 2. The load is one transaction.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.Store()
			if err != nil {
				return err
			}
			bs, err := e.Blobs()
			if err != nil {
				return err
			}
			// erasure ledger hook
			if erasedLookup != nil {
				if err := erasedLookup(e, &opts); err != nil {
					return err
				}
			}
			opts.Now = e.Now
			var res ingest.Result
			if args[0] == "-" {
				res, err = ingest.Reader(e.Ctx, db, bs, e.In, opts)
			} else {
				res, err = ingest.File(e.Ctx, db, bs, args[0], opts)
			}
			var fe *ingest.FaultsError
			if errors.As(err, &fe) && e.JSON() {
				_ = e.PrintJSON(map[string]any{"ok": false, "faults": fe.Faults, "more_faults": fe.More})
			}
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(res)
			}
			verb := "ingested"
			if res.DryRun {
				verb = "valid (dry run, nothing written):"
			}
			e.Printf("%s %d line(s): %d subject(s), %d ticket(s), %d message(s), %d attachment(s) (%d bytes), %d account event(s)\n",
				verb, res.Lines, res.Subjects, res.Tickets, res.Messages, res.Attachments, res.AttachmentBytes, res.AccountEvents)
			return nil
		},
	}
	c.Flags().BoolVar(&opts.AllowErased, "allow-erased", false, "re-import subjects recorded in the erasure ledger")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "validate only; write nothing")
	return c
}
