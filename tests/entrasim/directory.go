package entrasim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// User is a user account of the simulated directory.
type User struct {
	ID                string
	DisplayName       string
	GivenName         string
	Surname           string
	UserPrincipalName string
	Mail              string
	UserType          string // "Member" or "Guest"
	AccountEnabled    bool
	CreatedDateTime   time.Time
	Department        string
	JobTitle          string
	UsageLocation     string
	Admin             bool // generated as a Global Administrator
	// Roles are the display names of the directory roles the user holds now, directly or through groups
	// (filled by Tenant.Users; any role makes the user an administrator for Graph's sensitive actions).
	Roles        []string
	HomeTenantID string // the tenant the account signs in at (a guest's home tenant)
	place        int    // index into places: where the user usually signs in from
	device       int    // index into deviceProfiles
}

// PasswordCredential is an application's client secret. SecretText is only known for secrets this
// simulator issued (Graph returns it only once, at creation).
type PasswordCredential struct {
	KeyID         string
	DisplayName   string
	Hint          string
	SecretText    string
	StartDateTime time.Time
	EndDateTime   time.Time
}

// Application is an application registration.
type Application struct {
	ID                  string // object id
	AppID               string // client id
	DisplayName         string
	CreatedDateTime     time.Time
	SignInAudience      string
	PasswordCredentials []PasswordCredential
	// Roles are the Microsoft Graph application permissions (by value) granted to the app's service
	// principal; they end up in its tokens' roles claim.
	Roles []string
}

// ServicePrincipal is a service principal: an application's instance in the tenant or a managed identity.
type ServicePrincipal struct {
	ID                     string
	AppID                  string
	DisplayName            string
	ServicePrincipalType   string // "Application" or "ManagedIdentity"
	AppOwnerOrganizationID string
	AlternativeNames       []string
	AccountEnabled         bool
	Provisioning           bool // runs outbound user provisioning
}

// directory is the tenant's generated directory: the initial users, applications and service principals. The
// live state is the object store (store.go), loaded from it at start; log events read the immutable snapshot
// (cast), so later changes never rewrite history.
type directory struct {
	tenantID    string
	name        string
	slug        string // the name reduced to lower-case letters and digits
	domain      string
	users       []User // shared with the cast: never modified after generation
	apps        []*Application
	sps         []*ServicePrincipal
	integration *Application
}

// cast is the immutable set of principals the log generators draw from.
type cast struct {
	tenantID string
	domain   string
	users    []User
	members  []int // indexes of enabled users
	admins   []int
	apps     []Application      // tenant apps (integration app last)
	appSPs   []ServicePrincipal // service principals of the apps, same order as apps
	mis      []ServicePrincipal // managed identities
	provSPs  []int              // indexes into appSPs of apps that provision
	caIDs    []string           // conditional access policy ids, same order as caPolicies
}

// IntegrationAppName is the display name of the integration's own app registration.
const IntegrationAppName = "Entra ID Data Integration"

func newDirectory(c *config) *directory {
	seed := uint64(c.Seed)
	r := newRNG(seed, strKey("directory"))
	d := &directory{}
	d.tenantID = guidFrom(seed, strKey("tenant-id"))
	d.name = c.TenantName
	if d.name == "" {
		d.name = pick(r, tenantNames)
	}
	slug := strings.ToLower(strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, d.name))
	d.slug = slug
	d.domain = fmt.Sprintf("%s%04x.onmicrosoft.com", slug, r.next()&0xffff)
	base := c.start.Truncate(time.Second)

	// Users: one in ten is a guest, one in twenty disabled, about 2 % (at least two) hold admin roles.
	seen := map[string]int{}
	admins := max(2, c.Users/50)
	for i := 0; i < c.Users; i++ {
		ur := newRNG(seed, strKey("user"), uint64(i))
		g, s := pick(ur, givenNames), pick(ur, surnames)
		u := &User{
			ID:              ur.guid(),
			GivenName:       g,
			Surname:         s,
			DisplayName:     g + " " + s,
			UserType:        "Member",
			AccountEnabled:  true,
			CreatedDateTime: base.Add(-time.Duration(30+ur.intn(900)) * 24 * time.Hour).Add(-time.Duration(ur.intn(86400)) * time.Second),
			Department:      pick(ur, departments),
			JobTitle:        pick(ur, jobTitles),
			HomeTenantID:    d.tenantID,
			place:           ur.intn(len(places)),
			device:          ur.intn(len(deviceProfiles)),
		}
		u.UsageLocation = places[u.place].Country
		local := strings.ToLower(g + "." + s)
		if n := seen[local]; n > 0 {
			seen[local] = n + 1
			local = fmt.Sprintf("%s%d", local, n+1)
		} else {
			seen[local] = 1
		}
		switch {
		case i < admins:
			u.Admin = true
			u.JobTitle = "Global Administrator"
			u.Department = "IT"
			u.UserPrincipalName = "admin." + local + "@" + d.domain
		case i%10 == 9:
			ext := pick(ur, externalDomains)
			u.UserType = "Guest"
			u.HomeTenantID = guidFrom(seed, strKey("home-tenant"), strKey(ext))
			u.Mail = local + "@" + ext
			u.UserPrincipalName = local + "_" + ext + "#EXT#@" + d.domain
			u.Department, u.JobTitle = "", ""
		default:
			u.UserPrincipalName = local + "@" + d.domain
		}
		if u.Mail == "" {
			u.Mail = u.UserPrincipalName
		}
		if i%20 == 19 {
			u.AccountEnabled = false
		}
		d.users = append(d.users, *u)
	}

	// Applications and their service principals.
	for i := 0; i < c.Apps; i++ {
		ar := newRNG(seed, strKey("app"), uint64(i))
		name := appNames[i%len(appNames)]
		if i >= len(appNames) {
			name = fmt.Sprintf("%s %d", name, i/len(appNames)+1)
		}
		app := &Application{
			ID:              ar.guid(),
			AppID:           ar.guid(),
			DisplayName:     name,
			CreatedDateTime: base.Add(-time.Duration(60+ar.intn(700)) * 24 * time.Hour),
			SignInAudience:  "AzureADMyOrg",
		}
		app.SignInAudience = appAudience(seed, app.AppID)
		if ar.chance(0.6) {
			app.PasswordCredentials = []PasswordCredential{newSecret(ar, "default", base.Add(-time.Duration(ar.intn(300))*24*time.Hour), 365*24*time.Hour)}
		}
		d.apps = append(d.apps, app)
		d.sps = append(d.sps, &ServicePrincipal{
			ID: ar.guid(), AppID: app.AppID, DisplayName: name, ServicePrincipalType: "Application",
			AppOwnerOrganizationID: d.tenantID, AccountEnabled: true, Provisioning: provisioningApps[appNames[i%len(appNames)]],
		})
	}

	// The integration's own app registration, with the client secret tests and the authority use.
	ir := newRNG(seed, strKey("integration-app"))
	secretStart := base.Add(-24 * time.Hour)
	d.integration = &Application{
		ID:                  ir.guid(),
		AppID:               ir.guid(),
		DisplayName:         IntegrationAppName,
		CreatedDateTime:     secretStart,
		SignInAudience:      "AzureADMyOrg",
		PasswordCredentials: []PasswordCredential{newSecret(ir, "entra-di", secretStart, c.SecretLifetime)},
		Roles:               slices.Clone(c.Roles),
	}
	d.apps = append(d.apps, d.integration)
	d.sps = append(d.sps, &ServicePrincipal{
		ID: ir.guid(), AppID: d.integration.AppID, DisplayName: IntegrationAppName, ServicePrincipalType: "Application",
		AppOwnerOrganizationID: d.tenantID, AccountEnabled: true,
	})

	// Managed identities.
	sub := guidFrom(seed, strKey("subscription"))
	for i := 0; i < c.ManagedIdentities; i++ {
		mr := newRNG(seed, strKey("managed-identity"), uint64(i))
		name := managedIdentityNames[i%len(managedIdentityNames)]
		if i >= len(managedIdentityNames) {
			name = fmt.Sprintf("%s-%d", name, i/len(managedIdentityNames)+1)
		}
		provider := "Microsoft.Web/sites"
		switch {
		case strings.HasPrefix(name, "vm"):
			provider = "Microsoft.Compute/virtualMachines"
		case strings.HasPrefix(name, "logic"):
			provider = "Microsoft.Logic/workflows"
		}
		d.sps = append(d.sps, &ServicePrincipal{
			ID: mr.guid(), AppID: mr.guid(), DisplayName: name, ServicePrincipalType: "ManagedIdentity",
			AlternativeNames: []string{"isExplicit=False",
				fmt.Sprintf("/subscriptions/%s/resourcegroups/rg-%s/providers/%s/%s", sub, name, provider, name)},
			AccountEnabled: true,
		})
	}
	return d
}

// newSecret issues a client secret in Entra's format: three characters (the hint), a digit, "Q~" and 34
// more characters — 40 in all.
func newSecret(r *rng, name string, start time.Time, lifetime time.Duration) PasswordCredential {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	const tail = alnum + "_.~-"
	var b strings.Builder
	for i := 0; i < 3; i++ {
		b.WriteByte(alnum[r.intn(len(alnum))])
	}
	b.WriteByte(byte('0' + r.intn(10)))
	b.WriteString("Q~")
	for i := 0; i < 34; i++ {
		b.WriteByte(tail[r.intn(len(tail))])
	}
	text := b.String()
	return PasswordCredential{
		KeyID:         r.guid(),
		DisplayName:   name,
		Hint:          text[:3],
		SecretText:    text,
		StartDateTime: start.UTC(),
		EndDateTime:   start.Add(lifetime).UTC(),
	}
}

// snapshot returns the immutable principals log events are generated from.
func (d *directory) snapshot(seed uint64) *cast {
	c := &cast{tenantID: d.tenantID, domain: d.domain, users: d.users}
	for i := range d.users {
		u := &d.users[i]
		if u.AccountEnabled {
			c.members = append(c.members, i)
		}
		if u.Admin {
			c.admins = append(c.admins, i)
		}
	}
	for i, a := range d.apps {
		c.apps = append(c.apps, *a)
		c.appSPs = append(c.appSPs, *d.sps[i])
		if d.sps[i].Provisioning {
			c.provSPs = append(c.provSPs, i)
		}
	}
	for _, sp := range d.sps[len(d.apps):] {
		c.mis = append(c.mis, *sp)
	}
	for i := range caPolicies {
		c.caIDs = append(c.caIDs, guidFrom(seed, strKey("ca-policy"), uint64(i)))
	}
	return c
}

// resolveTenant maps a tenant id or one of its domains to the tenant id.
func (d *directory) resolveTenant(idOrDomain string) (string, bool) {
	if strings.EqualFold(idOrDomain, d.tenantID) || strings.EqualFold(idOrDomain, d.domain) {
		return d.tenantID, true
	}
	return "", false
}
