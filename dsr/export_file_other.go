//go:build !linux

package dsr

import "os"

// Unnamed files (O_TMPFILE) are Linux only: elsewhere an archive being
// written has a temp name.

func openUnnamed(string) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(*os.File, string) error { return errNoUnnamed }
