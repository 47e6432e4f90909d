package entrasim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Typed views of the live directory (the object store), for the authority, the Go API and tests.

// appResourceByClientID finds an application by appId (caller holds t.store.mu).
func (t *Tenant) appResourceByClientID(appID string) *resource {
	c := t.store.cols[colApplications]
	var found *resource
	c.each("", func(r *resource) bool {
		if r.live() && strings.EqualFold(r.props().str("appId"), appID) {
			found = r
			return false
		}
		return true
	})
	return found
}

func applicationOf(r *resource) Application {
	p := r.props()
	a := Application{ID: r.id, AppID: p.str("appId"), DisplayName: p.str("displayName"),
		SignInAudience: p.str("signInAudience")}
	if v, ok := p.get("createdDateTime"); ok {
		a.CreatedDateTime, _ = v.(time.Time)
	}
	secrets, _ := r.hidden["secrets"].([]PasswordCredential)
	a.PasswordCredentials = slices.Clone(secrets)
	roles, _ := r.hidden["roles"].([]string)
	a.Roles = slices.Clone(roles)
	return a
}

// appByClientID returns the live application registration with that client id.
func (t *Tenant) appByClientID(appID string) (Application, bool) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	r := t.appResourceByClientID(appID)
	if r == nil {
		return Application{}, false
	}
	return applicationOf(r), true
}

// spIDOf returns the object id of an application's service principal.
func (t *Tenant) spIDOf(appID string) string {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	var id string
	t.store.cols[colSPs].each("", func(r *resource) bool {
		if strings.EqualFold(r.props().str("appId"), appID) {
			id = r.id
			return false
		}
		return true
	})
	return id
}

// Users returns the live users (soft-deleted ones excluded), in id order.
func (t *Tenant) Users() []User {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	var out []User
	t.store.cols[colUsers].each("", func(r *resource) bool {
		if r.live() {
			out = append(out, t.userView(r))
		}
		return true
	})
	return out
}

// userOf returns the generated User behind a user object (caller holds the store lock).
func (t *Tenant) userOf(r *resource) *User {
	if r.idx >= 0 {
		return &t.gen.cast.users[r.idx]
	}
	u, _ := r.hidden["user"].(*User)
	if u == nil {
		return &User{ID: r.id}
	}
	return u
}

// userView is a user's current state as a User.
func (t *Tenant) userView(r *resource) User {
	gen := t.userOf(r)
	p := r.props()
	u := User{ID: r.id, DisplayName: p.str("displayName"), GivenName: p.str("givenName"),
		Surname: p.str("surname"), UserPrincipalName: p.str("userPrincipalName"), Mail: p.str("mail"),
		UserType: p.str("userType"), Department: p.str("department"), JobTitle: p.str("jobTitle"),
		UsageLocation: p.str("usageLocation")}
	if v, ok := p.get("accountEnabled"); ok {
		u.AccountEnabled, _ = v.(bool)
	}
	if v, ok := p.get("createdDateTime"); ok {
		u.CreatedDateTime, _ = v.(time.Time)
	}
	u.Admin = gen.Admin
	for _, role := range t.rolesOf(r) {
		u.Roles = append(u.Roles, role.propStr("displayName"))
	}
	u.HomeTenantID, u.place, u.device = gen.HomeTenantID, gen.place, gen.device
	return u
}

// Applications returns the live application registrations (the integration's own included), in the order
// they were created.
func (t *Tenant) Applications() []Application {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	var rs []*resource
	t.store.cols[colApplications].each("", func(r *resource) bool {
		if r.live() {
			rs = append(rs, r)
		}
		return true
	})
	slices.SortStableFunc(rs, func(a, b *resource) int { return int(a.hidden["order"].(int) - b.hidden["order"].(int)) })
	out := make([]Application, len(rs))
	for i, r := range rs {
		out[i] = applicationOf(r)
	}
	return out
}

// ServicePrincipals returns the live service principals of the tenant's applications (in application
// order), then the managed identities; Microsoft Graph's own service principal is not included.
func (t *Tenant) ServicePrincipals() []ServicePrincipal {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	var rs []*resource
	t.store.cols[colSPs].each("", func(r *resource) bool {
		if _, ok := r.hidden["order"]; ok && r.live() {
			rs = append(rs, r)
		}
		return true
	})
	key := func(r *resource) int {
		k := r.hidden["order"].(int)
		if r.props().str("servicePrincipalType") == "ManagedIdentity" {
			k += 1 << 30
		}
		return k
	}
	slices.SortStableFunc(rs, func(a, b *resource) int { return key(a) - key(b) })
	out := make([]ServicePrincipal, len(rs))
	for i, r := range rs {
		p := r.props()
		sp := ServicePrincipal{ID: r.id, AppID: p.str("appId"), DisplayName: p.str("displayName"),
			ServicePrincipalType: p.str("servicePrincipalType"), AppOwnerOrganizationID: p.str("appOwnerOrganizationId")}
		if v, ok := p.get("alternativeNames"); ok {
			sp.AlternativeNames, _ = v.([]string)
			sp.AlternativeNames = slices.Clone(sp.AlternativeNames)
		}
		if v, ok := p.get("accountEnabled"); ok {
			sp.AccountEnabled, _ = v.(bool)
		}
		sp.Provisioning, _ = r.hidden["provisioning"].(bool)
		out[i] = sp
	}
	return out
}

// AddApp registers another application (with its service principal) holding the given Graph application
// permissions and a fresh client secret (in the returned PasswordCredentials[0].SecretText): tests use it for
// a second caller, e.g. one without permissions.
func (t *Tenant) AddApp(displayName string, roles []string) (Application, error) {
	for _, r := range roles {
		if _, ok := appRoleIDs[r]; !ok {
			return Application{}, fmt.Errorf("entrasim: AddApp: unknown Graph application permission %q", r)
		}
	}
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	apps := s.cols[colApplications]
	n := len(apps.ids)
	r := newRNG(uint64(t.cfg.Seed), strKey("added-app"), uint64(n), strKey(displayName))
	now := t.Now()
	start := now.Add(-time.Hour)
	app := &Application{ID: r.guid(), AppID: r.guid(), DisplayName: displayName, CreatedDateTime: start.UTC(),
		SignInAudience: "AzureADMyOrg", Roles: slices.Clone(roles)}
	app.PasswordCredentials = []PasswordCredential{newSecret(r, "default", start, t.cfg.SecretLifetime)}
	ar := s.create(apps, app.ID, t.appProps(app), now)
	ar.hidden = map[string]any{"secrets": slices.Clone(app.PasswordCredentials), "roles": slices.Clone(roles), "order": t.nextOrder(),
		"protected": true}
	sp := &ServicePrincipal{ID: r.guid(), AppID: app.AppID, DisplayName: displayName, ServicePrincipalType: "Application",
		AppOwnerOrganizationID: t.dir.tenantID, AccountEnabled: true}
	sr := s.create(s.cols[colSPs], sp.ID, t.spProps(sp, app, start), now)
	sr.hidden = map[string]any{"order": ar.hidden["order"], "protected": true}
	return applicationOf(ar), nil
}

// nextOrder numbers applications and service principals in creation order (caller holds the store lock).
func (t *Tenant) nextOrder() int {
	t.order++
	return t.order
}

// SetGroupMember adds member (a user or group object id) to group, or removes it, at the simulated now, as a
// change delta queries report (members@delta) and the ground truth keeps. It reports whether anything changed.
func (t *Tenant) SetGroupMember(group, member string, remove bool) (bool, error) {
	t.syncChurn()
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.cols[colGroups].get(group)
	if g == nil || !g.live() {
		return false, fmt.Errorf("entrasim: SetGroupMember: no group %q", group)
	}
	var m *resource
	for _, col := range []string{colUsers, colGroups} {
		if r := s.cols[col].get(member); r != nil && r.live() {
			m = r
		}
	}
	if m == nil {
		return false, fmt.Errorf("entrasim: SetGroupMember: no user or group %q", member)
	}
	return t.setMember(g, m, remove, t.Now()), nil
}
