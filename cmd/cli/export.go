package cli

import (
	"errors"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/dsr"
	"github.com/oubli/oubli/store"
)

func init() { register(newExportCmd) }

func newExportCmd(e *Env) *cobra.Command {
	var opts dsr.ExportOptions
	c := &cobra.Command{
		Use:   "export (--user-id ID | --email ADDR) --out FILE.zip [--request ID] [--lang fr|en] [--force]",
		Short: "Write everything held on a subject to one ZIP archive (access, Art. 15; portability, Art. 20)",
		Long: "export writes one ZIP archive: data.json (every record held on the subject, in a versioned\n" +
			"format described by schema.json), attachments/ (the original files, checked against their\n" +
			"SHA-256), information.json and index.html (the Art. 15(1) information from the policies, and\n" +
			"a self-contained page to read and print the tickets and conversations). Agents appear as\n" +
			"\"Agent 1\", \"Agent 2\"; nothing of any other person is included. The archive is written\n" +
			"in FILE.zip's directory (unnamed where the file system allows), the export is recorded in\n" +
			"the register and the audit trail (keyed subject hash, counts, the archive's SHA-256), and\n" +
			"only then does the archive appear at FILE.zip (mode 0600): a file there is always a\n" +
			"complete, recorded export, and an interrupted export leaves no part of one behind.\n" +
			"index.html is written in one language (--lang, default the policies' information.language);\n" +
			"information.json says which, and gives every text of the policies in French and English.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSubject(opts.Subject); err != nil {
				return err
			}
			if opts.Out == "" {
				return usageErrorf("--out FILE.zip is required")
			}
			if opts.Lang != "" && !slices.Contains(dsr.Languages, opts.Lang) {
				return usageErrorf("--lang must be %s, not %q", strings.Join(dsr.Languages, " or "), opts.Lang)
			}
			if err := e.refuseStoreFiles("--out", opts.Out); err != nil {
				return err
			}
			if err := e.notRestoredErased(opts.Subject); err != nil {
				return err
			}
			x, err := e.Exporter()
			if err != nil {
				return err
			}
			res, err := x.Export(e.Ctx, opts)
			if errors.Is(err, store.ErrNotFound) {
				return e.erasedOr(opts.Subject, err)
			}
			if err != nil {
				return err
			}
			if _, err := e.warnPlaceholders(); err != nil {
				return err
			}
			if e.JSON() {
				return e.PrintJSON(res)
			}
			n := res.Counts
			e.Printf("wrote %s (%d bytes, sha256 %s)\n", res.Path, res.Bytes, res.SHA256)
			e.Printf("  %d tickets, %d messages, %d attachments (%d bytes), %d account events, %d statistics, %d objections, %d requests, %d legal holds\n",
				n.Tickets, n.Messages, n.Attachments, n.AttachmentBytes, n.AccountEvents, n.SubjectStats, n.Objections, n.Requests, n.LegalHolds)
			e.Printf("  request %s: %s (audit #%d)\n", res.RequestID, res.RequestStatus, res.AuditSeq)
			return nil
		},
	}
	c.Flags().StringVar(&opts.Subject.UserID, "user-id", "", "the subject's user id")
	c.Flags().StringVar(&opts.Subject.Email, "email", "", "the subject's e-mail address")
	c.Flags().StringVar(&opts.Out, "out", "", "the archive to write (FILE.zip)")
	c.Flags().StringVar(&opts.RequestID, "request", "", "the access request of the register this answers (default: open and close one)")
	c.Flags().StringVar(&opts.Lang, "lang", "", "the language of index.html: fr or en (default: the policies' information.language)")
	c.Flags().BoolVar(&opts.Force, "force", false, "replace an existing file at --out")
	return c
}
