package infra

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/tests/infra/infracheck"
)

func repoChecker(t *testing.T) *infracheck.Checker {
	t.Helper()
	c, err := infracheck.NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func handlerSettingNames() []string {
	var names []string
	for _, s := range config.Settings {
		names = append(names, s.Name)
	}
	return names
}

// checks are every offline validation, by name; each runs on the repository here and on broken copies in
// mutation_test.go.
func checks(handlerSettings []string) map[string]func(*infracheck.Checker) []error {
	return map[string]func(*infracheck.Checker) []error{
		"bicep syntax":                  (*infracheck.Checker).CheckBicepSyntax,
		"bicep conventions":             (*infracheck.Checker).CheckBicepConventions,
		"api versions":                  (*infracheck.Checker).CheckAPIVersions,
		"roles":                         (*infracheck.Checker).CheckRoles,
		"app registration bicep vs arm": (*infracheck.Checker).CheckAppRegistrationContract,
		"product bicep vs arm":          (*infracheck.Checker).CheckProductContract,
		"portal form vs arm":            (*infracheck.Checker).CheckUIDefinition,
		"product form vs arm":           (*infracheck.Checker).CheckProductUIDefinition,
		"secure parameters":             (*infracheck.Checker).CheckSecureParameters,
		"json schemas":                  (*infracheck.Checker).CheckJSONSchemas,
		"generated files":               func(c *infracheck.Checker) []error { return infracheck.CheckGenerated(c.Root) },
		"app settings":                  func(c *infracheck.Checker) []error { return c.CheckAppSettings(handlerSettings) },
		"shell scripts":                 (*infracheck.Checker).CheckShell,
		"deploy buttons": func(c *infracheck.Checker) []error {
			return c.CheckDeployButtons("README.md", "docs/README-deploy-section.md", "docs/deploy.md")
		},
		"deployment guide": func(c *infracheck.Checker) []error { return c.CheckDocs("docs/deploy.md") },
	}
}

func TestRepositoryPassesEveryCheck(t *testing.T) {
	c := repoChecker(t)
	for name, check := range checks(handlerSettingNames()) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, err := range check(c) {
				t.Error(err)
			}
		})
	}
}

// TestParserAcceptsGraphExtension: tree-sitter-bicep 1.1.0 does not know the `extension` statement of the
// Microsoft Graph Bicep extension; the parser comments such lines out, so a template that uses it still parses,
// while a real syntax error next to it is still reported on its own line.
func TestParserAcceptsGraphExtension(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "infra", "graph.bicep")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	src := `extension microsoftGraphV1

@description('Unique name of the application.')
param uniqueName string = 'edi-app'

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: 'Entra ID Data Integration'
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &infracheck.Checker{Root: root, Repo: repoRoot(t)}
	parsed, err := c.ParseBicep("infra/graph.bicep")
	if err != nil {
		t.Fatal(err)
	}
	if errs := parsed[0].Errors; len(errs) != 0 {
		t.Errorf("a template with an extension statement does not parse: %+v", errs)
	}
	if len(parsed[0].Resources) != 1 || parsed[0].Resources[0].Type != "Microsoft.Graph/applications@v1.0" {
		t.Errorf("resources %+v", parsed[0].Resources)
	}
	broken := strings.Replace(src, "displayName: 'Entra ID Data Integration'\n}", "displayName: 'Entra ID Data Integration'\n", 1)
	if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	c = &infracheck.Checker{Root: root, Repo: repoRoot(t)} // a Checker caches its parses
	parsed, err = c.ParseBicep("infra/graph.bicep")
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed[0].Errors) == 0 {
		t.Error("a missing brace after an extension statement went unnoticed")
	}
}
