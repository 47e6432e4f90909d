package infracheck

import (
	"fmt"
	"maps"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// ARMSchema is the deployment template schema the Marketplace template declares.
const ARMSchema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"

// CheckAppRegistrationContract compares infra/app-registration/main.bicep with its ARM twin mainTemplate.json
// declaration by declaration: parameters (type, default, allowed values, bounds, description), variables,
// resources (every property, with Bicep expressions translated to ARM), outputs. The ARM file must stay in
// languageVersion 1.0 (no languageVersion member), the only form Managed Applications and the Marketplace accept.
func (c *Checker) CheckAppRegistrationContract() []error {
	parsed, err := c.ParseBicep(AppRegBicepPath)
	if err != nil {
		return []error{err}
	}
	f := &parsed[0]
	arm, err := c.readJSON(MainTemplatePath)
	if err != nil {
		return []error{err}
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	dir := path.Dir(AppRegBicepPath)

	if _, ok := arm["languageVersion"]; ok {
		fail("%s: languageVersion is set; the Marketplace needs a languageVersion 1.0 template (no languageVersion member)", MainTemplatePath)
	}
	if arm["$schema"] != ARMSchema {
		fail("%s: $schema is %v, want %s", MainTemplatePath, arm["$schema"], ARMSchema)
	}
	if f.TargetScope == nil || *f.TargetScope != "resourceGroup" {
		fail("%s: targetScope must be resourceGroup", AppRegBicepPath)
	}

	armParams, _ := arm["parameters"].(map[string]any)
	for _, p := range f.Params {
		ap, ok := armParams[p.Name].(map[string]any)
		if !ok {
			fail("%s: parameter %s is not in %s", AppRegBicepPath, p.Name, MainTemplatePath)
			continue
		}
		errs = append(errs, c.compareParam(dir, p, ap)...)
	}
	for _, name := range sortedKeys(armParams) {
		if _, ok := f.Param(name); !ok {
			fail("%s: parameter %s is not in %s", MainTemplatePath, name, AppRegBicepPath)
		}
	}

	armVars, _ := arm["variables"].(map[string]any)
	for _, v := range f.Vars {
		av, ok := armVars[v.Name]
		if !ok {
			fail("%s: variable %s is not in %s", AppRegBicepPath, v.Name, MainTemplatePath)
			continue
		}
		if err := c.sameValue(dir, v.Value, av, armVars); err != nil {
			fail("variable %s: %v", v.Name, err)
		}
	}
	for _, name := range sortedKeys(armVars) {
		// scriptContent is where the ARM template inlines what Bicep's loadTextContent reads.
		if _, ok := f.Var(name); !ok && name != "scriptContent" {
			fail("%s: variable %s is not in %s", MainTemplatePath, name, AppRegBicepPath)
		}
	}

	errs = append(errs, c.compareResources(dir, f, arm, armVars)...)
	errs = append(errs, checkDeploymentScripts(f)...)
	for _, p := range blanks(arm, "", "") {
		fail("%s: %s is blank; the Marketplace's template checks (arm-ttk \"Template Should Not Contain Blanks\") refuse empty strings, arrays and objects", MainTemplatePath, p)
	}

	armOutputs, _ := arm["outputs"].(map[string]any)
	for _, o := range f.Outputs {
		ao, ok := armOutputs[o.Name].(map[string]any)
		if !ok {
			fail("%s: output %s is not in %s", AppRegBicepPath, o.Name, MainTemplatePath)
			continue
		}
		if !strings.EqualFold(fmt.Sprint(ao["type"]), o.Type) {
			fail("output %s: type %s in Bicep, %v in ARM", o.Name, o.Type, ao["type"])
		}
		if d := armDescription(ao); d != Description(o.Decorators) {
			fail("output %s: descriptions differ:\n  Bicep: %s\n  ARM:   %s", o.Name, Description(o.Decorators), d)
		}
		if err := c.sameValue(dir, o.Value, ao["value"], armVars); err != nil {
			fail("output %s: %v", o.Name, err)
		}
	}
	for _, name := range sortedKeys(armOutputs) {
		if !slices.ContainsFunc(f.Outputs, func(o BicepOutput) bool { return o.Name == name }) {
			fail("%s: output %s is not in %s", MainTemplatePath, name, AppRegBicepPath)
		}
	}
	return errs
}

func armDescription(v map[string]any) string {
	meta, _ := v["metadata"].(map[string]any)
	d, _ := meta["description"].(string)
	return d
}

func (c *Checker) compareParam(dir string, p BicepParam, ap map[string]any) []error {
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("parameter %s: "+format, append([]any{p.Name}, a...)...))
	}
	wantType := strings.TrimSuffix(p.Type, "?")
	if p.Decorators["secure"] == true {
		wantType = "secure" + wantType
	}
	if !strings.EqualFold(fmt.Sprint(ap["type"]), wantType) {
		fail("type %s in Bicep, %v in ARM", wantType, ap["type"])
	}
	if d := armDescription(ap); d != Description(p.Decorators) {
		fail("descriptions differ:\n  Bicep: %s\n  ARM:   %s", Description(p.Decorators), d)
	}
	if !reflect.DeepEqual(p.Decorators["allowed"], ap["allowedValues"]) {
		fail("allowed values %v in Bicep, %v in ARM", p.Decorators["allowed"], ap["allowedValues"])
	}
	for _, bound := range []string{"minLength", "maxLength", "minValue", "maxValue"} {
		if !reflect.DeepEqual(normalizeNumber(p.Decorators[bound]), normalizeNumber(ap[bound])) {
			fail("%s %v in Bicep, %v in ARM", bound, p.Decorators[bound], ap[bound])
		}
	}
	def, armHasDefault := ap["defaultValue"]
	switch {
	case p.HasDefault != armHasDefault:
		fail("has a default in one template only")
	case p.HasDefault:
		if err := c.sameValue(dir, p.Default, def, nil); err != nil {
			fail("default: %v", err)
		}
	}
	return errs
}

func (c *Checker) compareResources(dir string, f *BicepFile, arm map[string]any, armVars map[string]any) []error {
	var errs []error
	armResources, _ := arm["resources"].([]any)
	var declared []BicepResource
	existing := map[string]BicepResource{}
	for _, r := range f.Resources {
		if r.Existing {
			existing[r.Name] = r
		} else {
			declared = append(declared, r)
		}
	}
	if len(declared) != len(armResources) {
		errs = append(errs, fmt.Errorf("%s declares %d resources, %s %d", AppRegBicepPath, len(declared), MainTemplatePath, len(armResources)))
	}
	for _, r := range declared {
		typ, version, _ := strings.Cut(r.Type, "@")
		i := slices.IndexFunc(armResources, func(a any) bool {
			m, _ := a.(map[string]any)
			return m["type"] == typ
		})
		if i < 0 {
			errs = append(errs, fmt.Errorf("resource %s (%s) is not in %s", r.Name, typ, MainTemplatePath))
			continue
		}
		ar := maps.Clone(armResources[i].(map[string]any))
		if ar["apiVersion"] != version {
			errs = append(errs, fmt.Errorf("resource %s: API version %s in Bicep, %v in ARM", r.Name, version, ar["apiVersion"]))
		}
		delete(ar, "type")
		delete(ar, "apiVersion")
		delete(ar, "dependsOn")
		body := maps.Clone(r.Body)
		for _, k := range []string{"parent", "scope", "dependsOn"} {
			delete(body, k)
		}
		// identity.userAssignedIdentities is keyed by the identity's resource id: '${existing.id}' in Bicep,
		// [resourceId(<group>, <type>, <name>)] in ARM.
		if bi, ok := body["identity"].(map[string]any); ok {
			ai, _ := ar["identity"].(map[string]any)
			if err := compareIdentities(bi, ai, existing); err != nil {
				errs = append(errs, fmt.Errorf("resource %s: identity: %w", r.Name, err))
			}
			bi, ai = maps.Clone(bi), maps.Clone(ai)
			delete(bi, "userAssignedIdentities")
			delete(ai, "userAssignedIdentities")
			body["identity"], ar["identity"] = bi, ai
		}
		if err := c.sameValue(dir, body, ar, armVars); err != nil {
			errs = append(errs, fmt.Errorf("resource %s: %w", r.Name, err))
		}
	}
	return errs
}

func compareIdentities(b, a map[string]any, existing map[string]BicepResource) error {
	bu, _ := b["userAssignedIdentities"].(map[string]any)
	au, _ := a["userAssignedIdentities"].(map[string]any)
	if len(bu) != 1 || len(au) != 1 {
		return fmt.Errorf("want exactly one user-assigned identity, Bicep has %d, ARM %d", len(bu), len(au))
	}
	var bKey, aKey string
	for k := range bu {
		bKey = k
	}
	for k := range au {
		aKey = k
	}
	m := regexp.MustCompile(`^\$\{(\w+)\.id\}$`).FindStringSubmatch(bKey)
	if m == nil {
		return fmt.Errorf("Bicep key %s is not '${<existing identity>.id}'", bKey)
	}
	id, ok := existing[m[1]]
	if !ok {
		return fmt.Errorf("%s is not an existing resource", m[1])
	}
	typ, _, _ := strings.Cut(id.Type, "@")
	name, _, err := armOf(id.Body["name"])
	if err != nil || name == "" {
		return fmt.Errorf("identity name: %v", exprText(id.Body["name"]))
	}
	scope, _, err := armOf(id.Body["scope"])
	group := regexp.MustCompile(`^resourceGroup\((.+)\)$`).FindStringSubmatch(scope)
	if err != nil || group == nil {
		return fmt.Errorf("identity scope %s is not resourceGroup(<name>)", exprText(id.Body["scope"]))
	}
	want := fmt.Sprintf("resourceId(%s, '%s', %s)", group[1], typ, name)
	if normalizeARM(aKey) != normalizeARM(want) {
		return fmt.Errorf("ARM key %s, want [%s]", aKey, want)
	}
	return nil
}

// isoDuration matches the PTnH / PnD / PTnM forms the templates use.
var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$`)

func durationHours(s string) (float64, bool) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d, h, min float64
	fmt.Sscan(m[1]+" ", &d)
	fmt.Sscan(m[2]+" ", &h)
	fmt.Sscan(m[3]+" ", &min)
	return d*24 + h + min/60, true
}

// checkDeploymentScripts checks the deploymentScripts properties the service validates: an AzureCLI script run as a
// user-assigned identity, retentionInterval within PT1H-PT26H, a timeout of at most a day, a known cleanup
// preference.
func checkDeploymentScripts(f *BicepFile) []error {
	var errs []error
	for _, r := range f.Resources {
		if !strings.HasPrefix(r.Type, "Microsoft.Resources/deploymentScripts@") {
			continue
		}
		fail := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: deployment script %s: "+format, append([]any{f.File, r.Line, r.Name}, a...)...))
		}
		if r.Body["kind"] != "AzureCLI" {
			fail("kind %v, want AzureCLI", r.Body["kind"])
		}
		identity, _ := r.Body["identity"].(map[string]any)
		if identity["type"] != "UserAssigned" {
			fail("identity type %v: deployment scripts run only as a user-assigned identity", identity["type"])
		}
		props, _ := r.Body["properties"].(map[string]any)
		retention, _ := props["retentionInterval"].(string)
		if h, ok := durationHours(retention); !ok || h < 1 || h > 26 {
			fail("retentionInterval %q outside PT1H-PT26H", retention)
		}
		if timeout, ok := props["timeout"].(string); ok {
			if h, ok := durationHours(timeout); !ok || h > 24 {
				fail("timeout %q longer than P1D", timeout)
			}
		}
		if cp, ok := props["cleanupPreference"].(string); ok && !slices.Contains([]string{"Always", "OnSuccess", "OnExpiration"}, cp) {
			fail("cleanupPreference %q", cp)
		}
		if props["azCliVersion"] == nil {
			fail("no azCliVersion")
		}
	}
	return errs
}

// blanks lists the JSON paths of empty strings, arrays and objects, except the {} values of
// userAssignedIdentities, which ARM requires. parent is the key v is the value of.
func blanks(v any, at, parent string) []string {
	var out []string
	switch t := v.(type) {
	case string:
		if t == "" {
			out = append(out, at)
		}
	case []any:
		if len(t) == 0 {
			out = append(out, at)
		}
		for i, e := range t {
			out = append(out, blanks(e, fmt.Sprintf("%s[%d]", at, i), parent)...)
		}
	case map[string]any:
		if len(t) == 0 {
			out = append(out, at)
		}
		for _, k := range sortedKeys(t) {
			if m, ok := t[k].(map[string]any); ok && len(m) == 0 && parent == "userAssignedIdentities" {
				continue
			}
			out = append(out, blanks(t[k], at+"."+k, k)...)
		}
	}
	return out
}
