package dsr

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestEraseShortOrCommonUserIDs: user ids "1" and "ok" are erased without a
// false residue: "1" is a count in audit_log.detail and "ok" an outcome in
// audit_log and dsr_actions, columns that hold no personal text. The erasure
// failed after committing (exit 1) and the request stayed in_progress.
func TestEraseShortOrCommonUserIDs(t *testing.T) {
	for _, id := range []string{"1", "ok"} {
		t.Run(id, func(t *testing.T) {
			testdb.Run(t, func(t *testing.T, db *store.DB) {
				w := newErWorld(t, db, false)
				w.addSubject(t, id, "short@example.org", "shorty", "TS1", "2025-03-12T09:00:00Z", "none")
				// An earlier erasure fills the audit trail with counts and outcomes.
				if _, err := w.eraser().Erase(context.Background(), store.SubjectKey{UserID: "u-bob"}, EraseOptions{}); err != nil {
					t.Fatalf("erase bob: %v", err)
				}
				rep, err := w.eraser().Erase(context.Background(), store.SubjectKey{UserID: id}, EraseOptions{})
				if err != nil {
					t.Fatalf("erase %q: %v (residue %+v)", id, err, rep)
				}
				if rep.Residue == nil || rep.Residue.TotalFound != 0 {
					t.Fatalf("residue = %+v", rep.Residue)
				}
				if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'erasure' AND status <> 'done'"); n != 0 {
					t.Errorf("%d erasure request(s) not done", n)
				}
			})
		})
	}
}

// TestEraseMentionInOthersTextDoesNotFail: the subject's e-mail inside
// another person's message is not the erasure's to clean: the erasure
// succeeds (it exited 1 after committing) and the sweep lists the mention.
func TestEraseMentionInOthersTextDoesNotFail(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newErWorld(t, db, true)
		w.exec(t, `UPDATE messages SET body = 'écrivez à ALICE@example.org' WHERE message_id = 'TB1-m3'`)
		w.exec(t, `INSERT INTO legal_holds (hold_id, ticket_id, reason, created_at) VALUES ('H-1', 'TB1', 'litige signalé par alice@example.org', 0)`)
		rep, err := w.eraser().Erase(context.Background(), store.SubjectKey{UserID: "u-alice"}, EraseOptions{})
		if err != nil {
			t.Fatalf("erase: %v (residue %+v)", err, rep.Residue)
		}
		if rep.Residue.TotalFound != 0 {
			t.Errorf("residue = %+v", rep.Residue)
		}
	})
}

// TestEraseStrayFileInBlobs: a file in the blobs directory that is not a
// blob key (an export written there) does not make the erasure fail.
func TestEraseStrayFileInBlobs(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newErWorld(t, db, true)
		if err := os.WriteFile(filepath.Join(w.bs.Root(), "x.zip"), []byte("PK export"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := w.eraser().Erase(context.Background(), store.SubjectKey{UserID: "u-alice"}, EraseOptions{}); err != nil {
			t.Fatalf("erase with a stray file in the blobs directory: %v", err)
		}
	})
}
