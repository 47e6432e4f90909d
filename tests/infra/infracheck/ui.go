package infracheck

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// UI definition constants (createUiDefinition.json).
const (
	UIHandler = "Microsoft.Azure.CreateUIDef"
	UIVersion = "0.1.2-preview"
	UISchema  = "https://schema.management.azure.com/schemas/0.1.2-preview/CreateUIDefinition.MultiVm.json#"
)

// UIElement is one element of a portal form.
type UIElement struct {
	// Key is "basics:<path>" or "<step>:<path>", the path naming the element inside its sections, e.g.
	// "integration:details.tenantId".
	Key  string
	Name string
	Type string
	Raw  map[string]any
}

// Form is a createUiDefinition.json: its elements and the outputs that become template parameters.
type Form struct {
	Elements map[string]UIElement
	// Order lists the element keys in file order.
	Order   []string
	Outputs map[string]string
	Steps   []string
	raw     map[string]any
}

// LoadForm reads a createUiDefinition.json under the checker's root.
func (c *Checker) LoadForm(rel string) (*Form, []error) {
	ui, err := c.readJSON(rel)
	if err != nil {
		return nil, []error{err}
	}
	f := &Form{Elements: map[string]UIElement{}, Outputs: map[string]string{}, raw: ui}
	var errs []error
	params, _ := ui["parameters"].(map[string]any)
	var walk func(scope, prefix string, list any)
	walk = func(scope, prefix string, list any) {
		for _, it := range asSlice(list) {
			m, _ := it.(map[string]any)
			name, _ := m["name"].(string)
			typ, _ := m["type"].(string)
			key := scope + ":" + prefix + name
			if _, dup := f.Elements[key]; dup {
				errs = append(errs, fmt.Errorf("%s: element %s appears twice", rel, key))
			}
			f.Elements[key] = UIElement{Key: key, Name: name, Type: typ, Raw: m}
			f.Order = append(f.Order, key)
			walk(scope, prefix+name+".", m["elements"])
		}
	}
	walk("basics", "", params["basics"])
	for _, s := range asSlice(params["steps"]) {
		m, _ := s.(map[string]any)
		name, _ := m["name"].(string)
		f.Steps = append(f.Steps, name)
		walk(name, "", m["elements"])
	}
	outputs, _ := params["outputs"].(map[string]any)
	for k, v := range outputs {
		s, _ := v.(string)
		f.Outputs[k] = s
	}
	return f, errs
}

// OptionsOf returns the labels and values an option group or drop-down offers.
func OptionsOf(el map[string]any) (labels []string, values []any) {
	cons, _ := el["constraints"].(map[string]any)
	for _, a := range asSlice(cons["allowedValues"]) {
		m, _ := a.(map[string]any)
		l, _ := m["label"].(string)
		labels = append(labels, l)
		values = append(values, m["value"])
	}
	return labels, values
}

// Answers are the values a user gives the form's elements, by element key; elements left out take the value the
// form starts with (DefaultAnswers).
type Answers map[string]any

// DefaultAnswers are the values the form shows before the user changes anything: an option group's default label's
// value, a text box's default (or a placeholder naming the element when it has none), a slider's default.
func (f *Form) DefaultAnswers() Answers {
	a := Answers{}
	for key, el := range f.Elements {
		switch el.Type {
		case "Microsoft.Common.OptionsGroup", "Microsoft.Common.DropDown":
			labels, values := OptionsOf(el.Raw)
			if i := slices.Index(labels, fmt.Sprint(el.Raw["defaultValue"])); i >= 0 {
				a[key] = values[i]
			} else if len(values) > 0 {
				a[key] = values[0]
			}
		case "Microsoft.Common.TextBox":
			if d, ok := el.Raw["defaultValue"].(string); ok {
				a[key] = d
			} else {
				a[key] = placeholder(key)
			}
		case "Microsoft.Common.PasswordBox":
			a[key] = placeholder(key)
		case "Microsoft.Common.Slider":
			a[key] = el.Raw["defaultValue"]
		case "Microsoft.Common.CheckBox":
			a[key] = false
		case "Microsoft.Solutions.ResourceSelector":
			a[key] = map[string]any{"name": placeholder(key + ".name"),
				"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/" + placeholder(key+".group") + "/providers/x/y/" + placeholder(key+".name")}
		}
	}
	return a
}

// placeholder is the stand-in value of an element the user fills in freely.
func placeholder(key string) string { return "‹" + key + "›" }

func isPlaceholder(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "‹")
}

// Evaluate returns the template parameters the form's outputs produce for the answers (merged over the defaults).
func (f *Form) Evaluate(answers Answers, location string) (map[string]any, error) {
	vals := f.DefaultAnswers()
	for k, v := range answers {
		if _, ok := f.Elements[k]; !ok {
			return nil, fmt.Errorf("the form has no element %s", k)
		}
		vals[k] = v
	}
	env := &uiEnv{form: f, vals: vals, location: location}
	out := map[string]any{}
	var errs []error
	for _, name := range sortedKeys(f.Outputs) {
		v, err := env.eval(f.Outputs[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("output %s (%s): %w", name, f.Outputs[name], err))
			continue
		}
		out[name] = v
	}
	return out, errors.Join(errs...)
}

// CheckUIDefinition checks the app-registration form against its template.
func (c *Checker) CheckUIDefinition() []error {
	return c.checkUIDefinition(CreateUIDefinitionPath, MainTemplatePath)
}

// CheckProductUIDefinition checks the whole product's form against infra/mainTemplate.json (and so, through the
// contract, against infra/main.bicep), and that its App Service Authentication step names every app role the API
// app registration defines (infra/auth/app-roles.json).
func (c *Checker) CheckProductUIDefinition() []error {
	errs := c.checkUIDefinition(ProductUIDefinitionPath, ProductTemplatePath)
	roles, err := c.readJSON("infra/auth/app-roles.json")
	if err != nil {
		return append(errs, err)
	}
	b, err := c.readFile(ProductUIDefinitionPath)
	if err != nil {
		return append(errs, err)
	}
	for _, r := range asSlice(roles["appRoles"]) {
		m, _ := r.(map[string]any)
		if v, _ := m["value"].(string); !strings.Contains(string(b), v) {
			errs = append(errs, fmt.Errorf("%s does not name the app role %s of infra/auth/app-roles.json", ProductUIDefinitionPath, v))
		}
	}
	return errs
}

// checkUIDefinition checks a portal form against its template: every output is a template parameter, every required
// parameter is supplied, every output refers to elements of the form, option groups take a label as default and
// offer what the parameter allows, the form's defaults equal the template's, a password box feeds only secure
// parameters and a secure parameter only a password box, and for every combination of the form's options (and
// sliders at their ends) each output evaluates to a value the parameter accepts: its type, allowed values and
// bounds.
func (c *Checker) checkUIDefinition(uiPath, tmplPath string) []error {
	form, errs := c.LoadForm(uiPath)
	if form == nil {
		return errs
	}
	arm, err := c.readJSON(tmplPath)
	if err != nil {
		return append(errs, err)
	}
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf(uiPath+": "+format, a...))
	}
	ui := form.raw
	if ui["handler"] != UIHandler {
		fail("handler is %v, want %s", ui["handler"], UIHandler)
	}
	if ui["version"] != UIVersion {
		fail("version is %v, want %s", ui["version"], UIVersion)
	}
	if ui["$schema"] != UISchema {
		fail("$schema is %v, want %s", ui["$schema"], UISchema)
	}
	for _, key := range form.Order {
		el := form.Elements[key]
		if el.Type == "Microsoft.Common.OptionsGroup" {
			labels, values := OptionsOf(el.Raw)
			if def, ok := el.Raw["defaultValue"].(string); ok && !slices.Contains(labels, def) {
				fail("%s: defaultValue %q is not one of the labels %v (option groups take a label as default)", key, def, labels)
			}
			if len(values) == 0 {
				fail("%s: no allowedValues", key)
			}
		}
	}

	armParams, _ := arm["parameters"].(map[string]any)
	for _, name := range sortedKeys(form.Outputs) {
		expr := form.Outputs[name]
		ap, ok := armParams[name].(map[string]any)
		if !ok {
			fail("output %s is not a parameter of %s", name, tmplPath)
			continue
		}
		refs, err := form.References(expr)
		if err != nil {
			fail("output %s: %v", name, err)
			continue
		}
		if len(refs) == 0 && expr != "[location()]" {
			fail("output %s (%s) refers to no element of the form", name, expr)
		}
		for _, el := range refs {
			if expr == "["+elementRef(el)+"]" {
				errs = append(errs, checkBinding(uiPath, name, el, ap)...)
			}
			if el.Type == "Microsoft.Common.PasswordBox" && ap["type"] != "securestring" {
				fail("output %s: the password box %s feeds parameter %s, which is %v, not securestring: its value would show in the deployment's history", name, el.Key, name, ap["type"])
			}
		}
		if ap["type"] == "securestring" && !slices.ContainsFunc(refs, func(e UIElement) bool { return e.Type == "Microsoft.Common.PasswordBox" }) {
			fail("output %s: the secure parameter %s is not fed by a password box", name, name)
		}
	}
	for _, name := range sortedKeys(armParams) {
		ap, _ := armParams[name].(map[string]any)
		if _, hasDefault := ap["defaultValue"]; !hasDefault {
			if _, ok := form.Outputs[name]; !ok {
				fail("required parameter %s of %s is not supplied by the form's outputs", name, tmplPath)
			}
		}
	}
	if form.Outputs["location"] != "[location()]" {
		fail("output location must be [location()], the region chosen on Basics")
	}

	reported := map[string]bool{}
	for _, answers := range form.Combinations() {
		params, err := form.Evaluate(answers, "westeurope")
		if err != nil {
			if !reported[err.Error()] {
				fail("%v", err)
				reported[err.Error()] = true
			}
			continue
		}
		for _, name := range sortedKeys(params) {
			ap, ok := armParams[name].(map[string]any)
			if !ok {
				continue
			}
			if err := acceptsValue(ap, params[name]); err != nil {
				msg := fmt.Sprintf("output %s evaluates to %s with %s, which parameter %s refuses: %v", name, compactJSON(params[name]), describeAnswers(form, answers), name, err)
				if !reported["accept:"+name] {
					fail("%s", msg)
					reported["accept:"+name] = true
				}
			}
		}
	}
	return errs
}

// Combinations returns every combination of the form's option groups and drop-downs, with each slider at its
// minimum, maximum and default in turn.
func (f *Form) Combinations() []Answers {
	combos := []Answers{{}}
	for _, key := range f.Order {
		el := f.Elements[key]
		var choices []any
		switch el.Type {
		case "Microsoft.Common.OptionsGroup", "Microsoft.Common.DropDown":
			_, choices = OptionsOf(el.Raw)
		case "Microsoft.Common.Slider":
			choices = []any{el.Raw["min"], el.Raw["max"], el.Raw["defaultValue"]}
		case "Microsoft.Common.CheckBox":
			choices = []any{false, true}
		default:
			continue
		}
		var next []Answers
		for _, c := range combos {
			for _, v := range choices {
				a := Answers{}
				for k, x := range c {
					a[k] = x
				}
				a[key] = v
				next = append(next, a)
			}
		}
		combos = next
	}
	return combos
}

func describeAnswers(f *Form, a Answers) string {
	var parts []string
	for _, key := range f.Order {
		if v, ok := a[key]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", key, v))
		}
	}
	if len(parts) == 0 {
		return "the defaults"
	}
	return strings.Join(parts, ", ")
}

// acceptsValue reports whether a template parameter accepts v: its type, allowed values and bounds. A placeholder
// for free text is only type-checked.
func acceptsValue(ap map[string]any, v any) error {
	typ := strings.ToLower(fmt.Sprint(ap["type"]))
	switch typ {
	case "string", "securestring":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("a %s needs a string, not %T", typ, v)
		}
		if isPlaceholder(s) {
			return nil
		}
		if min, ok := ap["minLength"].(float64); ok && float64(len(s)) < min && s != "" {
			return fmt.Errorf("%q is shorter than %v", s, min)
		}
		if max, ok := ap["maxLength"].(float64); ok && float64(len(s)) > max {
			return fmt.Errorf("%q is longer than %v", s, max)
		}
	case "int":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return fmt.Errorf("an int needs a whole number, not %v (%T)", v, v)
		}
		if min, ok := ap["minValue"].(float64); ok && n < min {
			return fmt.Errorf("%v is below minValue %v", n, min)
		}
		if max, ok := ap["maxValue"].(float64); ok && n > max {
			return fmt.Errorf("%v is above maxValue %v", n, max)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("a bool needs true or false, not %v (%T)", v, v)
		}
	case "object", "secureobject":
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("an object needs an object, not %T", v)
		}
	case "array":
		if _, ok := v.([]any); !ok {
			return fmt.Errorf("an array needs an array, not %T", v)
		}
	}
	if allowed := asSlice(ap["allowedValues"]); len(allowed) > 0 && !isPlaceholder(v) {
		if !slices.ContainsFunc(allowed, func(a any) bool { return fmt.Sprint(a) == fmt.Sprint(v) }) {
			return fmt.Errorf("%v is not one of the allowed values %v", v, allowed)
		}
	}
	return nil
}

// checkBinding checks an output that is exactly one element's value against the parameter it feeds: an option
// group offers what the parameter allows and defaults to the template's default, a text box and a slider default to
// the template's default, a slider stays within the parameter's bounds.
func checkBinding(uiPath, param string, el UIElement, ap map[string]any) []error {
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf(uiPath+": output %s (%s): "+format, append([]any{param, el.Name}, a...)...))
	}
	armDefault, hasDefault := ap["defaultValue"]
	switch el.Type {
	case "Microsoft.Common.OptionsGroup":
		labels, values := OptionsOf(el.Raw)
		var offered, allowed []string
		for _, v := range values {
			offered = append(offered, fmt.Sprint(v))
		}
		for _, v := range asSlice(ap["allowedValues"]) {
			allowed = append(allowed, fmt.Sprint(v))
		}
		if ap["type"] == "bool" {
			allowed = []string{"false", "true"}
		}
		if len(allowed) > 0 && !slices.Equal(sortedCopy(offered), sortedCopy(allowed)) {
			fail("offers %v, the parameter allows %v", offered, allowed)
		}
		if def, ok := el.Raw["defaultValue"].(string); ok && hasDefault {
			if i := slices.Index(labels, def); i >= 0 && fmt.Sprint(values[i]) != fmt.Sprint(armDefault) {
				fail("form default %q means %q, the template default is %v", def, fmt.Sprint(values[i]), armDefault)
			}
		}
	case "Microsoft.Common.TextBox":
		if def, ok := el.Raw["defaultValue"].(string); ok && hasDefault {
			if s, _ := armDefault.(string); !strings.HasPrefix(s, "[") && def != s {
				fail("form default %q, template default %q", def, s)
			}
		}
	case "Microsoft.Common.Slider":
		if hasDefault && fmt.Sprint(normalizeNumber(el.Raw["defaultValue"])) != fmt.Sprint(normalizeNumber(armDefault)) {
			fail("form default %v, template default %v", el.Raw["defaultValue"], armDefault)
		}
		if min, ok := ap["minValue"].(float64); ok {
			if m, _ := el.Raw["min"].(float64); m < min {
				fail("slider minimum %v is below the parameter's minValue %v", m, min)
			}
		}
		if max, ok := ap["maxValue"].(float64); ok {
			if m, _ := el.Raw["max"].(float64); m > max {
				fail("slider maximum %v is above the parameter's maxValue %v", m, max)
			}
		}
	}
	return errs
}

// elementRef is the expression that reads an element's value.
func elementRef(el UIElement) string {
	scope, path, _ := strings.Cut(el.Key, ":")
	first, rest, _ := strings.Cut(path, ".")
	if scope == "basics" {
		if rest == "" {
			return "basics('" + first + "')"
		}
		return "basics('" + first + "')." + rest
	}
	return "steps('" + scope + "')." + path
}

// References returns the elements an output expression reads, or an error naming a reference to an element the
// form does not have.
func (f *Form) References(expr string) ([]UIElement, error) {
	var out []UIElement
	var errs []error
	for _, m := range regexp.MustCompile(`(basics|steps)\('([^']+)'\)((?:\.\w+)*)`).FindAllStringSubmatch(expr, -1) {
		var scope, path string
		if m[1] == "basics" {
			scope, path = "basics", m[2]+m[3]
		} else {
			scope, path = m[2], strings.TrimPrefix(m[3], ".")
		}
		el, ok := f.lookup(scope, path)
		if !ok {
			errs = append(errs, fmt.Errorf("refers to %s, which the form does not have", m[0]))
			continue
		}
		out = append(out, el)
	}
	return out, errors.Join(errs...)
}

// lookup finds the deepest element named by a dotted path in a scope; the rest of the path is a property of its
// value (a resource selector's .id).
func (f *Form) lookup(scope, path string) (UIElement, bool) {
	parts := strings.Split(path, ".")
	for n := len(parts); n > 0; n-- {
		if el, ok := f.Elements[scope+":"+strings.Join(parts[:n], ".")]; ok {
			// A section's value holds only its children: a name after it that is no child is a typo.
			return el, el.Type != "Microsoft.Common.Section" || n == len(parts)
		}
	}
	return UIElement{}, false
}

// uiEnv evaluates createUiDefinition expressions: string and number literals, member access and the functions the
// forms use (basics, steps, location, if, equals, not, and, or, empty, concat, first, last, skip, split, string).
type uiEnv struct {
	form     *Form
	vals     Answers
	location string
}

func (e *uiEnv) eval(expr string) (any, error) {
	s := strings.TrimSpace(expr)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return s, nil
	}
	p := &uiParser{src: s[1 : len(s)-1], env: e}
	v, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at %d", p.src[p.pos:], p.pos)
	}
	return v, nil
}

// value returns an element's value; a section's value is an object of its children's values.
func (e *uiEnv) value(scope, path string) (any, bool) {
	key := scope + ":" + path
	if v, ok := e.vals[key]; ok {
		return v, true
	}
	if el, ok := e.form.Elements[key]; ok && el.Type == "Microsoft.Common.Section" {
		obj := map[string]any{}
		for k := range e.form.Elements {
			if rest, ok := strings.CutPrefix(k, key+"."); ok && !strings.Contains(rest, ".") {
				obj[rest], _ = e.value(scope, path+"."+rest)
			}
		}
		return obj, true
	}
	if _, ok := e.form.Elements[key]; ok {
		return nil, true // an element without a value (a text block)
	}
	return nil, false
}

// uiRef is the value of steps('x') or basics(), resolved lazily as members are read.
type uiRef struct {
	scope, path string
}

type uiParser struct {
	src string
	pos int
	env *uiEnv
}

func (p *uiParser) space() {
	for p.pos < len(p.src) && strings.ContainsRune(" \t\r\n", rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *uiParser) expr() (any, error) {
	p.space()
	if p.pos >= len(p.src) {
		return nil, errors.New("unexpected end of expression")
	}
	var v any
	var err error
	switch ch := p.src[p.pos]; {
	case ch == '\'':
		v, err = p.str()
	case ch == '-' || (ch >= '0' && ch <= '9'):
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && (p.src[p.pos] == '.' || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
			p.pos++
		}
		v, err = strconv.ParseFloat(p.src[start:p.pos], 64)
	default:
		v, err = p.call()
	}
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		if p.pos >= len(p.src) || p.src[p.pos] != '.' {
			break
		}
		p.pos++
		name := p.ident()
		if name == "" {
			return nil, fmt.Errorf("member name expected at %d", p.pos)
		}
		if v, err = p.member(v, name); err != nil {
			return nil, err
		}
	}
	return p.resolve(v)
}

func (p *uiParser) member(v any, name string) (any, error) {
	switch t := v.(type) {
	case uiRef:
		path := name
		if t.path != "" {
			path = t.path + "." + name
		}
		if _, ok := p.env.form.Elements[t.scope+":"+path]; ok {
			return uiRef{t.scope, path}, nil
		}
		val, err := p.resolve(t)
		if err != nil {
			return nil, err
		}
		return p.member(val, name)
	case map[string]any:
		return t[name], nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("%v has no member %s", v, name)
}

func (p *uiParser) resolve(v any) (any, error) {
	r, ok := v.(uiRef)
	if !ok {
		return v, nil
	}
	if r.path == "" {
		return nil, fmt.Errorf("%s() needs an element name", map[bool]string{true: "basics", false: "steps('" + r.scope + "')"}[r.scope == "basics"])
	}
	val, ok := p.env.value(r.scope, r.path)
	if !ok {
		return nil, fmt.Errorf("the form has no element %s:%s", r.scope, r.path)
	}
	return val, nil
}

func (p *uiParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		if ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *uiParser) str() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		p.pos++
		if ch == '\'' {
			if p.pos < len(p.src) && p.src[p.pos] == '\'' {
				b.WriteByte('\'')
				p.pos++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(ch)
	}
	return "", errors.New("unterminated string")
}

func (p *uiParser) call() (any, error) {
	name := p.ident()
	if name == "" {
		return nil, fmt.Errorf("unexpected %q at %d", p.src[p.pos:], p.pos)
	}
	p.space()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		switch name {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%s is not a function call", name)
	}
	p.pos++
	var args []any
	for {
		p.space()
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
			break
		}
		// basics('x') and steps('x') keep their argument's element reference unresolved.
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, v)
		p.space()
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
			break
		}
		return nil, fmt.Errorf("',' or ')' expected at %d in %s(...)", p.pos, name)
	}
	return p.apply(name, args)
}

func (p *uiParser) apply(name string, args []any) (any, error) {
	argc := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s() takes %d arguments, got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "basics":
		if err := argc(1); err != nil {
			return nil, err
		}
		return uiRef{"basics", fmt.Sprint(args[0])}, nil
	case "steps":
		if err := argc(1); err != nil {
			return nil, err
		}
		step := fmt.Sprint(args[0])
		if !slices.Contains(p.env.form.Steps, step) {
			return nil, fmt.Errorf("the form has no step %s", step)
		}
		return uiRef{step, ""}, nil
	case "location":
		return p.env.location, argc(0)
	case "if":
		if err := argc(3); err != nil {
			return nil, err
		}
		c, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("if() needs a boolean condition, got %v", args[0])
		}
		if c {
			return args[1], nil
		}
		return args[2], nil
	case "equals":
		if err := argc(2); err != nil {
			return nil, err
		}
		return fmt.Sprint(args[0]) == fmt.Sprint(args[1]) && fmt.Sprintf("%T", args[0]) == fmt.Sprintf("%T", args[1]), nil
	case "not":
		if err := argc(1); err != nil {
			return nil, err
		}
		b, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("not() needs a boolean, got %v", args[0])
		}
		return !b, nil
	case "and", "or":
		if len(args) < 2 {
			return nil, fmt.Errorf("%s() takes at least 2 arguments", name)
		}
		acc := name == "and"
		for _, a := range args {
			b, ok := a.(bool)
			if !ok {
				return nil, fmt.Errorf("%s() needs booleans, got %v", name, a)
			}
			if name == "and" {
				acc = acc && b
			} else {
				acc = acc || b
			}
		}
		return acc, nil
	case "empty":
		if err := argc(1); err != nil {
			return nil, err
		}
		switch t := args[0].(type) {
		case nil:
			return true, nil
		case string:
			return t == "", nil
		case []any:
			return len(t) == 0, nil
		case map[string]any:
			return len(t) == 0, nil
		}
		return false, nil
	case "concat":
		var b strings.Builder
		for _, a := range args {
			b.WriteString(fmt.Sprint(a))
		}
		return b.String(), nil
	case "string":
		if err := argc(1); err != nil {
			return nil, err
		}
		return fmt.Sprint(args[0]), nil
	case "split":
		if err := argc(2); err != nil {
			return nil, err
		}
		var out []any
		for _, s := range strings.Split(fmt.Sprint(args[0]), fmt.Sprint(args[1])) {
			out = append(out, s)
		}
		return out, nil
	case "skip":
		if err := argc(2); err != nil {
			return nil, err
		}
		list, _ := args[0].([]any)
		n, _ := args[1].(float64)
		if int(n) >= len(list) {
			return []any{}, nil
		}
		return list[int(n):], nil
	case "first", "last":
		if err := argc(1); err != nil {
			return nil, err
		}
		list, _ := args[0].([]any)
		if len(list) == 0 {
			return nil, nil
		}
		if name == "first" {
			return list[0], nil
		}
		return list[len(list)-1], nil
	}
	return nil, fmt.Errorf("unknown function %s()", name)
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
