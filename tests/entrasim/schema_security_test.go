package entrasim

import (
	"encoding/json"
	"maps"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// Schema conformance of the log and security data types: every object the simulator serves through its HTTP API
// for sign-ins (beta, every event type, and v1.0), directory audits, provisioning events, Conditional Access
// policies and named locations, Identity Protection, the registration report, Intune and Agent ID is held to the
// Graph entity type of tests/testdata/graph-csdl (properties.json, and supplement.json for the types it lacks and
// for beta), by the rules of TestDirectoryObjectsConformToGraphSchema: every property of the type present (null
// where Graph holds no value), no other, nested objects as their complex types define them, enum values from their
// enum type, collections never null, strings never empty, date-times valid and plausible, and a $select of any
// listed property accepted.

// securityKind is one collection and the schema entity its objects are held to.
type securityKind struct {
	name string
	path string // URL path with the query options that list every object
	beta bool   // the entity types are beta's (supplement.json "beta")
	// entity is the schema entity of items without @odata.type; byType maps an item's @odata.type to its entity.
	entity string
	byType map[string]string
	// base, when set, is the entity whose properties every item must carry, where items of a derived type
	// (byType) leave out the derived type's own properties (why says why); the derived type still bounds them.
	base, why string
	noTop     bool // the collection rejects $top
	// sel is the $select probe's query prefix (a sign-in list needs its window).
	sel string
	// emptyOK lists where Graph answers empty strings ("*": anywhere), with the evidence.
	emptyOK []string
	// complete: nested objects must carry every property of their complex type, as the docs' examples of the
	// policy show them (conditionalaccessroot-list-policies.md).
	complete bool
}

// logsEmpty: Graph's log records carry empty strings (the sign-in examples' deviceId, displayName, trustType,
// homeTenantName, servicePrincipalId and tokenIssuerName; provisioning's displayName and id: graph-docs).
var logsEmpty = []string{"*"}

// managedDeviceEmpty are the managedDevice strings real responses show empty (msgraph-sdk-powershell #2832,
// mondoohq/mql #5673); the others they show null.
var managedDeviceEmpty = []string{"imei", "serialNumber", "phoneNumber", "androidSecurityPatchLevel", "subscriberCarrier", "meid", "wiFiMacAddress"}

func securityKinds(now time.Time) []securityKind {
	win := url.QueryEscape(window("createdDateTime", now.Add(-6*time.Hour), now))
	betaSignIns := func(et string) securityKind {
		return securityKind{name: "signIn.beta " + et, beta: true, entity: "signIn",
			path: pathBetaSignIns + "?$top=999&$filter=" + win + url.QueryEscape(" and signInEventTypes/any(t: t eq '"+et+"')"),
			sel:  pathBetaSignIns + "?$top=1&$filter=" + win, emptyOK: logsEmpty}
	}
	ipNamed, countryNamed := "namedLocation.ip", "namedLocation.country"
	intune := "the simulator serves deviceConfiguration's and mobileApp's base properties; each derived type's own settings are left out (intune.go)"
	return []securityKind{
		betaSignIns("interactiveUser"), betaSignIns("nonInteractiveUser"), betaSignIns("servicePrincipal"),
		betaSignIns("managedIdentity"),
		{name: "signIn.v1", entity: "signIn.v1", path: pathV1SignIns + "?$top=999&$filter=" + win, sel: pathV1SignIns + "?$top=1", emptyOK: logsEmpty},
		{name: "directoryAudit", entity: "directoryAudit", path: pathAudits + "?$top=999&$filter=" + url.QueryEscape(window("activityDateTime", now.Add(-12*time.Hour), now)),
			emptyOK: logsEmpty},
		{name: "provisioningObjectSummary", entity: "provisioningObjectSummary", path: pathProv + "?$top=999", emptyOK: logsEmpty},
		{name: "conditionalAccessPolicy", entity: "conditionalAccessPolicy", path: "/v1.0/identity/conditionalAccess/policies", complete: true},
		{name: "namedLocation", path: "/v1.0/identity/conditionalAccess/namedLocations",
			byType: map[string]string{"#microsoft.graph.ipNamedLocation": ipNamed, "#microsoft.graph.countryNamedLocation": countryNamed}},
		{name: "riskyUser", path: "/v1.0/identityProtection/riskyUsers?$top=500", byType: map[string]string{"#microsoft.graph.riskyUser": "riskyUser"}},
		{name: "riskDetection", path: "/v1.0/identityProtection/riskDetections?$top=500", byType: map[string]string{"#microsoft.graph.riskDetection": "riskDetection"}},
		{name: "riskyServicePrincipal", entity: "riskyServicePrincipal", path: "/v1.0/identityProtection/riskyServicePrincipals?$top=500"},
		{name: "servicePrincipalRiskDetection", entity: "servicePrincipalRiskDetection", path: "/v1.0/identityProtection/servicePrincipalRiskDetections?$top=500"},
		{name: "userRegistrationDetails", entity: "userRegistrationDetails", path: "/v1.0/reports/authenticationMethods/userRegistrationDetails", noTop: true},
		{name: "managedDevice", path: "/v1.0/deviceManagement/managedDevices?$top=999", byType: map[string]string{"#microsoft.graph.managedDevice": "managedDevice"},
			emptyOK: managedDeviceEmpty},
		{name: "deviceConfiguration", path: "/v1.0/deviceManagement/deviceConfigurations", base: "deviceConfiguration", why: intune,
			byType: typesOf("windows10GeneralConfiguration", "windows10EndpointProtectionConfiguration", "iosGeneralDeviceConfiguration",
				"androidWorkProfileGeneralDeviceConfiguration")},
		{name: "mobileApp", path: "/v1.0/deviceAppManagement/mobileApps", base: "mobileApp", why: intune,
			byType: typesOf("microsoftStoreForBusinessApp", "win32LobApp", "iosStoreApp", "androidStoreApp", "webApp")},
		{name: "agentInstance", beta: true, entity: "agentInstance", path: "/beta/agentRegistry/agentInstances", noTop: true},
		{name: "agentCardManifest", beta: true, entity: "agentCardManifest", path: "/beta/agentRegistry/agentCardManifests", noTop: true},
		{name: "riskyAgent", beta: true, path: "/beta/identityProtection/riskyAgents", noTop: true, base: "riskyAgent",
			byType: typesOf("riskyAgentIdentity", "riskyAgentIdentityBlueprintPrincipal", "riskyAgentUser")},
		{name: "agentRiskDetection", beta: true, path: "/beta/identityProtection/agentRiskDetections?$top=500",
			byType: typesOf("agentRiskDetection")},
	}
}

// typesOf maps "#microsoft.graph.<name>" to <name> for each name.
func typesOf(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m["#microsoft.graph."+n] = n
	}
	return m
}

func TestSecurityObjectsConformToGraphSchema(t *testing.T) {
	gs := loadGraphSchema(t)
	tn, clock := startTenant(t, Options{Seed: 67, Users: 120, Churn: 20, LateShare: -1,
		Licences: []Licence{LicenceP2, LicenceIntune, LicenceWorkloadIdentitiesPremium, LicenceAgentID}})
	clock.Advance(12 * time.Hour) // risk raised and dismissed, policies edited, users created and deleted
	c := newClient(t, tn)
	now := clock.Now()
	for _, k := range securityKinds(now) {
		t.Run(k.name, func(t *testing.T) {
			s := gs
			if k.beta {
				s = gs.beta
			}
			s = s.allowEmpty(k.emptyOK)
			s.complete = k.complete
			entities := []string{k.entity}
			if k.byType != nil {
				entities = nil
				for _, e := range k.byType {
					entities = append(entities, e)
				}
			}
			for _, e := range append(entities, k.base) {
				if e != "" && len(s.entities[e]) == 0 {
					t.Fatalf("the schema files have no entity type %s", e)
				}
			}
			items, _, _ := c.allPages(tn.GraphURL()+k.path, nil)
			if len(items) == 0 {
				t.Fatal("no objects")
			}
			seen := map[string]int{}
			for _, raw := range items {
				var obj map[string]any
				if err := json.Unmarshal(raw, &obj); err != nil {
					t.Fatal(err)
				}
				entity := k.entity
				if ot, ok := obj["@odata.type"]; ok && k.byType == nil && ot != "#microsoft.graph."+strings.SplitN(entity, ".", 2)[0] {
					t.Errorf("%s %v: @odata.type %v does not name %s", k.name, obj["id"], ot, entity)
				}
				if k.byType != nil {
					ot, _ := obj["@odata.type"].(string)
					if entity = k.byType[ot]; entity == "" {
						t.Errorf("%s %v: @odata.type %q is none of %v", k.name, obj["id"], ot, k.byType)
						continue
					}
				}
				seen[entity]++
				must := s.entities[entity]
				if k.base != "" && k.why != "" {
					must = s.entities[k.base]
				}
				for _, problem := range s.checkObject(entity, must, obj, now) {
					t.Errorf("%s %v: %s", entity, obj["id"], problem)
				}
			}
			t.Logf("%d objects %v", len(items), seen)
			// A $select of any single property of the collection's type is accepted: the base type's, or those
			// all its derived types share.
			selectable := s.entities[k.entity]
			if k.base != "" {
				selectable = s.entities[k.base]
			} else if k.byType != nil {
				selectable = nil
				for _, e := range k.byType {
					if selectable == nil {
						selectable = maps.Clone(s.entities[e])
					}
					maps.DeleteFunc(selectable, func(p, _ string) bool { _, ok := s.entities[e][p]; return !ok })
				}
			}
			sel := k.sel
			if sel == "" {
				sel = strings.SplitN(k.path, "?", 2)[0] + "?$top=1"
				if k.noTop {
					sel = strings.SplitN(k.path, "?", 2)[0] + "?"
				}
			}
			for _, p := range sortedKeys(selectable) {
				r := c.sendURL(tn.GraphURL()+sel+"&$select="+p, nil)
				if r.status != 200 {
					t.Errorf("$select=%s: %d %s", p, r.status, r.body)
				}
			}
		})
	}
}

// checkObject holds one served object to its entity type: every property of must present, none the entity type
// lacks (@odata.type aside), each value of its type.
func (s *graphSchema) checkObject(entity string, must map[string]string, obj map[string]any, now time.Time) []string {
	var out []string
	schema := s.entities[entity]
	for _, p := range sortedKeys(must) {
		if _, ok := obj[p]; !ok {
			out = append(out, "property "+p+" missing")
		}
	}
	for _, p := range sortedKeys(obj) {
		if p == "@odata.type" {
			continue // the caller maps it to the entity
		}
		typ, ok := schema[p]
		if !ok {
			out = append(out, "property "+p+" is not in the schema")
			continue
		}
		out = append(out, s.checkValue(p, typ, obj[p], now)...)
	}
	return out
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
