package store

import (
	"fmt"
	"strings"
)

// acceptedURLs names the database URL forms Open accepts, for errors.
const acceptedURLs = "sqlite:PATH, postgres://… or postgresql://… (a bare path ending in .db, without a scheme, is a SQLite file)"

// ParseURL says which backend a database URL names and, for SQLite, the
// file's path (literal: '?', '#' and '%' are part of the name). The forms
// are "sqlite:PATH" (an optional "//" after the colon is dropped),
// "postgres://…", "postgresql://…", and a bare path ending in .db. Anything
// that starts with another URL scheme ("sqllite:", SQLite's own "file:",
// "mysql://") is ErrInvalid naming the accepted forms: it is never taken
// for a file name, so a typo cannot create a file named after the URL. A
// path that looks like a scheme ("c:x.db") is written "sqlite:c:x.db" or
// "./c:x.db". A URL beginning or ending with white space is ErrInvalid too
// (it would otherwise become part of the file name).
func ParseURL(raw string) (Dialect, string, error) {
	if strings.TrimSpace(raw) != raw {
		return "", "", fmt.Errorf("open %q: the database URL (--db or OUBLI_DB) begins or ends with white space, which would become part of the file name or host: remove it: %w", RedactURL(raw), ErrInvalid)
	}
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return Postgres, "", nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("open %q: empty SQLite path: %w", raw, ErrInvalid)
		}
		return SQLite, path, nil
	}
	if scheme, ok := urlScheme(raw); ok {
		return "", "", fmt.Errorf("open %s: unknown database URL scheme %q: want %s: %w", RedactURL(raw), scheme+":", acceptedURLs, ErrInvalid)
	}
	if strings.HasSuffix(raw, ".db") {
		return SQLite, raw, nil
	}
	return "", "", fmt.Errorf("open %q: unsupported database URL: want %s: %w", RedactURL(raw), acceptedURLs, ErrInvalid)
}

// urlScheme returns the scheme raw starts with (RFC 3986: a letter, then
// letters, digits, '+', '-' or '.', then ':'), if any.
func urlScheme(raw string) (string, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return raw[:i], true
		default:
			return "", false
		}
	}
	return "", false
}
