package entrasim

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Identity Protection over the simulated clock. With Options.Churn > 0 the risk state changes on its own: in
// about half of the simulated hours one change, at its own instant, drawn from (seed, hour): a user's sign-in
// raises a risk detection and makes the user risky; an administrator dismisses a user's risk; a user remediates
// it with a secure password reset; a service principal is flagged, or its risk dismissed. Each change gives the
// detection and the risky user or service principal a new lastUpdatedDateTime / riskLastUpdatedDateTime, so
// Graph serves a new version and the old one is gone (riskdetection.md, riskyuser.md). Changes are applied, in
// time order, before a protection-family list is served or the ground truth is read.

// Identity Protection collections besides riskyUsers and riskDetections.
const (
	colRiskySPs          = "riskyServicePrincipals"
	colSPRiskDetections  = "servicePrincipalRiskDetections"
	riskMinAge           = 6 * time.Hour // a risk is dismissed or remediated at least this long after it was raised
	riskChangesPerHour   = 0.5
	riskDetectionDefault = "IdentityProtection"
)

// needWorkloadID is the answer of the service principal risk APIs without Workload Identities Premium
// (serviceprincipalriskdetection.md: "You must have a Microsoft Entra Workload ID Premium license").
func needWorkloadID(l licences) *gerr {
	if !l.workloadID {
		return errNotLicensed
	}
	return nil
}

// riskEngine is the risk changes' position: the next simulated hour whose change is not applied yet (guarded by
// store.mu).
type riskEngine struct {
	next int64
	done int // the changes of hour next already applied
	// caEdits are the times Conditional Access policies were edited.
	caEdits []time.Time
}

// caEditsPerHour is the chance of a Conditional Access policy edit in a simulated hour (with Churn).
const caEditsPerHour = 0.15

// populateRiskSPs loads the initial risky service principals, each with a detection (caller holds the store lock).
func (t *Tenant) populateRiskSPs(base time.Time) {
	s, seed := t.store, uint64(t.cfg.Seed)
	risky, dets := s.col(colRiskySPs, "riskyServicePrincipal"), s.col(colSPRiskDetections, "servicePrincipalRiskDetection")
	n := 0
	for _, sd := range t.spSeeds {
		if sd.app == nil || n == 2 {
			continue
		}
		at := base.Add(-time.Duration(3+24*n) * time.Hour)
		level := []string{"high", "medium"}[n]
		s.loadProps(risky, sd.sp.ID, t.riskySPProps(sd, at, level, "atRisk", "none"))
		did := guidFrom(seed, strKey("sp-risk-detection"), strKey(sd.sp.ID))
		s.loadProps(dets, did, t.spDetectionProps(did, sd, at, level))
		n++
	}
	t.risk.next = base.Unix()/3600 + 1
}

// userDetectionProps renders a user's riskDetection of a sign-in from p (riskdetection.md): detected at detected,
// last updated at updated, in the given state.
func userDetectionProps(seed uint64, did string, u *User, p place, eventType, level, state, detail, ip string, detected, updated time.Time) obj {
	return obj{{"@odata.type", "#microsoft.graph.riskDetection"}, {"id", did},
		{"requestId", guidFrom(seed, strKey("risk-request"), strKey(did))}, {"correlationId", guidFrom(seed, strKey("risk-correlation"), strKey(did))},
		{"riskEventType", eventType}, {"riskState", state}, {"riskLevel", level}, {"riskDetail", detail}, {"source", riskDetectionDefault},
		{"detectionTimingType", "realtime"}, {"activity", "signin"}, {"tokenIssuerType", "AzureAD"},
		{"ipAddress", ip}, {"location", obj{{"city", p.City}, {"state", p.State}, {"countryOrRegion", p.Country},
			{"geoCoordinates", obj{{"latitude", p.Lat}, {"longitude", p.Lon}}}}},
		{"activityDateTime", detected.Add(-2 * time.Minute)}, {"detectedDateTime", detected}, {"lastUpdatedDateTime", updated},
		{"userId", u.ID}, {"userDisplayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName},
		{"additionalInfo", `[{"Key":"userAgent","Value":"` + userAgents[0] + `"}]`}}
}

// riskEventTypes are the user risk detections the tenant raises.
var riskEventTypes = []string{"unfamiliarFeatures", "anonymizedIPAddress", "unlikelyTravel", "passwordSpray"}

// riskHistoryPerHour is the chance that an hour of the tenant's history holds a user risk detection: a detection
// of a sign-in that the user remediated within the hour (a risk-based Conditional Access policy's password change),
// so every window of the history that a collection reads has detections, as a real tenant's has.
const riskHistoryPerHour = 0.3

// populateRiskHistory loads the remediated user risk detections of the tenant's history, at most 20 days back (caller
// holds the store lock): each a detection raised by a sign-in and remediated by the user 10 to 50 minutes later,
// whose only version Graph serves is the remediated one. A user without a riskyUsers entry gets one, remediated as of
// their last detection; users at risk now keep their entry and get no history detections.
func (t *Tenant) populateRiskHistory(base time.Time) {
	s, seed := t.store, uint64(t.cfg.Seed)
	users := t.gen.cast.users
	if len(users) == 0 {
		return
	}
	risky, dets := s.cols[colRiskyUsers], s.cols[colRiskDetections]
	atRisk := map[string]bool{}
	for _, id := range risky.ids {
		atRisk[risky.byID[id].id] = true
	}
	last := map[string]time.Time{}
	from := base.Add(-min(t.cfg.History, 20*24*time.Hour)).Unix() / 3600
	for h := from; h < base.Unix()/3600; h++ {
		x := newRNG(seed, strKey("risk-history"), uint64(h))
		if !x.chance(riskHistoryPerHour) {
			continue
		}
		u := &users[x.intn(len(users))]
		detected := time.Unix(h*3600, 0).UTC().Add(time.Duration(x.intn(3600)) * time.Second)
		updated := detected.Add(time.Duration(10+x.intn(40)) * time.Minute)
		if atRisk[u.ID] || !updated.Before(base) {
			continue
		}
		did := guidFrom(seed, strKey("risk-detection"), strKey(u.ID), uint64(detected.UnixNano()))
		p := places[u.place]
		s.loadProps(dets, did, userDetectionProps(seed, did, u, p, pick(x, riskEventTypes), pick(x, []string{"low", "medium", "high"}),
			"remediated", "userPerformedSecuredPasswordReset", ipFor(p, x.next()), detected, updated))
		last[u.ID] = updated
	}
	for i := range users {
		u := &users[i]
		at, ok := last[u.ID]
		if !ok {
			continue
		}
		s.loadProps(risky, u.ID, obj{{"@odata.type", "#microsoft.graph.riskyUser"}, {"id", u.ID}, {"isDeleted", false},
			{"isProcessing", false}, {"riskLastUpdatedDateTime", at}, {"riskLevel", "none"}, {"riskState", "remediated"},
			{"riskDetail", "userPerformedSecuredPasswordReset"}, {"userDisplayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName}})
	}
}

// riskySPProps renders a riskyServicePrincipal as riskyserviceprincipal-list.json shows it.
func (t *Tenant) riskySPProps(sd spSeed, at time.Time, level, state, detail string) obj {
	return obj{{"id", sd.sp.ID}, {"isEnabled", sd.sp.AccountEnabled}, {"isProcessing", false},
		{"riskLastUpdatedDateTime", at}, {"riskLevel", level}, {"riskState", state}, {"riskDetail", detail},
		{"displayName", sd.sp.DisplayName}, {"appId", sd.sp.AppID}, {"servicePrincipalType", sd.sp.ServicePrincipalType}}
}

// spDetectionProps renders a servicePrincipalRiskDetection (serviceprincipalriskdetection.md).
func (t *Tenant) spDetectionProps(id string, sd spSeed, at time.Time, level string) obj {
	seed := uint64(t.cfg.Seed)
	p := places[hashOf(strKey(id))%uint64(len(places))]
	return obj{{"id", id}, {"requestId", guidFrom(seed, strKey("sp-risk-request"), strKey(id))},
		{"correlationId", guidFrom(seed, strKey("sp-risk-correlation"), strKey(id))},
		{"riskEventType", "investigationsThreatIntelligence"}, {"riskState", "atRisk"}, {"riskLevel", level},
		{"riskDetail", "none"}, {"source", riskDetectionDefault}, {"detectionTimingType", "offline"},
		{"activity", "servicePrincipal"}, {"tokenIssuerType", "AzureAD"}, {"ipAddress", ipFor(p, hashOf(strKey(id), 1))},
		{"location", obj{{"city", p.City}, {"state", p.State}, {"countryOrRegion", p.Country},
			{"geoCoordinates", obj{{"latitude", p.Lat}, {"longitude", p.Lon}}}}},
		{"activityDateTime", at.Add(-30 * time.Minute)}, {"detectedDateTime", at}, {"lastUpdatedDateTime", at},
		{"servicePrincipalId", sd.sp.ID}, {"servicePrincipalDisplayName", sd.sp.DisplayName}, {"appId", sd.sp.AppID},
		{"keyIds", []string{}}, {"additionalInfo", "[]"}}
}

// syncRisk applies the risk changes due up to the simulated now.
func (t *Tenant) syncRisk() {
	if t.cfg.Churn <= 0 {
		return
	}
	now := t.Now()
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for t.risk.next <= now.Unix()/3600 {
		evs := t.riskPlan(t.risk.next)
		for ; t.risk.done < len(evs); t.risk.done++ {
			if evs[t.risk.done].at.After(now) {
				return
			}
			evs[t.risk.done].apply()
		}
		t.risk.next, t.risk.done = t.risk.next+1, 0
	}
}

// riskEvent is one planned change of an hour.
type riskEvent struct {
	at    time.Time
	apply func()
}

// riskPlan draws an hour's changes, in time order: at most one risk change, one Conditional Access policy edit and
// one agent risk change (agents.go), each at its own instant, from (seed, hour).
func (t *Tenant) riskPlan(h int64) []riskEvent {
	var evs []riskEvent
	slot := time.Unix(h*3600, 0).UTC()
	if x := newRNG(uint64(t.cfg.Seed), strKey("risk-churn"), uint64(h)); x.chance(riskChangesPerHour) {
		at := slot.Add(time.Duration(x.intn(3600)) * time.Second)
		evs = append(evs, riskEvent{at, func() { t.riskChange(x, at) }})
	}
	if y := newRNG(uint64(t.cfg.Seed), strKey("ca-churn"), uint64(h)); y.chance(caEditsPerHour) {
		at := slot.Add(time.Duration(y.intn(3600)) * time.Second)
		evs = append(evs, riskEvent{at, func() { t.editPolicy(y, at) }})
	}
	if ev, ok := t.agentRiskEvent(h, slot); ok {
		evs = append(evs, ev)
	}
	slices.SortStableFunc(evs, func(a, b riskEvent) int { return a.at.Compare(b.at) })
	return evs
}

// riskChange applies one change (caller holds the store lock); one that finds nothing to act on raises a risk.
func (t *Tenant) riskChange(x *rng, at time.Time) {
	k := x.float()
	switch {
	case k < 0.2 && t.endUserRisk(x, at, "dismissed", "adminDismissedAllRiskForUser"):
	case k < 0.35 && t.endUserRisk(x, at, "remediated", "userPerformedSecuredPasswordReset"):
	case k >= 0.9 && t.endSPRisk(x, at):
	case k >= 0.8:
		t.raiseSPRisk(x, at)
	default:
		t.raiseUserRisk(x, at)
	}
}

// raiseUserRisk adds a detection for a member user's sign-in and makes the user risky.
func (t *Tenant) raiseUserRisk(x *rng, at time.Time) {
	s, seed := t.store, uint64(t.cfg.Seed)
	users := t.gen.cast.users
	u := &users[x.intn(len(users))]
	level := pick(x, []string{"low", "medium", "high"})
	risky := s.cols[colRiskyUsers]
	set := obj{{"isDeleted", false}, {"isProcessing", false}, {"riskLastUpdatedDateTime", at}, {"riskLevel", level},
		{"riskState", "atRisk"}, {"riskDetail", "none"}}
	if r := risky.get(u.ID); r != nil {
		s.update(r, at, set)
	} else {
		s.create(risky, u.ID, append(obj{{"@odata.type", "#microsoft.graph.riskyUser"}, {"id", u.ID}}, append(set,
			kv{"userDisplayName", u.DisplayName}, kv{"userPrincipalName", u.UserPrincipalName})...), at)
	}
	did := guidFrom(seed, strKey("risk-detection"), strKey(u.ID), uint64(at.UnixNano()))
	p := places[u.place]
	s.create(s.cols[colRiskDetections], did, userDetectionProps(seed, did, u, p, pick(x, riskEventTypes), level, "atRisk", "none",
		ipFor(p, x.next()), at, at), at)
}

// endUserRisk dismisses or remediates the risk of a user at risk for at least riskMinAge: the user and each of
// their open detections get the new state.
func (t *Tenant) endUserRisk(x *rng, at time.Time, state, detail string) bool {
	s := t.store
	r := t.pickAtRisk(x, colRiskyUsers, "riskLastUpdatedDateTime", at)
	if r == nil {
		return false
	}
	s.update(r, at, obj{{"riskLastUpdatedDateTime", at}, {"riskLevel", "none"}, {"riskState", state}, {"riskDetail", detail}})
	for _, d := range t.openDetections(colRiskDetections, "userId", r.id) {
		s.update(d, at, obj{{"riskState", state}, {"riskDetail", detail}, {"lastUpdatedDateTime", at}})
	}
	return true
}

// raiseSPRisk flags an application's service principal and adds its detection.
func (t *Tenant) raiseSPRisk(x *rng, at time.Time) {
	s, seed := t.store, uint64(t.cfg.Seed)
	var apps []spSeed
	for _, sd := range t.spSeeds {
		if sd.app != nil {
			apps = append(apps, sd)
		}
	}
	if len(apps) == 0 {
		return
	}
	sd := apps[x.intn(len(apps))]
	level := pick(x, []string{"low", "medium", "high"})
	risky := s.cols[colRiskySPs]
	if r := risky.get(sd.sp.ID); r != nil {
		s.update(r, at, obj{{"riskLastUpdatedDateTime", at}, {"riskLevel", level}, {"riskState", "atRisk"}, {"riskDetail", "none"}})
	} else {
		s.create(risky, sd.sp.ID, t.riskySPProps(sd, at, level, "atRisk", "none"), at)
	}
	did := guidFrom(seed, strKey("sp-risk-detection"), strKey(sd.sp.ID), uint64(at.UnixNano()))
	s.create(s.cols[colSPRiskDetections], did, t.spDetectionProps(did, sd, at, level), at)
}

// endSPRisk dismisses a service principal's risk (dismissRiskyServicePrincipal).
func (t *Tenant) endSPRisk(x *rng, at time.Time) bool {
	s := t.store
	r := t.pickAtRisk(x, colRiskySPs, "riskLastUpdatedDateTime", at)
	if r == nil {
		return false
	}
	s.update(r, at, obj{{"riskLastUpdatedDateTime", at}, {"riskLevel", "none"}, {"riskState", "dismissed"}, {"riskDetail", "adminDismissedAllRiskForUser"}})
	for _, d := range t.openDetections(colSPRiskDetections, "servicePrincipalId", r.id) {
		s.update(d, at, obj{{"riskState", "dismissed"}, {"riskDetail", "adminDismissedAllRiskForUser"}, {"lastUpdatedDateTime", at}})
	}
	return true
}

// pickAtRisk picks an object at risk whose last change is at least riskMinAge before at (nil: none).
func (t *Tenant) pickAtRisk(x *rng, col, field string, at time.Time) *resource {
	var cands []*resource
	for _, id := range t.store.cols[col].ids {
		r := t.store.cols[col].byID[id]
		p := r.props()
		last, _ := p.get(field)
		if p.str("riskState") == "atRisk" && last.(time.Time).Add(riskMinAge).Before(at) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[x.intn(len(cands))]
}

// openDetections are the detections at risk of a user or service principal.
func (t *Tenant) openDetections(col, by, id string) []*resource {
	var out []*resource
	for _, k := range t.store.cols[col].ids {
		r := t.store.cols[col].byID[k]
		p := r.props()
		if p.str(by) == id && p.str("riskState") == "atRisk" {
			out = append(out, r)
		}
	}
	return out
}

// RiskVersion is one version of an Identity Protection object: its id and last-updated time, and when the next
// version replaced it (zero: it is the current one as of the time asked for).
type RiskVersion struct {
	ID        string
	At, Until time.Time
}

// riskVersionFields are the Identity Protection collections by data type, with their version property.
var riskVersionFields = map[string][2]string{
	"riskyUsers":                     {colRiskyUsers, "riskLastUpdatedDateTime"},
	"riskyServicePrincipals":         {colRiskySPs, "riskLastUpdatedDateTime"},
	"riskDetections":                 {colRiskDetections, "lastUpdatedDateTime"},
	"servicePrincipalRiskDetections": {colSPRiskDetections, "lastUpdatedDateTime"},
}

// RiskVersions is the ground truth of a versioned Identity Protection data type: every version Graph served at
// some time up to asOf (each object's state after each of its changes), in id order, each with the time the next
// one replaced it.
func (t *Tenant) RiskVersions(dataType string, asOf time.Time) ([]RiskVersion, error) {
	cf, ok := riskVersionFields[dataType]
	if !ok {
		return nil, fmt.Errorf("entrasim: %q is not a versioned Identity Protection data type", dataType)
	}
	t.syncRisk()
	s := t.store
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.cols[cf[0]]
	if c == nil {
		return nil, nil
	}
	var out []RiskVersion
	for _, k := range c.ids {
		r := c.byID[k]
		var last time.Time
		for i := range r.vers {
			if r.vers[i].at > asOf.UnixNano() {
				break
			}
			v, _ := r.propsAt(pin{s: r.vers[i].seq, t: math.MaxInt64}).get(cf[1])
			if at, ok := v.(time.Time); ok && !at.Equal(last) {
				if n := len(out); n > 0 && out[n-1].ID == r.id {
					out[n-1].Until = at
				}
				out = append(out, RiskVersion{ID: r.id, At: at})
				last = at
			}
		}
	}
	return out, nil
}

// editPolicy edits a Conditional Access policy as an administrator would: it moves between enforced and
// report-only, and its modifiedDateTime is set (caller holds the store lock).
func (t *Tenant) editPolicy(x *rng, at time.Time) {
	c := t.store.cols[colCAPolicies]
	if c == nil || len(c.ids) == 0 {
		return
	}
	r := c.byID[c.ids[x.intn(len(c.ids))]]
	state := "enabledForReportingButNotEnforced"
	if r.props().str("state") == state {
		state = "enabled"
	}
	t.store.update(r, at, obj{{"modifiedDateTime", at}, {"state", state}})
	t.risk.caEdits = append(t.risk.caEdits, at)
}

// ConditionalAccessEdits returns the times Conditional Access policies were edited up to the simulated now.
func (t *Tenant) ConditionalAccessEdits() []time.Time {
	t.syncRisk()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	return slices.Clone(t.risk.caEdits)
}
