// Command oubli is a GDPR data-subject-rights and retention engine for
// customer-support data. See the README.
package main

import (
	"os"
	_ "time/tzdata" // --tz works where the system has no zoneinfo (a minimal container)

	"github.com/oubli/oubli/cmd/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
