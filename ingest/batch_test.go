package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oubli/oubli/ingest"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// attEvery: one ticket line in attEvery has an attachment.
var attEvery = 7

// manyLines is a file spanning several write batches: n ticket lines of
// three messages over n/3 subjects, an account event every fifth line, and
// an attachment every seventh (which flushes the batch early).
func manyLines(t testing.TB, n int, body func(i int) string) (string, int, int) {
	t.Helper()
	var lines []any
	events, atts := 0, 0
	for i := range n {
		u := fmt.Sprintf("u-%d", i/3)
		var ms []obj
		for j := range 3 {
			m := msg(fmt.Sprintf("M-%d-%d", i, j))
			m["body"] = body(i)
			ms = append(ms, m)
		}
		var as []obj
		if attEvery > 0 && i%attEvery == attEvery-1 {
			as = append(as, att(fmt.Sprintf("A-%d", i), fmt.Sprintf("M-%d-0", i), []byte(fmt.Sprintf("contents %d", i))))
			atts++
		}
		lines = append(lines, ticketLine(fmt.Sprintf("T-%d", i), u, ms, as))
		if i%5 == 4 {
			lines = append(lines, event(fmt.Sprintf("E-%d", i), u))
			events++
		}
	}
	return jsonl(t, lines...), events, atts
}

// TestIngestBatchesLoadEveryRow: a file of several batches loads every row
// with the values of its own line, and loading it again changes nothing.
func TestIngestBatchesLoadEveryRow(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		const n = 1500 // 6,000+ rows: several batches of 2,000
		file, events, atts := manyLines(t, n, func(i int) string { return fmt.Sprintf("message of line %d", i) })
		path := writeFile(t, file)
		for round := range 2 {
			if _, err := ingest.File(ctx, db, bs, path, opts()); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			inv := inventory(t, db)
			if inv.Subjects != n/3 || inv.Tickets != n || inv.Messages != 3*n || inv.AccountEvents != int64(events) || inv.Attachments != int64(atts) {
				t.Fatalf("round %d: inventory %+v, want %d subjects, %d tickets, %d messages, %d events, %d attachments",
					round, inv, n/3, n, 3*n, events, atts)
			}
		}
		// Each message holds its own line's body (no row crossed over).
		var bad int
		if err := db.Get(ctx, &bad, `SELECT COUNT(*) FROM messages
			WHERE body <> 'message of line ' || substr(message_id, 3, length(message_id) - 4)`); err != nil {
			t.Fatal(err)
		}
		if bad != 0 {
			t.Fatalf("%d messages hold another line's body", bad)
		}
		var wrongOwner int
		if err := db.Get(ctx, &wrongOwner, `SELECT COUNT(*) FROM tickets t JOIN subjects s ON s.user_id = t.user_id
			WHERE s.email <> s.user_id || '@example.org'`); err != nil {
			t.Fatal(err)
		}
		if wrongOwner != 0 {
			t.Fatalf("%d tickets with a wrong subject", wrongOwner)
		}
	})
}

// TestIngestBatchFailureNamesItsLine: a row the database refuses (here a
// check the test adds to the schema) fails the whole ingest with the
// line at fault named, and nothing is written.
func TestIngestBatchFailureNamesItsLine(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bs := newBlobs(t)
		refuse := map[store.Dialect][]string{
			store.Postgres: {"ALTER TABLE messages ADD CONSTRAINT test_no_boom CHECK (body <> 'boom') NOT VALID"},
			store.SQLite: {`CREATE TRIGGER test_no_boom BEFORE INSERT ON messages WHEN NEW.body = 'boom'
				BEGIN SELECT RAISE(ABORT, 'boom refused'); END`},
		}[db.Dialect()]
		for _, q := range refuse {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		const n, bad = 900, 640 // line 640 of a ticket is in the second batch
		file, _, _ := manyLines(t, n, func(i int) string {
			if i == bad {
				return "boom"
			}
			return "fine"
		})
		// The file's line number of ticket i: events add lines before it.
		want := 0
		for i, l := range strings.Split(file, "\n") {
			if strings.Contains(l, fmt.Sprintf(`"ticket_id":"T-%d"`, bad)) {
				want = i + 1
			}
		}
		_, err := ingest.File(ctx, db, bs, writeFile(t, file), opts())
		if err == nil {
			t.Fatal("ingest of a refused row succeeded")
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("line %d:", want)) {
			t.Fatalf("error does not name line %d: %v", want, err)
		}
		inv := inventory(t, db)
		if inv.Subjects+inv.Tickets+inv.Messages+inv.AccountEvents+inv.Attachments != 0 {
			t.Fatalf("a failed ingest left rows behind: %+v", inv)
		}
		if k := blobCount(t, bs); k != 0 {
			t.Fatalf("a failed ingest left %d blob files", k)
		}
	})
}
