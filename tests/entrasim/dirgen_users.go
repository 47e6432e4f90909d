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

// userCtx is what a user's properties are computed from; the per-user facts are drawn on first use.
type userCtx struct {
	t   *Tenant
	u   *User
	key uint64
	f   *userFacts
}

func (c *userCtx) facts() *userFacts {
	if c.f == nil {
		f := c.t.userFacts(c.u, c.key)
		c.f = &f
	}
	return c.f
}

func (c *userCtx) member() bool { return c.u.UserType == "Member" }
func (c *userCtx) place() place { return places[c.u.place] }
func (c *userCtx) local() string {
	return c.u.UserPrincipalName[:strings.IndexByte(c.u.UserPrincipalName, '@')]
}

// memberOnly returns v for members and nil for guests.
func (c *userCtx) memberOnly(v any) any {
	if c.member() {
		return v
	}
	return nil
}

func (c *userCtx) synced() bool { return c.facts().synced }

// syncedOnly returns v() for users synchronised from Active Directory and nil for cloud-only ones.
func (c *userCtx) syncedOnly(v func() any) any {
	if c.synced() {
		return v()
	}
	return nil
}

func (c *userCtx) sku() string {
	if c.facts().e5 {
		return skuE5
	}
	return skuE3
}

func (c *userCtx) assigned() time.Time { return c.u.CreatedDateTime.Add(time.Hour) }

// userGens renders each user property, in Graph's order; signInActivity is computed by the endpoint.
var userGens = []struct {
	k string
	v func(c *userCtx) any
}{
	{"businessPhones", func(c *userCtx) any {
		if c.member() {
			return []string{fmt.Sprintf("+1 425 555 %04d", hashOf(strKey(c.u.ID))%10000)}
		}
		return []string{}
	}},
	{"displayName", func(c *userCtx) any { return c.u.DisplayName }},
	{"givenName", func(c *userCtx) any { return c.u.GivenName }},
	{"jobTitle", func(c *userCtx) any { return nilIfEmpty(c.u.JobTitle) }},
	{"mail", func(c *userCtx) any { return c.u.Mail }},
	{"mobilePhone", func(c *userCtx) any {
		return c.memberOnly(fmt.Sprintf("+1 206 555 %04d", hashOf(strKey(c.u.ID), 1)%10000))
	}},
	{"officeLocation", func(c *userCtx) any { return c.memberOnly(c.place().City) }},
	{"preferredLanguage", func(c *userCtx) any { return "en-US" }},
	{"surname", func(c *userCtx) any { return c.u.Surname }},
	{"userPrincipalName", func(c *userCtx) any { return c.u.UserPrincipalName }},
	{"id", func(c *userCtx) any { return c.u.ID }},
	{"deletedDateTime", func(c *userCtx) any { return nil }},
	{"aboutMe", func(c *userCtx) any { return nil }},
	{"accountEnabled", func(c *userCtx) any { return c.u.AccountEnabled }},
	{"ageGroup", func(c *userCtx) any { return nil }},
	{"assignedLicenses", func(c *userCtx) any {
		if !c.member() {
			return []obj{}
		}
		return []obj{{{"disabledPlans", []string{}}, {"skuId", c.sku()}}}
	}},
	{"assignedPlans", func(c *userCtx) any {
		if !c.member() {
			return []obj{}
		}
		plans := [][2]string{{"AADPremiumService", planAADPremium}, {"exchange", planExchange},
			{"SharePoint", planSharePoint}, {"TeamspaceAPI", planTeams}, {"SCO", planIntune}}
		if c.facts().e5 {
			plans = append(plans, [2]string{"AADPremiumService", planAADPremium2})
		}
		out := make([]obj, 0, len(plans))
		for _, pl := range plans {
			out = append(out, obj{{"assignedDateTime", c.assigned()}, {"capabilityStatus", "Enabled"}, {"service", pl[0]}, {"servicePlanId", pl[1]}})
		}
		return out
	}},
	{"authorizationInfo", func(c *userCtx) any { return obj{{"certificateUserIds", []string{}}} }},
	{"birthday", func(c *userCtx) any { return nil }},
	{"city", func(c *userCtx) any { return c.memberOnly(c.place().City) }},
	{"companyName", func(c *userCtx) any { return c.memberOnly(c.t.dir.name) }},
	{"consentProvidedForMinor", func(c *userCtx) any { return nil }},
	{"country", func(c *userCtx) any { return c.memberOnly(countryNames[c.place().Country]) }},
	{"createdDateTime", func(c *userCtx) any { return c.u.CreatedDateTime }},
	{"creationType", func(c *userCtx) any {
		if c.member() {
			return nil
		}
		return "Invitation"
	}},
	{"customSecurityAttributes", func(c *userCtx) any { return nil }},
	{"department", func(c *userCtx) any { return nilIfEmpty(c.u.Department) }},
	{"deviceEnrollmentLimit", func(c *userCtx) any { return 5 }},
	{"employeeHireDate", func(c *userCtx) any { return c.memberOnly(c.facts().hired) }},
	{"employeeId", func(c *userCtx) any { return c.memberOnly(c.facts().employeeID) }},
	{"employeeLeaveDateTime", func(c *userCtx) any { return nil }},
	{"employeeOrgData", func(c *userCtx) any {
		if !c.member() || c.u.Department == "" {
			return nil
		}
		return obj{{"costCenter", c.facts().costCenter}, {"division", c.u.Department}}
	}},
	{"employeeType", func(c *userCtx) any {
		switch {
		case !c.member():
			return nil
		case c.facts().contractor:
			return "Contractor"
		}
		return "Employee"
	}},
	{"externalUserState", func(c *userCtx) any {
		if c.member() {
			return nil
		}
		return "Accepted"
	}},
	{"externalUserStateChangeDateTime", func(c *userCtx) any {
		if c.member() {
			return nil
		}
		return c.facts().accepted
	}},
	{"faxNumber", func(c *userCtx) any { return nil }},
	{"hireDate", func(c *userCtx) any { return nil }},
	{"identities", func(c *userCtx) any {
		ids := []obj{{{"signInType", "userPrincipalName"}, {"issuer", c.t.dir.domain}, {"issuerAssignedId", c.u.UserPrincipalName}}}
		if !c.member() {
			domain := c.u.Mail[strings.IndexByte(c.u.Mail, '@')+1:]
			ids = append(ids, obj{{"signInType", "federated"}, {"issuer", guestIssuers[domain]}, {"issuerAssignedId", nil}})
		}
		return ids
	}},
	{"identityParentId", func(c *userCtx) any { return nil }},
	{"imAddresses", func(c *userCtx) any {
		if c.member() {
			return []string{strings.ToLower(c.u.UserPrincipalName)}
		}
		return []string{}
	}},
	{"interests", func(c *userCtx) any { return []string{} }},
	{"isManagementRestricted", func(c *userCtx) any { return nil }},
	{"isResourceAccount", func(c *userCtx) any { return nil }},
	{"lastPasswordChangeDateTime", func(c *userCtx) any { return c.facts().passwordChanged }},
	{"legalAgeGroupClassification", func(c *userCtx) any { return nil }},
	{"licenseAssignmentStates", func(c *userCtx) any {
		if !c.member() {
			return []obj{}
		}
		return []obj{{{"assignedByGroup", nil}, {"disabledPlans", []string{}}, {"error", "None"},
			{"lastUpdatedDateTime", c.assigned()}, {"skuId", c.sku()}, {"state", "Active"}}}
	}},
	{"mailboxSettings", func(c *userCtx) any { return nil }},
	{"mailNickname", func(c *userCtx) any { return c.local() }},
	{"mySite", func(c *userCtx) any { return nil }},
	{"onPremisesDistinguishedName", func(c *userCtx) any {
		return c.syncedOnly(func() any {
			return fmt.Sprintf("CN=%s,OU=%s,OU=Users,DC=corp,DC=%s,DC=com", c.u.DisplayName, strings.ReplaceAll(c.u.Department, " ", ""), c.t.dir.slug)
		})
	}},
	{"onPremisesDomainName", func(c *userCtx) any { return c.syncedOnly(func() any { return c.t.onPremDomain() }) }},
	{"onPremisesExtensionAttributes", func(c *userCtx) any {
		ext := make(obj, 0, 15)
		for i := 1; i <= 15; i++ {
			ext = append(ext, kv{extensionAttributes[i-1], nil})
		}
		if c.synced() {
			ext[0].v = c.facts().costCenter
		}
		return ext
	}},
	{"onPremisesImmutableId", func(c *userCtx) any {
		return c.syncedOnly(func() any { return base64.StdEncoding.EncodeToString(c.facts().immutable) })
	}},
	{"onPremisesLastSyncDateTime", func(c *userCtx) any {
		return c.syncedOnly(func() any {
			return c.t.cfg.start.Add(-time.Duration(1+hashOf(strKey(c.u.ID), 5)%1800) * time.Second).Truncate(time.Second)
		})
	}},
	{"onPremisesProvisioningErrors", func(c *userCtx) any { return []obj{} }},
	{"onPremisesSamAccountName", func(c *userCtx) any {
		return c.syncedOnly(func() any { return strings.ToLower(c.u.GivenName[:1] + c.u.Surname) })
	}},
	{"onPremisesSecurityIdentifier", func(c *userCtx) any { return c.syncedOnly(func() any { return c.t.onPremSID(c.facts().rid) }) }},
	{"onPremisesSyncEnabled", func(c *userCtx) any { return c.syncedOnly(func() any { return true }) }},
	{"onPremisesUserPrincipalName", func(c *userCtx) any {
		return c.syncedOnly(func() any { return c.local() + "@" + c.t.onPremDomain() })
	}},
	{"otherMails", func(c *userCtx) any {
		if c.member() {
			return []string{}
		}
		return []string{c.u.Mail}
	}},
	{"passwordPolicies", func(c *userCtx) any {
		if c.member() && c.facts().neverExpires {
			return "DisablePasswordExpiration"
		}
		return nil
	}},
	{"passwordProfile", func(c *userCtx) any { return nil }},
	{"pastProjects", func(c *userCtx) any { return []string{} }},
	{"postalCode", func(c *userCtx) any { return c.memberOnly(fmt.Sprintf("%05d", hashOf(strKey(c.u.ID), 4)%100000)) }},
	{"preferredDataLocation", func(c *userCtx) any { return nil }},
	{"preferredName", func(c *userCtx) any { return nil }},
	{"print", func(c *userCtx) any { return nil }},
	{"provisionedPlans", func(c *userCtx) any {
		if !c.member() {
			return []obj{}
		}
		return []obj{
			{{"capabilityStatus", "Enabled"}, {"provisioningStatus", "Success"}, {"service", "exchange"}},
			{{"capabilityStatus", "Enabled"}, {"provisioningStatus", "Success"}, {"service", "SharePoint"}},
		}
	}},
	{"proxyAddresses", func(c *userCtx) any {
		if c.member() {
			return []string{"SMTP:" + c.u.Mail}
		}
		return []string{}
	}},
	{"responsibilities", func(c *userCtx) any { return []string{} }},
	{"schools", func(c *userCtx) any { return []string{} }},
	{"securityIdentifier", func(c *userCtx) any { return cloudSID(c.u.ID) }},
	{"serviceProvisioningErrors", func(c *userCtx) any { return []obj{} }},
	{"showInAddressList", func(c *userCtx) any { return nil }},
	{"signInSessionsValidFromDateTime", func(c *userCtx) any { return c.u.CreatedDateTime }},
	{"skills", func(c *userCtx) any { return []string{} }},
	{"state", func(c *userCtx) any { return c.memberOnly(c.place().State) }},
	{"streetAddress", func(c *userCtx) any {
		return c.memberOnly(fmt.Sprintf("%d %s Street", 1+hashOf(strKey(c.u.ID), 2)%400, pick(newRNG(hashOf(strKey(c.u.ID), 3)), surnames)))
	}},
	{"usageLocation", func(c *userCtx) any { return c.u.UsageLocation }},
	{"userType", func(c *userCtx) any { return c.u.UserType }},
}

var extensionAttributes = func() []string {
	out := make([]string, 15)
	for i := range out {
		out[i] = fmt.Sprintf("extensionAttribute%d", i+1)
	}
	return out
}()

// userProps renders a user's properties — the wanted ones (nil: all) — but signInActivity (computed when
// selected).
func (t *Tenant) userProps(u *User, key uint64, want func(string) bool) obj {
	c := &userCtx{t: t, u: u, key: key}
	n := len(userGens)
	if want != nil {
		n = 12
	}
	p := make(obj, 0, n)
	for _, g := range userGens {
		if want == nil || want(g.k) {
			p = append(p, kv{g.k, g.v(c)})
		}
	}
	return p
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
