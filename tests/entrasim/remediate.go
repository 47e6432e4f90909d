package entrasim

import (
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
// restore and purge, and application passwords (addPassword/removePassword). Every change bumps the object's
// change sequence, so delta queries report it.

var (
	writeUsers   = anyOf("User.ReadWrite.All", "Directory.ReadWrite.All")
	readMethods  = anyOf("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All")
	writeMethods = anyOf("UserAuthenticationMethod.ReadWrite.All")
	writeApps    = anyOf("Application.ReadWrite.All", "Directory.ReadWrite.All")
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
				name: version + "/" + path, perms: []permission{perm}, serve: serve})
		}
		add(http.MethodPost, "users/{}/revokeSignInSessions", familyDirectory, writeUsers, t.serveRevoke)
		// Authentication method calls count under identity & access reports (reference §6).
		add(http.MethodGet, "users/{}/authentication/methods", familyReports, readMethods, t.serveListMethods)
		for seg := range methodPaths {
			seg := seg
			add(http.MethodDelete, "users/{}/authentication/"+seg+"/{}", familyReports, writeMethods,
				func(rc *reqCtx) { t.serveDeleteMethod(rc, seg) })
		}
		add(http.MethodPatch, "users/{}", familyDirectory, writeUsers, t.servePatchUser)
		add(http.MethodDelete, "users/{}", familyDirectory, writeUsers, t.serveDeleteUser)
		for _, d := range deletedKinds {
			d := d
			add(http.MethodGet, "directory/deletedItems/microsoft.graph."+d.entity, familyDirectory, d.perm, func(rc *reqCtx) { t.serveDeleted(rc, d) })
		}
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
	p := dirPage{context: t.contextURL(rc, "users('"+u.id+"')/authentication/methods", nil), items: func(w *jw, emit func()) {
		for _, m := range methods {
			w.beginObj()
			for _, kv := range m {
				w.key(kv.k)
				writeValue(w, kv.v)
			}
			emit()
		}
	}}
	body, n := p.render()
	t.store.mu.RUnlock()
	t.sendPage(rc, body, n)
}

// serveDeleteMethod deletes one authentication method. Graph's constraints (reference §6): the password
// cannot be deleted; a mobile phone cannot be deleted while an alternate mobile exists; the default method
// cannot be deleted. The error wordings are unverified.
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
	switch {
	case seg == "passwordMethods":
		t.writeError(rc, badRequest("The password authentication method cannot be deleted."))
		return
	case m.str("phoneType") == "mobile" && slices.ContainsFunc(methods, func(x obj) bool { return x.str("phoneType") == "alternateMobile" }):
		t.writeError(rc, badRequest("A user cannot have an alternate mobile phone number without a mobile phone number. Delete the alternate mobile phone method first."))
		return
	case def == m.str("id"):
		t.writeError(rc, badRequest("The default authentication method cannot be deleted. Change the user's default method first."))
		return
	}
	if u.hidden == nil {
		u.hidden = map[string]any{}
	}
	u.hidden["methods"] = slices.Delete(slices.Clone(methods), i, i+1)
	u.hidden["defaultMethod"] = def
	rc.w.WriteHeader(http.StatusNoContent)
}

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
		if sensitiveUserProps[k] && t.userOf(u).Admin {
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
	if t.userOf(u).Admin {
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

func (t *Tenant) servePurge(rc *reqCtx) {
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	r := t.deletedObject(param(rc, 0))
	if r == nil {
		t.writeError(rc, notFound(param(rc, 0)))
		return
	}
	t.purge(r, t.Now())
	rc.w.WriteHeader(http.StatusNoContent)
}

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
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	app := t.store.cols[colApplications].get(param(rc, 0))
	if app == nil || !app.live() {
		t.writeError(rc, notFound(param(rc, 0)))
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
	t.syncChurn()
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	app := t.store.cols[colApplications].get(param(rc, 0))
	if app == nil || !app.live() {
		t.writeError(rc, notFound(param(rc, 0)))
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
