//go:build !linux

package e2e

import "testing"

// tmpfileSupported: unnamed files (O_TMPFILE) are Linux only.
func tmpfileSupported(*testing.T, string) bool { return false }
