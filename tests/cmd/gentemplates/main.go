// Command gentemplates writes the files derived from internal/catalog, internal/config and the deployment script:
// infra/app-registration/permissions.json (loaded by the Bicep template), the permissionSets and scriptContent
// variables of infra/app-registration/mainTemplate.json (the ARM copy for the portal), and README.md's data-type
// and configuration tables. Run it with `make generate` from the repository root; tests fail while a file is stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/tests/infra/infracheck"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := infracheck.WriteGenerated(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gentemplates:", err)
		os.Exit(1)
	}
	if err := writeREADMETables(filepath.Join(*root, "README.md")); err != nil {
		fmt.Fprintln(os.Stderr, "gentemplates:", err)
		os.Exit(1)
	}
}

// writeREADMETables replaces the text between README.md's table markers with the tables the catalog and the
// configuration render.
func writeREADMETables(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	for marker, table := range map[string]string{"datatype-table": catalog.MarkdownTable(), "config-table": config.MarkdownTable()} {
		begin, end := "<!-- "+marker+":begin -->", "<!-- "+marker+":end -->"
		i, j := strings.Index(s, begin), strings.Index(s, end)
		if i < 0 || j < i {
			return fmt.Errorf("%s lacks the %s markers", path, marker)
		}
		s = s[:i+len(begin)] + "\n" + table + "\n" + s[j:]
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
