package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The subject exported by the export crash loop: enough tickets and
// attachment bytes that writing the archive is a good share of a run.
const (
	bigUser     = "u-big"
	bigTickets  = 24
	bigAttBytes = 160 << 10
)

// genSubject returns the JSON Lines of subject uid's tickets, each a
// conversation of six messages alternating between the subject and an agent
// and, if attBytes > 0, an attachment of that size; deterministic in seed.
// It also returns the personal values they hold (e-mail, pseudo, texts, file
// names).
func genSubject(seed uint64, uid string, tickets, attBytes int) (jsonl []byte, secrets []string) {
	rng := rand.New(rand.NewPCG(seed, 11))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	email, pseudo := "zq"+uid+".secret-mail@example.org", "Pseudo-"+uid+"-Xq"
	user := map[string]any{"user_id": uid, "email": email, "pseudo": pseudo,
		"account_created_at": "2016-03-01T09:00:00Z", "account_closed_at": nil}
	secrets = append(secrets, email, pseudo)
	for k := 0; k < tickets; k++ {
		tid := fmt.Sprintf("T-%s-%02d", strings.ToUpper(uid), k)
		c := time.Date(2024, time.Month(1+k%12), 1+rng.IntN(28), rng.IntN(24), 0, 0, 0, time.UTC)
		var msgs []map[string]any
		for j := 0; j < 6; j++ {
			body := fmt.Sprintf("Message %d du ticket %s, corps secret mb%d", j, tid, rng.IntN(1e9))
			secrets = append(secrets, body)
			m := map[string]any{"message_id": fmt.Sprintf("M-%s-%d", tid, j), "author": "user", "body": body,
				"sent_at": c.Add(time.Duration(j*(1+rng.IntN(30))) * time.Hour).Format(time.RFC3339)}
			if j%2 == 1 {
				m["author"], m["agent_id"] = "agent", fmt.Sprintf("ag-%d", k%3)
			}
			msgs = append(msgs, m)
		}
		line := map[string]any{"kind": "ticket", "ticket_id": tid, "request_number": "REQ-" + tid, "user": user,
			"subject": "Remboursement " + tid, "description": "Description " + tid, "transaction_ref": "TX-" + tid,
			"status": "closed", "created_at": c.Format(time.RFC3339), "closed_at": c.Add(30 * 24 * time.Hour).Format(time.RFC3339),
			"messages": msgs}
		if attBytes > 0 {
			content := make([]byte, attBytes)
			for i := range content {
				content[i] = byte(rng.IntN(256))
			}
			name := fmt.Sprintf("releve-%s-fb%d.pdf", tid, rng.IntN(1e9))
			secrets = append(secrets, name)
			line["attachments"] = []map[string]any{{"attachment_id": "A-" + tid, "message_id": "M-" + tid + "-0", "filename": name,
				"content_type": "application/pdf", "content_base64": base64.StdEncoding.EncodeToString(content),
				"uploaded_at": c.Format(time.RFC3339)}}
		}
		if err := enc.Encode(line); err != nil {
			panic(err)
		}
	}
	return buf.Bytes(), secrets
}

// stream returns the random stream of a crash loop, distinct per name.
func stream(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// archive is the contents of an export: its entries, and data.json split
// into its top-level fields.
type archive struct {
	sha   string
	files map[string][]byte
	data  map[string]json.RawMessage
}

// readArchive reads an export; it fails the test unless it is a complete
// ZIP whose data.json parses.
func readArchive(t *testing.T, p string) *archive {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read archive: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("archive %s is not a complete ZIP: %v", p, err)
	}
	s := sha256.Sum256(raw)
	a := &archive{sha: hex.EncodeToString(s[:]), files: map[string][]byte{}}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("archive entry %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("archive entry %s: %v", f.Name, err)
		}
		a.files[f.Name] = b
	}
	if err := json.Unmarshal(a.files["data.json"], &a.data); err != nil {
		t.Fatalf("archive data.json: %v", err)
	}
	return a
}

// requestsOf returns data.json's requests in a form without ids and times:
// "type status [action:outcome …]", in the export's order.
func (a *archive) requestsOf(t *testing.T) []string {
	t.Helper()
	var reqs []struct {
		Type, Status string
		Extended     bool
		Actions      []struct{ Action, Outcome string }
	}
	if err := json.Unmarshal(a.data["requests"], &reqs); err != nil {
		t.Fatalf("data.json requests: %v", err)
	}
	var out []string
	for _, r := range reqs {
		var acts []string
		for _, x := range r.Actions {
			acts = append(acts, x.Action+":"+x.Outcome)
		}
		out = append(out, fmt.Sprintf("%s %s extended=%v [%s]", r.Type, r.Status, r.Extended, strings.Join(acts, " ")))
	}
	return out
}

// compareArchives fails unless got holds what want holds: every entry but
// data.json and index.html byte for byte; data.json field by field except
// generated_at, request_id, requests and counts.requests, its requests
// equal to wantRequests (ids and times aside); index.html, when
// sameRegister, byte for byte but for its generation line.
func compareArchives(t *testing.T, what string, want, got *archive, wantRequests []string, sameRegister bool) {
	t.Helper()
	var wn, gn []string
	for n := range want.files {
		wn = append(wn, n)
	}
	for n := range got.files {
		gn = append(gn, n)
	}
	slices.Sort(wn)
	slices.Sort(gn)
	if !slices.Equal(wn, gn) {
		t.Fatalf("%s: archive entries\n got %q\nwant %q", what, gn, wn)
	}
	for _, n := range wn {
		switch n {
		case "data.json", "index.html":
			continue
		}
		if !bytes.Equal(want.files[n], got.files[n]) {
			t.Fatalf("%s: archive entry %s differs from the uninterrupted export's", what, n)
		}
	}
	for k, v := range want.data {
		switch k {
		case "generated_at", "request_id", "requests":
			continue
		case "counts":
			var wc, gc map[string]any
			_ = json.Unmarshal(v, &wc)
			_ = json.Unmarshal(got.data[k], &gc)
			delete(wc, "requests")
			if gc["requests"] != float64(len(wantRequests)) {
				t.Fatalf("%s: data.json counts.requests %v, want %d", what, gc["requests"], len(wantRequests))
			}
			delete(gc, "requests")
			if fmt.Sprint(wc) != fmt.Sprint(gc) {
				t.Fatalf("%s: data.json counts\n got %v\nwant %v", what, gc, wc)
			}
			continue
		}
		if !bytes.Equal(v, got.data[k]) {
			t.Fatalf("%s: data.json %q differs from the uninterrupted export's:\n%s", what, k, diff(string(v), string(got.data[k])))
		}
	}
	if len(got.data) != len(want.data) {
		t.Fatalf("%s: data.json has %d fields, want %d", what, len(got.data), len(want.data))
	}
	if gr := got.requestsOf(t); !slices.Equal(gr, wantRequests) {
		t.Fatalf("%s: data.json requests\n got %q\nwant %q", what, gr, wantRequests)
	}
	if sameRegister {
		strip := func(b []byte) string {
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.Contains(l, `class="meta"`) {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		if w, g := strip(want.files["index.html"]), strip(got.files["index.html"]); w != g {
			t.Fatalf("%s: index.html differs from the uninterrupted export's:\n%s", what, diff(w, g))
		}
	}
}

// holdsFileIn reports whether process pid has a file open in dir (an
// export's archive being written: named, or unnamed "dir/#ino (deleted)").
func holdsFileIn(pid int, dir string) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, dir+"/") {
			return true
		}
	}
	return false
}

// waitWriting waits until p has a file open in dir or has ended; it returns
// false if it ended first.
func waitWriting(p *proc, dir string) bool {
	for !p.finished() {
		if holdsFileIn(p.cmd.Process.Pid, dir) {
			return true
		}
		time.Sleep(300 * time.Microsecond)
	}
	return false
}

// requestState is one request of the register: "type status [action:outcome …]".
type requestState struct {
	id, state, status string
	actions           []string
}

// subjectRequests returns the register's requests of a subject (by its
// user id), oldest first, as data.json orders them.
func (w *world) subjectRequests(uid string) []requestState {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT request_id, type, status, extended FROM dsr_requests WHERE user_id = ? ORDER BY received_at, request_id`, uid)
	if err != nil {
		w.t.Fatalf("requests: %v", err)
	}
	var out []requestState
	for rows.Next() {
		var r requestState
		var typ string
		var ext bool
		if err := rows.Scan(&r.id, &typ, &r.status, &ext); err != nil {
			w.t.Fatal(err)
		}
		r.state = fmt.Sprintf("%s %s extended=%v", typ, r.status, ext)
		out = append(out, r)
	}
	rows.Close()
	for i := range out {
		acts, err := db.Query(ctx, `SELECT action || ':' || outcome FROM dsr_actions WHERE request_id = ? ORDER BY id`, out[i].id)
		if err != nil {
			w.t.Fatalf("actions: %v", err)
		}
		for acts.Next() {
			var a string
			if err := acts.Scan(&a); err != nil {
				w.t.Fatal(err)
			}
			out[i].actions = append(out[i].actions, a)
		}
		acts.Close()
	}
	return out
}

func (r requestState) String() string {
	return fmt.Sprintf("%s [%s]", r.state, strings.Join(r.actions, " "))
}

// exportAudit returns the SHA-256 of every archive the audit trail records
// as exported (dsr.export, ok).
func (w *world) exportAudit() []string {
	w.t.Helper()
	db := w.open()
	defer db.Close()
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT detail FROM audit_log WHERE action = 'dsr.export' AND outcome = 'ok' ORDER BY seq`)
	if err != nil {
		w.t.Fatalf("audit: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			w.t.Fatal(err)
		}
		var v struct {
			SHA string `json:"archive_sha256"`
		}
		if err := json.Unmarshal([]byte(d), &v); err != nil || v.SHA == "" {
			w.t.Fatalf("dsr.export audit detail without archive_sha256: %q", d)
		}
		out = append(out, v.SHA)
	}
	return out
}

// leftovers returns, under root, the files other than keep whose name is an
// export's temp name, which are (part of) a ZIP archive, or whose contents
// hold one of secrets; skip is a directory not looked into (the blob store).
func leftovers(t *testing.T, root, skip string, keep []string, secrets []string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if p == skip {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(keep, p) {
			return nil
		}
		if strings.HasPrefix(de.Name(), ".oubli-export-") {
			out = append(out, p+" (an export's temp file)")
			return nil
		}
		if !de.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte("PK\x03\x04")) {
			out = append(out, p+" (a ZIP archive or part of one)")
			return nil
		}
		for _, s := range secrets {
			secretsChecked.Add(1)
			if bytes.Contains(b, []byte(s)) {
				out = append(out, fmt.Sprintf("%s (holds %q)", p, s))
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// exportRef is an uninterrupted export of the crash loop's subject.
type exportRef struct {
	arc      *archive
	requests []string
	dump     string
	took     time.Duration // the whole run
	writing  time.Duration // from its archive file's opening to its end
}

// exportArgs is the export of bigUser into w's out/ directory, for the
// given request ("" opens one).
func exportArgs(w *world, request string, force bool) []string {
	args := []string{"export", "--user-id", bigUser, "--out", filepath.Join(w.dir, "out", bigUser+".zip")}
	if request != "" {
		args = append(args, "--request", request)
	}
	if force {
		args = append(args, "--force")
	}
	return args
}

// TestCrashExport SIGKILLs `oubli export` at seeded random moments, half of
// them while its archive is being written, with a request named by
// --request or one it opens itself. After each kill:
//   - whatever is at --out is a complete archive, recorded in the audit
//     trail; no temp file is there (on a file system with O_TMPFILE);
//   - the register shows only documented states: the request in_progress
//     (or still open if the kill came first), an auto-opened one
//     in_progress or, if the run had finished, done;
//
// then the recovery (run it again, with --request naming the request left
// in_progress if there is one, and --force in case the killed run had placed
// its archive) exits 0, leaves nothing but the archive in the directory and
// no personal data anywhere else in the installation's directory, and the
// archive equals an uninterrupted export's (but for the register's record of
// the interrupted attempt); check and audit verify pass.
func TestCrashExport(t *testing.T) { testCrashExport(t) }

// TestLongCrashExport is the long export crash loop (make test-long).
func TestLongCrashExport(t *testing.T) {
	if !long() {
		t.Skip("set OUBLI_LONG=1 (make test-long)")
	}
	testCrashExport(t)
}

func testCrashExport(t *testing.T) {
	seed := crashSeed(t)
	iters := crashIterations(t)
	t.Logf("crash seed %d (OUBLI_CRASH_SEED=%d replays it), %d iterations per backend", seed, seed, iters)
	jsonl, secrets := genSubject(5, bigUser, bigTickets, bigAttBytes)
	forEachBackend(t, func(t *testing.T, base *world) {
		b, bi := base.backend, map[string]int{"sqlite": 0, "postgres": 1}[base.backend]
		rng := rand.New(rand.NewPCG(seed, stream("export")))
		base.must("migrate")
		base.ingestFixture(genFixture(13, 12))
		base.must("ingest", base.file("big.jsonl", jsonl))
		base.must("stats", "refresh", "--at", "2025-06-01")
		base.must("hold", "add", "--ticket", "T-U-BIG-02", "--reason", "case 44")
		named := base.openRequest("access", bigUser)
		baseAudit := len(base.exportAudit())
		unnamed := tmpfileSupported(t, base.dir)

		// The references, made when first needed: an uninterrupted export
		// with the named request, and one opening its own.
		refs := map[bool]*exportRef{}
		reference := func(withRequest bool) *exportRef {
			if r, ok := refs[withRequest]; ok {
				return r
			}
			ref := base.clone(t)
			out := filepath.Join(ref.dir, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			req := ""
			if withRequest {
				req = named
			}
			start := time.Now()
			p := ref.start(nil, exportArgs(ref, req, false)...)
			var opened time.Duration
			if waitWriting(p, out) {
				opened = time.Since(start)
			}
			if r := p.wait(); r.code != 0 {
				t.Fatalf("reference export: %s", r)
			}
			took, writing := time.Since(start), time.Duration(0)
			if opened > 0 {
				writing = took - opened
			}
			ref.healthy()
			arc := readArchive(t, filepath.Join(out, bigUser+".zip"))
			refs[withRequest] = &exportRef{arc: arc, requests: arc.requestsOf(t), dump: ref.dump(), took: took, writing: writing}
			t.Logf("export/%s: reference export (request named %v) %v, of which %v from its archive file's opening",
				b, withRequest, took.Round(time.Millisecond), writing.Round(time.Millisecond))
			return refs[withRequest]
		}

		mid, whileWriting, recorded, placed := 0, 0, 0, 0
		for i := 0; i < iters; i++ {
			// Odd iterations are killed once the archive file is open;
			// the request is named on one backend and opened by the
			// command on the other, alternating every two iterations.
			targeted := i%2 == 1
			withRequest := (i/2+bi)%2 == 0
			ref := reference(withRequest)
			w := base.clone(t)
			outDir := filepath.Join(w.dir, "out")
			if err := os.Mkdir(outDir, 0o700); err != nil {
				t.Fatal(err)
			}
			outDir, _ = filepath.EvalSymlinks(outDir)
			out := filepath.Join(outDir, bigUser+".zip")
			req := ""
			if withRequest {
				req = named
			}
			window := ref.took
			if targeted && ref.writing > 0 {
				window = ref.writing
			}
			delay := time.Duration(rng.Int64N(int64(window + window/5)))
			what := fmt.Sprintf("iteration %d (seed %d, request named %v, kill %v after %s)", i, seed, withRequest, delay,
				map[bool]string{true: "the archive's opening", false: "the start"}[targeted && ref.writing > 0])

			p := w.start(nil, exportArgs(w, req, false)...)
			if targeted && ref.writing > 0 {
				waitWriting(p, outDir)
			}
			time.Sleep(delay)
			running := !p.finished()
			writingNow := running && holdsFileIn(p.cmd.Process.Pid, outDir)
			r := p.kill()
			if running && r.code < 0 {
				mid++
				if writingNow {
					whileWriting++
				}
			}
			if r.code > 0 {
				t.Fatalf("%s: killed export failed on its own: %s", what, r)
			}

			// After the kill: the register shows a documented state.
			audit := w.exportAudit()
			killedRecorded := len(audit) > baseAudit
			if len(audit) > baseAudit+1 {
				t.Fatalf("%s: %d exports recorded by one run", what, len(audit)-baseAudit)
			}
			if killedRecorded {
				recorded++
			}
			reqs := w.subjectRequests(bigUser)
			retry := "" // the request the recovery names
			var extra []string
			switch {
			case withRequest:
				if len(reqs) != 1 || reqs[0].id != named {
					t.Fatalf("%s: register after the kill: %v, want only request %s", what, reqs, named)
				}
				wantActs := []string{"request.open:ok"}
				if killedRecorded {
					wantActs = append(wantActs, "export:ok")
				}
				if st := reqs[0].status; st != "open" && st != "in_progress" || st == "open" && killedRecorded || !slices.Equal(reqs[0].actions, wantActs) {
					t.Fatalf("%s: named request after the kill: %v, want in_progress (or open before the command took it) with actions %v", what, reqs[0], wantActs)
				}
				retry = named
			default:
				if len(reqs) < 1 || reqs[0].id != named || reqs[0].String() != "access open extended=false [request.open:ok]" || len(reqs) > 2 {
					t.Fatalf("%s: register after the kill: %v, want request %s untouched and at most one opened by the command", what, reqs, named)
				}
				if len(reqs) == 2 {
					k := reqs[1]
					switch k.String() {
					case "access in_progress extended=false [request.open:ok]":
					case "access in_progress extended=false [request.open:ok export:ok]":
					case "access done extended=false [request.open:ok export:ok request.close:done]":
					default:
						t.Fatalf("%s: the request the killed export opened is %v: not a documented state", what, k)
					}
					if killedRecorded != slices.Contains(k.actions, "export:ok") {
						t.Fatalf("%s: audit trail (%d exports) and register (%v) disagree", what, len(audit)-baseAudit, k)
					}
					if k.status == "in_progress" {
						retry = k.id
					} else {
						extra = append(extra, k.String())
					}
				} else if killedRecorded {
					t.Fatalf("%s: an export is recorded in the audit trail but not in the register", what)
				}
			}
			// Whatever is at --out is a complete export, recorded; no
			// temp file is left beside it (where the file system can
			// hold an archive being written unnamed).
			if _, err := os.Lstat(out); err == nil {
				placed++
				a := readArchive(t, out)
				if !slices.Contains(audit[baseAudit:], a.sha) {
					t.Fatalf("%s: the archive at --out (sha256 %s) is not recorded in the audit trail", what, a.sha)
				}
				compareArchives(t, what+", the killed run's archive", ref.arc, a, ref.requests, withRequest)
			}
			if unnamed {
				if left := leftovers(t, w.dir, w.blobDir(), []string{out}, nil); len(left) > 0 {
					t.Fatalf("%s: left behind by the killed export: %q", what, left)
				}
			}

			// Recovery: run it again, naming the request it left in
			// progress (README: retry with --request rather than open
			// a new one); --force replaces the killed run's archive if
			// it had placed it (complete and recorded, as checked).
			if rr := w.run(nil, exportArgs(w, retry, true)...); rr.code != 0 {
				t.Fatalf("%s: export rerun after the kill: %s", what, rr)
			}
			if left := leftovers(t, w.dir, w.blobDir(), []string{out}, secrets); len(left) > 0 {
				t.Fatalf("%s: left behind after the rerun: %q", what, left)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
				t.Fatalf("%s: the output directory holds %d entries, want only the archive", what, len(ents))
			}
			if st, err := os.Stat(out); err != nil {
				t.Fatalf("%s: archive after the rerun: %v", what, err)
			} else if st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: archive mode %v after the rerun, want 0600", what, st.Mode().Perm())
			}
			got := readArchive(t, out)
			if !slices.Contains(w.exportAudit(), got.sha) {
				t.Fatalf("%s: the rerun's archive is not recorded in the audit trail", what)
			}
			// The rerun's data.json lists the register as it found it:
			// the reference's, plus what the killed run recorded.
			wantReqs := slices.Clone(ref.requests)
			last := len(wantReqs) - 1
			if killedRecorded && len(extra) == 0 {
				wantReqs[last] = strings.TrimSuffix(wantReqs[last], "]") + " export:ok]"
			}
			wantReqs = slices.Insert(wantReqs, last, extra...)
			compareArchives(t, what, ref.arc, got, wantReqs, !killedRecorded && withRequest)

			// The register: the request the rerun named stays
			// in_progress for the operator to close; one it opened is
			// done.
			after := w.subjectRequests(bigUser)
			if n := len(reqs) + map[bool]int{true: 0, false: 1}[retry != ""]; len(after) != n {
				t.Fatalf("%s: register after the rerun: %v, want %d request(s)", what, after, n)
			}
			for _, q := range after[1:] {
				switch {
				case q.id == retry && (q.status != "in_progress" || q.actions[len(q.actions)-1] != "export:ok"),
					q.id != retry && q.status != "done":
					t.Fatalf("%s: request after the rerun: %v (recovery named %q)", what, q, retry)
				}
			}
			if withRequest && (after[0].status != "in_progress" || after[0].actions[len(after[0].actions)-1] != "export:ok") ||
				!withRequest && after[0].String() != "access open extended=false [request.open:ok]" {
				t.Fatalf("%s: named request after the rerun: %v", what, after[0])
			}
			if retry != "" && !withRequest {
				// The operator closes the request of the retried export.
				w.must("requests", "close", retry)
			}
			w.healthy()
			strip := func(s string) string {
				i := strings.Index(s, "== dsr_requests")
				j := strings.Index(s, "== legal_holds")
				return s[:i] + s[j:]
			}
			if got, want := strip(w.dump()), strip(ref.dump); got != want {
				t.Fatalf("%s: state differs from the uninterrupted export's:\n%s", what, diff(want, got))
			}
		}
		crashIters.Add(int64(iters))
		crashMidRun.Add(int64(mid))
		crashExportIters.Add(int64(iters))
		crashExportMidRun.Add(int64(mid))
		t.Logf("export/%s: %d iterations, %d killed mid-run (%d with their archive file open), %d had recorded their export, %d had placed it (O_TMPFILE %v)",
			b, iters, mid, whileWriting, recorded, placed, unnamed)
	})
}
