package bench

// The stores of the scale benchmark (scale_test.go): built once per backend,
// size and schema version into a cache directory, then copied (`cp -a`) for
// every destructive measurement so that each binary starts from the same
// state.
//
// Cache layout, under OUBLI_BENCH_CACHE (default: the user cache directory,
// oubli-bench):
//
//	postgres-1000000-v140/   data/ (a PostgreSQL data directory), blobs/, ledger.log, meta.json
//	sqlite-100000-v140/      oubli.db, blobs/, ledger.log, meta.json
//	work/                    the copies being measured (removed after use)
//
// An entry is complete once meta.json exists. An entry for a newer schema is
// derived from the newest older one by `oubli migrate` of the binary that
// needs it, so every version measures the same data.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/procstat"
	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// binary is one oubli binary under measurement.
type binary struct {
	name    string // "base" or "current"
	path    string
	version int64 // schema version it needs
	ident   string
}

// schemaVersion is the schema version a binary migrates to, read by
// migrating an empty SQLite store.
func schemaVersion(t testing.TB, bin string) int64 {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--db", "sqlite:"+filepath.Join(dir, "v.db"), "--output", "json", "migrate")
	cmd.Env = append(os.Environ(), "OUBLI_SECRET=bench", "OUBLI_BLOBS="+filepath.Join(dir, "blobs"), "OUBLI_LEDGER="+filepath.Join(dir, "ledger.log"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s migrate: %v", bin, err)
	}
	var r struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Version == 0 {
		t.Fatalf("%s migrate --output json: no version in %q", bin, out)
	}
	return r.Version
}

// meta describes a cache entry.
type meta struct {
	Backend string `json:"backend"`
	Tickets int    `json:"tickets"`
	Version int64  `json:"version"`
	Secret  string `json:"secret"`
	// LastRunAt is the --at of the last retention run (ms): a run at that
	// time has nothing to do.
	LastRunAt int64  `json:"last_run_at"`
	Origin    string `json:"origin"`
	BuiltAt   string `json:"built_at"`
	BuildSecs int    `json:"build_seconds"`
}

type cache struct {
	dir string
	log func(format string, args ...any)
}

func newCache(t testing.TB) *cache {
	dir := os.Getenv("OUBLI_BENCH_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "oubli-bench")
	}
	if err := os.MkdirAll(filepath.Join(dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL, run as its own user, must traverse the path.
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(filepath.Join(dir, "work"), 0o755)
	return &cache{dir: dir, log: t.Logf}
}

func (c *cache) entryDir(backend string, size int, v int64) string {
	return filepath.Join(c.dir, fmt.Sprintf("%s-%d-v%d", backend, size, v))
}

func readMeta(dir string) (meta, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return meta{}, false
	}
	var m meta
	if json.Unmarshal(b, &m) != nil {
		return meta{}, false
	}
	return m, true
}

func writeMeta(t testing.TB, dir string, m meta) {
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// entry returns the directory of a store of size tickets at bin's schema
// version, building or deriving it when missing. builder (the binary with
// the oldest schema) seeds a store from scratch.
func (c *cache) entry(t testing.TB, backend string, size int, bin, builder binary) (string, meta) {
	t.Helper()
	want := c.entryDir(backend, size, bin.version)
	if m, ok := readMeta(want); ok {
		return want, m
	}
	// The newest older version of the same store, if any.
	var src string
	var srcMeta meta
	matches, _ := filepath.Glob(filepath.Join(c.dir, fmt.Sprintf("%s-%d-v*", backend, size)))
	for _, d := range matches {
		if m, ok := readMeta(d); ok && m.Version <= bin.version && (src == "" || m.Version > srcMeta.Version) {
			src, srcMeta = d, m
		}
	}
	if src == "" {
		src, srcMeta = c.build(t, backend, size, builder)
		if srcMeta.Version == bin.version {
			return src, srcMeta
		}
		if srcMeta.Version > bin.version {
			t.Fatalf("the %s store of %d tickets was built at schema v%d, newer than %s's v%d: remove %s or build with an older binary", backend, size, srcMeta.Version, bin.name, bin.version, src)
		}
	}
	return c.derive(t, src, srcMeta, want, bin)
}

// derive copies src and migrates the copy with bin.
func (c *cache) derive(t testing.TB, src string, m meta, dst string, bin binary) (string, meta) {
	t.Helper()
	start := time.Now()
	c.log("%s %d: deriving schema v%d from v%d (%s migrate)", m.Backend, m.Tickets, bin.version, m.Version, bin.name)
	tmp := dst + ".tmp"
	os.RemoveAll(tmp)
	cpA(t, src, tmp)
	os.Remove(filepath.Join(tmp, "meta.json"))
	w := open(t, tmp, m)
	w.run(t, bin, 0, "migrate")
	// The first run after an upgrade settles what the new schema can
	// settle (retention/settle.go), once per store: a run as of the last
	// one deletes nothing more, so the figures measure the nights after.
	if m.LastRunAt > 0 {
		w.run(t, bin, 0, "retention", "run", "--allow-large", "--at", rfc(m.LastRunAt, 0))
	}
	w.analyse(t)
	w.close()
	m.Version = bin.version
	m.Origin += fmt.Sprintf("; migrated to v%d by %s", bin.version, bin.ident)
	m.BuildSecs += int(time.Since(start).Seconds())
	writeMeta(t, tmp, m)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst, m
}

// build seeds a store from scratch with builder (or, for PostgreSQL, copies
// the ready-made store named in OUBLI_BENCH_PG_SEED for that size).
func (c *cache) build(t testing.TB, backend string, size int, builder binary) (string, meta) {
	t.Helper()
	start := time.Now()
	m := meta{Backend: backend, Tickets: size, Secret: "bench", BuiltAt: time.Now().UTC().Format(time.RFC3339)}
	tmp := filepath.Join(c.dir, fmt.Sprintf("%s-%d-building", backend, size))
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if seedDir := pgSeed(size); backend == "postgres" && seedDir != "" {
		// A pg.sh-style store: DIR/data, DIR-blobs, DIR-ledger.log.
		c.log("postgres %d: copying the ready-made store %s", size, seedDir)
		cpA(t, filepath.Join(seedDir, "data"), filepath.Join(tmp, "data"))
		os.Remove(filepath.Join(tmp, "data", "postmaster.pid"))
		if _, err := os.Stat(seedDir + "-blobs"); err == nil {
			cpA(t, seedDir+"-blobs", filepath.Join(tmp, "blobs"))
		}
		if _, err := os.Stat(seedDir + "-ledger.log"); err == nil {
			cpA(t, seedDir+"-ledger.log", filepath.Join(tmp, "ledger.log"))
		}
		m.Secret = envStr("OUBLI_BENCH_SEED_SECRET", "scale")
		m.Origin = "copied from " + seedDir
		w := open(t, tmp, m)
		w.analyse(t)
		m.Version = w.schemaVersion(t)
		m.LastRunAt = w.lastRunAt(t)
		w.close()
	} else {
		if backend == "postgres" {
			pgInitdb(t, filepath.Join(tmp, "data"))
		}
		w := open(t, tmp, m)
		c.log("%s %d: seeding with %s (once; cached in %s)", backend, size, builder.name, c.dir)
		w.run(t, builder, 0, "migrate")
		w.run(t, builder, 0, "seed", "--synthetic", "--tickets", strconv.Itoa(size), "--old-share", "0.3", "--old-age", "5y10d")
		// The first run as of yesterday: a run as of today then has one
		// day's expiry to do (a run cannot be dated in the future).
		w.run(t, builder, 0, "retention", "run", "--allow-large", "--at", time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339))
		w.analyse(t)
		m.Version = w.schemaVersion(t)
		m.LastRunAt = w.lastRunAt(t)
		w.close()
		m.Origin = fmt.Sprintf("seed --synthetic --tickets %d --old-share 0.3 --old-age 5y10d, then retention run --allow-large as of the day before, by %s", size, builder.ident)
	}
	m.BuildSecs = int(time.Since(start).Seconds())
	writeMeta(t, tmp, m)
	dst := c.entryDir(backend, size, m.Version)
	os.RemoveAll(dst)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	c.log("%s %d: store v%d ready in %s", backend, size, m.Version, time.Since(start).Round(time.Second))
	return dst, m
}

// pgSeed is the ready-made PostgreSQL store for size named in
// OUBLI_BENCH_PG_SEED ("1000000=/work/scale/pg1m,3000000=…"), or "".
func pgSeed(size int) string {
	for _, kv := range strings.Split(os.Getenv("OUBLI_BENCH_PG_SEED"), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && k == strconv.Itoa(size) {
			return v
		}
	}
	return ""
}

// checkout copies a cache entry into the work directory and opens it.
func (c *cache) checkout(t testing.TB, entry string, m meta, name string) *work {
	t.Helper()
	dir := filepath.Join(c.dir, "work", name)
	os.RemoveAll(dir)
	cpA(t, entry, dir)
	w := open(t, dir, m)
	t.Cleanup(func() { w.close(); os.RemoveAll(dir) })
	return w
}

func cpA(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
}

// work is one store being measured: a copy of a cache entry, with its
// PostgreSQL server running when it is one.
type work struct {
	dir    string
	meta   meta
	url    string
	pg     *pgServer
	closed bool
}

func open(t testing.TB, dir string, m meta) *work {
	t.Helper()
	w := &work{dir: dir, meta: m}
	if m.Backend == "postgres" {
		w.pg = pgStart(t, filepath.Join(dir, "data"))
		w.url = w.pg.url("oubli")
	} else {
		w.url = "sqlite:" + filepath.Join(dir, "oubli.db")
	}
	return w
}

func (w *work) close() {
	if w.closed {
		return
	}
	w.closed = true
	if w.pg != nil {
		w.pg.stop()
	}
}

func (w *work) env() []string {
	return append(os.Environ(), "OUBLI_DB="+w.url, "OUBLI_BLOBS="+filepath.Join(w.dir, "blobs"),
		"OUBLI_LEDGER="+filepath.Join(w.dir, "ledger.log"), "OUBLI_SECRET="+w.meta.Secret, "OUBLI_ACTOR=bench")
}

// run runs bin with args on the store and fails the test unless it exits 0
// (timeout 0: none).
func (w *work) run(t testing.TB, bin binary, timeout time.Duration, args ...string) sample {
	t.Helper()
	s := w.measure(t, bin, timeout, args...)
	if s.code != 0 {
		t.Fatalf("%s %v: exit %d\n%s", bin.name, args, s.code, s.out)
	}
	return s
}

// sample is one timed run of a command.
type sample struct {
	d      time.Duration
	rssKiB int64
	code   int // exit code; -1 killed at the timeout
	out    string
}

// measure runs bin with args on the store, timing it and polling its peak
// RSS; it returns whatever the exit code.
func (w *work) measure(t testing.TB, bin binary, timeout time.Duration, args ...string) sample {
	t.Helper()
	cmd := exec.Command(bin.path, args...)
	cmd.Env = w.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s %v: %v", bin.name, args, err)
	}
	peak := procstat.PollPeakRSS(cmd.Process.Pid)
	var timer *time.Timer
	var killed atomic.Bool
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() { killed.Store(true); _ = cmd.Process.Kill() })
	}
	err := cmd.Wait()
	d := time.Since(start)
	if timer != nil {
		timer.Stop()
	}
	s := sample{d: d, rssKiB: peak(), out: tail(out.String())}
	if err != nil {
		s.code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		}
		if killed.Load() {
			s.code = -1
		}
	}
	return s
}

// db opens the store for the harness's own queries.
func (w *work) db(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), w.url)
	if err != nil {
		t.Fatalf("open %s: %v", w.url, err)
	}
	return db
}

func (w *work) schemaVersion(t testing.TB) int64 {
	db := w.db(t)
	defer db.Close()
	v, err := db.SchemaVersion(context.Background())
	if err != nil || v == 0 {
		t.Fatalf("schema version of %s: %v", w.dir, err)
	}
	return v
}

func (w *work) lastRunAt(t testing.TB) int64 {
	db := w.db(t)
	defer db.Close()
	var at int64
	if err := db.Get(context.Background(), &at, "SELECT COALESCE(MAX(at), 0) FROM retention_runs WHERE outcome = 'ok'"); err != nil {
		t.Fatal(err)
	}
	if at == 0 {
		t.Fatalf("%s: no finished retention run in the store", w.dir)
	}
	return at
}

// analyse leaves the store as a long-lived one is: vacuumed and analysed
// (PostgreSQL), checkpointed (SQLite), so every copy starts alike.
func (w *work) analyse(t testing.TB) {
	db := w.db(t)
	defer db.Close()
	q := "VACUUM ANALYZE"
	if w.meta.Backend == "sqlite" {
		q = "PRAGMA wal_checkpoint(TRUNCATE)"
	}
	if _, err := db.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// ledgerLines counts the erasure ledger's lines.
func (w *work) ledgerLines() int {
	b, err := os.ReadFile(filepath.Join(w.dir, "ledger.log"))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// pgServer is a PostgreSQL server on a data directory, on a Unix socket
// only, with the settings of the shared scale clusters (/work/scale/pg.sh).
type pgServer struct {
	data, sock string
	asUser     string
}

func (p *pgServer) url(db string) string {
	return "postgres://postgres@/" + db + "?host=" + p.sock + "&sslmode=disable"
}

func pgCmd(asUser, name string, args ...string) *exec.Cmd {
	bin, _ := testdb.PostgresBinDir()
	path := filepath.Join(bin, name)
	if asUser != "" {
		return exec.Command("runuser", append([]string{"-u", asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// pgUser is the user PostgreSQL runs as: "postgres" when we are root
// (initdb and postgres refuse root), "" (ourselves) otherwise.
func pgUser(t testing.TB) (name string, uid, gid int) {
	if os.Geteuid() != 0 {
		return "", -1, -1
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root and no postgres user to drop to: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return "postgres", uid, gid
}

func pgInitdb(t testing.TB, data string) {
	t.Helper()
	if _, err := testdb.PostgresBinDir(); err != nil {
		t.Fatal(err)
	}
	as, uid, gid := pgUser(t)
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if as != "" {
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := pgCmd(as, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	p := pgStart(t, data)
	defer p.stop()
	admin, err := sql.Open("postgres", p.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE oubli"); err != nil {
		t.Fatalf("create database: %v", err)
	}
}

func pgStart(t testing.TB, data string) *pgServer {
	t.Helper()
	as, uid, gid := pgUser(t)
	sock, err := os.MkdirTemp("", "obpg")
	if err != nil {
		t.Fatal(err)
	}
	if as != "" {
		if err := os.Chown(sock, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(data, "postmaster.pid"))
	p := &pgServer{data: data, sock: sock, asUser: as}
	opts := "-k " + sock + " -c listen_addresses= -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c shared_buffers=256MB -c max_connections=100"
	if out, err := pgCmd(as, "pg_ctl", "-D", data, "-l", filepath.Join(sock, "log"), "-w", "-t", "300", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(sock, "log"))
		os.RemoveAll(sock)
		t.Fatalf("pg_ctl start %s: %v: %s\n%s", data, err, out, log)
	}
	return p
}

func (p *pgServer) stop() {
	_ = pgCmd(p.asUser, "pg_ctl", "-D", p.data, "-m", "fast", "-w", "-t", "300", "stop").Run()
	os.RemoveAll(p.sock)
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
