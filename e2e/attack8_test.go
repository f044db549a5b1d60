package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
)

// The eighth adversarial pass: invisible characters in e-mail addresses.

func init() { badInputs = append(badInputs, attack8BadInputs...) }

// attack8BadInputs are the catalogue's rows of the eighth adversarial pass.
var attack8BadInputs = []badInput{
	{input: "e-mail with an invisible character (zero-width space, joiner, soft hyphen, BOM, bidi control)", args: []string{"ingest", "{file}"},
		file: line(`"carol@example.org"`, `"\u200bcarol@example.org"`), code: 2,
		msg:  "user.email: e-mail address holds an invisible character, U+200B, at byte 0",
		note: "it would look like another address: a second subject, or an erased one back"},
	{input: "a malformed --email (erase)", args: []string{"erase", "--email", "not-an-email", "--dry-run"}, code: 2, msg: "--email: not a valid e-mail address",
		note: "bad input, never \"unknown subject\" (exit 5): likewise export, object, rectify, requests open/list, subjects find"},
	{input: "a malformed --email (export)", args: []string{"export", "--email", "alice.example.org", "--out", "{dir}/x.zip"}, code: 2, msg: "--email: not a valid e-mail address"},
	{input: "a malformed --email (subjects find)", args: []string{"subjects", "find", "--email", "a b@example.org"}, code: 2, msg: "--email: not a valid e-mail address"},
	{input: "a malformed --email (requests open)", args: []string{"requests", "open", "--type", "erasure", "--email", "a@@example.org"}, code: 2, msg: "--email: not a valid e-mail address"},
	{input: "a time flag out of range", args: []string{"retention", "plan", "--at", "9999-12-31T23:59:59Z"}, code: 2, msg: "out of the range oubli handles (years 1970 to 2999)"},
	{input: "erase --from: a user id with an invisible character", args: []string{"erase", "--from", "{file}"}, file: "u-000\nu-001\u200b\n", code: 2,
		msg: "2: user id holds an invisible character"},
	{input: "rectify to an e-mail with an invisible character", args: []string{"rectify", "--user-id", "u-000", "--set", "email=zq-new\u00ad@example.org"}, code: 2,
		msg: "e-mail address holds an invisible character, U+00AD"},
}

// TestInvisibleCharactersInAddresses (adversarial pass 8 F3): an address
// that differs from a subject's only by invisible characters is refused at
// ingest (it was a second subject, and brought an erased address back
// under a new user id), and a look-up typed or pasted with them finds the
// subject the address shows.
func TestInvisibleCharactersInAddresses(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			w.must("migrate")
			w.ingestFixture(genFixture(8, 20))
			addr := "zq005.secret-mail@example.org"
			before := w.counts()
			variant := func(id, email string) string {
				return line(`"u-9001"`, `"`+id+`"`, `"carol@example.org"`, `"`+email+`"`, `"T-9001"`, `"T-8`+id+`"`,
					`"M-9001"`, `"M-8`+id+`"`, `"M-9001"`, `"M-8`+id+`"`, `"A-9001"`, `"A-8`+id+`"`)
			}
			for _, v := range []string{`\u200b` + addr, strings.Replace(addr, "@", `\u200c@`, 1), strings.Replace(addr, "secret", `sec\u00adret`, 1), `\ufeff` + addr} {
				r := w.run(nil, "ingest", w.file("v.jsonl", []byte(variant("u-twin", v))))
				if r.code != 2 || !strings.Contains(r.stderr, "invisible character") {
					t.Fatalf("ingest of %q under another user id: want exit 2 naming the invisible character, got %s", v, r)
				}
			}
			if got := w.counts(); !maps.Equal(got, before) {
				t.Fatalf("refused ingests wrote: %v -> %v", before, got)
			}
			// A pasted address with a zero-width space finds the subject it shows.
			if r := w.must("subjects", "find", "--email", "\u200b"+addr); !strings.Contains(r.stdout, "u-005") {
				t.Fatalf("subjects find with a pasted zero-width space: %s", r)
			}
			w.must("erase", "--email", strings.Replace(addr, "@", "\u2060@", 1))
			if r := w.run(nil, "subjects", "find", "--email", addr); r.code != 5 {
				t.Fatalf("u-005 still found after the erasure by a variant of the address: %s", r)
			}
			// Their requests are still found by the address (adversarial
			// pass 8 F22), through the ledger's keyed hash.
			if r := w.must("requests", "list", "--email", addr); !strings.Contains(r.stdout, "erasure") || !strings.Contains(r.stdout, "(erased)") {
				t.Fatalf("requests list --email of an erased subject: %s", r)
			}
			// The erased address cannot come back, in any of its forms.
			r := w.run(nil, "ingest", w.file("back.jsonl", []byte(variant("u-back", `\u200c`+addr))))
			if r.code != 2 {
				t.Fatalf("the erased address with a zero-width non-joiner under a new user id: %s", r)
			}
			if r := w.run(nil, "ingest", w.file("back2.jsonl", []byte(variant("u-back", strings.ToUpper(addr))))); r.code != 2 || !strings.Contains(r.stderr, "erased") {
				t.Fatalf("the erased address in capitals under a new user id: %s", r)
			}
			w.healthy()
		})
	}
}

// TestManualNotificationsInTheRegister (adversarial pass 8 F1): with no
// webhook configured every recipient is told by hand; until each is
// acknowledged, `requests list` says so, and `requests list --overdue`
// lists the request once its due date has passed, whatever its status.
func TestManualNotificationsInTheRegister(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(9, 10))
	w.must("rectify", "--user-id", "u-003", "--set", "pseudo=Renamed003")
	var list struct {
		Requests []struct {
			RequestID string `json:"request_id"`
			Status    string `json:"status"`
			DueAt     string `json:"due_at"`
			Manual    int64  `json:"notifications_to_tell_by_hand"`
		} `json:"requests"`
	}
	mustJSON(t, w.must("--output", "json", "requests", "list").stdout, &list)
	if len(list.Requests) != 1 || list.Requests[0].Status != "done" || list.Requests[0].Manual != 2 {
		t.Fatalf("register after a rectification with every recipient manual: %+v; want one done request with 2 recipients to tell by hand", list.Requests)
	}
	req := list.Requests[0]
	if r := w.must("requests", "list"); !strings.Contains(r.stdout, "TELL BY HAND: 2") {
		t.Fatalf("requests list does not flag the recipients to tell by hand: %s", r)
	}
	due, err := time.Parse(time.RFC3339, req.DueAt)
	if err != nil {
		t.Fatal(err)
	}
	before, after := due.Add(-time.Hour).Format(time.RFC3339), due.Add(time.Hour).Format(time.RFC3339)
	if r := w.must("requests", "list", "--overdue", "--at", before); strings.Contains(r.stdout, req.RequestID) {
		t.Fatalf("listed as overdue before its due date: %s", r)
	}
	if r := w.must("requests", "list", "--overdue", "--at", after); !strings.Contains(r.stdout, req.RequestID) || !strings.Contains(r.stdout, "TELL BY HAND: 2") {
		t.Fatalf("not listed as overdue past its due date with recipients untold: %s", r)
	}
	var ns struct {
		Notifications []struct {
			ID string `json:"id"`
		} `json:"notifications"`
	}
	mustJSON(t, w.must("--output", "json", "notify", "list", "--status", "manual").stdout, &ns)
	if len(ns.Notifications) != 2 {
		t.Fatalf("manual notifications: %+v", ns.Notifications)
	}
	w.must("notify", "ack", ns.Notifications[0].ID, "--note", "told by phone")
	if r := w.must("requests", "list", "--overdue", "--at", after); !strings.Contains(r.stdout, "TELL BY HAND: 1") {
		t.Fatalf("one of two acknowledged: %s", r)
	}
	w.must("notify", "ack", ns.Notifications[1].ID, "--note", "told by letter")
	if r := w.must("requests", "list", "--overdue", "--at", after); strings.Contains(r.stdout, req.RequestID) {
		t.Fatalf("still listed once every recipient was told: %s", r)
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

// TestOneStuckContentDoesNotBlockTheOthers (adversarial pass 8 F2): a
// queued attachment content the store refuses to remove (here a directory
// in the file's place; chattr +i in the report) is left and reported; the
// others — the same erased subject's other documents, and other removals —
// are removed by the erasure, by `check --repair` and by a retention run.
func TestOneStuckContentDoesNotBlockTheOthers(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			w.must("migrate")
			var in strings.Builder
			for i, who := range []string{"u-f2", "u-f2", "u-f2", "u-old", "u-old", "u-old"} {
				closed, created := `"2026-11-01T10:00:00Z"`, `"2026-10-01T10:00:00Z"`
				if who == "u-old" {
					closed, created = `"2019-03-05T16:20:00Z"`, `"2019-03-01T10:00:00Z"`
				}
				id := fmt.Sprintf("%d", 9100+i)
				in.WriteString(line(`"u-9001"`, `"`+who+`"`, `"carol@example.org"`, `"`+who+`@example.org"`, `"T-9001"`, `"T-`+id+`"`,
					`"M-9001"`, `"M-`+id+`"`, `"M-9001"`, `"M-`+id+`"`, `"A-9001"`, `"A-`+id+`"`,
					`"aGVsbG8="`, `"`+base64.StdEncoding.EncodeToString([]byte("document "+id))+`"`,
					`"closed_at":"2019-03-05T16:20:00Z"`, `"closed_at":`+closed, `"created_at":"2019-03-01T10:00:00Z"`, `"created_at":`+created))
			}
			w.must("ingest", w.file("in.jsonl", []byte(in.String())))
			keysOf := func(user string) []string {
				db := w.open()
				defer db.Close()
				var keys []string
				if err := db.Select(context.Background(), &keys, "SELECT a.blob_key FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE t.user_id = ? ORDER BY a.blob_key", user); err != nil {
					t.Fatal(err)
				}
				return keys
			}
			dir, err := blobs.NewDir(filepath.Join(w.dir, "blobs"))
			if err != nil {
				t.Fatal(err)
			}
			path := func(k string) string {
				p, err := dir.Path(k)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			exists := func(k string) bool { _, err := os.Stat(path(k)); return err == nil }
			// Put a non-empty directory in the place of a content: no one,
			// root included, removes it with unlink.
			jam := func(k string) {
				if err := os.Remove(path(k)); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(path(k), "jam"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			unjam := func(k string) {
				if err := os.RemoveAll(path(k)); err != nil {
					t.Fatal(err)
				}
			}
			f2 := keysOf("u-f2")
			if len(f2) != 3 {
				t.Fatalf("u-f2 has %d documents, want 3", len(f2))
			}
			jam(f2[0]) // the first in key order: the one a drain meets first
			r := w.run(nil, "--output", "json", "erase", "--user-id", "u-f2")
			if r.code != 6 || !strings.Contains(r.stdout, `"blobs_deleted": 2`) {
				t.Fatalf("erase with one of three documents stuck: want exit 6 and the two others removed, got %s", r)
			}
			if exists(f2[1]) || exists(f2[2]) {
				t.Fatal("the erased subject's removable documents are still on disk")
			}
			// check --repair: the stuck one is reported, nothing else left.
			if r := w.run(nil, "check", "--repair"); r.code != 1 || !strings.Contains(r.stderr, "1 of 1 contents left") {
				t.Fatalf("check --repair with the stuck content: %s", r)
			}
			// A retention run: the stuck content stays queued and reported
			// (exit 6), the expired ones are removed.
			old := keysOf("u-old")
			if len(old) != 3 {
				t.Fatalf("u-old has %d documents, want 3", len(old))
			}
			jam(old[1])
			r = w.run(nil, "--output", "json", "retention", "run", "--allow-large")
			if r.code != 6 || !strings.Contains(r.stdout, `"blobs_left": 2`) {
				t.Fatalf("retention run with a stuck content: want exit 6 and two left (the erased one's and this one), got %s", r)
			}
			if exists(old[0]) || exists(old[2]) {
				t.Fatal("a retention run left removable expired contents on disk")
			}
			unjam(f2[0])
			unjam(old[1])
			w.must("check", "--repair")
			w.healthy()
		})
	}
}

// TestRestoredErasedSubject (adversarial pass 8 F10, F14): an erased
// subject's address is not given to another by rectification; and once a
// backup taken before the erasure is restored, no right but the erasure is
// exercised on the subject's old copy until `erase --reapply` — an export
// of it was written in full.
func TestRestoredErasedSubject(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(10, 12))
	path := strings.TrimPrefix(w.db, "sqlite:")
	backup := filepath.Join(w.dir, "backup.db")
	db := w.open()
	if _, err := db.Exec(context.Background(), "VACUUM INTO '"+backup+"'"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	time.Sleep(1100 * time.Millisecond) // the ledger keeps the second: the erasure comes a second after the rows
	var erased struct {
		RequestID string `json:"request_id"`
	}
	mustJSON(t, w.must("--output", "json", "erase", "--user-id", "u-005").stdout, &erased)
	r := w.run(nil, "rectify", "--user-id", "u-006", "--set", "email=ZQ005.secret-mail@example.org")
	if r.code != 3 || !strings.Contains(r.stderr, "erased subject's (erasure ledger)") {
		t.Fatalf("rectify to the erased subject's address: want exit 3, got %s", r)
	}
	// Restore the backup over the store.
	for _, sfx := range []string{"-wal", "-shm"} {
		os.Remove(path + sfx)
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"export", "--user-id", "u-005", "--out", filepath.Join(w.dir, "x.zip")},
		{"export", "--email", "zq005.secret-mail@example.org", "--out", filepath.Join(w.dir, "x.zip")},
		{"rectify", "--user-id", "u-005", "--set", "pseudo=Back"},
		{"object", "--user-id", "u-005", "--purpose", "statistics"},
		{"requests", "open", "--type", "access", "--user-id", "u-005"},
	} {
		if r := w.run(nil, args...); r.code != 3 || !strings.Contains(r.stderr, "erase --reapply") {
			t.Errorf("%v on a restored erased subject: want exit 3 naming erase --reapply, got %s", args, r)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "x.zip")); err == nil {
		t.Fatal("an export of the restored erased subject was written")
	}
	// Others are served; after --reapply the subject is erased again.
	w.must("export", "--user-id", "u-006", "--out", filepath.Join(w.dir, "u6.zip"))
	w.must("erase", "--reapply")
	if r := w.run(nil, "export", "--user-id", "u-005", "--out", filepath.Join(w.dir, "x.zip")); r.code != 5 || !strings.Contains(r.stderr, "erased on") {
		t.Fatalf("export after --reapply: %s", r)
	}
	// The register's counter came back with the backup; after --reapply
	// no new request takes the id the ledger names for the erasure.
	var opened struct {
		RequestID string `json:"request_id"`
	}
	mustJSON(t, w.must("--output", "json", "requests", "open", "--type", "access", "--user-id", "u-007").stdout, &opened)
	if opened.RequestID <= erased.RequestID {
		t.Fatalf("request opened after the restore: %s; want an id after the erasure's %s", opened.RequestID, erased.RequestID)
	}
}

// TestCorruptAnchorLineStopsWriters (adversarial pass 8 F4): a corrupt line
// in the middle of the audit anchor file stops every command before it
// changes anything, as a corrupt last line does; restoring the file from
// its copy lets them go on.
func TestCorruptAnchorLineStopsWriters(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(11, 6))
	for _, u := range []string{"u-001", "u-002", "u-003"} {
		w.must("hold", "add", "--user-id", u, "--reason", "litige")
	}
	anchorPath := filepath.Join(filepath.Dir(strings.TrimPrefix(w.db, "sqlite:")), "oubli-audit-anchor.log")
	good, err := os.ReadFile(anchorPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	if len(lines) < 4 {
		t.Fatalf("anchor file of %d lines", len(lines))
	}
	lines[1] = "garbage{\n"
	if err := os.WriteFile(anchorPath, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	rows := func() string {
		db := w.open()
		defer db.Close()
		var n []string
		if err := db.Select(context.Background(), &n, "SELECT (SELECT COUNT(*) FROM subjects) || '/' || (SELECT COUNT(*) FROM dsr_requests) || '/' || (SELECT COUNT(*) FROM audit_log)"); err != nil {
			t.Fatal(err)
		}
		return n[0]
	}
	before := rows()
	for _, args := range [][]string{{"requests", "open", "--type", "access", "--user-id", "u-004"}, {"erase", "--user-id", "u-004"}} {
		if r := w.run(nil, args...); r.code != 1 || !strings.Contains(r.stderr, "is not an audit head") {
			t.Fatalf("%v with a corrupt middle anchor line: want exit 1, got %s", args, r)
		}
	}
	if got := rows(); got != before {
		t.Fatalf("commands changed the store behind a corrupt anchor (subjects/requests/audit entries): %s -> %s", before, got)
	}
	if err := os.WriteFile(anchorPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	w.must("erase", "--user-id", "u-004")
	w.must("audit", "verify")
}

// TestEverythingKeptIsNotCalledErased (adversarial pass 8 F15, F17): an
// erasure whose every record the policies keep (a legal hold) says nothing
// was erased; the register's JSON always carries follow_up_pending.
func TestEverythingKeptIsNotCalledErased(t *testing.T) {
	w := newWorld(t, "sqlite")
	w.must("migrate")
	w.ingestFixture(genFixture(12, 4))
	w.must("hold", "add", "--user-id", "u-001", "--reason", "litige")
	r := w.must("erase", "--user-id", "u-001")
	if !strings.Contains(r.stdout, "nothing erased: every record kept by the policies") || strings.Contains(r.stdout, "\nerased subject") || strings.HasPrefix(r.stdout, "erased subject") {
		t.Fatalf("an erasure that kept everything: %s", r)
	}
	if r := w.must("--output", "json", "requests", "list"); !strings.Contains(r.stdout, `"follow_up_pending": false`) {
		t.Fatalf("follow_up_pending absent when false: %s", r)
	}
}
