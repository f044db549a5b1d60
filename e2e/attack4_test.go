package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fourth adversarial pass: an export or a key written over the store's
// own files, a database password printed when its URL does not parse,
// SQLite writers failing instead of waiting for each other, a cut audit
// tail of holds taken for a restore, and an e-mail with surrounding spaces.

func init() { badInputs = append(badInputs, attack4BadInputs...) }

// attack4BadInputs are the catalogue's rows of the fourth adversarial pass.
var attack4BadInputs = []badInput{
	{input: "`export --out` the database file", args: []string{"export", "--user-id", "u-000", "--out", "DB", "--force"}, code: 2, msg: "is the database (--db)",
		prep: func(t *testing.T, w *world, args []string) ([]string, string) {
			args[4] = strings.TrimPrefix(w.db, "sqlite:")
			return args, ""
		}, note: "also its -wal, -shm, -journal and lock files, by any name (symbolic or hard link, `..`)"},
	{input: "`export --out` a symbolic link to the database", args: []string{"export", "--user-id", "u-000", "--out", "{dir}/link.zip", "--force"}, code: 2, msg: "is the database (--db)",
		prep: func(t *testing.T, w *world, args []string) ([]string, string) {
			os.Remove(filepath.Join(w.dir, "link.zip"))
			if err := os.Symlink(strings.TrimPrefix(w.db, "sqlite:"), filepath.Join(w.dir, "link.zip")); err != nil {
				return args, "symlink: " + err.Error()
			}
			return args, ""
		}},
	{input: "`export --out` the erasure ledger", args: []string{"export", "--user-id", "u-000", "--out", "{dir}/erasures.log", "--force"}, code: 2, msg: "is the erasure ledger (--ledger)"},
	{input: "`export --out` the audit anchor file", args: []string{"--audit-anchor", "{dir}/heads.log", "export", "--user-id", "u-000", "--out", "{dir}/heads.log", "--force"}, code: 2, msg: "is the audit anchor file (--audit-anchor)"},
	{input: "`export --out` the audit anchor file beside the database", args: []string{"export", "--user-id", "u-000", "--out", "ANCHOR", "--force"}, code: 2, msg: "is the audit anchor file (--audit-anchor)",
		prep: func(t *testing.T, w *world, args []string) ([]string, string) {
			args[4] = filepath.Join(filepath.Dir(strings.TrimPrefix(w.db, "sqlite:")), "oubli-audit-anchor.log")
			return args, ""
		}},
	{input: "e-mail with an inner space", args: []string{"ingest", "{file}"}, file: line(`"carol@example.org"`, `"car ol@example.org "`), code: 2, msg: "user.email: not a valid e-mail address",
		note: "surrounding white space is trimmed, inner white space refused"},
	{input: "`audit keygen --out` the erasure ledger", args: []string{"audit", "keygen", "--out", "{dir}/erasures.log"}, code: 2, msg: "is the erasure ledger (--ledger)"},
	{input: "`--db` a PostgreSQL URL that does not parse", args: []string{"--db", "postgres://u:Pw#Secret@127.0.0.1:1/db", "inventory"}, code: 2, msg: "the database URL does not parse",
		note: "no part of the password is printed: everything between `://` and the last `@` is hidden"},
}

// fileSum is the SHA-256 of a file's content, "absent" when it does not
// exist.
func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return string(s[:])
}

// An export (or a key) aimed at one of the store's files, by any name, is
// refused (exit 2) naming --out and what the file is, and the file is left
// as it was (found by the adversarial pass: `export --out oubli.db --force`
// turned the database into a ZIP).
func TestAttack4OutRefusesStoreFiles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		anchorPath := filepath.Join(w.dir, "heads.log")
		w = w.with("OUBLI_AUDIT_ANCHOR=" + anchorPath)
		w.must("migrate")
		w.ingestFixture(genFixture(11, 6))
		ledger := filepath.Join(w.dir, "erasures.log")
		w.must("erase", "--user-id", "u-005") // the ledger exists
		type target struct{ name, path string }
		targets := []target{
			{"ledger", ledger},
			{"anchor", anchorPath},
			{"ledger via ..", filepath.Join(w.dir, "blobs", "..", "erasures.log")},
			{"inside blobs", filepath.Join(w.dir, "blobs", "x.zip")},
		}
		link := func(name, to string, hard bool) string {
			p := filepath.Join(w.dir, name)
			var err error
			if hard {
				err = os.Link(to, p)
			} else {
				err = os.Symlink(to, p)
			}
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		targets = append(targets,
			target{"symlink to the ledger", link("ledger-link.zip", ledger, false)},
			target{"hard link to the anchor", link("anchor-hard.zip", anchorPath, true)},
			target{"symlink to the blobs directory", filepath.Join(link("blobs-link", filepath.Join(w.dir, "blobs"), false), "y.zip")},
		)
		if w.backend == "sqlite" {
			db := strings.TrimPrefix(w.db, "sqlite:")
			dbDir := filepath.Dir(db)
			targets = append(targets,
				target{"database", db},
				target{"database via ..", filepath.Join(dbDir, "..", filepath.Base(dbDir), "oubli.db")},
				target{"-wal", db + "-wal"},
				target{"-shm", db + "-shm"},
				target{"-journal", db + "-journal"},
				target{"retention lock", db + ".retention.lock"},
				target{"notify lock", db + ".notify.lock"},
				target{"symlink to the database", link("db-link.zip", db, false)},
			)
			if err := os.Link(db, filepath.Join(w.dir, "db-hard.zip")); err == nil {
				targets = append(targets, target{"hard link to the database", filepath.Join(w.dir, "db-hard.zip")})
			}
		}
		for _, tg := range targets {
			before := fileSum(t, tg.path)
			r := w.run(nil, "export", "--user-id", "u-001", "--out", tg.path, "--force")
			if r.code != 2 || !strings.Contains(r.stderr, "--out") || !strings.Contains(r.stderr, "write it elsewhere") {
				t.Errorf("%s: export --out %s: want exit 2 naming --out, got %s", tg.name, tg.path, r)
			}
			if after := fileSum(t, tg.path); after != before {
				t.Errorf("%s: %s was changed", tg.name, tg.path)
			}
			r = w.run(nil, "audit", "keygen", "--out", tg.path)
			if r.code != 2 || !strings.Contains(r.stderr, "--out") {
				t.Errorf("%s: audit keygen --out %s: want exit 2 naming --out, got %s", tg.name, tg.path, r)
			}
			if after := fileSum(t, tg.path); after != before {
				t.Errorf("%s: %s was changed by keygen", tg.name, tg.path)
			}
		}
		w.healthy()
		// A file of its own is still written, even beside the database.
		ok := filepath.Join(w.dir, "ok.zip")
		if w.backend == "sqlite" {
			ok = strings.TrimPrefix(w.db, "sqlite:") + ".export.zip"
		}
		w.must("export", "--user-id", "u-001", "--out", ok)
		if b, err := os.ReadFile(ok); err != nil || !bytes.HasPrefix(b, []byte("PK")) {
			t.Errorf("export to %s: not a ZIP (%v)", ok, err)
		}
	})
}

// A PostgreSQL URL that does not parse is bad usage (exit 2) and no part of
// its password is printed, on stderr or in the JSON error (found by the
// adversarial pass: a space or a '"' printed it whole, a '#' its start).
func TestAttack4UnparseableDBURLHidesPassword(t *testing.T) {
	w := newWorld(t, "sqlite")
	for _, c := range []struct{ url, secrets string }{
		{"postgres://u:Super Secret@127.0.0.1:1/db", "Super,Secret"},
		{`postgres://u:Pw"SecretX@127.0.0.1:1/db`, "Pw,SecretX"},
		{"postgres://u:Pw#SecretX@127.0.0.1:1/db", "Pw,SecretX"},
		{"postgres://u:Pw?SecretX@127.0.0.1:1/db", "Pw,SecretX"},
	} {
		for _, out := range []string{"text", "json"} {
			r := w.run(nil, "--db", c.url, "inventory", "--output", out)
			if r.code != 2 {
				t.Errorf("%q (%s): want exit 2, got %s", c.url, out, r)
			}
			for _, s := range strings.Split(c.secrets, ",") {
				if strings.Contains(r.stderr+r.stdout, s) {
					t.Errorf("%q (%s): %q printed: %s", c.url, out, s, r)
				}
			}
			if out == "json" {
				var e struct {
					Error    string `json:"error"`
					ExitCode int    `json:"exit_code"`
				}
				if err := json.Unmarshal([]byte(r.stdout+r.stderr), &e); err == nil && e.ExitCode != 2 {
					t.Errorf("%q: JSON exit_code %d, want 2", c.url, e.ExitCode)
				}
			}
		}
	}
}

// SQLite writers wait for the write lock however long another holds it
// (README: two refreshes at once wait for each other), and fail only when
// interrupted. Found by the adversarial pass: a second `stats refresh`
// failed with SQLITE_BUSY after the 10 s busy timeout while a full refresh
// of a 20 k store held the lock longer. Here the test holds the write lock
// for longer than that timeout while writers of each kind start; every one
// must succeed once it is released.
func TestAttack4SQLiteWritersWaitForTheLock(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(11, 6))
	w.must("stats", "refresh")
	db := w.open()
	defer db.Close()
	ctx := context.Background()
	tx, err := db.Begin(ctx) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	writers := [][]string{
		{"stats", "refresh"},
		{"stats", "refresh", "--full"},
		{"hold", "add", "--user-id", "u-002", "--reason", "r1"},
		{"hold", "add", "--user-id", "u-005", "--reason", "r2"}, // accounts never closed: the concurrent run cannot delete them
		{"erase", "--user-id", "u-004"},
		{"object", "--user-id", "u-001", "--purpose", "statistics"},
		{"check", "--residue"},
		{"retention", "run", "--allow-large"},
	}
	var ps []*proc
	for _, a := range writers {
		ps = append(ps, w.start(nil, a...))
	}
	time.Sleep(15 * time.Second) // longer than any busy timeout of 10 s
	for i, p := range ps {
		if p.finished() {
			t.Errorf("oubli %s finished while the write lock was held: %s", strings.Join(writers[i], " "), p.wait())
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if r := p.wait(); r.code != 0 {
			t.Errorf("oubli %s: %s", strings.Join(writers[i], " "), r)
		}
	}
	w.healthy()
}

// An e-mail address with surrounding white space is trimmed, as README
// promises, and stored in its normalised form; an inner space is still
// refused (found by the adversarial pass: a trailing space was "not a valid
// e-mail address").
func TestAttack4IngestTrimsEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		p := w.file("spaces.jsonl", []byte(line(`"carol@example.org"`, `"  Carol@Example.org \t"`)))
		w.must("ingest", p)
		db := w.open()
		defer db.Close()
		var email string
		if err := db.Get(context.Background(), &email, "SELECT email FROM subjects WHERE user_id = 'u-9001'"); err != nil {
			t.Fatal(err)
		}
		if email != "carol@example.org" {
			t.Errorf("stored e-mail %q, want carol@example.org", email)
		}
		r := w.must("subjects", "find", "--email", " carol@example.org ")
		if !strings.Contains(r.stdout, "u-9001") {
			t.Errorf("lookup by the trimmed address: %s", r)
		}
		p = w.file("inner.jsonl", []byte(line(`"carol@example.org"`, `"car ol@example.org"`)))
		if r := w.run(nil, "ingest", p); r.code != 2 || !strings.Contains(r.stderr, "user.email: not a valid e-mail address") {
			t.Errorf("inner space: want exit 2, got %s", r)
		}
	})
}
