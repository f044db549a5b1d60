package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const eraseFixture = `{"kind":"ticket","ticket_id":"T-1","request_number":"REQ-1","user":{"user_id":"u-42","email":"alice@example.org","pseudo":"alicewonder","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},"subject":"Paiement non reçu","description":"alicewonder n'a pas été payée","transaction_ref":"TX-778","status":"closed","created_at":"2025-03-01T10:00:00Z","closed_at":"2025-03-05T16:20:00Z","messages":[{"message_id":"M-1","author":"user","body":"Bonjour, ici alicewonder","sent_at":"2025-03-01T10:00:00Z"},{"message_id":"M-2","author":"agent","agent_id":"ag-7","body":"Nous regardons","sent_at":"2025-03-01T14:00:00Z"},{"message_id":"M-3","author":"user","body":"Merci","sent_at":"2025-03-01T15:00:00Z"}],"attachments":[{"attachment_id":"A-1","message_id":"M-1","filename":"justificatif-alice.pdf","content_type":"application/pdf","content_base64":"YWxpY2VAZXhhbXBsZS5vcmcgcmVjZWlwdA==","uploaded_at":"2025-03-01T10:00:00Z"}]}
{"kind":"ticket","ticket_id":"T-2","request_number":"REQ-2","user":{"user_id":"u-7","email":"bob@example.org","pseudo":"bob","account_created_at":"2017-05-02T09:00:00Z","account_closed_at":null},"subject":"Colis","description":"…","status":"closed","created_at":"2025-03-01T11:00:00Z","closed_at":"2025-03-05T16:20:00Z","messages":[{"message_id":"M-4","author":"user","body":"Où est mon colis ?","sent_at":"2025-03-01T11:00:00Z"},{"message_id":"M-5","author":"agent","agent_id":"ag-7","body":"En route","sent_at":"2025-03-01T12:00:00Z"}]}
{"kind":"account_event","event_id":"E-9","user_id":"u-42","type":"password_reset","at":"2025-01-01T08:00:00Z","detail":"reset by alicewonder"}
`

type cliWorld struct {
	t   *testing.T
	dir string
	db  string
}

func (w *cliWorld) run(args ...string) (int, string, string) {
	w.t.Helper()
	var out, errb bytes.Buffer
	env := &Env{In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(k string) string {
			switch k {
			case "OUBLI_DB":
				return w.db
			case "OUBLI_BLOBS":
				return filepath.Join(w.dir, "blobs")
			case "OUBLI_LEDGER":
				return filepath.Join(w.dir, "erasures.log")
			}
			return ""
		},
		Now: func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }}
	code := env.Run(args)
	return code, out.String(), errb.String()
}

func TestEraseCLI(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend)}
			fixture := filepath.Join(w.dir, "in.jsonl")
			if err := os.WriteFile(fixture, []byte(eraseFixture), 0o600); err != nil {
				t.Fatal(err)
			}
			mustCode := func(want int, args ...string) string {
				t.Helper()
				code, out, errs := w.run(args...)
				if code != want {
					t.Fatalf("oubli %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
				}
				return out
			}
			mustCode(0, "migrate")
			mustCode(0, "ingest", fixture)
			mustCode(0, "stats", "refresh")

			// Bad input, refusals, unknown subjects.
			for _, c := range []struct {
				code int
				args []string
			}{
				{2, []string{"rectify", "--user-id", "u-42", "--set", "phone=1"}},
				{2, []string{"rectify", "--user-id", "u-42", "--set", "email=nope"}},
				{2, []string{"rectify", "--user-id", "u-42"}},
				{2, []string{"erase"}},
				{2, []string{"erase", "--user-id", "u-42", "--email", "alice@example.org"}},
				{5, []string{"erase", "--user-id", "u-404"}},
				{3, []string{"object", "--user-id", "u-42", "--purpose", "customer_support"}},
				{2, []string{"object", "--user-id", "u-42", "--purpose", "marketing"}},
			} {
				mustCode(c.code, c.args...)
			}
			mustCode(0, "object", "--user-id", "u-7", "--purpose", "statistics")

			// A dry run in JSON: one document, and nothing changes.
			before := mustCode(0, "--output", "json", "inventory")
			out := mustCode(0, "--output", "json", "erase", "--email", "ALICE@example.org", "--dry-run")
			var dry map[string]any
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&dry); err != nil {
				t.Fatalf("dry run output is not JSON: %v\n%s", err, out)
			}
			if _, err := dec.Token(); err != io.EOF {
				t.Fatalf("more than one JSON document on stdout:\n%s", out)
			}
			if dry["dry_run"] != true {
				t.Errorf("dry_run = %v", dry["dry_run"])
			}
			if after := mustCode(0, "--output", "json", "inventory"); after != before {
				t.Fatalf("dry run changed the inventory:\n%s\n%s", before, after)
			}
			var backup string
			if backend == "sqlite" {
				backup = filepath.Join(w.dir, "backup.db")
				copyFile(t, strings.TrimPrefix(w.db, "sqlite:"), backup)
			}

			mustCode(0, "erase", "--user-id", "u-42")
			mustCode(5, "erase", "--user-id", "u-42")
			mustCode(0, "audit", "verify")
			// Ingest refuses the erased subject unless told otherwise.
			mustCode(2, "ingest", fixture)
			if backend == "sqlite" {
				// Restore the backup taken before the erasure, then reapply.
				db := strings.TrimPrefix(w.db, "sqlite:")
				for _, s := range []string{"-wal", "-shm"} {
					os.Remove(db + s)
				}
				copyFile(t, backup, db)
				out := mustCode(0, "--output", "json", "erase", "--reapply")
				var rr struct {
					Erased []any `json:"erased"`
				}
				if err := json.Unmarshal([]byte(out), &rr); err != nil || len(rr.Erased) != 1 {
					t.Fatalf("reapply: %v %s", err, out)
				}
				// The restored store's trail is not the one its anchor
				// recorded: the restore is accepted, as the procedure says.
				mustCode(0, "audit", "verify", "--accept-restore", "--reason", "the backup taken before the erasure was restored")
				for _, s := range []string{"", "-wal", "-shm"} {
					b, _ := os.ReadFile(db + s)
					for _, needle := range []string{"alice@example.org", "alicewonder"} {
						if bytes.Contains(b, []byte(needle)) {
							t.Errorf("after reapply, %s%s holds %q", filepath.Base(db), s, needle)
						}
					}
				}
			}
			mustCode(0, "ingest", "--allow-erased", fixture)
			mustCode(0, "rectify", "--user-id", "u-42", "--set", "email=alice@new.example", "--set", "pseudo=alice2")
			mustCode(0, "audit", "verify")
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
