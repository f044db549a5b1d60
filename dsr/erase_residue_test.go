package dsr

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/residue"
	"github.com/oubli/oubli/store"
)

// TestEraseResidueStrongAndWeak: a pseudo shared by another subject, or used
// as a word in someone else's message, is an ambiguous hit; the subject's
// e-mail in someone else's message is a strong finding that fails the sweep
// (oubli check --residue), not the erasure, which did its part.
func TestEraseResidueStrongAndWeak(t *testing.T) {
	cases := []struct {
		name          string
		carol         func(t *testing.T, w *erWorld) // another subject's data mentioning alice
		wantSweepErr  bool
		wantPlace     string
		wantStrength  string
		wantAmbiguous string // in the erasure's own report
	}{
		{
			name: "same pseudo, another subject",
			carol: func(t *testing.T, w *erWorld) {
				w.addSubject(t, "u-carol", "carol@example.org", "alicewonder", "TC1", "2025-03-12T09:00:00Z", "none")
			},
			wantPlace: "subjects.pseudo", wantStrength: "weak", wantAmbiguous: "subjects.pseudo",
		},
		{
			name: "pseudo as a word in another subject's message",
			carol: func(t *testing.T, w *erWorld) {
				w.addSubject(t, "u-carol", "carol@example.org", "carol", "TC1", "2025-03-12T09:00:00Z", "none")
				w.exec(t, `UPDATE messages SET body = 'le vendeur alicewonder ne répond pas' WHERE message_id = 'TC1-m3'`)
			},
			wantPlace: "messages.body", wantStrength: "weak",
		},
		{
			name: "e-mail in another subject's message",
			carol: func(t *testing.T, w *erWorld) {
				w.addSubject(t, "u-carol", "carol@example.org", "carol", "TC1", "2025-03-12T09:00:00Z", "none")
				w.exec(t, `UPDATE messages SET body = 'écrivez à ALICE@example.org' WHERE message_id = 'TC1-m3'`)
			},
			wantSweepErr: true, wantPlace: "messages.body", wantStrength: "strong",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Run(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				w := newErWorld(t, db, true)
				tc.carol(t, w)
				rep, err := w.eraser().Erase(ctx, store.SubjectKey{UserID: "u-alice"}, EraseOptions{})
				if err != nil {
					t.Fatalf("erase: %v", err)
				}
				if rep.Residue == nil || rep.Residue.TotalFound != 0 {
					t.Fatalf("residue = %+v", rep.Residue)
				}
				if tc.wantAmbiguous != "" && rep.Residue.Ambiguous[tc.wantAmbiguous] == 0 {
					t.Errorf("ambiguous = %v, want a hit in %s", rep.Residue.Ambiguous, tc.wantAmbiguous)
				}
				sw, err := residue.Sweep(ctx, db, w.bs, w.h, residue.SweepOptions{Actor: "test"})
				if tc.wantSweepErr != errors.Is(err, residue.ErrFound) {
					t.Fatalf("sweep: err = %v, want residue.ErrFound %v", err, tc.wantSweepErr)
				}
				var got []string
				for _, f := range sw.Findings {
					got = append(got, f.Place+"/"+f.Strength)
				}
				for p := range sw.Ambiguous {
					got = append(got, p+"/weak")
				}
				if !slices.Contains(got, tc.wantPlace+"/"+tc.wantStrength) {
					t.Errorf("findings and ambiguous hits = %v, want %s/%s", got, tc.wantPlace, tc.wantStrength)
				}
				if len(sw.Found) != 0 {
					t.Errorf("sweep found residue in alice's own records: %v", sw.Found)
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
