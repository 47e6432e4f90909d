package infra

import (
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
		"portal form vs arm":            (*infracheck.Checker).CheckUIDefinition,
		"json schemas":                  (*infracheck.Checker).CheckJSONSchemas,
		"generated files":               func(c *infracheck.Checker) []error { return infracheck.CheckGenerated(c.Root) },
		"app settings":                  func(c *infracheck.Checker) []error { return c.CheckAppSettings(handlerSettings) },
		"shell scripts":                 (*infracheck.Checker).CheckShell,
		"deploy buttons": func(c *infracheck.Checker) []error {
			return c.CheckDeployButtons("docs/README-deploy-section.md", "docs/deploy.md")
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
