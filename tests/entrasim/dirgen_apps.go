package entrasim

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Applications, service principals, devices, directory roles, role definitions and administrative units as
// Graph renders them: every schema property, with the security-relevant ones varied across objects (sign-in
// audience, implicit grant, public client and SPA redirect URIs, verified publishers, certificate and secret
// credentials with some expired, high-privilege permissions, SAML single sign-on, rooted and personal devices).

// Delegated permission ids of Microsoft Graph used in requiredResourceAccess (scopes).
const (
	scopeUserRead       = "e1fe6dd8-ba31-4d61-89e7-88639da4683d" // User.Read
	scopeOpenID         = "37f7f235-527c-4136-accd-4a02d197296e" // openid
	scopeProfile        = "14dad69e-099b-42c9-810b-d002981feec1" // profile
	scopeOfflineAccess  = "7427e0e9-2fba-42fe-b0c0-848c9e6a8182" // offline_access
	intuneAppID         = "0000000a-0000-0000-c000-000000000000" // Microsoft Intune (devices' mdmAppId)
	microsoftServicesID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a" // Microsoft's own tenant
)

// appFacts are the per-application choices.
type appFacts struct {
	audience        string
	implicitToken   bool
	implicitID      bool
	publicClient    bool
	spa             bool
	web             bool
	verified        bool
	exposesAPI      bool
	certificate     bool
	certExpired     bool
	highPrivilege   bool
	groupClaims     bool
	lockEnabled     bool
	saml            bool
	assignmentReq   bool
	appRoles        bool
	fallbackPublic  bool
	certStart, cEnd time.Time
	key             uint64
}

func (t *Tenant) appFacts(appID string) appFacts {
	x := newRNG(uint64(t.cfg.Seed), strKey("app-facts"), strKey(appID))
	f := appFacts{audience: appAudience(uint64(t.cfg.Seed), appID), key: x.next()}
	f.web = x.chance(0.6)
	f.implicitID = f.web && x.chance(0.3)
	f.implicitToken = f.implicitID && x.chance(0.5)
	f.publicClient = x.chance(0.25)
	f.fallbackPublic = f.publicClient && x.chance(0.3)
	f.spa = x.chance(0.2)
	f.verified = f.audience != "AzureADMyOrg" && x.chance(0.6)
	f.exposesAPI = hashOf(strKey(appID))%2 == 0 // as identifierURIs decides
	f.certificate = x.chance(0.35)
	f.certExpired = f.certificate && x.chance(0.3)
	f.highPrivilege = x.chance(0.15)
	f.groupClaims = x.chance(0.2)
	f.lockEnabled = x.chance(0.5)
	f.saml = x.chance(0.2)
	f.assignmentReq = f.saml || x.chance(0.2)
	f.appRoles = x.chance(0.3)
	f.certStart = t.cfg.start.Add(-time.Duration(30+x.intn(700)) * 24 * time.Hour).Truncate(time.Second)
	f.cEnd = f.certStart.Add(365 * 24 * time.Hour)
	if f.certExpired {
		f.cEnd = t.cfg.start.Add(-time.Duration(1+x.intn(120)) * 24 * time.Hour).Truncate(time.Second)
		if f.cEnd.Before(f.certStart) {
			f.certStart = f.cEnd.Add(-365 * 24 * time.Hour)
		}
	} else if !f.cEnd.After(t.cfg.start) {
		f.cEnd = t.cfg.start.Add(time.Duration(10+x.intn(300)) * 24 * time.Hour).Truncate(time.Second)
	}
	return f
}

func (f appFacts) appRoleObjs(appID string) []obj {
	if !f.appRoles {
		return []obj{}
	}
	var out []obj
	for i, v := range []string{"Reader", "Writer", "Admin"} {
		out = append(out, obj{{"allowedMemberTypes", []string{"User"}}, {"description", v + " access"}, {"displayName", v},
			{"id", guidFrom(strKey(appID), strKey("app-role"), uint64(i))}, {"isEnabled", true}, {"origin", "Application"}, {"value", v}})
	}
	return out
}

func (f appFacts) scopeObjs(appID, name string) []obj {
	if !f.exposesAPI {
		return []obj{}
	}
	return []obj{{{"adminConsentDescription", "Allow the application to access " + name + " on behalf of the signed-in user."},
		{"adminConsentDisplayName", "Access " + name}, {"id", guidFrom(strKey(appID), strKey("scope"))}, {"isEnabled", true},
		{"origin", "Application"}, {"type", "User"}, {"userConsentDescription", "Allow the application to access " + name + " on your behalf."},
		{"userConsentDisplayName", "Access " + name}, {"value", "user_impersonation"}}}
}

func (f appFacts) keyCredentialObjs(appID, name string) []obj {
	if !f.certificate {
		return []obj{}
	}
	thumb := make([]byte, 20)
	h := hashOf(f.key, 1)
	for i := range thumb {
		thumb[i] = byte(h >> (8 * (i % 8)))
		if i%8 == 7 {
			h = mix64(h)
		}
	}
	return []obj{{{"customKeyIdentifier", base64.StdEncoding.EncodeToString(thumb)}, {"displayName", "CN=" + name},
		{"endDateTime", f.cEnd}, {"key", nil}, {"keyId", guidFrom(strKey(appID), strKey("certificate"))},
		{"startDateTime", f.certStart}, {"type", "AsymmetricX509Cert"}, {"usage", "Verify"}}}
}

func verifiedPublisher(verified bool, name string, at time.Time) obj {
	if !verified {
		return obj{{"addedDateTime", nil}, {"displayName", nil}, {"verifiedPublisherId", nil}}
	}
	return obj{{"addedDateTime", at}, {"displayName", name}, {"verifiedPublisherId", fmt.Sprintf("%07d", hashOf(strKey(name))%10000000)}}
}

// appProps renders an application registration with every schema property.
func (t *Tenant) appProps(a *Application) obj {
	f := t.appFacts(a.AppID)
	slug := strings.ToLower(strings.ReplaceAll(a.DisplayName, " ", "-"))
	access := []obj{}
	if len(a.Roles) > 0 {
		var ra []obj
		for _, r := range a.Roles {
			ra = append(ra, obj{{"id", appRoleIDs[r]}, {"type", "Role"}})
		}
		access = append(access, obj{{"resourceAppId", GraphAppID}, {"resourceAccess", ra}})
	} else {
		ra := []obj{{{"id", scopeUserRead}, {"type", "Scope"}}, {{"id", scopeOpenID}, {"type", "Scope"}}, {{"id", scopeProfile}, {"type", "Scope"}}}
		if f.publicClient {
			ra = append(ra, obj{{"id", scopeOfflineAccess}, {"type", "Scope"}})
		}
		if f.highPrivilege {
			ra = append(ra, obj{{"id", appRoleIDs["Directory.ReadWrite.All"]}, {"type", "Role"}})
		}
		access = append(access, obj{{"resourceAppId", GraphAppID}, {"resourceAccess", ra}})
	}
	web := obj{{"homePageUrl", nil}, {"implicitGrantSettings", obj{{"enableAccessTokenIssuance", f.implicitToken}, {"enableIdTokenIssuance", f.implicitID}}},
		{"logoutUrl", nil}, {"redirectUris", []string{}}, {"redirectUriSettings", []obj{}}}
	if f.web {
		uri := "https://" + slug + "." + strings.TrimSuffix(t.dir.domain, ".onmicrosoft.com") + ".com/signin-oidc"
		web = obj{{"homePageUrl", "https://" + slug + "." + strings.TrimSuffix(t.dir.domain, ".onmicrosoft.com") + ".com/"},
			{"implicitGrantSettings", obj{{"enableAccessTokenIssuance", f.implicitToken}, {"enableIdTokenIssuance", f.implicitID}}},
			{"logoutUrl", nil}, {"redirectUris", []string{uri}}, {"redirectUriSettings", []obj{{{"uri", uri}, {"index", nil}}}}}
	}
	public := []string{}
	if f.publicClient {
		public = []string{"msal" + a.AppID + "://auth", "http://localhost"}
	}
	spa := []string{}
	if f.spa {
		spa = []string{"https://" + slug + ".app.example.com/"}
	}
	var lock, groupClaims, tokenVersion any
	if f.lockEnabled {
		lock = obj{{"allProperties", true}, {"credentialsWithUsageSign", true}, {"credentialsWithUsageVerify", true},
			{"isEnabled", true}, {"tokenEncryptionKeyId", true}}
	}
	if f.groupClaims {
		groupClaims = "SecurityGroup"
	}
	if f.exposesAPI {
		tokenVersion = 2
	}
	return obj{
		{"id", a.ID},
		{"deletedDateTime", nil},
		{"addIns", []obj{}},
		{"api", obj{{"acceptMappedClaims", nil}, {"knownClientApplications", []string{}}, {"oauth2PermissionScopes", f.scopeObjs(a.AppID, a.DisplayName)},
			{"preAuthorizedApplications", []obj{}}, {"requestedAccessTokenVersion", tokenVersion}}},
		{"appId", a.AppID},
		{"applicationTemplateId", nil},
		{"appRoles", f.appRoleObjs(a.AppID)},
		{"authenticationBehaviors", nil},
		{"certification", nil},
		{"createdByAppId", nil},
		{"createdDateTime", a.CreatedDateTime},
		{"defaultRedirectUri", nil},
		{"description", nil},
		{"disabledByMicrosoftStatus", nil},
		{"displayName", a.DisplayName},
		{"groupMembershipClaims", groupClaims},
		{"identifierUris", identifierURIs(a)},
		{"info", obj{{"logoUrl", nil}, {"marketingUrl", nil}, {"privacyStatementUrl", nil}, {"supportUrl", nil}, {"termsOfServiceUrl", nil}}},
		{"isDeviceOnlyAuthSupported", nil},
		{"isDisabled", nil},
		{"isFallbackPublicClient", f.fallbackPublic},
		{"keyCredentials", f.keyCredentialObjs(a.AppID, a.DisplayName)},
		{"managerApplications", []string{}},
		{"nativeAuthenticationApisEnabled", nil},
		{"notes", nil},
		{"oauth2RequirePostResponse", false},
		{"optionalClaims", nil},
		{"parentalControlSettings", obj{{"countriesBlockedForMinors", []string{}}, {"legalAgeGroupRule", "Allow"}}},
		{"passwordCredentials", passwordCredentialObjs(a.PasswordCredentials)},
		{"publicClient", obj{{"redirectUris", public}}},
		{"publisherDomain", t.dir.domain},
		{"requestSignatureVerification", nil},
		{"requiredResourceAccess", access},
		{"samlMetadataUrl", nil},
		{"serviceManagementReference", nil},
		{"servicePrincipalLockConfiguration", lock},
		{"signInAudience", a.SignInAudience},
		{"spa", obj{{"redirectUris", spa}}},
		{"tags", []string{}},
		{"tokenEncryptionKeyId", nil},
		{"uniqueName", nil},
		{"verifiedPublisher", verifiedPublisher(f.verified, t.dir.name, a.CreatedDateTime.Add(24*time.Hour))},
		{"web", web},
	}
}

// appAudience draws a generated application's sign-in audience: mostly single-tenant, some multi-tenant.
func appAudience(seed uint64, appID string) string {
	switch v := newRNG(seed, strKey("app-audience"), strKey(appID)).float(); {
	case v < 0.2:
		return "AzureADMultipleOrgs"
	case v < 0.25:
		return "AzureADandPersonalMicrosoftAccount"
	}
	return "AzureADMyOrg"
}

// passwordCredentialObjs renders secrets as Graph shows them: the hint, never the text.
func passwordCredentialObjs(secrets []PasswordCredential) []obj {
	out := []obj{}
	for _, s := range secrets {
		out = append(out, obj{
			{"customKeyIdentifier", nil}, {"displayName", nilIfEmpty(s.DisplayName)}, {"endDateTime", s.EndDateTime},
			{"hint", s.Hint}, {"keyId", s.KeyID}, {"secretText", nil}, {"startDateTime", s.StartDateTime},
		})
	}
	return out
}

// identifierURIs gives apps that expose an API (every other one) an api://<appId> URI.
func identifierURIs(a *Application) []string {
	if hashOf(strKey(a.AppID))%2 == 0 {
		return []string{"api://" + a.AppID}
	}
	return []string{}
}

// spProps renders a service principal with every schema property. app is its application (nil for managed
// identities and Microsoft's own principals).
func (t *Tenant) spProps(sp *ServicePrincipal, app *Application, created time.Time) obj {
	names := []string{sp.AppID}
	names = append(names, sp.AlternativeNames...)
	var f appFacts
	if app != nil {
		f = t.appFacts(app.AppID)
		if f.exposesAPI {
			names = append(names, "api://"+app.AppID)
		}
	}
	tags := []string{}
	audience := "AzureADMyOrg"
	var sso, samlSettings, thumbprint, homepage any
	notify, replyURLs := []string{}, []string{}
	roles, scopes := []obj{}, []obj{}
	switch {
	case sp.ServicePrincipalType == "ManagedIdentity":
		audience = "AzureADMyOrg"
	case app != nil:
		tags = []string{"WindowsAzureActiveDirectoryIntegratedApp"}
		audience = app.SignInAudience
		roles, scopes = f.appRoleObjs(app.AppID), f.scopeObjs(app.AppID, app.DisplayName)
		if f.saml {
			sso, samlSettings = "saml", obj{{"relayState", nil}}
			thumbprint = fmt.Sprintf("%040X", hashOf(f.key, 2))[:40]
			notify = []string{"admin@" + t.dir.domain}
		} else if f.web {
			sso = "oidc"
			slug := strings.ToLower(strings.ReplaceAll(app.DisplayName, " ", "-"))
			homepage = "https://" + slug + "." + strings.TrimSuffix(t.dir.domain, ".onmicrosoft.com") + ".com/"
			replyURLs = []string{homepage.(string) + "signin-oidc"}
		}
	default:
		audience = "AzureADMultipleOrgs"
	}
	var info obj = obj{{"logoUrl", nil}, {"marketingUrl", nil}, {"privacyStatementUrl", nil}, {"supportUrl", nil}, {"termsOfServiceUrl", nil}}
	verified := app != nil && f.verified
	pubName := t.dir.name
	if app == nil && sp.ServicePrincipalType != "ManagedIdentity" {
		verified, pubName = true, "Microsoft Corporation"
	}
	return obj{
		{"id", sp.ID},
		{"deletedDateTime", nil},
		{"accountEnabled", sp.AccountEnabled},
		{"addIns", []obj{}},
		{"alternativeNames", nonNil(sp.AlternativeNames)},
		{"appDescription", nil},
		{"appDisplayName", sp.DisplayName},
		{"appId", sp.AppID},
		{"applicationTemplateId", nil},
		{"appOwnerOrganizationId", nilIfEmpty(sp.AppOwnerOrganizationID)},
		{"appRoleAssignmentRequired", app != nil && f.assignmentReq},
		{"appRoles", roles},
		{"createdByAppId", nil},
		{"customSecurityAttributes", nil},
		{"description", nil},
		{"disabledByMicrosoftStatus", nil},
		{"displayName", sp.DisplayName},
		{"homepage", homepage},
		{"info", info},
		{"isDisabled", nil},
		{"keyCredentials", []obj{}},
		{"loginUrl", nil},
		{"logoutUrl", nil},
		{"notes", nil},
		{"notificationEmailAddresses", notify},
		{"oauth2PermissionScopes", scopes},
		{"passwordCredentials", []obj{}},
		{"preferredSingleSignOnMode", sso},
		{"preferredTokenSigningKeyThumbprint", thumbprint},
		{"replyUrls", replyURLs},
		{"resourceSpecificApplicationPermissions", []obj{}},
		{"samlSingleSignOnSettings", samlSettings},
		{"servicePrincipalNames", names},
		{"servicePrincipalType", sp.ServicePrincipalType},
		{"signInAudience", audience},
		{"tags", tags},
		{"tokenEncryptionKeyId", nil},
		{"verifiedPublisher", verifiedPublisher(verified, pubName, created)},
	}
}

// deviceSeed is a registered device: its owner (a generated user) and kind.
type deviceSeed struct {
	user  int32
	extra bool // a second, personal device (not one sign-ins come from)
}

// deviceProps renders a device with every schema property.
func (t *Tenant) deviceProps(ds deviceSeed) obj {
	u := &t.gen.cast.users[ds.user]
	seed := uint64(t.cfg.Seed)
	base := t.cfg.start.Truncate(time.Second)
	prof := deviceProfiles[u.device]
	deviceID := guidFrom(seed, strKey("device"), strKey(u.ID), uint64(u.device))
	name := fmt.Sprintf("%s-%04X", map[bool]string{true: "LAPTOP", false: "PHONE"}[prof.OS == "Windows10" || prof.OS == "MacOs"], hashOf(strKey(u.ID))&0xffff)
	reg := u.CreatedDateTime.Add(24 * time.Hour)
	lastSignIn := base.Add(-time.Duration(hashOf(strKey(deviceID))%72) * time.Hour)
	x := newRNG(seed, strKey("device-facts"), strKey(deviceID))
	os := map[string]string{"Windows10": "Windows", "MacOs": "MacMDM", "Ios": "IPhone", "Android": "Android"}[prof.OS]
	version := map[string]string{"Windows": "10.0.22631.3527", "MacMDM": "14.4.1", "IPhone": "17.4.1", "Android": "14.0"}[os]
	trust := map[string]string{"Azure AD joined": "AzureAd", "Hybrid Azure AD joined": "ServerAd", "Azure AD registered": "Workplace"}[prof.TrustType]
	managed, compliant := prof.Managed, prof.Compliant
	if ds.extra {
		// A personal Android phone registered to the user; a few are rooted.
		deviceID = guidFrom(seed, strKey("device-extra"), strKey(u.ID))
		name = fmt.Sprintf("ANDROID-%04X", hashOf(strKey(u.ID), 9)&0xffff)
		os, version, trust, managed, compliant = "Android", "13.0", "Workplace", x.chance(0.5), false
		reg = reg.Add(time.Duration(1+x.intn(300)) * 24 * time.Hour)
		if reg.After(base) {
			reg = base.Add(-time.Duration(1+x.intn(30)) * 24 * time.Hour)
		}
		lastSignIn = base.Add(-time.Duration(x.intn(60*24)) * time.Hour)
		compliant = managed && x.chance(0.7)
	}
	maker := map[string]string{"Windows": "Microsoft Corporation", "MacMDM": "Apple", "IPhone": "Apple", "Android": "Google"}[os]
	model := map[string]string{"Windows": "Surface Laptop 5", "MacMDM": "MacBook Pro", "IPhone": "iPhone 15", "Android": "Pixel 8"}[os]
	ownership := "Company"
	if trust == "Workplace" {
		ownership = "Personal"
	}
	var mgmt, mdm, enrollment, complianceExp any
	if managed {
		mgmt, mdm = "MDM", intuneAppID
		enrollment = "windowsAzureADJoin"
		if os != "Windows" {
			enrollment = "userEnrollment"
		}
		if !compliant {
			complianceExp = base.Add(time.Duration(1+x.intn(7)) * 24 * time.Hour)
		}
	}
	var adSID, adSync, adLast any
	if trust == "ServerAd" {
		adSID = t.onPremSID(700000 + int(hashOf(strKey(deviceID))%200000))
		adSync = true
		adLast = base.Add(-time.Duration(1+x.intn(1800)) * time.Second)
	}
	key := make([]byte, 24)
	h := hashOf(strKey(deviceID), 11)
	for i := range key {
		key[i] = byte(h >> (8 * (i % 8)))
		if i%8 == 7 {
			h = mix64(h)
		}
	}
	physical := []string{"[USER-GID]:" + u.ID + ":" + fmt.Sprint(hashOf(strKey(deviceID), 12)%9000000000000+1000000000000),
		"[GID]:g:" + fmt.Sprint(hashOf(strKey(deviceID), 13)%9000000000000+1000000000000)}
	if os == "Windows" {
		physical = append(physical, "[HWID]:h:"+fmt.Sprint(hashOf(strKey(deviceID), 14)%9000000000000+1000000000000))
	}
	return obj{
		{"id", deviceObjectID(seed, deviceID)},
		{"deletedDateTime", nil},
		{"accountEnabled", true},
		{"alternativeSecurityIds", []obj{{{"identityProvider", nil}, {"key", base64.StdEncoding.EncodeToString(key)}, {"type", 2}}}},
		{"approximateLastSignInDateTime", lastSignIn},
		{"complianceExpirationDateTime", complianceExp},
		{"deviceCategory", nil},
		{"deviceId", deviceID},
		{"deviceMetadata", nil},
		{"deviceOwnership", ownership},
		{"deviceVersion", 2},
		{"displayName", name},
		{"enrollmentProfileName", nil},
		{"enrollmentType", enrollment},
		{"isCompliant", compliant},
		{"isManaged", managed},
		{"isManagementRestricted", nil},
		{"isRooted", ds.extra && x.chance(0.08)},
		{"managementType", mgmt},
		{"manufacturer", maker},
		{"mdmAppId", mdm},
		{"model", model},
		{"onPremisesLastSyncDateTime", adLast},
		{"onPremisesSecurityIdentifier", adSID},
		{"onPremisesSyncEnabled", adSync},
		{"operatingSystem", os},
		{"operatingSystemVersion", version},
		{"physicalIds", physical},
		{"profileType", "RegisteredDevice"},
		{"registrationDateTime", reg},
		{"systemLabels", []string{}},
		{"trustType", trust},
	}
}

func deviceObjectID(seed uint64, deviceID string) string {
	return guidFrom(seed, strKey("device-object"), strKey(deviceID))
}

// Directory roles: templates of built-in roles (ids as published in "Microsoft Entra built-in roles").
var builtInRoles = []struct{ id, name, desc string }{
	{roleGlobalAdmin, "Global Administrator", "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."},
	{roleGlobalReader, "Global Reader", "Can read everything that a Global Administrator can, but not update anything."},
	{roleUserAdmin, "User Administrator", "Can manage all aspects of users and groups, including resetting passwords for limited admins."},
	{roleSecurityReader, "Security Reader", "Can read security information and reports in Microsoft Entra ID and Office 365."},
	{roleSecurityAdmin, "Security Administrator", "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365."},
	{roleAppAdmin, "Application Administrator", "Can create and manage all aspects of app registrations and enterprise apps."},
	{roleExchangeAdmin, "Exchange Administrator", "Can manage all aspects of the Exchange product."},
	{rolePrivRoleAdmin, "Privileged Role Administrator", "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."},
}

// activeRoles is how many of builtInRoles are activated (have a directoryRole object) at the start.
const activeRoles = 6

func roleTemplate(id string) int {
	return slices.IndexFunc(builtInRoles, func(r struct{ id, name, desc string }) bool { return r.id == id })
}

func directoryRoleID(seed uint64, template string) string {
	return guidFrom(seed, strKey("directory-role"), strKey(template))
}

func directoryRoleProps(seed uint64, i int) obj {
	br := builtInRoles[i]
	return obj{{"id", directoryRoleID(seed, br.id)}, {"deletedDateTime", nil}, {"description", br.desc},
		{"displayName", br.name}, {"roleTemplateId", br.id}}
}

func roleDefinitionProps(i int) obj {
	br := builtInRoles[i]
	actions := []string{"microsoft.directory/*/allProperties/read"}
	switch br.id {
	case roleGlobalAdmin:
		actions = []string{"microsoft.directory/*/allTasks", "microsoft.azure.serviceHealth/allEntities/allTasks"}
	case roleUserAdmin:
		actions = []string{"microsoft.directory/users/allProperties/allTasks", "microsoft.directory/groups/allProperties/allTasks"}
	case roleAppAdmin:
		actions = []string{"microsoft.directory/applications/allProperties/allTasks", "microsoft.directory/servicePrincipals/allProperties/allTasks"}
	}
	return obj{{"id", br.id}, {"description", br.desc}, {"displayName", br.name}, {"isBuiltIn", true}, {"isEnabled", true},
		{"resourceScopes", []string{"/"}}, {"rolePermissions", []obj{{{"allowedResourceActions", actions}, {"condition", nil}, {"excludedResourceActions", []string{}}}}},
		{"templateId", br.id}, {"version", "1"}}
}

// customRoleProps is the tenant's custom role (isBuiltIn false).
func customRoleProps(seed uint64) obj {
	id := guidFrom(seed, strKey("custom-role"))
	return obj{{"id", id}, {"description", "Reads app registrations and resets application credentials."},
		{"displayName", "Application Credential Operator"}, {"isBuiltIn", false}, {"isEnabled", true}, {"resourceScopes", []string{"/"}},
		{"rolePermissions", []obj{{{"allowedResourceActions", []string{"microsoft.directory/applications/credentials/update",
			"microsoft.directory/applications/standard/read"}}, {"condition", nil}, {"excludedResourceActions", []string{}}}}},
		{"templateId", id}, {"version", nil}}
}

// adminUnitFacts describe the generated administrative units: one per country users live in, dynamic for the
// largest.
func adminUnitProps(id, country string, dynamic, restricted bool) obj {
	var rule, state, typ any
	if dynamic {
		rule, state, typ = fmt.Sprintf(`(user.usageLocation -eq "%s")`, country), "On", "Dynamic"
	}
	var visibility any
	if restricted {
		visibility = "HiddenMembership"
	}
	return obj{{"id", id}, {"deletedDateTime", nil}, {"description", "Users and groups in " + countryNames[country]},
		{"displayName", "AU - " + countryNames[country]}, {"isMemberManagementRestricted", restricted},
		{"membershipRule", rule}, {"membershipRuleProcessingState", state}, {"membershipType", typ}, {"visibility", visibility}}
}
