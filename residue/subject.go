package residue

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/store"
)

// Report is what a residue check found: counts per place, never the values.
//
// Found counts the subject's identifiers in their own records that the
// erasure should have removed: that is residue and fails the erasure. Kept
// counts them in records the policies keep. Findings (strong identifiers)
// and Ambiguous (pseudos, short or numeric user ids) count them in other
// people's records: for the DPO to review, never a failure of the erasure.
type Report struct {
	Scanned     map[string]int64 `json:"scanned"`             // rows looked at per table, and "blobs"
	Found       map[string]int64 `json:"found"`               // "table.column" or "blobs" → residue
	Kept        map[string]int64 `json:"kept"`                // hits inside kept records
	Findings    map[string]int64 `json:"findings,omitempty"`  // strong hits in other people's records
	Ambiguous   map[string]int64 `json:"ambiguous,omitempty"` // weak hits in other people's records
	BlobsKept   int              `json:"blobs_kept"`
	Checkpoint  string           `json:"checkpoint"` // SQLite WAL: done, busy, n/a
	TotalFound  int64            `json:"total_found"`
	Description string           `json:"description,omitempty"`
	// Deferred lists the personal-text places (and "blobs") whose contents
	// the erasure leaves to the sweep (oubli check --residue).
	Deferred []string `json:"deferred,omitempty"`
	// Attachments is what the attachment index answered for the documents
	// (nil when the check did not reach it).
	Attachments *AttachmentCheck `json:"attachments,omitempty"`
	// Unclassified lists text columns of the schema the catalog does not
	// classify; the sweep reads them as personal text.
	Unclassified []string `json:"unclassified,omitempty"`
	// Seconds is how long the check took.
	Seconds float64 `json:"seconds"`
}

func newReport() *Report {
	return &Report{Scanned: map[string]int64{}, Found: map[string]int64{}, Kept: map[string]int64{},
		Findings: map[string]int64{}, Ambiguous: map[string]int64{}}
}

// Subject is an erased subject as the erasure saw it.
type Subject struct {
	Identifiers
	// KeptTickets are the subject's tickets the policies keep.
	KeptTickets map[string]bool
	// DeletedTickets are the subject's tickets the erasure deleted.
	DeletedTickets []string
	// DeletedBlobs are the blob keys whose contents the erasure removed.
	DeletedBlobs []string
	// KeptBlobs counts the attachment contents the policies keep.
	KeptBlobs int
	// KeptAsIs: the subject's row is kept (restricted), user id included.
	KeptAsIs bool
	// Hasher is the store's keyed hasher, for the attachment index; nil
	// means db.Hasher.
	Hasher Hasher
	// Schema is the live schema as the check sees it (ReadSchema); nil
	// reads it. A batch of erasures reads it once.
	Schema *Schema
}

// Schema is what a residue check needs to know of the live schema: the
// text columns the catalog does not classify, the catalogued places the
// schema lacks, and the free-text places with a trigram index.
type Schema struct {
	Unclassified []string
	Stale        []string
	Trigram      map[string]bool
}

// ReadSchema reads the live schema's text columns (Review) and trigram
// indexes.
func ReadSchema(ctx context.Context, db *store.DB) (*Schema, error) {
	unclassified, stale, err := Review(ctx, db)
	if err != nil {
		return nil, err
	}
	tri, err := trigramIndexed(ctx, db)
	if err != nil {
		return nil, err
	}
	return &Schema{Unclassified: unclassified, Stale: stale, Trigram: tri}, nil
}

// CheckSubject checks, after an erasure has committed, that the subject's
// identifiers remain only where the policies keep them. It costs what the
// subject held: equality look-ups through the indexes of the columns that
// hold a subject's own identifiers, the subject's deleted tickets and
// attachment contents looked up by key. The free-text columns and the blob
// contents are left to the sweep and listed under Deferred. On SQLite it
// first checkpoints the WAL, which holds earlier page images.
func CheckSubject(ctx context.Context, db *store.DB, bs blobs.Store, s Subject) (*Report, error) {
	start := time.Now()
	res := newReport()
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	res.BlobsKept = s.KeptBlobs
	switch ok, err := db.Checkpoint(ctx); {
	case err != nil:
		return res, err
	case db.Dialect() != store.SQLite:
		res.Checkpoint = "n/a"
	case ok:
		res.Checkpoint = "done"
	default:
		res.Checkpoint = "busy"
	}
	sch := s.Schema
	if sch == nil {
		var err error
		if sch, err = ReadSchema(ctx, db); err != nil {
			return res, err
		}
	}
	res.Unclassified = sch.Unclassified
	missing := map[string]bool{} // catalogued, not in this schema
	for _, p := range sch.Stale {
		missing[p] = true
	}
	if err := checkKeys(ctx, db, s, missing, res); err != nil {
		return res, err
	}
	if err := checkDeletedTickets(ctx, db, s.DeletedTickets, res); err != nil {
		return res, err
	}
	// The removed attachment contents are gone.
	for _, k := range s.DeletedBlobs {
		res.Scanned["blobs"]++
		ok, err := bs.Exists(ctx, k)
		if err != nil {
			return res, fmt.Errorf("residue: blob: %w", err)
		}
		if ok {
			res.Found["blobs"]++
			res.TotalFound++
		}
	}
	if err := checkText(ctx, db, s, sch.Trigram, res); err != nil {
		return res, err
	}
	h := s.Hasher
	if h == nil {
		sh, err := db.Hasher(ctx)
		if err != nil {
			return res, err
		}
		h = sh
	}
	if err := checkAttachments(ctx, db, h, s, res); err != nil {
		return res, err
	}
	res.Description = "identifiers looked up by index in the subject's own records, in the attachment index and, where a trigram index exists, in free text; " +
		"the places under deferred are searched by the nightly sweep (oubli check --residue), which also reads every attachment byte by byte"
	return res, nil
}

// checkKeys looks the subject's identifiers up, through the indexes of the
// catalog's key columns, in one statement (a UNION ALL of one equality
// look-up per column), and classifies every row found.
func checkKeys(ctx context.Context, db *store.DB, s Subject, missing map[string]bool, res *Report) error {
	var ids []any
	for _, v := range []string{s.UserID, s.Email, s.Pseudo} {
		if v != "" {
			ids = append(ids, v)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	strong := map[string]bool{s.UserID: true, s.Email: true}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	byTable := columns(Key)
	names := make([]string, 0, len(byTable))
	for n := range byTable {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	var args []any
	tables := map[string]Table{}
	for _, name := range names {
		t, ok := tableOf(name)
		if !ok {
			return fmt.Errorf("residue: catalog: table %s has key columns but no row description", name)
		}
		tables[name] = t
		for _, c := range byTable[name] {
			if missing[c.Place()] {
				continue
			}
			parts = append(parts, fmt.Sprintf("SELECT %s AS place, %s AS tbl, CAST(%s AS TEXT) AS v, CAST(%s AS TEXT) AS owner, CAST(%s AS TEXT) AS tk FROM %s WHERE %s IN (%s)",
				quoteLiteral(c.Place()), quoteLiteral(t.Name), quoteIdent(c.Name), ownerCol(t), t.Ticket, quoteIdent(t.Name), quoteIdent(c.Name), marks))
			args = append(args, ids...)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	var rows []struct {
		Place  string         `db:"place"`
		Table  string         `db:"tbl"`
		Value  string         `db:"v"`
		Owner  sql.NullString `db:"owner"`
		Ticket sql.NullString `db:"tk"`
	}
	if err := db.SelectSerial(ctx, &rows, strings.Join(parts, " UNION ALL "), args...); err != nil {
		return fmt.Errorf("residue: look up the subject's identifiers: %w", err)
	}
	for _, t := range names {
		res.Scanned[t] += 0 // every table looked at is listed, found or not
	}
	for _, r := range rows {
		res.Scanned[r.Table]++
		own := r.Owner.String == s.UserID
		switch {
		case own && (s.KeptAsIs || s.KeptTickets[r.Ticket.String]):
			res.Kept[r.Place]++
		case r.Ticket.Valid && s.KeptTickets[r.Ticket.String]:
			res.Kept[r.Place]++
		case own || r.Owner.String == "" && strong[r.Value]:
			res.Found[r.Place]++
			res.TotalFound++
		case strong[r.Value]:
			res.Findings[r.Place]++
		default:
			res.Ambiguous[r.Place]++
		}
	}
	return nil
}

// checkDeletedTickets checks that the deleted tickets and everything
// hanging from them are gone, one statement per 500 tickets.
func checkDeletedTickets(ctx context.Context, db *store.DB, tickets []string, res *Report) error {
	tbls := []string{"tickets", "messages", "attachments"}
	for i := 0; i < len(tickets); i += 500 {
		chunk := tickets[i:min(i+500, len(tickets))]
		list := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		var sel []string
		var args []any
		for _, tbl := range tbls {
			sel = append(sel, fmt.Sprintf("(SELECT COUNT(*) FROM %s WHERE ticket_id IN (%s)) AS %s", tbl, list, tbl))
			for _, id := range chunk {
				args = append(args, id)
			}
		}
		var n struct {
			Tickets     int64 `db:"tickets"`
			Messages    int64 `db:"messages"`
			Attachments int64 `db:"attachments"`
		}
		if err := db.Get(ctx, &n, "SELECT "+strings.Join(sel, ", "), args...); err != nil {
			return fmt.Errorf("residue: deleted tickets: %w", err)
		}
		for _, c := range []struct {
			tbl string
			n   int64
		}{{"tickets", n.Tickets}, {"messages", n.Messages}, {"attachments", n.Attachments}} {
			res.Scanned[c.tbl] += int64(len(chunk))
			if c.n > 0 {
				res.Found[c.tbl+".ticket_id"] += c.n
				res.TotalFound += c.n
			}
		}
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// trigramIndexed returns the "table.column" places that have a pg_trgm
// index (PostgreSQL; none on SQLite).
func trigramIndexed(ctx context.Context, db *store.DB) (map[string]bool, error) {
	out := map[string]bool{}
	if db.Dialect() != store.Postgres {
		return out, nil
	}
	var rows []struct {
		Table string `db:"tablename"`
		Def   string `db:"indexdef"`
	}
	if err := db.Select(ctx, &rows, "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%gin_trgm_ops%'"); err != nil {
		return nil, fmt.Errorf("residue: list trigram indexes: %w", err)
	}
	for _, r := range rows {
		// "CREATE INDEX … USING gin (body gin_trgm_ops)"
		i := strings.LastIndex(r.Def, "(")
		if i < 0 {
			continue
		}
		col := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(r.Def[i+1:]), ")"))
		col = strings.Trim(strings.TrimSpace(strings.TrimSuffix(col, "gin_trgm_ops")), `"`)
		out[r.Table+"."+col] = true
	}
	return out, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// checkText searches the free-text columns that have a trigram index for
// the identifiers of at least three characters, in one statement: per
// column, ILIKE through the index on each identifier's longest token, the
// columns joined by UNION ALL. Each candidate is confirmed as a whole-token
// match of an identifier and classified: in the subject's kept records,
// residue in their own, or a finding in someone else's. Columns without an
// index, and identifiers too short for trigrams, are listed under Deferred
// for the sweep.
func checkText(ctx context.Context, db *store.DB, s Subject, indexed map[string]bool, res *Report) error {
	type ident struct {
		toks     []string
		strength string
		needle   string
	}
	var ids []ident
	short := false
	for _, it := range []struct{ kind, value string }{{"user_id", s.UserID}, {"email", s.Email}, {"pseudo", s.Pseudo}} {
		toks := IdentifierTokens(it.value)
		if len(toks) == 0 {
			continue
		}
		if len(strings.Join(toks, " ")) < 3 {
			short = true
			continue
		}
		// The longest token is the most selective trigram search.
		needle := ""
		for _, tok := range toks {
			if len(tok) > len(needle) {
				needle = tok
			}
		}
		ids = append(ids, ident{toks, strength(it.kind, toks), needle})
	}
	var parts []string
	var args []any
	for _, c := range Catalog {
		if c.Kind != Text {
			continue
		}
		if !indexed[c.Place()] {
			res.Deferred = append(res.Deferred, c.Place())
			continue
		}
		if short {
			res.Deferred = append(res.Deferred, c.Place()+" (identifier too short for a trigram index)")
		}
		t, ok := tableOf(c.Table)
		if !ok {
			return fmt.Errorf("residue: catalog: table %s has text columns but no row description", c.Table)
		}
		if len(ids) == 0 {
			continue
		}
		conds := make([]string, len(ids))
		for i, id := range ids {
			conds[i] = quoteIdent(c.Name) + ` ILIKE ? ESCAPE '\'`
			args = append(args, "%"+likeEscape(id.needle)+"%")
		}
		parts = append(parts, fmt.Sprintf(`SELECT %s AS place, %s AS tbl, CAST(%s AS TEXT) AS pk, CAST(%s AS TEXT) AS v FROM %s WHERE %s`,
			quoteLiteral(c.Place()), quoteLiteral(t.Name), quoteIdent(t.PK), quoteIdent(c.Name), quoteIdent(t.Name), strings.Join(conds, " OR ")))
	}
	if len(parts) == 0 {
		return nil
	}
	var rows []struct {
		Place string `db:"place"`
		Table string `db:"tbl"`
		PK    string `db:"pk"`
		Value string `db:"v"`
	}
	if err := db.SelectSerial(ctx, &rows, strings.Join(parts, " UNION ALL "), args...); err != nil {
		return fmt.Errorf("residue: search free text: %w", err)
	}
	for _, r := range rows {
		res.Scanned[r.Table]++
		t, _ := tableOf(r.Table)
		var owner, ticket string
		var kept, looked bool
		for _, id := range ids {
			if !containsTokens(r.Value, id.toks) {
				continue
			}
			if !looked {
				var err error
				if owner, kept, err = ownerOf(ctx, db, hit{place: r.Place, table: t.Name, pk: r.PK}); err != nil {
					return err
				}
				if t.Ticket != "NULL" {
					_ = db.Get(ctx, &ticket, fmt.Sprintf("SELECT COALESCE(CAST(%s AS TEXT), '') FROM %s WHERE %s = ?", t.Ticket, quoteIdent(t.Name), quoteIdent(t.PK)), r.PK)
				}
				looked = true
			}
			switch {
			case s.KeptTickets[ticket] || owner == s.UserID && (kept || s.KeptAsIs):
				res.Kept[r.Place]++
			case owner == s.UserID:
				res.Found[r.Place]++
				res.TotalFound++
			case id.strength == "strong":
				res.Findings[r.Place]++
			default:
				res.Ambiguous[r.Place]++
			}
		}
	}
	return nil
}

// containsTokens reports whether the tokens of v hold toks in sequence.
func containsTokens(v string, toks []string) bool {
	var all []string
	Tokens(v, func(tok string, _, _ int) { all = append(all, tok) })
	for i := 0; i+len(toks) <= len(all); i++ {
		if slices.Equal(all[i:i+len(toks)], toks) {
			return true
		}
	}
	return false
}

// ownerCol is the table's column naming the row's subject, for the
// equality look-up (the owner query is for single rows).
func ownerCol(t Table) string {
	switch t.Name {
	case "subjects", "tickets", "account_events", "subject_stats", "objections", "dsr_requests", "legal_holds":
		return "user_id"
	case "stats_dirty":
		return "key" // the look-up is by identifier: a row found holds a user id
	}
	return "NULL"
}
