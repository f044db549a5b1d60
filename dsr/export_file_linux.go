package dsr

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// openUnnamed creates an unnamed file in dir (O_TMPFILE, mode 0600), locked
// like a named temp file so that no sweep takes it once it is given a name.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		// EISDIR: a kernel without O_TMPFILE sees O_DIRECTORY only.
		return nil, errNoUnnamed
	case err != nil:
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed archive)"))
	// It is linked through /proc/self/fd (linkat's AT_EMPTY_PATH needs
	// CAP_DAC_READ_SEARCH): without /proc, a named file instead.
	if _, err := os.Stat(procFD(fd)); err != nil {
		f.Close()
		return nil, errNoUnnamed
	}
	_ = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	return f, nil
}

// linkUnnamed gives the unnamed file f the name path; it fails with an
// error matching fs.ErrExist if path exists.
func linkUnnamed(f *os.File, path string) error {
	if err := unix.Linkat(unix.AT_FDCWD, procFD(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}

func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
