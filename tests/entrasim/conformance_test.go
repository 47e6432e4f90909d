package entrasim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The conformance test checks that every synthetic record has the field names and JSON types of the
// matching example responses from the Graph documentation (tests/testdata/graph-docs, a copy of the shared
// fixtures/graph-docs): each typed field of the
// fixtures appears in the simulator's records with that type, no field has a different type, and every
// field the fixtures lack is a documented property listed below. The fixtures are read leniently, and their
// documented defects (INDEX.md) are skipped by name.

const fixtureDir = "../testdata/graph-docs"

// fixtureKind groups the fixtures of one record shape.
type fixtureKind struct {
	name     string
	files    []string
	skip     map[string]string // fixture paths that are documented defects → why
	open     []string          // paths whose keys are data, not schema (detailsInfo)
	extras   []string          // documented properties the fixtures do not show (paths in our records)
	endpoint string            // the endpoint whose records are compared
}

var fixtureKinds = []fixtureKind{
	{
		name:  "beta signIn",
		files: []string{"beta-signin-list.json", "beta-signin-list-filter-top10.json", "beta-signin-list-2018-singlefactor.json"},
		skip: map[string]string{
			"riskLevelDuringsignIn": "typo in an older docs revision (INDEX.md); riskLevelDuringSignIn is checked",
		},
		// beta signIn resource (beta/resources/signin.md): these exist on the resource; the examples show
		// their arrays empty or omit them.
		extras: []string{
			"signInIdentifierType", "servicePrincipalName", "clientCredentialType", "servicePrincipalCredentialKeyId",
			"managedServiceIdentity", "managedServiceIdentity.msiType", "managedServiceIdentity.associatedResourceId",
			"managedServiceIdentity.federatedTokenId", "managedServiceIdentity.federatedTokenIssuer",
			"riskEventTypes[]", "riskEventTypes_v2[]", "authenticationMethodsUsed[]",
			"authenticationRequirementPolicies[]", "authenticationRequirementPolicies[].requirementProvider",
			"authenticationRequirementPolicies[].detail", "sessionLifetimePolicies[]",
			"sessionLifetimePolicies[].expirationRequirement", "sessionLifetimePolicies[].detail",
		},
		endpoint: "beta/auditLogs/signIns",
	},
	{
		name:     "v1.0 signIn",
		files:    []string{"signin-list.json", "signin-list-filter-top10.json"},
		extras:   []string{"riskEventTypes_v2", "riskEventTypes_v2[]", "riskEventTypes[]", "appliedConditionalAccessPolicies[].enforcedGrantControls[]"},
		endpoint: "v1.0/auditLogs/signIns",
	},
	{
		name:  "directoryAudit",
		files: []string{"directoryaudit-list.json", "directoryaudit-list-filter-initiatedby.json"},
		skip: map[string]string{
			"targetResources[].Type": "capitalised key in the docs example (INDEX.md); type is checked",
		},
		// initiatedBy.app is null in both examples; appIdentity (v1.0/resources/appidentity.md) has these.
		extras:   []string{"initiatedBy.app.appId", "initiatedBy.app.displayName", "initiatedBy.app.servicePrincipalId", "initiatedBy.app.servicePrincipalName"},
		endpoint: "v1.0/auditLogs/directoryAudits",
	},
	{
		name:  "provisioningObjectSummary",
		files: []string{"provisioningobjectsummary-list.json", "provisioningobjectsummary-list-error.json"},
		skip: map[string]string{
			"initiatedBy.initiatingType": "example 1 names it initiatingType; the resource (and example 2) say initiatorType",
		},
		open:     []string{"sourceSystem.details", "targetSystem.details", "sourceIdentity.details", "targetIdentity.details", "provisioningSteps[].details"},
		endpoint: "v1.0/auditLogs/provisioning",
	},
}

var trailingComma = regexp.MustCompile(`,(\s*[\]}])`)

// loadFixture reads a fixture leniently: trailing commas removed (a published defect); duplicate keys keep
// the last value, as encoding/json does.
func loadFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	b = trailingComma.ReplaceAll(b, []byte("$1"))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// shape maps each path ("a.b", "a[].c") to the JSON types seen there.
type shape map[string]map[string]bool

func (s shape) add(path, typ string) {
	if s[path] == nil {
		s[path] = map[string]bool{}
	}
	s[path][typ] = true
}

func (s shape) walk(path string, v any, open []string) {
	typ := jsonType(v)
	if path != "" {
		s.add(path, typ)
	}
	if slices.Contains(open, path) {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			s.walk(p, c, open)
		}
	case []any:
		for _, c := range x {
			s.walk(path+"[]", c, open)
		}
	}
}

func nonNull(types map[string]bool) []string {
	var out []string
	for t := range types {
		if t != "null" {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

func TestConformanceWithGraphDocs(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 61, Users: 120, LateShare: -1})
	c := newClient(t, tn)
	now := clock.Now()
	// Page keys seen in any fixture (@odata.nextLink only appears in the sign-in examples).
	envelope := map[string]bool{}
	for _, k := range fixtureKinds {
		for _, f := range k.files {
			for key := range loadFixture(t, f) {
				envelope[key] = true
			}
		}
	}
	for _, k := range fixtureKinds {
		t.Run(k.name, func(t *testing.T) {
			want := shape{}
			for _, f := range k.files {
				m := loadFixture(t, f)
				for _, rec := range m["value"].([]any) {
					want.walk("", rec, k.open)
				}
			}
			for p := range k.skip {
				if want[p] == nil {
					t.Fatalf("skipped defect %q is not in the fixtures any more: drop it from the list", p)
				}
				delete(want, p)
			}

			// Our records: every event type over two days, through the endpoint.
			got := shape{}
			var pages []page
			for _, et := range []string{"interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"} {
				var u string
				switch k.endpoint {
				case "beta/auditLogs/signIns":
					u = c.list(pathBetaSignIns, map[string]string{"$top": "400", "$filter": window("createdDateTime", now.Add(-48*time.Hour), now) + " and signInEventTypes/any(t: t eq '" + et + "')"})
				case "v1.0/auditLogs/signIns":
					u = c.list(pathV1SignIns, map[string]string{"$top": "400"})
				case "v1.0/auditLogs/directoryAudits":
					u = c.list(pathAudits, map[string]string{"$top": "600"})
				default:
					u = c.list(pathProv, map[string]string{"$top": "600"})
				}
				pages = append(pages, c.get(u).page(t))
				if k.endpoint != "beta/auditLogs/signIns" {
					break
				}
			}
			n := 0
			for _, p := range pages {
				for _, raw := range p.Value {
					var rec any
					if err := json.Unmarshal(raw, &rec); err != nil {
						t.Fatal(err)
					}
					got.walk("", rec, k.open)
					n++
				}
			}
			if n < 300 {
				t.Fatalf("only %d records sampled", n)
			}
			// The page envelope uses the fixtures' keys.
			raw := c.get(c.list("/"+k.endpoint, map[string]string{"$top": "1"})).body
			var env map[string]json.RawMessage
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatal(err)
			}
			for key := range env {
				if !envelope[key] {
					t.Errorf("page key %q is not in the fixtures' pages", key)
				}
			}

			// 1. Every typed fixture field appears with that type.
			for p, types := range want {
				for _, typ := range nonNull(types) {
					if got[p] == nil || !got[p][typ] {
						t.Errorf("%s: fixture has %s, simulator shows %v", p, typ, nonNull(got[p]))
					}
				}
			}
			// 2. No field shows another type.
			for p, types := range got {
				if want[p] == nil {
					continue
				}
				fixture := nonNull(want[p])
				if len(fixture) == 0 {
					continue // null in every fixture: any type
				}
				for _, typ := range nonNull(types) {
					if !slices.Contains(fixture, typ) {
						t.Errorf("%s: simulator shows %s, fixtures %v", p, typ, fixture)
					}
				}
			}
			// 3. Fields the fixtures lack are documented extras.
			for p := range got {
				if want[p] == nil && !slices.Contains(k.extras, p) && !underOpen(p, k.open) {
					t.Errorf("%s: not in the fixtures and not a listed documented property", p)
				}
			}
		})
	}
}

func underOpen(p string, open []string) bool {
	for _, o := range open {
		if strings.HasPrefix(p, o+".") {
			return true
		}
	}
	return false
}
