package entrasim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Loading the directory into the object store. The large collections (users, groups, devices, registration
// details, Intune devices) hold only stubs: an id and an index from which their properties are generated on
// demand (dirgen_*.go), plus group memberships. The small ones (roles, policies, risk state) are loaded with
// their properties. Property names, order and JSON types follow Graph's schema (tests/testdata/graph-csdl) and
// the documentation examples (tests/testdata/graph-docs).

// Collections.
const (
	colUsers           = "users"
	colGroups          = "groups"
	colApplications    = "applications"
	colSPs             = "servicePrincipals"
	colDevices         = "devices"
	colDirectoryRoles  = "directoryRoles"
	colAdminUnits      = "administrativeUnits"
	colRoleDefinitions = "roleDefinitions"
	colRoleAssignments = "roleAssignments"
	colCAPolicies      = "conditionalAccessPolicies"
	colNamedLocations  = "namedLocations"
	colRiskyUsers      = "riskyUsers"
	colRiskDetections  = "riskDetections"
	colRegistration    = "userRegistrationDetails"
	colManagedDevices  = "managedDevices"
)

// GraphAppID is Microsoft Graph's application id; its service principal holds the app roles (permissions).
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Well-known authentication method ids (reference §6; the phone ids and the email id are unverified there) and
// built-in role template ids.
const (
	methodPassword     = "28c10230-6103-485e-b985-444c60001490"
	methodMobile       = "3179e48a-750b-4051-897c-87b9720928f7"
	methodAlternate    = "b6332ec1-7057-4abe-9331-3d72feddfe41"
	methodOffice       = "e37fc753-ff3b-4958-9484-eaa9425c82bc"
	methodEmail        = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
	roleGlobalAdmin    = "62e90394-69f5-4237-9190-012177145e10"
	roleGlobalReader   = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	roleUserAdmin      = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	roleSecurityReader = "5d6b6bb7-de71-4623-b4af-96380a352509"
	roleSecurityAdmin  = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	roleAppAdmin       = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	roleExchangeAdmin  = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	rolePrivRoleAdmin  = "e8611ab8-c189-46e8-94e1-60213ab1f814"
)

// spSeed is a generated service principal: the application it instantiates (nil for managed identities and
// Microsoft Graph) and when it was created.
type spSeed struct {
	sp      *ServicePrincipal
	app     *Application
	created time.Time
}

// graphSP is Microsoft Graph's own service principal, whose app roles are its application permissions, so
// deployments can resolve permission ids by value (reference §2).
func graphSP(seed uint64) *ServicePrincipal {
	return &ServicePrincipal{ID: guidFrom(seed, strKey("graph-sp")), AppID: GraphAppID, DisplayName: "Microsoft Graph",
		ServicePrincipalType: "Application", AppOwnerOrganizationID: microsoftServicesID, AccountEnabled: true}
}

func graphAppRoles() []obj {
	names := make([]string, 0, len(appRoleIDs))
	for v := range appRoleIDs {
		names = append(names, v)
	}
	slices.Sort(names)
	var roles []obj
	for _, v := range names {
		roles = append(roles, obj{
			{"allowedMemberTypes", []string{"Application"}}, {"description", "Allows the app to " + v + " without a signed-in user."},
			{"displayName", v}, {"id", appRoleIDs[v]}, {"isEnabled", true}, {"origin", "Application"}, {"value", v},
		})
	}
	return roles
}

// groupCount is the number of groups: the named ones plus Options.Groups' worth (default one per 20 users, at
// least four, so nesting and the cycle exist in every tenant).
func (c *config) groupCount() int {
	if c.Groups > 0 {
		return max(c.Groups, len(groupNames)+2)
	}
	return len(groupNames) + max(4, c.Users/20)
}

// populate loads the generated directory into the store.
func (t *Tenant) populate() {
	s, d, seed := t.store, t.dir, uint64(t.cfg.Seed)
	base := t.cfg.start.Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	cast := t.gen.cast

	// Users: stubs; their properties come from the generated User.
	users := s.col(colUsers, "user")
	users.gen = func(r *resource, want func(string) bool) obj {
		return t.userProps(&cast.users[r.idx], uint64(r.idx), want)
	}
	users.reserve(len(cast.users))
	userRes := make([]*resource, len(cast.users))
	for i := range cast.users {
		userRes[i] = s.load(users, &resource{id: cast.users[i].ID, idx: int32(i)})
	}

	// Applications and service principals (Microsoft Graph's own last).
	apps, sps := s.col(colApplications, "application"), s.col(colSPs, "servicePrincipal")
	apps.gen = func(r *resource, _ func(string) bool) obj { return t.appProps(d.apps[r.idx]) }
	sps.gen = func(r *resource, _ func(string) bool) obj {
		sd := t.spSeeds[r.idx]
		p := t.spProps(sd.sp, sd.app, sd.created)
		if sd.sp.AppID == GraphAppID {
			p.set("appRoles", graphAppRoles())
		}
		return p
	}
	for i, a := range d.apps {
		ar := s.load(apps, &resource{id: a.ID, idx: int32(i), hidden: map[string]any{
			"secrets": slices.Clone(a.PasswordCredentials), "roles": slices.Clone(a.Roles), "order": t.nextOrder()}})
		t.spSeeds = append(t.spSeeds, spSeed{sp: d.sps[i], app: a, created: a.CreatedDateTime.Add(time.Minute)})
		s.load(sps, &resource{id: d.sps[i].ID, idx: int32(len(t.spSeeds) - 1), hidden: map[string]any{
			"order": ar.hidden["order"], "provisioning": d.sps[i].Provisioning}})
	}
	for _, sp := range d.sps[len(d.apps):] {
		t.spSeeds = append(t.spSeeds, spSeed{sp: sp, created: base.Add(-time.Duration(hashOf(strKey(sp.ID))%700) * 24 * time.Hour)})
		s.load(sps, &resource{id: sp.ID, idx: int32(len(t.spSeeds) - 1), hidden: map[string]any{"order": t.nextOrder()}})
	}
	t.spSeeds = append(t.spSeeds, spSeed{sp: graphSP(seed), created: base.Add(-5 * 365 * 24 * time.Hour)})
	s.load(sps, &resource{id: t.spSeeds[len(t.spSeeds)-1].sp.ID, idx: int32(len(t.spSeeds) - 1)})

	// Devices: the registered devices sign-ins come from, and a personal Android phone for some users.
	devices, managed := s.col(colDevices, "device"), s.col(colManagedDevices, "managedDevice")
	devices.gen = func(r *resource, _ func(string) bool) obj { return t.deviceProps(t.deviceSeeds[r.idx]) }
	managed.gen = func(r *resource, _ func(string) bool) obj { return t.managedDeviceOf(t.deviceSeeds[r.idx]) }
	devices.reserve(len(cast.users))
	var deviceRes []*resource
	for i := range cast.users {
		u := &cast.users[i]
		for _, extra := range []bool{false, true} {
			switch {
			case !extra && deviceProfiles[u.device].TrustType == "":
				continue
			case extra && (u.UserType != "Member" || hashOf(seed, strKey("personal-device"), uint64(i))%8 != 0):
				continue
			}
			t.deviceSeeds = append(t.deviceSeeds, deviceSeed{user: int32(i), extra: extra})
			ds := t.deviceSeeds[len(t.deviceSeeds)-1]
			deviceID := guidFrom(seed, strKey("device"), strKey(u.ID), uint64(u.device))
			if extra {
				deviceID = guidFrom(seed, strKey("device-extra"), strKey(u.ID))
			}
			deviceRes = append(deviceRes, s.load(devices, &resource{id: deviceObjectID(seed, deviceID), idx: int32(len(t.deviceSeeds) - 1)}))
			if !extra && deviceProfiles[u.device].Managed {
				s.load(managed, &resource{id: guidFrom(seed, strKey("managed-device"), strKey(deviceID)), idx: int32(len(t.deviceSeeds) - 1)})
			}
			_ = ds
		}
	}

	// Groups: the named ones (audit events reference them), then generated ones.
	groups := s.col(colGroups, "group")
	groups.gen = func(r *resource, _ func(string) bool) obj { return t.groupProps(r.id, t.groupFactsOf(int(r.idx))) }
	n := t.cfg.groupCount()
	groups.reserve(n)
	groupRes := make([]*resource, n)
	for i := 0; i < n; i++ {
		groupRes[i] = s.load(groups, &resource{id: groupID(seed, i), idx: int32(i), ms: &membership{}})
	}
	byName := map[string]*resource{}
	for i, name := range groupNames {
		byName[name] = groupRes[i]
	}
	add := func(g, m *resource) { g.ms.initial = append(g.ms.initial, m) }
	r := newRNG(seed, strKey("memberships"))
	for i := range cast.users {
		u := &cast.users[i]
		switch {
		case u.UserType == "Guest":
			add(byName["Guests"], userRes[i])
		case u.Department != "":
			add(byName[u.Department], userRes[i])
		default:
			add(byName["All Staff"], userRes[i])
		}
		if u.Admin {
			add(byName["Privileged Admins"], userRes[i])
		}
		if u.UserType == "Member" && r.chance(0.3) {
			add(byName["VPN Users"], userRes[i])
		}
	}
	for _, dep := range departments {
		add(byName["All Staff"], byName[dep])
	}
	for i := len(groupNames); i < n; i++ {
		g := groupRes[i]
		x := newRNG(seed, strKey("group-members"), uint64(i))
		f := t.groupFactsOf(i)
		if f.kind == gkDevices {
			for _, j := range strideMembers(x, groupSize(x, len(deviceRes)), len(deviceRes)) {
				add(g, deviceRes[j])
			}
			continue
		}
		for _, j := range strideMembers(x, groupSize(x, len(userRes)), len(userRes)) {
			add(g, userRes[j])
		}
		switch {
		case i == len(groupNames):
			add(g, groupRes[i+1]) // a nesting cycle: the first two generated groups contain each other
		case i == len(groupNames)+1:
			add(g, groupRes[i-1])
		case f.kind == gkSecurity && !f.roleable && x.chance(0.08):
			for k := 1 + x.intn(3); k > 0; k-- {
				sub := groupRes[len(groupNames)+x.intn(n-len(groupNames))]
				if sub != g && !t.groupFactsOf(int(sub.idx)).roleable && !slices.Contains(g.ms.initial, sub) {
					add(g, sub)
				}
			}
		}
		if f.kind == gkSecurity && x.chance(0.05) && len(d.sps) > 0 {
			add(g, sps.get(d.sps[x.intn(len(d.sps))].ID))
		}
	}
	for _, g := range groupRes {
		g.ms.current = g.ms.initial
	}

	// Directory roles (activated ones) and role definitions; the RBAC assignments mirror role membership.
	roles, defs := s.col(colDirectoryRoles, "directoryRole"), s.col(colRoleDefinitions, "unifiedRoleDefinition")
	s.col(colRoleAssignments, "unifiedRoleAssignment")
	roles.gen = func(r *resource, _ func(string) bool) obj { return directoryRoleProps(seed, int(r.idx)) }
	for i := range builtInRoles {
		if i < activeRoles {
			s.load(roles, &resource{id: directoryRoleID(seed, builtInRoles[i].id), idx: int32(i), ms: &membership{}})
		}
		s.loadProps(defs, builtInRoles[i].id, roleDefinitionProps(i))
	}
	custom := customRoleProps(seed)
	s.loadProps(defs, custom.str("id"), custom)
	roleOf := func(template string) *resource { return roles.get(directoryRoleID(seed, template)) }
	for i := range cast.users {
		u := &cast.users[i]
		switch {
		case u.Admin:
			add(roleOf(roleGlobalAdmin), userRes[i])
		case u.UserType == "Member" && i%25 == 3:
			add(roleOf(roleUserAdmin), userRes[i])
		case u.UserType == "Member" && i%97 == 5:
			add(roleOf(roleSecurityReader), userRes[i])
		case u.UserType == "Member" && i%131 == 7:
			add(roleOf(roleAppAdmin), userRes[i])
		}
	}
	add(roleOf(roleGlobalReader), sps.get(d.sps[len(d.apps)-1].ID)) // the integration's service principal reads the directory
	add(roleOf(roleSecurityAdmin), byName["Privileged Admins"])     // a role-assignable group holds a role
	for _, id := range roles.ids {
		role := roles.byID[id]
		role.ms.current = role.ms.initial
		for _, m := range role.ms.initial {
			t.loadAssignment(role.props().str("roleTemplateId"), m, "/", nil)
		}
	}

	// Administrative units: one per country users live in; dynamic for the large ones, one restricted.
	aus := s.col(colAdminUnits, "administrativeUnit")
	perCountry := map[string][]*resource{}
	var countries []string
	for i := range cast.users {
		c := cast.users[i].UsageLocation
		if perCountry[c] == nil {
			countries = append(countries, c)
		}
		perCountry[c] = append(perCountry[c], userRes[i])
	}
	slices.Sort(countries)
	for k, c := range countries {
		id := guidFrom(seed, strKey("admin-unit"), strKey(c))
		dynamic := len(perCountry[c])*10 > len(cast.users)
		au := s.loadProps(aus, id, adminUnitProps(id, c, dynamic, k == 0))
		au.ms = &membership{initial: perCountry[c]}
		if !dynamic && n > len(groupNames)+2 {
			au.ms.initial = append(slices.Clip(au.ms.initial), groupRes[len(groupNames)+2+k%(n-len(groupNames)-2)])
		}
		au.ms.current = au.ms.initial
	}
	if len(countries) > 0 {
		// A user administrator scoped to the first administrative unit, and the custom role with a condition.
		au := aus.get(guidFrom(seed, strKey("admin-unit"), strKey(countries[0])))
		if m := perCountry[countries[0]][0]; m != nil {
			t.loadAssignment(roleUserAdmin, m, "/administrativeUnits/"+au.id, nil)
		}
		if len(d.apps) > 0 && len(userRes) > 1 {
			// Condition syntax as role assignment conditions use it (unverified for this role).
			cond := fmt.Sprintf("@Resource[Microsoft.Directory/Application:appId] StringEquals '%s'", d.apps[0].AppID)
			t.loadAssignment(custom.str("id"), userRes[len(userRes)/2], "/", cond)
		}
	}

	// Authentication methods are generated on first use; the registration report is a view of them.
	reg := s.col(colRegistration, "userRegistrationDetails")
	reg.reserve(len(cast.users))
	// isAdmin: "the user has an admin role in the tenant", any directory role assigned to the user directly, at
	// any scope (as the role assignments above say).
	admins := map[string]bool{}
	ras := s.cols[colRoleAssignments]
	for _, id := range ras.ids {
		admins[strings.ToLower(ras.byID[id].props().str("principalId"))] = true
	}
	reg.gen = func(r *resource, _ func(string) bool) obj {
		u := &cast.users[r.idx]
		methods, def := authMethods(u, seed, base)
		return registrationProps(u, methods, def, base, u.Admin || admins[strings.ToLower(u.ID)])
	}
	for i := range cast.users {
		s.load(reg, &resource{id: cast.users[i].ID, idx: int32(i)})
	}

	// Conditional Access and named locations (the policies sign-ins report).
	ca, locs := s.col(colCAPolicies, "conditionalAccessPolicy"), s.col(colNamedLocations, "namedLocation")
	for i, p := range caPolicies {
		id := t.gen.cast.caIDs[i]
		state := "enabled"
		if i == 3 {
			state = "disabled"
		}
		grant := []string{"mfa"}
		switch i {
		case 1:
			grant = []string{"block"}
		case 2:
			grant = []string{"compliantDevice"}
		}
		apps := []string{"All"}
		clientApps := []string{"all"}
		if i == 1 {
			clientApps = []string{"exchangeActiveSync", "other"}
		}
		includeRoles := []string{}
		includeUsers := []string{"All"}
		if i == 0 {
			includeRoles, includeUsers = []string{roleGlobalAdmin, roleUserAdmin}, []string{}
		}
		if i == 4 {
			includeUsers = []string{"GuestsOrExternalUsers"}
		}
		s.loadProps(ca, id, obj{
			{"id", id}, {"templateId", nil}, {"displayName", p.Name}, {"description", nil}, {"deletedDateTime", nil},
			{"createdDateTime", base.Add(-time.Duration(100+i) * 24 * time.Hour)}, {"modifiedDateTime", nil},
			{"state", state}, {"sessionControls", nil},
			{"conditions", obj{{"userRiskLevels", []string{}}, {"signInRiskLevels", map[bool][]string{true: {"medium", "high"}, false: {}}[i == 3]},
				{"servicePrincipalRiskLevels", []string{}}, {"clientAppTypes", clientApps},
				{"platforms", nil}, {"locations", nil}, {"devices", nil}, {"clientApplications", nil}, {"authenticationFlows", nil}, {"insiderRiskLevels", nil},
				{"applications", obj{{"includeApplications", apps}, {"excludeApplications", []string{}}, {"includeUserActions", []string{}},
					{"includeAuthenticationContextClassReferences", []string{}}, {"applicationFilter", nil}}},
				{"users", obj{{"includeUsers", includeUsers}, {"excludeUsers", []string{}}, {"includeGroups", []string{}}, {"excludeGroups", []string{groupID(seed, 2)}},
					{"includeRoles", includeRoles}, {"excludeRoles", []string{}}, {"includeGuestsOrExternalUsers", nil}, {"excludeGuestsOrExternalUsers", nil}}}}},
			{"grantControls", obj{{"operator", "OR"}, {"builtInControls", grant}, {"customAuthenticationFactors", []string{}}, {"termsOfUse", []string{}}}},
		})
	}
	corp := guidFrom(seed, strKey("named-location"), 1)
	s.loadProps(locs, corp, obj{{"@odata.type", "#microsoft.graph.ipNamedLocation"}, {"id", corp},
		{"displayName", "Corporate network"}, {"deletedDateTime", nil}, {"modifiedDateTime", base.Add(-90 * 24 * time.Hour)}, {"createdDateTime", base.Add(-400 * 24 * time.Hour)},
		{"isTrusted", true}, {"ipRanges", []obj{{{"@odata.type", "#microsoft.graph.iPv4CidrRange"}, {"cidrAddress", "131.107.0.0/16"}}}}})
	blocked := guidFrom(seed, strKey("named-location"), 2)
	s.loadProps(locs, blocked, obj{{"@odata.type", "#microsoft.graph.countryNamedLocation"}, {"id", blocked},
		{"displayName", "Blocked countries"}, {"deletedDateTime", nil}, {"modifiedDateTime", base.Add(-30 * 24 * time.Hour)}, {"createdDateTime", base.Add(-300 * 24 * time.Hour)},
		{"countriesAndRegions", []string{"KP", "IR"}}, {"includeUnknownCountriesAndRegions", false}, {"countryLookupMethod", "clientIpAddress"}})

	// Identity Protection: a few risky users, each with a risk detection.
	risky, detections := s.col(colRiskyUsers, "riskyUser"), s.col(colRiskDetections, "riskDetection")
	rr := newRNG(seed, strKey("risky-users"))
	for i := 0; i < max(1, len(d.users)/40); i++ {
		u := &d.users[rr.intn(len(d.users))]
		if risky.get(u.ID) != nil {
			continue
		}
		when := base.Add(-time.Duration(1+rr.intn(20*24)) * time.Hour)
		level := pick(rr, []string{"low", "medium", "high"})
		s.loadProps(risky, u.ID, obj{{"@odata.type", "#microsoft.graph.riskyUser"}, {"id", u.ID}, {"isDeleted", false},
			{"isProcessing", false}, {"riskLastUpdatedDateTime", when}, {"riskLevel", level}, {"riskState", "atRisk"},
			{"riskDetail", "none"}, {"userDisplayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName}})
		did := guidFrom(seed, strKey("risk-detection"), strKey(u.ID))
		p := places[rr.intn(len(places))]
		s.loadProps(detections, did, userDetectionProps(seed, did, u, p, pick(rr, riskEventTypes), level, "atRisk", "none",
			ipFor(p, rr.next()), when, when))
	}

	t.populateRiskHistory(base)
	t.populateRiskSPs(base)
	t.populateIntune(base)
	t.populateAgents(base)

	for _, c := range s.cols {
		c.sortIDs()
	}
}

// groupFactsOf describes group i (named or generated).
func (t *Tenant) groupFactsOf(i int) groupFacts {
	if i < len(groupNames) {
		return t.namedGroupFacts(i)
	}
	return t.groupFacts(i)
}

// loadAssignment adds a role assignment of the initial directory (caller holds the store lock).
func (t *Tenant) loadAssignment(roleDefinitionID string, principal *resource, scope string, condition any) {
	id := roleAssignmentID(roleDefinitionID, principal.id)
	if scope != "/" {
		id = strings.TrimSuffix(id, "-1") + "-1-" + strings.TrimPrefix(scope, "/administrativeUnits/")[:8]
	}
	t.store.loadProps(t.store.cols[colRoleAssignments], id, obj{{"id", id}, {"appScopeId", nil}, {"condition", condition},
		{"directoryScopeId", scope}, {"principalId", principal.id}, {"principalOrganizationId", t.dir.tenantID},
		{"roleDefinitionId", roleDefinitionID}})
}

// managedDeviceOf renders the Intune view of a managed device.
func (t *Tenant) managedDeviceOf(ds deviceSeed) obj {
	seed := uint64(t.cfg.Seed)
	u := &t.gen.cast.users[ds.user]
	prof := deviceProfiles[u.device]
	deviceID := guidFrom(seed, strKey("device"), strKey(u.ID), uint64(u.device))
	name := fmt.Sprintf("%s-%04X", map[bool]string{true: "LAPTOP", false: "PHONE"}[prof.OS == "Windows10" || prof.OS == "MacOs"], hashOf(strKey(u.ID))&0xffff)
	return managedDeviceProps(seed, u, prof, deviceID, name, u.CreatedDateTime.Add(24*time.Hour), t.cfg.start.Truncate(time.Second))
}

var _ = math.MaxInt64

// authMethods generates a user's registered authentication methods and the default one.
func authMethods(u *User, seed uint64, base time.Time) ([]obj, string) {
	r := newRNG(seed, strKey("auth-methods"), strKey(u.ID))
	created := u.CreatedDateTime.Add(48 * time.Hour)
	ms := []obj{{{"@odata.type", "#microsoft.graph.passwordAuthenticationMethod"}, {"id", methodPassword}, {"password", nil}, {"createdDateTime", created}}}
	def := ""
	phone := func(id, typ string) obj {
		return obj{{"@odata.type", "#microsoft.graph.phoneAuthenticationMethod"}, {"id", id},
			{"phoneNumber", fmt.Sprintf("+1 206555%04d", hashOf(strKey(u.ID), strKey(typ))%10000)}, {"phoneType", typ}, {"smsSignInState", "notAllowedByPolicy"}}
	}
	if u.UserType == "Guest" {
		return ms, def
	}
	if r.chance(0.6) || u.Admin {
		ms = append(ms, phone(methodMobile, "mobile"))
		def = methodMobile
		if r.chance(0.2) {
			ms = append(ms, phone(methodAlternate, "alternateMobile"))
		}
	}
	if r.chance(0.1) {
		ms = append(ms, phone(methodOffice, "office"))
	}
	if r.chance(0.55) {
		id := guidFrom(seed, strKey("authenticator"), strKey(u.ID))
		ms = append(ms, obj{{"@odata.type", "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"}, {"id", id},
			{"displayName", pick(r, []string{"iPhone 15", "Pixel 8", "Galaxy S24"})}, {"deviceTag", "SoftwareTokenActivated"},
			{"phoneAppVersion", "6.8.7"}, {"createdDateTime", created.Add(time.Hour)}})
		if def == "" || r.chance(0.5) {
			def = id
		}
	}
	if r.chance(0.1) {
		ms = append(ms, obj{{"@odata.type", "#microsoft.graph.fido2AuthenticationMethod"}, {"id", strings.ReplaceAll(tokenID(r), "_", "-")},
			{"displayName", "Security key"}, {"creationDateTime", created.Add(2 * time.Hour)}, {"aaGuid", "2fc0579f-8113-47ea-b116-555a8db9202a"},
			{"model", "YubiKey 5 NFC"}, {"attestationCertificates", []string{fmt.Sprintf("%040x", hashOf(strKey(u.ID), 7))}}, {"attestationLevel", "attested"}})
	}
	if r.chance(0.2) {
		ms = append(ms, obj{{"@odata.type", "#microsoft.graph.emailAuthenticationMethod"}, {"id", methodEmail},
			{"emailAddress", strings.ToLower(u.GivenName) + "@" + pick(r, externalDomains)}})
	}
	if r.chance(0.1) {
		ms = append(ms, obj{{"@odata.type", "#microsoft.graph.softwareOathAuthenticationMethod"}, {"id", guidFrom(seed, strKey("oath"), strKey(u.ID))}, {"secretKey", nil}})
	}
	if p := deviceProfiles[u.device]; p.OS == "Windows10" && p.TrustType != "" {
		ms = append(ms, obj{{"@odata.type", "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod"},
			{"id", guidFrom(seed, strKey("whfb"), strKey(u.ID))}, {"displayName", fmt.Sprintf("LAPTOP-%04X", hashOf(strKey(u.ID))&0xffff)},
			{"createdDateTime", created.Add(3 * time.Hour)}, {"keyStrength", "normal"}})
	}
	return ms, def
}

// registrationProps is a user's row of the authentication methods registration report; admin is whether the user
// holds a directory role.
func registrationProps(u *User, methods []obj, def string, base time.Time, admin bool) obj {
	var registered []string
	mfa := false
	for _, m := range methods {
		switch m.str("@odata.type") {
		case "#microsoft.graph.phoneAuthenticationMethod":
			if m.str("phoneType") == "mobile" {
				registered = append(registered, "mobilePhone")
			}
			mfa = true
		case "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod":
			registered = append(registered, "microsoftAuthenticatorPush")
			mfa = true
		case "#microsoft.graph.fido2AuthenticationMethod":
			registered = append(registered, "fido2")
			mfa = true
		case "#microsoft.graph.emailAuthenticationMethod":
			registered = append(registered, "email")
		case "#microsoft.graph.softwareOathAuthenticationMethod":
			registered = append(registered, "softwareOneTimePasscode")
			mfa = true
		case "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod":
			registered = append(registered, "windowsHelloForBusiness")
		}
	}
	// Graph's userDefaultAuthenticationMethod enum has "none" for a user without one, never an empty string.
	preferred := "none"
	system := []string{}
	switch {
	case def == methodMobile:
		preferred, system = "sms", []string{"sms"}
	case def != "":
		preferred, system = "push", []string{"push"}
	}
	sspr := slices.Contains(registered, "mobilePhone") || slices.Contains(registered, "email")
	return obj{
		{"id", u.ID}, {"userPrincipalName", u.UserPrincipalName}, {"userDisplayName", u.DisplayName}, {"isAdmin", admin},
		{"isSsprRegistered", sspr}, {"isSsprEnabled", u.UserType == "Member"}, {"isSsprCapable", sspr && u.UserType == "Member"},
		{"isMfaRegistered", mfa}, {"isMfaCapable", mfa}, {"isPasswordlessCapable", slices.Contains(registered, "fido2") || slices.Contains(registered, "windowsHelloForBusiness")},
		{"lastUpdatedDateTime", base.Truncate(24 * time.Hour)}, {"methodsRegistered", nonNil(registered)},
		{"isSystemPreferredAuthenticationMethodEnabled", true}, {"systemPreferredAuthenticationMethods", system},
		{"userPreferredMethodForSecondaryAuthentication", preferred}, {"userType", strings.ToLower(u.UserType)},
	}
}

// managedDeviceProps is an Intune managed device with every property of the managedDevice example
// (intune-devices-manageddevice-list.md).
func managedDeviceProps(seed uint64, u *User, prof deviceProfile, deviceID, name string, enrolled, base time.Time) obj {
	mid := guidFrom(seed, strKey("managed-device"), strKey(deviceID))
	r := newRNG(seed, strKey("managed-device-fields"), strKey(mid))
	synced := base.Add(-time.Duration(r.intn(48*60)) * time.Minute)
	os := map[string]string{"Windows10": "Windows", "Ios": "iOS", "Android": "Android", "MacOs": "macOS"}[prof.OS]
	osVersion := map[string]string{"Windows": "10.0.22631.3527", "iOS": "17.4.1", "Android": "14", "macOS": "14.4.1"}[os]
	model := map[string]string{"Windows": "Surface Laptop 5", "iOS": "iPhone 15", "Android": "Pixel 8", "macOS": "MacBook Pro"}[os]
	maker := map[string]string{"Windows": "Microsoft Corporation", "iOS": "Apple", "Android": "Google", "macOS": "Apple"}[os]
	mobile := os == "iOS" || os == "Android"
	str := func(mobileValue string) string {
		if mobile {
			return mobileValue
		}
		return ""
	}
	// Health attestation: Windows devices report it (illustrative values; null elsewhere, as real responses show it
	// for devices without attestation, msgraph-sdk-powershell #2832). Every string has a value: Graph answers null,
	// not "", for one it lacks.
	var health any
	if os == "Windows" {
		hex := func(n uint64) string { return fmt.Sprintf("%016X", hashOf(strKey(mid), n)) }
		h := obj{{"@odata.type", "microsoft.graph.deviceHealthAttestationState"}, {"lastUpdateDateTime", synced.Format(time.RFC3339)},
			{"contentNamespaceUrl", "https://has.spserv.microsoft.com/"}, {"deviceHealthAttestationStatus", "compliant"},
			{"contentVersion", "1"}, {"issuedDateTime", synced}, {"attestationIdentityKey", hex(10)}, {"resetCount", 0},
			{"restartCount", r.intn(40)}}
		for _, k := range []string{"dataExcutionPolicy", "bitLockerStatus", "secureBoot", "codeIntegrity",
			"earlyLaunchAntiMalwareDriverProtection", "virtualSecureMode"} {
			h = append(h, kv{k, "enabled"})
		}
		for _, k := range []string{"bootDebugging", "operatingSystemKernelDebugging", "testSigning", "safeMode", "windowsPE"} {
			h = append(h, kv{k, "disabled"})
		}
		h = append(h, kv{"bootManagerVersion", osVersion}, kv{"codeIntegrityCheckVersion", osVersion}, kv{"pcrHashAlgorithm", "SHA256"},
			kv{"bootAppSecurityVersion", "1"}, kv{"bootManagerSecurityVersion", "1"}, kv{"tpmVersion", "2.0"}, kv{"pcr0", hex(11)},
			kv{"secureBootConfigurationPolicyFingerPrint", hex(12)}, kv{"codeIntegrityPolicy", hex(13)}, kv{"bootRevisionListInfo", "0"},
			kv{"operatingSystemRevListInfo", "0"}, kv{"healthStatusMismatchInfo", "none"}, kv{"healthAttestationSupportedStatus", "supported"})
		health = h
	}
	// A few devices have notes and a remote assistance session (one of them failed); null elsewhere.
	var notes, assist, assistErr any
	if r.chance(0.1) {
		notes = "Loaner device, return to IT"
	}
	if r.chance(0.1) {
		assist = "https://start.teamviewer.com/m" + fmt.Sprint(100000000+hashOf(strKey(mid), 14)%900000000)
		if r.chance(0.5) {
			assistErr = "The session expired before the user accepted it."
		}
	}
	actions := []obj{}
	if r.chance(0.3) {
		actions = append(actions, obj{{"@odata.type", "microsoft.graph.deviceActionResult"}, {"actionName", "syncDevice"},
			{"actionState", "done"}, {"startDateTime", synced.Add(-time.Hour)}, {"lastUpdatedDateTime", synced}})
	}
	return obj{
		{"@odata.type", "#microsoft.graph.managedDevice"}, {"id", mid}, {"userId", u.ID}, {"deviceName", name},
		{"managedDeviceOwnerType", "company"}, {"deviceActionResults", actions}, {"enrolledDateTime", enrolled},
		{"lastSyncDateTime", synced}, {"operatingSystem", os},
		{"complianceState", map[bool]string{true: "compliant", false: "noncompliant"}[prof.Compliant]},
		{"jailBroken", map[bool]string{true: "False", false: "Unknown"}[mobile]}, {"managementAgent", "mdm"},
		{"osVersion", osVersion}, {"easActivated", mobile}, {"easDeviceId", fmt.Sprintf("%X", hashOf(strKey(mid), 1))},
		{"easActivationDateTime", enrolled}, {"azureADRegistered", true},
		{"deviceEnrollmentType", map[bool]string{true: "userEnrollment", false: "windowsAzureADJoin"}[mobile]},
		{"activationLockBypassCode", map[bool]any{true: fmt.Sprintf("%05X-%05X", hashOf(strKey(mid), 5)&0xfffff, hashOf(strKey(mid), 6)&0xfffff), false: nil}[os == "iOS"]}, {"emailAddress", u.Mail}, {"azureADDeviceId", deviceID},
		{"deviceRegistrationState", "registered"}, {"deviceCategoryDisplayName", "Unknown category"}, {"isSupervised", false},
		{"exchangeLastSuccessfulSyncDateTime", synced}, {"exchangeAccessState", "none"}, {"exchangeAccessStateReason", "none"},
		{"remoteAssistanceSessionUrl", assist}, {"remoteAssistanceSessionErrorDetails", assistErr}, {"isEncrypted", prof.Compliant},
		{"userPrincipalName", u.UserPrincipalName}, {"model", model}, {"manufacturer", maker}, {"imei", str(fmt.Sprintf("35%013d", hashOf(strKey(mid), 2)%1e13))},
		{"complianceGracePeriodExpirationDateTime", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"serialNumber", fmt.Sprintf("%012d", hashOf(strKey(mid))%1e12)}, {"phoneNumber", str(fmt.Sprintf("+1206555%04d", hashOf(strKey(mid), 3)%10000))},
		{"androidSecurityPatchLevel", map[bool]string{true: "2024-05-01", false: ""}[os == "Android"]}, {"userDisplayName", u.DisplayName},
		{"configurationManagerClientEnabledFeatures", clientFeatures(os)}, {"wiFiMacAddress", fmt.Sprintf("%012X", hashOf(strKey(mid), 4)&0xffffffffffff)},
		{"deviceHealthAttestationState", health}, {"subscriberCarrier", str("Contoso Mobile")}, {"meid", str("")},
		{"totalStorageSpaceInBytes", 256 << 30}, {"freeStorageSpaceInBytes", (64 + r.intn(128)) << 30},
		{"managedDeviceName", u.UserPrincipalName[:strings.IndexByte(u.UserPrincipalName, '@')] + "_" + os + "_" + enrolled.Format("1/2/2006_3:04 PM")},
		{"partnerReportedThreatState", "unknown"}, {"requireUserEnrollmentApproval", false},
		{"managementCertificateExpirationDate", enrolled.Add(365 * 24 * time.Hour)}, {"iccid", map[bool]any{true: fmt.Sprintf("8901%016d", hashOf(strKey(mid), 8)%1e16), false: nil}[mobile]},
		{"udid", map[bool]any{true: fmt.Sprintf("%040x", hashOf(strKey(mid), 9)), false: nil}[os == "iOS" || os == "macOS"]},
		{"notes", notes}, {"ethernetMacAddress", map[bool]any{true: fmt.Sprintf("%012X", hashOf(strKey(mid), 7)&0xffffffffffff), false: nil}[os == "Windows"]},
		{"physicalMemoryInBytes", 0}, {"managementState", "managed"}, {"enrollmentProfileName", nil},
	}
}

// clientFeatures is the co-management state of Windows devices (null elsewhere).
func clientFeatures(os string) any {
	if os != "Windows" {
		return nil
	}
	return obj{{"@odata.type", "microsoft.graph.configurationManagerClientEnabledFeatures"}, {"inventory", true},
		{"modernApps", false}, {"resourceAccess", false}, {"deviceConfiguration", false}, {"compliancePolicy", true},
		{"windowsUpdateForBusiness", false}}
}
