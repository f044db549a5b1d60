package dsr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oubli/oubli/ingest"
)

// FuzzParseSet checks the --set parser: it never panics; what it accepts is
// a known field given once with a valid, trimmed value that ingest would
// accept too (a rectified e-mail must survive a re-ingest of the subject);
// and an error never echoes the value, which is personal data.
func FuzzParseSet(f *testing.F) {
	for _, s := range [][2]string{
		{"email=alice@example.org", "pseudo=alice"},
		{"email=", "pseudo= "},
		{"email=a@b", ""},
		{"pseudo=x=y", "email=Alice <alice@example.org>"},
		{"nom=Durand", "email=x@y.z"},
		{"=value", "pseudo"},
		{"email=x' OR '1'='1@example.org", "pseudo=<script>alert(1)</script>"},
		{"pseudo=\x00", "email=\"a b\"@example.org"},
		{"email=user@[127.0.0.1]", "pseudo=" + strings.Repeat("é", 65)},
		{"email=a@b.c", "email=a@b.c"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		args := []string{a}
		if b != "" {
			args = append(args, b)
		}
		changes, err := ParseSet(args)
		if err != nil {
			msg := err.Error()
			for _, arg := range args {
				field, v, ok := strings.Cut(arg, "=")
				v = strings.TrimSpace(v)
				if !ok || len(v) < 6 || strings.Contains(field+"=", v) || strings.Contains(fmt.Sprintf("%q", field), v) {
					continue
				}
				if strings.Contains(msg, v) && !strings.Contains("want FIELD=VALUE (fields: email, pseudo) unknown field given twice empty e-mail address longer than 254 bytes not a plain e-mail address (want local@domain) e-mail domain has no dot empty pseudo pseudo is not valid UTF-8 pseudo longer than 64 characters pseudo holds control characters invalid input", v) {
					t.Fatalf("error %q echoes the value %q", msg, v)
				}
			}
			return
		}
		if len(changes) != len(args) {
			t.Fatalf("%d args, %d changes", len(args), len(changes))
		}
		seen := map[string]bool{}
		for _, c := range changes {
			if seen[c.Field] {
				t.Fatalf("field %s twice", c.Field)
			}
			seen[c.Field] = true
			if c.Value != strings.TrimSpace(c.Value) || c.Value == "" {
				t.Fatalf("%s value %q not trimmed or empty", c.Field, c.Value)
			}
			switch c.Field {
			case "email":
				if err := ingest.ValidEmail(c.Value); err != nil {
					t.Fatalf("rectify accepts e-mail %q that ingest rejects: %v", c.Value, err)
				}
			case "pseudo":
				if len(c.Value) > ingest.MaxShortBytes || strings.ContainsRune(c.Value, 0) {
					t.Fatalf("rectify accepts pseudo %q that ingest rejects", c.Value)
				}
			default:
				t.Fatalf("unknown field %q accepted", c.Field)
			}
		}
	})
}
