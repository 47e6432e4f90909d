package infra

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/infracheck"
)

// copyRepo copies the parts of the repository the checks read into a temporary root.
func copyRepo(t *testing.T) string {
	t.Helper()
	src := repoRoot(t)
	dst := t.TempDir()
	for _, dir := range []string{"infra", "scripts", "functions", "docs"} {
		err := filepath.WalkDir(filepath.Join(src, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			target := filepath.Join(dst, rel)
			if d.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"host.json", "go.mod", "README.md"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// replaceIn replaces old by new in a file under root; old must be there, so every mutation really happens.
func replaceIn(t *testing.T, root, rel, old, new string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q: the mutation is out of date", rel, old)
	}
	info, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func writeIn(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestChecksCatchBreakage breaks a copy of the repository in one way at a time and expects the named checks to
// report it, with a message containing the given text. It proves the checks of TestRepositoryPassesEveryCheck can
// fail.
func TestChecksCatchBreakage(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, root string)
		// fail maps each check expected to fail to a text its report must contain.
		fail     map[string]string
		settings []string // handler settings; nil means the real ones
	}{
		{
			name: "bicep syntax: a missing closing brace",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "    retentionInDays: logRetentionDays\n  }\n}", "    retentionInDays: logRetentionDays\n  }\n")
			},
			fail: map[string]string{"bicep syntax": "infra/main.bicep:"},
		},
		{
			name: "bicep syntax: a broken module",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/keyvault.bicep", "sku: {", "sku: {{")
			},
			fail: map[string]string{"bicep syntax": "infra/modules/keyvault.bicep:"},
		},
		{
			name: "parameter renamed in the ARM template",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.MainTemplatePath, `"assignWritePermissions": {`, `"assignWritePermission": {`)
				replaceIn(t, root, infracheck.MainTemplatePath, `parameters('assignWritePermissions')`, `parameters('assignWritePermission')`)
			},
			fail: map[string]string{
				"app registration bicep vs arm": "parameter assignWritePermissions is not in " + infracheck.MainTemplatePath,
				"portal form vs arm":            "output assignWritePermissions is not a parameter",
			},
		},
		{
			name: "parameter renamed in the Bicep template",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.AppRegBicepPath, "param tenantHasIntuneLicense string", "param tenantHasIntune string")
				replaceIn(t, root, infracheck.AppRegBicepPath, "var intuneSelected = tenantHasIntuneLicense == 'Yes'", "var intuneSelected = tenantHasIntune == 'Yes'")
			},
			fail: map[string]string{"app registration bicep vs arm": "parameter tenantHasIntune is not in"},
		},
		{
			name: "form output renamed",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.CreateUIDefinitionPath, `"managedIdentityName": "[basics('managedIdentity').name]"`, `"identityName": "[basics('managedIdentity').name]"`)
			},
			fail: map[string]string{"portal form vs arm": "required parameter managedIdentityName"},
		},
		{
			name: "form refers to an element it does not have",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.CreateUIDefinitionPath, `"[basics('grantAdminConsent')]"`, `"[basics('grantConsent')]"`)
			},
			fail: map[string]string{"portal form vs arm": "basics('grantConsent')"},
		},
		{
			name: "option group default is a value, not a label",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.CreateUIDefinitionPath, `"label": "No",`, `"label": "No, read-only",`)
			},
			fail: map[string]string{"portal form vs arm": `defaultValue "No" is not one of the labels`},
		},
		{
			name: "form default differs from the template default",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.CreateUIDefinitionPath, "\"label\": \"Assign write permissions\",\n        \"defaultValue\": \"No\"",
					"\"label\": \"Assign write permissions\",\n        \"defaultValue\": \"Yes\"")
			},
			fail: map[string]string{"portal form vs arm": `form default "Yes" means "Yes", the template default is No`},
		},
		{
			name: "module parameter renamed",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/functionapp.bicep", "param appSettings object", "param settingsObject object")
				replaceIn(t, root, "infra/modules/functionapp.bicep", "properties: appSettings", "properties: settingsObject")
			},
			fail: map[string]string{"bicep conventions": "module functionApp passes appSettings, which infra/modules/functionapp.bicep does not declare"},
		},
		{
			name: "unused and undescribed parameters",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "param tags object = {}", "param tags object = {}\n\nparam forgotten string = 'x'")
			},
			fail: map[string]string{"bicep conventions": "parameter forgotten has no @description"},
		},
		{
			name: "loadTextContent of a missing file",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.AppRegBicepPath, "loadTextContent('scripts/create-app-registration.sh')", "loadTextContent('scripts/create-app.sh')")
			},
			fail: map[string]string{"bicep conventions": "scripts/create-app.sh does not exist"},
		},
		{
			name: "permission name misspelled in permissions.json",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.PermissionsPath, `"AuditLog.Read.All"`, `"AuditLogs.Read.All"`)
			},
			fail: map[string]string{"generated files": infracheck.PermissionsPath + " is stale"},
		},
		{
			name: "permission name misspelled in the ARM copy",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.MainTemplatePath, `"Policy.Read.All"`, `"Policy.ReadAll"`)
			},
			fail: map[string]string{
				"generated files":               infracheck.MainTemplatePath + " is stale",
				"app registration bicep vs arm": "ARM copy of permissions.json differs",
			},
		},
		{
			name: "deployment script edited without make generate",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.CreateAppScriptPath, "RETRY_ATTEMPTS:-12", "RETRY_ATTEMPTS:-5")
			},
			fail: map[string]string{
				"generated files":               infracheck.MainTemplatePath + " is stale",
				"app registration bicep vs arm": "ARM copy of scripts/create-app-registration.sh differs",
			},
		},
		{
			name: "ARM expression differs from Bicep",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.MainTemplatePath, `"[equals(parameters('assignWritePermissions'), 'Yes')]"`, `"[equals(parameters('assignWritePermissions'), 'yes')]"`)
			},
			fail: map[string]string{"app registration bicep vs arm": "variable writeSelected"},
		},
		{
			name: "ARM template with languageVersion 2.0",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.MainTemplatePath, `"contentVersion": "1.0.0.0",`, `"contentVersion": "1.0.0.0",
  "languageVersion": "2.0",`)
			},
			fail: map[string]string{
				"app registration bicep vs arm": "languageVersion is set",
				"json schemas":                  "must NOT have additional properties (languageVersion)",
			},
		},
		{
			name: "a blank value in the ARM template",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.MainTemplatePath, `"cleanupPreference": "OnSuccess"`, `"cleanupPreference": ""`)
			},
			fail: map[string]string{"app registration bicep vs arm": "cleanupPreference is blank"},
		},
		{
			name: "retention interval out of the service's range",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.AppRegBicepPath, "retentionInterval: 'PT1H'", "retentionInterval: 'P2D'")
			},
			fail: map[string]string{"app registration bicep vs arm": `retentionInterval "P2D" outside PT1H-PT26H`},
		},
		{
			name: "role GUID written into a template",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/roleassignments.bicep", "roles['Monitoring Metrics Publisher'])\n    principalId",
					"'3913510d-42f4-4e42-8a64-420c390055eb')\n    principalId")
			},
			fail: map[string]string{"roles": "GUID literal 3913510d-42f4-4e42-8a64-420c390055eb"},
		},
		{
			name: "role name misspelled",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/roleassignments.bicep", "'Storage Queue Data Contributor' //", "'Storage Queue Data Contributer' //")
			},
			fail: map[string]string{"roles": `role "Storage Queue Data Contributer" is not in infra/roles.json`},
		},
		{
			name: "wrong role id in the table",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.RolesPath, "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "b86a8fe4-44ce-4948-aee5-eccb2c155cd8")
			},
			fail: map[string]string{"roles": `"Key Vault Secrets Officer" is b86a8fe4-44ce-4948-aee5-eccb2c155cd8`},
		},
		{
			name: "API version changed",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/functionapp.bicep", "'Microsoft.Web/sites@2024-04-01'", "'Microsoft.Web/sites@2023-12-01'")
			},
			fail: map[string]string{"api versions": "Microsoft.Web/sites@2023-12-01, want API version 2024-04-01"},
		},
		{
			name: "Flex app given FUNCTIONS_WORKER_RUNTIME",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "  LOG_LEVEL: logLevel\n", "  LOG_LEVEL: logLevel\n  FUNCTIONS_WORKER_RUNTIME: 'custom'\n")
			},
			fail: map[string]string{"app settings": "sets FUNCTIONS_WORKER_RUNTIME"},
		},
		{
			name: "required app setting dropped",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "  AzureWebJobsStorage__clientId: appIdentity.properties.clientId\n", "")
			},
			fail: map[string]string{"app settings": "does not set AzureWebJobsStorage__clientId"},
		},
		{
			name:     "handler reads a setting nobody classified",
			mutate:   func(t *testing.T, root string) {},
			settings: []string{"LOG_LEVEL", "GRAPH_BASE_URL"},
			fail:     map[string]string{"app settings": "internal/config reads GRAPH_BASE_URL"},
		},
		{
			name: "a binding refers to an app setting the template does not set",
			mutate: func(t *testing.T, root string) {
				writeIn(t, root, "functions/CollectLogs/function.json", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%COLLECT_LOG_SCHEDULE%"}]}`)
				writeIn(t, root, "functions/StreamEvents/function.json", `{"bindings":[{"type":"eventHubTrigger","direction":"in","name":"events","eventHubName":"%STREAM_EVENTHUB_NAME%","connection":"EVENTHUB","cardinality":"many"}]}`)
			},
			fail: map[string]string{"app settings": "uses %COLLECT_LOG_SCHEDULE%"},
		},
		{
			name: "shell script with an unquoted variable",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "scripts/package.sh", `cp host.json "$staging/host.json"`, `cp host.json $staging/host.json`)
			},
			fail: map[string]string{"shell scripts": "SC2086"},
		},
		{
			name: "shell script without strict mode",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "scripts/deploy.sh", "set -euo pipefail\n", "set -e\n")
			},
			fail: map[string]string{"shell scripts": "scripts/deploy.sh: must run with set -euo pipefail"},
		},
		{
			name: "a new parameter nobody documented",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "param tags object = {}", "param tags object = {}\n\n@description('Undocumented.')\nparam shinyNewOption bool = false")
				replaceIn(t, root, "infra/main.bicep", "  LOG_LEVEL: logLevel\n", "  LOG_LEVEL: logLevel\n  SHINY: string(shinyNewOption)\n")
			},
			fail: map[string]string{
				"deployment guide": "does not document the parameter `shinyNewOption`",
				"app settings":     "sets SHINY, which no contract lists",
			},
		},
		{
			name: "Deploy to Azure link to a moved template",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "docs/README-deploy-section.md", "app-registration%2FmainTemplate.json", "app-registration%2Fazuredeploy.json")
			},
			fail: map[string]string{"deploy buttons": "azuredeploy.json"},
		},
		{
			name: "a module gains a resource the ARM twin lacks",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/eventhub.bicep", "@description('Namespace name.')",
					"resource extra 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {\n  parent: eventHub\n  name: 'other'\n}\n\n@description('Namespace name.')")
			},
			fail: map[string]string{"product bicep vs arm": "module eventHub (infra/modules/eventhub.bicep): resource extra (Microsoft.EventHub/namespaces/eventhubs/consumergroups"},
		},
		{
			name: "a property of the ARM twin differs from the module",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductTemplatePath, `"remoteBuild": false`, `"remoteBuild": true`)
			},
			fail: map[string]string{"product bicep vs arm": "resource code (line 154).properties.remoteBuild: bicep build writes false, the ARM template has true"},
		},
		{
			name: "a module property changed in the Bicep only",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/keyvault.bicep", "softDeleteRetentionInDays: 90", "softDeleteRetentionInDays: 30")
			},
			fail: map[string]string{"product bicep vs arm": "resource vault (line 31).properties.softDeleteRetentionInDays: bicep build writes 30, the ARM template has 90"},
		},
		{
			name: "the ARM twin deploys the app before its roles",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductTemplatePath, `"[resourceId('Microsoft.Resources/deployments', 'role-assignments')]",`, ``)
			},
			fail: map[string]string{"product bicep vs arm": ").dependsOn: the ARM template lacks [resourceId('Microsoft.Resources/deployments','role-assignments')]"},
		},
		{
			name: "a runtime variable kept as an ARM variable",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductTemplatePath, "\"variables\": {\n    \"compactPrefix\"", "\"variables\": {\n    \"hostSettings\": {\"a\": \"b\"},\n    \"compactPrefix\"")
			},
			fail: map[string]string{"product bicep vs arm": "variable hostSettings reads a runtime value"},
		},
		{
			name: "a module output renamed in the Bicep only",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/storage.bicep", "output blobEndpoint string", "output blobUrl string")
				replaceIn(t, root, "infra/main.bicep", "storage.outputs.blobEndpoint", "storage.outputs.blobUrl")
			},
			fail: map[string]string{"product bicep vs arm": "output blobUrl (line"},
		},
		{
			name: "a nested template in languageVersion 2.0",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductTemplatePath, "\"template\": {\n          \"$schema\"", "\"template\": {\n          \"languageVersion\": \"2.0\",\n          \"$schema\"")
			},
			fail: map[string]string{
				"product bicep vs arm": "languageVersion is set",
				"json schemas":         "must NOT have additional properties (languageVersion)",
			},
		},
		{
			name: "Bicep the translator does not know",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/modules/storage.bicep", "    name: table\n", "    name: map([table], t => toLower(t))[0]\n")
			},
			fail: map[string]string{"product bicep vs arm": "cannot translate the Bicep"},
		},
		{
			name: "a blank value in the ARM twin",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductTemplatePath, `"reserved": true`, `"reserved": ""`)
			},
			fail: map[string]string{"product bicep vs arm": "reserved is blank"},
		},
		{
			name: "API version drifts in the ARM twin",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductTemplatePath, "\"type\": \"Microsoft.Web/sites/extensions\",\n              \"apiVersion\": \"2024-04-01\"",
					"\"type\": \"Microsoft.Web/sites/extensions\",\n              \"apiVersion\": \"2022-09-01\"")
			},
			fail: map[string]string{
				"api versions":         "Microsoft.Web/sites/extensions@2022-09-01, want API version 2024-04-01",
				"product bicep vs arm": ".apiVersion: bicep build writes \"2024-04-01\"",
			},
		},
		{
			name: "the client secret made an app setting",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "  LOG_LEVEL: logLevel\n", "  LOG_LEVEL: logLevel\n  CLIENT_SECRET: integrationClientSecret\n")
			},
			fail: map[string]string{
				"secure parameters": "secure parameter integrationClientSecret is passed to parameter appSettings of module functionApp",
				"app settings":      "sets CLIENT_SECRET, which no contract lists",
			},
		},
		{
			name: "the client secret made an output",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "infra/main.bicep", "@description('Function app resource id.')",
					"@description('Leaks.')\noutput leak string = integrationClientSecret\n\n@description('Function app resource id.')")
			},
			fail: map[string]string{"secure parameters": "secure parameter integrationClientSecret reaches output leak"},
		},
		{
			name: "the password box feeds a plain parameter",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductUIDefinitionPath, "steps('integration').details.secretId, '')", "steps('integration').details.clientSecret, '')")
			},
			fail: map[string]string{"product form vs arm": "the password box integration:details.clientSecret feeds parameter integrationSecretId"},
		},
		{
			name: "the secure parameter fed from a text box",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductUIDefinitionPath, "\"type\": \"Microsoft.Common.PasswordBox\"", "\"type\": \"Microsoft.Common.TextBox\"")
			},
			fail: map[string]string{"product form vs arm": "the secure parameter integrationClientSecret is not fed by a password box"},
		},
		{
			name: "the form hands the template a value it refuses",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductUIDefinitionPath, "steps('integration').details.permissions, 'read-only')", "steps('integration').details.permissions, 'readonly')")
			},
			fail: map[string]string{"product form vs arm": `output integrationPermissions evaluates to "readonly" with `},
		},
		{
			name: "a slider beyond the parameter's bounds",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductUIDefinitionPath, "\"min\": 0,\n                \"max\": 365", "\"min\": -1,\n                \"max\": 365")
			},
			fail: map[string]string{"product form vs arm": "slider minimum -1 is below the parameter's minValue 0"},
		},
		{
			name: "the form reads a section child it does not have",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductUIDefinitionPath, "[steps('options').streaming.enableEventHub]", "[steps('options').streaming.enableEventHubs]")
			},
			fail: map[string]string{"product form vs arm": "refers to steps('options').streaming.enableEventHubs, which the form does not have"},
		},
		{
			name: "the form forgets an app role",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, infracheck.ProductUIDefinitionPath, "Integration.Reader reads", "Readers read")
			},
			fail: map[string]string{"product form vs arm": "does not name the app role Integration.Reader"},
		},
		{
			name: "the product button points at the main branch",
			mutate: func(t *testing.T, root string) {
				replaceIn(t, root, "README.md", "https%3A%2F%2Fgithub.com%2Fentra-di%2Fedi%2Freleases%2Flatest%2Fdownload%2FmainTemplate.json",
					"https%3A%2F%2Fraw.githubusercontent.com%2Fentra-di%2Fedi%2Fmain%2Finfra%2FmainTemplate.json")
			},
			fail: map[string]string{"deploy buttons": "README.md: link points to https://raw.githubusercontent.com/entra-di/edi/main/infra/mainTemplate.json"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := copyRepo(t)
			c.mutate(t, root)
			settings := c.settings
			if settings == nil {
				settings = handlerSettingNames()
			}
			all := checks(settings)
			checker := &infracheck.Checker{Root: root, Repo: repoRoot(t)}
			for name, want := range c.fail {
				check, ok := all[name]
				if !ok {
					t.Fatalf("no check %q", name)
				}
				errs := check(checker)
				if len(errs) == 0 {
					t.Errorf("check %q passed the broken copy", name)
					continue
				}
				var msgs []string
				for _, e := range errs {
					msgs = append(msgs, e.Error())
				}
				if joined := strings.Join(msgs, "\n"); !strings.Contains(joined, want) {
					t.Errorf("check %q failed, but not with %q:\n%s", name, want, joined)
				}
			}
		})
	}
}
