package e2e

import (
	"testing"

	"golang.org/x/sys/unix"
)

// tmpfileSupported reports whether dir's file system creates unnamed files
// (O_TMPFILE): there an export being written has no name at all.
func tmpfileSupported(t *testing.T, dir string) bool {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Logf("%s: no O_TMPFILE (%v): an export being written has a temp name", dir, err)
		return false
	}
	unix.Close(fd)
	return true
}
