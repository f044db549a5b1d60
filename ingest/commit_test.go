package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// commitFile writes lines as a JSON Lines file.
func commitFile(t *testing.T, lines ...map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func commitTicket(id, uid string, msgs ...string) map[string]any {
	var ms []map[string]any
	for _, m := range msgs {
		ms = append(ms, map[string]any{"message_id": m, "author": "user", "body": "Bonjour", "sent_at": "2019-03-01T10:00:00Z"})
	}
	return map[string]any{
		"kind": "ticket", "ticket_id": id, "request_number": "R-" + id,
		"user":    map[string]any{"user_id": uid, "email": uid + "@example.org", "pseudo": "p-" + uid},
		"subject": "s", "description": "d", "status": "open", "created_at": "2019-03-01T10:00:00Z",
		"messages": ms,
	}
}

// The ownership check holds at commit, inside the load transaction: a
// message taken by another ticket between the validation pass and the load
// is refused as a fault of its line, and nothing is written.
func TestOwnershipCheckedAtCommit(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Now: time.Now, MaxLineBytes: DefaultMaxLineBytes, Actor: "test"}
		path := commitFile(t, commitTicket("T-2", "u-b", "M-1"))
		res, deferred, err := validateFile(ctx, storeKnows(db), storeOwners(db), path, o)
		if err != nil {
			t.Fatal(err)
		}
		// Meanwhile, another load gives M-1 to Alice's ticket.
		if _, err := File(ctx, db, bs, commitFile(t, commitTicket("T-1", "u-a", "M-1")), o); err != nil {
			t.Fatal(err)
		}
		_, err = load(ctx, db, bs, path, res, deferred, o)
		var fe *FaultsError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) || len(fe.Faults) != 1 || fe.Faults[0].Line != 1 ||
			!strings.Contains(fe.Faults[0].Reason, "belongs to another ticket") {
			t.Fatalf("want a fault of line 1, got %v", err)
		}
		var n int
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM tickets WHERE ticket_id = 'T-2'"); err != nil || n != 0 {
			t.Fatalf("T-2 written (%d, %v)", n, err)
		}
		var tk string
		if err := db.Get(ctx, &tk, "SELECT ticket_id FROM messages WHERE message_id = 'M-1'"); err != nil || tk != "T-1" {
			t.Fatalf("M-1 moved to %q (%v)", tk, err)
		}
	})
}

// Issue 17 item 2: an erasure committed after the validation pass read the
// ledger is seen by the load, inside its transaction, after the subject's
// lock: the file is refused and the subject is not brought back.
func TestErasureDuringValidationSeenAtCommit(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		erased := map[string]bool{}
		version := 0
		o := Options{Now: time.Now, MaxLineBytes: DefaultMaxLineBytes, Actor: "test",
			Erased: func(uid, email string) (bool, error) { return false, nil }, // the snapshot of validation
			ReloadErased: func() (func(uid, email string) (bool, error), bool, error) {
				return func(uid, email string) (bool, error) { return erased[uid], nil }, version > 0, nil
			},
		}
		path := commitFile(t, commitTicket("T-1", "u-a", "M-1"), commitTicket("T-2", "u-x", "M-2"))
		res, deferred, err := validateFile(ctx, storeKnows(db), storeOwners(db), path, o)
		if err != nil {
			t.Fatal(err)
		}
		erased["u-x"], version = true, 1 // an erasure of u-x commits now
		_, err = load(ctx, db, bs, path, res, deferred, o)
		var fe *FaultsError
		if !errors.As(err, &fe) || len(fe.Faults) != 1 || fe.Faults[0].Line != 2 ||
			!strings.Contains(fe.Faults[0].Reason, "erased while this file was being loaded") {
			t.Fatalf("want a fault of line 2, got %v", err)
		}
		var n int
		if err := db.Get(ctx, &n, "SELECT COUNT(*) FROM subjects"); err != nil || n != 0 {
			t.Fatalf("%d subjects written (%v)", n, err)
		}
	})
}
