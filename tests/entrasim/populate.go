package entrasim

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Loading the directory into the object store: the generated users, applications and service principals, plus
// the objects phase 2 serves (groups with nested members, devices, directory roles and role assignments,
// authentication methods, Conditional Access policies and named locations, risky users and risk detections,
// registration details, Intune managed devices). Property names, order and JSON types follow the Graph
// documentation examples in tests/testdata/graph-docs.

// Collections.
const (
	colUsers           = "users"
	colGroups          = "groups"
	colApplications    = "applications"
	colSPs             = "servicePrincipals"
	colDevices         = "devices"
	colDirectoryRoles  = "directoryRoles"
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

// Well-known authentication method ids (reference §6; the phone ids and the email id are unverified there).
const (
	methodPassword       = "28c10230-6103-485e-b985-444c60001490"
	methodMobile         = "3179e48a-750b-4051-897c-87b9720928f7"
	methodAlternate      = "b6332ec1-7057-4abe-9331-3d72feddfe41"
	methodOffice         = "e37fc753-ff3b-4958-9484-eaa9425c82bc"
	methodEmail          = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
	roleGlobalAdmin      = "62e90394-69f5-4237-9190-012177145e10"
	roleGlobalReader     = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	roleUserAdmin        = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	roleSecurityReader   = "5d6b6bb7-de71-4623-b4af-96380a352509"
	defaultUserPropCount = 11 // businessPhones … id: the properties GET /users returns without $select
)

var builtInRoles = []struct{ id, name, desc string }{
	{roleGlobalAdmin, "Global Administrator", "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."},
	{roleGlobalReader, "Global Reader", "Can read everything that a Global Administrator can, but not update anything."},
	{roleUserAdmin, "User Administrator", "Can manage all aspects of users and groups, including resetting passwords for limited admins."},
	{roleSecurityReader, "Security Reader", "Can read security information and reports in Microsoft Entra ID and Office 365."},
}

// userResource renders a generated user as Graph's user entity.
func userResource(u *User, seed uint64) *resource {
	phone := fmt.Sprintf("+1 425 555 %04d", hashOf(strKey(u.ID))%10000)
	mobile := any(nil)
	if u.UserType == "Member" {
		mobile = fmt.Sprintf("+1 206 555 %04d", hashOf(strKey(u.ID), 1)%10000)
	}
	var business []string
	if u.UserType == "Member" {
		business = []string{phone}
	}
	p := obj{
		{"businessPhones", nonNil(business)},
		{"displayName", u.DisplayName},
		{"givenName", u.GivenName},
		{"jobTitle", nilIfEmpty(u.JobTitle)},
		{"mail", u.Mail},
		{"mobilePhone", mobile},
		{"officeLocation", nilIfEmpty(map[bool]string{true: places[u.place].City}[u.UserType == "Member"])},
		{"preferredLanguage", "en-US"},
		{"surname", u.Surname},
		{"userPrincipalName", u.UserPrincipalName},
		{"id", u.ID},
		{"accountEnabled", u.AccountEnabled},
		{"createdDateTime", u.CreatedDateTime},
		{"creationType", map[bool]any{true: "Invitation", false: nil}[u.UserType == "Guest"]},
		{"deletedDateTime", nil},
		{"department", nilIfEmpty(u.Department)},
		{"externalUserState", map[bool]any{true: "Accepted", false: nil}[u.UserType == "Guest"]},
		{"onPremisesSyncEnabled", nil},
		{"signInSessionsValidFromDateTime", u.CreatedDateTime},
		{"usageLocation", u.UsageLocation},
		{"userType", u.UserType},
	}
	return &resource{id: u.ID, props: p, hidden: map[string]any{"admin": u.Admin, "user": u}}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// passwordCredentialObjs renders secrets as Graph shows them: the hint, never the text.
func passwordCredentialObjs(secrets []PasswordCredential) []obj {
	out := []obj{}
	for _, s := range secrets {
		out = append(out, obj{
			{"customKeyIdentifier", nil}, {"displayName", s.DisplayName}, {"endDateTime", s.EndDateTime},
			{"hint", s.Hint}, {"keyId", s.KeyID}, {"secretText", nil}, {"startDateTime", s.StartDateTime},
		})
	}
	return out
}

func appResource(a *Application, domain string) *resource {
	access := []obj{}
	if len(a.Roles) > 0 {
		var ra []obj
		for _, r := range a.Roles {
			ra = append(ra, obj{{"id", appRoleIDs[r]}, {"type", "Role"}})
		}
		access = append(access, obj{{"resourceAppId", GraphAppID}, {"resourceAccess", ra}})
	}
	p := obj{
		{"id", a.ID},
		{"deletedDateTime", nil},
		{"appId", a.AppID},
		{"createdDateTime", a.CreatedDateTime},
		{"displayName", a.DisplayName},
		{"identifierUris", identifierURIs(a)},
		{"publisherDomain", domain},
		{"signInAudience", a.SignInAudience},
		{"keyCredentials", []obj{}},
		{"passwordCredentials", passwordCredentialObjs(a.PasswordCredentials)},
		{"requiredResourceAccess", access},
	}
	return &resource{id: a.ID, props: p, hidden: map[string]any{
		"secrets": slices.Clone(a.PasswordCredentials), "roles": slices.Clone(a.Roles)}}
}

func spResource(sp *ServicePrincipal, publisher string) *resource {
	names := []string{sp.AppID}
	names = append(names, sp.AlternativeNames...)
	p := obj{
		{"id", sp.ID},
		{"deletedDateTime", nil},
		{"accountEnabled", sp.AccountEnabled},
		{"alternativeNames", nonNil(sp.AlternativeNames)},
		{"appDisplayName", sp.DisplayName},
		{"appId", sp.AppID},
		{"appOwnerOrganizationId", nilIfEmpty(sp.AppOwnerOrganizationID)},
		{"appRoleAssignmentRequired", false},
		{"displayName", sp.DisplayName},
		{"homepage", nil},
		{"logoutUrl", nil},
		{"publisherName", publisher},
		{"replyUrls", []string{}},
		{"servicePrincipalNames", names},
		{"servicePrincipalType", sp.ServicePrincipalType},
		{"tags", []string{}},
		{"addIns", []obj{}},
		{"appRoles", []obj{}},
		{"info", obj{{"termsOfServiceUrl", nil}, {"supportUrl", nil}, {"privacyStatementUrl", nil}, {"marketingUrl", nil}, {"logoUrl", nil}}},
		{"keyCredentials", []obj{}},
		{"oauth2PermissionScopes", []obj{}},
		{"passwordCredentials", []obj{}},
	}
	return &resource{id: sp.ID, props: p, hidden: map[string]any{}}
}

// graphSPResource is Microsoft Graph's own service principal with its application permissions as app roles,
// so deployments can resolve permission ids by value (reference §2).
func graphSPResource(seed uint64) *resource {
	sp := &ServicePrincipal{ID: guidFrom(seed, strKey("graph-sp")), AppID: GraphAppID, DisplayName: "Microsoft Graph",
		ServicePrincipalType: "Application", AppOwnerOrganizationID: "f8cdef31-a31e-4b4a-93e4-5f571e91255a", AccountEnabled: true}
	r := spResource(sp, "Microsoft Services")
	names := make([]string, 0, len(appRoleIDs))
	for v := range appRoleIDs {
		names = append(names, v)
	}
	sort.Strings(names)
	var roles []obj
	for _, v := range names {
		roles = append(roles, obj{
			{"allowedMemberTypes", []string{"Application"}}, {"description", "Allows the app to " + v + " without a signed-in user."},
			{"displayName", v}, {"id", appRoleIDs[v]}, {"isEnabled", true}, {"origin", "Application"}, {"value", v},
		})
	}
	r.props.set("appRoles", roles)
	return r
}

// populate loads the generated directory and the phase-2 objects into the store.
func (t *Tenant) populate() {
	s, d, seed := t.store, t.dir, uint64(t.cfg.Seed)
	base := t.cfg.start.Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	users := s.col(colUsers, "user")
	for _, u := range d.users {
		s.add(users, userResource(u, seed))
	}
	apps, sps := s.col(colApplications, "application"), s.col(colSPs, "servicePrincipal")
	for i, a := range d.apps {
		ar, sr := appResource(a, d.domain), spResource(d.sps[i], d.name)
		ar.hidden["order"] = t.nextOrder()
		sr.hidden["order"], sr.hidden["provisioning"] = ar.hidden["order"], d.sps[i].Provisioning
		s.add(apps, ar)
		s.add(sps, sr)
	}
	for _, sp := range d.sps[len(d.apps):] {
		sr := spResource(sp, "Microsoft Services")
		sr.hidden["order"] = t.nextOrder()
		s.add(sps, sr)
	}
	s.add(sps, graphSPResource(seed))

	// Groups: the names audit events reference (groupID), security and Microsoft 365 groups, one nested
	// level: department groups are members of "All Staff".
	groups := s.col(colGroups, "group")
	byName := map[string]*resource{}
	for i, name := range groupNames {
		unified := i%3 == 0
		nick := strings.ToLower(strings.ReplaceAll(name, " ", ""))
		types := []string{}
		mail := any(nil)
		proxies := []string{}
		if unified {
			types = []string{"Unified"}
			mail = nick + "@" + d.domain
			proxies = []string{"SMTP:" + nick + "@" + d.domain}
		}
		created := base.Add(-time.Duration(200+i*17) * 24 * time.Hour)
		g := &resource{id: groupID(seed, i), props: obj{
			{"id", groupID(seed, i)}, {"deletedDateTime", nil}, {"classification", nil}, {"createdDateTime", created},
			{"description", name + " members"}, {"displayName", name}, {"expirationDateTime", nil}, {"groupTypes", types},
			{"isAssignableToRole", map[bool]any{true: true, false: nil}[name == "Privileged Admins"]}, {"mail", mail},
			{"mailEnabled", unified}, {"mailNickname", nick}, {"membershipRule", nil}, {"membershipRuleProcessingState", nil},
			{"onPremisesLastSyncDateTime", nil}, {"onPremisesSecurityIdentifier", nil}, {"onPremisesSyncEnabled", nil},
			{"preferredDataLocation", map[bool]any{true: "NAM", false: nil}[unified]}, {"preferredLanguage", nil}, {"proxyAddresses", proxies}, {"renewedDateTime", created},
			{"resourceBehaviorOptions", []string{}}, {"resourceProvisioningOptions", []string{}}, {"securityEnabled", !unified},
			{"theme", nil}, {"visibility", map[bool]any{true: "Private", false: nil}[unified]}, {"onPremisesProvisioningErrors", []obj{}},
		}, hidden: map[string]any{}}
		s.add(groups, g)
		byName[name] = g
	}
	r := newRNG(seed, strKey("memberships"))
	for _, u := range d.users {
		switch {
		case u.UserType == "Guest":
			g := byName["Guests"]
			g.members = append(g.members, u.ID)
		case u.Department != "":
			g := byName[u.Department]
			g.members = append(g.members, u.ID)
		default:
			g := byName["All Staff"]
			g.members = append(g.members, u.ID)
		}
		if u.Admin {
			byName["Privileged Admins"].members = append(byName["Privileged Admins"].members, u.ID)
		}
		if u.UserType == "Member" && r.chance(0.3) {
			byName["VPN Users"].members = append(byName["VPN Users"].members, u.ID)
		}
	}
	for _, dep := range departments {
		byName["All Staff"].members = append(byName["All Staff"].members, byName[dep].id)
	}

	// Devices: the registered devices sign-ins come from.
	devices := s.col(colDevices, "device")
	managed := s.col(colManagedDevices, "managedDevice")
	for _, u := range d.users {
		prof := deviceProfiles[u.device]
		if prof.TrustType == "" {
			continue
		}
		deviceID := guidFrom(seed, strKey("device"), strKey(u.ID), uint64(u.device))
		objID := guidFrom(seed, strKey("device-object"), strKey(deviceID))
		name := fmt.Sprintf("%s-%04X", map[bool]string{true: "LAPTOP", false: "PHONE"}[prof.OS == "Windows10" || prof.OS == "MacOs"], hashOf(strKey(u.ID))&0xffff)
		reg := u.CreatedDateTime.Add(24 * time.Hour)
		s.add(devices, &resource{id: objID, props: obj{
			{"id", objID}, {"deletedDateTime", nil}, {"accountEnabled", true}, {"approximateLastSignInDateTime", base.Add(-time.Duration(hashOf(strKey(deviceID))%72) * time.Hour)},
			{"deviceId", deviceID}, {"displayName", name}, {"isCompliant", prof.Compliant}, {"isManaged", prof.Managed},
			{"operatingSystem", map[string]string{"Windows10": "Windows", "MacOs": "MacMDM", "Ios": "IPhone", "Android": "Android"}[prof.OS]},
			{"operatingSystemVersion", "10.0.22631.3527"}, {"registrationDateTime", reg}, {"trustType", map[string]string{
				"Azure AD joined": "AzureAd", "Hybrid Azure AD joined": "ServerAd", "Azure AD registered": "Workplace"}[prof.TrustType]},
		}})
		if prof.Managed {
			s.add(managed, managedDeviceResource(seed, u, prof, deviceID, name, reg, base))
		}
	}

	// Directory roles (activated) and the RBAC view of the same assignments.
	roles, defs, assigns := s.col(colDirectoryRoles, "directoryRole"), s.col(colRoleDefinitions, "unifiedRoleDefinition"), s.col(colRoleAssignments, "unifiedRoleAssignment")
	for _, br := range builtInRoles {
		rid := guidFrom(seed, strKey("directory-role"), strKey(br.id))
		role := &resource{id: rid, props: obj{{"id", rid}, {"deletedDateTime", nil}, {"description", br.desc},
			{"displayName", br.name}, {"roleTemplateId", br.id}}}
		s.add(roles, role)
		s.add(defs, &resource{id: br.id, props: obj{{"id", br.id}, {"description", br.desc}, {"displayName", br.name},
			{"isBuiltIn", true}, {"isEnabled", true}, {"resourceScopes", []string{"/"}}, {"templateId", br.id}, {"version", "1"},
			{"rolePermissions", []obj{{{"allowedResourceActions", []string{"microsoft.directory/*/allProperties/read"}}, {"condition", nil}}}}}})
	}
	assign := func(roleTemplate, principal string) {
		role := roles.get(guidFrom(seed, strKey("directory-role"), strKey(roleTemplate)))
		role.members = append(role.members, principal)
		aid := strings.ReplaceAll(guidFrom(seed, strKey("role-assignment"), strKey(roleTemplate), strKey(principal)), "-", "")
		s.add(assigns, &resource{id: aid, props: obj{{"id", aid}, {"principalId", principal}, {"directoryScopeId", "/"},
			{"roleDefinitionId", roleTemplate}}})
	}
	for _, u := range d.users {
		if u.Admin {
			assign(roleGlobalAdmin, u.ID)
		}
	}
	for i, u := range d.users {
		if u.UserType == "Member" && !u.Admin && i%25 == 3 {
			assign(roleUserAdmin, u.ID)
		}
	}
	assign(roleGlobalReader, d.sps[len(d.apps)-1].ID) // the integration's service principal reads the directory

	// Authentication methods and the registration report derived from them.
	reg := s.col(colRegistration, "userRegistrationDetails")
	for _, u := range d.users {
		ur := users.get(u.ID)
		methods, def := authMethods(u, seed, base)
		ur.hidden["methods"] = methods
		ur.hidden["defaultMethod"] = def
		s.add(reg, registrationResource(u, methods, def, base))
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
		s.add(ca, &resource{id: id, props: obj{
			{"id", id}, {"displayName", p.Name}, {"createdDateTime", base.Add(-time.Duration(100+i) * 24 * time.Hour)}, {"modifiedDateTime", nil},
			{"state", state}, {"sessionControls", nil},
			{"conditions", obj{{"signInRiskLevels", map[bool][]string{true: {"medium", "high"}, false: {}}[i == 3]}, {"clientAppTypes", clientApps},
				{"platforms", nil}, {"locations", nil},
				{"applications", obj{{"includeApplications", apps}, {"excludeApplications", []string{}}, {"includeUserActions", []string{}}}},
				{"users", obj{{"includeUsers", includeUsers}, {"excludeUsers", []string{}}, {"includeGroups", []string{}}, {"excludeGroups", []string{groupID(seed, 2)}},
					{"includeRoles", includeRoles}, {"excludeRoles", []string{}}}}}},
			{"grantControls", obj{{"operator", "OR"}, {"builtInControls", grant}, {"customAuthenticationFactors", []string{}}, {"termsOfUse", []string{}}}},
		}})
	}
	corp := guidFrom(seed, strKey("named-location"), 1)
	s.add(locs, &resource{id: corp, props: obj{{"@odata.type", "#microsoft.graph.ipNamedLocation"}, {"id", corp},
		{"displayName", "Corporate network"}, {"modifiedDateTime", base.Add(-90 * 24 * time.Hour)}, {"createdDateTime", base.Add(-400 * 24 * time.Hour)},
		{"isTrusted", true}, {"ipRanges", []obj{{{"@odata.type", "#microsoft.graph.iPv4CidrRange"}, {"cidrAddress", "131.107.0.0/16"}}}}}})
	blocked := guidFrom(seed, strKey("named-location"), 2)
	s.add(locs, &resource{id: blocked, props: obj{{"@odata.type", "#microsoft.graph.countryNamedLocation"}, {"id", blocked},
		{"displayName", "Blocked countries"}, {"modifiedDateTime", base.Add(-30 * 24 * time.Hour)}, {"createdDateTime", base.Add(-300 * 24 * time.Hour)},
		{"countriesAndRegions", []string{"KP", "IR"}}, {"includeUnknownCountriesAndRegions", false}, {"countryLookupMethod", "clientIpAddress"}}})

	// Identity Protection: a few risky users, each with a risk detection.
	risky, detections := s.col(colRiskyUsers, "riskyUser"), s.col(colRiskDetections, "riskDetection")
	rr := newRNG(seed, strKey("risky-users"))
	for i := 0; i < max(1, len(d.users)/40); i++ {
		u := d.users[rr.intn(len(d.users))]
		if risky.get(u.ID) != nil {
			continue
		}
		when := base.Add(-time.Duration(1+rr.intn(20*24)) * time.Hour)
		level := pick(rr, []string{"low", "medium", "high"})
		s.add(risky, &resource{id: u.ID, props: obj{{"@odata.type", "#microsoft.graph.riskyUser"}, {"id", u.ID}, {"isDeleted", false},
			{"isProcessing", false}, {"riskLastUpdatedDateTime", when}, {"riskLevel", level}, {"riskState", "atRisk"},
			{"riskDetail", "none"}, {"userDisplayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName}}})
		did := guidFrom(seed, strKey("risk-detection"), strKey(u.ID))
		p := places[rr.intn(len(places))]
		s.add(detections, &resource{id: did, props: obj{{"@odata.type", "#microsoft.graph.riskDetection"}, {"id", did},
			{"requestId", guidFrom(seed, strKey("risk-request"), strKey(did))}, {"correlationId", guidFrom(seed, strKey("risk-correlation"), strKey(did))},
			{"riskEventType", pick(rr, []string{"unfamiliarFeatures", "anonymizedIPAddress", "unlikelyTravel", "passwordSpray"})},
			{"riskState", "atRisk"}, {"riskLevel", level}, {"riskDetail", "none"}, {"source", "IdentityProtection"},
			{"detectionTimingType", "realtime"}, {"activity", "signin"}, {"tokenIssuerType", "AzureAD"},
			{"ipAddress", ipFor(p, rr.next())}, {"location", obj{{"city", p.City}, {"state", p.State}, {"countryOrRegion", p.Country},
				{"geoCoordinates", obj{{"latitude", p.Lat}, {"longitude", p.Lon}}}}},
			{"activityDateTime", when.Add(-2 * time.Minute)}, {"detectedDateTime", when}, {"lastUpdatedDateTime", when},
			{"userId", u.ID}, {"userDisplayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName},
			{"additionalInfo", `[{"Key":"userAgent","Value":"` + userAgents[0] + `"}]`}}})
	}
}

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

// registrationResource is a user's row of the authentication methods registration report.
func registrationResource(u *User, methods []obj, def string, base time.Time) *resource {
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
	preferred := ""
	system := []string{}
	switch {
	case def == methodMobile:
		preferred, system = "sms", []string{"sms"}
	case def != "":
		preferred, system = "push", []string{"push"}
	}
	sspr := slices.Contains(registered, "mobilePhone") || slices.Contains(registered, "email")
	return &resource{id: u.ID, props: obj{
		{"id", u.ID}, {"userPrincipalName", u.UserPrincipalName}, {"userDisplayName", u.DisplayName}, {"isAdmin", u.Admin},
		{"isSsprRegistered", sspr}, {"isSsprEnabled", u.UserType == "Member"}, {"isSsprCapable", sspr && u.UserType == "Member"},
		{"isMfaRegistered", mfa}, {"isMfaCapable", mfa}, {"isPasswordlessCapable", slices.Contains(registered, "fido2") || slices.Contains(registered, "windowsHelloForBusiness")},
		{"lastUpdatedDateTime", base.Truncate(24 * time.Hour)}, {"methodsRegistered", nonNil(registered)},
		{"isSystemPreferredAuthenticationMethodEnabled", true}, {"systemPreferredAuthenticationMethods", system},
		{"userPreferredMethodForSecondaryAuthentication", preferred}, {"userType", strings.ToLower(u.UserType)},
	}}
}

// managedDeviceResource is an Intune managed device with every property of the managedDevice example
// (intune-devices-manageddevice-list.md).
func managedDeviceResource(seed uint64, u *User, prof deviceProfile, deviceID, name string, enrolled, base time.Time) *resource {
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
	health := obj{{"@odata.type", "microsoft.graph.deviceHealthAttestationState"}}
	for _, k := range []string{"lastUpdateDateTime", "contentNamespaceUrl", "deviceHealthAttestationStatus", "contentVersion"} {
		health = append(health, kv{k, ""})
	}
	health = append(health, kv{"issuedDateTime", synced}, kv{"attestationIdentityKey", ""}, kv{"resetCount", 0}, kv{"restartCount", r.intn(40)})
	for _, k := range []string{"dataExcutionPolicy", "bitLockerStatus", "bootManagerVersion", "codeIntegrityCheckVersion", "secureBoot",
		"bootDebugging", "operatingSystemKernelDebugging", "codeIntegrity", "testSigning", "safeMode", "windowsPE",
		"earlyLaunchAntiMalwareDriverProtection", "virtualSecureMode", "pcrHashAlgorithm", "bootAppSecurityVersion",
		"bootManagerSecurityVersion", "tpmVersion", "pcr0", "secureBootConfigurationPolicyFingerPrint", "codeIntegrityPolicy",
		"bootRevisionListInfo", "operatingSystemRevListInfo", "healthStatusMismatchInfo", "healthAttestationSupportedStatus"} {
		v := ""
		switch k {
		case "bitLockerStatus", "secureBoot", "codeIntegrity":
			if os == "Windows" {
				v = "enabled"
			}
		case "tpmVersion":
			if os == "Windows" {
				v = "2.0"
			}
		}
		health = append(health, kv{k, v})
	}
	actions := []obj{}
	if r.chance(0.3) {
		actions = append(actions, obj{{"@odata.type", "microsoft.graph.deviceActionResult"}, {"actionName", "syncDevice"},
			{"actionState", "done"}, {"startDateTime", synced.Add(-time.Hour)}, {"lastUpdatedDateTime", synced}})
	}
	return &resource{id: mid, props: obj{
		{"@odata.type", "#microsoft.graph.managedDevice"}, {"id", mid}, {"userId", u.ID}, {"deviceName", name},
		{"managedDeviceOwnerType", "company"}, {"deviceActionResults", actions}, {"enrolledDateTime", enrolled},
		{"lastSyncDateTime", synced}, {"operatingSystem", os},
		{"complianceState", map[bool]string{true: "compliant", false: "noncompliant"}[prof.Compliant]},
		{"jailBroken", map[bool]string{true: "False", false: "Unknown"}[mobile]}, {"managementAgent", "mdm"},
		{"osVersion", osVersion}, {"easActivated", mobile}, {"easDeviceId", str(fmt.Sprintf("%X", hashOf(strKey(mid), 1)))},
		{"easActivationDateTime", enrolled}, {"azureADRegistered", true},
		{"deviceEnrollmentType", map[bool]string{true: "userEnrollment", false: "windowsAzureADJoin"}[mobile]},
		{"activationLockBypassCode", map[bool]any{true: fmt.Sprintf("%05X-%05X", hashOf(strKey(mid), 5)&0xfffff, hashOf(strKey(mid), 6)&0xfffff), false: nil}[os == "iOS"]}, {"emailAddress", u.Mail}, {"azureADDeviceId", deviceID},
		{"deviceRegistrationState", "registered"}, {"deviceCategoryDisplayName", "Unknown category"}, {"isSupervised", false},
		{"exchangeLastSuccessfulSyncDateTime", synced}, {"exchangeAccessState", "none"}, {"exchangeAccessStateReason", "none"},
		{"remoteAssistanceSessionUrl", ""}, {"remoteAssistanceSessionErrorDetails", ""}, {"isEncrypted", prof.Compliant},
		{"userPrincipalName", u.UserPrincipalName}, {"model", model}, {"manufacturer", maker}, {"imei", str(fmt.Sprintf("35%013d", hashOf(strKey(mid), 2)%1e13))},
		{"complianceGracePeriodExpirationDateTime", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"serialNumber", fmt.Sprintf("%012d", hashOf(strKey(mid))%1e12)}, {"phoneNumber", str(fmt.Sprintf("+1206555%04d", hashOf(strKey(mid), 3)%10000))},
		{"androidSecurityPatchLevel", map[bool]string{true: "2024-05-01", false: ""}[os == "Android"]}, {"userDisplayName", u.DisplayName},
		{"configurationManagerClientEnabledFeatures", clientFeatures(os)}, {"wiFiMacAddress", fmt.Sprintf("%012X", hashOf(strKey(mid), 4)&0xffffffffffff)},
		{"deviceHealthAttestationState", health}, {"subscriberCarrier", str("Contoso Mobile")}, {"meid", str("")},
		{"totalStorageSpaceInBytes", 256 << 30}, {"freeStorageSpaceInBytes", (64 + r.intn(128)) << 30},
		{"managedDeviceName", u.UserPrincipalName[:strings.IndexByte(u.UserPrincipalName, '@')] + "_" + os + "_" + enrolled.Format("1/2/2006_3:04 PM")},
		{"partnerReportedThreatState", "unknown"}, {"requireUserEnrollmentApproval", false},
		{"managementCertificateExpirationDate", enrolled.Add(365 * 24 * time.Hour)}, {"iccid", str("")}, {"udid", str("")},
		{"notes", ""}, {"ethernetMacAddress", map[bool]any{true: fmt.Sprintf("%012X", hashOf(strKey(mid), 7)&0xffffffffffff), false: nil}[os == "Windows"]},
		{"physicalMemoryInBytes", 0},
	}}
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

// identifierURIs gives apps that expose an API (every other one) an api://<appId> URI.
func identifierURIs(a *Application) []string {
	if hashOf(strKey(a.AppID))%2 == 0 {
		return []string{"api://" + a.AppID}
	}
	return []string{}
}
