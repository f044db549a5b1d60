// Package store is oubli's persistence layer: the support-contact data, the
// request register, legal holds, objections and the audit trail, held in
// SQLite (embedded default, pure Go) or PostgreSQL (production), behind one
// API. It knows SQL; it decides nothing about retention or purposes.
//
// Every query is written once with '?' placeholders and rebound for the
// backend. All times are stored as Unix milliseconds (UTC) in BIGINT columns,
// so the same comparisons work on both backends.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // PostgreSQL driver "postgres"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // SQLite driver "sqlite", pure Go
)

// Dialect names a supported backend.
type Dialect string

const (
	// SQLite is the embedded default backend (modernc.org/sqlite).
	SQLite Dialect = "sqlite"
	// Postgres is the production backend (lib/pq).
	Postgres Dialect = "postgres"
)

// Sentinel errors. cmd/ maps them to exit codes.
var (
	// ErrNotFound is returned when a subject, ticket, request or hold does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBusy is returned when a lock is held by another process.
	ErrBusy = errors.New("busy")
	// ErrInvalid is returned for a bad database URL or other bad input to the store.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict is returned when a write would break a constraint (for example
	// deleting a subject that still has tickets).
	ErrConflict = errors.New("conflict")
	// ErrLockTimeout is returned when PostgreSQL canceled a statement that
	// waited longer than lock_timeout for a row or table lock another
	// transaction held; the transaction rolled back, nothing was changed,
	// and the command can be retried. It is not ErrBusy.
	ErrLockTimeout = errors.New("timed out waiting for a lock held by another transaction (PostgreSQL lock_timeout); nothing was changed; retry, or raise lock_timeout for oubli's role")
	// ErrState is returned for an operation the current state of what it
	// names does not allow: releasing a released hold, closing a closed
	// request (exit 3, refused).
	ErrState = errors.New("not allowed in the current state")
)

//go:embed migrations
var migrations embed.FS

func init() {
	// sqlx does not know modernc's driver name; SQLite takes '?' placeholders.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// SQLiteBusyTimeout is how long a statement on SQLite waits for a lock
// another connection holds (SQLite's busy_timeout) before failing with
// SQLITE_BUSY. Writers queue for the one write lock (every write
// transaction is BEGIN IMMEDIATE): a second `stats refresh`, a hold or an
// erasure waits for a full refresh of a large store, which holds the lock
// for minutes, as they would on PostgreSQL. The wait ends early when the
// call's context ends (SIGINT, SIGTERM), through modernc's busy handler.
// Ten seconds, the former value, made concurrent writers fail.
const SQLiteBusyTimeout = time.Hour

// DB is an open store.
type DB struct {
	x       *sqlx.DB
	dialect Dialect
	// Path is the SQLite file path ("" for PostgreSQL or in-memory).
	path string
	// headSink receives the audit trail's new head after every commit that
	// appended entries (the anchor file kept outside the store); noSink,
	// when set, is the error AppendAudit returns while no sink is set.
	headSink HeadSink
	noSink   error
}

// Dialect reports the backend.
func (db *DB) Dialect() Dialect { return db.dialect }

// Path returns the SQLite database file path, or "" for PostgreSQL.
func (db *DB) Path() string { return db.path }

// SQL returns the underlying *sqlx.DB, for packages that need raw access
// (benchmarks, bulk loaders, tests).
func (db *DB) SQL() *sqlx.DB { return db.x }

// Close closes the database.
func (db *DB) Close() error { return db.x.Close() }

// Options tune Open.
type Options struct {
	// NoMigrate skips the automatic migration of a new SQLite file.
	NoMigrate bool
	// MustExist refuses to create a SQLite file: a missing one is bad input
	// (ErrInvalid) naming the path, so that a typo in --db does not open an
	// empty store. Only the commands that load data (migrate, seed, ingest)
	// may create one.
	MustExist bool
}

// Open opens the store named by url: "sqlite:PATH" (or a bare path ending in
// .db), "postgres://…" or "postgresql://…" (see ParseURL; any other scheme
// is ErrInvalid). A new SQLite file is created and migrated.
func Open(ctx context.Context, rawURL string, opts ...Options) (db *DB, err error) {
	defer func() { err = RedactError(err, rawURL) }()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	dialect, path, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if dialect == Postgres {
		rawURL = socketHost(rawURL)
		if _, err := url.Parse(rawURL); err != nil {
			// url.Parse's error quotes the URL, or the part of its password
			// before a '#' as a port: none of its text is kept.
			return nil, fmt.Errorf("open postgres %s: the database URL does not parse (percent-encode the password's special characters: space %%20, \" %%22, # %%23, / %%2F, ? %%3F, @ %%40, %%%% %%25): %w", RedactURL(rawURL), ErrInvalid)
		}
	}
	if dialect == SQLite {
		return openSQLite(ctx, path, o)
	}
	x, err := sqlx.Open("postgres", withSessionDefaults(rawURL))
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", RedactURL(rawURL), err)
	}
	x.SetMaxOpenConns(16)
	x.SetMaxIdleConns(4)
	x.SetConnMaxIdleTime(5 * time.Minute)
	if err := x.PingContext(ctx); err != nil {
		x.Close()
		if badConnParam(err) {
			// A parameter of the URL the driver or the server refuses:
			// bad usage, not a failure to retry (adversarial pass F3).
			err = fmt.Errorf("%w: %w", err, ErrInvalid)
		}
		if errors.Is(err, pq.ErrSSLNotSupported) && !strings.Contains(rawURL, "sslmode=") {
			// lib/pq's default is sslmode=require where libpq's (psql's)
			// is prefer: a URL that works with psql fails here.
			err = fmt.Errorf("%w (the driver requires SSL unless the URL says otherwise: add sslmode=disable for a server without SSL, on a trusted network or a Unix socket): %w", err, ErrInvalid)
		}
		return nil, fmt.Errorf("connect to postgres %s: %w", RedactURL(rawURL), err)
	}
	return &DB{x: x, dialect: Postgres}, nil
}

// socketHost rewrites libpq's form of a Unix-socket directory in the host
// part, percent-encoded (postgresql://%2Fvar%2Frun%2Fpostgresql:5433/db),
// which Go's URL parser refuses, into the form lib/pq reads
// (postgresql:///db?host=/var/run/postgresql&port=5433). Any other URL is
// returned as it is.
func socketHost(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndex(authority, "@")
	host := authority[at+1:]
	if !strings.HasPrefix(strings.ToUpper(host), "%2F") {
		return raw
	}
	port := ""
	if c := strings.LastIndex(host, ":"); c >= 0 {
		host, port = host[:c], host[c+1:]
	}
	dir, err := url.PathUnescape(host)
	if err != nil {
		return raw
	}
	path, query := rest[end:], ""
	if q := strings.Index(path, "?"); q >= 0 {
		path, query = path[:q], path[q+1:]
	}
	if path == "" {
		path = "/"
	}
	extra := url.Values{"host": {dir}}
	if port != "" {
		extra.Set("port", port)
	}
	if query != "" {
		query += "&"
	}
	return raw[:i+3] + authority[:at+1] + path + "?" + query + extra.Encode()
}

// badConnParam reports whether a connection failed on a parameter of the
// URL: one lib/pq refuses (a wrong sslmode value) or the server does not
// know (42704 unrecognized configuration parameter, 22023 an invalid
// value).
func badConnParam(err error) bool {
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		return pqe.Code == "42704" || pqe.Code == "22023"
	}
	msg := err.Error()
	return strings.Contains(msg, "pq: wrong value for") || strings.Contains(msg, "pq: unsupported sslmode")
}

// SessionDefaults are the PostgreSQL run-time parameters oubli's
// connections set unless the database URL sets them itself (any value,
// e.g. "?jit=on"). JIT compilation is off: oubli's statements are short
// and read through indexes, but the planner's estimates for some of them
// pass jit_above_cost, and compiling them cost 20–300 ms per statement —
// most of a nightly run with nothing to do on a 1 M-ticket store
// (issue 11), and a third of a subject's erasure.
var SessionDefaults = map[string]string{"jit": "off"}

// withSessionDefaults adds SessionDefaults to a postgres:// URL's query,
// keeping any parameter the URL sets (lib/pq passes unknown query
// parameters to the server as run-time parameters).
func withSessionDefaults(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	for k, v := range SessionDefaults {
		if !q.Has(k) && !strings.Contains(q.Get("options"), k) {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func openSQLite(ctx context.Context, path string, o Options) (*DB, error) {
	isNew := false
	if path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if o.MustExist {
				return nil, fmt.Errorf("no store at %s (run `oubli migrate` to create one): %w", path, ErrInvalid)
			}
			isNew = true
			if dir := filepath.Dir(path); dir != "" {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return nil, fmt.Errorf("create directory for %s: %w", path, err)
				}
			}
			// The file holds every person's data and the HMAC secret: create
			// it 0600 before SQLite opens it (an empty file is an empty
			// database). SQLite gives its -wal and -shm files the mode of
			// the database file.
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("create %s: %w", path, err)
			}
			if err == nil {
				f.Close()
			}
		}
	}
	q := url.Values{}
	for _, p := range []string{
		"foreign_keys(1)",
		"journal_mode(WAL)",
		fmt.Sprintf("busy_timeout(%d)", SQLiteBusyTimeout.Milliseconds()),
		"synchronous(NORMAL)",
		// Overwrite freed content with zeros so erased data does not linger in
		// free pages (or, through them, in the WAL).
		"secure_delete(1)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + uriPath(path) + "?" + q.Encode()
	x, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := x.PingContext(ctx); err != nil {
		x.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db := &DB{x: x, dialect: SQLite, path: path}
	if path == ":memory:" {
		x.SetMaxOpenConns(1)
		db.path = ""
	}
	if (isNew || path == ":memory:") && !o.NoMigrate {
		if err := db.Migrate(ctx); err != nil {
			x.Close()
			return nil, err
		}
	}
	return db, nil
}

// uriPath escapes the characters that an SQLite URI filename reads as
// syntax ('%', '?', '#'), so that the path is taken literally: SQLite
// decodes %xx in the path of a file: URI.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// RedactURL hides the password of a database URL, for error messages and logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return scrubUserinfo(raw)
	}
	if u.User == nil {
		return redactSecrets(raw, raw)
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return redactSecrets(u.String(), raw)
}

// scrubUserinfo returns raw, a URL that does not parse, with everything
// between "://" and the last '@' (the user-info, wherever its password may
// end) replaced by xxxxx, and any password parameter hidden too. Without
// "://" or '@' only the password patterns apply.
func scrubUserinfo(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.LastIndex(s, "@"); j > i+3 {
			s = s[:i+3] + "xxxxx" + s[j:]
		}
	}
	return redactSecrets(s, raw)
}

// secretPatterns find a password in a database URL or DSN, however
// malformed: the user-info of a URL, a password query parameter, a
// key=value password.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`://[^/@\s]*?:([^@\s]+)@`),
	regexp.MustCompile(`(?i)[?&]password=([^&\s]+)`),
	regexp.MustCompile(`(?i)(?:^|\s)password\s*=\s*('[^']*'|[^\s]+)`),
}

// minRedactLen is the shortest password replaced wherever it occurs in a
// message; a shorter one is replaced only where a URL or DSN carries it.
const minRedactLen = 4

// redactSecrets replaces in s every password found in raw (as typed, and
// percent-decoded) with xxxxx.
func redactSecrets(s, raw string) string {
	for _, re := range secretPatterns {
		for _, m := range re.FindAllStringSubmatch(raw, -1) {
			pw := strings.Trim(m[1], "'")
			if pw == "" || pw == "xxxxx" {
				continue
			}
			if len(pw) < minRedactLen {
				// Too short to replace wherever it occurs (every "p" of
				// the message, adversarial pass F4): only where a URL or
				// DSN carries it.
				for _, f := range []string{":%s@", "password=%s", "password='%s'"} {
					s = strings.ReplaceAll(s, fmt.Sprintf(f, pw), fmt.Sprintf(f, "xxxxx"))
				}
				continue
			}
			s = strings.ReplaceAll(s, pw, "xxxxx")
			if dec, err := url.PathUnescape(pw); err == nil && dec != pw && dec != "" {
				s = strings.ReplaceAll(s, dec, "xxxxx")
			}
			if enc := url.QueryEscape(pw); enc != pw {
				s = strings.ReplaceAll(s, enc, "xxxxx")
			}
		}
	}
	return s
}

// redactedError is err with every password of the database URL removed
// from its text (drivers and url.Parse quote the URL they were given).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactError returns err with the passwords of raw removed from its text;
// errors.Is and errors.As still see err.
func RedactError(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := redactSecrets(err.Error(), raw)
	if i := strings.Index(raw, "://"); i >= 0 {
		if j := strings.LastIndex(raw, "@"); j > i+3 {
			// The whole user-info, as typed and as Go quotes it, when it
			// holds a password (a user name alone is no secret: masking it
			// masked "postgres" everywhere, scheme included, F4).
			ui := raw[i+3 : j]
			if !strings.Contains(ui, ":") {
				ui = ""
			}
			if ui != "" {
				msg = strings.ReplaceAll(msg, ui, "xxxxx")
			}
			if q := strconv.Quote(ui); q != `"`+ui+`"` {
				msg = strings.ReplaceAll(msg, q[1:len(q)-1], "xxxxx")
			}
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// Migrate creates or upgrades the schema to the latest version.
func (db *DB) Migrate(ctx context.Context) error {
	_, err := db.migrate(ctx)
	return err
}

// MigrateReport migrates and returns the versions it applied.
func (db *DB) MigrateReport(ctx context.Context) ([]int64, error) { return db.migrate(ctx) }

func (db *DB) migrate(ctx context.Context) ([]int64, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return nil, err
	}
	d := goose.DialectSQLite3
	if db.dialect == Postgres {
		d = goose.DialectPostgres
	}
	var popts []goose.ProviderOption
	if db.dialect == Postgres {
		if l, err := newPGLocker(); err == nil {
			popts = append(popts, goose.WithSessionLocker(l))
		}
	}
	p, err := goose.NewProvider(d, db.x.DB, sub, popts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, migrateErr(err)
	}
	var v []int64
	for _, r := range res {
		v = append(v, r.Source.Version)
	}
	return v, nil
}

// SchemaVersion returns the current migration version (0 when unmigrated).
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := db.x.GetContext(ctx, &v, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied = "+db.boolLit(true))
	switch {
	case err == nil:
		return v.Int64, nil
	case noVersionTable(err):
		return 0, nil
	}
	// A statement cancelled by a timeout, a lost connection: said as it
	// is, never as "no schema: run migrate" (adversarial pass F2).
	return 0, fmt.Errorf("read the schema version: %w", mapErr(err))
}

// noVersionTable reports whether err says the migrations' table does not
// exist (an empty database).
func noVersionTable(err error) bool {
	var pqe *pq.Error
	if errors.As(err, &pqe) {
		return pqe.Code == "42P01" // undefined_table
	}
	return strings.Contains(err.Error(), "no such table")
}

func (db *DB) boolLit(b bool) string {
	if db.dialect == Postgres {
		if b {
			return "TRUE"
		}
		return "FALSE"
	}
	if b {
		return "1"
	}
	return "0"
}

// Millis converts a time to the stored representation (Unix milliseconds).
func Millis(t time.Time) int64 { return t.UnixMilli() }

// NullMillis converts an optional time to a nullable stored value.
func NullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// FromMillis converts a stored value back to a UTC time.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// FromNullMillis converts a nullable stored value back to an optional UTC time.
func FromNullMillis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := FromMillis(v.Int64)
	return &t
}

// migrateErr wraps a migration failure; a server lacking an extension the
// schema needs (pg_trgm, from postgresql-contrib) is the operator's to fix:
// bad input (exit 2), with the package named.
func migrateErr(err error) error {
	if strings.Contains(err.Error(), "postgresql-contrib") {
		return fmt.Errorf("migrate: %v: %w", err, ErrInvalid)
	}
	return fmt.Errorf("migrate: %w", err)
}

// ErrSchema is returned when the database's schema is missing or older than
// this binary's: run `oubli migrate`.
var ErrSchema = errors.New("schema out of date")

// LatestVersion is the newest migration version embedded in the binary.
func (db *DB) LatestVersion() (int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// CheckSchema returns ErrSchema, with what to do, unless the database is
// migrated to this binary's latest version. A newer schema (a newer binary
// migrated it) is accepted.
func (db *DB) CheckSchema(ctx context.Context) error {
	latest, err := db.LatestVersion()
	if err != nil {
		return err
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case v == 0:
		return schemaError("the database has no oubli schema: run `oubli migrate` first")
	case v < latest:
		return schemaError(fmt.Sprintf("the database schema is at version %d, this binary needs %d: run `oubli migrate`", v, latest))
	}
	return nil
}

// schemaError is an ErrSchema whose message says the whole of it (a
// missing schema is not "out of date": adversarial pass 6, F4).
type schemaError string

func (e schemaError) Error() string { return string(e) }
func (e schemaError) Unwrap() error { return ErrSchema }
