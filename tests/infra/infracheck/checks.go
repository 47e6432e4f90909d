package infracheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// PinnedAPIVersions is the API version every resource type in the templates must use. Microsoft.Web and
// deploymentScripts versions are the ones the Flex Consumption and deployment script references are written for.
var PinnedAPIVersions = map[string]string{
	"Microsoft.ManagedIdentity/userAssignedIdentities":          "2023-01-31",
	"Microsoft.Resources/deploymentScripts":                     "2023-08-01",
	"Microsoft.Web/serverfarms":                                 "2024-04-01",
	"Microsoft.Web/sites":                                       "2024-04-01",
	"Microsoft.Web/sites/config":                                "2024-04-01",
	"Microsoft.Web/sites/basicPublishingCredentialsPolicies":    "2024-04-01",
	"Microsoft.Storage/storageAccounts":                         "2023-05-01",
	"Microsoft.Storage/storageAccounts/blobServices":            "2023-05-01",
	"Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
	"Microsoft.Storage/storageAccounts/tableServices":           "2023-05-01",
	"Microsoft.Storage/storageAccounts/tableServices/tables":    "2023-05-01",
	"Microsoft.Storage/storageAccounts/queueServices":           "2023-05-01",
	"Microsoft.Storage/storageAccounts/queueServices/queues":    "2023-05-01",
	"Microsoft.Storage/storageAccounts/managementPolicies":      "2023-05-01",
	"Microsoft.KeyVault/vaults":                                 "2023-07-01",
	"Microsoft.OperationalInsights/workspaces":                  "2023-09-01",
	"Microsoft.Insights/components":                             "2020-02-02",
	"Microsoft.EventHub/namespaces":                             "2024-01-01",
	"Microsoft.EventHub/namespaces/eventhubs":                   "2024-01-01",
	"Microsoft.EventHub/namespaces/eventhubs/consumergroups":    "2024-01-01",
	"Microsoft.EventHub/namespaces/authorizationRules":          "2024-01-01",
	"Microsoft.Authorization/roleAssignments":                   "2022-04-01",
	"Microsoft.Web/sites/extensions":                            "2024-04-01",
	"Microsoft.KeyVault/vaults/secrets":                         "2023-07-01",
	"Microsoft.Resources/deployments":                           "2022-09-01",
}

// VerifiedRoles are the Azure built-in role definition ids as published by Microsoft (cross-checked in
// docs/deploy.md's sources); infra/roles.json, the templates' only source of role ids, must agree.
var VerifiedRoles = map[string]string{
	"Storage Blob Data Owner":        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
	"Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
	"Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
	"Monitoring Metrics Publisher":   "3913510d-42f4-4e42-8a64-420c390055eb",
	"Key Vault Secrets User":         "4633458b-17de-408a-b874-0445c86b69e6",
	"Key Vault Secrets Officer":      "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
	"Azure Event Hubs Data Receiver": "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
}

// allowedGUIDs may appear as literals in the templates: Microsoft Graph's application id.
var allowedGUIDs = []string{"00000003-0000-0000-c000-000000000000"}

var guidPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// EntryTemplates are the templates users deploy; modules are reached through them.
var EntryTemplates = []string{"infra/main.bicep", AppRegBicepPath}

// CheckBicepSyntax reports every syntax error tree-sitter-bicep finds in the .bicep files under infra/.
func (c *Checker) CheckBicepSyntax() []error {
	files, err := c.ParseAllBicep()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, name := range sortedKeys(files) {
		for _, e := range files[name].Errors {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s near %q", name, e.Line, e.Column, e.Kind, e.Text))
		}
	}
	return errs
}

// CheckBicepConventions checks what the Bicep compiler and linter would, as far as a parse tree allows: every
// parameter and output described, every parameter and variable used, load*() files present, module parameters
// matching the module's declarations, entry templates declaring their target scope.
func (c *Checker) CheckBicepConventions() []error {
	files, err := c.ParseAllBicep()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, name := range sortedKeys(files) {
		f := files[name]
		for _, p := range f.Params {
			if strings.TrimSpace(Description(p.Decorators)) == "" {
				errs = append(errs, fmt.Errorf("%s:%d: parameter %s has no @description", name, p.Line, p.Name))
			}
			if !slices.Contains(f.References, p.Name) {
				errs = append(errs, fmt.Errorf("%s:%d: parameter %s is never used", name, p.Line, p.Name))
			}
		}
		for _, v := range f.Vars {
			if !slices.Contains(f.References, v.Name) {
				errs = append(errs, fmt.Errorf("%s:%d: variable %s is never used", name, v.Line, v.Name))
			}
		}
		for _, o := range f.Outputs {
			if strings.TrimSpace(Description(o.Decorators)) == "" {
				errs = append(errs, fmt.Errorf("%s:%d: output %s has no @description", name, o.Line, o.Name))
			}
		}
		for _, call := range f.Calls {
			if len(call.Args) == 0 {
				continue
			}
			p, ok := call.Args[0].(string)
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: %s needs a literal path", name, call.Line, call.Fn))
				continue
			}
			target := path.Join(path.Dir(name), p)
			if _, err := os.Stat(filepath.Join(c.Root, filepath.FromSlash(target))); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s('%s'): %s does not exist", name, call.Line, call.Fn, p, target))
			}
		}
		if slices.Contains(EntryTemplates, name) && f.TargetScope == nil {
			errs = append(errs, fmt.Errorf("%s: declares no targetScope", name))
		}
		errs = append(errs, c.checkModules(name, f, files)...)
	}
	for _, entry := range EntryTemplates {
		if _, ok := files[entry]; !ok {
			errs = append(errs, fmt.Errorf("%s is missing", entry))
		}
	}
	return errs
}

func (c *Checker) checkModules(name string, f *BicepFile, files map[string]*BicepFile) []error {
	var errs []error
	for _, m := range f.Modules {
		target := path.Join(path.Dir(name), m.Path)
		mod, ok := files[target]
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: module %s: %s does not exist", name, m.Line, m.Name, target))
			continue
		}
		passed, _ := m.Body["params"].(map[string]any)
		for key := range passed {
			if _, ok := mod.Param(key); !ok {
				errs = append(errs, fmt.Errorf("%s:%d: module %s passes %s, which %s does not declare", name, m.Line, m.Name, key, target))
			}
		}
		for _, p := range mod.Params {
			if _, ok := passed[p.Name]; !ok && !p.HasDefault && !strings.HasSuffix(p.Type, "?") {
				errs = append(errs, fmt.Errorf("%s:%d: module %s does not pass the required parameter %s of %s", name, m.Line, m.Name, p.Name, target))
			}
		}
	}
	return errs
}

// CheckAPIVersions reports resource types that are not pinned, or use another API version, in the Bicep files and
// the ARM template.
func (c *Checker) CheckAPIVersions() []error {
	files, err := c.ParseAllBicep()
	if err != nil {
		return []error{err}
	}
	var errs []error
	check := func(where, typ, version string) {
		want, ok := PinnedAPIVersions[typ]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: resource type %s has no pinned API version", where, typ))
		case version != want:
			errs = append(errs, fmt.Errorf("%s: %s@%s, want API version %s", where, typ, version, want))
		}
	}
	for _, name := range sortedKeys(files) {
		for _, r := range files[name].Resources {
			typ, version, _ := strings.Cut(r.Type, "@")
			if r.Nested {
				errs = append(errs, fmt.Errorf("%s:%d: declare %s as a top-level resource with parent:, so its type is checkable", name, r.Line, r.Name))
				continue
			}
			check(fmt.Sprintf("%s:%d", name, r.Line), typ, version)
		}
	}
	for _, p := range []string{MainTemplatePath, ProductTemplatePath} {
		arm, err := c.readJSON(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		walkTemplates(arm, p, func(where string, t map[string]any) {
			for i, r := range asSlice(t["resources"]) {
				res, _ := r.(map[string]any)
				typ, _ := res["type"].(string)
				version, _ := res["apiVersion"].(string)
				check(fmt.Sprintf("%s resources[%d] (%v)", where, i, res["name"]), typ, version)
			}
		})
	}
	return errs
}

// CheckRoles checks the role table and its use: infra/roles.json holds the verified ids, every role name the
// templates index it with exists, every entry is used, and no template carries a GUID literal of its own.
func (c *Checker) CheckRoles() []error {
	var errs []error
	raw, err := c.readJSON(RolesPath)
	if err != nil {
		return []error{err}
	}
	table := map[string]string{}
	seen := map[string]string{}
	for name, v := range raw {
		if strings.HasPrefix(name, "$") {
			continue
		}
		id, _ := v.(string)
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
			errs = append(errs, fmt.Errorf("%s: %q: %q is not a lowercase GUID", RolesPath, name, id))
		}
		if other, dup := seen[id]; dup {
			errs = append(errs, fmt.Errorf("%s: %q and %q share %s", RolesPath, name, other, id))
		}
		seen[id] = name
		if want, ok := VerifiedRoles[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not a verified built-in role (add it to VerifiedRoles with its source)", RolesPath, name))
		} else if id != want {
			errs = append(errs, fmt.Errorf("%s: %q is %s, but the built-in role's id is %s", RolesPath, name, id, want))
		}
		table[name] = id
	}

	files, err := c.ParseAllBicep()
	if err != nil {
		return append(errs, err)
	}
	used := map[string]bool{}
	for _, name := range sortedKeys(files) {
		f := files[name]
		for _, s := range f.Strings {
			for _, g := range guidPattern.FindAllString(s.Text, -1) {
				if !slices.Contains(allowedGUIDs, strings.ToLower(g)) {
					errs = append(errs, fmt.Errorf("%s:%d: GUID literal %s: take role ids from %s", name, s.Line, g, RolesPath))
				}
			}
		}
		rolesVars := map[string]bool{}
		for _, v := range f.Vars {
			if isExpr(v.Value) && strings.Contains(exprText(v.Value), "roles.json") {
				rolesVars[v.Name] = true
			}
		}
		for _, sub := range f.Subscripts {
			if !rolesVars[sub.Object] {
				continue
			}
			names, err := resolveRoleNames(f, sub.Index)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", name, sub.Line, err))
				continue
			}
			for _, n := range names {
				used[n] = true
				if _, ok := table[n]; !ok {
					errs = append(errs, fmt.Errorf("%s:%d: role %q is not in %s", name, sub.Line, n, RolesPath))
				}
			}
		}
	}
	for name := range table {
		if !used[name] {
			errs = append(errs, fmt.Errorf("%s: role %q is never assigned by a template", RolesPath, name))
		}
	}
	for _, p := range []string{MainTemplatePath, CreateUIDefinitionPath, ProductTemplatePath, ProductUIDefinitionPath} {
		v, err := c.readJSON(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// An ARM template carries roles.json as the variable roles of the module that assigns roles (bicep build
		// inlines loadJsonContent); the product contract holds that copy equal to the file.
		walkTemplates(v, p, func(_ string, t map[string]any) {
			if vars, ok := t["variables"].(map[string]any); ok && reflect.DeepEqual(vars["roles"], raw) {
				delete(vars, "roles")
			}
		})
		for _, g := range guidPattern.FindAllString(compactJSON(v), -1) {
			if !slices.Contains(allowedGUIDs, strings.ToLower(g)) {
				errs = append(errs, fmt.Errorf("%s: GUID literal %s", p, g))
			}
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// resolveRoleNames resolves the index of roles[...]: a string, a variable holding strings (or a ternary of them),
// or a loop variable over such a variable.
func resolveRoleNames(f *BicepFile, index any) ([]string, error) {
	if names, ok := stringChoices(index); ok {
		return names, nil
	}
	m, _ := index.(map[string]any)
	ident, _ := m["$ident"].(string)
	if ident == "" {
		return nil, fmt.Errorf("cannot resolve role name %s", exprText(index))
	}
	for _, l := range f.Loops {
		if l.Variable == ident {
			ident = l.Iterable
			break
		}
	}
	v, ok := f.Var(ident)
	if !ok {
		return nil, fmt.Errorf("cannot resolve role name %s", exprText(index))
	}
	names, ok := stringChoices(v.Value)
	if !ok {
		return nil, fmt.Errorf("role name variable %s is not a literal", ident)
	}
	return names, nil
}

func (c *Checker) readFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(rel)))
}

func (c *Checker) readJSON(rel string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return v, nil
}

// normalizeARM strips the brackets and all blanks of an ARM expression for comparison.
func normalizeARM(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	return strings.Join(strings.Fields(s), "")
}

// armOf returns the ARM form of a converted Bicep value, and whether it is an expression.
func armOf(v any) (string, bool, error) {
	m, ok := v.(map[string]any)
	if !ok || !isExpr(v) {
		return "", false, nil
	}
	if e, ok := m["$armError"].(string); ok {
		return "", true, errors.New(e)
	}
	s, _ := m["$arm"].(string)
	return s, true, nil
}

// sameValue compares a Bicep value with its ARM counterpart: literals must be equal, Bicep expressions must
// translate to the ARM expression, load*() calls must match the file content that the ARM template inlines.
func (c *Checker) sameValue(bicepDir string, b any, a any, armVars map[string]any) error {
	if expr, isE, err := armOf(b); isE {
		if err != nil {
			return fmt.Errorf("untranslatable Bicep expression %s: %w", exprText(b), err)
		}
		if strings.HasPrefix(expr, "load") {
			return c.sameLoaded(bicepDir, expr, a, armVars)
		}
		as, _ := a.(string)
		if normalizeARM(as) != normalizeARM(expr) {
			return fmt.Errorf("Bicep %s means [%s], ARM has %v", exprText(b), expr, a)
		}
		return nil
	}
	switch bv := b.(type) {
	case map[string]any:
		av, ok := a.(map[string]any)
		if !ok {
			return fmt.Errorf("Bicep has an object, ARM has %v", a)
		}
		for k, v := range bv {
			if err := c.sameValue(bicepDir, v, av[k], armVars); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		for k := range av {
			if _, ok := bv[k]; !ok {
				return fmt.Errorf("ARM has %s, Bicep has not", k)
			}
		}
		return nil
	case []any:
		av, ok := a.([]any)
		if !ok || len(av) != len(bv) {
			return fmt.Errorf("Bicep has %d items, ARM has %v", len(bv), a)
		}
		for i := range bv {
			if err := c.sameValue(bicepDir, bv[i], av[i], armVars); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(normalizeNumber(b), normalizeNumber(a)) {
			return fmt.Errorf("Bicep has %v, ARM has %v", b, a)
		}
		return nil
	}
}

func normalizeNumber(v any) any {
	if f, ok := v.(float64); ok {
		return f
	}
	if i, ok := v.(int); ok {
		return float64(i)
	}
	return v
}

var loadCall = regexp.MustCompile(`^(loadTextContent|loadJsonContent)\('([^']+)'\)$`)

func (c *Checker) sameLoaded(bicepDir, expr string, a any, armVars map[string]any) error {
	m := loadCall.FindStringSubmatch(expr)
	if m == nil {
		return fmt.Errorf("unsupported load call %s", expr)
	}
	content, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(path.Join(bicepDir, m[2]))))
	if err != nil {
		return err
	}
	// The ARM template either inlines the content or refers to a variable that does.
	if s, ok := a.(string); ok {
		if ref := regexp.MustCompile(`^\[variables\('([^']+)'\)\]$`).FindStringSubmatch(s); ref != nil {
			a = armVars[ref[1]]
		}
	}
	if m[1] == "loadTextContent" {
		if a != string(content) {
			return fmt.Errorf("ARM copy of %s differs from the file: run `make generate`", m[2])
		}
		return nil
	}
	var want any
	if err := json.Unmarshal(content, &want); err != nil {
		return fmt.Errorf("%s: %w", m[2], err)
	}
	if !reflect.DeepEqual(want, a) {
		return fmt.Errorf("ARM copy of %s differs from the file: run `make generate`", m[2])
	}
	return nil
}
