package dsr

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/oubli/oubli/blobs"
	"github.com/oubli/oubli/internal/procstat"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestExportLong measures the export of one large subject: by default
// 10,000 tickets, 50,000 messages and 500 MB of attachments (1,000 files of
// 500 KB), on the backend named by OUBLI_BENCH_BACKEND (sqlite by default).
// It runs with OUBLI_LONG=1 (make test-long). The data is bulk-inserted in
// one transaction; the export runs in a child process (this test binary
// re-executed) so that its wall time and peak RSS are its own. The figures
// are logged; the test fails if the export's peak RSS exceeds 100 MB
// (memory must not grow with the number of messages or attachment sizes).
// Scale with OUBLI_BENCH_TICKETS and OUBLI_BENCH_ATTACHMENT_MB.
func TestExportLong(t *testing.T) {
	if os.Getenv("OUBLI_EXPORT_CHILD") == "1" {
		exportChild(t)
		return
	}
	if os.Getenv("OUBLI_LONG") != "1" {
		t.Skip("set OUBLI_LONG=1 (make test-long) to run the large-export measurement")
	}
	tickets := envInt("OUBLI_BENCH_TICKETS", 10000)
	attMB := envInt("OUBLI_BENCH_ATTACHMENT_MB", 500)
	backend := os.Getenv("OUBLI_BENCH_BACKEND")
	if backend == "" {
		backend = "sqlite"
	}
	dir := t.TempDir()
	url := testdb.URL(t, backend)
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	bd, err := blobs.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, files, attBytes := buildLargeSubject(t, db, bd, tickets, attMB)
	t.Logf("built %d tickets, %d messages, %d attachments (%d MB) in %s", tickets, msgs, files, attBytes>>20, time.Since(start).Round(time.Millisecond))
	db.Close()

	// The disk baseline, measured in the same run: the same attachment
	// files copied into a stored (uncompressed) ZIP, written to a temp
	// file and fsynced, with nothing else. What the export takes beyond it
	// is oubli's own time (target: under 5 s).
	baseOut := filepath.Join(dir, "baseline.zip")
	start = time.Now()
	baseBytes := zipBlobs(t, bd, baseOut)
	base := time.Since(start)

	out := filepath.Join(dir, "big.zip")
	cmd := exec.Command(os.Args[0], "-test.run=^TestExportLong$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OUBLI_EXPORT_CHILD=1", "OUBLI_EXPORT_DB="+url,
		"OUBLI_EXPORT_BLOBS="+bd.Root(), "OUBLI_EXPORT_OUT="+out)
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hwm := procstat.PollPeakRSS(cmd.Process.Pid)
	err = cmd.Wait()
	wall := time.Since(start)
	peakKiB := hwm()
	if err != nil {
		t.Fatalf("export child: %v\n%s", err, outb.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	rssMB := float64(peakKiB) / 1024
	t.Logf("export (%s): wall %s, user %s, sys %s, peak RSS %.1f MB, archive %d MB",
		backend, wall.Round(time.Millisecond), time.Duration(ru.Utime.Nano()).Round(time.Millisecond),
		time.Duration(ru.Stime.Nano()).Round(time.Millisecond), rssMB, st.Size()>>20)
	t.Logf("disk baseline (the same %d MB of files into a stored ZIP, fsynced): %s; export/baseline %.2f; export beyond the disk baseline %s (target < 5 s)",
		baseBytes>>20, base.Round(time.Millisecond), wall.Seconds()/base.Seconds(), (wall - base).Round(time.Millisecond))
	if rssMB > 100 {
		t.Errorf("export peak RSS %.1f MB exceeds 100 MB", rssMB)
	}
	if rssMB == 0 {
		t.Errorf("peak RSS of the export child not measured")
	}
}

// zipBlobs copies every blob of bd into a stored ZIP at path, syncs it and
// returns the bytes copied: what writing the attachments costs the disk.
func zipBlobs(t *testing.T, bd *blobs.Dir, path string) int64 {
	ctx := context.Background()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	var n int64
	err = bd.Walk(ctx, func(key string) error {
		r, err := bd.Open(ctx, key)
		if err != nil {
			return err
		}
		defer r.Close()
		w, err := zw.CreateHeader(&zip.FileHeader{Name: key, Method: zip.Store})
		if err != nil {
			return err
		}
		c, err := io.Copy(w, r)
		n += c
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func exportChild(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv("OUBLI_EXPORT_DB"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bd, err := blobs.NewDir(os.Getenv("OUBLI_EXPORT_BLOBS"))
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t)
	h, err := db.Hasher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x := &Exporter{Register: &Register{DB: db, Policies: e, Hasher: h}, Blobs: bd, Info: e}
	res, err := x.Export(ctx, ExportOptions{Subject: store.SubjectKey{UserID: "u-big"}, Out: os.Getenv("OUBLI_EXPORT_OUT")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res.Counts)
	fmt.Println(string(b))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// buildLargeSubject bulk-inserts one subject with n tickets of 5 messages
// each and attMB MB of attachments in 500 KB files, in one transaction.
func buildLargeSubject(t *testing.T, db *store.DB, bd *blobs.Dir, n, attMB int) (msgs, files int, total int64) {
	ctx := context.Background()
	rng := rand.NewChaCha8([32]byte{1})
	const fileSize = 500 << 10
	nFiles := attMB * (1 << 20) / fileSize
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO subjects (user_id, email, pseudo, account_created_at, restricted, created_at, updated_at)
			VALUES ('u-big', 'big@example.org', 'big', ?, FALSE, ?, ?)`, ms(base), ms(base), ms(base)); err != nil {
			return err
		}
		buf := make([]byte, fileSize)
		for i := range n {
			tid := fmt.Sprintf("T-%06d", i)
			at := base.Add(time.Duration(i) * time.Hour)
			if _, err := tx.Exec(ctx, `INSERT INTO tickets (ticket_id, user_id, request_number, subject, description, status, created_at, closed_at, restricted)
				VALUES (?, 'u-big', ?, ?, ?, 'closed', ?, ?, FALSE)`, tid, "REQ-"+tid, "Sujet de la demande "+tid,
				"Description détaillée de la demande, avec quelques phrases pour faire du volume. "+tid, ms(at), ms(at.Add(48*time.Hour))); err != nil {
				return err
			}
			for j := range 5 {
				author, agent := "user", any(nil)
				if j%2 == 1 {
					author, agent = "agent", fmt.Sprintf("ag-%d", (i+j)%40)
				}
				if _, err := tx.Exec(ctx, "INSERT INTO messages (message_id, ticket_id, author, agent_id, body, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
					fmt.Sprintf("M-%06d-%d", i, j), tid, author, agent,
					"Bonjour, voici un message d'une longueur réaliste pour un échange avec le service client, numéro "+strconv.Itoa(j),
					ms(at.Add(time.Duration(j)*time.Minute))); err != nil {
					return err
				}
				msgs++
			}
			if files < nFiles && i%(max(1, n/nFiles)) == 0 {
				rng.Read(buf)
				key := blobs.NewKey()
				sum, size, err := bd.Put(ctx, key, bytes.NewReader(buf))
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO attachments (attachment_id, ticket_id, message_id, filename, content_type, size, sha256, blob_key, uploaded_at)
					VALUES (?, ?, ?, ?, 'application/pdf', ?, ?, ?, ?)`, "A-"+tid, tid, fmt.Sprintf("M-%06d-0", i),
					"justificatif "+tid+".pdf", size, sum, key, ms(at)); err != nil {
					return err
				}
				files++
				total += size
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs, files, total
}
