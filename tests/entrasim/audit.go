package entrasim

import (
	"fmt"
	"strconv"
)

// Directory audit records (v1.0/api/directoryaudit-list.md examples).

type auditActivity struct {
	name, category, service, opType string
	target                          string  // target type: User, Group, Application, ServicePrincipal, Policy, Device, N/A
	weight                          int     // relative frequency
	byApp                           float64 // share initiated by an application rather than a user
	self                            bool    // initiated by the target user (self-service)
}

var auditActivities = []auditActivity{
	{"Update user", "UserManagement", "Core Directory", "Update", "User", 20, 0.3, false},
	{"Add user", "UserManagement", "Core Directory", "Add", "User", 4, 0.2, false},
	{"Delete user", "UserManagement", "Core Directory", "Delete", "User", 1, 0, false},
	{"Reset user password", "UserManagement", "Core Directory", "Update", "User", 3, 0, false},
	{"Add member to group", "GroupManagement", "Core Directory", "Assign", "Group", 12, 0.2, false},
	{"Remove member from group", "GroupManagement", "Core Directory", "Unassign", "Group", 5, 0.2, false},
	{"Update group", "GroupManagement", "Core Directory", "Update", "Group", 3, 0, false},
	{"GroupLifecyclePolicies_Get", "GroupManagement", "Self-service Group Management", "Update", "N/A", 6, 0, true},
	{"Update application – Certificates and secrets management ", "ApplicationManagement", "Core Directory", "Update", "Application", 2, 0, false},
	{"Add service principal", "ApplicationManagement", "Core Directory", "Add", "ServicePrincipal", 1, 0, false},
	{"Consent to application", "ApplicationManagement", "Core Directory", "Assign", "ServicePrincipal", 1, 0, false},
	{"Add app role assignment to service principal", "ApplicationManagement", "Core Directory", "Assign", "ServicePrincipal", 1, 0, false},
	{"Add member to role", "RoleManagement", "Core Directory", "Assign", "User", 1, 0, false},
	{"Update conditional access policy", "Policy", "Conditional Access", "Update", "Policy", 1, 0, false},
	{"User registered security info", "UserManagement", "Authentication Methods", "Add", "User", 5, 0, true},
	{"User started security info registration", "UserManagement", "Authentication Methods", "Add", "User", 3, 0, true},
	{"Update device", "Device", "Core Directory", "Update", "Device", 8, 0.9, false},
}

var auditWeightTotal = func() int {
	n := 0
	for _, a := range auditActivities {
		n += a.weight
	}
	return n
}()

// auditActivityIndex picks the event's activity (a pure function of the event, so the id can carry the
// service prefix without generating the whole record).
func auditActivityIndex(e *event) int {
	x := int(hashOf(e.k0, e.k1, strKey("activity")) % uint64(auditWeightTotal))
	for i, a := range auditActivities {
		if x < a.weight {
			return i
		}
		x -= a.weight
	}
	return 0
}

// auditID mimics directory audit ids: "<service prefix>_<correlation id>_<5 characters>_<8 digits>"
// (fixture: "SSGM_b662f17a-4e4d-4e1c-9248-cdec180024b2_MCDC4_88453290").
func auditID(e *event, service string) string {
	prefix := "Directory"
	switch service {
	case "Self-service Group Management":
		prefix = "SSGM"
	case "Authentication Methods":
		prefix = "UserManagement"
	case "Conditional Access":
		prefix = "IPCGraph"
	}
	r := newRNG(e.k0, e.k1, strKey("audit-id"))
	return fmt.Sprintf("%s_%s_%s_%08d", prefix, auditCorrelation(e), upperAlnum(r, 5), r.intn(100000000))
}

func auditCorrelation(e *event) string { return guid(e.k0, e.k1) }

// Groups referenced by audit events. Phase-2 directory groups must reuse groupID so both agree.
var groupNames = append([]string{"All Staff", "VPN Users", "Privileged Admins", "Guests"}, departments...)

func groupID(seed uint64, i int) string { return guidFrom(seed, strKey("group"), uint64(i)) }

type modProp struct{ name, old, new string }

type auditTarget struct {
	id, name, typ, upn, groupType string
	props                         []modProp
}

type auditRec struct {
	e                     *event
	id, correlationID     string
	act                   auditActivity
	result, reason        string
	byApp                 bool
	userID, userName, upn string
	userIP, userType      string
	appID, appName, spID  string
	targets               []auditTarget
	details               [][2]string
}

func (g *gen) audit(e *event) *auditRec {
	c := g.cast
	r := newRNG(g.seed, strKey("audit"), e.k0, e.k1)
	act := auditActivities[auditActivityIndex(e)]
	a := &auditRec{e: e, act: act, id: auditID(e, act.service), correlationID: auditCorrelation(e), result: "success"}
	if r.chance(0.04) {
		a.result, a.reason = "failure", "Microsoft.Online.Workflows.ObjectAlreadyExistsException"
	}
	target := c.users[r.intn(len(c.users))]
	switch {
	case act.byApp > 0 && r.chance(act.byApp) && len(c.appSPs) > 0:
		sp := c.appSPs[r.intn(len(c.appSPs))]
		a.byApp, a.appID, a.appName, a.spID = true, sp.AppID, sp.DisplayName, sp.ID
	case act.self:
		a.userID, a.userName, a.upn, a.userType = target.ID, target.DisplayName, target.UserPrincipalName, target.UserType
		a.userIP = ipFor(places[target.place], hashOf(strKey(target.ID)))
	default:
		adm := target
		if len(c.admins) > 0 {
			adm = c.users[c.admins[r.intn(len(c.admins))]]
		}
		a.userID, a.userName, a.upn, a.userType = adm.ID, adm.DisplayName, adm.UserPrincipalName, adm.UserType
		a.userIP = ipFor(places[adm.place], hashOf(strKey(adm.ID)))
	}
	userTarget := auditTarget{id: target.ID, name: target.DisplayName, typ: "User", upn: target.UserPrincipalName}
	q := func(s string) string { return strconv.Quote(s) }
	switch act.target {
	case "User":
		switch act.name {
		case "Update user":
			f := pick(r, [][3]string{{"Department", q(target.Department), q(pick(r, departments))},
				{"JobTitle", q(target.JobTitle), q(pick(r, jobTitles))}, {"AccountEnabled", "true", "false"}})
			userTarget.props = []modProp{{f[0], "[" + f[1] + "]", "[" + f[2] + "]"}, {"Included Updated Properties", "", q(f[0])}}
		case "Add user":
			userTarget.props = []modProp{{"AccountEnabled", "[]", "[true]"}, {"DisplayName", "[]", "[" + q(target.DisplayName) + "]"},
				{"UserPrincipalName", "[]", "[" + q(target.UserPrincipalName) + "]"}, {"UserType", "[]", "[" + q(target.UserType) + "]"}}
		case "Add member to role":
			userTarget.props = []modProp{{"Role.DisplayName", "", q("Global Reader")}, {"Role.TemplateId", "", q("f2ef992c-3afb-46b9-b7cf-a126ee74c451")}}
		}
		a.targets = []auditTarget{userTarget}
		if act.service == "Authentication Methods" {
			a.details = [][2]string{{"Method", "Microsoft Authenticator App"}, {"Sign-in method", "Push notification"}}
		} else {
			a.details = [][2]string{{"UserType", target.UserType}}
		}
	case "Group":
		gi := r.intn(len(groupNames))
		gid, gname := groupID(g.seed, gi), groupNames[gi]
		// microsoft.graph.groupType: unifiedGroups, azureAD (a security group), unknownFutureValue.
		gt := "azureAD"
		if gi%3 == 0 {
			gt = "unifiedGroups"
		}
		if act.name == "Update group" {
			a.targets = []auditTarget{{id: gid, name: gname, typ: "Group", groupType: gt,
				props: []modProp{{"Description", "[]", "[" + q(gname+" members") + "]"}}}}
		} else {
			userTarget.props = []modProp{{"Group.ObjectID", "", q(gid)}, {"Group.DisplayName", "", q(gname)}}
			a.targets = []auditTarget{userTarget, {id: gid, name: gname, typ: "Group", groupType: gt}}
		}
	case "Application", "ServicePrincipal":
		i := r.intn(len(c.apps))
		if act.target == "Application" {
			app := c.apps[i]
			a.targets = []auditTarget{{id: app.ID, name: app.DisplayName, typ: "Application",
				props: []modProp{{"KeyDescription", "[]", fmt.Sprintf(`["[KeyIdentifier=%s,KeyType=Password,KeyUsage=Verify,DisplayName=default]"]`, guidFrom(g.seed, e.k0, strKey("key")))}}}}
		} else {
			sp := c.appSPs[i]
			a.targets = []auditTarget{{id: sp.ID, name: sp.DisplayName, typ: "ServicePrincipal",
				props: []modProp{{"AppRole.Value", "", q("User.Read.All")}}}}
		}
		a.details = [][2]string{{"User-Agent", "EvoSTS"}}
	case "Policy":
		i := r.intn(len(caPolicies))
		a.targets = []auditTarget{{id: c.caIDs[i], name: caPolicies[i].Name, typ: "Policy",
			props: []modProp{{"ConditionalAccessPolicy", `{"state":"enabledForReportingButNotEnforced"}`, `{"state":"enabled"}`}}}}
	case "Device":
		a.targets = []auditTarget{{id: guidFrom(g.seed, strKey("device"), strKey(target.ID), uint64(target.device)),
			name: fmt.Sprintf("LAPTOP-%04X", hashOf(strKey(target.ID))&0xffff), typ: "Device",
			props: []modProp{{"ApproximateLastLogonTimestamp", "", fmt.Sprintf(`["%s"]`, jsonTime(e.ts))}}}}
		a.details = [][2]string{{"DeviceId", guidFrom(g.seed, strKey("device-id"), strKey(target.ID))}, {"DeviceOSType", "Windows"}}
	default:
		a.targets = []auditTarget{{id: "00000000-0000-0000-0000-000000000000", typ: "N/A"}}
	}
	return a
}

func jsonTime(ns int64) string {
	var w jw
	w.time(ns)
	return string(w.b[1 : len(w.b)-1])
}

func (a *auditRec) get(path string) value {
	switch path {
	case "id":
		return sval(a.id)
	case "activityDateTime":
		return tval(a.e.ts)
	case "category":
		return sval(a.act.category)
	case "correlationId":
		return sval(a.correlationID)
	case "result":
		return sval(a.result)
	case "activityDisplayName":
		return sval(a.act.name)
	case "loggedByService":
		return sval(a.act.service)
	case "operationType":
		return sval(a.act.opType)
	case "initiatedBy/user/id":
		return optS(a.userID)
	case "initiatedBy/user/displayName":
		return optS(a.userName)
	case "initiatedBy/user/userPrincipalName":
		return optS(a.upn)
	case "initiatedBy/app/appId":
		return optS(a.appID)
	case "initiatedBy/app/displayName":
		return optS(a.appName)
	}
	return value{}
}

func (a *auditRec) scalars(string) []value { return nil }

func (a *auditRec) items(coll string) []view {
	if coll != "targetResources" {
		return nil
	}
	out := make([]view, len(a.targets))
	for i := range a.targets {
		out[i] = &a.targets[i]
	}
	return out
}

func (t *auditTarget) get(path string) value {
	switch path {
	case "id":
		return sval(t.id)
	case "displayName":
		return optS(t.name)
	case "userPrincipalName":
		return optS(t.upn)
	case "type":
		return sval(t.typ)
	}
	return value{}
}
func (t *auditTarget) scalars(string) []value { return nil }
func (t *auditTarget) items(string) []view    { return nil }

func (a *auditRec) write(w *jw) {
	w.beginObj()
	w.kstr("id", a.id)
	w.kstr("category", a.act.category)
	w.kstr("correlationId", a.correlationID)
	w.kstr("result", a.result)
	w.kstr("resultReason", a.reason)
	w.kstr("activityDisplayName", a.act.name)
	w.ktime("activityDateTime", a.e.ts)
	w.kstr("loggedByService", a.act.service)
	w.kstr("operationType", a.act.opType)
	if w.key("initiatedBy") {
		w.beginObj()
		if a.byApp {
			w.knull("user")
			w.key("app")
			w.beginObj()
			w.kstr("appId", a.appID)
			w.kstr("displayName", a.appName)
			w.kstr("servicePrincipalId", a.spID)
			w.kstr("servicePrincipalName", a.appName)
			w.endObj()
		} else {
			w.knull("app")
			w.key("user")
			w.beginObj()
			w.kstr("id", a.userID)
			w.kstr("displayName", a.userName)
			w.kstr("userPrincipalName", a.upn)
			w.kstr("ipAddress", a.userIP)
			w.kstr("userType", a.userType)
			w.knull("homeTenantId")
			w.knull("homeTenantName")
			w.endObj()
		}
		w.endObj()
	}
	if w.key("targetResources") {
		w.beginArr()
		for _, t := range a.targets {
			w.beginObj()
			w.kstr("id", t.id)
			w.kstrOrNull("displayName", t.name)
			w.kstr("type", t.typ)
			w.kstrOrNull("userPrincipalName", t.upn)
			w.kstrOrNull("groupType", t.groupType)
			w.key("modifiedProperties")
			w.beginArr()
			for _, p := range t.props {
				w.beginObj()
				w.kstr("displayName", p.name)
				w.kstrOrNull("oldValue", p.old)
				w.kstrOrNull("newValue", p.new)
				w.endObj()
			}
			w.endArr()
			w.endObj()
		}
		w.endArr()
	}
	if w.key("additionalDetails") {
		w.beginArr()
		for _, d := range a.details {
			w.beginObj()
			w.kstr("key", d[0])
			w.kstr("value", d[1])
			w.endObj()
		}
		w.endArr()
	}
	w.endObj()
}

var auditProps = []string{"id", "category", "correlationId", "result", "resultReason", "activityDisplayName",
	"activityDateTime", "loggedByService", "operationType", "initiatedBy", "targetResources", "additionalDetails"}

func auditSchema() *schema {
	s := &schema{typeName: "microsoft.graph.directoryAudit", timeProp: "activityDateTime", knownProps: auditProps,
		nested: map[string]string{"initiatedby": "microsoft.graph.auditActivityInitiator",
			"initiatedby/user": "microsoft.graph.userIdentity", "initiatedby/app": "microsoft.graph.appIdentity"}}
	// directoryAudit-list: $filter (eq, ge, le, startswith); gt and lt accepted too (unverified).
	s.addProp("activityDateTime", pTime, "eq", "ge", "le", "gt", "lt")
	for _, p := range []string{"id", "category", "correlationId", "loggedByService", "initiatedBy/user/id",
		"initiatedBy/user/displayName", "initiatedBy/app/appId", "initiatedBy/app/displayName"} {
		s.addProp(p, pString, "eq")
	}
	s.addEnum("result", "operationResult", "eq")
	s.addProp("operationType", pString, "eq")
	s.addProp("activityDisplayName", pString, "eq", "startswith")
	s.addProp("initiatedBy/user/userPrincipalName", pString, "eq", "startswith")
	item := map[string]*propSpec{}
	for _, p := range []string{"id", "displayName", "userPrincipalName", "type"} {
		ops := opset("eq", "startswith")
		if p == "id" {
			ops = opset("eq")
		}
		item[s.key(p)] = &propSpec{path: p, typ: pString, ops: ops}
	}
	s.colls = map[string]*collSpec{s.key("targetResources"): {path: "targetResources", item: item}}
	return s
}
