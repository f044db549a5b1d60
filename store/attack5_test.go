package store_test

import (
	"context"
	"errors"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// Session-5 adversarial pass, F2: a failure to read the schema version (a
// statement timeout, a lost connection) is said as it is, never as "no
// oubli schema: run `oubli migrate`" — advice to run a migration against a
// production store because a query timed out.
func TestSchemaVersionErrorIsNotNoSchema(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("migrated store: %v", err)
		}
		db.Close()
		err := db.CheckSchema(ctx)
		if err == nil || errors.Is(err, store.ErrSchema) || strings.Contains(err.Error(), "migrate") {
			t.Errorf("closed store: CheckSchema = %v; want the failure itself, not a missing schema", err)
		}
	})
}

// F3: a URL parameter the driver or the server refuses is bad usage (exit
// 2, store.ErrInvalid), not an unexpected failure.
func TestBadURLParameterIsInvalid(t *testing.T) {
	u := testdb.URL(t, "postgres")
	for _, p := range []string{"sslmode=bogus", "no_such_parameter=1"} {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		url := u + sep + p
		if strings.HasPrefix(p, "sslmode=") && strings.Contains(u, "sslmode=") {
			url = u[:strings.Index(u, "sslmode=")] + p + u[strings.Index(u, "sslmode=")+len("sslmode=disable"):]
		}
		_, err := store.Open(context.Background(), url)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", p, err)
		}
	}
}

// F4: redaction hides the password structurally; a short password is not
// replaced wherever its letters occur, and a user name alone is no secret.
func TestRedactShortPasswordKeepsMessageReadable(t *testing.T) {
	for _, c := range []struct{ raw, msg, secret, keep string }{
		{"postgres://postgres:p@ss:w/rd%secret@[::1]:56000/a1", "open postgres postgres://postgres:p@ss:w/rd%secret@[::1]:56000/a1: the database URL does not parse", "p@ss", "does not parse"},
		{"postgres://postgres@127.0.0.1:5432/a1?sslmode=require", "connect to postgres postgres://postgres@127.0.0.1:5432/a1?sslmode=require: pq: SSL is not enabled on the server", "", "connect to postgres postgres://postgres@"},
		{"postgres://bob:pw@127.0.0.1/db", "connect to postgres://bob:pw@127.0.0.1/db: password authentication failed", ":pw@", "password authentication failed"},
	} {
		got := store.RedactError(errors.New(c.msg), c.raw).Error()
		if c.secret != "" && strings.Contains(got, c.secret) {
			t.Errorf("%q: the password shows: %s", c.raw, got)
		}
		if !strings.Contains(got, c.keep) {
			t.Errorf("%q: message garbled: %s (want %q kept)", c.raw, got, c.keep)
		}
	}
}

// F9: libpq's form of a Unix-socket directory in the host part,
// percent-encoded (postgresql://%2Fvar%2Frun%2Fpostgresql:5432/db), opens
// the store as the query-parameter form does.
func TestSocketDirectoryInHost(t *testing.T) {
	u := testdb.URL(t, "postgres")
	pu, err := neturl.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	sock := pu.Query().Get("host")
	if !strings.HasPrefix(sock, "/") {
		t.Skipf("the test cluster is not on a Unix socket: %s", store.RedactURL(u))
	}
	enc := neturl.QueryEscape(sock)
	for _, raw := range []string{
		"postgresql://postgres@" + enc + pu.Path + "?sslmode=disable",
		"postgres://postgres@" + enc + ":5432" + pu.Path + "?sslmode=disable",
		"postgres://postgres@" + strings.ToLower(enc) + ":5432" + pu.Path + "?sslmode=disable&application_name=x",
	} {
		db, err := store.Open(context.Background(), raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var n int
		err = db.Get(context.Background(), &n, "SELECT 1")
		db.Close()
		if err != nil || n != 1 {
			t.Fatalf("%s: SELECT 1 = %d, %v", raw, n, err)
		}
	}
	// The wrong socket directory is a connection error naming no secret,
	// not a parse error.
	_, err = store.Open(context.Background(), "postgres://postgres:s3cret@%2Fno%2Fsuch%2Fdir/db?sslmode=disable")
	if err == nil || strings.Contains(err.Error(), "does not parse") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a socket directory that does not exist: %v", err)
	}
}
