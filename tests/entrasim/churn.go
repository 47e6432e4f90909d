package entrasim

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Directory churn: with Options.Churn > 0 the directory changes on its own as the simulated clock advances.
// Each simulated hour has a Poisson number of changes, each at its own instant, whose kind and parameters are
// drawn from (seed, hour, index); a change is applied once the clock passes its instant, before a directory
// request is served. The kinds cover every delta type: users (updates, enabled flag, password changes,
// creation, soft delete, restore, permanent delete), guests (invitation, acceptance), groups (members added
// and removed, nested groups added and removed, creation, updates, soft delete, restore, purge),
// applications and service principals, devices (sign-ins, compliance, registration, deletion), directory
// roles (members, activation) and administrative units (members, creation, deletion, restore). Objects in
// the recycle bin are purged 30 days after their deletion, with or without churn.

// recycleRetention is how long soft-deleted objects stay restorable (user-delete.md).
const recycleRetention = 30 * 24 * time.Hour

// churnState is the churn engine's position and the indexes it draws from.
type churnState struct {
	slot    int64 // the hour (since the epoch) whose changes are being applied
	done    int   // how many of that hour's changes are applied
	plan    []churnChange
	planFor int64
	// pendingGuests are invited guests who have not accepted yet.
	pendingGuests []*resource
	// recycle holds soft-deleted objects per collection, oldest first.
	recycle map[string][]recycled
	// nextDue is the simulated time (unix ns) before which nothing is due.
	nextDue atomic.Int64
}

type recycled struct {
	r  *resource
	at int64
}

// churnChange is one planned change: its instant and the seed of its parameters.
type churnChange struct {
	at  int64
	key uint64
}

// churnKind is one kind of change with its weight.
type churnKind struct {
	weight float64
	apply  func(t *Tenant, x *rng, at time.Time) bool
}

var churnKinds = []churnKind{
	{0.12, churnUserUpdate}, {0.04, churnUserToggle}, {0.04, churnUserPassword}, {0.05, churnUserCreate},
	{0.03, churnGuestInvite}, {0.03, churnGuestAccept}, {0.03, churnSoftDelete(colUsers)}, {0.015, churnRestore(colUsers)},
	{0.015, churnPurgeOne(colUsers)},
	{0.10, churnGroupMemberAdd}, {0.07, churnGroupMemberRemove}, {0.02, churnGroupNest}, {0.02, churnGroupCreate},
	{0.03, churnGroupUpdate}, {0.01, churnSoftDelete(colGroups)}, {0.005, churnRestore(colGroups)}, {0.005, churnPurgeOne(colGroups)},
	{0.02, churnAppUpdate}, {0.01, churnAppCreate}, {0.008, churnSoftDelete(colApplications)}, {0.004, churnRestore(colApplications)},
	{0.003, churnPurgeOne(colApplications)}, {0.02, churnSPUpdate}, {0.006, churnSoftDelete(colSPs)}, {0.004, churnRestore(colSPs)},
	{0.08, churnDeviceSignIn}, {0.03, churnDeviceCompliance}, {0.02, churnDeviceCreate}, {0.01, churnDeviceDelete},
	{0.02, churnRoleMemberAdd}, {0.015, churnRoleMemberRemove}, {0.003, churnRoleActivate},
	{0.02, churnAUMemberAdd}, {0.015, churnAUMemberRemove}, {0.003, churnAUCreate}, {0.003, churnSoftDelete(colAdminUnits)},
	{0.002, churnRestore(colAdminUnits)},
}

var churnWeight = func() float64 {
	w := 0.0
	for _, k := range churnKinds {
		w += k.weight
	}
	return w
}()

// syncChurn applies every change (churn and recycle-bin purges) due up to the simulated now. It takes the
// store's write lock only when something is due, so concurrent reads are not serialised.
func (t *Tenant) syncChurn() {
	now := t.Now().UnixNano()
	if now < t.churn.nextDue.Load() {
		return
	}
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	t.syncChurnLocked(now)
}

// dueAfter records that something may be due at the given time (caller holds the store lock).
func (t *Tenant) dueAfter(at int64) {
	if at < t.churn.nextDue.Load() {
		t.churn.nextDue.Store(at)
	}
}

// syncChurnLocked applies the changes due up to now in time order (caller holds the store lock).
func (t *Tenant) syncChurnLocked(now int64) {
	c := &t.churn
	for {
		next := int64(-1)
		if t.cfg.Churn > 0 {
			if c.planFor != c.slot || c.plan == nil {
				c.plan = t.churnPlan(c.slot)
				c.planFor = c.slot
			}
			if c.done < len(c.plan) {
				next = c.plan[c.done].at
			} else if (c.slot+1)*int64(time.Hour) <= now {
				c.slot++
				c.done = 0
				continue
			}
		}
		// Purges due before the next change come first.
		purge, purgeAt := t.nextPurge()
		if purge != "" && purgeAt <= now && (next < 0 || purgeAt <= next) {
			t.purgeDue(purge, purgeAt)
			continue
		}
		if next < 0 || next > now {
			due := int64(math.MaxInt64)
			if next >= 0 {
				due = next
			} else if t.cfg.Churn > 0 {
				due = (c.slot + 1) * int64(time.Hour)
			}
			if purge != "" {
				due = min(due, purgeAt)
			}
			c.nextDue.Store(due)
			return
		}
		ch := c.plan[c.done]
		c.done++
		x := newRNG(ch.key)
		at := time.Unix(0, ch.at).UTC()
		kind := x.float() * churnWeight
		applied := false
		for _, k := range churnKinds {
			if kind < k.weight {
				applied = k.apply(t, x, at)
				break
			}
			kind -= k.weight
		}
		if !applied {
			churnUserUpdate(t, x, at)
		}
	}
}

// churnPlan draws an hour's changes: how many, and when.
func (t *Tenant) churnPlan(slot int64) []churnChange {
	seed := uint64(t.cfg.Seed)
	r := newRNG(seed, strKey("churn"), uint64(slot))
	n := r.poisson(t.cfg.Churn)
	plan := make([]churnChange, n)
	for i := range plan {
		x := newRNG(seed, strKey("churn"), uint64(slot), uint64(i)+1)
		plan[i] = churnChange{at: slot*int64(time.Hour) + int64(x.float()*float64(time.Hour))/int64(time.Millisecond)*int64(time.Millisecond), key: x.next()}
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	return plan
}

// nextPurge returns the collection and time of the next recycle-bin purge due (30 days after deletion).
func (t *Tenant) nextPurge() (string, int64) {
	best, at := "", int64(0)
	for _, col := range []string{colUsers, colGroups, colApplications, colSPs, colAdminUnits} {
		bin := t.churn.recycle[col]
		if len(bin) == 0 {
			continue
		}
		due := bin[0].at + int64(recycleRetention)
		if best == "" || due < at {
			best, at = col, due
		}
	}
	return best, at
}

func (t *Tenant) purgeDue(col string, at int64) {
	bin := t.churn.recycle[col]
	r := bin[0].r
	t.churn.recycle[col] = bin[1:]
	if r.state() == stSoftDeleted {
		t.purge(r, time.Unix(0, at).UTC())
	}
}

// Helpers the changes share (caller holds the store lock).

func (t *Tenant) pickLive(x *rng, col string, ok func(*resource) bool) *resource {
	c := t.store.cols[col]
	if len(c.ids) == 0 {
		return nil
	}
	for tries := 0; tries < 16; tries++ {
		r := c.byID[c.ids[x.intn(len(c.ids))]]
		if r.live() && (ok == nil || ok(r)) {
			return r
		}
	}
	return nil
}

func isAdmin(t *Tenant, r *resource) bool {
	u := t.userOf(r)
	return u.Admin
}

// protected are objects churn never touches: the integration's app and principal, apps added by AddApp (tests
// use them as callers), Microsoft Graph's principal, administrators, and the named groups (audit events
// reference them).
func (t *Tenant) protected(r *resource) bool {
	if r.hidden["protected"] == true {
		return true
	}
	switch r.col.name {
	case colApplications, colSPs:
		id := r.propStr("appId")
		return id == t.dir.integration.AppID || id == GraphAppID
	case colGroups:
		return r.idx >= 0 && int(r.idx) < len(groupNames)
	case colUsers:
		return isAdmin(t, r)
	}
	return false
}

// softDelete moves an object to the recycle bin.
func (t *Tenant) softDelete(r *resource, at time.Time) {
	at = at.Truncate(time.Second)
	t.store.lifecycle(r, at, stSoftDeleted, obj{{"deletedDateTime", at}})
	t.followRegistration(r, at, stSoftDeleted)
	if t.churn.recycle == nil {
		t.churn.recycle = map[string][]recycled{}
	}
	t.churn.recycle[r.col.name] = append(t.churn.recycle[r.col.name], recycled{r: r, at: t.store.lastAt})
	t.dueAfter(t.store.lastAt + int64(recycleRetention))
}

// restore brings an object back from the recycle bin.
func (t *Tenant) restore(r *resource, at time.Time) {
	t.store.lifecycle(r, at, stLive, obj{{"deletedDateTime", nil}})
	t.followRegistration(r, at, stLive)
	bin := t.churn.recycle[r.col.name]
	t.churn.recycle[r.col.name] = slices.DeleteFunc(slices.Clone(bin), func(x recycled) bool { return x.r == r })
}

// purge deletes an object permanently: it leaves every group, role and administrative unit it was a member
// of, and a purged group leaves its parents.
func (t *Tenant) purge(r *resource, at time.Time) {
	t.store.lifecycle(r, at, stGone, nil)
	t.followRegistration(r, at, stGone)
	bin := t.churn.recycle[r.col.name]
	t.churn.recycle[r.col.name] = slices.DeleteFunc(slices.Clone(bin), func(x recycled) bool { return x.r == r })
	t.dropMemberships(r, at)
}

// dropMemberships removes a permanently deleted object from every container.
func (t *Tenant) dropMemberships(m *resource, at time.Time) {
	for _, col := range []string{colGroups, colDirectoryRoles, colAdminUnits} {
		c := t.store.cols[col]
		for _, id := range c.ids {
			g := c.byID[id]
			if g.ms != nil && slices.Contains(g.ms.current, m) {
				t.setMember(g, m, true, at)
			}
		}
	}
}

// setMember changes a membership and, for directory roles, the matching role assignment.
func (t *Tenant) setMember(g, m *resource, remove bool, at time.Time) bool {
	if !t.store.setMember(g, m, remove, at) {
		return false
	}
	if g.col.name == colDirectoryRoles {
		template := g.propStr("roleTemplateId")
		id := roleAssignmentID(template, m.id)
		ra := t.store.cols[colRoleAssignments]
		if remove {
			if a := ra.get(id); a != nil && a.live() {
				t.store.lifecycle(a, at, stGone, nil)
			}
		} else if a := ra.get(id); a == nil {
			t.store.create(ra, id, obj{{"id", id}, {"appScopeId", nil}, {"condition", nil}, {"directoryScopeId", "/"},
				{"principalId", m.id}, {"principalOrganizationId", t.dir.tenantID}, {"roleDefinitionId", template}}, at)
		} else if !a.live() {
			t.store.lifecycle(a, at, stLive, nil)
		}
	}
	return true
}

// newUser makes a user created at run time (never in the log streams' cast).
func (t *Tenant) newUser(x *rng, at time.Time, guest bool) (*resource, *User) {
	g, sn := pick(x, givenNames), pick(x, surnames)
	at = at.Truncate(time.Second)
	u := &User{ID: x.guid(), GivenName: g, Surname: sn, DisplayName: g + " " + sn, UserType: "Member", AccountEnabled: true,
		CreatedDateTime: at, Department: pick(x, departments), JobTitle: pick(x, jobTitles), HomeTenantID: t.dir.tenantID,
		place: x.intn(len(places)), device: x.intn(len(deviceProfiles))}
	u.UsageLocation = places[u.place].Country
	local := fmt.Sprintf("%s.%s.%04x", strings.ToLower(g), strings.ToLower(sn), x.next()&0xffff)
	u.UserPrincipalName = local + "@" + t.dir.domain
	u.Mail = u.UserPrincipalName
	if guest {
		ext := pick(x, externalDomains)
		u.UserType, u.Department, u.JobTitle = "Guest", "", ""
		u.HomeTenantID = guidFrom(uint64(t.cfg.Seed), strKey("home-tenant"), strKey(ext))
		u.Mail = local + "@" + ext
		u.UserPrincipalName = local + "_" + ext + "#EXT#@" + t.dir.domain
	}
	p := t.userProps(u, hashOf(strKey(u.ID)), nil)
	p.set("lastPasswordChangeDateTime", at)
	p.set("employeeHireDate", nil)
	if guest {
		p.set("externalUserState", "PendingAcceptance")
		p.set("externalUserStateChangeDateTime", at)
	}
	r := t.store.create(t.store.cols[colUsers], u.ID, p, at)
	r.hidden = map[string]any{"user": u}
	// The registration report has a row for every member and guest user (userregistrationdetails.md): the new
	// user's, from the methods the user's authentication/methods serve, stamped with the day it was made.
	if reg := t.store.cols[colRegistration]; reg != nil {
		methods, def := t.methodsOf(r)
		t.store.create(reg, u.ID, registrationProps(u, methods, def, at, false), at)
	}
	return r, u
}

// followRegistration gives a user's registration report row the user's new state: a soft-deleted or purged user
// leaves the report, a restored one returns (caller holds the store lock).
func (t *Tenant) followRegistration(r *resource, at time.Time, st resState) {
	if r.col.name != colUsers {
		return
	}
	reg := t.store.cols[colRegistration]
	if reg == nil {
		return
	}
	if row := reg.get(r.id); row != nil && row.state() != st {
		t.store.lifecycle(row, at, st, nil)
	}
}

func (t *Tenant) namedGroup(name string) *resource {
	return t.store.cols[colGroups].get(groupID(uint64(t.cfg.Seed), slices.Index(groupNames, name)))
}

// The changes. Each returns false when it found nothing to change (another change is made instead).

func churnUserUpdate(t *Tenant, x *rng, at time.Time) bool {
	u := t.pickLive(x, colUsers, func(r *resource) bool { return r.propStr("userType") == "Member" })
	if u == nil {
		return false
	}
	switch x.intn(3) {
	case 0:
		t.store.update(u, at, obj{{"jobTitle", pick(x, jobTitles)}})
	case 1:
		p := pick(x, places)
		t.store.update(u, at, obj{{"officeLocation", p.City}, {"city", p.City}, {"state", p.State}})
	default:
		t.store.update(u, at, obj{{"mobilePhone", fmt.Sprintf("+1 206 555 %04d", x.intn(10000))}})
	}
	return true
}

func churnUserToggle(t *Tenant, x *rng, at time.Time) bool {
	u := t.pickLive(x, colUsers, func(r *resource) bool { return !isAdmin(t, r) })
	if u == nil {
		return false
	}
	on := u.prop("accountEnabled")
	t.store.update(u, at, obj{{"accountEnabled", on != true}})
	return true
}

func churnUserPassword(t *Tenant, x *rng, at time.Time) bool {
	u := t.pickLive(x, colUsers, func(r *resource) bool { return r.propStr("userType") == "Member" })
	if u == nil {
		return false
	}
	t.store.update(u, at, obj{{"lastPasswordChangeDateTime", at.Truncate(time.Second)}})
	return true
}

func churnUserCreate(t *Tenant, x *rng, at time.Time) bool {
	r, u := t.newUser(x, at, false)
	if g := t.namedGroup(u.Department); g != nil {
		t.setMember(g, r, false, at)
	}
	if x.chance(0.3) {
		t.setMember(t.namedGroup("VPN Users"), r, false, at)
	}
	return true
}

func churnGuestInvite(t *Tenant, x *rng, at time.Time) bool {
	r, _ := t.newUser(x, at, true)
	t.churn.pendingGuests = append(t.churn.pendingGuests, r)
	t.setMember(t.namedGroup("Guests"), r, false, at)
	return true
}

func churnGuestAccept(t *Tenant, x *rng, at time.Time) bool {
	pg := t.churn.pendingGuests
	if len(pg) == 0 {
		return false
	}
	i := x.intn(len(pg))
	r := pg[i]
	t.churn.pendingGuests = slices.Delete(slices.Clone(pg), i, i+1)
	if !r.live() {
		return false
	}
	t.store.update(r, at, obj{{"externalUserState", "Accepted"}, {"externalUserStateChangeDateTime", at.Truncate(time.Second)}})
	return true
}

func churnSoftDelete(col string) func(t *Tenant, x *rng, at time.Time) bool {
	return func(t *Tenant, x *rng, at time.Time) bool {
		r := t.pickLive(x, col, func(r *resource) bool { return !t.protected(r) })
		if r == nil {
			return false
		}
		t.softDelete(r, at)
		return true
	}
}

// churnFromBin restores (or permanently deletes) an object of the collection's recycle bin.
func churnFromBin(col string, purge bool) func(t *Tenant, x *rng, at time.Time) bool {
	return func(t *Tenant, x *rng, at time.Time) bool {
		bin := t.churn.recycle[col]
		if len(bin) == 0 {
			return false
		}
		r := bin[x.intn(len(bin))].r
		switch {
		case r.state() != stSoftDeleted:
			return false
		case purge:
			t.purge(r, at)
		default:
			t.restore(r, at)
		}
		return true
	}
}

func churnRestore(col string) func(t *Tenant, x *rng, at time.Time) bool {
	return churnFromBin(col, false)
}
func churnPurgeOne(col string) func(t *Tenant, x *rng, at time.Time) bool {
	return churnFromBin(col, true)
}

// mutableGroup picks a generated, live group whose membership churn may change.
func (t *Tenant) mutableGroup(x *rng, kinds ...groupKind) *resource {
	return t.pickLive(x, colGroups, func(r *resource) bool {
		if t.protected(r) && r != t.namedGroup("VPN Users") {
			return false
		}
		if r.idx < 0 {
			return len(kinds) == 0 || slices.Contains(kinds, gkSecurity)
		}
		k := t.groupFactsOf(int(r.idx)).kind
		return k != gkDevices && (len(kinds) == 0 || slices.Contains(kinds, k))
	})
}

func churnGroupMemberAdd(t *Tenant, x *rng, at time.Time) bool {
	g := t.mutableGroup(x)
	u := t.pickLive(x, colUsers, nil)
	if g == nil || u == nil {
		return false
	}
	return t.setMember(g, u, false, at)
}

func churnGroupMemberRemove(t *Tenant, x *rng, at time.Time) bool {
	g := t.mutableGroup(x)
	if g == nil || len(g.ms.current) == 0 {
		return false
	}
	return t.setMember(g, g.ms.current[x.intn(len(g.ms.current))], true, at)
}

// churnGroupNest adds a group to a security group, or takes a nested one out.
func churnGroupNest(t *Tenant, x *rng, at time.Time) bool {
	g := t.mutableGroup(x, gkSecurity)
	if g == nil {
		return false
	}
	for _, m := range g.ms.current {
		if m.col.name == colGroups && x.chance(0.5) {
			return t.setMember(g, m, true, at)
		}
	}
	sub := t.mutableGroup(x)
	if sub == nil || sub == g || sub.prop("isAssignableToRole") == true {
		return false
	}
	return t.setMember(g, sub, false, at)
}

func churnGroupCreate(t *Tenant, x *rng, at time.Time) bool {
	at = at.Truncate(time.Second)
	id := x.guid()
	f := groupFacts{name: fmt.Sprintf("%s %s (new %04x)", pick(x, groupThemes), pick(x, groupWords), x.next()&0xffff), kind: gkSecurity, created: at}
	g := t.store.create(t.store.cols[colGroups], id, t.groupProps(id, f), at)
	g.ms = &membership{}
	for k := 1 + x.intn(5); k > 0; k-- {
		if u := t.pickLive(x, colUsers, nil); u != nil {
			t.setMember(g, u, false, at)
		}
	}
	return true
}

func churnGroupUpdate(t *Tenant, x *rng, at time.Time) bool {
	g := t.pickLive(x, colGroups, nil)
	if g == nil {
		return false
	}
	t.store.update(g, at, obj{{"description", g.propStr("displayName") + " (" + pick(x, []string{"updated", "reviewed", "owners changed"}) + ")"}})
	return true
}

func churnAppUpdate(t *Tenant, x *rng, at time.Time) bool {
	a := t.pickLive(x, colApplications, func(r *resource) bool { return !t.protected(r) })
	if a == nil {
		return false
	}
	p := a.props()
	if x.chance(0.5) {
		web, _ := p.get("web")
		w := slices.Clone(web.(obj))
		uris, _ := w.get("redirectUris")
		list := append(slices.Clone(uris.([]string)), fmt.Sprintf("https://app%04x.example.com/callback", x.next()&0xffff))
		w.set("redirectUris", list)
		var settings []obj
		for _, u := range list {
			settings = append(settings, obj{{"uri", u}, {"index", nil}})
		}
		w.set("redirectUriSettings", settings)
		t.store.update(a, at, obj{{"web", w}})
		return true
	}
	secrets, _ := a.hidden["secrets"].([]PasswordCredential)
	s := newSecret(x, "rotated", at.Truncate(time.Second), 180*24*time.Hour)
	s.SecretText = "" // churn's secrets are never presented to the authority
	secrets = append(slices.Clone(secrets), s)
	a.hidden["secrets"] = secrets
	t.store.update(a, at, obj{{"passwordCredentials", passwordCredentialObjs(secrets)}})
	return true
}

func churnAppCreate(t *Tenant, x *rng, at time.Time) bool {
	at = at.Truncate(time.Second)
	name := fmt.Sprintf("%s %04x", pick(x, appNames), x.next()&0xffff)
	app := &Application{ID: x.guid(), AppID: x.guid(), DisplayName: name, CreatedDateTime: at}
	app.SignInAudience = appAudience(uint64(t.cfg.Seed), app.AppID)
	ar := t.store.create(t.store.cols[colApplications], app.ID, t.appProps(app), at)
	ar.hidden = map[string]any{"secrets": []PasswordCredential(nil), "roles": []string(nil), "order": t.nextOrder()}
	sp := &ServicePrincipal{ID: x.guid(), AppID: app.AppID, DisplayName: name, ServicePrincipalType: "Application",
		AppOwnerOrganizationID: t.dir.tenantID, AccountEnabled: true}
	sr := t.store.create(t.store.cols[colSPs], sp.ID, t.spProps(sp, app, at), at)
	sr.hidden = map[string]any{"order": ar.hidden["order"]}
	return true
}

func churnSPUpdate(t *Tenant, x *rng, at time.Time) bool {
	sp := t.pickLive(x, colSPs, func(r *resource) bool { return !t.protected(r) })
	if sp == nil {
		return false
	}
	if x.chance(0.5) {
		req := sp.prop("appRoleAssignmentRequired")
		t.store.update(sp, at, obj{{"appRoleAssignmentRequired", req != true}})
	} else {
		on := sp.prop("accountEnabled")
		t.store.update(sp, at, obj{{"accountEnabled", on != true}})
	}
	return true
}

func churnDeviceSignIn(t *Tenant, x *rng, at time.Time) bool {
	d := t.pickLive(x, colDevices, nil)
	if d == nil {
		return false
	}
	t.store.update(d, at, obj{{"approximateLastSignInDateTime", at.Truncate(time.Second)}})
	return true
}

func churnDeviceCompliance(t *Tenant, x *rng, at time.Time) bool {
	d := t.pickLive(x, colDevices, func(r *resource) bool { return r.prop("isManaged") == true })
	if d == nil {
		return false
	}
	on := d.prop("isCompliant") == true
	var exp any
	if on {
		exp = at.Add(7 * 24 * time.Hour).Truncate(time.Second)
	}
	t.store.update(d, at, obj{{"isCompliant", !on}, {"complianceExpirationDateTime", exp}})
	return true
}

func churnDeviceCreate(t *Tenant, x *rng, at time.Time) bool {
	if len(t.deviceSeeds) == 0 {
		return false
	}
	at = at.Truncate(time.Second)
	p := t.deviceProps(t.deviceSeeds[x.intn(len(t.deviceSeeds))])
	deviceID := x.guid()
	id := deviceObjectID(uint64(t.cfg.Seed), deviceID)
	p.set("id", id)
	p.set("deviceId", deviceID)
	p.set("displayName", fmt.Sprintf("DESKTOP-%06X", x.next()&0xffffff))
	p.set("registrationDateTime", at)
	p.set("approximateLastSignInDateTime", at)
	t.store.create(t.store.cols[colDevices], id, p, at)
	return true
}

func churnDeviceDelete(t *Tenant, x *rng, at time.Time) bool {
	d := t.pickLive(x, colDevices, nil)
	if d == nil {
		return false
	}
	// Devices have no recycle bin: deleting one is permanent.
	t.store.lifecycle(d, at, stGone, nil)
	t.dropMemberships(d, at)
	return true
}

func (t *Tenant) mutableRole(x *rng) *resource {
	return t.pickLive(x, colDirectoryRoles, func(r *resource) bool {
		tpl := r.propStr("roleTemplateId")
		return tpl != roleGlobalAdmin && tpl != roleGlobalReader
	})
}

func churnRoleMemberAdd(t *Tenant, x *rng, at time.Time) bool {
	role := t.mutableRole(x)
	u := t.pickLive(x, colUsers, func(r *resource) bool { return r.propStr("userType") == "Member" })
	if role == nil || u == nil {
		return false
	}
	return t.setMember(role, u, false, at)
}

func churnRoleMemberRemove(t *Tenant, x *rng, at time.Time) bool {
	role := t.mutableRole(x)
	if role == nil || len(role.ms.current) == 0 {
		return false
	}
	m := role.ms.current[x.intn(len(role.ms.current))]
	if m.col.name != colUsers {
		return false
	}
	return t.setMember(role, m, true, at)
}

// churnRoleActivate activates a built-in role that has no directoryRole object yet, with a first member.
func churnRoleActivate(t *Tenant, x *rng, at time.Time) bool {
	roles := t.store.cols[colDirectoryRoles]
	seed := uint64(t.cfg.Seed)
	for i := range builtInRoles {
		id := directoryRoleID(seed, builtInRoles[i].id)
		if roles.get(id) != nil {
			continue
		}
		r := t.store.create(roles, id, directoryRoleProps(seed, i), at)
		r.ms = &membership{}
		if u := t.pickLive(x, colUsers, func(r *resource) bool { return r.propStr("userType") == "Member" }); u != nil {
			t.setMember(r, u, false, at)
		}
		return true
	}
	return false
}

func churnAUMemberAdd(t *Tenant, x *rng, at time.Time) bool {
	au := t.pickLive(x, colAdminUnits, nil)
	u := t.pickLive(x, colUsers, nil)
	if au == nil || u == nil {
		return false
	}
	return t.setMember(au, u, false, at)
}

func churnAUMemberRemove(t *Tenant, x *rng, at time.Time) bool {
	au := t.pickLive(x, colAdminUnits, nil)
	if au == nil || len(au.ms.current) == 0 {
		return false
	}
	return t.setMember(au, au.ms.current[x.intn(len(au.ms.current))], true, at)
}

func churnAUCreate(t *Tenant, x *rng, at time.Time) bool {
	at = at.Truncate(time.Second)
	id := x.guid()
	c := pick(x, places).Country
	p := adminUnitProps(id, c, false, false)
	p.set("displayName", fmt.Sprintf("AU - %s project %04x", countryNames[c], x.next()&0xffff))
	au := t.store.create(t.store.cols[colAdminUnits], id, p, at)
	au.ms = &membership{}
	for k := 1 + x.intn(5); k > 0; k-- {
		if u := t.pickLive(x, colUsers, nil); u != nil {
			t.setMember(au, u, false, at)
		}
	}
	return true
}
