package residue

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/oubli/oubli/store"
)

// AttachmentCheck is what the erasure's residue check learnt from the
// attachment index: how many documents hold the subject's identifiers
// (classified in the report like any other hit, under "blobs"), and how many
// documents the index could not answer for.
type AttachmentCheck struct {
	// Candidates are the documents whose index holds an identifier.
	Candidates int64 `json:"candidates"`
	// NotIndexed are documents not read yet (stored before the index, or
	// by a writer other than ingest): not checked by the erasure until
	// `oubli residue reindex` (or the sweep) has read them.
	NotIndexed int64 `json:"not_indexed"`
	// NotCovered are documents read in part (too large, too many distinct
	// tokens) or of a type the index does not read (IndexedTypes): not
	// checked by the erasure; the sweep's byte scan reads them.
	NotCovered int64 `json:"not_covered"`
	// Bounded: a count stopped at store.GapCountBound+1 ("more than").
	Bounded bool `json:"bounded,omitempty"`
}

// checkAttachments looks the subject's identifiers up in the attachment
// index (keyed hashes of the tokens of every text-bearing document, written
// at ingest): O(subject), no blob is read. An identifier of one token is
// found exactly; one of several tokens (a pseudo "Alice W") is reported
// where the document holds all its tokens, in sequence or not — a pseudo is a
// weak identifier, counted Ambiguous in other people's documents. The
// documents the index does not cover are counted and listed under Deferred,
// never skipped silently.
func checkAttachments(ctx context.Context, db *store.DB, h Hasher, s Subject, res *Report) error {
	ac := &AttachmentCheck{}
	res.Attachments = ac
	type ident struct {
		hashes   []string
		hash     string // the work list's hash of the identifier (Enqueue)
		strength string
	}
	var ids []ident
	var all []string
	for _, it := range []struct{ kind, value string }{{"user_id", s.UserID}, {"email", s.Email}, {"pseudo", s.Pseudo}} {
		toks := IdentifierTokens(it.value)
		if len(toks) == 0 {
			continue
		}
		id := ident{strength: strength(it.kind, toks), hash: h.Hash(HashKind, strings.Join(toks, " "))}
		for _, tok := range toks {
			hh := h.Hash(HashKind, tok)
			id.hashes = append(id.hashes, hh)
			all = append(all, hh)
		}
		ids = append(ids, id)
	}
	cands, err := store.BlobsWithTokens(ctx, db, all)
	if err != nil {
		return fmt.Errorf("residue: %w", err)
	}
	for key, held := range cands {
		var matched []ident
		for _, id := range ids {
			ok := true
			for _, hh := range id.hashes {
				ok = ok && held[hh]
			}
			if ok {
				matched = append(matched, id)
			}
		}
		if len(matched) == 0 {
			continue
		}
		owner, kept, found, err := blobOwner(ctx, db, key)
		if err != nil {
			return err
		}
		if !found {
			continue // the attachment went meanwhile; its index rows go with it
		}
		ac.Candidates++
		res.Scanned["blobs"]++
		strong := false
		for _, id := range matched {
			strong = strong || id.strength == "strong"
		}
		switch {
		case owner == s.UserID && (kept || s.KeptAsIs):
			res.Kept["blobs"]++
		case owner == s.UserID:
			res.Found["blobs"]++
			res.TotalFound++
		case strong:
			res.Findings["blobs"]++
			var th []string
			for _, id := range matched {
				if id.strength == "strong" {
					th = append(th, id.hash)
				}
			}
			if err := recordBlobFinding(ctx, db, h.Hash("user_id", s.UserID), key, th); err != nil {
				return err
			}
		default:
			res.Ambiguous["blobs"]++
		}
	}
	gaps, err := store.AttachmentIndexGaps(ctx, db)
	if err != nil {
		return fmt.Errorf("residue: %w", err)
	}
	ac.NotIndexed, ac.NotCovered, ac.Bounded = gaps.NotIndexed, gaps.NotCovered, gaps.Bounded
	count := func(n int64) string {
		if n > store.GapCountBound {
			return fmt.Sprintf("more than %d", store.GapCountBound)
		}
		return fmt.Sprint(n)
	}
	if ac.NotIndexed > 0 {
		res.Deferred = append(res.Deferred, fmt.Sprintf("blobs: %s attachment(s) not read by the attachment index yet, not checked (oubli residue reindex)", count(ac.NotIndexed)))
	}
	if ac.NotCovered > 0 {
		res.Deferred = append(res.Deferred, fmt.Sprintf("blobs: %s attachment(s) read in part or of a type the index does not read (it reads %s), not checked",
			count(ac.NotCovered), strings.Join(IndexedTypes, ", ")))
	}
	return nil
}

// blobOwner returns the subject of the ticket holding a blob, whether a
// policy keeps that ticket, and whether the attachment exists.
func blobOwner(ctx context.Context, q store.Querier, key string) (owner string, kept, found bool, err error) {
	var rows []struct {
		Owner *string `db:"o"`
		Kept  int64   `db:"k"`
	}
	if err := q.Select(ctx, &rows, "SELECT t.user_id AS o, "+keptTicket+" AS k FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE a.blob_key = ?", key); err != nil {
		return "", false, false, fmt.Errorf("residue: owner of a document: %w", err)
	}
	if len(rows) == 0 {
		return "", false, false, nil
	}
	if rows[0].Owner != nil {
		owner = *rows[0].Owner
	}
	return owner, rows[0].Kept == 1, true, nil
}

// recordBlobFinding lists a document the attachment index found holding an
// erased subject's strong identifier as an open finding, as the sweep does
// for what its byte scan finds (place "blobs", the blob key, keyed hashes
// only): the sweep cannot see inside every encoding the index reads (base64
// or quoted-printable e-mail parts, UTF-16, JSON escapes), so the erasure's
// own hit must reach the DPO (`oubli residue list`). A finding already
// listed for the same document and subject is left as it is.
func recordBlobFinding(ctx context.Context, db *store.DB, subjectRef, key string, hashes []string) error {
	sort.Strings(hashes)
	th, err := json.Marshal(hashes)
	if err != nil {
		return fmt.Errorf("residue: record finding: %w", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO residue_findings (finding_id, found_at, place, row_ref, subject_ref, token_hashes, strength, status)
		VALUES (?, ?, 'blobs', ?, ?, ?, 'strong', 'open') ON CONFLICT (place, row_ref, subject_ref) DO NOTHING`,
		newFindingID(), store.Millis(time.Now().UTC()), key, subjectRef, string(th)); err != nil {
		return fmt.Errorf("residue: record finding: %w", err)
	}
	return nil
}
