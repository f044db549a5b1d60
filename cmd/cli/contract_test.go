package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/oubli/oubli/internal/testdb"
)

// contractCase is what the contract test runs for one leaf command besides
// a bad flag: the arguments that name an unknown id (exit 5) and those that
// ask for something the current state does not allow (exit 3). A command
// with neither says why in na.
type contractCase struct {
	unknown []string
	wrong   []string
	na      string
}

// contractCases covers every leaf command of the tree; TestCLIContract fails
// for a command missing here, so a new command is covered when it is added.
// "{closed}" stands for a closed request, "{released}" for a released hold.
func contractCases(out string) map[string]contractCase {
	return map[string]contractCase{
		"audit log":         {na: "lists the audit trail: no id, no state"},
		"audit verify":      {na: "verifies the whole chain: no id, no state"},
		"audit checkpoint":  {na: "signs the chain's head: no id; its faults have their own e2e test"},
		"audit keygen":      {na: "writes a key pair: no id, no state"},
		"notify ack":        {unknown: []string{"ntf_00000000000000000000000000000000", "--note", "x"}, na: "wrong state: needs a delivered notification (e2e TestNotify)"},
		"notify deliver":    {na: "delivers what is pending: no id, no state"},
		"notify list":       {na: "lists notifications: no id, no state"},
		"notify status":     {na: "sums up the outbox per recipient: no id, no state"},
		"residue dismiss":   {unknown: []string{"RF-000000000000"}, na: "wrong state: needs a finding of a sweep (e2e residue tests)"},
		"residue list":      {na: "lists findings: no id, no state"},
		"residue reindex":   {na: "backfills the attachment index: no id, no state"},
		"residue redact":    {unknown: []string{"RF-000000000000"}, na: "wrong state: a redacted finding, in the e2e residue tests (exit 3)"},
		"check":             {na: "checks the whole store: no id, no state"},
		"erase":             {unknown: []string{"--user-id", "u-nobody"}, wrong: []string{"--user-id", "u-42", "--request", "{closed}"}},
		"export":            {unknown: []string{"--user-id", "u-nobody", "--out", out}, wrong: []string{"--user-id", "u-42", "--out", out, "--request", "{closed}"}},
		"hold add":          {unknown: []string{"--ticket", "T-nope", "--reason", "claim"}, na: "wrong state: a hold can be added on anything that exists"},
		"hold list":         {na: "lists holds: no id, no state"},
		"hold release":      {unknown: []string{"H-nope"}, wrong: []string{"{released}"}},
		"ingest":            {na: "reads a file: no id, no state (a missing file is bad input)"},
		"inventory":         {na: "counts the store: no id, no state"},
		"migrate":           {na: "upgrades the schema: no id, no state"},
		"object":            {unknown: []string{"--user-id", "u-nobody", "--purpose", "statistics"}, wrong: []string{"--user-id", "u-42", "--purpose", "statistics", "--request", "{closed}"}},
		"policy check":      {na: "compiles the policies: no id, no state"},
		"policy approve":    {na: "approves the loaded revision: no id; its states have their own tests"},
		"policy diff":       {na: "compares with a directory or an approval; its faults have their own tests"},
		"policy history":    {na: "lists approvals: no id, no state"},
		"policy explain":    {unknown: []string{"--ticket", "T-nope"}, na: "wrong state: explains any ticket"},
		"policy schedule":   {na: "renders the policies: no id, no state"},
		"policy test":       {na: "runs the policies' tests: no id, no state"},
		"rectify":           {unknown: []string{"--user-id", "u-nobody", "--set", "pseudo=x"}, wrong: []string{"--user-id", "u-42", "--set", "pseudo=x", "--request", "{closed}"}},
		"requests close":    {unknown: []string{"DSR-2026-999999"}, wrong: []string{"{closed}"}},
		"requests extend":   {unknown: []string{"DSR-2026-999999", "--reason", "x"}, wrong: []string{"{closed}", "--reason", "x"}},
		"requests list":     {unknown: []string{"--email", "nobody@example.org"}, na: "wrong state: lists any state"},
		"requests open":     {unknown: []string{"--type", "access", "--user-id", "u-nobody"}, na: "wrong state: any subject may ask"},
		"requests show":     {unknown: []string{"DSR-2026-999999"}, na: "wrong state: shows any state"},
		"retention history": {na: "lists runs: no id, no state"},
		"retention plan":    {na: "plans the whole store: no id, no state"},
		"retention run":     {na: "purges the whole store: no id; the safety valve has its own tests"},
		"schedule":          {na: "the daemon: no id, no state"},
		"seed":              {na: "loads generated data: no id; a second --demo has its own test"},
		"stats refresh":     {na: "recomputes statistics: no id, no state"},
		"subjects find":     {unknown: []string{"--email", "nobody@example.org"}, na: "wrong state: finds any subject"},
	}
}

// leafCommands returns the path ("requests close") of every runnable leaf
// command of the tree, and of every group command.
func leafCommands(root *cobra.Command) (leaves, groups []string) {
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, s := range c.Commands() {
			if s.Name() == "help" || s.Name() == "completion" {
				continue
			}
			p := strings.TrimSpace(path + " " + s.Name())
			if s.HasSubCommands() {
				groups = append(groups, p)
				walk(s, p)
				continue
			}
			leaves = append(leaves, p)
		}
	}
	walk(root, "")
	sort.Strings(leaves)
	return leaves, groups
}

// checkJSONError asserts the error contract under --output json: the
// documented exit code, exactly one JSON document on stdout (the error, or
// the command's own report), and a plain "oubli: …" line on stderr.
func checkJSONError(t *testing.T, what string, want, code int, out, errs string) {
	t.Helper()
	if code != want {
		t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, code, want, out, errs)
		return
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Errorf("%s: stdout is not one JSON document: %v\nstdout: %q", what, err, out)
		return
	}
	if dec.More() {
		t.Errorf("%s: more than one JSON document on stdout: %q", what, out)
	}
	if msg, ok := doc["error"]; ok {
		if s, _ := msg.(string); s == "" || doc["exit_code"] != float64(want) {
			t.Errorf("%s: error document %v, want error text and exit_code %d", what, doc, want)
		}
	}
	plain := false
	for _, l := range strings.Split(errs, "\n") {
		if strings.HasPrefix(l, "oubli: ") {
			plain = true
		}
		if strings.HasPrefix(l, `{"error"`) {
			t.Errorf("%s: the JSON error went to stderr: %s", what, l)
		}
	}
	if !plain {
		t.Errorf("%s: no plain \"oubli: …\" line on stderr:\n%s", what, errs)
	}
}

// TestCLIContract walks every command of the tree (so new commands are
// covered automatically) under --output json with a bad flag, an unknown id
// and a wrong state, and checks the documented exit codes and JSON errors;
// an unknown command or subcommand is bad usage (exit 2).
func TestCLIContract(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &dsrWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend), now: time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)}
			in := filepath.Join(w.dir, "in.jsonl")
			os.WriteFile(in, []byte(dsrFixture), 0o600)
			w.must(0, "migrate")
			w.must(0, "ingest", in)
			// A closed request of every type, and a released hold.
			closed := map[string]string{}
			for _, typ := range []string{"access", "rectification", "objection", "erasure"} {
				r := w.must(0, "requests", "open", "--type", typ, "--user-id", "u-42", "--output", "json")
				closed[typ] = r["request_id"].(string)
				w.must(0, "requests", "close", closed[typ], "--refuse", "--reason", "identity not verified")
			}
			hold := w.must(0, "hold", "add", "--ticket", "T-2", "--reason", "claim", "--output", "json")
			w.must(0, "hold", "release", hold["hold_id"].(string))
			typeOf := map[string]string{"erase": "erasure", "export": "access", "object": "objection", "rectify": "rectification"}

			leaves, groups := leafCommands((&Env{Getenv: os.Getenv}).newRoot())
			cases := contractCases(filepath.Join(w.dir, "x.zip"))
			for _, p := range leaves {
				tc, ok := cases[p]
				if !ok {
					t.Errorf("command %q has no case in contractCases: add its unknown id and wrong state (or why not)", p)
					continue
				}
				if tc.na == "" && (tc.unknown == nil || tc.wrong == nil) {
					t.Errorf("command %q: a missing case needs its reason", p)
				}
				path := strings.Fields(p)
				run := func(what string, want int, extra []string) {
					args := append(append(append([]string{}, path...), extra...), "--output", "json")
					for i, a := range args {
						switch a {
						case "{closed}":
							typ := typeOf[path[0]]
							if typ == "" {
								typ = "access"
							}
							args[i] = closed[typ]
						case "{released}":
							args[i] = hold["hold_id"].(string)
						}
					}
					code, out, errs := w.run(args...)
					checkJSONError(t, "oubli "+strings.Join(args, " ")+" ("+what+")", want, code, out, errs)
				}
				run("bad flag", ExitBadInput, []string{"--no-such-flag"})
				if tc.unknown != nil {
					run("unknown id", ExitNotFound, tc.unknown)
				}
				if tc.wrong != nil {
					run("wrong state", ExitRefused, tc.wrong)
				}
			}
			for p := range cases {
				found := false
				for _, l := range leaves {
					found = found || l == p
				}
				if !found {
					t.Errorf("contractCases names %q, which is no command", p)
				}
			}
			// Unknown commands and subcommands: bad usage, under either output.
			for _, g := range append([]string{""}, groups...) {
				args := append(strings.Fields(g), "no-such-command")
				code, out, errs := w.run(append(args, "--output", "json")...)
				checkJSONError(t, "oubli "+strings.Join(args, " "), ExitBadInput, code, out, errs)
				// The flag before the command, as people type it.
				code, out, errs = w.run(append([]string{"--output", "json"}, args...)...)
				checkJSONError(t, "oubli --output json "+strings.Join(args, " "), ExitBadInput, code, out, errs)
				if code, _, errs := w.run(args...); code != ExitBadInput || !strings.Contains(errs, "unknown command") {
					t.Errorf("oubli %s: exit %d, want 2 with unknown command\n%s", strings.Join(args, " "), code, errs)
				}
			}
			// A bad flag before the output flag still gives the JSON error.
			code, out, errs := w.run("requests", "list", "--bogus", "--output", "json")
			checkJSONError(t, "oubli requests list --bogus --output json", ExitBadInput, code, out, errs)
		})
	}
}

// TestHelpTexts: every command's help shows boolean flags plainly (not
// --flag[=true|false]) and no flag's type is a phrase pflag took from
// backquotes in its usage.
func TestHelpTexts(t *testing.T) {
	root := (&Env{Getenv: os.Getenv}).newRoot()
	leaves, groups := leafCommands(root)
	for _, p := range append(append([]string{""}, groups...), leaves...) {
		w := &dsrWorld{t: t, dir: t.TempDir(), db: "sqlite:" + filepath.Join(t.TempDir(), "x.db")}
		code, out, errs := w.run(append(strings.Fields(p), "--help")...)
		if code != 0 || strings.Contains(out, "[=true|false]") {
			t.Errorf("oubli %s --help: exit %d, shows [=true|false]: %v\n%s%s", p, code, strings.Contains(out, "[=true|false]"), out, errs)
		}
		c, _, err := root.Find(strings.Fields(p))
		if err != nil {
			t.Fatal(err)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.Contains(name, " ") {
				t.Errorf("oubli %s --%s: help shows its type as %q (backquotes in its usage)", p, f.Name, name)
			}
		})
	}
}
