package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestReingestChangedMessageLogsChange: re-ingesting a message whose time,
// author or agent changed is an upsert whose update fires the change log's
// triggers; on SQLite they met the log's unique key inside the upsert and
// the re-ingest failed ("UNIQUE constraint failed: stats_dirty.kind,
// stats_dirty.key"), so a corrected export could never be loaded (session-5
// adversarial pass, F1). Each change must load and be logged once.
func TestReingestChangedMessageLogsChange(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
		day := func(d int) int64 { return store.Millis(now.AddDate(0, 0, -d)) }
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(db.InTx(ctx, func(tx *store.Tx) error {
			if err := store.UpsertSubject(ctx, tx, store.Subject{UserID: "u-1", Email: "u1@example.org", Pseudo: "uone"}, now); err != nil {
				return err
			}
			return store.UpsertTicket(ctx, tx, store.Ticket{TicketID: "T-1", UserID: sql.NullString{String: "u-1", Valid: true},
				RequestNumber: "R-1", Subject: "s", Description: "d", DisputeStatus: "none", Status: "open", CreatedAt: day(10)})
		}))
		agent := sql.NullString{String: "ag-1", Valid: true}
		for i, m := range []store.Message{
			{MessageID: "M-1", TicketID: "T-1", Author: "user", Body: "hi", SentAt: day(10)},
			{MessageID: "M-2", TicketID: "T-1", Author: "agent", AgentID: agent, Body: "hello", SentAt: day(9)},
			{MessageID: "M-2", TicketID: "T-1", Author: "agent", AgentID: agent, Body: "hello", SentAt: day(8)},                                       // time moved
			{MessageID: "M-2", TicketID: "T-1", Author: "agent", AgentID: sql.NullString{String: "ag-2", Valid: true}, Body: "hello", SentAt: day(8)}, // agent changed
			{MessageID: "M-2", TicketID: "T-1", Author: "user", Body: "hello", SentAt: day(8)},                                                        // author changed
			{MessageID: "M-1", TicketID: "T-1", Author: "user", Body: "hi", SentAt: day(11)},
		} {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return store.UpsertMessage(ctx, tx, m) }); err != nil {
				t.Fatalf("upsert %d (%s): %v", i, m.MessageID, err)
			}
		}
		var n struct {
			T int `db:"t"`
			D int `db:"d"`
		}
		must(db.Get(ctx, &n, "SELECT SUM(CASE WHEN kind = 't' AND key = 'T-1' THEN 1 ELSE 0 END) AS t, SUM(CASE WHEN kind = 'd' THEN 1 ELSE 0 END) AS d FROM stats_dirty"))
		if n.T == 0 || n.D == 0 {
			t.Errorf("change log after the re-ingests: %d ticket entries, %d agent-day entries; want both logged", n.T, n.D)
		}
		if db.Dialect() == store.SQLite && n.T != 1 {
			t.Errorf("SQLite change log: %d entries for ticket T-1, want one", n.T)
		}
	})
}
