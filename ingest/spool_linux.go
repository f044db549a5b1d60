//go:build linux

package ingest

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// unnamedSpool opens a file in the temporary directory that never has a
// name (O_TMPFILE), and the path that reopens it (/proc/self/fd): a killed
// ingest leaves nothing behind, not even for an instant. ok is false where
// the file system cannot (the caller then falls back to a named file).
func unnamedSpool() (f *os.File, path string, ok bool) {
	fd, err := unix.Open(os.TempDir(), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, "", false
	}
	f = os.NewFile(uintptr(fd), "oubli-ingest spool")
	path = fmt.Sprintf("/proc/self/fd/%d", fd)
	if !canReopen(path) {
		f.Close()
		return nil, "", false
	}
	return f, path, true
}
