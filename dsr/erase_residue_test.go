package dsr

import (
	"context"
	"errors"
	"testing"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestEraseResidueStrongAndWeak: a pseudo shared by another subject, or used
// as a word in someone else's message, is reported as ambiguous and does not
// fail the erasure; the subject's e-mail or user id in someone else's record
// is residue and does.
func TestEraseResidueStrongAndWeak(t *testing.T) {
	cases := []struct {
		name          string
		carol         func(t *testing.T, w *erWorld) // another subject's data mentioning alice
		wantErr       bool
		wantFound     string
		wantAmbiguous string
	}{
		{
			name: "same pseudo, another subject",
			carol: func(t *testing.T, w *erWorld) {
				w.addSubject(t, "u-carol", "carol@example.org", "alicewonder", "TC1", "2025-03-12T09:00:00Z", "none")
			},
			wantAmbiguous: "subjects.pseudo",
		},
		{
			name: "pseudo as a word in another subject's message",
			carol: func(t *testing.T, w *erWorld) {
				w.addSubject(t, "u-carol", "carol@example.org", "carol", "TC1", "2025-03-12T09:00:00Z", "none")
				w.exec(t, `UPDATE messages SET body = 'le vendeur alicewonder ne répond pas' WHERE message_id = 'TC1-m3'`)
			},
			wantAmbiguous: "messages.body",
		},
		{
			name: "e-mail in another subject's message",
			carol: func(t *testing.T, w *erWorld) {
				w.addSubject(t, "u-carol", "carol@example.org", "carol", "TC1", "2025-03-12T09:00:00Z", "none")
				w.exec(t, `UPDATE messages SET body = 'écrivez à ALICE@example.org' WHERE message_id = 'TC1-m3'`)
			},
			wantErr:   true,
			wantFound: "messages.body",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Run(t, func(t *testing.T, db *store.DB) {
				w := newErWorld(t, db, true)
				tc.carol(t, w)
				rep, err := w.eraser().Erase(context.Background(), store.SubjectKey{UserID: "u-alice"}, EraseOptions{})
				if tc.wantErr != errors.Is(err, ErrResidue) {
					t.Fatalf("erase: err = %v, want residue error %v", err, tc.wantErr)
				}
				if rep == nil || rep.Residue == nil {
					t.Fatalf("no residue report (err %v)", err)
				}
				if tc.wantFound != "" && rep.Residue.Found[tc.wantFound] == 0 {
					t.Errorf("found = %v, want a hit in %s", rep.Residue.Found, tc.wantFound)
				}
				if tc.wantAmbiguous != "" && rep.Residue.Ambiguous[tc.wantAmbiguous] == 0 {
					t.Errorf("ambiguous = %v, want a hit in %s", rep.Residue.Ambiguous, tc.wantAmbiguous)
				}
				if !tc.wantErr && rep.Residue.TotalFound != 0 {
					t.Errorf("total found = %d, want 0 (found %v)", rep.Residue.TotalFound, rep.Residue.Found)
				}
				// Carol's rows are untouched whatever the verdict.
				if n := erCount(t, db, "SELECT COUNT(*) FROM messages WHERE ticket_id = 'TC1'"); n != 3 {
					t.Errorf("carol's messages = %d, want 3", n)
				}
			})
		})
	}
}

// vanishing lists, after the real blobs, one that is gone by the time it is
// opened: what a retention run draining its queue does to a residue scan.
type vanishing struct{ blobs.Store }

func (v vanishing) Walk(ctx context.Context, fn func(key string) error) error {
	if err := v.Store.Walk(ctx, fn); err != nil {
		return err
	}
	return fn("zzvanishedblob0001")
}

// TestResidueScanToleratesVanishedBlobs: a blob removed between the scan's
// listing and its read holds nothing; the erasure succeeds (it failed with
// "blob not found" after committing, when retention ran at the same time).
func TestResidueScanToleratesVanishedBlobs(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		w := newErWorld(t, db, true)
		e := w.eraser()
		e.Blobs = vanishing{w.bs}
		rep, err := e.Erase(context.Background(), store.SubjectKey{Email: "alice@example.org"}, EraseOptions{})
		if err != nil {
			t.Fatalf("erase with a blob vanishing during the residue scan: %v", err)
		}
		if rep.Residue == nil || rep.Residue.Scanned["blobs"] == 0 || rep.Residue.TotalFound != 0 {
			t.Fatalf("residue: %+v", rep.Residue)
		}
	})
}
