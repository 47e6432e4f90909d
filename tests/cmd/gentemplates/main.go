// Command gentemplates writes the files derived from internal/catalog and from the deployment script:
// infra/app-registration/permissions.json (loaded by the Bicep template) and the permissionSets and scriptContent
// variables of infra/app-registration/mainTemplate.json (the ARM copy for the portal). Run it with `make generate`
// from the repository root; tests/infra fails while the files are stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/entra-di/edi/tests/infra/infracheck"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := infracheck.WriteGenerated(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gentemplates:", err)
		os.Exit(1)
	}
}
