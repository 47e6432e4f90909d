package entrasim

import (
	"fmt"
	"strings"
	"time"
)

// Agent ID (beta, global cloud only): the agent registry's instances and card manifests, and Identity Protection's
// risky agents and agent risk detections, shaped as the beta API pages show them
// (agentregistry-list-agentinstances.md, agentregistry-list-agentcardmanifests.md, riskyagent-list.md,
// agentriskdetection-list.md in microsoft-graph-docs-contrib). Served under /beta only: /v1.0 answers Graph's 400
// "Resource not found for the segment …", as does every Agent ID path Options.Unavailable lists (the Agent Registry
// APIs are being replaced by Agent 365's, agentregistry.md).
//
// Licence: Agent ID (SPEC §4; whether the risk APIs also need Entra ID P2 is unverified). Without it the answer is
// Identity Protection's 403 Forbidden "Your tenant is not licensed for this feature." (the wording for agents is
// unverified). Throttling: the agents family, 5 requests / 10 s per app with Retry-After — Graph documents
// no limit for these APIs, so this is an assumption the catalog shares (unverified).
//
// With Options.Churn > 0 agent risk changes over the simulated clock: in about a third of the simulated hours one
// change, at its own instant, drawn from (seed, hour): an agent's activity raises a detection and makes it risky;
// an administrator dismisses an agent's risk, confirms it safe or confirms it compromised. Each change gives the
// risky agent a new riskLastModifiedDateTime and each detection it touches a new lastModifiedDateTime, so Graph
// serves a new version (riskyagent.md, agentriskdetection.md).

const (
	colAgentInstances       = "agentInstances"
	colAgentCards           = "agentCardManifests"
	colRiskyAgents          = "riskyAgents"
	colAgentRiskDetections  = "agentRiskDetections"
	familyAgents            = family("agents")
	agentRiskChangesPerHour = 0.35
	// agentCount is how many agents the registry holds.
	agentCount = 6
)

// agentPaths are the Agent ID API paths, which Options.Unavailable may name (a path or a prefix of one).
var agentPaths = []string{"agentRegistry/agentInstances", "agentRegistry/agentCardManifests",
	"identityProtection/riskyAgents", "identityProtection/agentRiskDetections"}

func needAgentID(l licences) *gerr {
	if !l.agentID {
		return errNotLicensed
	}
	return nil
}

var agentEndpoints = []*dirEndpoint{
	// $select, $count, $expand and $filter; no $top documented (answered as the registration report answers it).
	{path: "agentRegistry/agentInstances", col: colAgentInstances, typeName: "microsoft.graph.agentInstance", family: familyAgents,
		perms: []permission{anyOf("AgentInstance.Read.All", "AgentInstance.ReadWrite.All")}, licence: needAgentID, get: true,
		noTop: true, betaOnly: true,
		schema: dirSchema("microsoft.graph.agentInstance", "AgentInstance", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("originatingStore", pString, "eq")
			s.addProp("agentIdentityId", pString, "eq")
			s.addProp("sourceAgentId", pString, "eq")
		})},
	// $select and $filter.
	{path: "agentRegistry/agentCardManifests", col: colAgentCards, typeName: "microsoft.graph.agentCardManifest", family: familyAgents,
		perms: []permission{anyOf("AgentCardManifest.Read.All", "AgentCardManifest.ReadWrite.All")}, licence: needAgentID, get: true,
		noTop: true, betaOnly: true,
		schema: dirSchema("microsoft.graph.agentCardManifest", "AgentCardManifest", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("originatingStore", pString, "eq")
		})},
	// $select, $count and $filter; the items are riskyAgentIdentity, riskyAgentIdentityBlueprintPrincipal or
	// riskyAgentUser (@odata.type).
	{path: "identityProtection/riskyAgents", col: colRiskyAgents, typeName: "microsoft.graph.riskyAgent", family: familyAgents,
		perms: []permission{anyOf("IdentityRiskyAgent.Read.All", "IdentityRiskyAgent.ReadWrite.All")}, licence: needAgentID,
		get: true, odataType: true, noTop: true, betaOnly: true,
		schema: dirSchema("microsoft.graph.riskyAgent", "RiskyAgent", func(s *schema) {
			s.addProp("agentDisplayName", pString, "eq", "startswith")
			s.addProp("riskLevel", pString, "eq")
			s.addProp("riskState", pString, "eq")
			s.addProp("riskDetail", pString, "eq")
			s.addProp("identityType", pString, "eq")
		})},
	// $select, $filter and $top (default 20, at most 500). activityDateTime documents eq, le and ge; the
	// lastModifiedDateTime filter the collector's buckets use is unverified.
	{path: "identityProtection/agentRiskDetections", col: colAgentRiskDetections, typeName: "microsoft.graph.agentRiskDetection",
		family: familyAgents, perms: []permission{readRiskEvents}, licence: needAgentID, get: true, odataType: true,
		defaultTop: 20, maxTop: 500, betaOnly: true,
		schema: dirSchema("microsoft.graph.agentRiskDetection", "AgentRiskDetection", func(s *schema) {
			s.addProp("agentId", pString, "eq")
			s.addProp("agentDisplayName", pString, "eq", "startswith")
			s.addProp("riskLevel", pString, "eq")
			s.addProp("riskState", pString, "eq")
			s.addProp("activityDateTime", pTime, "eq", "le", "ge")
			s.addProp("lastModifiedDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
}

func init() {
	dirEndpoints = append(dirEndpoints, agentEndpoints...)
	familyDefs[familyAgents] = familyDef{name: familyAgents, limit: 5, window: 10 * time.Second, retryAfter: true}
	riskVersionFields["riskyAgents"] = [2]string{colRiskyAgents, "riskLastModifiedDateTime"}
	riskVersionFields["agentRiskDetections"] = [2]string{colAgentRiskDetections, "lastModifiedDateTime"}
	snapshotCols["agentInstances"] = colAgentInstances
	snapshotCols["agentCardManifests"] = colAgentCards
}

// unavailable reports whether Options.Unavailable withdraws the API path.
func (c *config) unavailable(path string) bool {
	for _, p := range c.Unavailable {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// validUnavailable checks Options.Unavailable: each entry must name an Agent ID API path or a prefix of one.
func validUnavailable(list []string) error {
	for _, p := range list {
		ok := false
		for _, a := range agentPaths {
			if a == p || strings.HasPrefix(a, strings.TrimSuffix(p, "/")+"/") {
				ok = true
			}
		}
		if !ok || p == "" {
			return fmt.Errorf("entrasim: Unavailable: %q is not an Agent ID API path or a prefix of one (want one of %v)", p, agentPaths)
		}
	}
	return nil
}

// agentSeed is one registered agent.
type agentSeed struct {
	name, store, kind string // kind: agentIdentity, agentUser or agentIdentityBlueprintPrincipal
}

var agentSeeds = []agentSeed{
	{"Conditional Access Agent", "Microsoft Security Copilot", "agentIdentity"},
	{"Expense Assistant", "Copilot Studio", "agentUser"},
	{"Ticket Triage Bot", "Azure AI Foundry", "agentIdentity"},
	{"HR Onboarding Agent", "Copilot Studio", "agentUser"},
	{"Contoso Sales Researcher", "Azure AI Foundry", "agentIdentityBlueprintPrincipal"},
	{"Phishing Triage Agent", "Microsoft Security Copilot", "agentIdentity"},
}

// agentRiskTypes are the @odata.type of a risky agent by its identity type (riskyagent-list.md).
var agentRiskTypes = map[string]string{"agentIdentity": "#microsoft.graph.riskyAgentIdentity",
	"agentUser": "#microsoft.graph.riskyAgentUser", "agentIdentityBlueprintPrincipal": "#microsoft.graph.riskyAgentIdentityBlueprintPrincipal"}

// agentIDs are an agent's identifiers: its instance and manifest ids (free strings in the registry, as the docs'
// "Security Copilot Platform Agent: 00222"), its blueprint, agent identity (the risky agent's id) and owners.
type agentIDs struct {
	instance, manifest, source, blueprint, identity, user, owner, manager string
}

func (t *Tenant) agentIDs(i int) agentIDs {
	seed := uint64(t.cfg.Seed)
	g := func(k string) string { return guidFrom(seed, strKey("agent-"+k), uint64(i)) }
	src := fmt.Sprintf("%05d", 101+i)
	store := agentSeeds[i%len(agentSeeds)].store
	return agentIDs{instance: store + " Agent: " + src, manifest: store + " Agent Card Manifest: " + src, source: src,
		blueprint: g("blueprint"), identity: g("identity"), user: g("user"), owner: g("owner"), manager: g("manager")}
}

// populateAgents loads the registry and the initial risky agents, two of them with a detection (caller holds the
// store lock).
func (t *Tenant) populateAgents(base time.Time) {
	s := t.store
	inst, cards := s.col(colAgentInstances, "agentInstance"), s.col(colAgentCards, "agentCardManifest")
	risky, dets := s.col(colRiskyAgents, "riskyAgent"), s.col(colAgentRiskDetections, "agentRiskDetection")
	for i, a := range agentSeeds[:agentCount] {
		ids := t.agentIDs(i)
		created := base.Add(-time.Duration(90-10*i) * 24 * time.Hour)
		modified := created.Add(time.Duration(3+i) * 24 * time.Hour)
		slug := strings.ToLower(strings.ReplaceAll(a.name, " ", "-"))
		url := "https://" + slug + ".agents.contoso.example/a2a/v1"
		s.loadProps(inst, ids.instance, obj{{"id", ids.instance}, {"ownerIds", []string{ids.owner}}, {"managedBy", ids.manager},
			{"originatingStore", a.store}, {"createdBy", ids.owner}, {"displayName", a.name}, {"sourceAgentId", ids.source},
			{"agentIdentityBlueprintId", ids.blueprint}, {"agentIdentityId", ids.identity}, {"agentUserId", agentUserID(a, ids)},
			{"createdDateTime", created}, {"lastModifiedDateTime", modified}, {"url", url}, {"preferredTransport", "JSONRPC"},
			{"additionalInterfaces", []obj{{{"url", url}, {"transport", "JSONRPC"}},
				{{"url", strings.TrimSuffix(url, "/v1") + "/json"}, {"transport", "HTTP+JSON"}}}},
			{"signatures", []obj{}}})
		s.loadProps(cards, ids.manifest, t.agentCardProps(i, a, ids, created, modified, url))
		if i < 2 {
			at := base.Add(-time.Duration(5+20*i) * time.Hour)
			level := []string{"high", "medium"}[i]
			s.loadProps(risky, ids.identity, riskyAgentProps(a, ids, at, level, "atRisk", "none"))
			did := t.agentDetectionID(ids.identity, at)
			s.loadProps(dets, did, t.agentDetectionProps(did, a, ids, at, level, "unfamiliarResourceAccess"))
		}
	}
}

func agentUserID(a agentSeed, ids agentIDs) any {
	if a.kind == "agentUser" {
		return ids.user
	}
	return nil
}

// agentCardProps renders an agent card manifest as agentregistry-list-agentcardmanifests.md shows it.
func (t *Tenant) agentCardProps(i int, a agentSeed, ids agentIDs, created, modified time.Time, url string) obj {
	skill := strings.ToLower(strings.Fields(a.name)[0])
	return obj{{"id", ids.manifest}, {"ownerIds", []string{ids.owner}}, {"managedBy", ids.manager},
		{"originatingStore", a.store}, {"createdBy", ids.owner}, {"protocolVersion", "0.2.9"},
		{"createdDateTime", created}, {"lastModifiedDateTime", modified}, {"displayName", a.name},
		{"description", a.name + " for Contoso"}, {"iconUrl", strings.TrimSuffix(url, "/a2a/v1") + "/icon"},
		{"provider", obj{{"organization", map[bool]string{true: "Microsoft Inc.", false: "Contoso"}[strings.HasPrefix(a.store, "Microsoft")]},
			{"url", "https://www.contoso.example"}}},
		{"version", fmt.Sprintf("1.%d.0", i)}, {"documentationUrl", strings.TrimSuffix(url, "/a2a/v1") + "/docs"},
		{"capabilities", obj{{"streaming", i%2 == 0}, {"pushNotifications", i%3 == 0}, {"stateTransitionHistory", false},
			{"extensions", []obj{}}}},
		{"securitySchemes", obj{{"entra", obj{{"@odata.type", "#microsoft.graph.oAuth2SecurityScheme"}, {"type", "oauth2"},
			{"description", "Use oauth"}, {"flows", obj{{"clientCredentials", obj{{"tokenUrl", "https://login.microsoftonline.com"},
				{"refreshUrl", nil}, {"scopes", obj{{"agent.run", "run the agent"}}}}}}}}}}},
		{"security", []obj{{{"entra", []string{}}}}},
		{"defaultInputModes", []string{"application/json"}}, {"defaultOutputModes", []string{"application/json", "text/html"}},
		{"skills", []obj{{{"id", skill}, {"displayName", a.name}, {"description", "What " + a.name + " does"},
			{"tags", []string{skill}}, {"examples", []string{}}, {"inputModes", []string{"application/json"}},
			{"outputModes", []string{"application/json"}}, {"security", []obj{{{"entra", []string{}}}}}}}},
		{"supportsAuthenticatedExtendedCard", false}}
}

// riskyAgentProps renders a risky agent (riskyagent.md; identityType and blueprintId from the beta metadata).
func riskyAgentProps(a agentSeed, ids agentIDs, at time.Time, level, state, detail string) obj {
	var blueprint any
	if a.kind != "agentIdentityBlueprintPrincipal" {
		blueprint = ids.blueprint
	}
	return obj{{"@odata.type", agentRiskTypes[a.kind]}, {"id", ids.identity}, {"agentDisplayName", a.name},
		{"blueprintId", blueprint}, {"identityType", a.kind}, {"isDeleted", false}, {"isEnabled", true},
		{"isProcessing", false}, {"riskLastModifiedDateTime", at}, {"riskState", state}, {"riskLevel", level},
		{"riskDetail", detail}}
}

func (t *Tenant) agentDetectionID(agent string, at time.Time) string {
	// Detection ids are 64 hex digits (agentriskdetection-list.md).
	seed := uint64(t.cfg.Seed)
	return strings.ReplaceAll(guidFrom(seed, strKey("agent-risk-detection"), strKey(agent), uint64(at.UnixNano()))+
		guidFrom(seed, strKey("agent-risk-detection-2"), strKey(agent), uint64(at.UnixNano())), "-", "")
}

// agentDetectionProps renders an agent risk detection (agentriskdetection.md).
func (t *Tenant) agentDetectionProps(id string, a agentSeed, ids agentIDs, at time.Time, level, kind string) obj {
	evidence := map[string]string{
		"unfamiliarResourceAccess": "Agent targeted resources that it does not usually access.",
		"anomalousTokenUsage":      "Agent used tokens in an unusual pattern.",
		"suspiciousPromptActivity": "Agent received prompts that resemble an injection attempt.",
	}[kind]
	var blueprint any
	if a.kind != "agentIdentityBlueprintPrincipal" {
		blueprint = ids.blueprint
	}
	// The beta metadata's properties no agentriskdetection.md example shows (identityType, blueprintId, the
	// sign-in references) are the risky agent's, or null: an offline detection has no sign-in.
	return obj{{"@odata.type", "#microsoft.graph.agentRiskDetection"}, {"id", id}, {"agentId", ids.identity},
		{"agentDisplayName", a.name}, {"displayName", nil}, {"identityId", ids.identity}, {"identityType", a.kind},
		{"blueprintId", blueprint}, {"activityDateTime", at.Add(-3 * time.Minute)}, {"detectedDateTime", at},
		{"detectionTimingType", "offline"}, {"lastModifiedDateTime", at}, {"riskDetail", "none"}, {"riskLevel", level},
		{"riskState", "atRisk"}, {"riskEventType", kind}, {"riskEvidence", evidence}, {"additionalInfo", "[]"},
		{"source", nil}, {"clientSessionId", nil}, {"signInClientDisplayName", nil}, {"signInCorrelationId", nil},
		{"signInRequestId", nil}}
}

// agentRiskEvent draws an hour's agent risk change, if any (riskPlan).
func (t *Tenant) agentRiskEvent(h int64, slot time.Time) (riskEvent, bool) {
	x := newRNG(uint64(t.cfg.Seed), strKey("agent-risk-churn"), uint64(h))
	if !x.chance(agentRiskChangesPerHour) {
		return riskEvent{}, false
	}
	at := slot.Add(time.Duration(x.intn(3600)) * time.Second)
	return riskEvent{at, func() { t.agentRiskChange(x, at) }}, true
}

// agentRiskChange applies one change (caller holds the store lock); an end of risk that finds no agent at risk
// raises one instead.
func (t *Tenant) agentRiskChange(x *rng, at time.Time) {
	k := x.float()
	switch {
	case k < 0.25 && t.endAgentRisk(x, at, "dismissed", "adminDismissedRiskForAgent", "none"):
	case k < 0.4 && t.endAgentRisk(x, at, "confirmedSafe", "adminConfirmedAgentSafe", "none"):
	case k < 0.5 && t.endAgentRisk(x, at, "confirmedCompromised", "adminConfirmedAgentCompromised", "high"):
	default:
		t.raiseAgentRisk(x, at)
	}
}

// raiseAgentRisk adds a detection for an agent and makes it risky.
func (t *Tenant) raiseAgentRisk(x *rng, at time.Time) {
	s := t.store
	i := x.intn(agentCount)
	a, ids := agentSeeds[i], t.agentIDs(i)
	level := pick(x, []string{"low", "medium", "high"})
	if r := s.cols[colRiskyAgents].get(ids.identity); r != nil {
		s.update(r, at, obj{{"riskLastModifiedDateTime", at}, {"riskLevel", level}, {"riskState", "atRisk"}, {"riskDetail", "none"}})
	} else {
		s.create(s.cols[colRiskyAgents], ids.identity, riskyAgentProps(a, ids, at, level, "atRisk", "none"), at)
	}
	did := t.agentDetectionID(ids.identity, at)
	kind := pick(x, []string{"unfamiliarResourceAccess", "anomalousTokenUsage", "suspiciousPromptActivity"})
	s.create(s.cols[colAgentRiskDetections], did, t.agentDetectionProps(did, a, ids, at, level, kind), at)
}

// endAgentRisk dismisses, confirms safe or confirms compromised an agent at risk for at least riskMinAge
// (riskyagent-dismiss.md, -confirmsafe.md, -confirmcompromised.md): the agent and its open detections get the new
// state.
func (t *Tenant) endAgentRisk(x *rng, at time.Time, state, detail, level string) bool {
	s := t.store
	r := t.pickAtRisk(x, colRiskyAgents, "riskLastModifiedDateTime", at)
	if r == nil {
		return false
	}
	s.update(r, at, obj{{"riskLastModifiedDateTime", at}, {"riskLevel", level}, {"riskState", state}, {"riskDetail", detail}})
	for _, d := range t.openDetections(colAgentRiskDetections, "agentId", r.id) {
		s.update(d, at, obj{{"riskState", state}, {"riskDetail", detail}, {"lastModifiedDateTime", at}})
	}
	return true
}
