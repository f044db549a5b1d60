package residue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oubli/oubli/store"
)

// ErrNotRedactable marks a finding that cannot be redacted (exit 3): already
// resolved, in a column that holds someone's own identifier, or in a
// document.
var ErrNotRedactable = errors.New("finding cannot be redacted")

// Redacted replaces an erased subject's identifier in other people's text.
const Redacted = "[redacted]"

// Finding is an erased subject's identifier found in a record that is not
// theirs, for the DPO to review. It names the place and the row (internal
// id, blob key, or keyed hash) and holds keyed hashes, never the text.
type Finding struct {
	ID          string     `json:"id" db:"finding_id"`
	FoundAt     time.Time  `json:"found_at" db:"-"`
	Place       string     `json:"place" db:"place"`
	RowRef      string     `json:"row_ref" db:"row_ref"`
	SubjectRef  string     `json:"subject_ref" db:"subject_ref"`
	TokenHashes []string   `json:"-" db:"-"`
	Strength    string     `json:"strength" db:"strength"`
	Status      string     `json:"status" db:"status"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty" db:"-"`
}

type findingRow struct {
	Finding
	FoundMs    int64         `db:"found_at"`
	Hashes     string        `db:"token_hashes"`
	ResolvedMs sql.NullInt64 `db:"resolved_at"`
}

func (r findingRow) finding() Finding {
	f := r.Finding
	f.FoundAt = time.UnixMilli(r.FoundMs).UTC()
	_ = json.Unmarshal([]byte(r.Hashes), &f.TokenHashes)
	if r.ResolvedMs.Valid {
		t := time.UnixMilli(r.ResolvedMs.Int64).UTC()
		f.ResolvedAt = &t
	}
	return f
}

const findingCols = "finding_id, found_at, place, row_ref, subject_ref, token_hashes, strength, status, resolved_at"

// List returns the findings, open ones only unless all.
func List(ctx context.Context, q store.Querier, all bool) ([]Finding, error) {
	var rows []findingRow
	where := " WHERE status = 'open'"
	if all {
		where = ""
	}
	if err := q.Select(ctx, &rows, "SELECT "+findingCols+" FROM residue_findings"+where+" ORDER BY found_at, finding_id"); err != nil {
		return nil, fmt.Errorf("residue: list findings: %w", err)
	}
	out := make([]Finding, len(rows))
	for i, r := range rows {
		out[i] = r.finding()
	}
	return out, nil
}

func get(ctx context.Context, q store.Querier, id string) (Finding, error) {
	var rows []findingRow
	if err := q.Select(ctx, &rows, "SELECT "+findingCols+" FROM residue_findings WHERE finding_id = ?", id); err != nil {
		return Finding{}, fmt.Errorf("residue: finding %s: %w", id, err)
	}
	if len(rows) == 0 {
		return Finding{}, fmt.Errorf("residue finding %s: %w", id, store.ErrNotFound)
	}
	return rows[0].finding(), nil
}

// RedactReport says what Redact did (or, dry, would do).
type RedactReport struct {
	Finding  Finding `json:"finding"`
	DryRun   bool    `json:"dry_run"`
	Replaced int     `json:"replaced"` // occurrences replaced by [redacted]
}

// Redact replaces, in the row and column a finding names, every occurrence
// of the erased subject's identifiers (found again by their keyed hashes:
// the clear value is not known) by "[redacted]", and closes the finding;
// audited. Dry run: counts, changes nothing.
func Redact(ctx context.Context, db *store.DB, h Hasher, id string, dryRun bool, actor string, now time.Time) (*RedactReport, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	f, err := get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	rep := &RedactReport{Finding: f, DryRun: dryRun}
	if f.Status != "open" {
		return rep, fmt.Errorf("%w: finding %s is %s", ErrNotRedactable, id, f.Status)
	}
	if f.Place == "blobs" {
		return rep, fmt.Errorf("%w: finding %s is in an attachment's contents, which oubli does not rewrite; review the document and delete or replace the attachment", ErrNotRedactable, id)
	}
	table, col, _ := strings.Cut(f.Place, ".")
	c, ok := lookup(table, col)
	t, tok := tableOf(table)
	if !ok || !tok || c.Kind != Text || t.PKPersonal {
		return rep, fmt.Errorf("%w: finding %s is in %s, which holds a subject's own identifier, not free text; dismiss it after review", ErrNotRedactable, id, f.Place)
	}
	var vals []sql.NullString
	q := fmt.Sprintf("SELECT CAST(%s AS TEXT) FROM %s WHERE %s = ?", quoteIdent(col), quoteIdent(table), quoteIdent(t.PK))
	if err := tx.Select(ctx, &vals, q, f.RowRef); err != nil {
		return rep, fmt.Errorf("residue: redact %s: %w", id, err)
	}
	newText := ""
	if len(vals) == 1 && vals[0].Valid {
		newText, rep.Replaced = redactText(vals[0].String, h, f.TokenHashes)
	}
	if dryRun {
		return rep, nil
	}
	if rep.Replaced > 0 {
		u := fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?", quoteIdent(table), quoteIdent(col), quoteIdent(t.PK))
		if _, err := tx.Exec(ctx, u, newText, f.RowRef); err != nil {
			return rep, fmt.Errorf("residue: redact %s: %w", id, err)
		}
	}
	if err := resolve(ctx, tx, f, "redacted", "residue.redact", actor, now, map[string]any{"finding": f.ID, "place": f.Place, "row": f.RowRef, "replaced": rep.Replaced}); err != nil {
		return rep, err
	}
	rep.Finding.Status = "redacted"
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("residue: redact %s: commit: %w", id, err)
	}
	// On SQLite the WAL and the database file hold the text as it was until
	// a checkpoint copies the new page over it (freed cells are zeroed).
	if _, err := db.Checkpoint(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}

// Dismiss closes a finding the DPO reviewed and decided to keep; audited.
func Dismiss(ctx context.Context, db *store.DB, id, actor string, now time.Time) (Finding, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Finding{}, err
	}
	defer tx.Rollback()
	f, err := get(ctx, tx, id)
	if err != nil {
		return Finding{}, err
	}
	if f.Status != "open" {
		return f, fmt.Errorf("%w: finding %s is %s", ErrNotRedactable, id, f.Status)
	}
	if err := resolve(ctx, tx, f, "dismissed", "residue.dismiss", actor, now, map[string]any{"finding": f.ID, "place": f.Place, "row": f.RowRef}); err != nil {
		return f, err
	}
	f.Status = "dismissed"
	return f, tx.Commit()
}

func resolve(ctx context.Context, tx *store.Tx, f Finding, status, action, actor string, now time.Time, detail map[string]any) error {
	if _, err := tx.Exec(ctx, "UPDATE residue_findings SET status = ?, resolved_at = ? WHERE finding_id = ?", status, store.Millis(now), f.ID); err != nil {
		return fmt.Errorf("residue: %s %s: %w", status, f.ID, err)
	}
	_, err := store.AppendAudit(ctx, tx, store.AuditRecord{At: now.UTC(), Actor: actor, Action: action, SubjectRef: f.SubjectRef, Outcome: "ok", Detail: detail})
	return err
}

// redactText replaces the tokens (or runs of tokens) of s whose keyed hash
// is one of hashes.
func redactText(s string, h Hasher, hashes []string) (string, int) {
	want := map[string]bool{}
	for _, x := range hashes {
		want[x] = true
	}
	type span struct {
		tok, legacy string // legacy: the form hashed before the unification
		start, end  int
	}
	var toks []span
	Tokens(s, func(tok string, start, end int) {
		toks = append(toks, span{tok, legacyToken(s[start:end], tok), start, end})
	})
	const maxN = 8
	var b strings.Builder
	last, n := 0, 0
	for i := 0; i < len(toks); {
		matched := 0
		for k := min(maxN, len(toks)-i); k >= 1; k-- {
			parts := make([]string, k)
			for j := range k {
				parts[j] = toks[i+j].tok
			}
			if want[h.Hash(HashKind, strings.Join(parts, " "))] || k == 1 && toks[i].legacy != "" && want[h.Hash(HashKind, toks[i].legacy)] {
				matched = k
				break
			}
		}
		if matched == 0 {
			i++
			continue
		}
		b.WriteString(s[last:toks[i].start])
		b.WriteString(Redacted)
		last = toks[i+matched-1].end
		n++
		i += matched
	}
	b.WriteString(s[last:])
	return b.String(), n
}
