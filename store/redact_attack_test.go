package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A database URL that does not parse — a password typed with a space, a
// quote, a '#', a '?' or a '/' not percent-encoded — is bad input (ErrInvalid,
// exit 2), and no part of its password appears in the error: url.Parse
// quotes the URL (escaping '"'), or reports the part before a '#' as an
// invalid port (found by the adversarial pass).
func TestOpenUnparseableURLNeverPrintsThePassword(t *testing.T) {
	for _, c := range []struct{ raw, secret string }{
		{"postgres://u:Super Secret@127.0.0.1:1/db", "Secret"},
		{"postgres://u:Super Secret@127.0.0.1:1/db", "Super"},
		{`postgres://u:Pw"SecretX@127.0.0.1:1/db`, "SecretX"},
		{`postgres://u:Pw"SecretX@127.0.0.1:1/db`, "Pw"},
		{"postgres://u:Pw#SecretX@127.0.0.1:1/db", "Pw"},
		{"postgres://u:Pw#SecretX@127.0.0.1:1/db", "SecretX"},
		{"postgres://u:Pw?SecretX@127.0.0.1:1/db", "Pw"},
		{"postgres://u:Pw/SecretX@127.0.0.1:1/db", "Pw"},
		{"postgresql://u:Pw%zzX@127.0.0.1:1/db", "Pw"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		db, err := Open(ctx, c.raw)
		cancel()
		if err == nil {
			db.Close()
			t.Errorf("%q: opened", c.raw)
			continue
		}
		if strings.Contains(err.Error(), c.secret) {
			t.Errorf("%q: error shows %q: %v", c.raw, c.secret, err)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: error is not ErrInvalid (bad usage, exit 2): %v", c.raw, err)
		}
	}
}

// RedactURL hides the password of a URL that does not parse, whatever it
// holds, and keeps the rest readable.
func TestRedactURLUnparseable(t *testing.T) {
	for _, raw := range []string{
		"postgres://u:Super Secret@127.0.0.1:1/db",
		`postgres://u:Pw"SecretX@127.0.0.1:1/db`,
		"postgres://u:Pw#SecretX@127.0.0.1:1/db",
	} {
		got := RedactURL(raw)
		if strings.Contains(got, "Secret") || strings.Contains(got, "Pw") {
			t.Errorf("RedactURL(%q) = %q", raw, got)
		}
	}
}
