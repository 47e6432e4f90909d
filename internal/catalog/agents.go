package catalog

import "time"

// Agent ID (reference/graph.md §1.5; checked against microsoft-graph-docs-contrib api-reference/beta and the
// Graph service principal's app roles as graphpermissions.merill.net lists them). Everything here is beta,
// preview and served in the global cloud only:
//
//   - GET /beta/agentRegistry/agentInstances (agentregistry-list-agentinstances.md): AgentInstance.Read.All;
//     $select, $count, $expand and $filter — no $top documented.
//   - GET /beta/agentRegistry/agentCardManifests (agentregistry-list-agentcardmanifests.md):
//     AgentCardManifest.Read.All; $select and $filter.
//   - GET /beta/identityProtection/riskyAgents (riskyagent-list.md): IdentityRiskyAgent.Read.All (application
//     role 4aadfb66-d49a-414a-a883-d8c240b6fa33; the delegated scope is 3215c57f-…); $select, $count, $filter.
//     Items are riskyAgentIdentity, riskyAgentIdentityBlueprintPrincipal or riskyAgentUser (@odata.type); the
//     version field is riskLastModifiedDateTime (riskyagent.md) — not riskyUser's riskLastUpdatedDateTime.
//   - GET /beta/identityProtection/agentRiskDetections (agentriskdetection-list.md): IdentityRiskEvent.Read.All;
//     $select, $filter, $top (default 20, at most 500). Only activityDateTime documents $filter (eq, le, ge);
//     filtering on lastModifiedDateTime, which the buckets need so that a dismissed detection is read again as a
//     new version (as riskDetections are), is unverified.
//
// Unverified and therefore failing soft (Preview): whether the tenant serves the endpoints at all (Microsoft
// announced that "starting May 2026, the Agent Registry APIs in Microsoft Graph will be replaced by the Agent
// Registry APIs powered by Microsoft Agent 365", agentregistry.md, with no replacement path published), the
// lastModifiedDateTime filter, and the licence: Agent ID, as SPEC §4 has it (sold as Microsoft Agent 365 by
// third-party accounts). reference/graph.md suspects the risk data also needs Entra ID P2 (ID Protection); no
// source says so, and should Graph want it, its 403 parks the data type as not-licensed like any licence it
// lacks. The throttling budget of the agents family is not documented either (Budgets).

// agentPreview is why the Agent ID endpoints may be absent from a tenant.
const agentPreview = "Agent ID is a beta preview (global cloud only) and Microsoft replaces the Agent Registry APIs with Agent 365's from May 2026"

// agentRegistry returns an agent registry collection, read whole once a day.
func agentRegistry(name, permission, description string) DataType {
	return DataType{
		Name:        name,
		Description: description,
		Version:     "beta",
		Path:        "agentRegistry/" + name,
		Permissions: []string{permission},
		Licences:    []Licence{AgentID},
		Family:      Agents,
		DedupKey:    "id",
		Preview:     agentPreview,
		// $top is not among the documented query options: the probe reads the first page.
		Snapshot: &SnapshotSpec{Every: 24 * time.Hour, NoTop: true},
	}
}

// riskyAgents are the agents Identity Protection flags as risky: an hourly snapshot, one version per change of
// risk state (riskLastModifiedDateTime), as riskyUsers.
func riskyAgents() DataType {
	return DataType{
		Name:         "riskyAgents",
		Description:  "AI agents Identity Protection flags as risky (agent identities, blueprint principals, agent users), one version per change of their risk state",
		Version:      "beta",
		Path:         "identityProtection/riskyAgents",
		Permissions:  []string{"IdentityRiskyAgent.Read.All"},
		Licences:     []Licence{AgentID},
		Family:       Agents,
		DedupKey:     "id",
		VersionField: "riskLastModifiedDateTime",
		Categories:   []string{"RiskyAgents"},
		Preview:      agentPreview,
		Snapshot:     &SnapshotSpec{Every: time.Hour, NoTop: true},
	}
}

// agentRiskDetections are Identity Protection's detections on agents: hourly buckets on lastModifiedDateTime, one
// version per change (a dismissed or confirmed detection is read again in a later bucket), kept 90 days.
func agentRiskDetections() DataType {
	return DataType{
		Name:         "agentRiskDetections",
		Description:  "Identity Protection's risk detections on AI agents, one version per change of their state",
		Version:      "beta",
		Path:         "identityProtection/agentRiskDetections",
		Permissions:  []string{"IdentityRiskEvent.Read.All"},
		Licences:     []Licence{AgentID},
		Family:       Agents,
		DedupKey:     "id",
		VersionField: "lastModifiedDateTime",
		Categories:   []string{"AgentRiskEvents"},
		Preview:      agentPreview,
		Buckets: &BucketSpec{
			TimeField:     "lastModifiedDateTime",
			Bucket:        time.Hour,
			PageSize:      500,
			RetentionDays: 90,
		},
	}
}
