package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestEraseFromRate measures `erase --from` in subjects per second on a
// synthetic store (issue 11: target ≥ 20/s on PostgreSQL at 1 M tickets).
// It runs only when OUBLI_ERASE_FROM_TICKETS gives the store's size
// (OUBLI_ERASE_FROM_SUBJECTS: how many to erase, default 200;
// OUBLI_ERASE_FROM_BACKEND: postgres (default) or sqlite). It prints the
// figure; it asserts only that every subject was erased.
func TestEraseFromRate(t *testing.T) {
	size := os.Getenv("OUBLI_ERASE_FROM_TICKETS")
	if size == "" {
		t.Skip("set OUBLI_ERASE_FROM_TICKETS (e.g. 100000) to measure erase --from")
	}
	n := 200
	if s := os.Getenv("OUBLI_ERASE_FROM_SUBJECTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	backend := os.Getenv("OUBLI_ERASE_FROM_BACKEND")
	if backend == "" {
		backend = "postgres"
	}
	w := newWorld(t, backend)
	w.must("migrate")
	w.must("seed", "--synthetic", "--tickets", size, "--old-share", "0.3", "--old-age", "5y10d")
	db := w.open()
	var ids []string
	if err := db.Select(t.Context(), &ids, fmt.Sprintf("SELECT user_id FROM subjects ORDER BY user_id LIMIT %d", n)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	file := w.file("subjects.txt", []byte(strings.Join(ids, "\n")+"\n"))
	r := w.must("--output", "json", "erase", "--from", file)
	var rep struct {
		Subjects, Erased int
		Seconds          float64
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Erased != len(ids) {
		t.Fatalf("erased %d of %d", rep.Erased, len(ids))
	}
	fmt.Printf("erase --from on %s, %s tickets: %d subjects in %.1f s = %.1f subjects/s\n",
		backend, size, rep.Subjects, rep.Seconds, float64(rep.Subjects)/rep.Seconds)
}
