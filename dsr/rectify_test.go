package dsr

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

func TestParseSet(t *testing.T) {
	tests := []struct {
		args    []string
		want    string // field=value,… or the error's fragment
		wantErr bool
	}{
		{[]string{"email=new@example.org"}, "email=new@example.org", false},
		{[]string{"pseudo= Néo ", "email=a.b+c@d.example"}, "pseudo=Néo,email=a.b+c@d.example", false},
		{nil, "at least one", true},
		{[]string{"email"}, "want FIELD=VALUE", true},
		{[]string{"=x"}, "want FIELD=VALUE", true},
		{[]string{"phone=1"}, `unknown field "phone"`, true},
		{[]string{"email=not-an-address"}, "--set email", true},
		{[]string{"email=Bob <bob@example.org>"}, "plain e-mail", true},
		{[]string{"email=bob@localhost"}, "no dot", true},
		{[]string{"pseudo="}, "empty pseudo", true},
		{[]string{"pseudo=a\x00b"}, "control", true},
		{[]string{"pseudo=" + strings.Repeat("x", 65)}, "longer than 64", true},
		{[]string{"email=a@b.fr", "email=c@d.fr"}, "twice", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := ParseSet(tt.args)
			if tt.wantErr {
				if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.want)
				}
				if strings.Contains(err.Error(), "not-an-address") {
					t.Errorf("error echoes the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, c := range got {
				parts = append(parts, c.Field+"="+c.Value)
			}
			if s := strings.Join(parts, ","); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestRectify(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		r := &Rectifier{DB: db, Policy: w.eng, Register: &Register{DB: db, Policies: w.eng, Hasher: w.h}, Hasher: w.h, Now: func() timeNow { return erNow }, Actor: "test"}
		changes, err := ParseSet([]string{"email=alice.new@example.net", "pseudo=alice2026"})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Rectify(ctx, store.SubjectKey{Email: "ALICE@example.org"}, changes, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Recipients) == 0 {
			t.Error("no recipients listed to inform (Art. 19)")
		}
		got := erRows(t, db, "SELECT email, pseudo FROM subjects WHERE user_id = 'u-alice'")
		if len(got) != 1 || got[0] != "alice.new@example.net|alice2026|" {
			t.Errorf("subject after rectify = %v", got)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subjects WHERE LOWER(email) = 'alice@example.org' OR pseudo = 'alicewonder'"); n != 0 {
			t.Errorf("old values still held")
		}
		// The audit names the fields and hashes of the new values only.
		audit := strings.Join(erRows(t, db, "SELECT detail FROM audit_log WHERE action = 'dsr.rectify'"), "\n")
		for _, bad := range []string{"alice", "example"} {
			if strings.Contains(strings.ToLower(audit), bad) {
				t.Errorf("audit detail holds %q: %s", bad, audit)
			}
		}
		if !strings.Contains(audit, w.h.Hash("email", "alice.new@example.net")) || !strings.Contains(audit, `"pseudo"`) {
			t.Errorf("audit detail lacks the field names / new value hashes: %s", audit)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'rectification' AND status = 'done'"); n != 1 {
			t.Errorf("done rectification requests = %d, want 1", n)
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Error(err)
		}
	})
}

// Issue 16 item 5: rectifying to an address another subject holds (a case
// variant too, or the same address in another Unicode form) is refused
// (exit 3), naming no other subject's data; the request is recorded refused.
func TestRectifyToAnotherSubjectsEmailRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		if err := store.UpsertSubject(ctx, db, store.Subject{UserID: "u-elise", Email: store.NormalizeEmail("Élise@example.org"), Pseudo: "el"}, erNow); err != nil {
			t.Fatal(err)
		}
		r := &Rectifier{DB: db, Policy: w.eng, Register: &Register{DB: db, Policies: w.eng, Hasher: w.h}, Hasher: w.h, Now: func() timeNow { return erNow }, Actor: "test"}
		for _, addr := range []string{"ÉLISE@example.org", "E\u0301lise@EXAMPLE.org"} {
			changes, err := ParseSet([]string{"email=" + addr})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Rectify(ctx, store.SubjectKey{UserID: "u-alice"}, changes, "")
			if !errors.Is(err, policies.ErrRefused) {
				t.Fatalf("%s: want refused, got %v", addr, err)
			}
			if strings.Contains(strings.ToLower(err.Error()), "elise") || strings.Contains(strings.ToLower(err.Error()), "élise") || strings.Contains(err.Error(), "u-elise") {
				t.Errorf("the refusal names the other subject's data: %v", err)
			}
		}
		if got := erRows(t, db, "SELECT email FROM subjects WHERE user_id = 'u-alice'"); len(got) != 1 || strings.Contains(got[0], "lise") {
			t.Errorf("alice's address changed: %v", got)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'rectification' AND status = 'refused'"); n != 2 {
			t.Errorf("refused rectification requests = %d, want 2", n)
		}
		// Her own address in another case is not a collision.
		changes, _ := ParseSet([]string{"email=Alice.New@Example.net"})
		if _, err := r.Rectify(ctx, store.SubjectKey{UserID: "u-alice"}, changes, ""); err != nil {
			t.Fatal(err)
		}
		if got := erRows(t, db, "SELECT email FROM subjects WHERE user_id = 'u-alice'"); len(got) != 1 || got[0] != "alice.new@example.net|" {
			t.Errorf("stored address %v, want the normalised form", got)
		}
	})
}

// Adversarial pass 6, F1: an anonymised subject holds no contact data any
// more; rectifying it would put a real address back past its retention
// period, and no later run would anonymise it again. Refused (exit 3), the
// row unchanged, the request recorded refused.
func TestRectifyAnonymisedSubjectRefused(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		w.exec(t, "UPDATE subjects SET email = 'anonymised-1@invalid', pseudo = 'anonymised', anonymized_at = 1 WHERE user_id = 'u-alice'")
		r := &Rectifier{DB: db, Policy: w.eng, Register: &Register{DB: db, Policies: w.eng, Hasher: w.h}, Hasher: w.h, Now: func() timeNow { return erNow }, Actor: "test"}
		changes, err := ParseSet([]string{"email=real.alice@example.org", "pseudo=RealAlice"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Rectify(ctx, store.SubjectKey{UserID: "u-alice"}, changes, "")
		if !errors.Is(err, policies.ErrRefused) || !strings.Contains(err.Error(), "anonymised") {
			t.Fatalf("want refused (anonymised), got %v", err)
		}
		if got := erRows(t, db, "SELECT email, pseudo FROM subjects WHERE user_id = 'u-alice'"); len(got) != 1 || got[0] != "anonymised-1@invalid|anonymised|" {
			t.Errorf("anonymised subject's row changed: %v", got)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'rectification' AND status = 'refused'"); n != 1 {
			t.Errorf("refused rectification requests = %d, want 1", n)
		}
		// Bob, not anonymised, is rectified as before.
		if _, err := r.Rectify(ctx, store.SubjectKey{UserID: "u-bob"}, changes, ""); err != nil {
			t.Fatal(err)
		}
	})
}
