package residue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// ErrFound marks a sweep that found identifiers of erased subjects outside
// what the policies keep (exit 1): residue in their own records, or strong
// findings in other people's.
var ErrFound = errors.New("residue found")

// SweepOptions tune Sweep.
type SweepOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Actor names who acts in the audit trail.
	Actor string
}

// SweepReport says what a sweep looked at and found (places and counts; the
// findings by id, never a value).
type SweepReport struct {
	Subjects int              `json:"subjects"`
	Scanned  map[string]int64 `json:"scanned"` // rows per table, and "blobs"
	Found    map[string]int64 `json:"found"`   // residue in the erased subjects' own records
	Kept     map[string]int64 `json:"kept"`
	Findings []Finding        `json:"findings"` // new findings in other people's records
	// Ambiguous counts hits of weak identifiers only (a pseudo, a short or
	// all-digit user id) per place: a word or a number as often as a
	// mention, so counted for the DPO, not listed one by one.
	Ambiguous    map[string]int64 `json:"ambiguous"`
	StrayFiles   int64            `json:"stray_files"`
	Unclassified []string         `json:"unclassified,omitempty"`
	Tokens       int64            `json:"distinct_tokens_hashed"`
	// Reindexed is the backfill of the attachment index: documents stored
	// before it, read and indexed by this sweep.
	Reindexed *ReindexReport `json:"reindexed,omitempty"`
	Seconds   float64        `json:"seconds"`
	Outcome   string         `json:"outcome"` // clean, found
}

type want struct {
	subject, kind, strength string
	hash                    string
}

type hit struct {
	place, table, pk string
	blob             bool
	wants            []want
}

// matcher hashes each distinct token once and looks it up in the work list.
type matcher struct {
	h      Hasher
	set    map[string][]want
	maxN   int
	cache  map[string][]want
	hashed int64
	window []string
}

const cacheMax = 1 << 18

func (m *matcher) lookup(tok string) []want {
	if w, ok := m.cache[tok]; ok {
		return w
	}
	if len(m.cache) >= cacheMax {
		clear(m.cache)
	}
	m.hashed++
	w := m.set[m.h.Hash(HashKind, tok)]
	m.cache[tok] = w
	return w
}

// feed takes the next token of one value and returns the work-list entries
// it completes (alone, or ending an identifier of several tokens).
// raw is the token as written, for the form hashed before the
// normalisation was unified (work-list rows left by an older binary).
func (m *matcher) feed(tok, raw string) []want {
	out := m.lookup(tok)
	if l := legacyToken(raw, tok); l != "" {
		out = append(out, m.lookup(l)...)
	}
	if m.maxN > 1 {
		if len(m.window) == m.maxN {
			m.window = m.window[1:]
		}
		m.window = append(m.window, tok)
		for n := 2; n <= len(m.window); n++ {
			out = append(out, m.lookup(strings.Join(m.window[len(m.window)-n:], " "))...)
		}
	}
	return out
}

func (m *matcher) reset() { m.window = m.window[:0] }

// Sweep searches every personal-text column of the store and every blob,
// once, for the identifiers of every subject erased since the last sweep
// (the work list the erasures leave: keyed hashes only). Each distinct token
// is hashed with the store's key and looked up, so the cost is one pass over
// the store whatever the number of subjects. Hits in an erased subject's own
// records that no policy keeps are residue; hits in other people's records
// are recorded as findings (residue_findings) for the DPO. The result is
// recorded in the audit trail and the swept work-list rows are removed, in
// one transaction: a sweep interrupted before it leaves the work list as it
// was, and the next one starts again. It returns ErrFound when residue or a
// strong finding was found.
func Sweep(ctx context.Context, db *store.DB, bs blobs.Store, h Hasher, opt SweepOptions) (*SweepReport, error) {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	start := time.Now()
	rep := &SweepReport{Scanned: map[string]int64{}, Found: map[string]int64{}, Kept: map[string]int64{}, Findings: []Finding{}, Ambiguous: map[string]int64{}}
	var work []struct {
		Subject  string `db:"subject_ref"`
		Hash     string `db:"token_hash"`
		Kind     string `db:"kind"`
		Strength string `db:"strength"`
		Tokens   int    `db:"tokens"`
		At       int64  `db:"erased_at"`
	}
	if err := db.Select(ctx, &work, "SELECT subject_ref, token_hash, kind, strength, tokens, erased_at FROM residue_worklist"); err != nil {
		return nil, fmt.Errorf("residue sweep: work list: %w", err)
	}
	m := &matcher{h: h, set: map[string][]want{}, cache: map[string][]want{}, maxN: 1}
	swept := map[string]int64{} // subject → latest erasure swept
	for _, w := range work {
		m.set[w.Hash] = append(m.set[w.Hash], want{subject: w.Subject, kind: w.Kind, strength: w.Strength, hash: w.Hash})
		m.maxN = max(m.maxN, w.Tokens)
		swept[w.Subject] = max(swept[w.Subject], w.At)
	}
	rep.Subjects = len(swept)
	// Backfill the attachment index first (documents stored before it), so
	// that the next erasures check them through it. Committed batch by
	// batch: a sweep killed here keeps what it indexed.
	reix, err := Reindex(ctx, db, bs, h, now)
	if err != nil {
		return nil, err
	}
	rep.Reindexed = reix
	unclassified, _, err := Review(ctx, db)
	if err != nil {
		return nil, err
	}
	rep.Unclassified = unclassified
	var hits []hit
	if len(work) > 0 {
		if hits, err = scanStore(ctx, db, m, rep); err != nil {
			return nil, err
		}
		bh, err := scanBlobs(ctx, db, bs, m, rep)
		if err != nil {
			return nil, err
		}
		hits = append(hits, bh...)
	}
	rep.Tokens = m.hashed

	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	at := now().UTC()
	strongFindings := 0
	for _, hi := range hits {
		owner, kept, err := ownerOf(ctx, tx, hi)
		if err != nil {
			return nil, err
		}
		// One hit per subject named in the value.
		bySubject := map[string][]want{}
		var order []string
		for _, w := range hi.wants {
			if _, ok := bySubject[w.subject]; !ok {
				order = append(order, w.subject)
			}
			bySubject[w.subject] = append(bySubject[w.subject], w)
		}
		for _, subj := range order {
			ws := bySubject[subj]
			if owner != "" && (h.Hash("user_id", owner) == subj || owner == "erased-"+strings.TrimPrefix(subj, "h:")) {
				if kept {
					rep.Kept[hi.place]++
				} else {
					rep.Found[hi.place]++
				}
				continue
			}
			strong := false
			for _, w := range ws {
				strong = strong || w.strength == "strong"
			}
			if !strong {
				rep.Ambiguous[hi.place]++
				continue
			}
			f := Finding{Place: hi.place, RowRef: hi.pk, SubjectRef: subj, Strength: "weak", Status: "open", FoundAt: at}
			if hi.pk != "" {
				if t, ok := tableOf(hi.table); ok && t.PKPersonal {
					f.RowRef = h.Hash("user_id", hi.pk)
				}
			}
			seen := map[string]bool{}
			for _, w := range ws {
				if !seen[w.hash] {
					f.TokenHashes = append(f.TokenHashes, w.hash)
					seen[w.hash] = true
				}
				if w.strength == "strong" {
					f.Strength = "strong"
				}
			}
			sort.Strings(f.TokenHashes)
			f.ID = newFindingID()
			th, _ := json.Marshal(f.TokenHashes)
			r, err := tx.Exec(ctx, `INSERT INTO residue_findings (finding_id, found_at, place, row_ref, subject_ref, token_hashes, strength, status)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'open') ON CONFLICT (place, row_ref, subject_ref) DO NOTHING`,
				f.ID, store.Millis(at), f.Place, f.RowRef, f.SubjectRef, string(th), f.Strength)
			if err != nil {
				return nil, fmt.Errorf("residue sweep: record finding: %w", err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				// Already listed, by an earlier sweep or by the erasure's
				// attachment-index look-up: still open, it is reported
				// again (the residue is there); resolved, it is not.
				var open []string
				if err := tx.Select(ctx, &open, "SELECT finding_id FROM residue_findings WHERE place = ? AND row_ref = ? AND subject_ref = ? AND status = 'open'",
					f.Place, f.RowRef, f.SubjectRef); err != nil {
					return nil, fmt.Errorf("residue sweep: finding listed: %w", err)
				}
				if len(open) == 0 {
					continue
				}
				f.ID = open[0]
			}
			if f.Strength == "strong" {
				strongFindings++
			}
			rep.Findings = append(rep.Findings, f)
		}
	}
	for subj, upTo := range swept {
		if _, err := tx.Exec(ctx, "DELETE FROM residue_worklist WHERE subject_ref = ? AND erased_at <= ?", subj, upTo); err != nil {
			return nil, fmt.Errorf("residue sweep: work list: %w", err)
		}
	}
	var found int64
	for _, n := range rep.Found {
		found += n
	}
	rep.Outcome = "clean"
	if found > 0 || strongFindings > 0 {
		rep.Outcome = "found"
	}
	rep.Seconds = time.Since(start).Seconds()
	findingIDs := make([]string, len(rep.Findings))
	for i, f := range rep.Findings {
		findingIDs[i] = f.ID
	}
	if _, err := store.AppendAudit(ctx, tx, store.AuditRecord{
		At: at, Actor: opt.Actor, Action: "residue.sweep", Outcome: rep.Outcome,
		Detail: map[string]any{"subjects": rep.Subjects, "scanned": rep.Scanned, "found": rep.Found, "kept": rep.Kept,
			"findings": findingIDs, "ambiguous": rep.Ambiguous, "stray_files": rep.StrayFiles, "unclassified": rep.Unclassified, "seconds": rep.Seconds,
			"reindexed": rep.Reindexed},
	}); err != nil {
		return nil, err
	}
	if err := store.SetSetting(ctx, tx, "residue.last_sweep", at.Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("residue sweep: commit: %w", err)
	}
	if rep.Outcome == "found" {
		places := map[string]bool{}
		for p := range rep.Found {
			places[p] = true
		}
		for _, f := range rep.Findings {
			if f.Strength == "strong" {
				places[f.Place] = true
			}
		}
		list := make([]string, 0, len(places))
		for p := range places {
			list = append(list, p)
		}
		sort.Strings(list)
		return rep, fmt.Errorf("%w: erased subjects' identifiers in %s (%d in their own records, %d new finding(s) in other people's: oubli residue list)",
			ErrFound, strings.Join(list, ", "), found, strongFindings)
	}
	return rep, nil
}

// record keeps a hit for classification when it holds a strong identifier;
// a hit of weak identifiers only is counted under Ambiguous.
func record(hits []hit, h hit, rep *SweepReport) []hit {
	for _, w := range h.wants {
		if w.strength == "strong" {
			return append(hits, h)
		}
	}
	rep.Ambiguous[h.place]++
	return hits
}

// scanStore reads every Key and Text column of the catalog, and every text
// column it does not classify, table by table.
func scanStore(ctx context.Context, db *store.DB, m *matcher, rep *SweepReport) ([]hit, error) {
	tables, err := store.TextColumns(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("residue sweep: %w", err)
	}
	var hits []hit
	for _, tt := range tables {
		var cols []string
		for _, c := range tt.Columns {
			e, ok := lookup(tt.Table, c)
			if !ok || e.Kind != None {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			continue
		}
		t, known := tableOf(tt.Table)
		pk := "NULL"
		if known {
			pk = quoteIdent(t.PK)
		}
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = "CAST(" + quoteIdent(c) + " AS TEXT)"
		}
		rows, err := db.Query(ctx, "SELECT CAST("+pk+" AS TEXT), "+strings.Join(sel, ", ")+" FROM "+quoteIdent(tt.Table))
		if err != nil {
			return nil, fmt.Errorf("residue sweep: scan %s: %w", tt.Table, err)
		}
		raw := make([]sql.NullString, len(cols)+1)
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("residue sweep: scan %s: %w", tt.Table, err)
			}
			rep.Scanned[tt.Table]++
			for i, c := range cols {
				v := raw[i+1].String
				if v == "" {
					continue
				}
				var ws []want
				m.reset()
				Tokens(v, func(tok string, i, j int) { ws = append(ws, m.feed(tok, v[i:j])...) })
				if len(ws) > 0 {
					hits = record(hits, hit{place: tt.Table + "." + c, table: tt.Table, pk: raw[0].String, wants: ws}, rep)
				}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("residue sweep: scan %s: %w", tt.Table, err)
		}
	}
	return hits, nil
}

// IsBlobKey reports whether a file name in the blob store can be a blob key
// (the rule of blobs.NewKey's keys); anything else is a stray file.
func IsBlobKey(name string) bool {
	if len(name) < 4 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// scanBlobs streams every blob through the tokenizer. A file that is not a
// blob key is skipped and counted; a blob removed since the listing holds
// nothing.
//
// A text-bearing attachment (not an e-mail) is then read again as the
// attachment index reads it (decodeText: its encoding, HTML references,
// JSON escapes), so that what the index finds the sweep finds too.
func scanBlobs(ctx context.Context, db *store.DB, bs blobs.Store, m *matcher, rep *SweepReport) ([]hit, error) {
	var hits []hit
	buf := make([]byte, 64<<10)
	err := bs.Walk(ctx, func(key string) error {
		if !IsBlobKey(key) {
			rep.StrayFiles++
			return nil
		}
		r, err := bs.Open(ctx, key)
		if errors.Is(err, blobs.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("residue sweep: blob: %w", err)
		}
		defer r.Close()
		rep.Scanned["blobs"]++
		var ws []want
		m.reset()
		st := &streamTokens{fn: func(tok, raw string) { ws = append(ws, m.feed(tok, raw)...) }}
		for {
			n, err := r.Read(buf)
			st.Write(buf[:n])
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("residue sweep: read blob: %w", err)
			}
		}
		st.flush()
		dws, err := scanDecoded(ctx, db, bs, key, m)
		if err != nil {
			return err
		}
		ws = append(ws, dws...)
		if len(ws) > 0 {
			hits = record(hits, hit{place: "blobs", pk: key, blob: true, wants: ws}, rep)
		}
		return nil
	})
	return hits, err
}

// ownerOf returns the subject a hit's row belongs to and whether a policy
// keeps it; "" when nobody's or unknown.
func ownerOf(ctx context.Context, q store.Querier, hi hit) (string, bool, error) {
	var query string
	switch {
	case hi.blob:
		query = "SELECT t.user_id, " + keptTicket + " FROM attachments a JOIN tickets t ON t.ticket_id = a.ticket_id WHERE a.blob_key = ?"
	default:
		t, ok := tableOf(hi.table)
		if !ok || hi.pk == "" {
			return "", false, nil
		}
		query = t.Owner
	}
	var r struct {
		Owner sql.NullString `db:"o"`
		Kept  sql.NullInt64  `db:"k"`
	}
	rows, err := q.Query(ctx, query, hi.pk)
	if err != nil {
		return "", false, fmt.Errorf("residue sweep: owner of a hit in %s: %w", hi.place, err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&r.Owner, &r.Kept); err != nil {
			return "", false, fmt.Errorf("residue sweep: owner of a hit in %s: %w", hi.place, err)
		}
	}
	return r.Owner.String, r.Kept.Int64 == 1, rows.Err()
}

func newFindingID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "RF-" + strings.ToUpper(hex.EncodeToString(b))
}

// scanDecoded reads a text-bearing attachment's contents decoded as the
// attachment index does (bounded by MaxIndexBytes) and returns the
// work-list entries its text names; nothing for other blobs.
func scanDecoded(ctx context.Context, db *store.DB, bs blobs.Store, key string, m *matcher) ([]want, error) {
	var cts []string
	if err := db.Select(ctx, &cts, "SELECT content_type FROM attachments WHERE blob_key = ?", key); err != nil {
		return nil, fmt.Errorf("residue sweep: attachment type: %w", err)
	}
	if len(cts) != 1 || !TextBearing(cts[0]) {
		return nil, nil
	}
	mt, params := mediaType(cts[0])
	if mt == "message/rfc822" {
		return nil, nil // e-mail parts: found by the erasure's index look-up
	}
	r, err := bs.Open(ctx, key)
	if errors.Is(err, blobs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("residue sweep: blob: %w", err)
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, MaxIndexBytes))
	if err != nil {
		return nil, fmt.Errorf("residue sweep: read blob: %w", err)
	}
	texts, _ := decodeText(mt, params, raw)
	if len(texts) == 1 && texts[0] == string(raw) {
		return nil, nil // read as it is already
	}
	var ws []want
	for _, t := range texts {
		m.reset()
		Tokens(t, func(tok string, i, j int) { ws = append(ws, m.feed(tok, t[i:j])...) })
	}
	return ws, nil
}
