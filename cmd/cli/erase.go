package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/store"
)

func init() { register(newEraseCmd) }

// eraser builds the erasure service from the global flags.
func (e *Env) eraser() (*dsr.Eraser, error) {
	reg, db, h, err := e.register()
	if err != nil {
		return nil, err
	}
	eng, err := e.Engine()
	if err != nil {
		return nil, err
	}
	bs, err := e.Blobs()
	if err != nil {
		return nil, err
	}
	path, err := e.LedgerPath()
	if err != nil {
		return nil, err
	}
	ob, err := e.Outbox()
	if err != nil {
		return nil, err
	}
	return &dsr.Eraser{DB: db, Blobs: bs, Policy: eng, Register: reg, Hasher: h, Ledger: path, Now: e.Now, Actor: "cli", Notify: ob}, nil
}

func newEraseCmd(e *Env) *cobra.Command {
	var key store.SubjectKey
	var opt dsr.EraseOptions
	var reapply bool
	var wait time.Duration
	var from string
	c := &cobra.Command{
		Use:   "erase (--user-id ID | --email ADDR) [--dry-run] [--request ID] | erase --from FILE [--dry-run] | erase --reapply [--dry-run]",
		Short: "Erase a subject (Art. 17), or re-apply every recorded erasure after a backup restore",
		Long: "erase removes the subject's account data, tickets, messages, attachments, account events,\n" +
			"statistics and objections, and their contribution to the agents' figures, except what the\n" +
			"policies keep (Art. 17(3): legal hold, open dispute), which is restricted and reported.\n" +
			"Afterwards every table and blob is scanned for the subject's identifiers: any left outside\n" +
			"what is kept fails the erasure (exit 1). Each erasure is appended to the erasure ledger.\n" +
			"--from FILE erases every subject of FILE (one user id or e-mail address per line, - for stdin;\n" +
			"blank lines and # comments ignored): every line is validated first (any invalid line: exit 2,\n" +
			"nothing erased), then each subject is erased in its own transaction, with its own ledger line\n" +
			"and request; a failing subject does not stop the others (exit 1 at the end, listing them).\n" +
			"--reapply erases again every subject of the ledger found in the store.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if reapply {
				if key.UserID != "" || key.Email != "" || opt.RequestID != "" || from != "" {
					return usageErrorf("--reapply takes no subject, no --from and no --request")
				}
			} else if from != "" {
				if key.UserID != "" || key.Email != "" || opt.RequestID != "" {
					return usageErrorf("--from takes no --user-id, --email or --request (each subject gets its own request)")
				}
			} else if err := key.Validate(); err != nil {
				if opt.RequestID != "" && key.UserID == "" && key.Email == "" {
					// An erased subject's identifiers are in no register
					// (keyed hashes only): the follow-up needs them again
					// to look for what is left (adversarial pass 7 F1).
					return usageErrorf("--request %s: name the subject too, as the erasure did (--user-id or --email): the store no longer holds their identifiers, and finishing the erasure looks for them", opt.RequestID)
				}
				return usageErrorf("%v", err)
			} else if err := checkEmailFlag(key.Email); err != nil {
				return err
			}
			if wait <= 0 || wait > time.Hour {
				return usageErrorf("--checkpoint-wait %s: want a duration above 0 and at most 1h", wait)
			}
			er, err := e.eraser()
			if err != nil {
				return err
			}
			er.CheckpointWait = wait
			if from != "" {
				return e.eraseFrom(er, from, opt.DryRun)
			}
			if reapply {
				rep, err := er.Reapply(e.Ctx, opt.DryRun)
				if rep != nil {
					printReapply(e, rep)
				}
				return err
			}
			rep, err := er.Erase(e.Ctx, key, opt)
			if rep != nil {
				printErase(e, rep, typedSubject(key))
			}
			return err
		},
	}
	c.Flags().StringVar(&key.UserID, "user-id", "", "the subject's user id")
	c.Flags().StringVar(&key.Email, "email", "", "the subject's e-mail address")
	c.Flags().BoolVar(&opt.DryRun, "dry-run", false, "show exactly what would be done, change nothing")
	c.Flags().StringVar(&opt.RequestID, "request", "", "the erasure request of the register this executes")
	c.Flags().DurationVar(&wait, "checkpoint-wait", dsr.DefaultCheckpointWait, "SQLite: how long to wait for readers before the WAL checkpoint is reported left (exit 6)")
	c.Flags().StringVar(&from, "from", "", "erase every subject of FILE (one user id or e-mail per line, - for stdin), each in its own transaction")
	c.Flags().BoolVar(&reapply, "reapply", false, "re-erase every subject of the erasure ledger present in the store")
	return c
}

// printErase prints an erasure's report; who is the subject as the operator
// typed it (stdout is theirs; the audit keeps the keyed hash).
func printErase(e *Env, r *dsr.EraseReport, who string) {
	if e.JSON() {
		_ = e.PrintJSON(r)
		return
	}
	if r.Resumed {
		e.Printf("subject %s was erased on %s for request %s (%s); follow-up:", r.SubjectRef, r.ErasedAt, r.RequestID, r.RequestStatus)
		if r.DryRun {
			e.Printf(" would remove %d queued attachment contents and checkpoint the WAL (dry run)\n", r.BlobsQueued)
			return
		}
		e.Printf(" attachment contents removed: %d of %d", r.BlobsDeleted, r.BlobsQueued)
		if r.Residue != nil {
			e.Printf("; WAL checkpoint: %s", r.Residue.Checkpoint)
		}
		e.Printf("\n")
		if r.Residue != nil && r.Residue.Description != "" {
			e.Printf("  residue: %s\n", r.Residue.Description)
		}
		if len(r.Left) > 0 {
			e.Printf("  left: %s\n", strings.Join(r.Left, ", "))
		}
		return
	}
	verb := "erased"
	if r.DryRun {
		verb = "would erase (dry run)"
	}
	if sum(r.Deleted)+sum(r.Anonymized) == 0 && len(r.Kept) > 0 {
		// Everything kept (a legal hold, an open dispute): say so, not
		// "erased" (adversarial pass 8 F15).
		verb = "erasure recorded, nothing erased: every record kept by the policies, for"
		if r.DryRun {
			verb = "would record the erasure, nothing erased: every record kept by the policies (dry run), for"
		}
	}
	e.Printf("%s subject %s", verb, who)
	if r.RequestID != "" {
		e.Printf(" for request %s", r.RequestID)
	}
	e.Printf("\n  deleted:")
	for _, k := range []string{"subjects", "tickets", "messages", "attachments", "account_events", "subject_stats", "objections"} {
		e.Printf(" %s=%d", k, r.Deleted[k])
	}
	e.Printf("\n  attachment contents removed: %d of %d; agent statistics recomputed: %d rows; requests pseudonymised: %d\n",
		r.BlobsDeleted, r.BlobsQueued, r.AgentStats, r.Forgotten)
	for _, k := range r.Kept {
		e.Printf("  kept %s %s (%s, %s): %s\n", k.Category, k.ID, k.Action, k.Rule, k.Reason)
	}
	if len(r.Recipients) > 0 {
		e.Printf("  recipients to inform (Art. 19):\n")
		for _, rc := range r.Recipients {
			e.Printf("    - %s (%s)\n", rc.Name.EN, rc.Role.EN)
		}
	}
	printQueued(e, r.Notifications, r.DryRun)
	e.Printf("  ledger: %s\n", r.Ledger)
	if r.RequestStatus != "" {
		e.Printf("  request %s: %s\n", r.RequestID, r.RequestStatus)
	}
	if len(r.Left) > 0 {
		e.Printf("  left after the commit: %s\n", strings.Join(r.Left, ", "))
	}
	if res := r.Residue; res != nil {
		e.Printf("  residue scan: %d found outside kept records, %d inside kept records; WAL checkpoint: %s\n", res.TotalFound, sum(res.Kept), res.Checkpoint)
		printResidueHits(e, res.Found, res.Findings, res.Ambiguous)
		var text []string
		for _, d := range res.Deferred {
			if rest, ok := strings.CutPrefix(d, "blobs: "); ok {
				e.Printf("    attachments not checked by the erasure (left to oubli check --residue): %s\n", rest)
			} else {
				text = append(text, d)
			}
		}
		if len(text) > 0 {
			e.Printf("    free text not searched by the erasure (no index here; left to oubli check --residue): %s\n", strings.Join(text, ", "))
		}
	}
}

// printResidueHits prints, by place, the identifiers an erasure left
// (found) and those in other people's records: for the DPO (residue list),
// not a failure of the erasure — but said, not only in the JSON
// (adversarial pass F10).
func printResidueHits(e *Env, found, findings, ambiguous map[string]int64) {
	for _, where := range sortedKeys(found) {
		e.Printf("    residue in %s: %d\n", where, found[where])
	}
	for _, where := range sortedKeys(findings) {
		e.Printf("    in other people's records (strong identifier; see oubli residue list): %s: %d\n", where, findings[where])
	}
	for _, where := range sortedKeys(ambiguous) {
		e.Printf("    in other people's records (weak identifier, such as a pseudo): %s: %d\n", where, ambiguous[where])
	}
}

func sortedKeys(m map[string]int64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func printReapply(e *Env, r *dsr.ReapplyReport) {
	if e.JSON() {
		_ = e.PrintJSON(r)
		return
	}
	verb := "re-erased"
	if r.DryRun {
		verb = "would re-erase (dry run)"
	}
	e.Printf("erasure ledger: %d entries; %d subjects scanned; %s %d\n", r.LedgerEntries, r.Scanned, verb, len(r.Erased))
	for _, x := range r.Erased {
		e.Printf("  %s: %d tickets, %d kept\n", x.SubjectRef, x.Deleted["tickets"], len(x.Kept))
	}
	if r.EmailOnly > 0 {
		e.Printf("  %d subject(s) share an erased e-mail address under another user id: review them\n", r.EmailOnly)
	}
}

// register returns the request register.
func (e *Env) register() (*dsr.Register, *store.DB, *store.Hasher, error) {
	db, err := e.Store()
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := e.Hasher()
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := e.Engine()
	if err != nil {
		return nil, nil, nil, err
	}
	return &dsr.Register{DB: db, Policies: eng, Hasher: h, Now: e.Now, Ledger: e.ledgerPathOrEmpty()}, db, h, nil
}

// eraseFrom runs `erase --from FILE`.
func (e *Env) eraseFrom(er *dsr.Eraser, from string, dryRun bool) error {
	var in io.Reader
	if from == "-" {
		in = e.In
	} else {
		f, err := os.Open(from)
		if err != nil {
			return usageErrorf("--from %s: cannot read the file", from)
		}
		defer f.Close()
		in = f
	}
	lines, err := dsr.ParseBatch(in)
	if err != nil {
		return fmt.Errorf("--from %s: %w", from, err)
	}
	var tick func()
	if f, ok := e.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(len(lines), progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("erase"),
			progressbar.OptionShowCount(), progressbar.OptionSetItsString("subjects"), progressbar.OptionShowIts(), progressbar.OptionClearOnFinish())
		tick = func() { _ = bar.Add(1) }
		defer bar.Finish()
	}
	rep, err := er.EraseBatch(e.Ctx, lines, dryRun, tick)
	if rep != nil {
		printBatch(e, rep)
	}
	return err
}

func printBatch(e *Env, r *dsr.BatchReport) {
	if e.JSON() {
		_ = e.PrintJSON(r)
		return
	}
	verb := "erased"
	if r.DryRun {
		verb = "would erase (dry run)"
	}
	e.Printf("erase --from: %d subjects; %s %d, already erased %d, follow-up left %d, failed %d, not found %d (%.1f subjects/s)\n",
		r.Subjects, verb, r.Erased, r.AlreadyErased, r.Incomplete, r.Failed, r.NotFound, float64(r.Subjects)/max(r.Seconds, 1e-9))
	for _, o := range r.Outcomes {
		e.Printf("  line %d: %s", o.Line, strings.ReplaceAll(o.Outcome, "_", " "))
		if o.SubjectRef != "" {
			e.Printf(" %s", o.SubjectRef)
		}
		if o.RequestID != "" {
			e.Printf(" (request %s)", o.RequestID)
		}
		if o.Deleted != nil {
			e.Printf(": tickets=%d messages=%d attachments=%d, kept %d", o.Deleted["tickets"], o.Deleted["messages"], o.Deleted["attachments"], o.Kept)
		}
		if o.Error != "" {
			e.Printf(": %s", o.Error)
		}
		e.Printf("\n")
		if res := o.Residue; res != nil {
			printResidueHits(e, res.Found, res.Findings, res.Ambiguous)
		}
	}
	// The places every erasure leaves to the sweep are the same for all
	// subjects (the schema's unindexed text): said once.
	deferred := map[string]bool{}
	var places []string
	for _, o := range r.Outcomes {
		if o.Residue == nil {
			continue
		}
		for _, d := range o.Residue.Deferred {
			if !deferred[d] {
				deferred[d] = true
				places = append(places, d)
			}
		}
	}
	if len(places) > 0 {
		sort.Strings(places)
		e.Printf("  not checked by the erasures (left to oubli check --residue): %s\n", strings.Join(places, ", "))
	}
}
