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
	// list, when set, is the URL path (with options) of a directory list whose items are compared.
	list string
	// odataType keeps only fixture and simulator items of this @odata.type (polymorphic collections).
	odataType string
	// typeNames: the fixture's values are type names ("Boolean", "String (timestamp)"), a docs defect;
	// they are read as the types they name.
	typeNames bool
	// pathPrefix is a URL path prefix for lists under an object (e.g. one user's methods).
	perUser bool
	// entity names the Graph entity type of a directory list: every path its schema (tests/testdata/graph-csdl)
	// allows counts as documented (schema_test.go holds the objects to the schema itself).
	entity string
}

var fixtureKinds = []fixtureKind{
	{
		name:  "beta signIn",
		files: []string{"beta-signin-list.json", "beta-signin-list-filter-top10.json", "beta-signin-list-2018-singlefactor.json"},
		skip: map[string]string{
			"riskLevelDuringsignIn": "typo in an older docs revision (INDEX.md); riskLevelDuringSignIn is checked",
			"riskEventTypes":        "the examples predate its removal: beta's signIn no longer defines it (graph-csdl), riskEventTypes_v2 is served",
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
			// In graph-csdl's beta signIn, not in the examples.
			"sessionId", "authenticationContextClassReferences", "servicePrincipalCredentialThumbprint",
			"federatedCredentialId", "originalTransferMethod", "agent", "appOwnerTenantId", "appTokenProtectionStatus",
			"authenticationAppDeviceDetails", "clientSessionId", "globalSecureAccessIpAddress", "ipAddressFromResourceProvider",
			"mfaDetail", "privateLinkDetails", "resourceServicePrincipalId", "signInTokenProtectionStatus",
			"tokenProtectionStatusDetails", "appliedEventListeners", "authenticationAppPolicyEvaluationDetails",
			"conditionalAccessAudiences", "isThroughGlobalSecureAccess", "azureResourceId", "resourceOwnerTenantId",
		},
		endpoint: "beta/auditLogs/signIns",
	},
	{
		name:  "v1.0 signIn",
		files: []string{"signin-list.json", "signin-list-filter-top10.json"},
		extras: []string{"riskEventTypes_v2", "riskEventTypes_v2[]", "riskEventTypes[]", "appliedConditionalAccessPolicies[].enforcedGrantControls[]",
			// In graph-csdl's v1.0 signIn, not in the examples.
			"userAgent", "resourceTenantId", "homeTenantId", "servicePrincipalId", "servicePrincipalName", "authenticationAppDeviceDetails"},
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
	{name: "user (default properties)", files: []string{"user-list.json", "user-delta.json"}, list: "/v1.0/users", entity: "user"},
	{name: "user (delta with $select)", files: []string{"user-delta-select.json"}, list: "/v1.0/users/delta?$select=displayName,jobTitle,mobilePhone",
		entity: "user"},
	{name: "group", files: []string{"group-list.json", "group-list-count-select.json"}, list: "/v1.0/groups", entity: "group"},
	{name: "group (delta with members)", files: []string{"group-delta.json"},
		list: "/v1.0/groups/delta?$select=createdDateTime,description,displayName,groupTypes,mail,members", entity: "group"},
	// The examples show a few properties only; the schema allows the rest.
	{name: "application", files: []string{"application-list.json", "application-list-search-count.json"}, list: "/v1.0/applications",
		entity: "application"},
	{name: "servicePrincipal", files: []string{"serviceprincipal-list.json"}, list: "/v1.0/servicePrincipals?$top=999",
		entity: "servicePrincipal", skip: map[string]string{
			"publisherName": "a beta property in the v1.0 example; the v1.0 schema (graph-csdl) lacks it",
		}},
	{name: "conditionalAccessPolicy", files: []string{"conditionalaccessroot-list-policies.json"}, list: "/v1.0/identity/conditionalAccess/policies",
		// conditionalAccessConditionSet / conditionalAccessUsers: string collections the examples show empty.
		// conditions.userRiskLevels, servicePrincipalRiskLevels, devices, clientApplications and authenticationFlows:
		// conditionalAccessConditionSet properties (conditionalaccessconditionset.md) the example leaves out.
		extras: []string{"conditions.signInRiskLevels[]", "conditions.users.includeRoles[]", "conditions.users.excludeGroups[]",
			"conditions.userRiskLevels", "conditions.servicePrincipalRiskLevels", "conditions.devices", "conditions.clientApplications",
			"conditions.authenticationFlows", "description", "templateId", "deletedDateTime", "conditions.insiderRiskLevels",
			"conditions.applications.includeAuthenticationContextClassReferences", "conditions.applications.applicationFilter",
			"conditions.users.includeGuestsOrExternalUsers", "conditions.users.excludeGuestsOrExternalUsers"}},
	{name: "riskyUser", files: []string{"riskyuser-list.json"}, list: "/v1.0/identityProtection/riskyUsers", typeNames: true},
	{name: "riskDetection", files: []string{"riskdetection-list.json"}, list: "/v1.0/identityProtection/riskDetections",
		extras: []string{"location.geoCoordinates.latitude", "location.geoCoordinates.longitude"}},
	{name: "userRegistrationDetails", files: []string{"authenticationmethodsroot-list-userregistrationdetails.json"},
		// Only $filter and $orderby: Graph's page size.
		list: "/v1.0/reports/authenticationMethods/userRegistrationDetails"},
	{name: "riskyServicePrincipal", files: []string{"riskyserviceprincipal-list.json"}, list: "/v1.0/identityProtection/riskyServicePrincipals"},
	{name: "fido2AuthenticationMethod", files: []string{"authentication-list-methods.json"}, perUser: true,
		odataType: "#microsoft.graph.fido2AuthenticationMethod"},
	{name: "windowsHelloForBusinessAuthenticationMethod", files: []string{"authentication-list-methods.json"}, perUser: true,
		odataType: "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod"},
	// managementState and enrollmentProfileName: managedDevice properties (graph-csdl) the example leaves out.
	{name: "managedDevice", files: []string{"intune-devices-manageddevice-list.json"}, list: "/v1.0/deviceManagement/managedDevices?$top=999",
		extras: []string{"managementState", "enrollmentProfileName"}},
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

// typeNameValue reads a docs placeholder that names a type as a value of that type.
func typeNameValue(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch {
	case s == "Boolean":
		return true
	case strings.HasPrefix(s, "String"):
		return "x"
	case s == "Int32" || s == "Int64":
		return 1.0
	}
	return v
}

func TestConformanceWithGraphDocs(t *testing.T) {
	gs := loadGraphSchema(t)
	tn, clock := startTenant(t, Options{Seed: 61, Users: 120, LateShare: -1, Licences: []Licence{LicenceP2, LicenceIntune, LicenceWorkloadIdentitiesPremium}})
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
			if k.entity != "" {
				for p := range gs.paths(k.entity) {
					k.extras = append(k.extras, p)
				}
			}
			want := shape{}
			for _, f := range k.files {
				m := loadFixture(t, f)
				for _, rec := range m["value"].([]any) {
					if k.odataType != "" && rec.(map[string]any)["@odata.type"] != k.odataType {
						continue
					}
					if k.typeNames {
						for key, v := range rec.(map[string]any) {
							rec.(map[string]any)[key] = typeNameValue(v)
						}
					}
					want.walk("", rec, k.open)
				}
			}
			for p := range k.skip {
				if want[p] == nil {
					t.Fatalf("skipped defect %q is not in the fixtures any more: drop it from the list", p)
				}
				delete(want, p)
			}

			got := shape{}
			if k.list != "" || k.perUser {
				var items []json.RawMessage
				if k.perUser {
					for _, u := range tn.Users() {
						got, _, _ := c.allPages(tn.GraphURL()+"/v1.0/users/"+u.ID+"/authentication/methods", nil)
						items = append(items, got...)
					}
				} else {
					items, _, _ = c.allPages(tn.GraphURL()+k.list, nil)
				}
				n := 0
				for _, raw := range items {
					var rec map[string]any
					if err := json.Unmarshal(raw, &rec); err != nil {
						t.Fatal(err)
					}
					if k.odataType != "" && rec["@odata.type"] != k.odataType {
						continue
					}
					got.walk("", rec, k.open)
					n++
				}
				if n == 0 {
					t.Fatal("no simulator items to compare")
				}
				compareShapes(t, k, want, got)
				return
			}
			// Our records: every event type over two days, through the endpoint.
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

			compareShapes(t, k, want, got)
		})
	}
}

// compareShapes applies the three conformance rules.
func compareShapes(t *testing.T, k fixtureKind, want, got shape) {
	t.Helper()
	{
		{
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
		}
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
