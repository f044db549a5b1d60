package store

import (
	"errors"
	"strings"
	"testing"
)

// White space around a database URL is refused, never kept in a file name
// (` sqlite:h.db` would otherwise create a file named so, `sqlite:j.db `
// a file `j.db `).
func TestParseURLRefusesSurroundingWhiteSpace(t *testing.T) {
	for _, raw := range []string{" sqlite:h.db", "sqlite:j.db ", "\tsqlite:k.db", "k.db\n", " postgres://h/db", "postgres://h/db\u00a0"} {
		_, _, err := ParseURL(raw)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--db") || !strings.Contains(err.Error(), "OUBLI_DB") {
			t.Errorf("ParseURL(%q) = %v, want ErrInvalid naming --db and OUBLI_DB", raw, err)
		}
	}
	if d, p, err := ParseURL("sqlite:a b.db"); err != nil || d != SQLite || p != "a b.db" {
		t.Errorf("inner space: %v %q %v", d, p, err)
	}
}
