package bench

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/procstat"
	"github.com/oubli/oubli/internal/tests3"
)

// TestBlobStoreBench measures the blob-heavy commands on the directory
// store and on S3 (a versioned bucket on a local versitygw), same run, same
// data, SQLite, and prints time and peak RSS per command and backend with
// the ratio S3 / directory. It asserts nothing about them (OUBLI_BENCH=1).
//
// The data: BENCH_S3_OBJECTS tickets of as many subjects, each with one
// 2 KB document; the first BENCH_S3_PURGE are closed in 2015 (past
// retention), the others open (kept). Measured: the ingest of the first
// BENCH_S3_DOCS, `check` of those, `check` of all BENCH_S3_OBJECTS (its
// peak RSS must not grow with the objects), the retention purge deleting
// BENCH_S3_PURGE objects, and the export of one subject holding
// BENCH_S3_EXPORT_MB of documents in 10 MB files. BENCH_S3_FULL=1 takes the
// issue's sizes (10,000 / 100,000 / 75,000 / 500 MB); the defaults are
// small enough for `make bench`. BENCH_S3_BASELINE=PATH also runs `check`
// of that oubli binary (an older build) on the same stores.
func TestBlobStoreBench(t *testing.T) {
	if os.Getenv("OUBLI_BENCH") != "1" {
		t.Skip("set OUBLI_BENCH=1")
	}
	docs, objects, purge, exportMB := 1000, 4000, 3000, 50
	if os.Getenv("BENCH_S3_FULL") == "1" {
		docs, objects, purge, exportMB = 10000, 100000, 75000, 500
	}
	docs = envInt("BENCH_S3_DOCS", docs)
	objects = max(envInt("BENCH_S3_OBJECTS", objects), docs)
	purge = min(envInt("BENCH_S3_PURGE", purge), objects)
	exportMB = envInt("BENCH_S3_EXPORT_MB", exportMB)
	baseline := os.Getenv("BENCH_S3_BASELINE")
	bin := build(t)
	dir := t.TempDir()
	first, rest := filepath.Join(dir, "docs1.jsonl"), filepath.Join(dir, "docs2.jsonl")
	writeDocs(t, first, 0, docs, purge)
	writeDocs(t, rest, docs, objects, purge)
	big := filepath.Join(dir, "big.jsonl")
	writeBigSubject(t, big, exportMB)
	srv := tests3.Start(t)

	type row struct {
		what string
		d    [2]time.Duration
		rss  [2]int64
	}
	var rows []*row
	measure := func(i int, what string, d time.Duration, rss int64) {
		// Logged at once: a run cut short keeps what it measured.
		t.Logf("%s: %s: %s, peak RSS %d MiB", []string{"dir", "s3"}[i], what, d.Round(time.Millisecond), rss>>10)
		for _, r := range rows {
			if r.what == what {
				r.d[i], r.rss[i] = d, rss
				return
			}
		}
		r := &row{what: what}
		r.d[i], r.rss[i] = d, rss
		rows = append(rows, r)
	}
	for i, kind := range []string{"dir", "s3"} {
		w := filepath.Join(dir, kind)
		env := []string{"OUBLI_DB=sqlite:" + filepath.Join(w, "oubli.db"), "OUBLI_LEDGER=" + filepath.Join(w, "ledger.log"), "OUBLI_SECRET=bench"}
		if kind == "dir" {
			env = append(env, "OUBLI_BLOBS="+filepath.Join(w, "blobs"))
		} else {
			env = append(env, srv.Env()...)
			env = append(env, "OUBLI_BLOBS=s3://bench-"+fmt.Sprint(time.Now().UnixNano()%1e6)+"/att")
		}
		run := func(args ...string) (time.Duration, int64) { return runEnv(t, bin, env, args...) }
		run("migrate")
		if kind == "s3" {
			versioned(t, srv, env)
		}
		d, rss := run("ingest", first)
		measure(i, fmt.Sprintf("ingest of %d documents (2 KB)", docs), d, rss)
		check := func(n int) {
			d, rss := run("check")
			measure(i, fmt.Sprintf("check of %d objects", n), d, rss)
			if baseline != "" {
				d, rss := runEnv(t, baseline, env, "check")
				measure(i, fmt.Sprintf("check of %d objects (baseline)", n), d, rss)
			}
		}
		check(docs)
		if objects > docs {
			run("ingest", rest)
			check(objects)
		}
		d, rss = run("retention", "run", "--at", "2026-06-15T00:00:00Z", "--allow-large")
		measure(i, fmt.Sprintf("purge deleting %d objects", purge), d, rss)
		if left := blobsChecked(t, bin, env); left != int64(objects-purge) {
			t.Errorf("%s: %d objects left after the purge, want %d", kind, left, objects-purge)
		}
		run("ingest", big)
		out := filepath.Join(w, "export.zip")
		d, rss = run("export", "--user-id", "u-big", "--out", out)
		measure(i, fmt.Sprintf("export of %d MB (one subject, 10 MB documents)", exportMB), d, rss)
		os.Remove(out)
	}
	t.Logf("| %-48s | %10s | %8s | %10s | %8s | %6s | %6s |", "", "dir time", "dir RSS", "S3 time", "S3 RSS", "time ×", "RSS ×")
	for _, r := range rows {
		t.Logf("| %-48s | %10s | %4d MiB | %10s | %4d MiB | %6.2f | %6.2f |", r.what,
			r.d[0].Round(time.Millisecond), r.rss[0]>>10, r.d[1].Round(time.Millisecond), r.rss[1]>>10, // KiB → MiB
			float64(r.d[1])/float64(max(r.d[0], 1)), float64(r.rss[1])/float64(max(r.rss[0], 1)))
	}
}

// blobsChecked runs `check` and returns how many blobs it listed.
func blobsChecked(t *testing.T, bin string, env []string) int64 {
	t.Helper()
	cmd := exec.Command(bin, "--output", "json", "check")
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.Output() // exit 1 when not clean: the count is what matters
	var r struct {
		Check struct {
			Blobs int64 `json:"blobs_checked"`
		} `json:"check"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("check --output json: %v\n%s", err, tail(string(out)))
	}
	return r.Check.Blobs
}

// versioned turns versioning on for the bucket of env's OUBLI_BLOBS.
func versioned(t *testing.T, srv *tests3.Server, env []string) {
	t.Helper()
	var bucket string
	for _, e := range env {
		if len(e) > len("OUBLI_BLOBS=s3://") && e[:len("OUBLI_BLOBS=s3://")] == "OUBLI_BLOBS=s3://" {
			bucket = e[len("OUBLI_BLOBS=s3://"):]
			bucket = bucket[:bytes.IndexByte([]byte(bucket), '/')]
		}
	}
	srv.EnableVersioning(t, bucket)
}

func runEnv(t *testing.T, bin string, env []string, args ...string) (time.Duration, int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("oubli %v: %v", args, err)
	}
	peak := procstat.PollPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	d := time.Since(start)
	rss := peak()
	if err != nil {
		t.Fatalf("oubli %v: %v\n%s", args, err, tail(out.String()))
	}
	return d, rss
}

// writeDocs writes the tickets from to to (excluded) of the corpus, each
// of its own subject with a 2 KB document: those before old are closed in
// 2015 (past retention at the bench's --at), the others open (kept).
func writeDocs(t *testing.T, path string, from, to, old int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	content := bytes.Repeat([]byte("scanned document "), 2048/17)
	for i := from; i < to; i++ {
		c := append([]byte(fmt.Sprintf("doc %08d ", i)), content...)
		line := ticket(fmt.Sprintf("u-%07d", i), fmt.Sprintf("T-%07d", i), [][]byte{c})
		if i >= old {
			line["status"], line["closed_at"] = "open", nil
		}
		if err := enc.Encode(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writeBigSubject writes one open ticket per 10 MB document of subject
// u-big, mb MB in all (kept by retention: the tickets are open).
func writeBigSubject(t *testing.T, path string, mb int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for i := range (mb + 9) / 10 {
		c := make([]byte, 10<<20)
		for j := range c {
			c[j] = byte(j*31 + i)
		}
		line := ticket("u-big", fmt.Sprintf("T-BIG-%03d", i), [][]byte{c})
		line["status"], line["closed_at"] = "open", nil
		if err := enc.Encode(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

func ticket(uid, tid string, docs [][]byte) map[string]any {
	var atts []map[string]any
	for k, d := range docs {
		atts = append(atts, map[string]any{"attachment_id": fmt.Sprintf("A-%s-%d", tid, k), "message_id": "M-" + tid,
			"filename": "doc.pdf", "content_type": "application/pdf",
			"content_base64": base64.StdEncoding.EncodeToString(d), "uploaded_at": "2015-03-01T10:00:00Z"})
	}
	return map[string]any{"kind": "ticket", "ticket_id": tid, "request_number": "REQ-" + tid,
		"user": map[string]any{"user_id": uid, "email": uid + "@example.org", "pseudo": "p" + uid,
			"account_created_at": "2014-05-02T09:00:00Z", "account_closed_at": "2015-06-01T00:00:00Z"},
		"subject": "s", "description": "d", "status": "closed", "created_at": "2015-03-01T10:00:00Z", "closed_at": "2015-03-05T16:20:00Z",
		"messages":    []map[string]any{{"message_id": "M-" + tid, "author": "user", "body": "b", "sent_at": "2015-03-01T10:00:00Z"}},
		"attachments": atts}
}
