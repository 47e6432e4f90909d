package entrasim

import (
	"fmt"
	"math"
	"strings"
)

// A schema says which properties of an entity type an endpoint can filter on, with which operators, and
// how property names match (Graph's reporting endpoints ignore case; provisioning is case sensitive).
// Validation turns a parse tree into a compiled filter bound to the schema; the compiled filter is then
// evaluated against record views and analysed for the time window and the sign-in event types it selects.

type propType int

const (
	pString propType = iota
	pInt
	pBool
	pTime
	pEnum
)

func (t propType) edm(enumName string) string {
	switch t {
	case pInt:
		return "Edm.Int32"
	case pBool:
		return "Edm.Boolean"
	case pTime:
		return "Edm.DateTimeOffset"
	case pEnum:
		return "microsoft.graph." + enumName
	}
	return "Edm.String"
}

// propSpec is one filterable property.
type propSpec struct {
	path string // canonical, "/"-separated
	typ  propType
	enum string // enum type name for messages
	ops  map[string]bool
}

// collSpec is a filterable collection used with any().
type collSpec struct {
	path   string
	scalar bool            // a collection of primitive values (e.g. signInEventTypes)
	typ    propType        // item type when scalar
	ops    map[string]bool // item operators when scalar
	item   map[string]*propSpec
}

// schema describes one endpoint's filter surface.
type schema struct {
	typeName      string // e.g. microsoft.graph.signIn
	caseSensitive bool
	props         map[string]*propSpec
	colls         map[string]*collSpec
	timeProp      string
	// knownProps are the entity's top-level properties (for $select and messages about unknown names).
	knownProps []string
	// nested names the complex types of nested properties for error messages.
	nested map[string]string
	// resourceName, when set, selects the directory objects' error wording ("User", "Group", …) instead of
	// the reporting endpoints' "Invalid filter clause".
	resourceName string
}

func opset(ops ...string) map[string]bool {
	m := map[string]bool{}
	for _, o := range ops {
		m[o] = true
	}
	return m
}

func (s *schema) key(path string) string {
	if s.caseSensitive {
		return path
	}
	return strings.ToLower(path)
}

func (s *schema) addProp(path string, typ propType, ops ...string) *schema {
	if s.props == nil {
		s.props = map[string]*propSpec{}
	}
	s.props[s.key(path)] = &propSpec{path: path, typ: typ, ops: opset(ops...)}
	return s
}

func (s *schema) addEnum(path, enum string, ops ...string) *schema {
	s.addProp(path, pEnum, ops...)
	s.props[s.key(path)].enum = enum
	return s
}

// Compiled filter.

type cnode interface{ isC() }

type cLogic struct {
	op   string
	l, r cnode
}
type cNot struct{ x cnode }

// cCmp compares a property (or, with prop nil, the lambda's scalar item) with a literal.
type cCmp struct {
	op   string
	prop *propSpec
	typ  propType
	lit  literal
	item bool // refers to the lambda variable's item
}

type cCall struct {
	fn   string
	prop *propSpec
	lit  literal
	item bool
}

type cAny struct {
	coll *collSpec
	body cnode // nil: any()
}

func (*cLogic) isC() {}
func (*cNot) isC()   {}
func (*cCmp) isC()   {}
func (*cCall) isC()  {}
func (*cAny) isC()   {}

var opKinds = map[string]string{
	"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan", "le": "LessThanOrEqual",
}

func (s *schema) unknownProperty(path []string) error {
	if s.resourceName != "" {
		// Directory objects (unverified wording).
		return &unsupportedError{code: "Request_BadRequest", msg: fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", path[len(path)-1])}
	}
	typ := s.typeName
	if len(path) > 1 {
		if t, ok := s.nested[s.key(strings.Join(path[:len(path)-1], "/"))]; ok {
			typ = t
		}
	}
	return &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: Could not find a property named '%s' on type '%s'.", path[len(path)-1], typ)}
}

// unsupportedOp is the answer to an operator the endpoint does not support on a property. The wording is
// unverified: Graph's reporting endpoints answer unsupported filters with 400 "Invalid filter clause"
// (source: microsoft-graph-docs issues #5676, #14173); the detail after the colon is ours. Directory objects
// answer Request_UnsupportedQuery (unverified wording).
func (s *schema) unsupportedOp(op, path string) error {
	if s.resourceName != "" {
		return &unsupportedError{code: "Request_UnsupportedQuery", msg: fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", path, s.resourceName)}
	}
	return &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: The operator '%s' is not supported for the property '%s'.", op, path)}
}

func incompatible(op string, left, right string) error {
	return &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", left, right, opKinds[op])}
}

// compile validates n against s.
func (s *schema) compile(n node) (cnode, error) { return s.compileIn(n, "", nil) }

func (s *schema) compileIn(n node, lambdaVar string, coll *collSpec) (cnode, error) {
	switch n := n.(type) {
	case *logicNode:
		l, err := s.compileIn(n.l, lambdaVar, coll)
		if err != nil {
			return nil, err
		}
		r, err := s.compileIn(n.r, lambdaVar, coll)
		if err != nil {
			return nil, err
		}
		return &cLogic{op: n.op, l: l, r: r}, nil
	case *notNode:
		// Graph's reporting endpoints do not document "not" (unverified); refuse it rather than guess.
		return nil, &unsupportedError{msg: "Invalid filter clause: The 'not' operator is not supported."}
	case *cmpNode:
		prop, item, typ, enum, err := s.resolve(n.path, lambdaVar, coll)
		if err != nil {
			return nil, err
		}
		ops := coll.opsFor(prop, item)
		if !ops[n.op] {
			return nil, s.unsupportedOp(n.op, strings.Join(n.path, "/"))
		}
		if err := checkLiteral(n.op, typ, enum, n.lit); err != nil {
			return nil, err
		}
		return &cCmp{op: n.op, prop: prop, typ: typ, lit: n.lit, item: item}, nil
	case *callNode:
		prop, item, typ, _, err := s.resolve(n.path, lambdaVar, coll)
		if err != nil {
			return nil, err
		}
		if !coll.opsFor(prop, item)[n.fn] {
			return nil, s.unsupportedOp(n.fn, strings.Join(n.path, "/"))
		}
		if typ != pString && typ != pEnum || n.lit.kind != litString {
			return nil, &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: No function signature for the function with name '%s' matches the specified arguments.", n.fn)}
		}
		return &cCall{fn: n.fn, prop: prop, lit: n.lit, item: item}, nil
	case *anyNode:
		if lambdaVar != "" {
			return nil, &unsupportedError{msg: "Invalid filter clause: Nested lambda expressions are not supported."}
		}
		c, ok := s.colls[s.key(strings.Join(n.path, "/"))]
		if !ok {
			if _, isProp := s.props[s.key(strings.Join(n.path, "/"))]; isProp {
				return nil, &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: The 'any' operator is only supported on collections; '%s' is not a collection.", strings.Join(n.path, "/"))}
			}
			return nil, s.unknownProperty(n.path)
		}
		if n.body == nil {
			return &cAny{coll: c}, nil
		}
		body, err := s.compileIn(n.body, n.v, c)
		if err != nil {
			return nil, err
		}
		return &cAny{coll: c, body: body}, nil
	}
	return nil, fmt.Errorf("entrasim: unexpected filter node %T", n)
}

// opsFor returns the operators allowed on prop (or on the scalar lambda item).
func (c *collSpec) opsFor(prop *propSpec, item bool) map[string]bool {
	if item && prop == nil {
		return c.ops
	}
	return prop.ops
}

// resolve maps a path to its property. Inside a lambda the path must start with the lambda variable.
func (s *schema) resolve(path []string, lambdaVar string, coll *collSpec) (*propSpec, bool, propType, string, error) {
	if lambdaVar != "" {
		if path[0] != lambdaVar {
			return nil, false, 0, "", &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: Only the lambda variable '%s' can be used inside the lambda expression.", lambdaVar)}
		}
		if len(path) == 1 {
			if !coll.scalar {
				return nil, false, 0, "", &unsupportedError{msg: "Invalid filter clause: The lambda variable refers to an object; compare one of its properties."}
			}
			return nil, true, coll.typ, "", nil
		}
		sub := strings.Join(path[1:], "/")
		if coll.scalar || coll.item == nil {
			return nil, false, 0, "", s.unknownProperty(path[1:])
		}
		p, ok := coll.item[s.key(sub)]
		if !ok {
			return nil, false, 0, "", s.unknownProperty(path[1:])
		}
		return p, true, p.typ, p.enum, nil
	}
	p, ok := s.props[s.key(strings.Join(path, "/"))]
	if !ok {
		if _, isColl := s.colls[s.key(strings.Join(path, "/"))]; isColl {
			return nil, false, 0, "", &unsupportedError{msg: fmt.Sprintf("Invalid filter clause: The collection '%s' can only be filtered with the 'any' operator.", strings.Join(path, "/"))}
		}
		return nil, false, 0, "", s.unknownProperty(path)
	}
	return p, false, p.typ, p.enum, nil
}

func checkLiteral(op string, typ propType, enum string, lit literal) error {
	if lit.kind == litNull {
		if op == "eq" || op == "ne" {
			return nil
		}
		return incompatible(op, typ.edm(enum), "null")
	}
	ok := false
	switch typ {
	case pString, pEnum:
		ok = lit.kind == litString
	case pInt:
		ok = lit.kind == litNumber && lit.num == math.Trunc(lit.num)
	case pBool:
		ok = lit.kind == litBool
	case pTime:
		ok = lit.kind == litDateTime
	}
	if !ok {
		return incompatible(op, typ.edm(enum), lit.edmType())
	}
	return nil
}

// Values and record views.

type valKind int

const (
	vNull valKind = iota
	vString
	vNumber
	vBool
	vTime
)

type value struct {
	kind valKind
	s    string
	n    float64
	b    bool
	t    int64
}

func sval(s string) value { return value{kind: vString, s: s} }
func nval(n int) value    { return value{kind: vNumber, n: float64(n)} }
func tval(ns int64) value { return value{kind: vTime, t: ns} }
func bval(b bool) value   { return value{kind: vBool, b: b} }
func optS(s string) value {
	if s == "" {
		return value{}
	}
	return sval(s)
}

// view is a record the filter can read.
type view interface {
	get(path string) value       // canonical path
	scalars(coll string) []value // scalar collection items
	items(coll string) []view    // object collection items
}

// evaluation context: case sensitivity of string comparisons.
type evaluator struct{ caseSensitive bool }

func (e evaluator) eval(n cnode, v view, item *value, itemView view) bool {
	switch n := n.(type) {
	case *cLogic:
		if n.op == "and" {
			return e.eval(n.l, v, item, itemView) && e.eval(n.r, v, item, itemView)
		}
		return e.eval(n.l, v, item, itemView) || e.eval(n.r, v, item, itemView)
	case *cNot:
		return !e.eval(n.x, v, item, itemView)
	case *cCmp:
		return e.compare(n.op, e.operand(n.prop, n.item, v, item, itemView), n.lit)
	case *cCall:
		x := e.operand(n.prop, n.item, v, item, itemView)
		if x.kind != vString {
			return false
		}
		a, b := x.s, n.lit.str
		if !e.caseSensitive {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		switch n.fn {
		case "startswith":
			return strings.HasPrefix(a, b)
		case "endswith":
			return strings.HasSuffix(a, b)
		default:
			return strings.Contains(a, b)
		}
	case *cAny:
		if n.coll.scalar {
			for _, x := range v.scalars(n.coll.path) {
				x := x
				if n.body == nil || e.eval(n.body, v, &x, nil) {
					return true
				}
			}
			return false
		}
		for _, iv := range v.items(n.coll.path) {
			if n.body == nil || e.eval(n.body, v, nil, iv) {
				return true
			}
		}
		return false
	}
	return false
}

func (e evaluator) operand(prop *propSpec, isItem bool, v view, item *value, itemView view) value {
	switch {
	case isItem && prop == nil:
		return *item
	case isItem:
		return itemView.get(prop.path)
	default:
		return v.get(prop.path)
	}
}

func (e evaluator) compare(op string, x value, lit literal) bool {
	if lit.kind == litNull {
		isNull := x.kind == vNull
		if op == "eq" {
			return isNull
		}
		return !isNull
	}
	if x.kind == vNull {
		return op == "ne"
	}
	var c int
	switch x.kind {
	case vString:
		a, b := x.s, lit.str
		if !e.caseSensitive {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		c = strings.Compare(a, b)
	case vNumber:
		c = cmpOrdered(x.n, lit.num)
	case vBool:
		if x.b == lit.b {
			c = 0
		} else {
			c = 1
		}
		if op != "eq" && op != "ne" {
			return false
		}
	case vTime:
		c = cmpOrdered(x.t, lit.t)
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	default:
		return c <= 0
	}
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Analysis.

// span is an inclusive range of unix nanoseconds.
type span struct{ lo, hi int64 }

var fullSpan = span{math.MinInt64, math.MaxInt64}

func (a span) intersect(b span) span { return span{max(a.lo, b.lo), min(a.hi, b.hi)} }
func (a span) hull(b span) span {
	if a.lo > a.hi {
		return b
	}
	if b.lo > b.hi {
		return a
	}
	return span{min(a.lo, b.lo), max(a.hi, b.hi)}
}

// timeSpan returns a range holding every timestamp n can accept on the time property (a superset: used to
// seek, never to decide).
func timeSpan(n cnode, timeProp string) span {
	switch n := n.(type) {
	case *cLogic:
		if n.op == "and" {
			return timeSpan(n.l, timeProp).intersect(timeSpan(n.r, timeProp))
		}
		return timeSpan(n.l, timeProp).hull(timeSpan(n.r, timeProp))
	case *cCmp:
		if n.item || n.prop.path != timeProp || n.lit.kind != litDateTime {
			return fullSpan
		}
		t := n.lit.t
		switch n.op {
		case "eq":
			return span{t, t}
		case "gt":
			return span{t + 1, math.MaxInt64}
		case "ge":
			return span{t, math.MaxInt64}
		case "lt":
			return span{math.MinInt64, t - 1}
		case "le":
			return span{math.MinInt64, t}
		}
	}
	return fullSpan
}

// tri is a three-valued truth: the analysis of a filter when only some atoms are known.
type tri int

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triAnd(a, b tri) tri {
	if a == triFalse || b == triFalse {
		return triFalse
	}
	if a == triTrue && b == triTrue {
		return triTrue
	}
	return triUnknown
}

func triOr(a, b tri) tri {
	if a == triTrue || b == triTrue {
		return triTrue
	}
	if a == triFalse && b == triFalse {
		return triFalse
	}
	return triUnknown
}

// mentions reports whether n has an any() over the collection at path.
func mentions(n cnode, path string) bool {
	switch n := n.(type) {
	case *cLogic:
		return mentions(n.l, path) || mentions(n.r, path)
	case *cNot:
		return mentions(n.x, path)
	case *cAny:
		return n.coll.path == path
	}
	return false
}

// selects decides, as far as the event type alone can, whether n accepts a record whose scalar collection
// at path is exactly {val}: false means no such record can match.
func selects(n cnode, path, val string, caseSensitive bool) tri {
	switch n := n.(type) {
	case *cLogic:
		l, r := selects(n.l, path, val, caseSensitive), selects(n.r, path, val, caseSensitive)
		if n.op == "and" {
			return triAnd(l, r)
		}
		return triOr(l, r)
	case *cAny:
		if n.coll.path != path {
			return triUnknown
		}
		if n.body == nil {
			return triTrue
		}
		x := sval(val)
		return evalItemOnly(n.body, &x, caseSensitive)
	}
	return triUnknown
}

// evalItemOnly evaluates a lambda body whose atoms all refer to the scalar item.
func evalItemOnly(n cnode, item *value, caseSensitive bool) tri {
	switch n := n.(type) {
	case *cLogic:
		l, r := evalItemOnly(n.l, item, caseSensitive), evalItemOnly(n.r, item, caseSensitive)
		if n.op == "and" {
			return triAnd(l, r)
		}
		return triOr(l, r)
	case *cCmp, *cCall:
		if (evaluator{caseSensitive: caseSensitive}).eval(n, nil, item, nil) {
			return triTrue
		}
		return triFalse
	}
	return triUnknown
}
