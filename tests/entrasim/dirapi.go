package entrasim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Directory object endpoints: list, get, members and delta over the object store, declared once per
// collection (dirEndpoints) with family, permissions, licence, page sizes, resource-unit cost and filters.

// dirEndpoint declares one collection endpoint.
type dirEndpoint struct {
	path         string // e.g. "users", "identity/conditionalAccess/policies"
	col          string
	typeName     string // e.g. microsoft.graph.user
	family       family
	perms        []permission
	licence      func(licences) *gerr
	defaultProps int // properties returned without $select (0: all)
	defaultTop   int
	maxTop       int
	cost         float64 // directory resource units of a list request (before $select/$top adjustments)
	delta        bool
	get          bool
	byUPN        bool // users: /users/{id | userPrincipalName}
	schema       *schema
	members      string // "members" routes: "groups" or "directoryRoles"
	odataType    bool   // items carry @odata.type in their properties
}

func dirSchema(typeName, resource string, add func(s *schema)) *schema {
	s := &schema{typeName: typeName, resourceName: resource, props: map[string]*propSpec{}}
	s.addProp("id", pString, "eq")
	add(s)
	return s
}

var (
	readUsers      = anyOf("User.Read.All", "Directory.Read.All", "User.ReadWrite.All")
	readGroups     = anyOf("Group.Read.All", "GroupMember.Read.All", "Directory.Read.All")
	readApps       = anyOf("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")
	readDevices    = anyOf("Device.Read.All", "Directory.Read.All")
	readRoles      = anyOf("RoleManagement.Read.Directory", "Directory.Read.All")
	readPolicies   = anyOf("Policy.Read.All", "Policy.Read.ConditionalAccess")
	readRiskyUsers = anyOf("IdentityRiskyUser.Read.All")
	readRiskEvents = anyOf("IdentityRiskEvent.Read.All")
	// Intune answers a missing permission with a nested JSON message (reference §4; text unverified).
	readManagedDevices = permission{roles: []string{"DeviceManagementManagedDevices.Read.All"}, missing: func() *gerr {
		return &gerr{status: 403, code: "UnknownError", message: `{"ErrorCode":"Forbidden","Message":"{\r\n  \"_version\": 3,\r\n  \"Message\": \"Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementManagedDevices.Read.All, DeviceManagementManagedDevices.ReadWrite.All\",\r\n  \"AppName\": \"Microsoft Graph\"\r\n}","Target":null,"Details":null,"InnerError":null,"InstanceAnnotations":[]}`}
	}}
)

// errNotLicensed is Identity Protection's answer without the licence (reference §4: "Your tenant is not
// licensed for this feature."; code unverified).
var errNotLicensed = &gerr{status: 403, code: "Forbidden", message: "Your tenant is not licensed for this feature."}

// errIntuneNotApplicable is Intune's answer without an Intune licence (reference §4, msgraph-beta-sdk-go #198).
var errIntuneNotApplicable = &gerr{status: 400, code: "BadRequest", message: "Request not applicable to target tenant."}

func needP1(l licences) *gerr {
	if !l.premium() {
		return errNonPremium // unverified for these endpoints
	}
	return nil
}

func needP2(l licences) *gerr {
	if !l.p2 {
		return errNotLicensed
	}
	return nil
}

func needIntune(l licences) *gerr {
	if !l.intune {
		return errIntuneNotApplicable
	}
	return nil
}

// Page sizes: directory objects default to 100 and allow up to 999 (user-list.md and others);
// userRegistrationDetails and the protection lists are assumed the same (unverified).
var dirEndpoints = []*dirEndpoint{
	{path: "users", col: colUsers, typeName: "microsoft.graph.user", family: familyDirectory, perms: []permission{readUsers},
		licence: anyLicence, defaultProps: defaultUserPropCount, cost: 2, delta: true, get: true, byUPN: true,
		schema: dirSchema("microsoft.graph.user", "User", func(s *schema) {
			for _, p := range []string{"userPrincipalName", "displayName", "mail", "givenName", "surname"} {
				s.addProp(p, pString, "eq", "startswith")
			}
			for _, p := range []string{"userType", "department", "jobTitle", "usageLocation", "creationType", "externalUserState"} {
				s.addProp(p, pString, "eq")
			}
			s.addProp("accountEnabled", pBool, "eq", "ne")
			s.addProp("createdDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
	{path: "groups", col: colGroups, typeName: "microsoft.graph.group", family: familyDirectory, perms: []permission{readGroups},
		licence: anyLicence, cost: 1, delta: true, get: true, members: "groups",
		schema: dirSchema("microsoft.graph.group", "Group", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("mail", pString, "eq", "startswith")
			s.addProp("mailNickname", pString, "eq", "startswith")
			s.addProp("mailEnabled", pBool, "eq")
			s.addProp("securityEnabled", pBool, "eq")
			s.colls = map[string]*collSpec{"grouptypes": {path: "groupTypes", scalar: true, typ: pString, ops: opset("eq")}}
		})},
	{path: "applications", col: colApplications, typeName: "microsoft.graph.application", family: familyDirectory, perms: []permission{readApps},
		licence: anyLicence, cost: 2, delta: true, get: true,
		schema: dirSchema("microsoft.graph.application", "Application", func(s *schema) {
			s.addProp("appId", pString, "eq")
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("publisherDomain", pString, "eq")
			s.addProp("signInAudience", pString, "eq")
		})},
	{path: "servicePrincipals", col: colSPs, typeName: "microsoft.graph.servicePrincipal", family: familyDirectory, perms: []permission{readApps},
		licence: anyLicence, cost: 1, delta: true, get: true,
		schema: dirSchema("microsoft.graph.servicePrincipal", "ServicePrincipal", func(s *schema) {
			s.addProp("appId", pString, "eq")
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("servicePrincipalType", pString, "eq")
			s.addProp("accountEnabled", pBool, "eq")
			s.colls = map[string]*collSpec{"servicePrincipalNames": {path: "servicePrincipalNames", scalar: true, typ: pString, ops: opset("eq")}}
			s.colls[s.key("servicePrincipalNames")] = s.colls["servicePrincipalNames"]
		})},
	{path: "devices", col: colDevices, typeName: "microsoft.graph.device", family: familyDirectory, perms: []permission{readDevices},
		licence: anyLicence, cost: 1, delta: true, get: true,
		schema: dirSchema("microsoft.graph.device", "Device", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("deviceId", pString, "eq")
			s.addProp("operatingSystem", pString, "eq")
			s.addProp("trustType", pString, "eq")
			s.addProp("accountEnabled", pBool, "eq")
		})},
	{path: "directoryRoles", col: colDirectoryRoles, typeName: "microsoft.graph.directoryRole", family: familyDirectory, perms: []permission{readRoles},
		licence: anyLicence, cost: 1, delta: true, get: true, members: "directoryRoles",
		schema: dirSchema("microsoft.graph.directoryRole", "DirectoryRole", func(s *schema) {
			s.addProp("roleTemplateId", pString, "eq")
			s.addProp("displayName", pString, "eq")
		})},
	{path: "roleManagement/directory/roleDefinitions", col: colRoleDefinitions, typeName: "microsoft.graph.unifiedRoleDefinition", family: familyDirectory,
		perms: []permission{readRoles}, licence: anyLicence, cost: 1, get: true,
		schema: dirSchema("microsoft.graph.unifiedRoleDefinition", "RoleDefinition", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("isBuiltIn", pBool, "eq")
			s.addProp("templateId", pString, "eq")
		})},
	{path: "roleManagement/directory/roleAssignments", col: colRoleAssignments, typeName: "microsoft.graph.unifiedRoleAssignment", family: familyDirectory,
		perms: []permission{readRoles}, licence: anyLicence, cost: 1, get: true,
		schema: dirSchema("microsoft.graph.unifiedRoleAssignment", "RoleAssignment", func(s *schema) {
			s.addProp("principalId", pString, "eq")
			s.addProp("roleDefinitionId", pString, "eq")
			s.addProp("directoryScopeId", pString, "eq")
		})},
	// Conditional Access: 1 request / s per tenant, no Retry-After (protection family); P1 (unverified).
	{path: "identity/conditionalAccess/policies", col: colCAPolicies, typeName: "microsoft.graph.conditionalAccessPolicy", family: familyProtection,
		perms: []permission{readPolicies}, licence: needP1, get: true,
		schema: dirSchema("microsoft.graph.conditionalAccessPolicy", "ConditionalAccessPolicy", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("state", pString, "eq")
		})},
	{path: "identity/conditionalAccess/namedLocations", col: colNamedLocations, typeName: "microsoft.graph.namedLocation", family: familyProtection,
		perms: []permission{readPolicies}, licence: needP1, get: true, odataType: true,
		schema: dirSchema("microsoft.graph.namedLocation", "NamedLocation", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
		})},
	// Identity Protection: riskyUsers need P2 (reference §1.3); risk detections P1 gives limited fields,
	// P2 full (served in full whenever P1 is present here).
	{path: "identityProtection/riskyUsers", col: colRiskyUsers, typeName: "microsoft.graph.riskyUser", family: familyProtection,
		perms: []permission{readRiskyUsers}, licence: needP2, get: true, odataType: true,
		schema: dirSchema("microsoft.graph.riskyUser", "RiskyUser", func(s *schema) {
			s.addProp("riskLevel", pString, "eq")
			s.addProp("riskState", pString, "eq")
			s.addProp("userPrincipalName", pString, "eq", "startswith")
			s.addProp("riskLastUpdatedDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
	{path: "identityProtection/riskDetections", col: colRiskDetections, typeName: "microsoft.graph.riskDetection", family: familyProtection,
		perms: []permission{readRiskEvents}, licence: needP1, get: true, odataType: true,
		schema: dirSchema("microsoft.graph.riskDetection", "RiskDetection", func(s *schema) {
			for _, p := range []string{"riskEventType", "riskLevel", "riskState", "userId", "userPrincipalName"} {
				s.addProp(p, pString, "eq")
			}
			for _, p := range []string{"detectedDateTime", "activityDateTime", "lastUpdatedDateTime"} {
				s.addProp(p, pTime, "eq", "ge", "le", "gt", "lt")
			}
		})},
	// Registration report: identity & access reports family, AuditLog.Read.All (reference §1.3).
	{path: "reports/authenticationMethods/userRegistrationDetails", col: colRegistration, typeName: "microsoft.graph.userRegistrationDetails",
		family: familyReports, perms: []permission{permAuditLog}, licence: needP1, get: true,
		schema: dirSchema("microsoft.graph.userRegistrationDetails", "UserRegistrationDetails", func(s *schema) {
			s.addProp("userPrincipalName", pString, "eq", "startswith")
			s.addProp("userType", pString, "eq")
			for _, p := range []string{"isAdmin", "isMfaRegistered", "isMfaCapable", "isSsprRegistered", "isPasswordlessCapable"} {
				s.addProp(p, pBool, "eq")
			}
			s.colls = map[string]*collSpec{"methodsregistered": {path: "methodsRegistered", scalar: true, typ: pString, ops: opset("eq")}}
		})},
	// Intune: 2,000 requests / 20 s per app per tenant; Intune licence.
	{path: "deviceManagement/managedDevices", col: colManagedDevices, typeName: "microsoft.graph.managedDevice", family: familyIntune,
		perms: []permission{readManagedDevices}, licence: needIntune, get: true, odataType: true,
		schema: dirSchema("microsoft.graph.managedDevice", "ManagedDevice", func(s *schema) {
			for _, p := range []string{"operatingSystem", "complianceState", "userId", "deviceName", "azureADDeviceId"} {
				s.addProp(p, pString, "eq")
			}
		})},
}

func (e *dirEndpoint) top() (def, max int) {
	def, max = e.defaultTop, e.maxTop
	if def == 0 {
		def = 100
	}
	if max == 0 {
		max = 999
	}
	return def, max
}

func (t *Tenant) buildDirRoutes() {
	for _, ep := range dirEndpoints {
		ep := ep
		for _, version := range []string{"v1.0", "beta"} {
			name := version + "/" + ep.path
			segs := splitPath(ep.path)
			cost := func(r *http.Request) float64 { return t.dirCost(ep.cost, r) }
			add := func(extra []string, suffix string, serve func(rc *reqCtx), c float64) {
				cf := cost
				if c > 0 {
					cf = func(r *http.Request) float64 { return t.dirCost(c, r) }
				}
				t.routes = append(t.routes, &route{method: http.MethodGet, version: version, segs: append(slices.Clone(segs), extra...),
					family: ep.family, name: name + suffix, perms: ep.perms, cost: cf, serve: serve})
			}
			if ep.delta {
				add([]string{"delta"}, "/delta", func(rc *reqCtx) { t.serveDelta(rc, ep) }, 1)
			}
			add(nil, "", func(rc *reqCtx) { t.serveDirList(rc, ep) }, 0)
			if ep.members != "" {
				add([]string{"{}", "members"}, "/{id}/members", func(rc *reqCtx) { t.serveMembers(rc, ep, false) }, 3)
				if ep.members == "groups" {
					add([]string{"{}", "transitiveMembers"}, "/{id}/transitiveMembers", func(rc *reqCtx) { t.serveMembers(rc, ep, true) }, 5)
				}
			}
			if ep.path == "servicePrincipals" {
				add([]string{"{}", "appRoleAssignments"}, "/{id}/appRoleAssignments", func(rc *reqCtx) { t.serveAppRoleAssignments(rc) }, 1)
			}
			if ep.get {
				add([]string{"{}"}, "/{id}", func(rc *reqCtx) { t.serveDirGet(rc, ep) }, 1)
			}
		}
	}
}

// dirCost is the resource-unit cost of a directory read (reference §3).
func (t *Tenant) dirCost(base float64, r *http.Request) float64 {
	q := r.URL.Query()
	has := func(k string) bool { return q.Get("$"+k) != "" || q.Get(k) != "" }
	top, _ := strconv.Atoi(q.Get("$top"))
	return directoryCost(base, has("select"), has("expand"), top)
}

// Sealed tokens: hex of fields and an HMAC under the tenant's key, for list skip tokens and delta tokens.
func (t *Tenant) seal(kind byte, fields ...string) string {
	b := []byte{kind}
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	m := hmac.New(sha256.New, t.skipKey)
	m.Write(b)
	return hex.EncodeToString(append(b, m.Sum(nil)[:12]...))
}

func (t *Tenant) unseal(s string, kind byte, n int) ([]string, bool) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) < 13 || raw[0] != kind {
		return nil, false
	}
	body, mac := raw[:len(raw)-12], raw[len(raw)-12:]
	m := hmac.New(sha256.New, t.skipKey)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:12], mac) {
		return nil, false
	}
	var out []string
	rest := body[1:]
	for len(rest) > 0 {
		l, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < l {
			return nil, false
		}
		out = append(out, string(rest[k:k+int(l)]))
		rest = rest[k+int(l):]
	}
	return out, len(out) == n
}

const (
	tokList       = 2
	tokDeltaSkip  = 3
	tokDelta      = 4
	tokMemberList = 5
)

// dirQuery is a validated directory list request.
type dirQuery struct {
	filter    cnode
	filterRaw string
	sel       []string // canonical property names, nil: default
	selectRaw string
	top       int
	topRaw    string
	after     string
}

var errNotFoundFmt = "Resource '%s' does not exist or one of its queried reference-property objects are not present."

func notFound(id string) *gerr {
	return &gerr{status: 404, code: "Request_ResourceNotFound", message: fmt.Sprintf(errNotFoundFmt, id)}
}

// knownProps lists a collection's property names (from its resources; caller holds the store lock).
func (t *Tenant) knownProps(col string) []string {
	c := t.store.cols[col]
	if len(c.ids) == 0 {
		return nil
	}
	r := c.byID[c.ids[0]] // every resource of a collection has the same properties
	names := make([]string, 0, len(r.props))
	for _, p := range r.props {
		names = append(names, p.k)
	}
	return names
}

func (t *Tenant) parseSelect(ep *dirEndpoint, raw string, extra ...string) ([]string, *gerr) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	known := append(t.knownProps(ep.col), extra...)
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(known, func(k string) bool { return strings.EqualFold(k, p) })
		if i < 0 {
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Could not find a property named '%s' on type '%s'.", p, ep.typeName)}
		}
		if !slices.Contains(out, known[i]) {
			out = append(out, known[i])
		}
	}
	return out, nil
}

func (t *Tenant) parseDirQuery(ep *dirEndpoint, o options, allowed ...string) (*dirQuery, *gerr) {
	q := &dirQuery{}
	for name := range o.vals {
		if !slices.Contains(append([]string{"filter", "select", "top", "skiptoken"}, allowed...), name) {
			// Unverified wording.
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Query option '$%s' is not supported for this request.", name)}
		}
	}
	def, max := ep.top()
	q.top = def
	if v, ok := o.get("top"); ok {
		q.topRaw = v
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > max {
			// "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive." (directory objects)
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, max)}
		}
		q.top = n
	}
	if v, ok := o.get("filter"); ok && strings.TrimSpace(v) != "" {
		q.filterRaw = v
		n, err := parseFilter(v)
		if err == nil {
			q.filter, err = ep.schema.compile(n)
		}
		if err != nil {
			g := filterError(err)
			if g.code == "BadRequest" {
				g.code = "Request_BadRequest"
			}
			return nil, g
		}
	}
	if v, ok := o.get("select"); ok {
		q.selectRaw = v
		var g *gerr
		if q.sel, g = t.parseSelect(ep, v); g != nil {
			return nil, g
		}
	}
	return q, nil
}

func (q *dirQuery) hash(name string) string {
	return strconv.FormatUint(hashOf(strKey(name), strKey(q.filterRaw), strKey(q.selectRaw), uint64(q.top)), 16)
}

// writeProps writes a resource's properties into the open object: the selected ones (sel; @odata.type is
// always kept), or the first defaults, or all; with withID the id is always included (delta).
func writeProps(w *jw, r *resource, sel []string, defaults int, withID bool) {
	switch {
	case sel != nil:
		if withID && !slices.Contains(sel, "id") {
			w.kstr("id", r.id)
		}
		for _, p := range r.props {
			if slices.Contains(sel, p.k) || p.k == "@odata.type" {
				w.key(p.k)
				writeValue(w, p.v)
			}
		}
	case defaults > 0:
		for _, p := range r.props[:min(defaults, len(r.props))] {
			w.key(p.k)
			writeValue(w, p.v)
		}
	default:
		for _, p := range r.props {
			w.key(p.k)
			writeValue(w, p.v)
		}
	}
}

// dirPage writes a page of resources.
type dirPage struct {
	context string
	next    string
	delta   string
	items   func(w *jw, emit func())
}

// render builds a page body (callers hold the store lock, so it is rendered before any latency or I/O).
func (p dirPage) render() ([]byte, int) {
	var head jw
	head.beginObj()
	head.kstr("@odata.context", p.context)
	if p.next != "" {
		head.kstr("@odata.nextLink", p.next)
	}
	head.key("value")
	out := append(head.b, '[')
	var w jw
	n := 0
	if p.items != nil {
		p.items(&w, func() {
			if n > 0 {
				out = append(out, ',')
			}
			w.endObj()
			out = append(out, w.b...)
			w.reset()
			n++
		})
	}
	out = append(out, ']')
	if p.delta != "" {
		out = appendJSONString(append(out, `,"@odata.deltaLink":`...), p.delta)
	}
	return append(out, '}'), n
}

// sendPage sends a rendered page after the page latency, applying page faults (truncation, invalid JSON).
func (t *Tenant) sendPage(rc *reqCtx, body []byte, n int) {
	if !t.pageDelay(rc.r.Context()) {
		return
	}
	switch rc.fault {
	case FaultTruncate:
		body = body[:len(body)/2]
	case FaultInvalidJSON:
		body = append(body[:len(body)-2:len(body)-2], ",]}"...)
		if n == 0 {
			body = append(body[:0:0], "{\"value\":[,]}"...)
		}
	}
	h := rc.w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	rc.w.WriteHeader(http.StatusOK)
	_, _ = rc.w.Write(body)
	rc.records = n
	if rc.fault == "" {
		t.counters.update(rc.route.family, rc.route.name, func(c *EndpointCounters) {
			c.Pages++
			c.Records += int64(n)
		})
	}
}

func (t *Tenant) contextURL(rc *reqCtx, path string, sel []string) string {
	u := rc.base + "/" + strings.Split(strings.TrimPrefix(rc.r.URL.Path, "/"), "/")[0] + "/$metadata#" + path
	if len(sel) > 0 {
		u += "(" + strings.Join(sel, ",") + ")"
	}
	return u
}

// link builds a link on this server to path with the given options (in order).
func link(base, path string, kvs ...string) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString(path)
	sep := byte('?')
	for i := 0; i+1 < len(kvs); i += 2 {
		if kvs[i+1] == "" {
			continue
		}
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(kvs[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(kvs[i+1]), "+", "%20"))
	}
	return b.String()
}

func (t *Tenant) dirPrecheck(rc *reqCtx, ep *dirEndpoint) (options, bool) {
	if g := ep.licence(t.cfg.lic); g != nil {
		t.writeError(rc, g)
		return options{}, false
	}
	o, g := parseOptions(rc.r.URL.RawQuery)
	if g != nil {
		t.writeError(rc, g)
		return options{}, false
	}
	if f, ok := t.faults.pick(rc.r.URL.Path, nil, o.vals["skiptoken"] != ""); ok {
		rc.fault = f.Kind
		t.counters.update(rc.route.family, rc.route.name, func(c *EndpointCounters) { c.Faults++ })
		switch f.Kind {
		case FaultTruncate, FaultInvalidJSON:
		case FaultDelay:
			if !hold(rc.r.Context(), f.Delay) {
				return options{}, false
			}
		default:
			t.applyFault(rc, f)
			return options{}, false
		}
	}
	return o, true
}

func (t *Tenant) serveDirList(rc *reqCtx, ep *dirEndpoint) {
	o, ok := t.dirPrecheck(rc, ep)
	if !ok {
		return
	}
	t.syncChurn()
	body, n, g := t.renderDirList(rc, ep, o)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	t.sendPage(rc, body, n)
}

func (t *Tenant) renderDirList(rc *reqCtx, ep *dirEndpoint, o options) ([]byte, int, *gerr) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	q, g := t.parseDirQuery(ep, o)
	if g != nil {
		return nil, 0, g
	}
	if tok, ok := o.get("skiptoken"); ok {
		f, ok := t.unseal(tok, tokList, 3)
		if !ok || f[0] != ep.path || f[1] != q.hash(ep.path) {
			return nil, 0, errDirSkipToken
		}
		q.after = f[2]
	}
	c := t.store.cols[ep.col]
	var page []*resource
	more := false
	ev := evaluator{}
	c.each(q.after, func(r *resource) bool {
		if !r.live() || q.filter != nil && !ev.eval(q.filter, resourceView{r}, nil, nil) {
			return true
		}
		if len(page) == q.top {
			more = true
			return false
		}
		page = append(page, r)
		return true
	})
	p := dirPage{context: t.contextURL(rc, ep.path, q.sel)}
	if more {
		p.next = link(rc.base, rc.r.URL.Path, "$filter", q.filterRaw, "$select", q.selectRaw, "$top", q.topRaw,
			"$skiptoken", t.seal(tokList, ep.path, q.hash(ep.path), page[len(page)-1].id))
	}
	p.items = func(w *jw, emit func()) {
		for _, r := range page {
			w.beginObj()
			writeProps(w, r, q.sel, ep.defaultProps, false)
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}

// errDirSkipToken answers a tampered or foreign skip token on directory lists (wording as Graph's users
// endpoint answers it, microsoft-graph-docs #8612, with the directory error code; status unverified).
var errDirSkipToken = &gerr{status: 400, code: "Request_BadRequest", message: "Invalid Skip Token"}

// resolveID finds a resource by id (users: or userPrincipalName). Caller holds the store lock.
func (t *Tenant) resolveID(ep *dirEndpoint, id string) *resource {
	c := t.store.cols[ep.col]
	if r := c.get(id); r != nil && r.live() {
		return r
	}
	if ep.byUPN {
		var found *resource
		c.each("", func(r *resource) bool {
			if r.live() && strings.EqualFold(r.props.str("userPrincipalName"), id) {
				found = r
				return false
			}
			return true
		})
		return found
	}
	return nil
}

func (t *Tenant) serveDirGet(rc *reqCtx, ep *dirEndpoint) {
	o, ok := t.dirPrecheck(rc, ep)
	if !ok {
		return
	}
	t.syncChurn()
	id, _ := url.PathUnescape(rc.params[0])
	body, g := func() ([]byte, *gerr) {
		t.store.mu.RLock()
		defer t.store.mu.RUnlock()
		r := t.resolveID(ep, id)
		if r == nil {
			return nil, notFound(id)
		}
		sel, g := t.parseSelect(ep, o.vals["select"])
		if g != nil {
			return nil, g
		}
		var w jw
		w.beginObj()
		w.kstr("@odata.context", t.contextURL(rc, ep.path, sel)+"/$entity")
		writeProps(&w, r, sel, ep.defaultProps, false)
		w.endObj()
		return w.b, nil
	}()
	if g != nil {
		t.writeError(rc, g)
		return
	}
	if !t.pageDelay(rc.r.Context()) {
		return
	}
	rc.w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	rc.w.WriteHeader(http.StatusOK)
	_, _ = rc.w.Write(body)
	rc.records = 1
}

// memberEntity returns a member's collection and entity type (caller holds the store lock).
func (t *Tenant) memberResource(id string) (*resource, string) {
	for _, c := range []string{colUsers, colGroups, colSPs, colDevices} {
		if r := t.store.cols[c].get(id); r != nil {
			return r, t.store.cols[c].entity
		}
	}
	return nil, ""
}

// transitive lists the users, service principals and devices reachable through nested groups.
func (t *Tenant) transitive(g *resource, seen map[string]bool, out *[]string) {
	for _, m := range g.members {
		if seen[m] {
			continue
		}
		seen[m] = true
		*out = append(*out, m)
		if sub := t.store.cols[colGroups].get(m); sub != nil {
			t.transitive(sub, seen, out)
		}
	}
}

func (t *Tenant) serveMembers(rc *reqCtx, ep *dirEndpoint, transitive bool) {
	o, ok := t.dirPrecheck(rc, ep)
	if !ok {
		return
	}
	t.syncChurn()
	body, n, gerr := t.renderMembers(rc, ep, o, transitive)
	if gerr != nil {
		t.writeError(rc, gerr)
		return
	}
	t.sendPage(rc, body, n)
}

var membersEndpoint = &dirEndpoint{schema: dirSchema("microsoft.graph.directoryObject", "DirectoryObject", func(*schema) {}),
	col: colUsers, typeName: "microsoft.graph.directoryObject"}

func (t *Tenant) renderMembers(rc *reqCtx, ep *dirEndpoint, o options, transitive bool) ([]byte, int, *gerr) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	id, _ := url.PathUnescape(rc.params[0])
	g := t.resolveID(ep, id)
	if g == nil {
		return nil, 0, notFound(id)
	}
	q, gerr := t.parseDirQuery(membersEndpoint, o)
	if gerr != nil {
		return nil, 0, gerr
	}
	ids := slices.Clone(g.members)
	if transitive {
		ids = nil
		t.transitive(g, map[string]bool{}, &ids)
	}
	slices.Sort(ids)
	if tok, ok := o.get("skiptoken"); ok {
		f, ok := t.unseal(tok, tokMemberList, 3)
		if !ok || f[0] != g.id || f[1] != q.hash(rc.route.name) {
			return nil, 0, errDirSkipToken
		}
		i, _ := slices.BinarySearch(ids, f[2])
		for i < len(ids) && ids[i] <= f[2] {
			i++
		}
		ids = ids[i:]
	}
	var page []string
	for _, m := range ids {
		if r, _ := t.memberResource(m); r != nil && r.live() {
			page = append(page, m)
		}
	}
	more := len(page) > q.top
	if more {
		page = page[:q.top]
	}
	p := dirPage{context: t.contextURL(rc, "directoryObjects", q.sel)}
	if more {
		p.next = link(rc.base, rc.r.URL.Path, "$select", q.selectRaw, "$top", q.topRaw, "$skiptoken",
			t.seal(tokMemberList, g.id, q.hash(rc.route.name), page[len(page)-1]))
	}
	p.items = func(w *jw, emit func()) {
		for _, m := range page {
			r, entity := t.memberResource(m)
			w.beginObj()
			w.kstr("@odata.type", "#microsoft.graph."+entity)
			defaults := 0
			if entity == "user" {
				defaults = defaultUserPropCount
			}
			writeProps(w, r, q.sel, defaults, true)
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}

func (t *Tenant) serveAppRoleAssignments(rc *reqCtx) {
	body, n, g := t.renderAppRoleAssignments(rc)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	t.sendPage(rc, body, n)
}

func (t *Tenant) renderAppRoleAssignments(rc *reqCtx) ([]byte, int, *gerr) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	id, _ := url.PathUnescape(rc.params[0])
	sp := t.store.cols[colSPs].get(id)
	if sp == nil || !sp.live() {
		return nil, 0, notFound(id)
	}
	var graphSP *resource
	t.store.cols[colSPs].each("", func(r *resource) bool {
		if r.props.str("appId") == GraphAppID {
			graphSP = r
			return false
		}
		return true
	})
	var roles []string
	if app := t.appResourceByClientID(sp.props.str("appId")); app != nil {
		roles, _ = app.hidden["roles"].([]string)
	}
	created, _ := sp.props.get("createdDateTime")
	p := dirPage{context: t.contextURL(rc, "servicePrincipals('"+sp.id+"')/appRoleAssignments", nil)}
	p.items = func(w *jw, emit func()) {
		for _, role := range roles {
			w.beginObj()
			w.kstr("id", strings.ReplaceAll(guidFrom(strKey(sp.id), strKey(role)), "-", ""))
			w.knull("deletedDateTime")
			w.kstr("appRoleId", appRoleIDs[role])
			if ts, ok := created.(time.Time); ok {
				w.ktime("createdDateTime", ts.UnixNano())
			} else {
				w.ktime("createdDateTime", t.cfg.start.Add(-24*time.Hour).UnixNano())
			}
			w.kstr("principalDisplayName", sp.props.str("displayName"))
			w.kstr("principalId", sp.id)
			w.kstr("principalType", "ServicePrincipal")
			w.kstr("resourceDisplayName", "Microsoft Graph")
			w.kstr("resourceId", graphSP.id)
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}
