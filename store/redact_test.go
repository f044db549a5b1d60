package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Malformed database URLs — what a typo in a deployment's configuration
// gives — must not print their password (found by the adversarial pass:
// url.Parse and lib/pq quote the URL they were given).
func TestOpenNeverPrintsThePassword(t *testing.T) {
	for _, raw := range []string{
		"postgres://oubli:S3cr3tPW@h:port/x",
		"postgres://oubli:S3cr3tPW@%zz/x",
		"postgres://oubli:S3cr%40PW@[::1/x",
		"postgres://h/x?password=S3cr3tPW&host=/nonexistent-oubli",
		"host=/x user=oubli password=S3cr3tPW dbname=x",
		"host=/x user=oubli password='S3cr3tPW' dbname=x",
		"postgresql://oubli:S3cr3tPW@127.0.0.1:1/x?connect_timeout=1",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		db, err := Open(ctx, raw)
		cancel()
		if err == nil {
			db.Close()
			t.Errorf("%q: opened", raw)
			continue
		}
		for _, secret := range []string{"S3cr3tPW", "S3cr@PW", "S3cr%40PW"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%q: the error prints the password: %v", raw, err)
			}
		}
	}
	if got := RedactURL("postgres://u:pw@h/x"); strings.Contains(got, "pw@") {
		t.Errorf("RedactURL: %s", got)
	}
}
