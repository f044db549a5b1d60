// Package cli is the oubli command line: it parses flags, calls one function
// of the domain packages, and prints. Every command writes to the injected
// writers of Env so that it can be tested without a process.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

// Version is set at build time with -ldflags "-X …/cli.Version=…".
var Version = "dev"

// Env is what every command gets: the global flags, the I/O streams and the
// helpers that open the store, the blob store and the ledger.
type Env struct {
	In       io.Reader
	Out      io.Writer // results: text, or one JSON document with --output json
	Err      io.Writer // progress and logs
	Log      *slog.Logger
	Getenv   func(string) string
	Now      func() time.Time
	Ctx      context.Context
	DBURL    string
	BlobsDir string
	Ledger   string
	// AuditAnchor is --audit-anchor: the file of audit heads kept outside
	// the store.
	AuditAnchor string
	Policies    string
	Output      string
	// Actor is who acts (--actor / OUBLI_ACTOR; default the OS user name,
	// "schedule" for the scheduler): the actor of every audit entry.
	Actor string
	// RecipientsFile is the Art. 19 delivery settings (--recipients /
	// OUBLI_RECIPIENTS); "" makes every recipient manual.
	RecipientsFile string
	// PolicyTimeout bounds one policy evaluation (--policy-timeout).
	PolicyTimeout time.Duration
	policyTimeout string

	db *store.DB
	// allowUnapproved is --allow-unapproved of the commands gated on the
	// policies' approval.
	allowUnapproved bool
	// noSchemaCheck lets `migrate` open a store whose schema is missing or old.
	noSchemaCheck bool
	// mayCreate lets the command create a missing SQLite file (migrate,
	// seed, ingest: see creatingCommands).
	mayCreate bool
}

// creatingCommands are the commands that may create a missing SQLite file:
// every other command on a missing file is bad input, so that a typo in
// --db does not silently open an empty store.
var creatingCommands = map[string]bool{"migrate": true, "seed": true, "ingest": true}

// registry holds the constructors of the top-level commands. Each command's
// file registers itself in an init function, so files do not edit each other.
var registry []func(*Env) *cobra.Command

func register(f func(*Env) *cobra.Command) { registry = append(registry, f) }

// ErrUsage marks bad command-line usage (exit 2).
var ErrUsage = errors.New("usage")

// usageErrorf returns an ErrUsage error.
func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{In: stdin, Out: stdout, Err: stderr, Getenv: os.Getenv, Now: time.Now, Ctx: ctx}
	return env.Run(args)
}

// Run executes args with this Env and returns the exit code.
func (e *Env) Run(args []string) int {
	if e.Ctx == nil {
		e.Ctx = context.Background()
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Log == nil {
		e.Log = newLogger(e.Err)
	}
	out := &countingWriter{w: e.Out}
	e.Out = out
	defer func() { e.Out = out.w }()
	root := e.newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(e.Ctx)
	if e.db != nil {
		e.db.Close()
		e.db = nil
	}
	if err == nil {
		return 0
	}
	code := ExitCode(err)
	msg := err.Error()
	// The plain line always goes to stderr. Under --output json, stdout
	// holds exactly one JSON document: the command's report when it printed
	// one before failing (it carries its outcome), else the error. A flag
	// that failed to parse may have stopped --output from being read, so the
	// arguments are looked at too.
	fmt.Fprintf(e.Err, "oubli: %s\n", msg)
	if (e.Output == "json" || wantsJSON(args)) && out.n == 0 {
		enc := json.NewEncoder(out.w)
		_ = enc.Encode(map[string]any{"error": msg, "exit_code": code})
	}
	return code
}

// countingWriter counts what a command wrote on stdout.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// wantsJSON reports whether args ask for --output json (before any "--").
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--output=json":
			return true
		case a == "--output" && i+1 < len(args):
			if args[i+1] == "json" {
				return true
			}
		}
	}
	return false
}

func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (e *Env) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "oubli",
		Short:         "GDPR data-subject rights and retention for customer-support data",
		Long:          "oubli keeps customer-support data under Rego retention and purpose policies,\npurges what has expired, and executes data-subject requests.",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if e.Output != "text" && e.Output != "json" {
				return usageErrorf("--output must be text or json, not %q", e.Output)
			}
			d, err := time.ParseDuration(e.policyTimeout)
			if err != nil || d <= 0 {
				return usageErrorf("--policy-timeout %q: want a positive duration (30s, 2m)", e.policyTimeout)
			}
			e.PolicyTimeout = d
			top := cmd
			for top.HasParent() && top.Parent().HasParent() {
				top = top.Parent()
			}
			e.mayCreate = creatingCommands[top.Name()]
			if err := e.resolveActor(cmd); err != nil {
				return err
			}
			return e.gateApproval(cmd)
		},
	}
	// pflag 1.1 shows every boolean flag as --flag[=true|false]; the help
	// shows it as people type it, the column kept aligned.
	root.SetUsageTemplate(strings.ReplaceAll(root.UsageTemplate(), "FlagUsages", "FlagUsages | plainBools"))
	root.SetIn(e.In)
	root.SetOut(e.Out)
	root.SetErr(e.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&e.DBURL, "db", envOr(e.Getenv, "OUBLI_DB", "sqlite:oubli.db"), "database: sqlite:PATH or postgres://… (env OUBLI_DB)")
	pf.StringVar(&e.BlobsDir, "blobs", e.Getenv("OUBLI_BLOBS"), "attachment contents directory (env OUBLI_BLOBS; default oubli-blobs beside a SQLite file)")
	pf.StringVar(&e.Ledger, "ledger", e.Getenv("OUBLI_LEDGER"), "erasure ledger file (env OUBLI_LEDGER; default oubli-erasures.log beside a SQLite file)")
	pf.StringVar(&e.AuditAnchor, "audit-anchor", e.Getenv("OUBLI_AUDIT_ANCHOR"), "file of audit-trail heads kept outside the store (env OUBLI_AUDIT_ANCHOR; default oubli-audit-anchor.log beside a SQLite file, or beside --ledger)")
	pf.StringVar(&e.Policies, "policies", e.Getenv("OUBLI_POLICIES"), "Rego policy directory replacing the embedded policies (env OUBLI_POLICIES)")
	pf.StringVar(&e.Output, "output", "text", "output format: text or json")
	pf.StringVar(&e.Actor, "actor", e.Getenv("OUBLI_ACTOR"), "who acts, recorded on every audit entry (env OUBLI_ACTOR; default the OS user name, \"schedule\" for the scheduler)")
	pf.StringVar(&e.RecipientsFile, "recipients", e.Getenv("OUBLI_RECIPIENTS"), "Art. 19 recipients' delivery settings, a JSON file (env OUBLI_RECIPIENTS; default: every recipient manual)")
	pf.StringVar(&e.policyTimeout, "policy-timeout", envOr(e.Getenv, "OUBLI_POLICY_TIMEOUT", policies.DefaultEvalTimeout.String()),
		"longest a policy may take to decide (one evaluation); slower is a policy error, exit 2 (env OUBLI_POLICY_TIMEOUT)")
	cmds := make([]*cobra.Command, 0, len(registry))
	for _, f := range registry {
		cmds = append(cmds, f(e))
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	for _, c := range cmds {
		wrapArgs(c)
		root.AddCommand(c)
	}
	groupCommand(root)
	e.addApprovalFlags(root)
	return root
}

func init() {
	cobra.AddTemplateFunc("plainBools", func(s string) string {
		return strings.ReplaceAll(s, "[=true|false]", "             ")
	})
}

// groupCommand makes a command that only groups subcommands print its help
// when called alone and refuse an unknown subcommand as bad usage (exit 2),
// where cobra would print the help and exit 0 (or, at the root, exit 1).
func groupCommand(c *cobra.Command) {
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return fmt.Errorf("%w: %s", ErrUsage, msg)
		}
		return nil
	}
	c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
}

// wrapArgs makes positional-argument errors usage errors (exit 2), and
// unknown subcommands of a group command too.
func wrapArgs(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		groupCommand(c)
		for _, s := range c.Commands() {
			wrapArgs(s)
		}
		return
	}
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return fmt.Errorf("%w: %v", ErrUsage, err)
			}
			return nil
		}
	}
	for _, s := range c.Commands() {
		wrapArgs(s)
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// JSON reports whether --output json was given.
func (e *Env) JSON() bool { return e.Output == "json" }

// PrintJSON writes v as the one JSON document on stdout.
func (e *Env) PrintJSON(v any) error {
	enc := json.NewEncoder(e.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Printf writes text output.
func (e *Env) Printf(format string, args ...any) { fmt.Fprintf(e.Out, format, args...) }

// Store opens (once) the store named by --db. A missing SQLite file is
// created and migrated by the commands that load data (creatingCommands);
// for any other it is bad input: "no store at PATH".
func (e *Env) Store() (*store.DB, error) {
	if e.db != nil {
		return e.db, nil
	}
	db, err := store.Open(e.Ctx, e.DBURL, store.Options{MustExist: !e.mayCreate})
	if err != nil {
		return nil, err
	}
	if !e.noSchemaCheck {
		if err := db.CheckSchema(e.Ctx); err != nil {
			db.Close()
			return nil, err
		}
		if err := e.attachAnchor(db); err != nil {
			db.Close()
			return nil, err
		}
	}
	e.db = db
	return db, nil
}

// sqlitePath returns the SQLite file path of --db, or "" for PostgreSQL or
// a URL store.ParseURL refuses (Store and BlobsPath report that).
func (e *Env) sqlitePath() string {
	d, p, err := store.ParseURL(e.DBURL)
	if err != nil || d != store.SQLite {
		return ""
	}
	return p
}

// BlobsPath returns the blob store's location: --blobs (a directory or
// s3://BUCKET[/PREFIX]), or oubli-blobs beside a SQLite file. It is required
// with PostgreSQL.
func (e *Env) BlobsPath() (string, error) {
	if e.BlobsDir != "" {
		return e.BlobsDir, nil
	}
	if _, _, err := store.ParseURL(e.DBURL); err != nil {
		return "", err // a bad --db: not a directory beside a file named after it
	}
	p := e.sqlitePath()
	if p == "" || p == ":memory:" {
		return "", usageErrorf("--blobs (or OUBLI_BLOBS) is required with PostgreSQL")
	}
	return filepath.Join(filepath.Dir(p), "oubli-blobs"), nil
}

// BlobsLocation parses the blob store's location: an unknown URL scheme
// or a bad s3:// URL is a usage error (exit 2), never a directory named
// after it.
func (e *Env) BlobsLocation() (blobs.Location, error) {
	p, err := e.BlobsPath()
	if err != nil {
		return blobs.Location{}, err
	}
	loc, err := blobs.ParseLocation(p)
	if err != nil {
		return loc, fmt.Errorf("%w: --blobs: %v", ErrUsage, err)
	}
	return loc, nil
}

// Blobs opens the blob store: a directory, or an S3 bucket reached through
// the standard AWS environment and config chain.
func (e *Env) Blobs() (blobs.Store, error) {
	loc, err := e.BlobsLocation()
	if err != nil {
		return nil, err
	}
	if loc.IsS3() {
		return blobs.NewS3(e.Ctx, loc, blobs.S3Options{})
	}
	return blobs.NewDir(loc.Dir)
}

// LedgerPath returns the erasure ledger path: --ledger, or
// oubli-erasures.log beside a SQLite file. It is required with PostgreSQL.
//
// A ledger inside the store's files (the SQLite file, its -wal, -shm or lock
// files) or inside the blob directory is refused: writing it there would
// corrupt both (issue 17).
func (e *Env) LedgerPath() (string, error) {
	p := e.Ledger
	if p == "" {
		db := e.sqlitePath()
		if db == "" || db == ":memory:" {
			return "", usageErrorf("--ledger (or OUBLI_LEDGER) is required with PostgreSQL")
		}
		p = filepath.Join(filepath.Dir(db), "oubli-erasures.log")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", usageErrorf("--ledger %s: %v", p, err)
	}
	if db := e.sqlitePath(); db != "" && db != ":memory:" {
		if d, err := filepath.Abs(db); err == nil && (abs == d || strings.HasPrefix(abs, d+"-") || strings.HasPrefix(abs, d+".")) {
			return "", usageErrorf("--ledger %s is one of the store's files: give the erasure ledger a file of its own", p)
		}
	}
	if b, err := e.BlobsPath(); err == nil {
		if d, err := filepath.Abs(b); err == nil && (abs == d || strings.HasPrefix(abs, d+string(filepath.Separator))) {
			return "", usageErrorf("--ledger %s is inside the blob directory: give the erasure ledger a file of its own", p)
		}
	}
	return p, nil
}

// ParseTime parses a --at/--received-at/--until value: RFC 3339 with a zone,
// or a date (YYYY-MM-DD, midnight UTC).
func ParseTime(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if t, err = time.Parse("2006-01-02", v); err == nil {
			t = t.UTC()
		}
	}
	if err == nil {
		// Beyond these, the policies' calendar arithmetic overflows (adversarial
		// pass 8 F20: read as a policy error).
		if t.Year() < 1970 || t.Year() > 2999 {
			return time.Time{}, usageErrorf("%s %q: out of the range oubli handles (years 1970 to 2999)", flag, v)
		}
		return t, nil
	}
	return time.Time{}, usageErrorf("%s %q: want an RFC 3339 time with a zone (2026-01-31T23:00:00Z) or a date (2026-01-31)", flag, v)
}

// Hasher returns the store's keyed hasher (OUBLI_SECRET or the stored key).
func (e *Env) Hasher() (*store.Hasher, error) {
	db, err := e.Store()
	if err != nil {
		return nil, err
	}
	return db.Hasher(e.Ctx)
}

// TimeFlag parses an optional time flag (--at, --received-at…): its value,
// or now when it is empty.
func (e *Env) TimeFlag(flag, v string) (time.Time, error) {
	if v == "" {
		return e.Now(), nil
	}
	return ParseTime(flag, v)
}
