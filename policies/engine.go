package policies

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

//go:embed *.rego
var embedded embed.FS

// Embedded returns the policies built into the binary: the repository's
// policies/*.rego, tests included.
func Embedded() fs.FS { return embedded }

// Engine holds the compiled policies and their prepared queries. It is safe
// for concurrent use.
type Engine struct {
	revision string
	files    map[string]string // name → source, tests included
	modules  map[string]*ast.Module
	compiler *ast.Compiler
	caps     *ast.Capabilities

	retention rego.PreparedEvalQuery
	erasure   rego.PreparedEvalQuery
	cutoffs   rego.PreparedEvalQuery
	deadline  rego.PreparedEvalQuery

	// evalTimeout bounds one evaluation (DefaultEvalTimeout unless the
	// loading context said otherwise, see WithEvalTimeout).
	evalTimeout time.Duration

	purposes    []Purpose
	recipients  []Recipient
	retentionDB []RetentionEntry
	register    Register
	info        Information
	rules       []RuleDoc
}

// Queries the engine prepares; their rules must exist in the policies.
const (
	queryRetention = "data.oubli.retention.decisions"
	queryErasure   = "data.oubli.erasure.decisions"
	queryCutoffs   = "data.oubli.retention.cutoffs"
	queryDeadline  = "data.oubli.requests.deadline"
	queryStatic    = "data.oubli.static"
)

// forbiddenBuiltins are removed from the capabilities: a policy calling one
// fails to compile. They reach the network, the file system or the host,
// or make a decision depend on something else than its input (wall clock,
// randomness).
var forbiddenBuiltins = map[string]bool{
	"http.send":              true,
	"net.lookup_ip_addr":     true,
	"opa.runtime":            true,
	"time.now_ns":            true,
	"rand.intn":              true,
	"uuid.rfc4122":           true,
	"trace":                  true,
	"print":                  true,
	"providers.aws.sign_req": true,
	"io.jwt.decode_verify":   true,
	"crypto.x509.parse_and_verify_certificates": true,
}

// Capabilities returns the OPA capabilities the policies are compiled with:
// this OPA version's built-ins minus the forbidden ones, and no network host
// allowed.
func Capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0:0]
	for _, b := range caps.Builtins {
		if !forbiddenBuiltins[b.Name] {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	caps.AllowNet = []string{}
	return caps
}

// LoadDir loads the *.rego files of dir (not recursive). Only regular files
// inside dir are read: a symlink leading out of it, a device or a FIFO is
// refused by name, its contents never read (issue 17: a link to
// /proc/self/environ printed the environment in a parse error). Symlinks
// that stay inside dir (as Kubernetes ConfigMap mounts make) are followed.
func LoadDir(ctx context.Context, dir string) (*Engine, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: policies directory: %v", ErrPolicy, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: policies directory %s is not a directory", ErrPolicy, dir)
	}
	files, err := readPolicyDir(dir)
	if err != nil {
		return nil, err
	}
	return load(ctx, files)
}

// maxPolicyFile bounds one policy file's size.
const maxPolicyFile = 16 << 20

// readPolicyDir reads the *.rego files of dir through an os.Root, which
// refuses any path (symlinks included) that leads out of dir, and keeps
// regular files only; a FIFO is opened without blocking.
func readPolicyDir(dir string) (map[string]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: policies directory: %v", ErrPolicy, err)
	}
	defer root.Close()
	names, err := fs.Glob(root.FS(), "*.rego")
	if err != nil {
		return nil, fmt.Errorf("%w: list policies: %v", ErrPolicy, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no *.rego file found", ErrPolicy)
	}
	files := make(map[string]string, len(names))
	for _, n := range names {
		b, err := readRegular(root, n)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, n, err)
		}
		files[n] = string(b)
	}
	return files, nil
}

func readRegular(root *os.Root, name string) ([]byte, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the policy's name, said once
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > maxPolicyFile {
		return nil, fmt.Errorf("larger than %d bytes", maxPolicyFile)
	}
	return io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
}

// Load parses every *.rego file at the root of fsys, compiles them in strict
// mode with restricted capabilities, prepares the queries and evaluates the
// static documents (purposes, schedule, access information). Any fault is
// an error wrapping ErrPolicy that names the file and line.
func Load(ctx context.Context, fsys fs.FS) (*Engine, error) {
	files, err := readPolicyFiles(fsys)
	if err != nil {
		return nil, err
	}
	return load(ctx, files)
}

// load compiles and prepares the policy files (name → source).
func load(ctx context.Context, files map[string]string) (*Engine, error) {
	var err error
	e := &Engine{files: files, caps: Capabilities(), evalTimeout: evalTimeoutFrom(ctx)}
	e.revision = revision(files)
	// Every file is parsed (a syntax error anywhere in the directory is
	// a policy error); the unit tests (*_test.rego) are not compiled into
	// what decides: no rule of a test file can take part in a decision,
	// as none is shown to legal review (policy schedule), and every
	// command saves their compilation (58 -> 44 ms of each command's
	// start). `policy check` and `policy test` compile them.
	all, err := parseModules(files, e.caps)
	if err != nil {
		return nil, err
	}
	e.modules = make(map[string]*ast.Module, len(all))
	for n, m := range all {
		if !IsTestFile(n) {
			e.modules[n] = m
		}
	}
	if len(e.modules) == 0 {
		return nil, fmt.Errorf("%w: only unit tests (*_test.rego), no policy file", ErrPolicy)
	}
	e.compiler = newCompiler(e.caps)
	e.compiler.Compile(e.modules)
	if e.compiler.Failed() {
		return nil, fmt.Errorf("%w: compile: %s", ErrPolicy, sourceless(e.compiler.Errors))
	}
	prep := func(q string) (rego.PreparedEvalQuery, error) {
		pq, err := rego.New(
			rego.Query(q),
			rego.Compiler(e.compiler),
			rego.Capabilities(e.caps),
			rego.Strict(true),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
		if err != nil {
			return pq, fmt.Errorf("%w: prepare %s: %v", ErrPolicy, q, err)
		}
		return pq, nil
	}
	if e.retention, err = prep(queryRetention); err != nil {
		return nil, err
	}
	if e.erasure, err = prep(queryErasure); err != nil {
		return nil, err
	}
	if e.cutoffs, err = prep(queryCutoffs); err != nil {
		return nil, err
	}
	if e.deadline, err = prep(queryDeadline); err != nil {
		return nil, err
	}
	if err := e.loadStatic(ctx, prep); err != nil {
		return nil, err
	}
	return e, nil
}

// CompileAll compiles every policy file, the unit tests (*_test.rego)
// included, as strictly as the policies are: load leaves the tests out of
// what decides, and `policy check` must still refuse a broken test file.
func (e *Engine) CompileAll() error {
	mods, err := parseModules(e.files, e.caps)
	if err != nil {
		return err
	}
	c := newCompiler(e.caps)
	c.Compile(mods)
	if c.Failed() {
		return fmt.Errorf("%w: compile: %s", ErrPolicy, sourceless(c.Errors))
	}
	return nil
}

// newCompiler is the strict compiler the policies are held to.
func newCompiler(caps *ast.Capabilities) *ast.Compiler {
	return ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(caps).
		WithEnablePrintStatements(false).
		WithUseTypeCheckAnnotations(true)
}

// readPolicyFiles reads the *.rego files at the root of fsys.
func readPolicyFiles(fsys fs.FS) (map[string]string, error) {
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, fmt.Errorf("%w: list policies: %v", ErrPolicy, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no *.rego file found", ErrPolicy)
	}
	files := make(map[string]string, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrPolicy, n, err)
		}
		files[n] = string(b)
	}
	return files, nil
}

// revision hashes every policy file, names and contents.
func revision(files map[string]string) string {
	names := sortedKeys(files)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%d:%s\n%d:", len(n), n, len(files[n]))
		h.Write([]byte(files[n]))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// parseModules parses every file as Rego v1 with annotations.
func parseModules(files map[string]string, caps *ast.Capabilities) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(files))
	var errs []string
	for _, n := range sortedKeys(files) {
		m, err := ast.ParseModuleWithOpts(n, files[n], ast.ParserOptions{
			ProcessAnnotation: true,
			Capabilities:      caps,
			RegoVersion:       ast.RegoV1,
		})
		if err != nil {
			errs = append(errs, sourceless(err))
			continue
		}
		mods[n] = m
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: parse: %s", ErrPolicy, strings.Join(errs, "; "))
	}
	return mods, nil
}

// quoted matches quoted text inside an error message.
var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'|` + "`[^`]*`")

// sourceless formats a parse or compile error as "file:line:col: code:
// message" for each error, without the source lines OPA adds as details and
// with quoted text masked: a file that is not a policy (a secret, an
// environment) is named and located, never shown.
func sourceless(err error) string {
	var errs ast.Errors
	var one *ast.Error
	switch {
	case errors.As(err, &errs):
	case errors.As(err, &one):
		errs = ast.Errors{one}
	default:
		return "(details withheld: they may show the file's contents)"
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		loc := "?"
		if e.Location != nil {
			loc = fmt.Sprintf("%s:%d:%d", e.Location.File, e.Location.Row, e.Location.Col)
		}
		out = append(out, fmt.Sprintf("%s: %s: %s", loc, e.Code, quoted.ReplaceAllString(e.Message, "…")))
	}
	return strings.Join(out, "; ")
}

// Revision identifies the policies: a hash over every policy file, which
// changes whenever any file changes.
func (e *Engine) Revision() string { return e.revision }

// Files returns the policy files' names, sorted.
func (e *Engine) Files() []string { return sortedKeys(e.files) }

// Source returns one policy file's text.
func (e *Engine) Source(name string) (string, bool) {
	s, ok := e.files[name]
	return s, ok
}

// IsTestFile reports whether a policy file holds Rego unit tests.
func IsTestFile(name string) bool { return strings.HasSuffix(path.Base(name), "_test.rego") }

// DefaultEvalTimeout bounds one policy evaluation (a batch of decisions, a
// static document) unless WithEvalTimeout says otherwise: a policy too slow
// to decide is a policy error, so that nothing is deleted on its account
// and no lock is held for ever (issue 17: a nested `every` ran 727 s).
const DefaultEvalTimeout = 60 * time.Second

type evalTimeoutKey struct{}

// WithEvalTimeout returns a context that makes Load and LoadDir build an
// engine whose evaluations each get at most d (d > 0).
func WithEvalTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, evalTimeoutKey{}, d)
}

func evalTimeoutFrom(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(evalTimeoutKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return DefaultEvalTimeout
}

// SetEvalTimeout changes the bound of one evaluation (d > 0).
func (e *Engine) SetEvalTimeout(d time.Duration) {
	if d > 0 {
		e.evalTimeout = d
	}
}

// EvalTimeout returns the bound of one evaluation.
func (e *Engine) EvalTimeout() time.Duration { return e.evalTimeout }

// eval runs a prepared query under the evaluation deadline. Past the
// deadline the evaluation stops and the error wraps ErrPolicy; when ctx
// itself ends (a signal), ctx's error is returned.
func (e *Engine) eval(ctx context.Context, q rego.PreparedEvalQuery, what string, opts ...rego.EvalOption) (rego.ResultSet, error) {
	limit := e.evalTimeout
	if limit <= 0 {
		limit = DefaultEvalTimeout
	}
	ectx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	rs, err := q.Eval(ectx, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ectx.Err() != nil {
			return nil, fmt.Errorf("%w: %s did not decide within %s (the policy is too slow; see --policy-timeout)", ErrPolicy, what, limit)
		}
		return nil, policyEvalError(what, err)
	}
	return rs, nil
}

// evalOne evaluates a prepared query and returns its single value.
func (e *Engine) evalOne(ctx context.Context, q rego.PreparedEvalQuery, what string, input ast.Value, at time.Time) (any, error) {
	opts := []rego.EvalOption{rego.EvalParsedInput(input)}
	if !at.IsZero() {
		opts = append(opts, rego.EvalTime(at))
	}
	rs, err := e.eval(ctx, q, what, opts...)
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("%w: %s is undefined", ErrPolicy, what)
	}
	return rs[0].Expressions[0].Value, nil
}

// evalRaw is evalOne returning the evaluator's own value, without the
// conversion to Go maps and slices.
func (e *Engine) evalRaw(ctx context.Context, q rego.PreparedEvalQuery, what string, input ast.Value, at time.Time) (ast.Value, error) {
	rs, err := e.eval(ctx, q, what, rego.EvalParsedInput(input), rego.EvalTime(at),
		rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }))
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("%w: %s is undefined", ErrPolicy, what)
	}
	v, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return nil, fmt.Errorf("%w: %s: unexpected result %T", ErrPolicy, what, rs[0].Expressions[0].Value)
	}
	return v, nil
}

// policyEvalError wraps an evaluation error as ErrPolicy, naming conflicts.
func policyEvalError(what string, err error) error {
	var te *topdown.Error
	if errors.As(err, &te) && te.Code == topdown.ConflictErr {
		return fmt.Errorf("%w: %s: two rules disagree: %v", ErrPolicy, what, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrPolicy, what, err)
}

// decodeInto converts an evaluation result to a Go struct via JSON.
func decodeInto(v any, dst any, what string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrPolicy, what, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %s has an unexpected shape: %v", ErrPolicy, what, err)
	}
	return nil
}
