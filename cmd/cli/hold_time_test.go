package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// A legal hold placed while a purge batch is under way waits for the batch
// (SQLite: its write transaction; PostgreSQL: LockPurgeBatch) and then
// commits. Its created_at must be read from the clock after that wait,
// inside its own transaction: read before it (as `hold add` did), the hold
// was recorded as older than the batch that anonymised or deleted without
// it, as if the run had ignored a hold in force. The batch and the command
// share one strictly increasing clock, as a run and a hold share e.Now.
func TestHoldTimeReadInsideItsTransaction(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, backend)}
			w.seedSynthetic(20)
			ctx := context.Background()
			db, err := store.Open(ctx, w.db, store.Options{MustExist: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var ticket string
			if err := db.Get(ctx, &ticket, "SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT 1"); err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			tick := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				tick = tick.Add(time.Millisecond)
				return tick
			}
			holdRead := make(chan struct{}, 1)
			holdClock := func() time.Time {
				select {
				case holdRead <- struct{}{}:
				default:
				}
				return clock()
			}

			locked, proceed := make(chan struct{}), make(chan struct{})
			var batchAt time.Time
			batch := make(chan error, 1)
			go func() {
				batch <- db.InTx(ctx, func(tx *store.Tx) error {
					if err := store.LockPurgeBatch(ctx, tx); err != nil {
						return err
					}
					close(locked)
					<-proceed
					batchAt = clock() // the batch's anonymized_at / deleted_at
					return nil
				})
			}()
			<-locked
			type result struct {
				code      int
				out, errs string
			}
			hold := make(chan result, 1)
			go func() {
				code, out, errs := w.runClock(holdClock, "hold", "add", "--ticket", ticket, "--reason", "claim")
				hold <- result{code, out, errs}
			}()
			// Let the command read the clock if it reads it before it waits
			// for the batch (it must not: then this only waits).
			select {
			case <-holdRead:
			case <-time.After(3 * time.Second):
			}
			close(proceed)
			if err := <-batch; err != nil {
				t.Fatal(err)
			}
			r := <-hold
			if r.code != 0 {
				t.Fatalf("hold add: exit %d: %s", r.code, r.errs)
			}
			id := strings.TrimSpace(r.out)
			h, err := store.GetHold(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			if h.CreatedAt <= store.Millis(batchAt) {
				t.Errorf("hold %s committed after the batch is recorded at %s, before the batch (%s)",
					id, store.FromMillis(h.CreatedAt).Format(time.RFC3339Nano), batchAt.Format(time.RFC3339Nano))
			}
			var at int64
			if err := db.Get(ctx, &at, "SELECT at FROM audit_log WHERE action = 'hold.add' ORDER BY seq DESC LIMIT 1"); err != nil {
				t.Fatal(err)
			}
			if at != h.CreatedAt {
				t.Errorf("audit hold.add at %d, hold created_at %d: want the same time", at, h.CreatedAt)
			}
		})
	}
}

// runClock is cliWorld.run with the command's clock.
func (w *cliWorld) runClock(now func() time.Time, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := &Env{In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv: func(k string) string {
			switch k {
			case "OUBLI_DB":
				return w.db
			case "OUBLI_BLOBS":
				return filepath.Join(w.dir, "blobs")
			case "OUBLI_LEDGER":
				return filepath.Join(w.dir, "erasures.log")
			}
			return ""
		},
		Now: now}
	code := env.Run(args)
	return code, out.String(), errb.String()
}

// Adversarial pass 6, F3 and F4: `hold list` shows a hold's planned end (it
// lapses on its own, and the next run purges what it protected); a store
// without a schema is said to have none, not to be out of date.
func TestHoldListShowsUntilAndMissingSchemaMessage(t *testing.T) {
	w := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "sqlite")}
	w.seedSynthetic(5)
	ctx := context.Background()
	db, err := store.Open(ctx, w.db, store.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	var ticket string
	err = db.Get(ctx, &ticket, "SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT 1")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := w.run("hold", "add", "--ticket", ticket, "--reason", "claim", "--until", "2030-03-01"); code != 0 {
		t.Fatalf("hold add: exit %d: %s", code, errOut)
	}
	code, out, errOut := w.run("hold", "list")
	if code != 0 || !strings.Contains(out, "until 2030-03-01T00:00:00Z") {
		t.Fatalf("hold list: exit %d, %q %s; want the hold's end shown", code, out, errOut)
	}

	empty := &cliWorld{t: t, dir: t.TempDir(), db: testdb.URL(t, "postgres")}
	code, _, errOut = empty.run("inventory")
	if code != 2 || !strings.Contains(errOut, "no oubli schema") || strings.Contains(errOut, "out of date") {
		t.Fatalf("inventory on an empty database: exit %d, %q; want exit 2 saying it has no schema, and no more", code, errOut)
	}
}
