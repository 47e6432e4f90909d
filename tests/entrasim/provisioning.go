package entrasim

import (
	"fmt"
	"strings"
	"time"
)

// Provisioning records: provisioningObjectSummary (v1.0/api/provisioningobjectsummary-list.md examples).
// initiatedBy uses the documented initiatorType (example 1's initiatingType is a docs defect).

type provStep struct{ name, typ, status, desc, detail string }

type provRec struct {
	e                        *event
	id                       string
	tenantID                 string
	jobID, cycleID, changeID string
	action                   string
	durationMs               int
	status                   string
	errCode, errReason       string
	spID, spName, appID      string
	userID, userName, upn    string
	targetID                 string
	steps                    []provStep
	props                    []modProp
}

var provTemplates = map[string]string{
	"Salesforce": "salesforce", "ServiceNow": "servicenow", "Slack": "slack", "Zoom": "zoom",
	"Dropbox Business": "dropboxforbusiness", "AWS Single-Account Access": "aws", "GitHub Enterprise": "github",
	"Box": "box", "Workday": "workday",
}

var provErrors = [][2]string{
	{"SalesforceDuplicateUsername", "Failed to create User in Salesforce: the username already exists in another organisation."},
	{"SlackUserAlreadyExists", "Slack returned an error response with the HTTP status code 409. A user already exists with the same name."},
	{"EntrySynchronizationError", "The attribute 'mail' is required but was not supplied for this user."},
}

func (g *gen) provisioning(e *event) *provRec {
	c := g.cast
	r := newRNG(g.seed, strKey("provisioning"), e.k0, e.k1)
	p := &provRec{e: e, id: guid(e.k0, e.k1), tenantID: c.tenantID, changeID: r.guid()}
	var sp ServicePrincipal
	var app Application
	if len(c.provSPs) > 0 {
		i := c.provSPs[r.intn(len(c.provSPs))]
		sp, app = c.appSPs[i], c.apps[i]
	} else {
		sp, app = c.appSPs[0], c.apps[0]
	}
	p.spID, p.spName, p.appID = sp.ID, sp.DisplayName, app.AppID
	tmpl := provTemplates[strings.TrimRight(strings.TrimRight(sp.DisplayName, "0123456789"), " ")]
	if tmpl == "" {
		tmpl = "scim"
	}
	jobGUID := guidFrom(g.seed, strKey("provisioning-job"), strKey(sp.ID))
	p.jobID = fmt.Sprintf("%s.%s.%s", tmpl, strings.ReplaceAll(c.tenantID, "-", ""), jobGUID)
	// Provisioning runs in cycles of about 40 minutes; events of one cycle share its id.
	p.cycleID = guidFrom(g.seed, strKey("cycle"), strKey(jobGUID), uint64(e.ts/int64(40*time.Minute)))
	u := c.users[r.intn(len(c.users))]
	p.userID, p.userName, p.upn = u.ID, u.DisplayName, u.UserPrincipalName
	p.targetID = guidFrom(g.seed, strKey("provisioned-user"), strKey(sp.ID), strKey(u.ID))
	p.action = pick(r, []string{"create", "update", "update", "update", "update", "delete", "disable", "other", "create", "create"})
	p.durationMs = 200 + r.intn(5000)
	p.status = "success"
	switch x := r.float(); {
	case x < 0.07:
		p.status = "failure"
		er := pick(r, provErrors)
		p.errCode, p.errReason = er[0], er[1]
	case x < 0.15:
		p.status = "skipped"
	}
	verb := map[string]string{"create": "Add", "update": "Update", "delete": "Delete", "disable": "Update", "other": "Update"}[p.action]
	p.steps = []provStep{
		{"EntryImport" + verb, "import", "success", fmt.Sprintf("Received User '%s' change of type (%s) from Azure Active Directory", u.UserPrincipalName, verb), ""},
		{"EntrySynchronization" + verb, "matching", "success", fmt.Sprintf("User '%s' will be %s in %s", u.UserPrincipalName, map[string]string{"Add": "created", "Update": "updated", "Delete": "deleted"}[verb], sp.DisplayName), ""},
	}
	switch p.status {
	case "skipped":
		p.steps[1] = provStep{"EntrySynchronizationSkipped", "scoping", "skipped", fmt.Sprintf("User '%s' was skipped: not assigned to the application", u.UserPrincipalName), ""}
	case "failure":
		p.steps = append(p.steps, provStep{"EntryExport" + verb, "export", "failure", fmt.Sprintf("Failed to %s User '%s' in %s", strings.ToLower(verb), u.UserPrincipalName, sp.DisplayName), u.UserPrincipalName})
	default:
		p.steps = append(p.steps, provStep{"EntryExport" + verb, "export", "success", fmt.Sprintf("User '%s' was %sd in %s", u.UserPrincipalName, strings.ToLower(verb), sp.DisplayName), u.UserPrincipalName})
	}
	p.props = []modProp{{"objectId", "", u.ID}, {"userPrincipalName", "", u.UserPrincipalName}, {"displayName", "", u.DisplayName},
		{"accountEnabled", "", map[bool]string{true: "True", false: "False"}[u.AccountEnabled]}}
	return p
}

func (p *provRec) get(path string) value {
	switch path {
	case "id":
		return sval(p.id)
	case "activityDateTime":
		return tval(p.e.ts)
	case "jobId":
		return sval(p.jobID)
	case "cycleId":
		return sval(p.cycleID)
	case "changeId":
		return sval(p.changeID)
	case "provisioningAction":
		return sval(p.action)
	case "provisioningStatusInfo/status":
		return sval(p.status)
	case "servicePrincipal/id":
		return sval(p.spID)
	case "servicePrincipal/displayName":
		return sval(p.spName)
	case "sourceIdentity/id":
		return sval(p.userID)
	case "sourceIdentity/displayName":
		return sval(p.userName)
	case "targetIdentity/id":
		return sval(p.targetID)
	case "targetIdentity/displayName":
		return sval(p.upn)
	case "sourceSystem/displayName":
		return sval("Azure Active Directory")
	case "targetSystem/displayName":
		return sval(p.spName)
	}
	return value{}
}

func (p *provRec) scalars(string) []value { return nil }
func (p *provRec) items(string) []view    { return nil }

func (p *provRec) write(w *jw) {
	w.beginObj()
	w.kstr("id", p.id)
	w.ktime("activityDateTime", p.e.ts)
	w.kstr("tenantId", p.tenantID)
	w.kstr("jobId", p.jobID)
	w.kstr("cycleId", p.cycleID)
	w.kstr("changeId", p.changeID)
	w.kstr("provisioningAction", p.action)
	w.kint("durationInMilliseconds", p.durationMs)
	if w.key("sourceSystem") {
		w.beginObj()
		w.kstr("id", guidFrom(strKey("aad-system"), strKey(p.tenantID)))
		w.kstr("displayName", "Azure Active Directory")
		w.key("details")
		w.beginObj()
		w.endObj()
		w.endObj()
	}
	if w.key("targetSystem") {
		w.beginObj()
		w.kstr("id", guidFrom(strKey("target-system"), strKey(p.spID)))
		w.kstr("displayName", p.spName)
		w.key("details")
		w.beginObj()
		w.kstr("ApplicationId", p.appID)
		w.kstr("ServicePrincipalId", p.spID)
		w.kstr("ServicePrincipalDisplayName", p.spName)
		w.endObj()
		w.endObj()
	}
	if w.key("initiatedBy") {
		w.beginObj()
		w.kstr("id", "")
		w.kstr("displayName", "Azure AD Provisioning Service")
		w.kstr("initiatorType", "system")
		w.endObj()
	}
	if w.key("servicePrincipal") {
		w.beginObj()
		w.kstr("id", p.spID)
		w.kstr("displayName", p.spName)
		w.endObj()
	}
	if w.key("sourceIdentity") {
		w.beginObj()
		w.kstr("id", p.userID)
		w.kstr("displayName", p.userName)
		w.kstr("identityType", "User")
		w.key("details")
		w.beginObj()
		w.endObj()
		w.endObj()
	}
	if w.key("targetIdentity") {
		w.beginObj()
		if p.action == "create" && p.status != "success" {
			w.kstr("id", "")
		} else {
			w.kstr("id", p.targetID)
		}
		w.kstr("displayName", p.upn)
		w.kstr("identityType", "User")
		w.key("details")
		w.beginObj()
		w.endObj()
		w.endObj()
	}
	if w.key("provisioningStatusInfo") {
		w.beginObj()
		w.kstr("status", p.status)
		if p.status == "failure" {
			w.key("errorInformation")
			w.beginObj()
			w.kstr("errorCode", p.errCode)
			w.kstr("reason", p.errReason)
			w.knull("additionalDetails")
			w.kstr("errorCategory", "nonServiceFailure")
			w.knull("recommendedAction")
			w.endObj()
		} else {
			w.knull("errorInformation")
		}
		w.endObj()
	}
	if w.key("provisioningSteps") {
		w.beginArr()
		for _, s := range p.steps {
			w.beginObj()
			w.kstr("name", s.name)
			w.kstr("provisioningStepType", s.typ)
			w.kstr("status", s.status)
			w.kstr("description", s.desc)
			w.key("details")
			w.beginObj()
			if s.detail != "" {
				w.kstr("ReportableIdentifier", s.detail)
			}
			w.endObj()
			w.endObj()
		}
		w.endArr()
	}
	if w.key("modifiedProperties") {
		w.beginArr()
		for _, m := range p.props {
			w.beginObj()
			w.kstr("displayName", m.name)
			w.kstrOrNull("oldValue", m.old)
			w.kstrOrNull("newValue", m.new)
			w.endObj()
		}
		w.endArr()
	}
	w.endObj()
}

var provisioningProps = []string{"id", "activityDateTime", "tenantId", "jobId", "cycleId", "changeId",
	"provisioningAction", "durationInMilliseconds", "sourceSystem", "targetSystem", "initiatedBy",
	"servicePrincipal", "sourceIdentity", "targetIdentity", "provisioningStatusInfo", "provisioningSteps",
	"modifiedProperties"}

// provisioningSchema: $filter (eq, contains, gt, lt), "the filters are all case sensitive"
// (provisioningobjectsummary-list.md); activityDateTime takes gt and lt only.
func provisioningSchema() *schema {
	s := &schema{typeName: "microsoft.graph.provisioningObjectSummary", timeProp: "activityDateTime",
		caseSensitive: true, knownProps: provisioningProps,
		nested: map[string]string{"servicePrincipal": "microsoft.graph.provisioningServicePrincipal",
			"sourceIdentity": "microsoft.graph.provisionedIdentity", "targetIdentity": "microsoft.graph.provisionedIdentity",
			"sourceSystem": "microsoft.graph.provisioningSystem", "targetSystem": "microsoft.graph.provisioningSystem",
			"provisioningStatusInfo": "microsoft.graph.provisioningStatusInfo"}}
	s.addProp("activityDateTime", pTime, "gt", "lt")
	for _, p := range []string{"id", "jobId", "cycleId", "servicePrincipal/id", "sourceIdentity/id", "targetIdentity/id",
		"sourceSystem/displayName", "targetSystem/displayName"} {
		s.addProp(p, pString, "eq")
	}
	for _, p := range []string{"changeId", "servicePrincipal/displayName", "sourceIdentity/displayName", "targetIdentity/displayName"} {
		s.addProp(p, pString, "eq", "contains")
	}
	s.addEnum("provisioningAction", "provisioningAction", "eq")
	s.addEnum("provisioningStatusInfo/status", "provisioningResult", "eq")
	return s
}
