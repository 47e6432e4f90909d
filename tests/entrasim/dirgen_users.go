package entrasim

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Users as Graph's user entity: every schema property, realistic values for the ones a security product reads
// (licences, on-premises synchronisation, password age and policy, guest state and identities, employee data),
// null for the rest. The values are a pure function of the seed and the generated user, so a tenant of
// 300,000 users keeps no user properties in memory until one changes.

// Licence SKUs and service plans (ids as Microsoft publishes them in "Product names and service plan
// identifiers for licensing"; unverified here).
const (
	skuE3           = "05e9a617-0261-4cee-bb44-138d3ef5d965" // SPE_E3
	skuE5           = "06ebc4ee-1bb5-47dd-8120-11324bc54e06" // SPE_E5
	planAADPremium  = "41781fb2-bc02-4b7c-bd55-b576c07bb09d" // AAD_PREMIUM
	planAADPremium2 = "eec0eb4f-6444-4f95-aba0-50c24d67f998" // AAD_PREMIUM_P2
	planExchange    = "efb87545-963c-4e0d-99df-69c6916d9eb0" // EXCHANGE_S_ENTERPRISE
	planSharePoint  = "5dbe027f-2339-4123-9542-606e4d348a72" // SHAREPOINTENTERPRISE
	planTeams       = "57ff2da0-773e-42df-b2af-ffb7a2317929" // TEAMS1
	planIntune      = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5" // INTUNE_A
)

var countryNames = map[string]string{
	"US": "United States", "CA": "Canada", "GB": "United Kingdom", "IE": "Ireland", "NL": "Netherlands",
	"DE": "Germany", "FR": "France", "SE": "Sweden", "AU": "Australia", "JP": "Japan", "SG": "Singapore",
	"BR": "Brazil", "IN": "India",
}

// guestIssuers maps a guest's home domain to the identity provider Entra records for it
// (external-id/user-properties.md: ExternalAzureAD, MicrosoftAccount, google.com, mail for one-time passcodes).
var guestIssuers = map[string]string{
	"gmail.com": "google.com", "outlook.com": "MicrosoftAccount", "partner-co.com": "ExternalAzureAD",
	"consultancy.net": "ExternalAzureAD", "vendor.io": "mail", "agency.co.uk": "ExternalAzureAD",
}

// userFacts are the per-user choices that are not in User (drawn from their own random stream, so the log
// streams, which read User, are unaffected).
type userFacts struct {
	synced          bool // synchronised from on-premises Active Directory
	e5              bool
	passwordChanged time.Time
	hired           time.Time
	employeeID      string
	contractor      bool
	neverExpires    bool // passwordPolicies DisablePasswordExpiration
	costCenter      string
	accepted        time.Time // a guest's invitation acceptance
	immutable       []byte
	rid             int
}

func (t *Tenant) userFacts(u *User, key uint64) userFacts {
	x := newRNG(uint64(t.cfg.Seed), strKey("user-facts"), key)
	var f userFacts
	member := u.UserType == "Member"
	f.synced = member && !u.Admin && x.chance(0.4)
	f.e5 = u.Admin || x.chance(0.3)
	age := t.cfg.start.Sub(u.CreatedDateTime)
	f.passwordChanged = u.CreatedDateTime.Add(time.Duration(x.float() * float64(age))).Truncate(time.Second)
	f.hired = u.CreatedDateTime.Add(-time.Duration(x.intn(20)) * 24 * time.Hour).Truncate(24 * time.Hour)
	f.employeeID = fmt.Sprintf("E%06d", x.intn(1000000))
	f.contractor = x.chance(0.15)
	f.neverExpires = f.synced || x.chance(0.1)
	f.costCenter = fmt.Sprintf("CC-%04d", 1000+x.intn(9000))
	f.accepted = u.CreatedDateTime.Add(time.Duration(1+x.intn(72)) * time.Hour)
	f.immutable = make([]byte, 16)
	a, b := x.next(), x.next()
	for i := 0; i < 8; i++ {
		f.immutable[i], f.immutable[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	f.rid = 1100 + int(key%1000000)
	return f
}

// onPremDomain is the tenant's Active Directory domain ("corp.contoso.com").
func (t *Tenant) onPremDomain() string { return "corp." + t.dir.slug + ".com" }

// onPremSID is a security identifier in the tenant's Active Directory domain.
func (t *Tenant) onPremSID(rid int) string {
	h := hashOf(uint64(t.cfg.Seed), strKey("ad-domain-sid"))
	return fmt.Sprintf("S-1-5-21-%d-%d-%d-%d", 1000000000+h%1000000000, 1000000000+(h>>20)%1000000000,
		1000000000+(h>>40)%1000000000, rid)
}

// userProps renders a user with every schema property but signInActivity (computed when selected).
func (t *Tenant) userProps(u *User, key uint64) obj {
	f := t.userFacts(u, key)
	member := u.UserType == "Member"
	p := places[u.place]
	phone := fmt.Sprintf("+1 425 555 %04d", hashOf(strKey(u.ID))%10000)
	var mobile, office, city, state, country, street, postal, company any
	var business, im, proxies, otherMails []string
	business, im, proxies, otherMails = []string{}, []string{}, []string{}, []string{}
	if member {
		business = []string{phone}
		mobile = fmt.Sprintf("+1 206 555 %04d", hashOf(strKey(u.ID), 1)%10000)
		office, city, state = p.City, p.City, p.State
		country = countryNames[p.Country]
		street = fmt.Sprintf("%d %s Street", 1+hashOf(strKey(u.ID), 2)%400, pick(newRNG(hashOf(strKey(u.ID), 3)), surnames))
		postal = fmt.Sprintf("%05d", hashOf(strKey(u.ID), 4)%100000)
		company = t.dir.name
		im = []string{strings.ToLower(u.UserPrincipalName)}
		proxies = []string{"SMTP:" + u.Mail}
	} else {
		otherMails = []string{u.Mail}
	}
	local := u.UserPrincipalName[:strings.IndexByte(u.UserPrincipalName, '@')]
	var licences, plans, provisioned, states []obj
	licences, plans, provisioned, states = []obj{}, []obj{}, []obj{}, []obj{}
	if member {
		sku := skuE3
		planIDs := [][2]string{{"AADPremiumService", planAADPremium}, {"exchange", planExchange},
			{"SharePoint", planSharePoint}, {"TeamspaceAPI", planTeams}, {"SCO", planIntune}}
		if f.e5 {
			sku = skuE5
			planIDs = append(planIDs, [2]string{"AADPremiumService", planAADPremium2})
		}
		assigned := u.CreatedDateTime.Add(time.Hour)
		licences = []obj{{{"disabledPlans", []string{}}, {"skuId", sku}}}
		for _, pl := range planIDs {
			plans = append(plans, obj{{"assignedDateTime", assigned}, {"capabilityStatus", "Enabled"}, {"service", pl[0]}, {"servicePlanId", pl[1]}})
		}
		provisioned = []obj{
			{{"capabilityStatus", "Enabled"}, {"provisioningStatus", "Success"}, {"service", "exchange"}},
			{{"capabilityStatus", "Enabled"}, {"provisioningStatus", "Success"}, {"service", "SharePoint"}},
		}
		states = []obj{{{"assignedByGroup", nil}, {"disabledPlans", []string{}}, {"error", "None"},
			{"lastUpdatedDateTime", assigned}, {"skuId", sku}, {"state", "Active"}}}
	}
	identities := []obj{{{"signInType", "userPrincipalName"}, {"issuer", t.dir.domain}, {"issuerAssignedId", u.UserPrincipalName}}}
	var creation, extState, extChanged, employeeType, employeeID, hired, orgData, policies any
	if member {
		hired, employeeID = f.hired, f.employeeID
		employeeType = "Employee"
		if f.contractor {
			employeeType = "Contractor"
		}
		if u.Department != "" {
			orgData = obj{{"costCenter", f.costCenter}, {"division", u.Department}}
		}
		if f.neverExpires {
			policies = "DisablePasswordExpiration"
		}
	} else {
		domain := u.Mail[strings.IndexByte(u.Mail, '@')+1:]
		identities = append(identities, obj{{"signInType", "federated"}, {"issuer", guestIssuers[domain]}, {"issuerAssignedId", nil}})
		creation, extState, extChanged = "Invitation", "Accepted", f.accepted
	}
	ext := obj{}
	for i := 1; i <= 15; i++ {
		ext = append(ext, kv{fmt.Sprintf("extensionAttribute%d", i), nil})
	}
	var dn, adDomain, immutable, lastSync, sam, adSID, synced, adUPN any
	if f.synced {
		sam = strings.ToLower(u.GivenName[:1] + u.Surname)
		dn = fmt.Sprintf("CN=%s,OU=%s,OU=Users,DC=corp,DC=%s,DC=com", u.DisplayName, strings.ReplaceAll(u.Department, " ", ""), t.dir.slug)
		adDomain = t.onPremDomain()
		immutable = base64.StdEncoding.EncodeToString(f.immutable)
		lastSync = t.cfg.start.Add(-time.Duration(1+hashOf(strKey(u.ID), 5)%1800) * time.Second).Truncate(time.Second)
		adSID = t.onPremSID(f.rid)
		synced = true
		adUPN = local + "@" + t.onPremDomain()
		ext.set("extensionAttribute1", f.costCenter)
	}
	return obj{
		{"businessPhones", business},
		{"displayName", u.DisplayName},
		{"givenName", u.GivenName},
		{"jobTitle", nilIfEmpty(u.JobTitle)},
		{"mail", u.Mail},
		{"mobilePhone", mobile},
		{"officeLocation", office},
		{"preferredLanguage", "en-US"},
		{"surname", u.Surname},
		{"userPrincipalName", u.UserPrincipalName},
		{"id", u.ID},
		{"deletedDateTime", nil},
		{"aboutMe", nil},
		{"accountEnabled", u.AccountEnabled},
		{"ageGroup", nil},
		{"assignedLicenses", licences},
		{"assignedPlans", plans},
		{"authorizationInfo", obj{{"certificateUserIds", []string{}}}},
		{"birthday", nil},
		{"city", city},
		{"companyName", company},
		{"consentProvidedForMinor", nil},
		{"country", country},
		{"createdDateTime", u.CreatedDateTime},
		{"creationType", creation},
		{"customSecurityAttributes", nil},
		{"department", nilIfEmpty(u.Department)},
		{"deviceEnrollmentLimit", 5},
		{"employeeHireDate", hired},
		{"employeeId", employeeID},
		{"employeeLeaveDateTime", nil},
		{"employeeOrgData", orgData},
		{"employeeType", employeeType},
		{"externalUserState", extState},
		{"externalUserStateChangeDateTime", extChanged},
		{"faxNumber", nil},
		{"hireDate", nil},
		{"identities", identities},
		{"identityParentId", nil},
		{"imAddresses", im},
		{"interests", []string{}},
		{"isManagementRestricted", nil},
		{"isResourceAccount", nil},
		{"lastPasswordChangeDateTime", f.passwordChanged},
		{"legalAgeGroupClassification", nil},
		{"licenseAssignmentStates", states},
		{"mailboxSettings", nil},
		{"mailNickname", local},
		{"mySite", nil},
		{"onPremisesDistinguishedName", dn},
		{"onPremisesDomainName", adDomain},
		{"onPremisesExtensionAttributes", ext},
		{"onPremisesImmutableId", immutable},
		{"onPremisesLastSyncDateTime", lastSync},
		{"onPremisesProvisioningErrors", []obj{}},
		{"onPremisesSamAccountName", sam},
		{"onPremisesSecurityIdentifier", adSID},
		{"onPremisesSyncEnabled", synced},
		{"onPremisesUserPrincipalName", adUPN},
		{"otherMails", otherMails},
		{"passwordPolicies", policies},
		{"passwordProfile", nil},
		{"pastProjects", []string{}},
		{"postalCode", postal},
		{"preferredDataLocation", nil},
		{"preferredName", nil},
		{"print", nil},
		{"provisionedPlans", provisioned},
		{"proxyAddresses", proxies},
		{"responsibilities", []string{}},
		{"schools", []string{}},
		{"securityIdentifier", cloudSID(u.ID)},
		{"serviceProvisioningErrors", []obj{}},
		{"showInAddressList", nil},
		{"signInSessionsValidFromDateTime", u.CreatedDateTime},
		{"skills", []string{}},
		{"state", state},
		{"streetAddress", street},
		{"usageLocation", u.UsageLocation},
		{"userType", u.UserType},
	}
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
