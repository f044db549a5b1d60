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
// data, SQLite: ingest of BENCH_S3_DOCS documents (default 10,000), check
// of them, a retention purge deleting them all, and the export of one
// subject holding BENCH_S3_EXPORT_MB of documents (default 500) in 10 MB
// files. It prints time and peak RSS per command and backend, and asserts
// nothing about them (OUBLI_BENCH=1).
func TestBlobStoreBench(t *testing.T) {
	if os.Getenv("OUBLI_BENCH") != "1" {
		t.Skip("set OUBLI_BENCH=1")
	}
	docs := envInt("BENCH_S3_DOCS", 10000)
	exportMB := envInt("BENCH_S3_EXPORT_MB", 500)
	bin := build(t)
	dir := t.TempDir()
	corpus := filepath.Join(dir, "docs.jsonl")
	writeDocs(t, corpus, docs)
	big := filepath.Join(dir, "big.jsonl")
	writeBigSubject(t, big, exportMB)
	srv := tests3.Start(t)

	type row struct {
		what string
		d    [2]time.Duration
		rss  [2]int64
	}
	rows := []*row{
		{what: fmt.Sprintf("ingest %d documents", docs)},
		{what: fmt.Sprintf("check of %d objects", docs)},
		{what: fmt.Sprintf("purge deleting %d objects", docs)},
		{what: fmt.Sprintf("export of %d MB (one subject)", exportMB)},
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
		rows[0].d[i], rows[0].rss[i] = run("ingest", corpus)
		rows[1].d[i], rows[1].rss[i] = run("check")
		rows[2].d[i], rows[2].rss[i] = run("retention", "run", "--at", "2026-06-15T00:00:00Z", "--allow-large")
		run("ingest", big)
		out := filepath.Join(w, "export.zip")
		rows[3].d[i], rows[3].rss[i] = run("export", "--user-id", "u-big", "--out", out)
	}
	t.Logf("%-36s %12s %10s %12s %10s", "", "dir time", "dir RSS", "S3 time", "S3 RSS")
	for _, r := range rows {
		t.Logf("%-36s %12s %8d MiB %12s %8d MiB", r.what, r.d[0].Round(time.Millisecond), r.rss[0]>>10, r.d[1].Round(time.Millisecond), r.rss[1]>>10) // KiB → MiB
	}
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

// writeDocs writes n closed 2015 tickets of n subjects, each with a 2 KB
// document: all past retention at the bench's --at.
func writeDocs(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	content := bytes.Repeat([]byte("scanned document "), 2048/17)
	for i := range n {
		c := append([]byte(fmt.Sprintf("doc %08d ", i)), content...)
		line := ticket(fmt.Sprintf("u-%07d", i), fmt.Sprintf("T-%07d", i), [][]byte{c})
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
