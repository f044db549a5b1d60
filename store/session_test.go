package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestPostgresSessionDefaults: oubli's PostgreSQL connections run with JIT
// compilation off (it cost 20–300 ms per statement on a 1 M-ticket store,
// most of a nightly run with nothing to do), unless the database URL sets
// the parameter itself.
func TestPostgresSessionDefaults(t *testing.T) {
	u := testdb.URL(t, "postgres")
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{u, "off"},
		{u + sep(u) + "jit=on", "on"},
	} {
		db, err := store.Open(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		// Every connection of the pool, not only the first.
		for range 3 {
			var jit string
			err := db.InTx(ctx, func(tx *store.Tx) error { return tx.Get(ctx, &jit, "SHOW jit") })
			if err != nil {
				t.Fatal(err)
			}
			if jit != c.want {
				t.Errorf("%s: jit = %s, want %s", store.RedactURL(c.url), jit, c.want)
			}
		}
		db.Close()
	}
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}
