package entrasim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Schema conformance: every directory object the simulator serves is held to Microsoft Graph's v1.0 schema
// (tests/testdata/graph-csdl): the entity type's properties and nothing else, nested objects as their
// complex types define them, enum values from their enum type, collections never null, strings never empty
// (Graph answers null for a property without a value), date-times valid and plausible. The test loops over
// the schema file, so a property that goes missing from the simulator fails it.

const schemaDir = "../testdata/graph-csdl"

// graphSchema is the schema file and its supplement: v1.0 types, and beta's in beta.
type graphSchema struct {
	entities map[string]map[string]string // entity → property → OData type
	complex  map[string]map[string]string
	derived  map[string][]string // polymorphic complex type → its derived types
	enums    map[string][]string
	flags    []string // enum types whose values may combine members ("a,b")
	open     []string // complex types that may carry undeclared properties
	beta     *graphSchema
	// emptyOK lists the paths ("a", "a.b", "a[].b"; "*" for all) where Graph itself answers an empty string for
	// a string property without a value; elsewhere it answers null.
	emptyOK []string
	// complete: nested objects carry every property of their complex type (null where Graph holds no value).
	complete bool
}

// allowEmpty returns a copy of the schema that accepts empty strings at the given paths.
func (s *graphSchema) allowEmpty(paths []string) *graphSchema {
	c := *s
	c.emptyOK = paths
	return &c
}

// schemaTypes is one API version's section of supplement.json.
type schemaTypes struct {
	EntityTypes map[string]struct {
		Properties map[string]string `json:"properties"`
	} `json:"entityTypes"`
	ComplexTypes map[string]map[string]string `json:"complexTypes"`
	DerivedTypes map[string][]string          `json:"derivedTypes"`
	EnumTypes    map[string][]string          `json:"enumTypes"`
	FlagEnums    []string                     `json:"flagEnums"`
	OpenTypes    []string                     `json:"openTypes"`
}

func loadGraphSchema(t testing.TB) *graphSchema {
	t.Helper()
	read := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join(schemaDir, name))
		if err != nil {
			t.Fatalf("schema: %v", err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
	}
	var props schemaTypes
	var supp struct {
		schemaTypes
		Beta schemaTypes `json:"beta"`
	}
	read("properties.json", &props)
	read("supplement.json", &supp)
	build := func(srcs ...schemaTypes) *graphSchema {
		last := srcs[len(srcs)-1]
		s := &graphSchema{entities: map[string]map[string]string{}, complex: last.ComplexTypes, derived: last.DerivedTypes,
			enums: last.EnumTypes, flags: last.FlagEnums, open: last.OpenTypes}
		for _, src := range srcs {
			for name, e := range src.EntityTypes {
				s.entities[name] = e.Properties
			}
		}
		return s
	}
	s := build(props, supp.schemaTypes)
	s.beta = build(supp.Beta)
	// properties.json's signIn.beta is beta's signIn; its "(?)" types were read from a secondary source.
	s.beta.entities["signIn"] = map[string]string{}
	for p, typ := range s.entities["signIn.beta"] {
		s.beta.entities["signIn"][p] = strings.TrimSuffix(typ, "(?)")
	}
	return s
}

// Graph's sentinel date-times: .NET's DateTime.MinValue and MaxValue.
const (
	graphMinTime = "0001-01-01T00:00:00Z"
	graphMaxTime = "9999-12-31T23:59:59Z"
)

// typeName strips the namespace and Collection() of an OData type: ("microsoft.graph.keyCredential", true).
func typeName(t string) (string, bool) {
	coll := strings.HasPrefix(t, "Collection(")
	t = strings.TrimSuffix(strings.TrimPrefix(t, "Collection("), ")")
	return strings.TrimPrefix(t, "microsoft.graph."), coll
}

// paths lists every JSON path ("a", "a.b", "a[]", "a[].b") an entity's schema allows.
func (s *graphSchema) paths(entity string) map[string]bool {
	out := map[string]bool{}
	var walk func(prefix, typ string, depth int)
	walk = func(prefix, typ string, depth int) {
		name, coll := typeName(typ)
		p := prefix
		if coll {
			p += "[]"
			out[p] = true
		}
		if props, ok := s.complex[name]; ok && depth < 6 {
			for k, kt := range props {
				out[p+"."+k] = true
				walk(p+"."+k, kt, depth+1)
			}
		}
	}
	for k, typ := range s.entities[entity] {
		out[k] = true
		walk(k, typ, 0)
	}
	return out
}

// checkValue holds one JSON value to its OData type; it returns the problems found.
func (s *graphSchema) checkValue(path, typ string, v any, now time.Time) []string {
	name, coll := typeName(typ)
	if coll {
		list, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: a collection must be an array, got %s", path, jsonType(v))}
		}
		var out []string
		for _, x := range list {
			out = append(out, s.checkValue(path+"[]", name, x, now)...)
		}
		return out
	}
	if v == nil {
		return nil
	}
	bad := func(want string) []string {
		return []string{fmt.Sprintf("%s: %s wants %s, got %s %v", path, typ, want, jsonType(v), v)}
	}
	switch name {
	case "Edm.String", "Edm.Guid", "Edm.Binary":
		str, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if str == "" && !slices.Contains(s.emptyOK, path) && !slices.Contains(s.emptyOK, "*") {
			return []string{fmt.Sprintf("%s: empty string (Graph answers null for a property without a value)", path)}
		}
		if name == "Edm.Guid" && str != "" && len(str) != 36 {
			return []string{fmt.Sprintf("%s: %q is not a GUID", path, str)}
		}
	case "Edm.Boolean":
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	case "Edm.Int32", "Edm.Int64", "Edm.Double":
		if _, ok := v.(float64); !ok {
			return bad("a number")
		}
	case "Edm.TimeOfDay":
		str, ok := v.(string)
		if !ok {
			return bad("a time-of-day string")
		}
		if _, err := time.Parse("15:04:05.9999999", str); err != nil {
			return []string{fmt.Sprintf("%s: %q is not a time of day: %v", path, str, err)}
		}
	case "Edm.Stream":
		return []string{fmt.Sprintf("%s: a stream property is never inline", path)}
	case "Edm.DateTimeOffset":
		str, ok := v.(string)
		if !ok {
			return bad("a date-time string")
		}
		ts, err := time.Parse(time.RFC3339Nano, str)
		switch {
		case err != nil:
			return []string{fmt.Sprintf("%s: %q is not an RFC 3339 date-time: %v", path, str, err)}
		case str == graphMinTime || str == graphMaxTime:
			// .NET's DateTime.MinValue and MaxValue, which Intune answers for "never" (managedDevice
			// easActivationDateTime and complianceGracePeriodExpirationDateTime in msgraph-sdk-powershell #2832);
			// a value converted through nanoseconds overflows to 1816-03-30 and is caught below.
		case ts.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) || ts.After(now.Add(3*365*24*time.Hour)):
			return []string{fmt.Sprintf("%s: %s is not plausible (now %s)", path, str, now.Format(time.RFC3339))}
		}
	case "?":
		// A beta property no CSDL types (supplement.json): a known name; a string must not be empty.
		if str, ok := v.(string); ok && str == "" {
			return []string{fmt.Sprintf("%s: empty string (Graph answers null for a property without a value)", path)}
		}
	default:
		if members, ok := s.enums[name]; ok {
			str, _ := v.(string)
			values := []string{str}
			if slices.Contains(s.flags, name) {
				values = strings.Split(str, ",")
			}
			for _, x := range values {
				if !slices.Contains(members, strings.TrimSpace(x)) {
					return []string{fmt.Sprintf("%s: %#v is not a member of enum %s %v", path, v, name, members)}
				}
			}
			return nil
		}
		props, ok := s.complex[name]
		if !ok {
			return []string{fmt.Sprintf("%s: type %s is not in the schema files", path, typ)}
		}
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		// A polymorphic value names its type: the declared one or one derived from it. Intune writes the name
		// without the leading '#' (the docs' examples), the rest of Graph with it.
		if ot, ok := m["@odata.type"]; ok {
			str, _ := ot.(string)
			derived := strings.TrimPrefix(strings.TrimPrefix(str, "#"), "microsoft.graph.")
			if derived != name && !slices.Contains(s.derived[name], derived) {
				return []string{fmt.Sprintf("%s: @odata.type %v is not %s or a type derived from it %v", path, ot, name, s.derived[name])}
			}
			props = s.complex[derived]
			name = derived
		}
		var out []string
		if s.complete {
			for _, k := range sortedKeys(props) {
				if _, ok := m[k]; !ok {
					out = append(out, fmt.Sprintf("%s.%s: property of %s missing", path, k, name))
				}
			}
		}
		for k, x := range m {
			if k == "@odata.type" {
				continue
			}
			kt, ok := props[k]
			if !ok && slices.Contains(s.open, name) {
				continue // an open type: its undeclared properties are data
			}
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: not a property of %s", path, k, name))
				continue
			}
			out = append(out, s.checkValue(path+"."+k, kt, x, now)...)
		}
		return out
	}
	return nil
}

// schemaKinds are the directory entity types and where the simulator serves them.
var schemaKinds = []struct {
	entity string
	path   string
	def    *entityDef
}{
	{"user", "/v1.0/users", userDef},
	{"group", "/v1.0/groups", groupDef},
	{"application", "/v1.0/applications", applicationDef},
	{"servicePrincipal", "/v1.0/servicePrincipals", servicePrincipalDef},
	{"device", "/v1.0/devices", deviceDef},
	{"directoryRole", "/v1.0/directoryRoles", directoryRoleDef},
	{"unifiedRoleDefinition", "/v1.0/roleManagement/directory/roleDefinitions", roleDefinitionDef},
	{"unifiedRoleAssignment", "/v1.0/roleManagement/directory/roleAssignments", roleAssignmentDef},
	{"administrativeUnit", "/v1.0/administrativeUnits", adminUnitDef},
}

func TestDirectoryObjectsConformToGraphSchema(t *testing.T) {
	gs := loadGraphSchema(t)
	tn, clock := startTenant(t, Options{Seed: 63, Users: 240, Churn: 30})
	clock.Advance(12 * time.Hour) // created, changed and deleted objects too
	c := newClient(t, tn)
	now := clock.Now()
	for _, k := range schemaKinds {
		t.Run(k.entity, func(t *testing.T) {
			schema := gs.entities[k.entity]
			if len(schema) == 0 {
				t.Fatalf("the schema files have no entity type %s", k.entity)
			}
			// The simulator declares exactly the schema's properties.
			var names []string
			for p := range schema {
				names = append(names, p)
				if !slices.Contains(k.def.props, p) {
					t.Errorf("schema property %s is missing from the simulator's %s", p, k.entity)
				}
			}
			sort.Strings(names)
			for _, p := range k.def.props {
				if _, ok := schema[p]; !ok {
					t.Errorf("the simulator's %s has %s, which the schema lacks", k.entity, p)
				}
			}
			// Every object, with every property selected: all of them present, none other, each of its type.
			items, _, _ := c.allPages(tn.GraphURL()+k.path+"?$top=500&$select="+url.QueryEscape(strings.Join(names, ",")), nil)
			if len(items) == 0 {
				t.Fatal("no objects")
			}
			for _, raw := range items {
				var obj map[string]any
				if err := json.Unmarshal(raw, &obj); err != nil {
					t.Fatal(err)
				}
				for _, p := range names {
					if _, ok := obj[p]; !ok {
						t.Errorf("%s %v: property %s missing", k.entity, obj["id"], p)
					}
				}
				for p, v := range obj {
					typ, ok := schema[p]
					if !ok {
						t.Errorf("%s %v: property %s is not in the schema", k.entity, obj["id"], p)
						continue
					}
					for _, problem := range gs.checkValue(p, typ, v, now) {
						t.Errorf("%s %v: %s", k.entity, obj["id"], problem)
					}
				}
			}
			// A $select of any single schema property is accepted.
			for _, p := range names {
				r := c.sendURL(tn.GraphURL()+k.path+"?$top=1&$select="+p, nil)
				if r.status != 200 {
					t.Errorf("$select=%s: %d %s", p, r.status, r.body)
				}
			}
		})
	}
}
