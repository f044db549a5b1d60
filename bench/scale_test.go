package bench

// TestScaleBench measures the per-subject rights and the nightly jobs on
// large stores (issue 11): PostgreSQL at BENCH_SIZES tickets (default
// 1,000,000) and SQLite at BENCH_SQLITE_SIZES (default 100,000). Each figure
// is measured for the current binary and, in the same run and on identical
// copies of the store, for a baseline: an older binary (OUBLI_BENCH_BASE) or,
// without one, hand-written SQL doing the same work where that makes sense.
// It prints a markdown table (also written to BENCH_OUT). `make bench-scale`.
//
// The stores are built once per size and schema version and cached
// (scale_store_test.go); every destructive measurement runs on a fresh copy.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/store"
)

// figureDef is one row of the table.
type figureDef struct {
	key, label string
	rate       bool   // subjects/s (higher is better) rather than seconds
	targetPG   string // the target on PostgreSQL at 1 M
	targetLite string // … on SQLite at 100 k
}

var figureDefs = []figureDef{
	{"retention.none", "`retention run`, nothing to do", false, "≤ 1 s", ""},
	{"retention.day", "`retention run`, one day's expiry", false, "≤ 1 s", ""},
	{"erase.dry.p50", "`erase --dry-run` p50", false, "", ""},
	{"erase.dry.p95", "`erase --dry-run` p95", false, "", ""},
	{"erase.p50", "`erase` p50", false, "≤ 1 s", "≤ 0.3 s"},
	{"erase.p95", "`erase` p95", false, "≤ 2 s", ""},
	{"object.p50", "`object --purpose statistics` p50", false, "≤ 0.5 s", "≤ 0.2 s"},
	{"stats.incr", "`stats refresh` after a day's ingest", false, "≤ 2 s", ""},
	{"stats.full", "`stats refresh --full`", false, "", ""},
	{"from.rate", "`erase --from` (subjects/s)", true, "≥ 20/s", ""},
	{"residue", "`check --residue` after `erase --from`", false, "≤ 60 s", ""},
}

// fig is one measured figure of one binary on one store.
type fig struct {
	value  float64 // seconds, or subjects/s
	n      int     // samples
	rssKiB int64   // highest peak RSS over the samples
	series bool    // a percentile over n samples
	notes  []string
}

type figs map[string]*fig

// config is read from the environment.
type config struct {
	pgSizes, liteSizes     []int
	eraseN, objectN, fromN int
	budget, timeout        time.Duration
	out                    string
}

func sizes(k, def string) []int {
	v := envStr(k, def)
	var r []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", ""))); err == nil && n > 0 {
			r = append(r, n)
		}
	}
	slices.Sort(r)
	return r
}

func envDur(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil && d > 0 {
		return d
	}
	return def
}

func TestScaleBench(t *testing.T) {
	if os.Getenv("OUBLI_BENCH_SCALE") != "1" {
		t.Skip("set OUBLI_BENCH_SCALE=1 (make bench-scale)")
	}
	cfg := config{
		pgSizes: sizes("BENCH_SIZES", "1000000"), liteSizes: sizes("BENCH_SQLITE_SIZES", "100000"),
		eraseN: envInt("BENCH_ERASE_N", 20), objectN: envInt("BENCH_OBJECT_N", 10), fromN: envInt("BENCH_FROM_N", 1000),
		budget: envDur("BENCH_BUDGET", 10*time.Minute), timeout: envDur("BENCH_TIMEOUT", 30*time.Minute),
		out: os.Getenv("BENCH_OUT"),
	}
	started := time.Now()
	c := newCache(t)
	cur := binary{name: "current", path: build(t)}
	bins := []binary{cur}
	if p := os.Getenv("OUBLI_BENCH_BASE"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		bins = []binary{{name: "base", path: abs}, cur}
	}
	for i := range bins {
		bins[i].version = schemaVersion(t, bins[i].path)
		v, _ := exec.Command(bins[i].path, "--version").Output()
		id := strings.TrimSpace(string(v))
		if bins[i].name == "current" {
			// Built by go test without the Makefile's version stamp.
			if d, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
				id = "this tree, " + strings.TrimSpace(string(d))
			}
		}
		bins[i].ident = fmt.Sprintf("%s (%s, schema v%d)", bins[i].name, id, bins[i].version)
	}
	builder := bins[0] // the oldest schema seeds the stores

	rep := &report{cfg: cfg, bins: bins, start: started, load: loadAvg()}
	type job struct {
		backend string
		size    int
	}
	var jobs []job
	for _, n := range cfg.pgSizes {
		jobs = append(jobs, job{"postgres", n})
	}
	for _, n := range cfg.liteSizes {
		jobs = append(jobs, job{"sqlite", n})
	}
	for _, j := range jobs {
		t.Run(fmt.Sprintf("%s-%d", j.backend, j.size), func(t *testing.T) {
			sr := benchStore(t, c, cfg, j.backend, j.size, bins, builder)
			rep.stores = append(rep.stores, sr)
			rep.write(t)
		})
	}
	rep.end = time.Now()
	rep.write(t)
}

// storeResult is every figure of every column on one store.
type storeResult struct {
	backend string
	size    int
	origin  string
	columns []string // reference first ("base" or "SQL"), then "current"
	figs    map[string]figs
}

func benchStore(t *testing.T, c *cache, cfg config, backend string, size int, bins []binary, builder binary) *storeResult {
	sr := &storeResult{backend: backend, size: size, figs: map[string]figs{}}
	entries := map[string]string{}
	metas := map[string]meta{}
	for _, b := range bins {
		e, m := c.entry(t, backend, size, b, builder)
		entries[b.name], metas[b.name] = e, m
		sr.columns = append(sr.columns, b.name)
		sr.figs[b.name] = figs{}
	}
	sr.origin = metas[bins[0].name].Origin
	var top, from []string
	// One day's expiry: as of a day after the last run, or, when the
	// store's last run is younger than a day (a ready-made store), as of
	// now; the same for every binary.
	day := 24 * time.Hour
	if last := store.FromMillis(metas[bins[0].name].LastRunAt); last.Add(day).After(time.Now()) {
		day = time.Since(last).Truncate(time.Second)
	}
	// Phase A (retention, erase, object, stats), each binary on its own copy.
	for _, b := range bins {
		w := c.checkout(t, entries[b.name], metas[b.name], fmt.Sprintf("%s-%d-%s-a", backend, size, b.name))
		if top == nil {
			top, from = pickSubjects(t, w, cfg.eraseN+cfg.objectN, cfg.fromN)
		}
		phaseA(t, cfg, w, b, top, day, sr.figs[b.name])
		w.close()
		os.RemoveAll(w.dir)
	}
	// Phase B (erase --from, then the residue sweep).
	for _, b := range bins {
		w := c.checkout(t, entries[b.name], metas[b.name], fmt.Sprintf("%s-%d-%s-b", backend, size, b.name))
		phaseB(t, cfg, w, b, from, sr.figs[b.name])
		w.close()
		os.RemoveAll(w.dir)
	}
	if len(bins) == 1 {
		// No base binary: hand-written SQL where it does the same work.
		w := c.checkout(t, entries["current"], metas["current"], fmt.Sprintf("%s-%d-sql", backend, size))
		f := figs{}
		phaseSQL(t, cfg, w, top[:min(cfg.eraseN, len(top))], f)
		w.close()
		os.RemoveAll(w.dir)
		sr.columns = append([]string{"SQL"}, sr.columns...)
		sr.figs["SQL"] = f
	}
	return sr
}

// pickSubjects returns the n subjects with the most tickets, and m others
// chosen deterministically (by the hash of their id) among those not anonymised.
func pickSubjects(t testing.TB, w *work, n, m int) (top, others []string) {
	db := w.db(t)
	defer db.Close()
	ctx := context.Background()
	if err := db.Select(ctx, &top, "SELECT user_id FROM tickets GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT ?", n); err != nil {
		t.Fatal(err)
	}
	var all []string
	if err := db.Select(ctx, &all, "SELECT user_id FROM subjects WHERE anonymized_at IS NULL"); err != nil {
		t.Fatal(err)
	}
	h := func(s string) string { x := sha256.Sum256([]byte(s)); return string(x[:]) }
	slices.SortFunc(all, func(a, b string) int { return strings.Compare(h(a), h(b)) })
	for _, u := range all {
		if len(others) == m {
			break
		}
		if !slices.Contains(top, u) {
			others = append(others, u)
		}
	}
	return top, others
}

func rfc(ms int64, add time.Duration) string {
	return store.FromMillis(ms).Add(add).Format(time.RFC3339)
}

// one makes a figure of a single sample.
func one(s sample, what string) *fig {
	f := &fig{value: s.d.Seconds(), n: 1, rssKiB: s.rssKiB}
	f.note(s, what)
	return f
}

func (f *fig) note(s sample, what string) {
	switch {
	case s.code == -1:
		f.notes = append(f.notes, fmt.Sprintf("%s killed at the time limit", what))
	case s.code != 0:
		f.notes = append(f.notes, fmt.Sprintf("%s exit %d: %s", what, s.code, lastLine(s.out)))
	}
}

// lastLine is the last line of a command's output that is not a JSON log
// line (the error, usually), shortened.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "{") {
			if len(l) > 120 {
				l = l[:120] + "…"
			}
			return l
		}
	}
	return ""
}

// series runs one command per subject until the subjects or the budget run
// out, and records its p50 and p95.
func series(t testing.TB, cfg config, w *work, b binary, subjects []string, f figs, key string, args func(u string) []string) {
	var ds []float64
	agg := &fig{series: true}
	var spent time.Duration
	for _, u := range subjects {
		if spent >= cfg.budget && len(ds) > 0 {
			agg.notes = append(agg.notes, fmt.Sprintf("budget %s reached after %d of %d", cfg.budget, len(ds), len(subjects)))
			break
		}
		s := w.measure(t, b, cfg.timeout, args(u)...)
		spent += s.d
		ds = append(ds, s.d.Seconds())
		agg.rssKiB = max(agg.rssKiB, s.rssKiB)
		if s.code != 0 {
			agg.note(s, "one run")
		}
	}
	agg.n = len(ds)
	p50, p95 := *agg, *agg
	p50.value, p95.value = percentile(ds, 50), percentile(ds, 95)
	f[key+".p50"] = &p50
	if _, ok := defByKey(key + ".p95"); ok {
		f[key+".p95"] = &p95
	}
	t.Logf("%s %s: p50 %.2fs p95 %.2fs over %d, peak RSS %d MiB %v", b.name, key, p50.value, p95.value, len(ds), agg.rssKiB/1024, agg.notes)
}

// percentile is the nearest-rank percentile.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func defByKey(k string) (figureDef, bool) {
	for _, d := range figureDefs {
		if d.key == k {
			return d, true
		}
	}
	return figureDef{}, false
}

// warm reads the store once (untimed), so the first figure of a phase does
// not pay for a freshly started server's empty cache alone.
func warm(t testing.TB, cfg config, w *work, b binary) {
	if s := w.measure(t, b, cfg.timeout, "inventory"); s.code != 0 {
		t.Logf("%s inventory (warm-up): exit %d %s", b.name, s.code, lastLine(s.out))
	}
}

func phaseA(t *testing.T, cfg config, w *work, b binary, top []string, day time.Duration, f figs) {
	warm(t, cfg, w, b)
	at := w.meta.LastRunAt
	// The store's second night, not measured: the first run anonymised the
	// closed accounts, this one settles what the policies now keep (and,
	// from session 7, vacuums what it settled). Without it the "nothing to
	// do" figure measured this settling (8.5 s at 1 M).
	if s := w.measure(t, b, cfg.timeout, "retention", "run", "--at", rfc(at, 0)); s.code != 0 {
		t.Logf("%s settling run: exit %d %s", b.name, s.code, lastLine(s.out))
	}
	s := w.measure(t, b, cfg.timeout, "retention", "run", "--at", rfc(at, 0))
	f["retention.none"] = one(s, "run")
	s = w.measure(t, b, cfg.timeout, "retention", "run", "--at", rfc(at, day))
	f["retention.day"] = one(s, "run")
	if day < 24*time.Hour {
		f["retention.day"].notes = append(f["retention.day"].notes, fmt.Sprintf("the store's last run was only %s before: the expiry of that span", day.Round(time.Minute)))
	}
	t.Logf("%s retention: nothing %.2fs, one day %.2fs", b.name, f["retention.none"].value, f["retention.day"].value)

	erase := top[:min(cfg.eraseN, len(top))]
	series(t, cfg, w, b, erase, f, "erase.dry", func(u string) []string { return []string{"erase", "--user-id", u, "--dry-run"} })
	series(t, cfg, w, b, erase, f, "erase", func(u string) []string { return []string{"erase", "--user-id", u} })
	object := top[len(erase):]
	series(t, cfg, w, b, object, f, "object", func(u string) []string {
		return []string{"object", "--user-id", u, "--purpose", "statistics"}
	})

	// Statistics: refreshed once, then a day of new tickets, then the
	// incremental refresh and the full one.
	if s := w.measure(t, b, cfg.timeout, "stats", "refresh"); s.code != 0 {
		t.Logf("%s: first stats refresh: exit %d %s", b.name, s.code, lastLine(s.out))
	}
	w.run(t, b, cfg.timeout, "ingest", dayOfTickets(t, w))
	f["stats.incr"] = one(w.measure(t, b, cfg.timeout, "stats", "refresh"), "refresh")
	f["stats.full"] = one(w.measure(t, b, cfg.timeout, "stats", "refresh", "--full"), "refresh")
	t.Logf("%s stats refresh: incremental %.2fs, full %.2fs", b.name, f["stats.incr"].value, f["stats.full"].value)
}

func phaseB(t *testing.T, cfg config, w *work, b binary, subjects []string, f figs) {
	file := filepath.Join(w.dir, "subjects.txt")
	if err := os.WriteFile(file, []byte(strings.Join(subjects, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	warm(t, cfg, w, b)
	before := w.ledgerLines()
	s := w.measure(t, b, cfg.budget, "erase", "--from", file)
	erased := w.ledgerLines() - before
	r := &fig{value: float64(erased) / s.d.Seconds(), n: erased, rssKiB: s.rssKiB}
	if s.code == -1 {
		r.notes = append(r.notes, fmt.Sprintf("stopped at the budget (%s) after %d of %d subjects", cfg.budget, erased, len(subjects)))
	} else {
		r.note(s, "erase --from")
	}
	f["from.rate"] = r
	t.Logf("%s erase --from: %d subjects in %.1fs (%.2f/s) %v", b.name, erased, s.d.Seconds(), r.value, r.notes)
	s = w.measure(t, b, cfg.timeout, "check", "--residue")
	rf := one(s, "check --residue")
	if erased != len(subjects) {
		rf.notes = append(rf.notes, fmt.Sprintf("for the %d subjects erased", erased))
	}
	f["residue"] = rf
	t.Logf("%s check --residue: %.1fs %v", b.name, rf.value, rf.notes)
}

// dayOfTickets writes a day of new tickets (tickets/3650, as the synthetic
// data spreads over ten years) for the incremental statistics.
func dayOfTickets(t testing.TB, w *work) string {
	db := w.db(t)
	var ids []string
	err := db.Select(context.Background(), &ids, "SELECT agent_id FROM messages WHERE agent_id IS NOT NULL AND agent_id <> '' LIMIT 500")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	agents := slices.Compact(ids)
	if len(agents) == 0 {
		agents = []string{"ag-01"}
	}
	now := time.Now().UTC().Truncate(time.Second)
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	var sb strings.Builder
	n := max(1, w.meta.Tickets/3650)
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("bench-day-u%d", i)
		var msgs []map[string]any
		for k := 0; k < 5; k++ {
			m := map[string]any{"message_id": fmt.Sprintf("bench-day-m%d-%d", i, k), "author": "user",
				"body": "Bonjour, où en est ma commande ?", "sent_at": ts(time.Duration(k-10) * time.Minute)}
			if k%2 == 1 {
				m["author"], m["agent_id"], m["body"] = "agent", agents[(i+k)%len(agents)], "Nous vérifions votre commande."
			}
			msgs = append(msgs, m)
		}
		line := map[string]any{"kind": "ticket", "ticket_id": fmt.Sprintf("bench-day-t%d", i), "request_number": fmt.Sprintf("REQ-BENCH-%d", i),
			"user":    map[string]any{"user_id": u, "email": u + "@example.org", "pseudo": fmt.Sprintf("benchday%d", i), "account_created_at": ts(-30 * 24 * time.Hour)},
			"subject": "Commande", "description": "Ma commande n'est pas arrivée.", "status": "closed",
			"created_at": ts(-10 * time.Minute), "closed_at": ts(-time.Minute), "messages": msgs}
		b, _ := json.Marshal(line)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	p := filepath.Join(w.dir, "day.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// phaseSQL measures the hand-written SQL baselines: the retention purge of
// retention_bench_test.go at the same two times, and an erasure that only
// deletes the subject's rows (no statistics, no proof, no ledger).
func phaseSQL(t *testing.T, cfg config, w *work, subjects []string, f figs) {
	db := w.db(t)
	defer db.Close()
	at := w.meta.LastRunAt
	start := time.Now()
	baselineAt(t, db, store.FromMillis(at))
	f["retention.none"] = &fig{value: time.Since(start).Seconds(), n: 1}
	start = time.Now()
	baselineAt(t, db, store.FromMillis(at).Add(24*time.Hour))
	f["retention.day"] = &fig{value: time.Since(start).Seconds(), n: 1}
	var ds []float64
	for _, u := range subjects {
		start := time.Now()
		sqlErase(t, db, u)
		ds = append(ds, time.Since(start).Seconds())
	}
	f["erase.p50"] = &fig{value: percentile(ds, 50), n: len(ds), series: true}
	f["erase.p95"] = &fig{value: percentile(ds, 95), n: len(ds), series: true}
}

// sqlErase deletes a subject's rows in one transaction.
func sqlErase(t testing.TB, db *store.DB, u string) {
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		tickets := "(SELECT ticket_id FROM tickets WHERE user_id = ?)"
		for _, q := range []string{
			"INSERT INTO blob_deletions (blob_key, queued_at, reason) SELECT blob_key, 0, 'baseline' FROM attachments WHERE ticket_id IN " + tickets,
			"DELETE FROM attachments WHERE ticket_id IN " + tickets,
			"DELETE FROM messages WHERE ticket_id IN " + tickets,
			"DELETE FROM tickets WHERE user_id = ?",
			"DELETE FROM account_events WHERE user_id = ?",
			"DELETE FROM subject_stats WHERE user_id = ?",
			"DELETE FROM objections WHERE user_id = ?",
			"DELETE FROM subjects WHERE user_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, u); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SQL erasure: %v", err)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// report renders the results as markdown.
type report struct {
	cfg        config
	bins       []binary
	start, end time.Time
	load       string
	stores     []*storeResult
}

func (r *report) write(t testing.TB) {
	md := r.markdown()
	fmt.Println("\n" + md)
	if r.cfg.out != "" {
		if err := os.WriteFile(r.cfg.out, []byte(md), 0o644); err != nil {
			t.Errorf("write %s: %v", r.cfg.out, err)
		}
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Benchmarks at scale, %s\n\n", r.start.UTC().Format("2006-01-02 15:04 UTC"))
	for _, bin := range r.bins {
		fmt.Fprintf(&b, "- %s\n", bin.ident)
	}
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "- machine: %s, %d CPUs, load average at start %s", host, runtime.NumCPU(), r.load)
	if !r.end.IsZero() {
		fmt.Fprintf(&b, ", at end %s; took %s", loadAvg(), r.end.Sub(r.start).Round(time.Second))
	}
	fmt.Fprintf(&b, "\n- per figure and binary at most %d erasures, %d objections, %d subjects for `erase --from`, within a budget of %s (n = samples taken)\n",
		r.cfg.eraseN, r.cfg.objectN, r.cfg.fromN, r.cfg.budget)
	b.WriteString("- speed-up: the reference's time over the current one's (for subjects/s, current over reference): above 1, the current binary is faster\n")
	for _, s := range r.stores {
		r.storeTable(&b, s)
	}
	r.growth(&b)
	return b.String()
}

func cell(f *fig, rate bool) string {
	if f == nil || math.IsNaN(f.value) {
		return "—"
	}
	v := fmt.Sprintf("%.2f s", f.value)
	if rate {
		v = fmt.Sprintf("%.2f/s", f.value)
	}
	if !rate && (f.n != 1 || f.series) {
		v += fmt.Sprintf(" (n=%d)", f.n)
	}
	return v
}

func rss(f *fig) string {
	if f == nil || f.rssKiB == 0 {
		return "—"
	}
	return fmt.Sprintf("%d MiB", f.rssKiB/1024)
}

func speedup(ref, cur *fig, rate bool) string {
	if ref == nil || cur == nil || ref.value <= 0 || cur.value <= 0 || math.IsNaN(ref.value) || math.IsNaN(cur.value) {
		return "—"
	}
	if rate {
		return fmt.Sprintf("×%.2f", cur.value/ref.value)
	}
	return fmt.Sprintf("×%.2f", ref.value/cur.value)
}

func (r *report) storeTable(b *strings.Builder, s *storeResult) {
	name := map[string]string{"postgres": "PostgreSQL", "sqlite": "SQLite"}[s.backend]
	ref, cur := s.columns[0], "current"
	fmt.Fprintf(b, "\n### %s, %s tickets\n\nStore: %s.\n\n", name, thousands(s.size), s.origin)
	fmt.Fprintf(b, "| figure | target (issue 11) | %s | current | speed-up | peak RSS %s | peak RSS current |\n|---|---|---|---|---|---|---|\n", ref, ref)
	var notes []string
	for _, d := range figureDefs {
		rf, cf := s.figs[ref][d.key], s.figs[cur][d.key]
		if rf == nil && cf == nil {
			continue
		}
		target := d.targetPG
		if s.backend == "sqlite" {
			target = d.targetLite
		}
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", d.label, target, cell(rf, d.rate), cell(cf, d.rate), speedup(rf, cf, d.rate), rss(rf), rss(cf))
		for _, col := range s.columns {
			if f := s.figs[col][d.key]; f != nil && len(f.notes) > 0 && !strings.HasSuffix(d.key, ".p95") {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", d.label, col, strings.Join(f.notes, "; ")))
			}
		}
	}
	b.WriteString("\nPeak RSS target: ≤ 150 MiB.")
	if ref == "SQL" {
		b.WriteString(" SQL: hand-written statements doing the same deletions (the purge of `bench/retention_bench_test.go`; an erasure deleting the subject's rows, without statistics, proof or ledger), timed in-process.")
	}
	b.WriteString("\n")
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
}

// growth compares the largest PostgreSQL store with the smallest.
func (r *report) growth(b *strings.Builder) {
	var pg []*storeResult
	for _, s := range r.stores {
		if s.backend == "postgres" {
			pg = append(pg, s)
		}
	}
	if len(pg) < 2 {
		return
	}
	small, large := pg[0], pg[len(pg)-1]
	fmt.Fprintf(b, "\n### Growth, PostgreSQL %s / %s tickets (time; for subjects/s, time per subject)\n\n| figure | target |", thousands(large.size), thousands(small.size))
	for _, c := range small.columns {
		fmt.Fprintf(b, " %s |", c)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(small.columns)) + "\n")
	for _, d := range figureDefs {
		target := "—"
		if strings.HasPrefix(d.key, "retention.") {
			target = "≤ 1.3"
		}
		fmt.Fprintf(b, "| %s | %s |", d.label, target)
		for _, c := range small.columns {
			a, z := small.figs[c][d.key], large.figs[c][d.key]
			if a == nil || z == nil || a.value <= 0 || z.value <= 0 || math.IsNaN(a.value) || math.IsNaN(z.value) {
				b.WriteString(" — |")
				continue
			}
			g := z.value / a.value
			if d.rate {
				g = a.value / z.value
			}
			fmt.Fprintf(b, " %.2f |", g)
		}
		b.WriteString("\n")
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	return strings.Join(append([]string{s}, out...), ",")
}

// TestScaleReport renders a report of two PostgreSQL sizes without running
// anything: the speed-up of each column and the growth between sizes.
func TestScaleReport(t *testing.T) {
	mk := func(size int, erase, rate float64) *storeResult {
		return &storeResult{backend: "postgres", size: size, origin: "test", columns: []string{"base", "current"}, figs: map[string]figs{
			"base":    {"erase.p50": {value: erase * 10, n: 3, series: true}, "from.rate": {value: rate / 10, n: 7}},
			"current": {"erase.p50": {value: erase, n: 20, series: true, rssKiB: 80 * 1024}, "from.rate": {value: rate, n: 1000}},
		}}
	}
	r := &report{cfg: config{eraseN: 20, objectN: 10, fromN: 1000, budget: time.Minute}, start: time.Now(),
		stores: []*storeResult{mk(1_000_000, 0.5, 40), mk(3_000_000, 0.6, 20)}}
	md := r.markdown()
	for _, want := range []string{
		"### PostgreSQL, 1,000,000 tickets",
		"| `erase` p50 | ≤ 1 s | 5.00 s (n=3) | 0.50 s (n=20) | ×10.00 | — | 80 MiB |",
		"| `erase --from` (subjects/s) | ≥ 20/s | 4.00/s | 40.00/s | ×10.00 | — | — |",
		"### Growth, PostgreSQL 3,000,000 / 1,000,000 tickets",
		"| `erase` p50 | — | 1.20 | 1.20 |",
		"| `erase --from` (subjects/s) | — | 2.00 | 2.00 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
