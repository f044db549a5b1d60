package integrity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/cmd/cli"
	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/integrity"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var now = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

const sample = "../testdata/ingest/good.jsonl"

// loaded returns a store and blob store holding the sample file.
func loaded(t *testing.T, db *store.DB) *blobs.Dir {
	t.Helper()
	bs, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.File(context.Background(), db, bs, sample, ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	return bs
}

func blobKey(t *testing.T, db *store.DB, attachmentID string) string {
	t.Helper()
	a, err := store.GetAttachment(context.Background(), db, attachmentID)
	if err != nil {
		t.Fatal(err)
	}
	return a.BlobKey
}

// problems flattens a report to "kind ref" strings.
func problems(r integrity.Report) []string {
	out := []string{}
	for _, p := range r.Problems {
		out = append(out, p.Kind+" "+p.Ref)
	}
	return out
}

// putOld writes a blob with a modification time well past the grace period.
func putOld(t *testing.T, bs *blobs.Dir, key string, age time.Duration) {
	t.Helper()
	if _, _, err := bs.Put(context.Background(), key, strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}
	p, _ := bs.Path(key)
	if err := os.Chtimes(p, time.Now().Add(-age), time.Now().Add(-age)); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := loaded(t, db)
		rep, err := integrity.Check(ctx, db, bs, integrity.Options{Deep: true})
		if err != nil || !rep.Clean || rep.Attachments != 2 || rep.Blobs != 2 {
			t.Fatalf("after ingest: %+v %v", rep, err)
		}

		// A blob deleted behind the store's back, one altered, one without a row.
		k1, k2 := blobKey(t, db, "A-1"), blobKey(t, db, "A-2")
		if err := bs.Delete(ctx, k1); err != nil {
			t.Fatal(err)
		}
		p2, _ := bs.Path(k2)
		b, _ := os.ReadFile(p2)
		b[0] ^= 0xff
		if err := os.WriteFile(p2, b, 0o600); err != nil {
			t.Fatal(err)
		}
		orphan := blobs.NewKey()
		putOld(t, bs, orphan, time.Hour)

		rep, err = integrity.Check(ctx, db, bs, integrity.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"attachment_blob_missing A-1", "blob_without_row " + orphan}
		if got := problems(rep); rep.Clean || !reflect.DeepEqual(got, want) {
			t.Fatalf("shallow check:\n got %q\nwant %q", got, want)
		}
		rep, _ = integrity.Check(ctx, db, bs, integrity.Options{Deep: true})
		want = []string{"attachment_blob_missing A-1", "attachment_blob_sha256_mismatch A-2", "blob_without_row " + orphan}
		if got := problems(rep); !reflect.DeepEqual(got, want) {
			t.Fatalf("deep check:\n got %q\nwant %q", got, want)
		}
	})
}

func TestCheckOrphanRows(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := loaded(t, db)
		// A restored or hand-edited database may lack its foreign keys: make
		// the rows that FKs would refuse.
		if db.Dialect() == store.SQLite {
			if _, err := db.SQL().Exec("PRAGMA foreign_keys = OFF"); err != nil {
				t.Fatal(err)
			}
			db.SQL().SetMaxOpenConns(1)
		} else {
			for _, q := range []string{
				"ALTER TABLE messages DROP CONSTRAINT messages_ticket_id_fkey",
				"ALTER TABLE subject_stats DROP CONSTRAINT subject_stats_user_id_fkey",
				"ALTER TABLE account_events DROP CONSTRAINT account_events_user_id_fkey",
			} {
				if _, err := db.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, q := range []string{
			"INSERT INTO messages (message_id, ticket_id, author, body, sent_at) VALUES ('M-lost', 'T-gone', 'user', 'x', 0)",
			"INSERT INTO subject_stats (user_id, avg_response_seconds, responses_counted, computed_at) VALUES ('u-gone', 1, 1, 0)",
			"INSERT INTO account_events (event_id, user_id, type, at) VALUES ('E-lost', 'u-gone', 'login', 0)",
		} {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.QueueBlobDeletion(ctx, db, blobs.NewKey(), "test", now); err != nil {
			t.Fatal(err)
		}
		rep, err := integrity.Check(ctx, db, bs, integrity.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := db.Hasher(ctx)
		want := map[string]int64{
			store.ProblemMessageWithoutTicket: 1, store.ProblemStatWithoutSubject: 1,
			store.ProblemEventWithoutSubject: 1, store.ProblemBlobDeletionPending: 1,
		}
		if rep.Clean || !reflect.DeepEqual(rep.Counts, want) {
			t.Fatalf("counts %v, want %v", rep.Counts, want)
		}
		for _, p := range rep.Problems {
			if strings.Contains(p.Ref, "u-gone") {
				t.Fatalf("a user id in the listing: %+v", p)
			}
			if p.Kind == store.ProblemStatWithoutSubject && p.Ref != h.Hash("user_id", "u-gone") {
				t.Fatalf("stat ref %q is not the keyed hash", p.Ref)
			}
		}
	})
}

func TestRepairAndDrain(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := loaded(t, db)
		old, recent := blobs.NewKey(), blobs.NewKey()
		putOld(t, bs, old, time.Hour)
		putOld(t, bs, recent, time.Minute)
		queued := blobs.NewKey()
		putOld(t, bs, queued, time.Minute) // queued keys go whatever their age
		if err := store.QueueBlobDeletion(ctx, db, queued, "test", now); err != nil {
			t.Fatal(err)
		}
		live := blobKey(t, db, "A-1")

		dry, err := integrity.Repair(ctx, db, bs, integrity.Options{DryRun: true})
		if err != nil || dry.DeletionsDrained != 1 || dry.OrphansRemoved != 1 || dry.OrphansTooRecent != 1 ||
			!reflect.DeepEqual(dry.OrphanKeys, []string{old}) {
			t.Fatalf("dry run: %+v %v", dry, err)
		}
		for _, k := range []string{old, recent, queued, live} {
			if ok, _ := bs.Exists(ctx, k); !ok {
				t.Fatalf("dry run removed %s", k)
			}
		}

		res, err := integrity.Repair(ctx, db, bs, integrity.Options{})
		if err != nil || res.DeletionsDrained != 1 || res.OrphansRemoved != 1 || res.OrphansTooRecent != 1 {
			t.Fatalf("repair: %+v %v", res, err)
		}
		for k, want := range map[string]bool{old: false, queued: false, recent: true, live: true, blobKey(t, db, "A-2"): true} {
			if ok, _ := bs.Exists(ctx, k); ok != want {
				t.Fatalf("blob %s exists=%v, want %v", k, ok, want)
			}
		}
		inv, _ := db.Inventory(ctx)
		if inv.BlobDeletionsPending != 0 || inv.Attachments != 2 {
			t.Fatalf("after repair: %+v", inv)
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}

		// The queue never deletes a blob that a row still refers to.
		if err := store.QueueBlobDeletion(ctx, db, live, "wrong", now); err != nil {
			t.Fatal(err)
		}
		if n, err := integrity.DrainBlobQueue(ctx, db, bs, 0); err != nil || n != 0 {
			t.Fatalf("drain: %d %v", n, err)
		}
		if ok, _ := bs.Exists(ctx, live); !ok {
			t.Fatal("drain deleted a referenced blob")
		}
		rep, _ := integrity.Check(ctx, db, bs, integrity.Options{})
		if rep.Counts[store.ProblemBlobDeletionReferenced] != 1 {
			t.Fatalf("check: %+v", rep.Counts)
		}

		// A bounded drain stops at its limit.
		if _, err := db.Exec(ctx, "DELETE FROM blob_deletions"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := store.QueueBlobDeletion(ctx, db, blobs.NewKey(), "test", now); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := integrity.DrainBlobQueue(ctx, db, bs, 2); err != nil || n != 2 {
			t.Fatalf("bounded drain: %d %v", n, err)
		}
		if inv, _ := db.Inventory(ctx); inv.BlobDeletionsPending != 1 {
			t.Fatalf("pending after bounded drain: %d", inv.BlobDeletionsPending)
		}
	})
}

// run drives the command line against a store and returns exit code, stdout, stderr.
func run(t *testing.T, dbURL, blobDir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{In: strings.NewReader(""), Out: &out, Err: &errb, Ctx: context.Background(),
		Getenv: func(string) string { return "" }, Now: time.Now}
	ledger := filepath.Join(filepath.Dir(blobDir), "erasures.log")
	code := env.Run(append([]string{"--db", dbURL, "--blobs", blobDir, "--ledger", ledger}, args...))
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url, blobDir := testdb.URL(t, backend), filepath.Join(t.TempDir(), "blobs")
			if code, _, stderr := run(t, url, blobDir, "migrate"); code != 0 {
				t.Fatalf("migrate: %d %s", code, stderr)
			}
			bad := filepath.Join(t.TempDir(), "bad.jsonl")
			good, _ := os.ReadFile(sample)
			lines := strings.SplitAfter(string(good), "\n")
			lines[2] = strings.Replace(lines[2], `"2024-06-01T10:00:00Z"`, `"2024-06-01T10:00:00"`, 1)
			os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o600)
			code, stdout, stderr := run(t, url, blobDir, "ingest", bad)
			if code != 2 || !strings.Contains(stderr, "\n3: created_at: time without zone") || stdout != "" {
				t.Fatalf("bad file: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
			}
			code, stdout, _ = run(t, url, blobDir, "--output", "json", "ingest", bad)
			var faults struct {
				OK     bool           `json:"ok"`
				Faults []ingest.Fault `json:"faults"`
			}
			if code != 2 || json.Unmarshal([]byte(stdout), &faults) != nil || len(faults.Faults) != 1 || faults.Faults[0].Line != 3 {
				t.Fatalf("bad file, json: exit %d %s", code, stdout)
			}

			for range 2 {
				if code, _, stderr := run(t, url, blobDir, "ingest", sample); code != 0 {
					t.Fatalf("ingest: %d %s", code, stderr)
				}
			}
			code, stdout, _ = run(t, url, blobDir, "--output", "json", "inventory")
			var inv map[string]int64
			if code != 0 || json.Unmarshal([]byte(stdout), &inv) != nil {
				t.Fatalf("inventory: %d %s", code, stdout)
			}
			for _, k := range []string{"subjects", "tickets", "messages", "attachments", "attachment_bytes", "account_events",
				"subject_stats", "agent_stats", "dsr_requests", "legal_holds", "objections", "blob_deletions_pending", "audit_entries"} {
				if _, ok := inv[k]; !ok {
					t.Fatalf("inventory lacks %q: %s", k, stdout)
				}
			}
			if inv["tickets"] != 2 || inv["messages"] != 3 || inv["attachments"] != 2 || inv["audit_entries"] != 2 {
				t.Fatalf("inventory: %v", inv)
			}
			if code, stdout, _ := run(t, url, blobDir, "check"); code != 0 || !strings.HasPrefix(stdout, "clean:") {
				t.Fatalf("check: %d %s", code, stdout)
			}
			orphan := blobs.NewKey()
			bs, _ := blobs.NewDir(blobDir)
			putOld(t, bs, orphan, time.Hour)
			if code, stdout, _ := run(t, url, blobDir, "check"); code != 1 || !strings.Contains(stdout, "blob_without_row "+orphan) {
				t.Fatalf("check with orphan: %d %s", code, stdout)
			}
			if code, _, _ := run(t, url, blobDir, "check", "--repair", "--dry-run"); code != 0 {
				t.Fatalf("repair dry run: %d", code)
			}
			if ok, _ := bs.Exists(context.Background(), orphan); !ok {
				t.Fatal("dry run removed the orphan")
			}
			if code, stdout, stderr := run(t, url, blobDir, "check", "--repair"); code != 0 {
				t.Fatalf("repair: %d %s %s", code, stdout, stderr)
			}
			if ok, _ := bs.Exists(context.Background(), orphan); ok {
				t.Fatal("repair left the orphan")
			}
			if code, _, _ := run(t, url, blobDir, "audit", "verify"); code != 0 {
				t.Fatal("audit verify failed")
			}
			if code, _, _ := run(t, url, blobDir, "check", "--dry-run"); code != 2 {
				t.Fatal("--dry-run without --repair must be a usage error")
			}
		})
	}
}

// TestCheckGraceAndStrayFiles (issue 18 item 10): check leaves a blob
// without a row younger than the grace period alone (an ingest in progress
// writes its blobs before its rows commit), counting it; a file in the blob
// directory that is not a blob key is reported by check and skipped (and
// reported) by repair, which finishes the rest.
func TestCheckGraceAndStrayFiles(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := loaded(t, db)
		fresh := blobs.NewKey()
		if _, _, err := bs.Put(ctx, fresh, strings.NewReader("being ingested")); err != nil {
			t.Fatal(err)
		}
		rep, err := integrity.Check(ctx, db, bs, integrity.Options{})
		if err != nil || !rep.Clean || rep.FreshBlobs != 1 {
			t.Fatalf("check with a fresh blob: clean %v, fresh %d, problems %q, %v", rep.Clean, rep.FreshBlobs, problems(rep), err)
		}
		old := blobs.NewKey()
		putOld(t, bs, old, time.Hour)
		p, _ := bs.Path(old)
		stray := filepath.Join(filepath.Dir(p), "NOTES.txt")
		if err := os.WriteFile(stray, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err = integrity.Check(ctx, db, bs, integrity.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := problems(rep); rep.Clean || !reflect.DeepEqual(got, []string{"blob_without_row " + old, "not_a_blob_file NOTES.txt"}) {
			t.Fatalf("check with an old orphan and a stray file: %q", got)
		}
		rr, err := integrity.Repair(ctx, db, bs, integrity.Options{})
		if err != nil {
			t.Fatalf("repair with a stray file: %v", err)
		}
		if rr.OrphansRemoved != 1 || rr.NotBlobs != 1 || rr.OrphansTooRecent != 1 {
			t.Errorf("repair: removed %d, not blobs %d, too recent %d; want 1, 1, 1", rr.OrphansRemoved, rr.NotBlobs, rr.OrphansTooRecent)
		}
		if _, err := os.Stat(stray); err != nil {
			t.Errorf("repair touched the stray file: %v", err)
		}
	})
}
