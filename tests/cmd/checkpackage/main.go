// Command checkpackage checks a function app package against the repository with the rules TestPackageZip applies
// (tests/infra/pkgcheck); scripts/release.sh runs it on every release package:
//
//	go run ./tests/cmd/checkpackage -zip dist/release/1.4.0/entra-data-integration.zip -version 1.4.0
//
// It prints every broken rule and exits 1 if there is one.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/entra-di/edi/tests/infra/pkgcheck"
)

func main() {
	zipPath := flag.String("zip", "", "package to check")
	root := flag.String("root", ".", "repository root the package was built from")
	version := flag.String("version", "", "version the handler must carry (empty: not checked)")
	flag.Parse()
	if *zipPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: checkpackage -zip FILE [-root DIR] [-version VERSION]")
		os.Exit(2)
	}
	errs := pkgcheck.Check(*zipPath, *root, *version)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "checkpackage:", err)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "checkpackage: %s follows every rule\n", *zipPath)
}
