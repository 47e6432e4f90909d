package entrasim

import (
	"fmt"
	"strings"
	"time"
)

// Groups: the named groups audit events reference (groupID: All Staff, VPN Users, Privileged Admins, Guests and
// one per department) and generated ones — security groups (some synchronised from Active Directory, some
// mail-enabled, a few role-assignable), Microsoft 365 groups (some with a team) and dynamic groups — with a
// heavy-tailed size distribution, nesting (including a cycle) and device and service principal members.

// groupKind is what a generated group is.
type groupKind int

const (
	gkSecurity groupKind = iota
	gkUnified
	gkDynamic
	gkMailSecurity
	gkDevices // a security group of devices
)

var groupThemes = []string{
	"Project", "Team", "Site", "Committee", "Programme", "Squad", "Workstream", "Office", "Guild", "Pilot",
}

var groupWords = []string{
	"Atlas", "Borealis", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper", "Kestrel",
	"Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quartz", "Redwood", "Summit", "Tidal", "Umbra", "Vertex",
	"Willow", "Zenith",
}

// groupFacts describe a generated group (index i among all groups, i >= len(groupNames)).
type groupFacts struct {
	name     string
	kind     groupKind
	synced   bool
	team     bool
	roleable bool
	public   bool
	created  time.Time
}

func (t *Tenant) groupFacts(i int) groupFacts {
	x := newRNG(uint64(t.cfg.Seed), strKey("group-facts"), uint64(i))
	f := groupFacts{}
	switch v := x.float(); {
	case v < 0.52:
		f.kind = gkSecurity
	case v < 0.80:
		f.kind = gkUnified
	case v < 0.90:
		f.kind = gkDynamic
	case v < 0.96:
		f.kind = gkMailSecurity
	default:
		f.kind = gkDevices
	}
	f.name = fmt.Sprintf("%s %s %d", pick(x, groupThemes), pick(x, groupWords), i)
	if f.kind == gkDevices {
		f.name = fmt.Sprintf("Devices - %s %d", pick(x, groupWords), i)
	}
	f.synced = f.kind == gkSecurity && x.chance(0.25)
	f.team = f.kind == gkUnified && x.chance(0.5)
	f.roleable = f.kind == gkSecurity && !f.synced && x.chance(0.01)
	f.public = x.chance(0.4)
	f.created = t.cfg.start.Add(-time.Duration(10+x.intn(1500)) * 24 * time.Hour).Add(-time.Duration(x.intn(86400)) * time.Second)
	return f
}

// namedGroupFacts describe the named groups (the first len(groupNames)).
func (t *Tenant) namedGroupFacts(i int) groupFacts {
	name := groupNames[i]
	f := groupFacts{name: name, kind: gkSecurity, roleable: name == "Privileged Admins"}
	if i%3 == 0 {
		f.kind = gkUnified
	}
	f.created = t.cfg.start.Truncate(time.Second).Add(-time.Duration(200+i*17) * 24 * time.Hour)
	return f
}

// groupProps renders a group with every schema property.
func (t *Tenant) groupProps(id string, f groupFacts) obj {
	nick := strings.ToLower(strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, f.name))
	types := []string{}
	var mail, visibility, rule, ruleState, dataLocation any
	proxies, provisioning := []string{}, []string{}
	mailEnabled, securityEnabled := false, true
	switch f.kind {
	case gkUnified:
		types = []string{"Unified"}
		mailEnabled, securityEnabled = true, false
		visibility = "Private"
		if f.public {
			visibility = "Public"
		}
		dataLocation = "NAM"
		if f.team {
			provisioning = []string{"Team"}
		}
	case gkDynamic:
		types = []string{"DynamicMembership"}
		rule = fmt.Sprintf(`(user.department -eq "%s")`, departments[hashOf(strKey(id))%uint64(len(departments))])
		ruleState = "On"
	case gkMailSecurity:
		mailEnabled = true
	}
	if mailEnabled {
		mail = nick + "@" + t.dir.domain
		proxies = []string{"SMTP:" + nick + "@" + t.dir.domain, "smtp:" + nick + "@" + strings.TrimSuffix(t.dir.domain, ".onmicrosoft.com") + ".mail.onmicrosoft.com"}
	}
	var roleable any
	if f.roleable {
		roleable = true
	}
	var adDomain, netbios, sam, adSID, synced, lastSync any
	if f.synced {
		adDomain, netbios = t.onPremDomain(), strings.ToUpper(t.dir.slug)
		sam = strings.ReplaceAll(f.name, " ", "-")
		adSID = t.onPremSID(500000 + int(hashOf(strKey(id))%400000))
		synced = true
		lastSync = t.cfg.start.Add(-time.Duration(1+hashOf(strKey(id), 1)%1800) * time.Second).Truncate(time.Second)
	}
	ext := obj{}
	for i := 1; i <= 15; i++ {
		ext = append(ext, kv{fmt.Sprintf("extensionAttribute%d", i), nil})
	}
	desc := f.name + " members"
	return obj{
		{"id", id},
		{"deletedDateTime", nil},
		{"classification", nil},
		{"createdDateTime", f.created},
		{"description", desc},
		{"displayName", f.name},
		{"expirationDateTime", nil},
		{"groupTypes", types},
		{"isAssignableToRole", roleable},
		{"mail", mail},
		{"mailEnabled", mailEnabled},
		{"mailNickname", nick},
		{"membershipRule", rule},
		{"membershipRuleProcessingState", ruleState},
		{"onPremisesDomainName", adDomain},
		{"onPremisesLastSyncDateTime", lastSync},
		{"onPremisesNetBiosName", netbios},
		{"onPremisesSamAccountName", sam},
		{"onPremisesSecurityIdentifier", adSID},
		{"onPremisesSyncEnabled", synced},
		{"preferredDataLocation", dataLocation},
		{"preferredLanguage", nil},
		{"proxyAddresses", proxies},
		{"renewedDateTime", f.created},
		{"resourceBehaviorOptions", []string{}},
		{"resourceProvisioningOptions", provisioning},
		{"securityEnabled", securityEnabled},
		{"securityIdentifier", cloudSID(id)},
		{"theme", nil},
		{"uniqueName", nil},
		{"visibility", visibility},
		{"onPremisesProvisioningErrors", []obj{}},
		{"serviceProvisioningErrors", []obj{}},
		// Returned only on $select; the Exchange-backed ones (allowExternalSenders, …) are null for app-only
		// callers.
		{"accessType", nil},
		{"allowExternalSenders", nil},
		{"assignedLabels", []obj{}},
		{"assignedLicenses", []obj{}},
		{"autoSubscribeNewMembers", nil},
		{"hasMembersWithLicenseErrors", false},
		{"hideFromAddressLists", nil},
		{"hideFromOutlookClients", nil},
		{"infoCatalogs", []string{}},
		{"isArchived", nil},
		{"isFavorite", nil},
		{"isManagementRestricted", nil},
		{"isSubscribedByMail", nil},
		{"licenseProcessingState", nil},
		{"onPremisesExtensionAttributes", ext},
		{"organizationId", t.dir.tenantID},
		{"unseenConversationsCount", nil},
		{"unseenCount", nil},
		{"unseenMessagesCount", nil},
		{"welcomeMessageEnabled", nil},
	}
}

// groupSize draws a generated group's member count: most groups are small, a few are large.
func groupSize(x *rng, users int) int {
	var n int
	switch v := x.float(); {
	case v < 0.75:
		n = 2 + x.intn(29)
	case v < 0.97:
		n = 30 + x.intn(171)
	default:
		n = 200 + x.intn(1801)
	}
	return min(n, users)
}

// strideMembers picks n distinct indexes in [0, total) deterministically: a start and a step coprime with total.
func strideMembers(x *rng, n, total int) []int {
	if total == 0 || n == 0 {
		return nil
	}
	primes := []int{7919, 104729, 1299709, 15485863, 32452843}
	step := 1
	for _, p := range primes {
		if total%p != 0 {
			step = p % total
			if step == 0 {
				step = 1
			}
			break
		}
	}
	if gcd(step, total) != 1 {
		step = 1
	}
	start := x.intn(total)
	out := make([]int, n)
	for i := range out {
		out[i] = (start + i*step) % total
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
