package infracheck

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// The whole product's portal pair: the ARM twin of infra/main.bicep (with its modules as nested deployments) and the
// form the "Deploy to Azure" button opens. scripts/release.sh publishes both, with the version pinned, as release
// assets of the same names.
const (
	ProductTemplatePath     = "infra/mainTemplate.json"
	ProductUIDefinitionPath = "infra/createUiDefinition.json"
)

// CheckProductContract holds the ARM twin infra/mainTemplate.json against infra/main.bicep and every module it uses,
// declaration by declaration: each parameter (type, default, allowed values, bounds, description), each variable,
// each resource and every one of its properties (name, condition, copy loop, scope, dependsOn, ...), each module as
// a nested deployment with inner expression scope whose template is compared with the module file the same way, and
// each output. What the twin must contain is derived from the Bicep (tests/infra/js/bicep-arm.js translates it as
// `bicep build` would), so a declaration added to the Bicep fails this check, named, until the twin has it too. The
// twin must stay in languageVersion 1.0 (the only form Managed Applications and the Marketplace accept) and pass the
// Marketplace's blank-value rule.
func (c *Checker) CheckProductContract() []error {
	files, err := c.ParseAllBicep()
	if err != nil {
		return []error{err}
	}
	main, ok := files[MainBicepPath]
	if !ok {
		return []error{fmt.Errorf("%s is missing", MainBicepPath)}
	}
	arm, err := c.readJSON(ProductTemplatePath)
	if err != nil {
		return []error{err}
	}
	var errs []error
	walkTemplates(arm, ProductTemplatePath, func(where string, t map[string]any) {
		if _, ok := t["languageVersion"]; ok {
			errs = append(errs, fmt.Errorf("%s: languageVersion is set; the Marketplace needs languageVersion 1.0 templates (no languageVersion member)", where))
		}
	})
	errs = append(errs, c.compareTemplate(files, main, arm, MainBicepPath)...)
	for _, p := range armTTKBlanks(arm, "", "") {
		errs = append(errs, fmt.Errorf("%s: %s is blank; the Marketplace's template checks (arm-ttk \"Template Should Not Contain Blanks\") refuse it", ProductTemplatePath, p))
	}
	return errs
}

// walkTemplates calls fn for t and for the template of every nested deployment in it, depth first.
func walkTemplates(t map[string]any, where string, fn func(where string, t map[string]any)) {
	fn(where, t)
	for i, r := range asSlice(t["resources"]) {
		res, _ := r.(map[string]any)
		props, _ := res["properties"].(map[string]any)
		if nested, ok := props["template"].(map[string]any); ok {
			walkTemplates(nested, fmt.Sprintf("%s resources[%d] (%v)", where, i, res["name"]), fn)
		}
	}
}

// compareTemplate compares one Bicep file with the ARM template that stands for it. where names the file and, for a
// module, the chain of module declarations leading to it.
func (c *Checker) compareTemplate(files map[string]*BicepFile, f *BicepFile, t map[string]any, where string) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
	if f.Arm == nil {
		return []error{fmt.Errorf("%s: does not parse, so it cannot be compared with its ARM twin", where)}
	}
	dir := path.Dir(f.File)
	if t["$schema"] != ARMSchema {
		fail("$schema is %v, want %s", t["$schema"], ARMSchema)
	}
	if t["contentVersion"] == nil {
		fail("the template has no contentVersion")
	}

	armParams, _ := t["parameters"].(map[string]any)
	for _, p := range f.Params {
		ap, ok := armParams[p.Name].(map[string]any)
		if !ok {
			fail("parameter %s (line %d) is missing from the ARM template", p.Name, p.Line)
			continue
		}
		for _, err := range c.compareParam(dir, p, ap) {
			fail("%v", err)
		}
	}
	for _, name := range sortedKeys(armParams) {
		if _, ok := f.Param(name); !ok {
			fail("the ARM template has parameter %s, which the Bicep does not declare", name)
		}
	}

	armVars, _ := t["variables"].(map[string]any)
	for _, name := range sortedKeys(f.Arm.Vars) {
		have, ok := armVars[name]
		if !ok {
			fail("variable %s is missing from the ARM template; bicep build writes %s", name, compactJSON(f.Arm.Vars[name]))
			continue
		}
		for _, d := range armDiff(f.Arm.Vars[name], have, "") {
			fail("variable %s%s", name, d)
		}
	}
	for _, name := range f.Arm.RuntimeVars {
		if _, ok := armVars[name]; ok {
			fail("variable %s reads a runtime value (a resource's properties or a module's outputs); ARM variables cannot call reference(), so the ARM template must inline it where it is used, as bicep build does", name)
		}
	}
	for _, name := range sortedKeys(armVars) {
		if _, ok := f.Arm.Vars[name]; !ok && !slices.Contains(f.Arm.RuntimeVars, name) {
			fail("the ARM template has variable %s, which the Bicep does not declare", name)
		}
	}

	armResources := asSlice(t["resources"])
	used := make([]bool, len(armResources))
	find := func(want map[string]any) int {
		_, untranslatable := want["name"].(map[string]any) // {"$armError": ...}: match by type, report the name
		for i, r := range armResources {
			have, _ := r.(map[string]any)
			if !used[i] && have["type"] == want["type"] && (untranslatable || sameName(want["name"], have["name"])) {
				return i
			}
		}
		return -1
	}
	for _, d := range f.Arm.Resources {
		i := find(d.Value)
		if i < 0 {
			fail("resource %s (%v %s, line %d) is missing from the ARM template; bicep build writes:\n%s", d.Symbol, d.Value["type"], compactJSON(d.Value["name"]), d.Line, indentJSON(d.Value))
			continue
		}
		used[i] = true
		for _, diff := range compareResource(d.Value, armResources[i].(map[string]any)) {
			fail("resource %s (line %d)%s", d.Symbol, d.Line, diff)
		}
	}
	for _, d := range f.Arm.Modules {
		target := path.Join(dir, d.Path)
		i := find(d.Value)
		if i < 0 {
			fail("module %s (%s, line %d) is missing from the ARM template: it must be a Microsoft.Resources/deployments resource named %s whose properties.template is %s's ARM form; bicep build writes (template left out):\n%s",
				d.Symbol, target, d.Line, compactJSON(d.Value["name"]), target, indentJSON(d.Value))
			continue
		}
		used[i] = true
		have := armResources[i].(map[string]any)
		for _, diff := range compareResource(d.Value, have) {
			fail("module %s (line %d)%s", d.Symbol, d.Line, diff)
		}
		props, _ := have["properties"].(map[string]any)
		nested, ok := props["template"].(map[string]any)
		mod, parsed := files[target]
		switch {
		case !ok:
			fail("module %s: the deployment has no properties.template", d.Symbol)
		case !parsed:
			fail("module %s: %s does not exist", d.Symbol, target)
		default:
			errs = append(errs, c.compareTemplate(files, mod, nested, fmt.Sprintf("%s › module %s (%s)", where, d.Symbol, target))...)
		}
	}
	for i, r := range armResources {
		if !used[i] {
			res, _ := r.(map[string]any)
			fail("the ARM template has resource %v %s, which the Bicep does not declare", res["type"], compactJSON(res["name"]))
		}
	}

	armOutputs, _ := t["outputs"].(map[string]any)
	for _, o := range f.Outputs {
		ao, ok := armOutputs[o.Name].(map[string]any)
		if !ok {
			fail("output %s (line %d) is missing from the ARM template; bicep build writes %s", o.Name, o.Line, compactJSON(f.Arm.Outputs[o.Name]))
			continue
		}
		if !strings.EqualFold(fmt.Sprint(ao["type"]), o.Type) {
			fail("output %s: type %s in Bicep, %v in ARM", o.Name, o.Type, ao["type"])
		}
		if d := armDescription(ao); d != Description(o.Decorators) {
			fail("output %s: descriptions differ:\n  Bicep: %s\n  ARM:   %s", o.Name, Description(o.Decorators), d)
		}
		for _, d := range armDiff(f.Arm.Outputs[o.Name], ao["value"], ".value") {
			fail("output %s%s", o.Name, d)
		}
	}
	for _, name := range sortedKeys(armOutputs) {
		if !slices.ContainsFunc(f.Outputs, func(o BicepOutput) bool { return o.Name == name }) {
			fail("the ARM template has output %s, which the Bicep does not declare", name)
		}
	}
	return errs
}

// compareResource compares a translated resource with the twin's; dependsOn is a set, and a nested deployment's
// template is compared separately.
func compareResource(want, have map[string]any) []string {
	want, have = maps.Clone(want), maps.Clone(have)
	var diffs []string
	wantDeps, haveDeps := want["dependsOn"], have["dependsOn"]
	delete(want, "dependsOn")
	delete(have, "dependsOn")
	if m, ok := wantDeps.(map[string]any); ok && m["$armError"] != nil {
		diffs = append(diffs, armDiff(wantDeps, haveDeps, ".dependsOn")...)
	} else {
		w, h := canonSet(asSlice(wantDeps)), canonSet(asSlice(haveDeps))
		for _, d := range w {
			if !slices.Contains(h, d) {
				diffs = append(diffs, fmt.Sprintf(".dependsOn: the ARM template lacks %s (the Bicep refers to it, so ARM must deploy it first)", d))
			}
		}
		for _, d := range h {
			if !slices.Contains(w, d) {
				diffs = append(diffs, fmt.Sprintf(".dependsOn: the ARM template has %s, which the Bicep does not depend on", d))
			}
		}
	}
	if props, ok := have["properties"].(map[string]any); ok && have["type"] == "Microsoft.Resources/deployments" {
		props = maps.Clone(props)
		delete(props, "template")
		have["properties"] = props
	}
	return append(diffs, armDiff(want, have, "")...)
}

// armDiff lists the differences between a translated Bicep value and the twin's value at the JSON path at (""
// for the whole value); each entry starts with the path.
func armDiff(want, have any, at string) []string {
	if m, ok := want.(map[string]any); ok {
		if e, ok := m["$armError"].(string); ok {
			src := ""
			if x, ok := m["$expr"].(string); ok {
				src = " " + x
			}
			return []string{fmt.Sprintf("%s: cannot translate the Bicep%s: %s (teach tests/infra/js/bicep-arm.js, or write it in a form it knows)", at, src, e)}
		}
	}
	mismatch := []string{fmt.Sprintf("%s: bicep build writes %s, the ARM template has %s", at, compactJSON(want), compactJSON(have))}
	switch w := want.(type) {
	case string:
		h, ok := have.(string)
		if !ok || isARMExpr(w) != isARMExpr(h) || (isARMExpr(w) && canonExpr(w) != canonExpr(h)) || (!isARMExpr(w) && w != h) {
			return mismatch
		}
		return nil
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return mismatch
		}
		wk, hk := canonKeys(w), canonKeys(h)
		var diffs []string
		for _, k := range sortedKeys(wk) {
			hv, ok := hk[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing from the ARM template; bicep build writes %s", at, k, compactJSON(wk[k])))
				continue
			}
			diffs = append(diffs, armDiff(wk[k], hv, at+"."+k)...)
		}
		for _, k := range sortedKeys(hk) {
			if _, ok := wk[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: the ARM template has it, the Bicep has not", at, k))
			}
		}
		return diffs
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return mismatch
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, armDiff(w[i], h[i], fmt.Sprintf("%s[%d]", at, i))...)
		}
		return diffs
	default:
		if (want == nil) != (have == nil) || fmt.Sprint(normalizeNumber(want)) != fmt.Sprint(normalizeNumber(have)) {
			return mismatch
		}
		return nil
	}
}

// isARMExpr reports whether a template string is an expression: "[...]", but not the "[[" escape of a literal.
func isARMExpr(s string) bool {
	return strings.HasPrefix(s, "[") && !strings.HasPrefix(s, "[[") && strings.HasSuffix(s, "]")
}

// canonExpr returns an ARM expression without its brackets and without blanks outside string literals. A whole
// format('{0}', x) becomes x: bicep build writes that for a string that is one interpolation, such as a
// userAssignedIdentities key, and both mean x.
func canonExpr(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '\'' {
			quoted = !quoted
		}
		if !quoted && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			continue
		}
		b.WriteByte(ch)
	}
	out := b.String()
	const single = "format('{0}',"
	if strings.HasPrefix(out, single) && strings.HasSuffix(out, ")") && balanced(out[len(single):len(out)-1]) {
		return out[len(single) : len(out)-1]
	}
	return out
}

// balanced reports whether the parentheses and brackets outside string literals of an expression pair up.
func balanced(s string) bool {
	depth, quoted := 0, false
	for _, ch := range s {
		switch {
		case ch == '\'':
			quoted = !quoted
		case quoted:
		case ch == '(' || ch == '[':
			depth++
		case ch == ')' || ch == ']':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0 && !quoted
}

func canonKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if isARMExpr(k) {
			k = "[" + canonExpr(k) + "]"
		}
		out[k] = v
	}
	return out
}

func canonSet(items []any) []string {
	var out []string
	for _, it := range items {
		s, _ := it.(string)
		if isARMExpr(s) {
			s = "[" + canonExpr(s) + "]"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// sameName reports whether two resource names (a literal or an expression) are the same.
func sameName(want, have any) bool {
	w, _ := want.(string)
	h, _ := have.(string)
	if isARMExpr(w) && isARMExpr(h) {
		return canonExpr(w) == canonExpr(h)
	}
	return w == h && w != ""
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return "    " + string(b)
}

// armTTKPropertiesThatCanBeEmpty are the members arm-ttk's "Template Should Not Contain Blanks" lets be empty
// (Azure/arm-ttk testcases/deploymentTemplate/Template-Should-Not-Contain-Blanks.test.ps1).
var armTTKPropertiesThatCanBeEmpty = []string{"resources", "outputs", "variables", "parameters", "functions", "properties",
	"defaultValue", "accessPolicies", "value", "promotionCode", "inputs", "notEquals", "clientId", "allowedCallerIpAddresses"}

// armTTKBlanks lists the JSON paths of the object members arm-ttk's blank rule refuses: an empty string, object or
// array as a member's value, unless the member is one it exempts or its name is an expression or a resource id.
func armTTKBlanks(v any, at, key string) []string {
	var out []string
	exempt := slices.Contains(armTTKPropertiesThatCanBeEmpty, key) || strings.HasPrefix(strings.TrimSpace(key), "[") ||
		strings.HasPrefix(strings.TrimSpace(key), "/subscriptions/")
	switch t := v.(type) {
	case string:
		if t == "" && key != "" && !exempt {
			out = append(out, at)
		}
	case []any:
		if len(t) == 0 && key != "" && !exempt {
			out = append(out, at)
		}
		for i, e := range t {
			out = append(out, armTTKBlanks(e, fmt.Sprintf("%s[%d]", at, i), "")...)
		}
	case map[string]any:
		if len(t) == 0 && key != "" && !exempt {
			out = append(out, at)
		}
		for _, k := range sortedKeys(t) {
			out = append(out, armTTKBlanks(t[k], at+"."+k, k)...)
		}
	}
	return out
}

// CheckSecureParameters follows every @secure() parameter through the templates: its value may only become a Key
// Vault secret's value (Microsoft.KeyVault/vaults/secrets properties.value, or that resource's condition), or a
// @secure() parameter of a module that does the same. In a variable, an output, an app setting, a tag or any other
// property it would show in the deployment's history or reach the app in clear text.
func (c *Checker) CheckSecureParameters() []error {
	files, err := c.ParseAllBicep()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, name := range sortedKeys(files) {
		f := files[name]
		if f.Arm == nil {
			continue
		}
		for _, p := range f.Params {
			if p.Decorators["secure"] != true {
				continue
			}
			ref := "parameters('" + p.Name + "')"
			fail := func(format string, a ...any) {
				errs = append(errs, fmt.Errorf("%s: secure parameter %s "+format, append([]any{name, p.Name}, a...)...))
			}
			for _, v := range sortedKeys(f.Arm.Vars) {
				if mentions(f.Arm.Vars[v], ref) {
					fail("reaches variable %s (variables are visible in the deployment)", v)
				}
			}
			for _, o := range sortedKeys(f.Arm.Outputs) {
				if mentions(f.Arm.Outputs[o], ref) {
					fail("reaches output %s", o)
				}
			}
			for _, d := range f.Arm.Resources {
				for _, at := range mentionPaths(d.Value, ref, "") {
					if d.Value["type"] == "Microsoft.KeyVault/vaults/secrets" && (at == ".properties.value" || at == ".condition") {
						continue
					}
					fail("reaches %s of resource %s (%v); only a Key Vault secret's properties.value may hold it", at, d.Symbol, d.Value["type"])
				}
			}
			for _, d := range f.Arm.Modules {
				props, _ := d.Value["properties"].(map[string]any)
				params, _ := props["parameters"].(map[string]any)
				target := path.Join(path.Dir(name), d.Path)
				for _, k := range sortedKeys(params) {
					if !mentions(params[k], ref) {
						continue
					}
					mod, ok := files[target]
					mp, declared := BicepParam{}, false
					if ok {
						mp, declared = mod.Param(k)
					}
					if !declared || mp.Decorators["secure"] != true {
						fail("is passed to parameter %s of module %s (%s), which is not @secure()", k, d.Symbol, target)
					}
				}
				for _, at := range mentionPaths(d.Value, ref, "") {
					if !strings.HasPrefix(at, ".properties.parameters.") {
						fail("reaches %s of module %s", at, d.Symbol)
					}
				}
			}
		}
	}
	return errs
}

func mentions(v any, ref string) bool { return len(mentionPaths(v, ref, "")) > 0 }

// mentionPaths lists the JSON paths of the strings in v that contain ref.
func mentionPaths(v any, ref, at string) []string {
	var out []string
	switch t := v.(type) {
	case string:
		if strings.Contains(strings.ReplaceAll(t, " ", ""), ref) {
			out = append(out, at)
		}
	case []any:
		for i, e := range t {
			out = append(out, mentionPaths(e, ref, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case map[string]any:
		for _, k := range sortedKeys(t) {
			if strings.Contains(strings.ReplaceAll(k, " ", ""), ref) {
				out = append(out, at+"."+k+" (key)")
			}
			out = append(out, mentionPaths(t[k], ref, at+"."+k)...)
		}
	}
	return out
}
