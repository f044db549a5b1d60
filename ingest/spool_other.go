//go:build !linux

package ingest

import "os"

// unnamedSpool is not available here: the caller spools to a named file.
func unnamedSpool() (f *os.File, path string, ok bool) { return nil, "", false }
