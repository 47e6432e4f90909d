package catalog

import (
	"strings"
	"testing"
)

// TestAgentIDFailsSoft: the Agent ID data types are the beta preview ones (Preview set, so Graph's 404 or 400
// parks them as not-available instead of failing the run), their probes ask only for documented query options,
// and no data type of a generally available API is marked a preview (its 400 stays a failure).
func TestAgentIDFailsSoft(t *testing.T) {
	agents := InFamily(Agents)
	if len(agents) != 4 {
		t.Fatalf("agents family holds %d data types, want agentInstances, agentCardManifests, riskyAgents, agentRiskDetections", len(agents))
	}
	for _, d := range agents {
		if d.Preview == "" || d.Version != "beta" || !d.Needs(AgentID) {
			t.Errorf("%s: preview %q, version %s, licences %v", d.Name, d.Preview, d.Version, d.Licences)
		}
		if d.Snapshot != nil && (!d.Snapshot.NoTop || strings.Contains(d.ProbeQuery(), "$top")) {
			t.Errorf("%s: probe %q asks for $top, which the endpoint does not document", d.Name, d.ProbeQuery())
		}
	}
	for _, d := range DataTypes {
		if d.Family != Agents && d.Preview != "" {
			t.Errorf("%s is marked a preview: its 400s would park it instead of failing", d.Name)
		}
	}
	if d, _ := Lookup("agentRiskDetections"); d.Buckets.PageSize != 500 || d.Buckets.Filter != "" {
		t.Errorf("agentRiskDetections: $top %d (documented maximum 500), filter %q", d.Buckets.PageSize, d.Buckets.Filter)
	}
	if d, _ := Lookup("riskyAgents"); d.VersionField != "riskLastModifiedDateTime" {
		t.Errorf("riskyAgents versioned by %q; riskyagent.md names riskLastModifiedDateTime", d.VersionField)
	}
	if p, _ := PermissionByName("IdentityRiskyAgent.Read.All"); p.ID != "4aadfb66-d49a-414a-a883-d8c240b6fa33" {
		t.Errorf("IdentityRiskyAgent.Read.All role id %s", p.ID)
	}
}
