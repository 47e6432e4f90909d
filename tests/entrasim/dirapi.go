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
	path       string // e.g. "users", "identity/conditionalAccess/policies"
	col        string
	typeName   string // e.g. microsoft.graph.user
	family     family
	perms      []permission
	licence    func(licences) *gerr
	def        *entityDef // the entity type's properties (nil: the objects' own properties)
	defaultTop int
	maxTop     int
	cost       float64 // directory resource units of a list request (before $select/$top adjustments)
	delta      bool
	get        bool
	byUPN      bool // users: /users/{id | userPrincipalName}
	schema     *schema
	members    bool     // has direct members (members route, members@delta)
	expand     []string // navigation properties $expand accepts
	odataType  bool     // items carry @odata.type in their properties
	noTop      bool     // $top is rejected (the registration report takes only $filter and $orderby)
	betaOnly   bool     // served under /beta only (Agent ID)
}

func dirSchema(typeName, resource string, add func(s *schema)) *schema {
	s := &schema{typeName: typeName, resourceName: resource, props: map[string]*propSpec{}}
	s.addProp("id", pString, "eq")
	add(s)
	return s
}

var (
	readUsers  = anyOf("User.Read.All", "Directory.Read.All", "User.ReadWrite.All")
	readGroups = anyOf("Group.Read.All", "GroupMember.Read.All", "Directory.Read.All")
	// Application.ReadWrite.OwnedBy lets an app list all applications and service principals (reference §2).
	readApps       = anyOf("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Application.ReadWrite.OwnedBy")
	readDevices    = anyOf("Device.Read.All", "Directory.Read.All")
	readRoles      = anyOf("RoleManagement.Read.Directory", "Directory.Read.All")
	readAdminUnits = anyOf("AdministrativeUnit.Read.All", "Directory.Read.All")
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
		licence: anyLicence, def: userDef, cost: 2, delta: true, get: true, byUPN: true,
		schema: dirSchema("microsoft.graph.user", "User", func(s *schema) {
			for _, p := range []string{"userPrincipalName", "displayName", "mail", "givenName", "surname"} {
				s.addProp(p, pString, "eq", "startswith")
			}
			for _, p := range []string{"userType", "department", "jobTitle", "usageLocation", "creationType", "externalUserState", "employeeId", "onPremisesImmutableId"} {
				s.addProp(p, pString, "eq")
			}
			s.addProp("accountEnabled", pBool, "eq", "ne")
			s.addProp("onPremisesSyncEnabled", pBool, "eq", "ne")
			s.addProp("createdDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
	{path: "groups", col: colGroups, typeName: "microsoft.graph.group", family: familyDirectory, perms: []permission{readGroups},
		licence: anyLicence, def: groupDef, cost: 1, delta: true, get: true, members: true, expand: []string{"members"},
		schema: dirSchema("microsoft.graph.group", "Group", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("mail", pString, "eq", "startswith")
			s.addProp("mailNickname", pString, "eq", "startswith")
			s.addProp("mailEnabled", pBool, "eq")
			s.addProp("securityEnabled", pBool, "eq")
			s.addProp("isAssignableToRole", pBool, "eq")
			s.addProp("onPremisesSyncEnabled", pBool, "eq", "ne")
			s.colls = map[string]*collSpec{"grouptypes": {path: "groupTypes", scalar: true, typ: pString, ops: opset("eq")}}
		})},
	{path: "applications", col: colApplications, typeName: "microsoft.graph.application", family: familyDirectory, perms: []permission{readApps},
		licence: anyLicence, def: applicationDef, cost: 2, delta: true, get: true,
		schema: dirSchema("microsoft.graph.application", "Application", func(s *schema) {
			s.addProp("appId", pString, "eq")
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("publisherDomain", pString, "eq")
			s.addProp("signInAudience", pString, "eq")
		})},
	{path: "servicePrincipals", col: colSPs, typeName: "microsoft.graph.servicePrincipal", family: familyDirectory, perms: []permission{readApps},
		licence: anyLicence, def: servicePrincipalDef, cost: 1, delta: true, get: true,
		schema: dirSchema("microsoft.graph.servicePrincipal", "ServicePrincipal", func(s *schema) {
			s.addProp("appId", pString, "eq")
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("servicePrincipalType", pString, "eq")
			s.addProp("preferredSingleSignOnMode", pString, "eq")
			s.addProp("accountEnabled", pBool, "eq")
			s.addProp("appRoleAssignmentRequired", pBool, "eq", "ne")
			s.colls = map[string]*collSpec{"servicePrincipalNames": {path: "servicePrincipalNames", scalar: true, typ: pString, ops: opset("eq")}}
			s.colls[s.key("servicePrincipalNames")] = s.colls["servicePrincipalNames"]
		})},
	{path: "devices", col: colDevices, typeName: "microsoft.graph.device", family: familyDirectory, perms: []permission{readDevices},
		licence: anyLicence, def: deviceDef, cost: 1, delta: true, get: true,
		schema: dirSchema("microsoft.graph.device", "Device", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("deviceId", pString, "eq")
			s.addProp("operatingSystem", pString, "eq")
			s.addProp("trustType", pString, "eq")
			s.addProp("accountEnabled", pBool, "eq")
			s.addProp("isCompliant", pBool, "eq", "ne")
			s.addProp("isManaged", pBool, "eq", "ne")
		})},
	{path: "directoryRoles", col: colDirectoryRoles, typeName: "microsoft.graph.directoryRole", family: familyDirectory, perms: []permission{readRoles},
		licence: anyLicence, def: directoryRoleDef, cost: 1, delta: true, get: true, members: true, expand: []string{"members"},
		schema: dirSchema("microsoft.graph.directoryRole", "DirectoryRole", func(s *schema) {
			s.addProp("roleTemplateId", pString, "eq")
			s.addProp("displayName", pString, "eq")
		})},
	{path: "administrativeUnits", col: colAdminUnits, typeName: "microsoft.graph.administrativeUnit", family: familyDirectory, perms: []permission{readAdminUnits},
		licence: anyLicence, def: adminUnitDef, cost: 1, delta: true, get: true, members: true, expand: []string{"members"},
		schema: dirSchema("microsoft.graph.administrativeUnit", "AdministrativeUnit", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("membershipType", pString, "eq")
		})},
	{path: "roleManagement/directory/roleDefinitions", col: colRoleDefinitions, typeName: "microsoft.graph.unifiedRoleDefinition", family: familyDirectory,
		perms: []permission{readRoles}, licence: anyLicence, def: roleDefinitionDef, cost: 1, get: true,
		schema: dirSchema("microsoft.graph.unifiedRoleDefinition", "RoleDefinition", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("isBuiltIn", pBool, "eq")
			s.addProp("templateId", pString, "eq")
		})},
	{path: "roleManagement/directory/roleAssignments", col: colRoleAssignments, typeName: "microsoft.graph.unifiedRoleAssignment", family: familyDirectory,
		perms: []permission{readRoles}, licence: anyLicence, def: roleAssignmentDef, cost: 1, get: true, expand: []string{"principal", "roleDefinition"},
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
	// Service principal risk: Workload Identities Premium; $filter and $select (riskyserviceprincipal-list.md,
	// identityprotectionroot-list-serviceprincipalriskdetections.md).
	{path: "identityProtection/riskyServicePrincipals", col: colRiskySPs, typeName: "microsoft.graph.riskyServicePrincipal", family: familyProtection,
		perms: []permission{anyOf("IdentityRiskyServicePrincipal.Read.All")}, licence: needWorkloadID, get: true,
		schema: dirSchema("microsoft.graph.riskyServicePrincipal", "RiskyServicePrincipal", func(s *schema) {
			s.addProp("riskLevel", pString, "eq")
			s.addProp("riskState", pString, "eq")
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("appId", pString, "eq")
			s.addProp("riskLastUpdatedDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
	{path: "identityProtection/servicePrincipalRiskDetections", col: colSPRiskDetections, typeName: "microsoft.graph.servicePrincipalRiskDetection",
		family: familyProtection, perms: []permission{readRiskEvents}, licence: needWorkloadID, get: true,
		schema: dirSchema("microsoft.graph.servicePrincipalRiskDetection", "ServicePrincipalRiskDetection", func(s *schema) {
			for _, p := range []string{"riskEventType", "riskLevel", "riskState", "servicePrincipalId", "appId"} {
				s.addProp(p, pString, "eq")
			}
			for _, p := range []string{"detectedDateTime", "activityDateTime", "lastUpdatedDateTime"} {
				s.addProp(p, pTime, "eq", "ge", "le", "gt", "lt")
			}
		})},
	// Registration report: identity & access reports family, AuditLog.Read.All (reference §1.3).
	{path: "reports/authenticationMethods/userRegistrationDetails", col: colRegistration, typeName: "microsoft.graph.userRegistrationDetails",
		family: familyReports, perms: []permission{permAuditLog}, licence: needP1, get: true, noTop: true,
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
	{path: "deviceManagement/deviceConfigurations", col: colDeviceConfigs, typeName: "microsoft.graph.deviceConfiguration", family: familyIntune,
		perms: []permission{readDeviceConfigs}, licence: needIntune, get: true, odataType: true,
		schema: dirSchema("microsoft.graph.deviceConfiguration", "DeviceConfiguration", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("lastModifiedDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
	{path: "deviceAppManagement/mobileApps", col: colMobileApps, typeName: "microsoft.graph.mobileApp", family: familyIntune,
		perms: []permission{readMobileApps}, licence: needIntune, get: true, odataType: true,
		schema: dirSchema("microsoft.graph.mobileApp", "MobileApp", func(s *schema) {
			s.addProp("displayName", pString, "eq", "startswith")
			s.addProp("publisher", pString, "eq")
			s.addProp("isFeatured", pBool, "eq")
			s.addProp("lastModifiedDateTime", pTime, "eq", "ge", "le", "gt", "lt")
		})},
}

// dirEndpointByCol finds a collection's endpoint.
func dirEndpointByCol(col string) *dirEndpoint {
	for _, ep := range dirEndpoints {
		if ep.col == col {
			return ep
		}
	}
	return nil
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
		if t.cfg.unavailable(ep.path) {
			continue // Graph does not know the path: the router answers 400 for its segment
		}
		paths := []string{ep.path}
		if ep.col == colAdminUnits {
			// Administrative units are served at /administrativeUnits (administrativeunit-delta.md) and at
			// /directory/administrativeUnits, where msgraph-sdk-go addresses them.
			paths = append(paths, "directory/"+ep.path)
		}
		for _, version := range []string{"v1.0", "beta"} {
			if ep.betaOnly && version != "beta" {
				continue
			}
			for _, path := range paths {
				t.buildDirEndpointRoutes(ep, version, path)
			}
		}
	}
}

// buildDirEndpointRoutes adds one endpoint's routes under a version and path.
func (t *Tenant) buildDirEndpointRoutes(ep *dirEndpoint, version, path string) {
	name := version + "/" + path
	segs := splitPath(path)
	add := func(extra []string, suffix string, serve func(rc *reqCtx), c float64) *route {
		if c == 0 {
			c = ep.cost
		}
		rt := &route{method: http.MethodGet, version: version, segs: append(slices.Clone(segs), extra...),
			family: ep.family, name: name + suffix, perms: ep.perms, cost: func(r *http.Request) float64 { return t.dirCost(c, r) },
			serve: serve}
		t.routes = append(t.routes, rt)
		return rt
	}
	if ep.delta {
		add([]string{"delta"}, "/delta", func(rc *reqCtx) { t.serveDelta(rc, ep) }, 1)
	}
	list := add(nil, "", func(rc *reqCtx) { t.serveDirList(rc, ep) }, 0)
	if ep.col == colUsers {
		list.classify = func(r *http.Request) (string, []family) {
			if selectsSignInActivity(r) {
				return name + "(signInActivity)", []family{familySignInActivity, familyReports, familyDirectory}
			}
			return name, []family{familyDirectory}
		}
	}
	if ep.members {
		add([]string{"{}", "members"}, "/{id}/members", func(rc *reqCtx) { t.serveMembers(rc, ep, false) }, 3)
		if ep.col == colGroups {
			add([]string{"{}", "transitiveMembers"}, "/{id}/transitiveMembers", func(rc *reqCtx) { t.serveMembers(rc, ep, true) }, 5)
		}
	}
	if ep.path == "servicePrincipals" {
		add([]string{"{}", "appRoleAssignments"}, "/{id}/appRoleAssignments", func(rc *reqCtx) { t.serveAppRoleAssignments(rc) }, 2)
	}
	if ep.get {
		get := add([]string{"{}"}, "/{id}", func(rc *reqCtx) { t.serveDirGet(rc, ep) }, 1)
		if ep.col == colUsers {
			get.classify = func(r *http.Request) (string, []family) {
				if selectsSignInActivity(r) {
					return name + "/{id}(signInActivity)", []family{familySignInActivity, familyReports, familyDirectory}
				}
				return name + "/{id}", []family{familyDirectory}
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
	tokDeltaSkip  = 6
	tokDelta      = 7
	tokMemberList = 5
)

// dirQuery is a validated directory list request.
type dirQuery struct {
	filter    cnode
	filterRaw string
	sel       []string // canonical property names, nil: default
	selectRaw string
	expand    string
	top       int
	topRaw    string
	after     string
}

var errNotFoundFmt = "Resource '%s' does not exist or one of its queried reference-property objects are not present."

func notFound(id string) *gerr {
	return &gerr{status: 404, code: "Request_ResourceNotFound", message: fmt.Sprintf(errNotFoundFmt, id)}
}

// selectable lists the properties $select accepts on a collection: its entity type's schema properties, or
// for collections without one (policies, risk state, reports) every property any of its objects has — so a
// polymorphic collection (named locations) accepts each subtype's properties (caller holds the store lock).
func (t *Tenant) selectable(ep *dirEndpoint) []string {
	if ep.def != nil {
		return ep.def.props
	}
	c := t.store.cols[ep.col]
	var names []string
	add := func(p obj) {
		for _, kv := range p {
			if !slices.Contains(names, kv.k) {
				names = append(names, kv.k)
			}
		}
	}
	if c.gen != nil {
		// Generated objects all have the same properties.
		if len(c.ids) > 0 {
			add(c.byID[c.ids[0]].props())
		}
		return names
	}
	for _, id := range c.ids {
		add(c.byID[id].props())
	}
	return names
}

func (t *Tenant) parseSelect(ep *dirEndpoint, raw string, extra ...string) ([]string, *gerr) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	known := append(slices.Clone(t.selectable(ep)), extra...)
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

// selectsSignInActivity reports whether a request's $select names signInActivity.
func selectsSignInActivity(r *http.Request) bool {
	for k, vs := range r.URL.Query() {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "select") {
			for _, v := range vs {
				for _, p := range strings.Split(v, ",") {
					if strings.EqualFold(strings.TrimSpace(p), "signInActivity") {
						return true
					}
				}
			}
		}
	}
	return false
}

// maxSignInActivityTop is the page size limit when signInActivity is selected (user-list.md: "When
// signInActivity is selected or filtered on, the maximum page size is 500", docs-contrib PR #9591).
const maxSignInActivityTop = 500

func (t *Tenant) parseDirQuery(ep *dirEndpoint, o options, allowed ...string) (*dirQuery, *gerr) {
	q := &dirQuery{}
	for name := range o.vals {
		if name == "expand" && len(ep.expand) > 0 {
			continue
		}
		if !slices.Contains(append([]string{"filter", "select", "top", "skiptoken"}, allowed...), name) || name == "top" && ep.noTop {
			// Unverified wording.
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Query option '$%s' is not supported for this request.", name)}
		}
	}
	if v, ok := o.get("expand"); ok {
		i := slices.IndexFunc(ep.expand, func(e string) bool { return strings.EqualFold(e, strings.TrimSpace(v)) })
		if i < 0 {
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Could not find a property named '%s' on type '%s'.", strings.TrimSpace(v), ep.typeName)}
		}
		q.expand = ep.expand[i]
	}
	if v, ok := o.get("select"); ok {
		q.selectRaw = v
		var g *gerr
		if q.sel, g = t.parseSelect(ep, v); g != nil {
			return nil, g
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
		if n > maxSignInActivityTop && slices.Contains(q.sel, "signInActivity") {
			// Graph's answer when the signInActivity page limit was 120 was "Cannot query data for more than
			// 120 users at a time." (msgraph-sdk-powershell #1898); the same wording with today's limit and
			// the status are unverified.
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Cannot query data for more than %d users at a time.", maxSignInActivityTop)}
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
	return q, nil
}

func (q *dirQuery) hash(name string) string {
	return strconv.FormatUint(hashOf(strKey(name), strKey(q.filterRaw), strKey(q.selectRaw), strKey(q.expand), uint64(q.top)), 16)
}

// writeProps writes an object's properties into the open object: the selected ones (sel; @odata.type is
// always kept; a selected property the object lacks is left out, as in polymorphic collections), or the
// entity type's defaults, or all. With withID the id is always included (delta, members).
func writeProps(w *jw, id string, p obj, sel []string, def *entityDef, withID bool) {
	switch {
	case sel != nil:
		if withID && !slices.Contains(sel, "id") {
			w.kstr("id", id)
		}
		for _, kv := range p {
			if slices.Contains(sel, kv.k) || kv.k == "@odata.type" {
				w.key(kv.k)
				writeValue(w, kv.v)
			}
		}
		if def != nil {
			for _, c := range def.computed {
				if c == "logo" && slices.Contains(sel, c) {
					w.knull(c) // a stream is never inline (unverified answer)
				}
			}
		}
	case def != nil && def.defaults > 0:
		wroteID := false
		for _, k := range def.props[:def.defaults] {
			if v, ok := p.get(k); ok {
				w.key(k)
				writeValue(w, v)
				wroteID = wroteID || k == "id"
			}
		}
		if withID && !wroteID {
			w.kstr("id", id)
		}
	default:
		for _, kv := range p {
			w.key(kv.k)
			writeValue(w, kv.v)
		}
	}
}

// wantFor says which properties a rendering with sel (nil: the entity's defaults, or all) needs.
func wantFor(sel []string, def *entityDef) func(string) bool {
	switch {
	case sel != nil:
		return func(k string) bool { return k == "id" || k == "@odata.type" || slices.Contains(sel, k) }
	case def != nil && def.defaults > 0:
		d := def.props[:def.defaults]
		return func(k string) bool { return slices.Contains(d, k) }
	}
	return nil
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
		t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) {
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
	if g := ep.licence(t.lic()); g != nil {
		t.writeError(rc, g)
		return options{}, false
	}
	o, g := parseOptions(rc.r.URL.RawQuery)
	if g != nil {
		t.writeError(rc, g)
		return options{}, false
	}
	if strings.HasSuffix(rc.endpoint, "(signInActivity)") {
		// signInActivity needs Entra ID P1/P2 and AuditLog.Read.All besides the users permission (user.md).
		if !permAuditLog.granted(rc.principal.Roles) {
			t.writeError(rc, permAuditLog.missing())
			return options{}, false
		}
		if !t.lic().premium() {
			t.writeError(rc, errNonPremium)
			return options{}, false
		}
	}
	dt := o.vals["deltatoken"]
	if f, ok := t.faults.pick(rc.r.URL.Path, nil, o.vals["skiptoken"] != "", dt != "" && dt != "latest"); ok {
		rc.fault = f.Kind
		t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) { c.Faults++ })
		switch f.Kind {
		case FaultTruncate, FaultInvalidJSON, FaultSyncReset:
			// applied by the endpoint (page faults; the sync reset needs the decoded token)
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
	if ep.family == familyProtection || ep.family == familyAgents {
		t.syncRisk()
	}
	body, n, g := t.renderDirList(rc, ep, o)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	t.sendPage(rc, body, n)
}

// writeObject writes one object (the caller opened it): its selected or default properties, then the
// computed and expanded ones.
func (t *Tenant) writeObject(w *jw, ep *dirEndpoint, r *resource, p obj, q *dirQuery, withID bool, act *activityState) {
	writeProps(w, r.id, p, q.sel, ep.def, withID)
	if ep.col == colUsers && slices.Contains(q.sel, "signInActivity") {
		w.key("signInActivity")
		t.writeSignInActivity(w, r, act)
	}
	switch q.expand {
	case "principal":
		w.key("principal")
		if m := t.principalResource(p.str("principalId")); m != nil && m.live() {
			w.beginObj()
			w.kstr("@odata.type", "#microsoft.graph."+m.col.entity)
			writeProps(w, m.id, m.props(), nil, nil, true)
			w.endObj()
		} else {
			w.null()
		}
	case "roleDefinition":
		w.key("roleDefinition")
		if d := t.store.cols[colRoleDefinitions].get(p.str("roleDefinitionId")); d != nil {
			writeValue(w, d.props())
		} else {
			w.null()
		}
	}
}

// principalResource finds a directory object by id among the principal collections (caller holds the lock).
func (t *Tenant) principalResource(id string) *resource {
	for _, c := range []string{colUsers, colGroups, colSPs, colDevices} {
		if r := t.store.cols[c].get(id); r != nil {
			return r
		}
	}
	return nil
}

func (t *Tenant) renderDirList(rc *reqCtx, ep *dirEndpoint, o options) ([]byte, int, *gerr) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	q, g := t.parseDirQuery(ep, o)
	if g != nil {
		return nil, 0, g
	}
	var act *activityState
	if ep.col == colUsers && slices.Contains(q.sel, "signInActivity") {
		act = t.activity.at(t.Now().UnixNano())
	}
	if tok, ok := o.get("skiptoken"); ok {
		f, ok := t.unseal(tok, tokList, 3)
		if !ok || f[0] != ep.path || f[1] != q.hash(ep.path) {
			return nil, 0, errDirSkipToken
		}
		q.after = f[2]
	}
	c := t.store.cols[ep.col]
	type item struct {
		r *resource
		p obj
	}
	var page []item
	more := false
	ev := evaluator{}
	c.each(q.after, func(r *resource) bool {
		if !r.live() {
			return true
		}
		var p obj
		if q.filter != nil {
			p = r.props()
			if !ev.eval(q.filter, objView{id: r.id, p: p}, nil, nil) {
				return true
			}
		}
		if len(page) == q.top {
			more = true
			return false
		}
		page = append(page, item{r, p})
		return true
	})
	p := dirPage{context: t.contextURL(rc, ep.path, q.sel)}
	if more {
		p.next = link(rc.base, rc.r.URL.Path, "$filter", q.filterRaw, "$select", q.selectRaw, "$expand", q.expand, "$top", q.topRaw,
			"$skiptoken", t.seal(tokList, ep.path, q.hash(ep.path), page[len(page)-1].r.id))
	}
	want := wantFor(q.sel, ep.def)
	p.items = func(w *jw, emit func()) {
		for _, it := range page {
			props := it.p
			if props == nil {
				props = it.r.propsWant(viewNow, want)
			}
			w.beginObj()
			t.writeObject(w, ep, it.r, props, q, false, act)
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}

// errDirSkipToken answers a tampered or foreign skip token on directory lists (wording as Graph's users
// endpoint answers it, microsoft-graph-docs #8612, with the directory error code; status unverified).
var errDirSkipToken = &gerr{status: 400, code: "Request_BadRequest", message: "Invalid Skip Token"}

// resolveID finds a live resource by id (users: or userPrincipalName). Caller holds the store lock.
func (t *Tenant) resolveID(ep *dirEndpoint, id string) *resource {
	c := t.store.cols[ep.col]
	if r := c.get(id); r != nil && r.live() {
		return r
	}
	if ep.byUPN && strings.Contains(id, "@") {
		var found *resource
		c.each("", func(r *resource) bool {
			if r.live() && strings.EqualFold(r.propStr("userPrincipalName"), id) {
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
		vals := map[string]string{}
		for _, k := range []string{"select", "expand"} {
			if v, ok := o.vals[k]; ok {
				vals[k] = v
			}
		}
		q, g := t.parseDirQuery(ep, options{vals: vals})
		if g != nil {
			return nil, g
		}
		var act *activityState
		if ep.col == colUsers && slices.Contains(q.sel, "signInActivity") {
			act = t.activity.at(t.Now().UnixNano())
		}
		var w jw
		w.beginObj()
		w.kstr("@odata.context", t.contextURL(rc, ep.path, q.sel)+"/$entity")
		t.writeObject(&w, ep, r, r.props(), q, false, act)
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

// transitive lists the members reachable through nested groups, each once (cycles are safe).
func transitive(g *resource, seen map[*resource]bool, out *[]*resource) {
	for _, m := range g.ms.current {
		if seen[m] {
			continue
		}
		seen[m] = true
		*out = append(*out, m)
		if m.ms != nil && m.col.name == colGroups {
			transitive(m, seen, out)
		}
	}
}

func (t *Tenant) serveMembers(rc *reqCtx, ep *dirEndpoint, trans bool) {
	o, ok := t.dirPrecheck(rc, ep)
	if !ok {
		return
	}
	t.syncChurn()
	body, n, gerr := t.renderMembers(rc, ep, o, trans)
	if gerr != nil {
		t.writeError(rc, gerr)
		return
	}
	t.sendPage(rc, body, n)
}

var membersEndpoint = &dirEndpoint{schema: dirSchema("microsoft.graph.directoryObject", "DirectoryObject", func(*schema) {}),
	col: colUsers, typeName: "microsoft.graph.directoryObject", def: userDef}

func (t *Tenant) renderMembers(rc *reqCtx, ep *dirEndpoint, o options, trans bool) ([]byte, int, *gerr) {
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
	var members []*resource
	if trans {
		transitive(g, map[*resource]bool{g: true}, &members)
	} else {
		members = slices.Clone(g.ms.current)
	}
	slices.SortFunc(members, func(a, b *resource) int { return strings.Compare(a.id, b.id) })
	if tok, ok := o.get("skiptoken"); ok {
		f, ok := t.unseal(tok, tokMemberList, 3)
		if !ok || f[0] != g.id || f[1] != q.hash(rc.route.name) {
			return nil, 0, errDirSkipToken
		}
		i, _ := slices.BinarySearchFunc(members, f[2], func(r *resource, id string) int { return strings.Compare(r.id, id) })
		for i < len(members) && members[i].id <= f[2] {
			i++
		}
		members = members[i:]
	}
	var page []*resource
	for _, m := range members {
		if m.live() {
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
			t.seal(tokMemberList, g.id, q.hash(rc.route.name), page[len(page)-1].id))
	}
	p.items = func(w *jw, emit func()) {
		for _, m := range page {
			w.beginObj()
			w.kstr("@odata.type", "#microsoft.graph."+m.col.entity)
			def := entityDefs[m.col.entity]
			writeProps(w, m.id, m.propsWant(viewNow, wantFor(q.sel, def)), q.sel, def, true)
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
	graphSPID := graphSP(uint64(t.cfg.Seed)).ID
	spProps := sp.props()
	var roles []string
	if app := t.appResourceByClientID(spProps.str("appId")); app != nil {
		roles, _ = app.hidden["roles"].([]string)
	}
	created := t.cfg.start.Add(-24 * time.Hour)
	if app := t.appResourceByClientID(spProps.str("appId")); app != nil {
		if ts, ok := app.props().get("createdDateTime"); ok {
			if tt, ok := ts.(time.Time); ok {
				created = tt
			}
		}
	}
	p := dirPage{context: t.contextURL(rc, "servicePrincipals('"+sp.id+"')/appRoleAssignments", nil)}
	p.items = func(w *jw, emit func()) {
		for _, role := range roles {
			w.beginObj()
			w.kstr("id", strings.ReplaceAll(guidFrom(strKey(sp.id), strKey(role)), "-", ""))
			w.knull("deletedDateTime")
			w.kstr("appRoleId", appRoleIDs[role])
			w.ktime("createdDateTime", created.UnixNano())
			w.kstr("principalDisplayName", spProps.str("displayName"))
			w.kstr("principalId", sp.id)
			w.kstr("principalType", "ServicePrincipal")
			w.kstr("resourceDisplayName", "Microsoft Graph")
			w.kstr("resourceId", graphSPID)
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}
