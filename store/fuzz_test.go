package store_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// FuzzSubjectKey checks subject identifiers end to end against a real
// SQLite store: Validate accepts exactly one identifier; String never
// reveals it; FindSubject with a hostile identifier (quotes, SQL, NUL
// bytes, %, _ and other LIKE wildcards, invalid UTF-8) finds exactly the
// subject stored under it — by user id and, case-insensitively, by e-mail —
// or ErrNotFound, and never an SQL error.
func FuzzSubjectKey(f *testing.F) {
	db := testdb.Open(f, "sqlite")
	ctx := context.Background()
	for _, s := range [][2]string{
		{"u-42", "alice@example.org"},
		{"x' OR '1'='1", "x' OR '1'='1@example.org"},
		{"u-1; DROP TABLE subjects; --", "ALICE@EXAMPLE.ORG"},
		{"%", "_@_._"},
		{"", ""},
		{"a\x00b", "a\x00@b.c"},
		{"\xff", " bob@example.org "},
		{"$1", "?"},
	} {
		f.Add(s[0], s[1])
	}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, id, email string) {
		for _, k := range []store.SubjectKey{{UserID: id}, {Email: email}, {UserID: id, Email: email}} {
			err := k.Validate()
			want := (k.UserID == "") != (k.Email == "")
			if (err == nil) != want {
				t.Fatalf("Validate(%q, %q) = %v", k.UserID, k.Email, err)
			}
			if err != nil && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
			}
			s := k.String()
			if len(id) >= 3 && strings.Contains(s, id) && !strings.Contains("subject (by user id)(by e-mail)", id) {
				t.Fatalf("String() %q reveals the user id", s)
			}
			if len(email) >= 3 && strings.Contains(s, email) && !strings.Contains("subject (by user id)(by e-mail)", email) {
				t.Fatalf("String() %q reveals the e-mail", s)
			}
		}
		if id == "" || email == "" || strings.ContainsRune(id, 0) || strings.ContainsRune(email, 0) {
			return // PostgreSQL text cannot hold NUL; ingest refuses them before the store
		}
		// Unique per iteration, and still hostile.
		uid := id + "#" + string(rune('a'+n.Add(1)%26)) + strings.Repeat("'", int(n.Load()%3))
		mail := strings.ToLower(uid) + "\x01" + email
		mail = strings.ReplaceAll(mail, "\x00", "")
		if _, err := db.Exec(ctx, "INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES (?, ?, ?, 0, 0)", uid, mail, "p"); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return
			}
			t.Fatalf("insert %q: %v", uid, err)
		}
		got, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: uid})
		if err != nil || got.UserID != uid {
			t.Fatalf("FindSubject(user id %q) = %q, %v", uid, got.UserID, err)
		}
		got, err = store.FindSubject(ctx, db, store.SubjectKey{Email: mail})
		if err != nil && !errors.Is(err, store.ErrInvalid) || err == nil && got.UserID != uid {
			t.Fatalf("FindSubject(email %q) = %q, %v", mail, got.UserID, err)
		}
		if _, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: uid + "\x02"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FindSubject(unknown) = %v, want ErrNotFound", err)
		}
		if err != nil {
			if strings.Contains(err.Error(), uid) || strings.Contains(err.Error(), mail) {
				t.Fatalf("error %q reveals the identifier", err)
			}
		}
	})
}
