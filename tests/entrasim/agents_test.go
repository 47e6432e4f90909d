package entrasim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAgentEndpoints: the Agent ID collections are served under /beta only with their documented shapes, answer the
// licence and permission errors, take only their documented query options, and vanish (400 for the segment) when
// Options.Unavailable withdraws them.
func TestAgentEndpoints(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 5, Users: 20, Licences: []Licence{LicenceP2, LicenceAgentID}})
	c := newClient(t, tn)
	for _, tc := range []struct {
		path string
		keys []string // properties every item carries (the beta pages' examples)
		n    int
	}{
		{"/beta/agentRegistry/agentInstances", []string{"id", "ownerIds", "managedBy", "originatingStore", "createdBy", "displayName",
			"sourceAgentId", "agentIdentityBlueprintId", "agentIdentityId", "agentUserId", "createdDateTime", "lastModifiedDateTime",
			"url", "preferredTransport", "additionalInterfaces", "signatures"}, agentCount},
		{"/beta/agentRegistry/agentCardManifests", []string{"id", "ownerIds", "managedBy", "originatingStore", "protocolVersion",
			"displayName", "description", "provider", "version", "capabilities", "securitySchemes", "security", "skills",
			"defaultInputModes", "defaultOutputModes", "supportsAuthenticatedExtendedCard"}, agentCount},
		{"/beta/identityProtection/riskyAgents", []string{"@odata.type", "id", "agentDisplayName", "isDeleted", "isEnabled",
			"isProcessing", "riskLastModifiedDateTime", "riskState", "riskLevel", "riskDetail"}, 2},
		{"/beta/identityProtection/agentRiskDetections", []string{"@odata.type", "id", "agentId", "agentDisplayName",
			"activityDateTime", "detectedDateTime", "detectionTimingType", "lastModifiedDateTime", "riskDetail", "riskLevel",
			"riskState", "riskEventType", "riskEvidence", "additionalInfo"}, 2},
	} {
		r := c.get(tn.GraphURL() + tc.path)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
		}
		p := r.page(t)
		if len(p.Value) != tc.n {
			t.Errorf("%s: %d items, want %d", tc.path, len(p.Value), tc.n)
		}
		for _, raw := range p.Value {
			var o map[string]any
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.keys {
				if _, ok := o[k]; !ok {
					t.Errorf("%s: item %v lacks %s", tc.path, o["id"], k)
				}
			}
			if typ, ok := o["@odata.type"].(string); ok && strings.HasSuffix(tc.path, "riskyAgents") &&
				!slices.Contains([]string{"#microsoft.graph.riskyAgentIdentity", "#microsoft.graph.riskyAgentUser",
					"#microsoft.graph.riskyAgentIdentityBlueprintPrincipal"}, typ) {
				t.Errorf("risky agent of type %q", typ)
			}
		}
		// The same path under v1.0 does not exist.
		if r := c.get(tn.GraphURL() + strings.Replace(tc.path, "/beta/", "/v1.0/", 1)); r.status != 400 ||
			!strings.Contains(string(r.body), "Resource not found for the segment") {
			t.Errorf("%s under v1.0: %d %s, want 400 for the segment", tc.path, r.status, r.body)
		}
	}
	// $top is not a documented option of the registry and riskyAgents; agentRiskDetections takes up to 500.
	if r := c.get(c.list("/beta/agentRegistry/agentInstances", map[string]string{"$top": "1"})); r.status != 400 {
		t.Errorf("agentInstances $top: %d %s, want 400", r.status, r.body)
	}
	r := c.get(c.list("/beta/identityProtection/agentRiskDetections", map[string]string{"$top": "1",
		"$filter": "lastModifiedDateTime ge 2000-01-01T00:00:00Z and lastModifiedDateTime lt 2100-01-01T00:00:00Z"}))
	if r.status != 200 || len(r.page(t).Value) != 1 || r.page(t).NextLink == "" {
		t.Errorf("agentRiskDetections $top=1 with a time filter: %d %s, want one item and a nextLink", r.status, r.body)
	}
	if r := c.get(c.list("/beta/identityProtection/agentRiskDetections", map[string]string{"$top": "501"})); r.status != 400 {
		t.Errorf("agentRiskDetections $top=501: %d, want 400", r.status)
	}

	// Licences: P2 without Agent ID has no registry and no agent risk; Agent ID alone (with P1) has both.
	for _, lc := range []struct {
		licences []Licence
		want     map[string]int
	}{
		{[]Licence{LicenceP2}, map[string]int{"agentRegistry/agentInstances": 403, "identityProtection/riskyAgents": 403}},
		{[]Licence{LicenceP1, LicenceAgentID}, map[string]int{"agentRegistry/agentInstances": 200, "identityProtection/agentRiskDetections": 200}},
	} {
		tl, _ := startTenant(t, Options{Seed: 5, Users: 10, Licences: lc.licences})
		cl := newClient(t, tl)
		for path, want := range lc.want {
			r := cl.get(tl.GraphURL() + "/beta/" + path)
			if r.status != want || want == 403 && !strings.Contains(string(r.body), `"code":"Forbidden"`) {
				t.Errorf("%v %s: %d %s, want %d", lc.licences, path, r.status, r.body, want)
			}
		}
	}

	// Permissions: without IdentityRiskyAgent.Read.All, riskyAgents is refused as Identity Protection refuses.
	roles := slices.DeleteFunc(ReadOnlyRoles(), func(r string) bool { return r == "IdentityRiskyAgent.Read.All" })
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), roles, time.Now().Add(time.Hour))
	if r := c.get(tn.GraphURL() + "/beta/identityProtection/riskyAgents"); r.status != 403 ||
		!strings.Contains(string(r.body), "Authorization_RequestDenied") {
		t.Errorf("riskyAgents without IdentityRiskyAgent.Read.All: %d %s", r.status, r.body)
	}
	if r := c.get(tn.GraphURL() + "/beta/agentRegistry/agentCardManifests"); r.status != 200 {
		t.Errorf("agentCardManifests with its permission: %d", r.status)
	}

	// Withdrawn APIs answer as Graph answers a path it does not know.
	tu, _ := startTenant(t, Options{Seed: 5, Users: 10, Licences: []Licence{LicenceP2, LicenceAgentID},
		Unavailable: []string{"agentRegistry", "identityProtection/riskyAgents"}})
	cu := newClient(t, tu)
	for path, want := range map[string]string{
		"/beta/agentRegistry/agentInstances":           "Resource not found for the segment 'agentRegistry'.",
		"/beta/identityProtection/riskyAgents":         "Resource not found for the segment 'riskyAgents'.",
		"/beta/identityProtection/agentRiskDetections": "",
	} {
		r := cu.get(tu.GraphURL() + path)
		if want == "" && r.status != 200 || want != "" && (r.status != 400 || !strings.Contains(string(r.body), want)) {
			t.Errorf("%s with Unavailable: %d %s, want %q", path, r.status, r.body, want)
		}
	}
	if _, err := New(&Options{Unavailable: []string{"auditLogs"}}); err == nil || !strings.Contains(err.Error(), "Unavailable") {
		t.Errorf("Unavailable naming a non-Agent ID path: %v, want an error naming the field", err)
	}
}

// TestAgentRiskOverTheClock: with churn, agent risk is raised, dismissed and confirmed as the clock runs; every
// change gives a new version, and the lists serve exactly the truth's current versions.
func TestAgentRiskOverTheClock(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 3, Users: 20, Churn: 1, LateShare: -1,
		Licences: []Licence{LicenceP2, LicenceAgentID}})
	c := newClient(t, tn)
	clock.Advance(72 * time.Hour)
	states := map[string]bool{}
	for _, tc := range []struct{ dataType, path, field string }{
		{"riskyAgents", "/beta/identityProtection/riskyAgents", "riskLastModifiedDateTime"},
		{"agentRiskDetections", "/beta/identityProtection/agentRiskDetections", "lastModifiedDateTime"},
	} {
		v := servedVersions(t, tn, c, clock.Now(), tc.dataType, tc.path, tc.field)
		for s := range v.states {
			states[s] = true
		}
		if v.served != v.current || v.served == 0 || v.replaced == 0 {
			t.Errorf("%s: %d served, %d current versions, %d replaced in three days", tc.dataType, v.served, v.current, v.replaced)
		}
	}
	if !states["atRisk"] || !(states["dismissed"] || states["confirmedSafe"] || states["confirmedCompromised"]) {
		t.Errorf("risk states served in three days: %v, want risk raised and ended", states)
	}
	if snap, err := tn.SnapshotAt("agentInstances", clock.Now()); err != nil || len(snap) != agentCount {
		t.Errorf("SnapshotAt(agentInstances) = %d objects, %v", len(snap), err)
	}
}

// versionCounts are what servedVersions found.
type versionCounts struct {
	served, current, replaced int
	states                    map[string]bool // riskState values served
}

// servedVersions reads a versioned Identity Protection list through its nextLinks and checks every item against the
// truth's current versions at now (RiskVersions: id and version field): an item the truth does not hold as current
// is an error. It counts what was served, the truth's current and replaced versions, and the risk states served.
func servedVersions(t *testing.T, tn *Tenant, c *client, now time.Time, dataType, path, field string) versionCounts {
	t.Helper()
	vs, err := tn.RiskVersions(dataType, now)
	if err != nil {
		t.Fatal(err)
	}
	out := versionCounts{states: map[string]bool{}}
	current := map[string]time.Time{}
	for _, v := range vs {
		if v.Until.IsZero() {
			current[v.ID] = v.At
		} else if !v.Until.After(v.At) {
			t.Errorf("%s %s: replaced at %v, before its own time %v", dataType, v.ID, v.Until, v.At)
		} else {
			out.replaced++
		}
	}
	out.current = len(current)
	for u := tn.GraphURL() + path; u != ""; {
		r := c.get(u)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		p := r.page(t)
		for _, raw := range p.Value {
			var o map[string]any
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			at, _ := time.Parse(time.RFC3339Nano, o[field].(string))
			if want, ok := current[o["id"].(string)]; !ok || !want.Equal(at) {
				t.Errorf("%s: served %s at %v, truth's current version %v", dataType, o["id"], at, want)
			}
			if s, ok := o["riskState"].(string); ok {
				out.states[s] = true
			}
			out.served++
		}
		u = p.NextLink
	}
	t.Logf("%s: %d versions, %d replaced, %d served", dataType, len(vs), out.replaced, out.served)
	return out
}
