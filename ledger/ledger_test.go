package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oubli/oubli/store"
)

func TestAppendRead(t *testing.T) {
	h := store.NewHasher([]byte("k1"))
	path := filepath.Join(t.TempDir(), "sub", "oubli-erasures.log")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, u := range []string{"u-1", "u-2"} {
		if err := Append(path, NewEntry(h, at, u, u+"@Example.org", "p"+u, "R-1")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"u-1", "example.org", "pu-1"} {
		if strings.Contains(strings.ToLower(string(b)), plain) {
			t.Errorf("ledger holds the plain identifier %q:\n%s", plain, b)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode = %v, want 0600", st.Mode().Perm())
	}
	s, err := Load(path, h)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("entries = %d, want 2", s.Len())
	}
	if _, ok := s.ByUserID(h.Hash("user_id", "u-2")); !ok {
		t.Error("u-2 not found by user id hash")
	}
	if _, ok := s.ByEmail(h.Hash("email", "U-1@example.ORG ")); !ok {
		t.Error("u-1 not found by case-folded e-mail hash")
	}
	if _, ok := s.ByUserID(h.Hash("user_id", "u-3")); ok {
		t.Error("u-3 found but never erased")
	}
}

func TestTornAndCorrupt(t *testing.T) {
	h := store.NewHasher([]byte("k1"))
	good := NewEntry(h, time.Unix(0, 0), "u-1", "a@b.c", "p", "")
	tests := []struct {
		name    string
		content func(dir string) string // writes the file, returns path
		want    int
		wantErr error
	}{
		{"missing file is empty", func(dir string) string { return filepath.Join(dir, "none.log") }, 0, nil},
		{"torn last line skipped", func(dir string) string {
			p := filepath.Join(dir, "l")
			must(t, Append(p, good))
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"v":1,"at":"2026`)
			f.Close()
			return p
		}, 1, nil},
		{"append after torn line stays readable", func(dir string) string {
			p := filepath.Join(dir, "l")
			must(t, Append(p, good))
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"v":1,"at":"2026`)
			f.Close()
			must(t, Append(p, NewEntry(h, time.Unix(0, 0), "u-2", "x@y.z", "q", "")))
			return p
		}, 2, nil},
		{"garbage line is corrupt", func(dir string) string {
			p := filepath.Join(dir, "l")
			os.WriteFile(p, []byte("hello\n"), 0o600)
			must(t, Append(p, good))
			return p
		}, 0, ErrCorrupt},
		{"other key refused", func(dir string) string {
			p := filepath.Join(dir, "l")
			must(t, Append(p, NewEntry(store.NewHasher([]byte("k2")), time.Unix(0, 0), "u-1", "a@b.c", "p", "")))
			return p
		}, 0, ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.content(t.TempDir()), h)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && s.Len() != tt.want {
				t.Errorf("entries = %d, want %d", s.Len(), tt.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ReadSince returns the entries of the last minutes before the given time
// onward, newest first, across the chunks it reads backwards, and stops
// there: a store as current as its ledger reads next to nothing of it.
func TestReadSince(t *testing.T) {
	h := store.NewHasher([]byte("k1"))
	path := filepath.Join(t.TempDir(), "oubli-erasures.log")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2000 // ~500 KB: several chunks
	for i := range n {
		if err := Append(path, NewEntry(h, t0.Add(time.Duration(i)*time.Hour), "u-"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), "a@example.org", "p", "R")); err != nil {
			t.Fatal(err)
		}
	}
	var all []Entry
	if err := Read(path, func(e Entry) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, since := range []int{0, 1, 700, 1999, 2500} {
		var got []Entry
		if err := ReadSince(path, t0.Add(time.Duration(since)*time.Hour), func(e Entry) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		want := max(0, n-since)
		if len(got) != want {
			t.Fatalf("since hour %d: %d entries, want %d", since, len(got), want)
		}
		for i, e := range got {
			if e != all[n-1-i] {
				t.Fatalf("since hour %d: entry %d is %+v, want %+v (newest first)", since, i, e, all[n-1-i])
			}
		}
	}
	if err := ReadSince(filepath.Join(t.TempDir(), "none"), t0, func(Entry) error { t.Fatal("an entry from no file"); return nil }); err != nil {
		t.Fatal(err)
	}
}
