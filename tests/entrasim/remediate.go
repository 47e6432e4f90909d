package entrasim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Remediation endpoints that change the tenant (reference §6): revoke sign-in sessions, list and delete
// authentication methods per type (with Graph's constraints), PATCH user, DELETE user into deletedItems with
// get, restore and purge (groups, applications, service principals and administrative units too), the directory
// roles a user holds (transitiveMemberOf/microsoft.graph.directoryRole),
// and application passwords (addPassword/removePassword). Every change bumps the object's change sequence, so
// delta queries report it.
//
// Graph's constraints, as documented (graph.md §6, checked against the v1.0 API pages):
//   - phoneauthenticationmethod-delete: "A user can't have an alternateMobile number without a mobile number":
//     the mobile phone cannot go while an alternate mobile exists (error wording unverified).
//   - the default method cannot be deleted while other methods remain: 400 badRequest "Cannot delete default
//     method with other methods configured. Please change default method before deletion." (wording as Graph
//     answered it, microsoft-graph-docs #14470); as the last method it can (the same wording implies it).
//   - the password method cannot be deleted.
//   - user-delete and directory-deleteditems-restore: in app-only calls User.ReadWrite.All "isn't enough
//     privilege" for users holding administrator roles (403 here; every caller of this simulator is app-only).
//     User.ReadWrite.All is the only application permission listed for both.
//   - directory-deleteditems-delete: permanently deleting a user is "Not supported" for applications (403).
//   - user-revokesigninsessions: external (B2B) users are not revoked (they sign in at home); Graph still
//     answers 200 {"value": true}.
//   - users.md sensitive properties (accountEnabled, mobilePhone, …) of administrators: 403 for app-only
//     callers; userType is not sensitive.
// "Administrator" is any activated directory role, held directly or through a (nested) group.
//
// Fault rules apply to these endpoints too (by path prefix); FaultDelay serves the request — its change takes
// effect — and holds the response, as a slow or lost answer would.

var (
	writeUsers = anyOf("User.ReadWrite.All", "Directory.ReadWrite.All")
	// user-delete and directory-deleteditems-restore list User.ReadWrite.All alone for applications.
	deleteUsers  = anyOf("User.ReadWrite.All")
	readMethods  = anyOf("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All")
	writeMethods = anyOf("UserAuthenticationMethod.ReadWrite.All")
	// Application.ReadWrite.OwnedBy reaches only the apps the caller owns (mayWriteApp).
	writeApps = anyOf("Application.ReadWrite.All", "Directory.ReadWrite.All", "Application.ReadWrite.OwnedBy")
)

// methodPaths maps the authentication method path segments to their @odata.type.
var methodPaths = map[string]string{
	"phoneMethods":                   "#microsoft.graph.phoneAuthenticationMethod",
	"microsoftAuthenticatorMethods":  "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
	"fido2Methods":                   "#microsoft.graph.fido2AuthenticationMethod",
	"softwareOathMethods":            "#microsoft.graph.softwareOathAuthenticationMethod",
	"emailMethods":                   "#microsoft.graph.emailAuthenticationMethod",
	"temporaryAccessPassMethods":     "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
	"windowsHelloForBusinessMethods": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
	"platformCredentialMethods":      "#microsoft.graph.platformCredentialAuthenticationMethod",
	"passwordMethods":                "#microsoft.graph.passwordAuthenticationMethod",
}

func (t *Tenant) buildRemediationRoutes() {
	for _, version := range []string{"v1.0", "beta"} {
		add := func(method, path string, fam family, perm permission, serve func(rc *reqCtx)) {
			t.routes = append(t.routes, &route{method: method, version: version, segs: splitPath(path), family: fam,
				name: version + "/" + path, perms: []permission{perm}, serve: t.withFaults(serve)})
		}
		add(http.MethodPost, "users/{}/revokeSignInSessions", familyDirectory, writeUsers, t.serveRevoke)
		// Authentication method calls count under identity & access reports (reference §6).
		add(http.MethodGet, "users/{}/authentication/methods", familyReports, readMethods, t.serveListMethods)
		for seg := range methodPaths {
			seg := seg
			add(http.MethodDelete, "users/{}/authentication/"+seg+"/{}", familyReports, writeMethods,
				func(rc *reqCtx) { t.serveDeleteMethod(rc, seg) })
		}
		add(http.MethodGet, "users/{}/transitiveMemberOf/microsoft.graph.directoryRole", familyDirectory, readUsers, t.serveUserRoles)
		add(http.MethodPatch, "users/{}", familyDirectory, writeUsers, t.servePatchUser)
		add(http.MethodDelete, "users/{}", familyDirectory, deleteUsers, t.serveDeleteUser)
		for _, d := range deletedKinds {
			d := d
			add(http.MethodGet, "directory/deletedItems/microsoft.graph."+d.entity, familyDirectory, d.perm, func(rc *reqCtx) { t.serveDeleted(rc, d) })
		}
		// After the literal routes: routes match in order.
		add(http.MethodGet, "directory/deletedItems/{}", familyDirectory, readUsers, t.serveDeletedItem)
		add(http.MethodPost, "directory/deletedItems/{}/restore", familyDirectory, writeUsers, t.serveRestore)
		add(http.MethodDelete, "directory/deletedItems/{}", familyDirectory, writeUsers, t.servePurge)
		add(http.MethodPost, "applications/{}/addPassword", familyDirectory, writeApps, t.serveAddPassword)
		add(http.MethodPost, "applications/{}/removePassword", familyDirectory, writeApps, t.serveRemovePassword)
	}
}

func param(rc *reqCtx, i int) string {
	s, _ := url.PathUnescape(rc.params[i])
	return s
}

// liveUser resolves a user by id or userPrincipalName (caller holds the store lock).
func (t *Tenant) liveUser(id string) *resource {
	return t.resolveID(dirEndpoints[0], id)
}

// deletedKinds are the object types deletedItems lists (directory-list-deleteditems.md).
var deletedKinds = []struct {
	col, entity string
	perm        permission
}{
	{colUsers, "user", readUsers}, {colGroups, "group", readGroups}, {colApplications, "application", readApps},
	{colSPs, "servicePrincipal", readApps}, {colAdminUnits, "administrativeUnit", readAdminUnits},
}

// methodsOf returns a user's authentication methods and default method: generated until one is deleted
// (caller holds the store lock).
func (t *Tenant) methodsOf(u *resource) ([]obj, string) {
	if ms, ok := u.hidden["methods"].([]obj); ok {
		def, _ := u.hidden["defaultMethod"].(string)
		return ms, def
	}
	return authMethods(t.userOf(u), uint64(t.cfg.Seed), t.cfg.start.Truncate(time.Second))
}

func (t *Tenant) writeJSONBody(rc *reqCtx, status int, w *jw) {
	rc.w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	rc.w.WriteHeader(status)
	_, _ = rc.w.Write(w.b)
}

func (t *Tenant) serveRevoke(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.Lock()
	u := t.liveUser(param(rc, 0))
	if u == nil {
		t.store.mu.Unlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	// External (B2B) users authenticate at home: the call answers 200 but revokes nothing
	// (microsoft-graph-docs #19012, reference §6).
	if u.props().str("userType") != "Guest" {
		t.store.update(u, t.Now(), obj{{"signInSessionsValidFromDateTime", t.Now().Truncate(time.Second)}})
	}
	t.store.mu.Unlock()
	var w jw
	w.beginObj()
	w.kstr("@odata.context", rc.base+"/"+strings.Split(strings.TrimPrefix(rc.r.URL.Path, "/"), "/")[0]+"/$metadata#Edm.Boolean")
	w.kbool("value", true)
	w.endObj()
	t.writeJSONBody(rc, http.StatusOK, &w)
}

func (t *Tenant) serveListMethods(rc *reqCtx) {
	t.store.mu.RLock()
	u := t.liveUser(param(rc, 0))
	if u == nil {
		t.store.mu.RUnlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	methods, _ := t.methodsOf(u)
	body, n := objectsPage(t.contextURL(rc, "users('"+u.id+"')/authentication/methods", nil), methods).render()
	t.store.mu.RUnlock()
	t.sendPage(rc, body, n)
}

// serveDeleteMethod deletes one authentication method. Graph's constraints (reference §6): the password
// cannot be deleted; a mobile phone cannot be deleted while an alternate mobile exists (wording unverified); the
// default method cannot be deleted while other methods remain.
func (t *Tenant) serveDeleteMethod(rc *reqCtx, seg string) {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	u := t.liveUser(param(rc, 0))
	if u == nil {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	methods, def := t.methodsOf(u)
	id := param(rc, 1)
	i := slices.IndexFunc(methods, func(m obj) bool {
		return strings.EqualFold(m.str("id"), id) && m.str("@odata.type") == methodPaths[seg]
	})
	if i < 0 {
		t.writeError(rc, &gerr{status: 404, code: "itemNotFound", message: fmt.Sprintf("The requested authentication method '%s' was not found.", id)})
		return
	}
	m := methods[i]
	others := slices.ContainsFunc(methods, func(x obj) bool {
		return x.str("id") != m.str("id") && x.str("@odata.type") != methodPaths["passwordMethods"]
	})
	switch {
	case seg == "passwordMethods":
		t.writeError(rc, badRequest("The password authentication method cannot be deleted."))
		return
	case m.str("phoneType") == "mobile" && slices.ContainsFunc(methods, func(x obj) bool { return x.str("phoneType") == "alternateMobile" }):
		t.writeError(rc, badRequest("A user cannot have an alternate mobile phone number without a mobile phone number. Delete the alternate mobile phone method first."))
		return
	case def == m.str("id") && others:
		t.writeError(rc, errDefaultMethod)
		return
	}
	if def == m.str("id") {
		def = ""
	}
	if u.hidden == nil {
		u.hidden = map[string]any{}
	}
	u.hidden["methods"] = slices.Delete(slices.Clone(methods), i, i+1)
	u.hidden["defaultMethod"] = def
	rc.w.WriteHeader(http.StatusNoContent)
}

// errDefaultMethod is Graph's answer to deleting the default method while others remain (microsoft-graph-docs
// #14470; the lowercase code is Graph's).
var errDefaultMethod = &gerr{status: 400, code: "badRequest", message: "Cannot delete default method with other methods configured. Please change default method before deletion."}

// userPatchable are the user properties PATCH accepts here, with their JSON types.
var userPatchable = map[string]string{
	"userType": "string", "accountEnabled": "bool", "jobTitle": "string", "department": "string",
	"displayName": "string", "usageLocation": "string", "officeLocation": "string", "mobilePhone": "string",
}

// sensitiveUserProps need a privileged role when the target is an administrator (users.md).
var sensitiveUserProps = map[string]bool{"accountEnabled": true, "mobilePhone": true}

// readBody reads a JSON object body, gunzipping it when the client compressed it (kiota's compression
// middleware sends Content-Encoding: gzip request bodies, which Graph accepts).
func readBody(rc *reqCtx) (map[string]json.RawMessage, *gerr) {
	var src io.Reader = rc.r.Body
	if strings.EqualFold(rc.r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rc.r.Body)
		if err != nil {
			return nil, &gerr{status: 400, code: "Request_BadRequest", message: "Invalid request body: " + err.Error()}
		}
		defer zr.Close()
		src = zr
	}
	b, err := io.ReadAll(io.LimitReader(src, 1<<16))
	if err != nil {
		return nil, &gerr{status: 400, code: "Request_BadRequest", message: "Invalid request body: " + err.Error()}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &gerr{status: 400, code: "Request_BadRequest", message: "Invalid request body: " + err.Error()}
	}
	return m, nil
}

func (t *Tenant) servePatchUser(rc *reqCtx) {
	body, g := readBody(rc)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	u := t.liveUser(param(rc, 0))
	if u == nil {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	type change struct {
		k string
		v any
	}
	var changes []change
	for k, raw := range body {
		if strings.HasPrefix(k, "@") {
			continue // instance annotations such as "@odata.type":"#microsoft.graph.user" (sent by msgraph-sdk-go)
		}
		typ, ok := userPatchable[k]
		if !ok {
			t.writeError(rc, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", k)})
			return
		}
		if sensitiveUserProps[k] && t.holdsRole(u) {
			// An app without a privileged directory role cannot change sensitive properties of an
			// administrator (users.md; reference §6).
			t.writeError(rc, errInsufficientPrivileges)
			return
		}
		var v any
		var err error
		switch typ {
		case "bool":
			var b bool
			err = json.Unmarshal(raw, &b)
			v = b
		default:
			var s *string
			err = json.Unmarshal(raw, &s)
			if s != nil {
				v = *s
			}
		}
		if err != nil {
			t.writeError(rc, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", k)})
			return
		}
		if k == "userType" && v != "Member" && v != "Guest" {
			t.writeError(rc, &gerr{status: 400, code: "Request_BadRequest", message: "Invalid value specified for property 'userType' of resource 'User'."})
			return
		}
		changes = append(changes, change{k, v})
	}
	var set obj
	for _, c := range changes {
		set = append(set, kv{c.k, c.v})
	}
	if len(set) > 0 {
		t.store.update(u, t.Now(), set)
	}
	rc.w.WriteHeader(http.StatusNoContent)
}

// serveDeleteUser soft-deletes a user: restorable for 30 days from deletedItems (user-delete.md). App-only
// callers cannot delete administrators (source: user-delete.md).
func (t *Tenant) serveDeleteUser(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	u := t.liveUser(param(rc, 0))
	if u == nil {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	if t.holdsRole(u) {
		t.writeError(rc, errInsufficientPrivileges)
		return
	}
	t.softDelete(u, t.Now())
	rc.w.WriteHeader(http.StatusNoContent)
}

func (t *Tenant) serveDeleted(rc *reqCtx, kind struct {
	col, entity string
	perm        permission
}) {
	t.syncChurn()
	t.store.mu.RLock()
	var deleted []*resource
	t.store.cols[kind.col].each("", func(r *resource) bool {
		if r.state() == stSoftDeleted {
			deleted = append(deleted, r)
		}
		return true
	})
	p := dirPage{context: t.contextURL(rc, "directory/deletedItems/microsoft.graph."+kind.entity, nil), items: func(w *jw, emit func()) {
		for _, r := range deleted {
			w.beginObj()
			w.kstr("@odata.type", "#microsoft.graph."+kind.entity)
			writeProps(w, r.id, r.props(), nil, nil, true)
			emit()
		}
	}}
	body, n := p.render()
	t.store.mu.RUnlock()
	t.sendPage(rc, body, n)
}

// deletedObject finds an object in the recycle bin (caller holds the store lock).
func (t *Tenant) deletedObject(id string) *resource {
	for _, d := range deletedKinds {
		if r := t.store.cols[d.col].get(id); r != nil && r.state() == stSoftDeleted {
			return r
		}
	}
	return nil
}

func (t *Tenant) serveRestore(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.Lock()
	r := t.deletedObject(param(rc, 0))
	if r == nil {
		t.store.mu.Unlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	if r.col.name == colUsers && !deleteUsers.granted(rc.principal.Roles) {
		// directory-deleteditems-restore: users need User.ReadWrite.All (Directory.ReadWrite.All is not listed).
		t.store.mu.Unlock()
		t.writeError(rc, deleteUsers.missing())
		return
	}
	if r.col.name == colUsers && t.holdsRole(r) {
		t.store.mu.Unlock()
		t.writeError(rc, errInsufficientPrivileges)
		return
	}
	t.restore(r, t.Now())
	var w jw
	w.beginObj()
	w.kstr("@odata.context", t.contextURL(rc, "directoryObjects", nil)+"/$entity")
	w.kstr("@odata.type", "#microsoft.graph."+r.col.entity)
	writeProps(&w, r.id, r.props(), nil, nil, true)
	w.endObj()
	t.store.mu.Unlock()
	t.writeJSONBody(rc, http.StatusOK, &w)
}

// servePurge answers a permanent delete. For users it is "Not supported" with application permissions
// (directory-deleteditems-delete; the 403 body is an assumption, unverified): deleted users go for good 30 days
// after their deletion.
func (t *Tenant) servePurge(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	r := t.deletedObject(param(rc, 0))
	if r == nil {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	if r.col.name == colUsers {
		t.writeError(rc, errInsufficientPrivileges)
		return
	}
	t.purge(r, t.Now())
	rc.w.WriteHeader(http.StatusNoContent)
}

// serveDeletedItem returns one object of the recycle bin (directory-deleteditems-get).
func (t *Tenant) serveDeletedItem(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.RLock()
	r := t.deletedObject(param(rc, 0))
	if r == nil {
		t.store.mu.RUnlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	var w jw
	w.beginObj()
	w.kstr("@odata.context", t.contextURL(rc, "directory/deletedItems", nil)+"/$entity")
	w.kstr("@odata.type", "#microsoft.graph."+r.col.entity)
	writeProps(&w, r.id, r.props(), nil, nil, true)
	w.endObj()
	t.store.mu.RUnlock()
	t.writeJSONBody(rc, http.StatusOK, &w)
}

// serveUserRoles lists the activated directory roles a user holds, directly or through groups
// (user-list-transitivememberof with the microsoft.graph.directoryRole cast).
func (t *Tenant) serveUserRoles(rc *reqCtx) {
	o, g := parseOptions(rc.r.URL.RawQuery)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	t.syncChurn()
	t.store.mu.RLock()
	u := t.liveUser(param(rc, 0))
	if u == nil {
		t.store.mu.RUnlock()
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	q, g := t.parseDirQuery(rolesEndpoint(), o)
	if g != nil {
		t.store.mu.RUnlock()
		t.writeError(rc, g)
		return
	}
	roles := t.rolesOf(u)
	p := dirPage{context: t.contextURL(rc, "directoryRoles", q.sel), items: func(w *jw, emit func()) {
		for _, r := range roles {
			w.beginObj()
			w.kstr("@odata.type", "#microsoft.graph.directoryRole")
			writeProps(w, r.id, r.props(), q.sel, nil, true)
			emit()
		}
	}}
	body, n := p.render()
	t.store.mu.RUnlock()
	t.sendPage(rc, body, n)
}

func rolesEndpoint() *dirEndpoint {
	for _, ep := range dirEndpoints {
		if ep.col == colDirectoryRoles {
			return ep
		}
	}
	panic("entrasim: no directoryRoles endpoint")
}

// rolesOf returns the activated directory roles whose members include u, directly or through nested groups, in
// id order (caller holds the store lock).
func (t *Tenant) rolesOf(u *resource) []*resource {
	in := map[*resource]bool{u: true}
	t.store.cols[colGroups].each("", func(g *resource) bool {
		if !g.live() || g.ms == nil {
			return true
		}
		var all []*resource
		transitive(g, map[*resource]bool{g: true}, &all)
		if slices.Contains(all, u) {
			in[g] = true
		}
		return true
	})
	var out []*resource
	t.store.cols[colDirectoryRoles].each("", func(r *resource) bool {
		if r.live() && r.ms != nil && slices.ContainsFunc(r.ms.current, func(m *resource) bool { return in[m] }) {
			out = append(out, r)
		}
		return true
	})
	return out
}

// holdsRole reports whether a user holds any directory role (caller holds the store lock).
func (t *Tenant) holdsRole(u *resource) bool { return len(t.rolesOf(u)) > 0 }

// serveAddPassword adds a client secret to an application and returns it with its text, which Graph shows
// only here (application-addpassword.md).
func (t *Tenant) serveAddPassword(rc *reqCtx) {
	body, g := readBody(rc)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	var req struct {
		DisplayName string     `json:"displayName"`
		EndDateTime *time.Time `json:"endDateTime"`
	}
	if raw, ok := body["passwordCredential"]; ok {
		if err := json.Unmarshal(raw, &req); err != nil {
			t.writeError(rc, badRequest("Invalid passwordCredential: "+err.Error()))
			return
		}
	}
	callerSP := t.spIDOf(rc.principal.AppID)
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	app := t.store.cols[colApplications].get(param(rc, 0))
	if app == nil || !app.live() {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	if !t.mayWriteApp(rc.principal, callerSP, app) {
		t.writeError(rc, errInsufficientPrivileges)
		return
	}
	secrets, _ := app.hidden["secrets"].([]PasswordCredential)
	start := t.Now().Truncate(time.Second)
	lifetime := 2 * 365 * 24 * time.Hour // the default end date is two years out (unverified)
	if req.EndDateTime != nil {
		if !req.EndDateTime.After(start) {
			t.writeError(rc, badRequest("The end date of the password credential must be after its start date."))
			return
		}
		lifetime = req.EndDateTime.Sub(start)
	}
	r := newRNG(uint64(t.cfg.Seed), strKey("add-password"), strKey(app.id), uint64(len(secrets)), uint64(start.UnixNano()))
	s := newSecret(r, req.DisplayName, start, lifetime)
	secrets = append(slices.Clone(secrets), s)
	app.hidden["secrets"] = secrets
	t.store.update(app, t.Now(), obj{{"passwordCredentials", passwordCredentialObjs(secrets)}})
	var w jw
	w.beginObj()
	w.kstr("@odata.context", t.contextURL(rc, "microsoft.graph.passwordCredential", nil))
	w.knull("customKeyIdentifier")
	w.kstrOrNull("displayName", s.DisplayName)
	w.ktime("endDateTime", s.EndDateTime.UnixNano())
	w.kstr("hint", s.Hint)
	w.kstr("keyId", s.KeyID)
	w.kstr("secretText", s.SecretText)
	w.ktime("startDateTime", s.StartDateTime.UnixNano())
	w.endObj()
	t.writeJSONBody(rc, http.StatusOK, &w)
}

func (t *Tenant) serveRemovePassword(rc *reqCtx) {
	body, g := readBody(rc)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	var keyID string
	if raw, ok := body["keyId"]; !ok || json.Unmarshal(raw, &keyID) != nil || keyID == "" {
		t.writeError(rc, badRequest("The keyId of the password credential to remove is required."))
		return
	}
	callerSP := t.spIDOf(rc.principal.AppID)
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	app := t.store.cols[colApplications].get(param(rc, 0))
	if app == nil || !app.live() {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	if !t.mayWriteApp(rc.principal, callerSP, app) {
		t.writeError(rc, errInsufficientPrivileges)
		return
	}
	secrets, _ := app.hidden["secrets"].([]PasswordCredential)
	i := slices.IndexFunc(secrets, func(s PasswordCredential) bool { return strings.EqualFold(s.KeyID, keyID) })
	if i < 0 {
		t.writeError(rc, &gerr{status: 404, code: "Request_ResourceNotFound", message: fmt.Sprintf("No password credential found with keyId %s.", keyID)})
		return
	}
	secrets = slices.Delete(slices.Clone(secrets), i, i+1)
	app.hidden["secrets"] = secrets
	t.store.update(app, t.Now(), obj{{"passwordCredentials", passwordCredentialObjs(secrets)}})
	rc.w.WriteHeader(http.StatusNoContent)
}

// withFaults applies the fault rules matching a remediation request before serving it. FaultDelay serves the
// request, so its change takes effect, and holds the response for the rule's Delay or until the client goes
// away (then nothing is sent: the client never learns the outcome). Truncation and invalid JSON concern list
// pages and do not apply here.
func (t *Tenant) withFaults(serve func(rc *reqCtx)) func(rc *reqCtx) {
	return func(rc *reqCtx) {
		f, ok := t.faults.pick(rc.r.URL.Path, nil, false, false)
		if !ok || f.Kind == FaultTruncate || f.Kind == FaultInvalidJSON {
			serve(rc)
			return
		}
		rc.fault = f.Kind
		t.counters.update(rc.family, rc.endpoint, func(c *EndpointCounters) { c.Faults++ })
		if f.Kind != FaultDelay {
			t.applyFault(rc, f)
			return
		}
		out := rc.w
		buf := &bufferedResponse{header: http.Header{}}
		rc.w = &statusWriter{ResponseWriter: buf}
		serve(rc)
		rc.w = out
		if !hold(rc.r.Context(), f.Delay) {
			return
		}
		for k, v := range buf.header {
			out.Header()[k] = v
		}
		out.WriteHeader(cmp.Or(buf.status, http.StatusOK))
		_, _ = out.Write(buf.body.Bytes())
	}
}

// bufferedResponse holds a response until it is sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// AuthMethod is a registered authentication method of a user, as SetAuthMethods sets it up and AuthMethods reads
// it.
type AuthMethod struct {
	// Type is the method's type without the namespace, e.g. "phoneAuthenticationMethod",
	// "microsoftAuthenticatorAuthenticationMethod", "fido2AuthenticationMethod".
	Type string
	// ID is the method's id; empty takes the well-known id of phone types, email and the password, or a
	// generated one.
	ID string
	// PhoneType is mobile, alternateMobile or office for phone methods.
	PhoneType string
}

// methodTypes are the types SetAuthMethods accepts (the v1.0 authentication method types with a delete).
var methodTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, typ := range methodPaths {
		m[strings.TrimPrefix(typ, "#microsoft.graph.")] = true
	}
	return m
}()

// SetAuthMethods replaces a live user's authentication methods (the password method is always kept, first) and
// sets the default method (one of the given ids, or "" for none): tests use it to set up every combination.
func (t *Tenant) SetAuthMethods(userID string, methods []AuthMethod, defaultID string) ([]AuthMethod, error) {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	u := t.liveUser(userID)
	if u == nil {
		return nil, fmt.Errorf("entrasim: SetAuthMethods: no live user %q", userID)
	}
	if u.hidden == nil {
		u.hidden = map[string]any{}
	}
	created := t.Now().Add(-24 * time.Hour).Truncate(time.Second)
	out := []obj{{{"@odata.type", methodPaths["passwordMethods"]}, {"id", methodPassword}, {"password", nil}, {"createdDateTime", created}}}
	var set []AuthMethod
	for i, m := range methods {
		if !methodTypes[m.Type] || m.Type == "passwordAuthenticationMethod" {
			return nil, fmt.Errorf("entrasim: SetAuthMethods: method %d: unknown or undeletable type %q", i, m.Type)
		}
		if m.ID == "" {
			m.ID = map[string]string{"mobile": methodMobile, "alternateMobile": methodAlternate, "office": methodOffice}[m.PhoneType]
			if m.Type == "emailAuthenticationMethod" {
				m.ID = methodEmail
			}
			if m.ID == "" {
				m.ID = guidFrom(uint64(t.cfg.Seed), strKey("set-method"), strKey(userID), uint64(i))
			}
		}
		if m.Type == "phoneAuthenticationMethod" && m.PhoneType != "mobile" && m.PhoneType != "alternateMobile" && m.PhoneType != "office" {
			return nil, fmt.Errorf("entrasim: SetAuthMethods: method %d: phone type %q", i, m.PhoneType)
		}
		if slices.ContainsFunc(set, func(x AuthMethod) bool { return x.ID == m.ID }) {
			return nil, fmt.Errorf("entrasim: SetAuthMethods: duplicate method id %s", m.ID)
		}
		set = append(set, m)
		out = append(out, methodObj(u, m, created))
	}
	if defaultID != "" && !slices.ContainsFunc(set, func(x AuthMethod) bool { return x.ID == defaultID }) {
		return nil, fmt.Errorf("entrasim: SetAuthMethods: default %q is not among the methods", defaultID)
	}
	u.hidden["methods"] = out
	u.hidden["defaultMethod"] = defaultID
	return set, nil
}

// AuthMethods returns a live user's authentication methods (the password method included) and the id of the
// default one.
func (t *Tenant) AuthMethods(userID string) ([]AuthMethod, string, error) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	u := t.liveUser(userID)
	if u == nil {
		return nil, "", fmt.Errorf("entrasim: AuthMethods: no live user %q", userID)
	}
	methods, def := t.methodsOf(u)
	return authMethodList(methods), def, nil
}

// AuthMethodsAt returns the authentication methods GET users/{id}/authentication/methods answered at the simulated
// time asOf for the user with object id userID, and false when no such user was live then. Methods keep no history:
// a user's are its current ones, so ask before changing them (remediation, SetAuthMethods). asOf must lie between
// the tenant's start and the simulated now.
func (t *Tenant) AuthMethodsAt(userID string, asOf time.Time) ([]AuthMethod, bool, error) {
	if err := t.checkAsOf(asOf); err != nil {
		return nil, false, err
	}
	t.syncChurn()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	u := t.store.cols[colUsers].get(userID)
	if u == nil {
		return nil, false, nil
	}
	if _, live := listedAt(asOf)(u); !live {
		return nil, false, nil
	}
	methods, _ := t.methodsOf(u)
	return authMethodList(methods), true, nil
}

// authMethodList is the AuthMethod of each method object.
func authMethodList(methods []obj) []AuthMethod {
	var out []AuthMethod
	for _, m := range methods {
		out = append(out, AuthMethod{Type: strings.TrimPrefix(m.str("@odata.type"), "#microsoft.graph."), ID: m.str("id"), PhoneType: m.str("phoneType")})
	}
	return out
}

// methodObj renders a method with the properties of its type's documentation example.
func methodObj(u *resource, m AuthMethod, created time.Time) obj {
	o := obj{{"@odata.type", "#microsoft.graph." + m.Type}, {"id", m.ID}}
	switch m.Type {
	case "phoneAuthenticationMethod":
		o = append(o, kv{"phoneNumber", fmt.Sprintf("+1 206555%04d", hashOf(strKey(u.id), strKey(m.PhoneType))%10000)},
			kv{"phoneType", m.PhoneType}, kv{"smsSignInState", "notAllowedByPolicy"})
	case "microsoftAuthenticatorAuthenticationMethod":
		o = append(o, kv{"displayName", "iPhone 15"}, kv{"deviceTag", "SoftwareTokenActivated"}, kv{"phoneAppVersion", "6.8.7"}, kv{"createdDateTime", created})
	case "fido2AuthenticationMethod":
		o = append(o, kv{"displayName", "Security key"}, kv{"creationDateTime", created}, kv{"aaGuid", "2fc0579f-8113-47ea-b116-555a8db9202a"},
			kv{"model", "YubiKey 5 NFC"}, kv{"attestationCertificates", []string{}}, kv{"attestationLevel", "attested"})
	case "emailAuthenticationMethod":
		o = append(o, kv{"emailAddress", "recovery." + strings.ToLower(u.propStr("givenName")) + "@contoso.com"})
	case "softwareOathAuthenticationMethod":
		o = append(o, kv{"secretKey", nil})
	case "temporaryAccessPassAuthenticationMethod":
		o = append(o, kv{"temporaryAccessPass", nil}, kv{"createdDateTime", created}, kv{"startDateTime", created},
			kv{"lifetimeInMinutes", 60}, kv{"isUsableOnce", true}, kv{"isUsable", false}, kv{"methodUsabilityReason", "Expired"})
	case "windowsHelloForBusinessAuthenticationMethod":
		o = append(o, kv{"displayName", "LAPTOP-0001"}, kv{"createdDateTime", created}, kv{"keyStrength", "normal"})
	case "platformCredentialAuthenticationMethod":
		o = append(o, kv{"displayName", "MacBook Pro"}, kv{"createdDateTime", created}, kv{"keyStrength", "normal"}, kv{"platform", "macOS"})
	}
	return o
}

// AssignRole makes a user or a group a member of an activated directory role, by display name (Global
// Administrator, Global Reader, User Administrator, Security Reader): tests use it for privileged targets,
// including roles held through a group.
func (t *Tenant) AssignRole(principalID, roleName string) error {
	s := t.store
	s.mu.Lock()
	defer s.mu.Unlock()
	var role *resource
	s.cols[colDirectoryRoles].each("", func(r *resource) bool {
		if r.propStr("displayName") == roleName {
			role = r
			return false
		}
		return true
	})
	if role == nil {
		return fmt.Errorf("entrasim: AssignRole: no directory role %q", roleName)
	}
	for _, c := range []string{colUsers, colGroups} {
		if p := s.cols[c].get(principalID); p != nil && p.live() {
			s.setMember(role, p, false, t.Now())
			return nil
		}
	}
	return fmt.Errorf("entrasim: AssignRole: no live user or group %q", principalID)
}
