package infracheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// MainBicepPath is the app's infrastructure template.
const MainBicepPath = "infra/main.bicep"

// Source says where a setting the handler reads comes from in Azure.
type Source string

// Sources of app settings.
const (
	// FromTemplate: infra/main.bicep sets it.
	FromTemplate Source = "template"
	// FromHost: the Functions host sets it for the handler process.
	FromHost Source = "host"
	// LocalOnly: used only locally; the template must not set it (a storage connection string holds a key).
	LocalOnly Source = "local only"
	// Alternative: an alternative form of a setting the template sets another way.
	Alternative Source = "alternative"
	// Default: the handler's default is right for Azure.
	Default Source = "default"
)

// HandlerSettingSources classifies every setting internal/config reads. A setting added there without an entry
// here fails the check, so the template is reviewed whenever the handler learns a new setting.
var HandlerSettingSources = map[string]Source{
	"FUNCTIONS_CUSTOMHANDLER_PORT":         FromHost,
	"FUNCTIONS_APP_ROOT_PATH":              FromHost,
	"AzureWebJobsStorage":                  LocalOnly,
	"AzureWebJobsStorage__accountName":     FromTemplate,
	"AzureWebJobsStorage__blobServiceUri":  Alternative,
	"AzureWebJobsStorage__queueServiceUri": Alternative,
	"AzureWebJobsStorage__tableServiceUri": Alternative,
	"AzureWebJobsStorage__credential":      FromTemplate,
	"AzureWebJobsStorage__clientId":        FromTemplate,
	"RAW_CONTAINER":                        FromTemplate,
	"FUNCTION_TIMEOUT":                     Default,
	"SHUTDOWN_GRACE":                       Default,
	"LOG_LEVEL":                            FromTemplate,
	"GOMEMLIMIT":                           Default,
	"KEY_VAULT_URL":                        FromTemplate,
	"AZURE_CLIENT_ID":                      FromTemplate,
	"AZURE_AUTHORITY_HOST":                 LocalOnly,
	"ENTRA_INTEGRATION_ID":                 FromTemplate,
	"ENTRA_TENANT_ID":                      FromTemplate,
	"ENTRA_CLIENT_ID":                      FromTemplate,
	"ENTRA_CLIENT_SECRET_NAME":             FromTemplate,
	"ENTRA_SECRET_ID":                      FromTemplate,
	"ENTRA_PERMISSIONS":                    FromTemplate,
	"ENTRA_LICENSES":                       Default,
	"ENTRA_EXCLUDED_GROUPS":                Default,
	"ENTRA_EXCLUDE_GUESTS":                 Default,
	"ENTRA_EXCLUDE_FROM_LOGS":              Default,
	"GRAPH_ENDPOINT":                       Default,
	"ENTRA_AUTHORITY_HOST":                 Default,
	"CONNECT_SECRET_PROPAGATION":           Default,
	"COLLECT_LOGS_SCHEDULE":                FromTemplate,
	"COLLECT_DIRECTORY_SCHEDULE":           FromTemplate,
	"COLLECT_DIRECTORY_FULL":               Default,
	"COLLECT_ROUND_PART":                   Default,
	"COLLECT_LAG":                          Default,
	"COLLECT_BACKFILL_DAYS":                Default,
	"COLLECT_RESWEEPS":                     Default,
	"COLLECT_STREAM_WINDOW":                Default,
	"COLLECT_CONCURRENCY":                  Default,
	"COLLECT_LEASE_TTL":                    Default,
	"GRAPH_BUDGETS":                        Default,
	"INSIGHTS_SCHEDULE":                    FromTemplate,
	"COMPACT_SCHEDULE":                     FromTemplate,
	"INSIGHTS_INACTIVE_DAYS":               Default,
	"INSIGHTS_SIGNIN_DAYS":                 Default,
	// Set after deployment by the administrator, who knows the break-glass accounts (README, Remediation).
	"ENTRA_PROTECTED_USERS":         Default,
	"REMEDIATION_FUNCTION_KEY_ROLE": Default,
	"REMEDIATION_LEASE_TTL":         Default,
	"STREAM_INTEGRATION_ID":         Default,
	"STREAM_DEDUP_DAYS":             Default,
	"CHECK_SECRET_EXPIRY_SCHEDULE":  FromTemplate,
	"SECRET_EXPIRY_THRESHOLDS":      Default,
	// The expiry webhooks are credentials: the administrator adds them after deployment as Key Vault references
	// (README, Secret expiry).
	"SECRET_EXPIRY_WEBHOOK_1":       Default,
	"SECRET_EXPIRY_WEBHOOK_2":       Default,
	"SECRET_EXPIRY_WEBHOOK_3":       Default,
	"SECRET_ROTATION_LEAD_DAYS":     Default,
	"SECRET_ROTATION_LIFETIME_DAYS": Default,
}

// RequiredAppSettings must always be set by the template (the handler's contract with the deployment).
var RequiredAppSettings = []string{
	"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
	"AZURE_CLIENT_ID", "RAW_CONTAINER", "KEY_VAULT_URL",
	"COLLECT_LOGS_SCHEDULE", "COLLECT_DIRECTORY_SCHEDULE", "CHECK_SECRET_EXPIRY_SCHEDULE",
	"INSIGHTS_SCHEDULE", "COMPACT_SCHEDULE", "LOG_LEVEL", "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
	"STREAM_EVENTHUB_NAME", "STREAM_EVENTHUB_CONSUMER_GROUP",
}

// OptionalAppSettings are set when the corresponding feature is deployed.
var OptionalAppSettings = []string{
	"ENTRA_INTEGRATION_ID", "ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET_NAME", "ENTRA_SECRET_ID",
	"ENTRA_PERMISSIONS",
	"STREAM_EVENTHUB__fullyQualifiedNamespace", "STREAM_EVENTHUB__credential", "STREAM_EVENTHUB__clientId",
	"AzureWebJobs.StreamEvents.Disabled",
}

// ForbiddenAppSettings must never be set on the Flex Consumption app: the runtime comes from functionAppConfig,
// Flex runs from its deployment container, and storage is keyless.
var ForbiddenAppSettings = []string{
	"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "AzureWebJobsStorage",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "SCM_DO_BUILD_DURING_DEPLOYMENT",
	"ENABLE_ORYX_BUILD", "WEBSITE_TIME_ZONE", "WEBSITE_NODE_DEFAULT_VERSION",
}

// TemplateAppSettings returns the names of every app setting infra/main.bicep can set: the keys of the variables
// the function app module's appSettings expression combines.
func (c *Checker) TemplateAppSettings() ([]string, error) {
	parsed, err := c.ParseBicep(MainBicepPath)
	if err != nil {
		return nil, err
	}
	f := &parsed[0]
	i := slices.IndexFunc(f.Modules, func(m BicepModule) bool { return m.Path == "modules/functionapp.bicep" })
	if i < 0 {
		return nil, fmt.Errorf("%s: no module modules/functionapp.bicep", MainBicepPath)
	}
	params, _ := f.Modules[i].Body["params"].(map[string]any)
	expr := exprText(params["appSettings"])
	if expr == "" || expr == "null" {
		return nil, fmt.Errorf("%s: the function app module gets no appSettings", MainBicepPath)
	}
	var names []string
	for _, ident := range regexp.MustCompile(`[A-Za-z_]\w*`).FindAllString(expr, -1) {
		if v, ok := f.Var(ident); ok {
			if len(v.ObjectKeys) == 0 {
				return nil, fmt.Errorf("%s:%d: variable %s is not an object literal of app settings", MainBicepPath, v.Line, v.Name)
			}
			names = append(names, v.ObjectKeys...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// CheckAppSettings checks the app settings the template sets against the handler's settings (handlerSettings:
// the names internal/config reads), the deployment contract and the function bindings' %SETTING% references and
// connections.
func (c *Checker) CheckAppSettings(handlerSettings []string) []error {
	settings, err := c.TemplateAppSettings()
	if err != nil {
		return []error{err}
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, name := range handlerSettings {
		src, ok := HandlerSettingSources[name]
		switch {
		case !ok:
			fail("internal/config reads %s, which HandlerSettingSources does not classify: decide whether %s sets it", name, MainBicepPath)
		case src == FromTemplate && !slices.Contains(settings, name):
			fail("%s does not set %s, which the handler reads", MainBicepPath, name)
		case src != FromTemplate && slices.Contains(settings, name):
			fail("%s sets %s, which comes from %s", MainBicepPath, name, src)
		}
	}
	for _, name := range RequiredAppSettings {
		if !slices.Contains(settings, name) {
			fail("%s does not set %s", MainBicepPath, name)
		}
	}
	for _, name := range ForbiddenAppSettings {
		if slices.Contains(settings, name) {
			fail("%s sets %s, which a keyless Flex Consumption app must not have", MainBicepPath, name)
		}
	}
	for _, name := range settings {
		known := slices.Contains(RequiredAppSettings, name) || slices.Contains(OptionalAppSettings, name) ||
			HandlerSettingSources[name] == FromTemplate
		if !known {
			fail("%s sets %s, which no contract lists: add it to RequiredAppSettings or OptionalAppSettings and document it", MainBicepPath, name)
		}
	}
	errs = append(errs, c.checkBindings(settings)...)
	return errs
}

var settingRef = regexp.MustCompile(`%([A-Za-z0-9_.]+)%`)

// checkBindings: every %SETTING% in a function.json is set by the template, and every binding connection has
// identity-based settings.
func (c *Checker) checkBindings(settings []string) []error {
	var errs []error
	matches, err := filepath.Glob(filepath.Join(c.Root, "functions", "*", "function.json"))
	if err != nil {
		return []error{err}
	}
	for _, path := range matches {
		rel, _ := filepath.Rel(c.Root, path)
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range settingRef.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(settings, m[1]) {
				errs = append(errs, fmt.Errorf("%s uses %%%s%%, which %s does not set", rel, m[1], MainBicepPath))
			}
		}
		var fn struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(b, &fn); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rel, err))
			continue
		}
		for _, binding := range fn.Bindings {
			conn, _ := binding["connection"].(string)
			if conn == "" {
				continue
			}
			if !slices.ContainsFunc(settings, func(s string) bool { return s == conn || strings.HasPrefix(s, conn+"__") }) {
				errs = append(errs, fmt.Errorf("%s: connection %s has no %s__* settings in %s", rel, conn, conn, MainBicepPath))
			}
		}
	}
	return errs
}
