package dsr

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// purgeOnOpen is a blob store through which a concurrent purge strikes: the
// first time the export opens the contents of the ticket's attachment, the
// ticket is deleted (rows committed, contents then removed, as a retention
// run does) just before the read.
type purgeOnOpen struct {
	*blobs.Dir
	db     *store.DB
	ticket string
	key    string
	done   bool
}

func (p *purgeOnOpen) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == p.key && !p.done {
		p.done = true
		err := p.db.InTx(ctx, func(tx *store.Tx) error {
			_, err := store.EraseTickets(ctx, tx, []string{p.ticket}, "retention", 1)
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := p.Dir.Delete(ctx, key); err != nil {
			return nil, err
		}
		if err := store.BlobDeleted(ctx, p.db, key); err != nil {
			return nil, err
		}
	}
	return p.Dir.Open(ctx, key)
}

// TestExportConcurrentPurge (issue 18 item 6): a purge that removes one of
// the subject's tickets and its attachment's contents while the export
// copies attachments does not fail the export: it reads a new snapshot, and
// the archive's rows and files agree (the purged ticket is in neither).
func TestExportConcurrentPurge(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		x := newExporter(t, db, f)
		var key string
		if err := db.Get(ctx, &key, "SELECT blob_key FROM attachments WHERE attachment_id = 'A-ALICE-1'"); err != nil {
			t.Fatal(err)
		}
		x.Blobs = &purgeOnOpen{Dir: f.blobs, db: db, ticket: "T-ALICE-1", key: key}
		out := filepath.Join(t.TempDir(), "a.zip")
		res, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-42"}, Out: out})
		if err != nil {
			t.Fatalf("export during a purge: %v", err)
		}
		if res.RequestStatus != store.RequestDone {
			t.Errorf("request %s is %s", res.RequestID, res.RequestStatus)
		}
		entries := unzip(t, out)
		var data exportedData
		if err := json.Unmarshal(entries["data.json"], &data); err != nil {
			t.Fatal(err)
		}
		var files []string
		for name := range entries {
			if strings.HasPrefix(name, "attachments/") {
				files = append(files, name)
			}
		}
		listed := 0
		for _, tk := range data.Tickets {
			if tk.TicketID == "T-ALICE-1" {
				t.Errorf("the purged ticket is in data.json")
			}
			listed += len(tk.Attachments)
		}
		if listed != len(files) || listed != 2 {
			t.Errorf("data.json lists %d attachments, the archive holds %d files (%v); want 2 and 2", listed, len(files), files)
		}
	})
}
