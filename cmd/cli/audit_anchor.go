package cli

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/anchor"
	"github.com/oubli/oubli/store"
)

func newAuditVerifyCmd(e *Env) *cobra.Command {
	var acceptRestore bool
	var reason, checkpoint, pubkey string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit trail: its hash chain, that it reaches the heads kept outside the store, and a signed checkpoint",
		Long: `Verify the audit trail. Exit 1 when an entry was edited, reordered or removed,
when the trail does not reach the newest head recorded in the anchor file (a
cut tail, or a store restored from an older backup), or when a record of the
store points to an audit entry the trail does not hold.

After restoring a backup on purpose: run 'oubli erase --reapply', then
'oubli audit verify --accept-restore --reason TEXT', which records the restore
in the trail and in the anchor file.

With --checkpoint FILE --pubkey KEY, also prove that the store still holds the
head signed in FILE (made by 'oubli audit checkpoint').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if acceptRestore && reason == "" {
				return usageErrorf("--accept-restore needs --reason TEXT")
			}
			if !acceptRestore && reason != "" {
				return usageErrorf("--reason goes with --accept-restore")
			}
			if (checkpoint == "") != (pubkey == "") {
				return usageErrorf("--checkpoint FILE and --pubkey KEY go together")
			}
			var msg []byte
			var verifier string
			if checkpoint != "" {
				b, err := os.ReadFile(checkpoint)
				if err != nil {
					return usageErrorf("--checkpoint: %v", err)
				}
				msg = b
				if verifier, err = anchor.LoadKey(pubkey, "--pubkey"); err != nil {
					return err
				}
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			f, err := e.anchorFile()
			if err != nil {
				return err
			}
			var r anchor.Result
			switch {
			case f == nil:
				fmt.Fprintln(e.Err, "oubli: no audit anchor file (--audit-anchor): the chain is verified, not that its tail is complete")
				r.AuditVerification, err = db.VerifyAudit(e.Ctx)
			case acceptRestore:
				// A restore is accepted only once the erasures it undid are
				// re-applied: otherwise the restored store holds erased
				// people again and nothing would flag it any more.
				if err := e.refuseErasedBack(); err != nil {
					return err
				}
				r, err = anchor.AcceptRestore(e.Ctx, db, f, e.Actor, reason, e.Now())
			default:
				r, err = anchor.Verify(e.Ctx, db, f)
			}
			var cp *anchor.Checkpoint
			if err == nil && msg != nil {
				h, herr := e.Hasher()
				if herr != nil {
					return herr
				}
				c, cerr := anchor.VerifyCheckpoint(e.Ctx, db, anchor.Origin(h), msg, verifier)
				err, cp = cerr, &c
			}
			if e.JSON() {
				out := map[string]any{"ok": err == nil, "entries": r.Entries, "first_seq": r.FirstSeq, "last_seq": r.LastSeq,
					"broken_seq": r.BrokenSeq, "reason": r.Reason, "anchor": r.Anchor, "anchor_seq": r.AnchorSeq,
					"diverged": r.Diverged, "diverge_seq": r.DivergeSeq, "agreed_seq": r.AgreedSeq,
					"dangling_references": r.Dangling, "accepted_restore": acceptRestore && err == nil,
					"anchor_catch_ups": r.CatchUps, "anchor_catch_up_count": r.CatchUpCount,
					"anchor_first_seq": r.AnchorFirst, "accepted_restores": r.Restores}
				if !r.AnchorFirstAt.IsZero() {
					out["anchor_first_recorded_at"] = r.AnchorFirstAt.UTC().Format(time.RFC3339Nano)
				}
				if err != nil {
					out["error"] = err.Error()
				}
				if cp != nil {
					out["checkpoint"] = map[string]any{"seq": cp.Seq, "hash": cp.Hash, "at": cp.At.UTC().Format(time.RFC3339Nano)}
				}
				_ = e.PrintJSON(out)
				return err
			}
			if err != nil {
				return err
			}
			if acceptRestore {
				e.Printf("restore accepted and recorded: the trail now continues from entry %d\n", r.LastSeq)
			}
			e.Printf("audit trail intact: %d entries (%d..%d)", r.Entries, r.FirstSeq, r.LastSeq)
			if r.Anchor != "" {
				e.Printf("; reaches the newest head kept outside the store (entry %d, %s)", r.AnchorSeq, r.Anchor)
			}
			e.Printf("\n")
			if r.AnchorFirst > r.FirstSeq {
				// Lost and re-created, or started after the store: the
				// earlier entries' completeness rests on the chain alone.
				since := ""
				if !r.AnchorFirstAt.IsZero() {
					since = ", recorded " + r.AnchorFirstAt.UTC().Format(time.RFC3339)
				}
				e.Printf("note: the anchor file records heads from entry %d on%s; the %d entries before it are proven by the chain alone (a file lost and re-created begins late)\n",
					r.AnchorFirst, since, r.AnchorFirst-r.FirstSeq)
			}
			for _, rs := range r.Restores {
				e.Printf("note: a restore was accepted on %s by %s: the store went back to entry %d from entry %d; the entries in between were replaced (reason: %s)\n",
					rs.Recorded.UTC().Format(time.RFC3339), cmp.Or(rs.Actor, "(unknown)"), rs.ToSeq, rs.FromSeq, rs.Reason)
			}
			if r.CatchUpCount > 0 {
				// Heads that reached the file late: a kill between commit
				// and append, a command run without this anchor, or heads
				// removed from the file. The entries are proven by the
				// chain up to the head that caught up.
				e.Printf("note: the anchor file was caught up %d time(s) with entries it held no head for (a command killed between its commit and its append, one run without this anchor, or heads removed from the file):", r.CatchUpCount)
				for _, c := range r.CatchUps {
					e.Printf(" %d..%d on %s;", c.From+1, c.To, c.Recorded.UTC().Format(time.RFC3339))
				}
				e.Printf("\n")
			}
			if cp != nil {
				e.Printf("checkpoint verified: the store holds entry %d signed on %s\n", cp.Seq, cp.At.UTC().Format(time.RFC3339))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&acceptRestore, "accept-restore", false, "record that the store was restored from an older backup on purpose (with --reason)")
	c.Flags().StringVar(&reason, "reason", "", "why the restore is accepted (kept in the anchor file; the trail keeps its SHA-256)")
	c.Flags().StringVar(&checkpoint, "checkpoint", "", "a signed checkpoint file (oubli audit checkpoint) the store must still hold")
	c.Flags().StringVar(&pubkey, "pubkey", "", "the checkpoint's public key (its text, or a file holding it)")
	return c
}

func newAuditCheckpointCmd(e *Env) *cobra.Command {
	var key string
	c := &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the audit trail's head signed with the Ed25519 key of OUBLI_AUDIT_KEY (or --key)",
		Long: `Print the audit trail's current head as a signed note (the format of the Go
checksum database's and transparency logs' checkpoints). Keep it where the
database's administrators cannot edit it; 'oubli audit verify --checkpoint FILE
--pubkey KEY' later proves the store still holds that head.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				key = e.Getenv("OUBLI_AUDIT_KEY")
			}
			if key == "" {
				return usageErrorf("no signing key: set OUBLI_AUDIT_KEY or --key (a key or a file made by oubli audit keygen)")
			}
			signer, err := anchor.LoadKey(key, "signing key")
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			h, err := e.Hasher()
			if err != nil {
				return err
			}
			msg, cp, err := anchor.Sign(e.Ctx, db, anchor.Origin(h), signer)
			if err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"checkpoint": string(msg), "seq": cp.Seq, "hash": cp.Hash, "at": cp.At.UTC().Format(time.RFC3339Nano)})
			}
			_, err = e.Out.Write(msg)
			return err
		},
	}
	c.Flags().StringVar(&key, "key", "", "the signing key, or a file holding it (default: env OUBLI_AUDIT_KEY)")
	return c
}

func newAuditKeygenCmd(e *Env) *cobra.Command {
	var name, out string
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make an Ed25519 key for signing checkpoints: the secret key into FILE (0600), the public key on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf("--out FILE is required (where the secret key is written)")
			}
			if err := e.refuseStoreFiles("--out", out); err != nil {
				return err
			}
			signer, verifier, err := anchor.GenerateKey(name)
			if err != nil {
				return err
			}
			fh, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, os.ErrExist) {
				return usageErrorf("--out %s exists: a key is never overwritten", out)
			}
			if err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			if _, err := fmt.Fprintln(fh, signer); err != nil {
				fh.Close()
				os.Remove(out)
				return fmt.Errorf("write key: %w", err)
			}
			if err := fh.Sync(); err != nil {
				fh.Close()
				os.Remove(out)
				return fmt.Errorf("write key: %w", err)
			}
			if err := fh.Close(); err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"public_key": verifier, "secret_key_file": out})
			}
			e.Printf("%s\n", verifier)
			fmt.Fprintf(e.Err, "oubli: secret key written to %s (keep it away from the database's administrators); the public key is above\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "oubli-audit", "the key's name, shown in each signature line")
	c.Flags().StringVar(&out, "out", "", "file to write the secret key to (created 0600; never overwritten)")
	return c
}

// refuseErasedBack refuses (exit 3) while subjects of the erasure ledger are
// back in the store (erase --reapply --dry-run would erase some).
func (e *Env) refuseErasedBack() error {
	er, err := e.eraser()
	if err != nil {
		return err
	}
	rep, err := er.Reapply(e.Ctx, true)
	if err != nil {
		return err
	}
	if n := len(rep.Erased); n > 0 {
		return fmt.Errorf("%w: %d subject(s) of the erasure ledger are back in the restored store: run `oubli erase --reapply` first, then accept the restore", store.ErrState, n)
	}
	return nil
}
