package entrasim

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// send issues a request with a body and returns status and body.
func (c *client) send(method, path string, body string, header map[string]string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.tn.GraphURL()+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return readResponse(c.t.(*testing.T), res)
}

func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func field(t *testing.T, raw json.RawMessage, k string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m[k]
}

// allPages follows nextLinks and returns every item and the final page (with its deltaLink, if any).
func (c *client) allPages(u string, header map[string]string) ([]json.RawMessage, string, int) {
	c.t.Helper()
	var items []json.RawMessage
	pages := 0
	for {
		r := c.sendURL(u, header)
		if r.status != 200 {
			c.t.Fatalf("GET %s: %d %s", u, r.status, r.body)
		}
		var p struct {
			Next  string            `json:"@odata.nextLink"`
			Delta string            `json:"@odata.deltaLink"`
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			c.t.Fatalf("page %s: %v", r.body, err)
		}
		items = append(items, p.Value...)
		pages++
		if p.Next == "" {
			return items, p.Delta, pages
		}
		u = p.Next
	}
}

func (c *client) sendURL(u string, header map[string]string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return readResponse(c.t.(*testing.T), res)
}

func TestDirectoryLists(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 91, Users: 150})
	c := newClient(t, tn)
	users := tn.Users()
	guests := 0
	for _, u := range users {
		if u.UserType == "Guest" {
			guests++
		}
	}
	defaultKeys := []string{"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}
	tests := []struct {
		name   string
		path   string
		status int
		code   string
		check  func(t *testing.T, items []json.RawMessage, pages int)
	}{
		{"users: default page of 100, default properties", "/v1.0/users", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != 150 || pages != 2 {
				t.Fatalf("%d users in %d pages", len(items), pages)
			}
			if !slices.Equal(keysOf(t, items[0]), defaultKeys) {
				t.Fatalf("keys %v", keysOf(t, items[0]))
			}
		}},
		{"users: $top and $select", "/v1.0/users?$top=40&$select=id,userType,accountEnabled", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != 150 || pages != 4 || !slices.Equal(keysOf(t, items[3]), []string{"accountEnabled", "id", "userType"}) {
				t.Fatalf("%d users, %d pages, keys %v", len(items), pages, keysOf(t, items[3]))
			}
		}},
		{"users: $filter on userType", "/v1.0/users?$filter=userType%20eq%20'Guest'&$select=userPrincipalName,userType", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != guests {
				t.Fatalf("%d guests, want %d", len(items), guests)
			}
			for _, it := range items {
				if field(t, it, "userType") != "Guest" || !strings.Contains(field(t, it, "userPrincipalName").(string), "#EXT#") {
					t.Fatalf("not a guest: %s", it)
				}
			}
		}},
		{"users: $top above 999", "/v1.0/users?$top=1000", 400, "Request_BadRequest", nil},
		{"users: unknown filter property", "/v1.0/users?$filter=shoeSize%20eq%2042", 400, "Request_BadRequest", nil},
		{"users: unsupported operator", "/v1.0/users?$filter=jobTitle%20ge%20'a'", 400, "Request_UnsupportedQuery", nil},
		{"users: unknown $select", "/v1.0/users?$select=colour", 400, "Request_BadRequest", nil},
		{"groups", "/v1.0/groups", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != tn.cfg.groupCount() || field(t, items[0], "onPremisesProvisioningErrors") == nil {
				t.Fatalf("%d groups", len(items))
			}
		}},
		{"groups: Microsoft 365 groups by groupTypes", "/v1.0/groups?$filter=groupTypes/any(c:c%20eq%20'Unified')", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) == 0 || len(items) >= tn.cfg.groupCount() {
				t.Fatalf("%d unified groups", len(items))
			}
		}},
		{"applications by appId", "/v1.0/applications?$filter=appId%20eq%20'" + tn.ClientID() + "'&$select=appId,passwordCredentials", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != 1 {
				t.Fatalf("%d apps", len(items))
			}
			creds := field(t, items[0], "passwordCredentials").([]any)
			cred := creds[0].(map[string]any)
			if cred["keyId"] != tn.SecretID() || cred["secretText"] != nil || cred["hint"] != tn.ClientSecret()[:3] {
				t.Fatalf("credential %v", cred)
			}
		}},
		{"Graph's service principal resolves permissions by value", "/v1.0/servicePrincipals?$filter=appId%20eq%20'" + GraphAppID + "'&$select=id,appRoles", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			roles := field(t, items[0], "appRoles").([]any)
			found := false
			for _, r := range roles {
				m := r.(map[string]any)
				if m["value"] == "AuditLog.Read.All" && m["id"] == "b0afded3-3588-46d8-8b3d-9842eff778da" {
					found = true
				}
			}
			if !found {
				t.Fatal("AuditLog.Read.All not among Graph's app roles")
			}
		}},
		{"devices", "/v1.0/devices?$top=999", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) == 0 || field(t, items[0], "deviceId") == nil {
				t.Fatal("no devices")
			}
		}},
		{"directory roles", "/v1.0/directoryRoles", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != activeRoles {
				t.Fatalf("%d roles", len(items))
			}
		}},
		{"role assignments", "/v1.0/roleManagement/directory/roleAssignments?$filter=roleDefinitionId%20eq%20'" + roleGlobalAdmin + "'", 200, "", func(t *testing.T, items []json.RawMessage, pages int) {
			if len(items) != 3 { // 150 users → 3 admins
				t.Fatalf("%d global admin assignments", len(items))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != 200 {
				r := c.sendURL(tn.GraphURL()+tc.path, nil)
				if r.status != tc.status || r.gerr(t).Error.Code != tc.code {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			items, _, pages := c.allPages(tn.GraphURL()+tc.path, nil)
			tc.check(t, items, pages)
		})
	}
	// Get by id and by userPrincipalName; unknown ids are 404.
	u := users[7]
	for _, key := range []string{u.ID, u.UserPrincipalName} {
		r := c.sendURL(tn.GraphURL()+"/v1.0/users/"+strings.ReplaceAll(key, "#", "%23")+"?$select=id,displayName", nil)
		if r.status != 200 || field(t, r.body, "id") != u.ID || !strings.HasSuffix(field(t, r.body, "@odata.context").(string), "$metadata#users(id,displayName)/$entity") {
			t.Fatalf("get %s: %d %s", key, r.status, r.body)
		}
	}
	if r := c.sendURL(tn.GraphURL()+"/v1.0/users/00000000-0000-0000-0000-000000000000", nil); r.status != 404 || r.gerr(t).Error.Code != "Request_ResourceNotFound" {
		t.Fatalf("unknown user: %d %s", r.status, r.body)
	}
}

func TestGroupMembers(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 92, Users: 120})
	c := newClient(t, tn)
	allStaff := groupID(92, 0)
	direct, _, _ := c.allPages(tn.GraphURL()+"/v1.0/groups/"+allStaff+"/members?$top=5", nil)
	trans, _, _ := c.allPages(tn.GraphURL()+"/v1.0/groups/"+allStaff+"/transitiveMembers", nil)
	groups, users := 0, 0
	for _, m := range direct {
		switch field(t, m, "@odata.type") {
		case "#microsoft.graph.group":
			groups++
		case "#microsoft.graph.user":
			users++
		}
	}
	if groups != len(departments) {
		t.Fatalf("All Staff has %d nested groups, want %d", groups, len(departments))
	}
	// Transitive: the direct members plus the users of the department groups, each once.
	seen := map[string]bool{}
	for _, m := range trans {
		id := field(t, m, "id").(string)
		if seen[id] {
			t.Fatalf("duplicate transitive member %s", id)
		}
		seen[id] = true
	}
	deptUsers := 0
	for _, u := range tn.Users() {
		if u.Department != "" && u.UserType == "Member" {
			deptUsers++
		}
	}
	if len(trans) != len(direct)+deptUsers {
		t.Fatalf("%d transitive members, want %d direct + %d department users", len(trans), len(direct), deptUsers)
	}
	cnt := tn.Counters()
	if cnt.Endpoint("v1.0/groups/{id}/members").Pages < 2 {
		t.Fatalf("member pages not counted: %+v", cnt.Families["directory"])
	}
}

// deltaIDs splits delta items into changed ids and removed ids (with reasons).
func deltaIDs(t *testing.T, items []json.RawMessage) (changed []string, removed map[string]string) {
	removed = map[string]string{}
	for _, it := range items {
		var m map[string]any
		_ = json.Unmarshal(it, &m)
		id, _ := m["id"].(string)
		if rm, ok := m["@removed"].(map[string]any); ok {
			removed[id] = rm["reason"].(string)
			continue
		}
		changed = append(changed, id)
	}
	return changed, removed
}

func TestUserDeltaRoundTrip(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 93, Users: 90})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	prefer := map[string]string{"Prefer": "odata.maxpagesize=25"}
	items, deltaLink, pages := c.allPages(tn.GraphURL()+"/v1.0/users/delta?$select=displayName,jobTitle", prefer)
	if len(items) != 90 || pages != 4 || deltaLink == "" || !strings.Contains(deltaLink, "$deltatoken=") {
		t.Fatalf("initial round: %d users in %d pages, deltaLink %q", len(items), pages, deltaLink)
	}
	if keys := keysOf(t, items[0]); !slices.Equal(keys, []string{"displayName", "id", "jobTitle"}) {
		t.Fatalf("delta keys %v: the id is always returned with $select", keys)
	}
	// Nothing changed: an empty round and a new deltaLink.
	items, deltaLink, _ = c.allPages(deltaLink, nil)
	if len(items) != 0 {
		t.Fatalf("unchanged directory returned %d items", len(items))
	}
	users := tn.Users()
	var member, other User
	for _, u := range users {
		if u.UserType == "Member" && len(u.Roles) == 0 {
			if member.ID == "" {
				member = u
			} else if other.ID == "" {
				other = u
			}
		}
	}
	if r := c.send(http.MethodPatch, "/v1.0/users/"+member.ID, `{"jobTitle":"Chief Tester"}`, nil); r.status != 204 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	if r := c.send(http.MethodDelete, "/v1.0/users/"+other.ID, "", nil); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	items, deltaLink, _ = c.allPages(deltaLink, nil)
	changed, removed := deltaIDs(t, items)
	if !slices.Equal(changed, []string{member.ID}) || removed[other.ID] != "changed" || len(removed) != 1 {
		t.Fatalf("changed %v removed %v", changed, removed)
	}
	for _, it := range items {
		if field(t, it, "id") == member.ID && field(t, it, "jobTitle") != "Chief Tester" {
			t.Fatalf("changed user %s", it)
		}
	}
	// Restore: changed again. Deleted again, it cannot be purged by an application (directory-deleteditems-delete:
	// "Not supported" for users): it stays soft-deleted.
	if r := c.send(http.MethodPost, "/v1.0/directory/deletedItems/"+other.ID+"/restore", "", nil); r.status != 200 || field(t, r.body, "id") != other.ID {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	items, deltaLink, _ = c.allPages(deltaLink, nil)
	if changed, removed := deltaIDs(t, items); !slices.Equal(changed, []string{other.ID}) || len(removed) != 0 {
		t.Fatalf("after restore: changed %v removed %v", changed, removed)
	}
	_ = c.send(http.MethodDelete, "/v1.0/users/"+other.ID, "", nil)
	if r := c.send(http.MethodDelete, "/v1.0/directory/deletedItems/"+other.ID, "", nil); r.status != 403 || r.gerr(t).Error.Code != "Authorization_RequestDenied" {
		t.Fatalf("app-only purge: %d %s", r.status, r.body)
	}
	items, deltaLink, _ = c.allPages(deltaLink, nil)
	if _, removed := deltaIDs(t, items); removed[other.ID] != "changed" {
		t.Fatalf("after the refused purge: %s", items)
	}
	// $deltatoken=latest: no objects, a deltaLink from now.
	latest, latestLink, _ := c.allPages(tn.GraphURL()+"/v1.0/users/delta?$deltatoken=latest", nil)
	if len(latest) != 0 || latestLink == "" {
		t.Fatalf("latest: %d items, link %q", len(latest), latestLink)
	}
	// A deltaLink older than 7 days (simulated) has expired: 400 syncStateNotFound with the documented message.
	clock.Advance(8 * 24 * time.Hour)
	r := c.sendURL(deltaLink, nil)
	if e := r.gerr(t).Error; r.status != http.StatusBadRequest || e.Code != "syncStateNotFound" ||
		e.Message != "The sync state generation is not found. The delta token is expired and data must be synchronized again." {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	// A tampered token is refused.
	if r := c.sendURL(strings.Replace(deltaLink, "$deltatoken=0", "$deltatoken=1", 1)+"0", nil); r.status != 400 {
		t.Fatalf("tampered token: %d", r.status)
	}
}

// Churn changes group membership as the clock advances; members@delta reports exactly the difference.
func TestGroupDeltaMembersWithChurn(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 94, Users: 80, Churn: 40})
	c := newClient(t, tn)
	vpn := groupID(94, 1)
	members := func() map[string]bool {
		items, _, _ := c.allPages(tn.GraphURL()+"/v1.0/groups/"+vpn+"/members?$select=id", nil)
		out := map[string]bool{}
		for _, it := range items {
			out[field(t, it, "id").(string)] = true
		}
		return out
	}
	items, deltaLink, _ := c.allPages(tn.GraphURL()+"/v1.0/groups/delta?$select=displayName,members", nil)
	var initial []any
	for _, it := range items {
		if field(t, it, "id") == vpn {
			initial = field(t, it, "members@delta").([]any)
		}
	}
	before := members()
	if len(initial) != len(before) {
		t.Fatalf("initial members@delta has %d, the group %d", len(initial), len(before))
	}
	clock.Advance(3 * time.Hour)
	after := members()
	items, _, _ = c.allPages(deltaLink, nil)
	var delta []any
	for _, it := range items {
		if field(t, it, "id") == vpn {
			delta = field(t, it, "members@delta").([]any)
		}
	}
	added, removed := 0, 0
	for _, d := range delta {
		m := d.(map[string]any)
		id := m["id"].(string)
		if _, gone := m["@removed"]; gone {
			removed++
			if after[id] || !before[id] {
				t.Fatalf("member %s reported removed", id)
			}
		} else {
			added++
			if !after[id] || before[id] {
				t.Fatalf("member %s reported added", id)
			}
		}
	}
	diff := 0
	for id := range after {
		if !before[id] {
			diff++
		}
	}
	for id := range before {
		if !after[id] {
			diff++
		}
	}
	if added+removed != diff || diff == 0 {
		t.Fatalf("members@delta: %d added, %d removed; actual difference %d", added, removed, diff)
	}
}

func TestRemediation(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 95, Users: 200})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), append(ReadWriteRoles(), "Application.ReadWrite.All"), time.Now().Add(time.Hour))
	users := tn.Users()
	var member, guest, admin User
	for _, u := range users {
		switch {
		case u.Admin && admin.ID == "":
			admin = u
		case u.UserType == "Guest" && guest.ID == "":
			guest = u
		case u.UserType == "Member" && len(u.Roles) == 0 && member.ID == "":
			member = u
		}
	}
	sessions := func(id string) string {
		return field(t, c.sendURL(tn.GraphURL()+"/v1.0/users/"+id+"?$select=signInSessionsValidFromDateTime", nil).body, "signInSessionsValidFromDateTime").(string)
	}
	clock.Advance(time.Hour)
	mBefore, gBefore := sessions(member.ID), sessions(guest.ID)
	for _, id := range []string{member.ID, guest.ID} {
		r := c.send(http.MethodPost, "/v1.0/users/"+id+"/revokeSignInSessions", "", nil)
		if r.status != 200 || field(t, r.body, "value") != true {
			t.Fatalf("revoke %s: %d %s", id, r.status, r.body)
		}
	}
	if sessions(member.ID) == mBefore || sessions(guest.ID) != gBefore {
		t.Fatal("revoke should move a member's signInSessionsValidFromDateTime and leave a B2B guest's alone")
	}

	patches := []struct {
		name, user, body string
		status           int
	}{
		{"userType to Guest", member.ID, `{"userType":"Guest"}`, 204},
		{"userType back", member.ID, `{"userType":"Member"}`, 204},
		{"bad userType", member.ID, `{"userType":"Owner"}`, 400},
		{"unknown property", member.ID, `{"shoeSize":42}`, 400},
		{"not JSON", member.ID, `{`, 400},
		{"admin: userType is not sensitive", admin.ID, `{"userType":"Member"}`, 204},
		{"admin: accountEnabled is sensitive", admin.ID, `{"accountEnabled":false}`, 403},
		{"unknown user", "00000000-0000-0000-0000-000000000000", `{"jobTitle":"x"}`, 404},
	}
	for _, p := range patches {
		t.Run("PATCH "+p.name, func(t *testing.T) {
			if r := c.send(http.MethodPatch, "/v1.0/users/"+p.user, p.body, nil); r.status != p.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	// Deleting: admins refused; others soft-deleted, listed in deletedItems, restorable, purged after 30 days.
	if r := c.send(http.MethodDelete, "/v1.0/users/"+admin.ID, "", nil); r.status != 403 {
		t.Fatalf("deleting an admin: %d", r.status)
	}
	if r := c.send(http.MethodDelete, "/v1.0/users/"+guest.ID, "", nil); r.status != 204 {
		t.Fatalf("delete guest: %d", r.status)
	}
	if r := c.sendURL(tn.GraphURL()+"/v1.0/users/"+guest.ID, nil); r.status != 404 {
		t.Fatalf("deleted guest still readable: %d", r.status)
	}
	deleted, _, _ := c.allPages(tn.GraphURL()+"/v1.0/directory/deletedItems/microsoft.graph.user", nil)
	if len(deleted) != 1 || field(t, deleted[0], "id") != guest.ID || field(t, deleted[0], "deletedDateTime") == nil {
		t.Fatalf("deletedItems %s", deleted)
	}
	clock.Advance(31 * 24 * time.Hour)
	if r := c.send(http.MethodPost, "/v1.0/directory/deletedItems/"+guest.ID+"/restore", "", nil); r.status != 404 {
		t.Fatalf("restore after 30 days: %d", r.status)
	}

	// addPassword returns the secret text once; the application shows only its hint.
	app := tn.Applications()[0]
	r := c.send(http.MethodPost, "/v1.0/applications/"+app.ID+"/addPassword", `{"passwordCredential":{"displayName":"rotated"}}`, nil)
	if r.status != 200 || len(field(t, r.body, "secretText").(string)) != 40 {
		t.Fatalf("addPassword: %d %s", r.status, r.body)
	}
	keyID := field(t, r.body, "keyId").(string)
	creds := field(t, c.sendURL(tn.GraphURL()+"/v1.0/applications/"+app.ID+"?$select=passwordCredentials", nil).body, "passwordCredentials").([]any)
	last := creds[len(creds)-1].(map[string]any)
	if last["keyId"] != keyID || last["secretText"] != nil || last["displayName"] != "rotated" {
		t.Fatalf("credentials after addPassword: %v", creds)
	}
	if r := c.send(http.MethodPost, "/v1.0/applications/"+app.ID+"/removePassword", `{"keyId":"`+keyID+`"}`, nil); r.status != 204 {
		t.Fatalf("removePassword: %d %s", r.status, r.body)
	}
	if a, _ := tn.appByClientID(app.AppID); slices.ContainsFunc(a.PasswordCredentials, func(p PasswordCredential) bool { return p.KeyID == keyID }) {
		t.Fatal("removed secret still known")
	}
	// Without write permissions: 403.
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))
	if r := c.send(http.MethodPatch, "/v1.0/users/"+member.ID, `{"jobTitle":"x"}`, nil); r.status != 403 || r.gerr(t).Error.Code != "Authorization_RequestDenied" {
		t.Fatalf("read-only PATCH: %d %s", r.status, r.body)
	}
}

func TestAuthenticationMethods(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 96, Users: 300})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	methods := func(id string) []map[string]any {
		items, _, _ := c.allPages(tn.GraphURL()+"/v1.0/users/"+id+"/authentication/methods", nil)
		var out []map[string]any
		for _, it := range items {
			var m map[string]any
			_ = json.Unmarshal(it, &m)
			out = append(out, m)
		}
		return out
	}
	// A user with mobile and alternate mobile phones and the Authenticator app, whose default is the mobile phone.
	target := tn.Users()[10].ID
	if _, err := tn.SetAuthMethods(target, []AuthMethod{
		{Type: "phoneAuthenticationMethod", PhoneType: "mobile"},
		{Type: "phoneAuthenticationMethod", PhoneType: "alternateMobile"},
		{Type: "microsoftAuthenticatorAuthenticationMethod", ID: "6e5a1f44-1111-4222-8333-444455556666"},
	}, methodMobile); err != nil {
		t.Fatal(err)
	}
	ms := methods(target)
	if len(ms) != 4 || ms[0]["@odata.type"] != "#microsoft.graph.passwordAuthenticationMethod" {
		t.Fatalf("methods %v", ms)
	}
	del := func(seg, id string) response {
		return c.send(http.MethodDelete, "/v1.0/users/"+target+"/authentication/"+seg+"/"+id, "", nil)
	}
	steps := []struct {
		name, seg, id string
		status        int
		code          string
	}{
		{"the password cannot be deleted", "passwordMethods", methodPassword, 400, "BadRequest"},
		{"mobile before alternate mobile", "phoneMethods", methodMobile, 400, "BadRequest"},
		{"wrong type path", "fido2Methods", methodAlternate, 404, "itemNotFound"},
		{"alternate mobile first", "phoneMethods", methodAlternate, 204, ""},
		{"the default while another method remains", "phoneMethods", methodMobile, 400, "badRequest"},
		{"the app", "microsoftAuthenticatorMethods", "6e5a1f44-1111-4222-8333-444455556666", 204, ""},
		{"the default as the last method", "phoneMethods", methodMobile, 204, ""},
		{"unknown method", "phoneMethods", methodOffice, 404, "itemNotFound"},
	}
	for _, s := range steps {
		r := del(s.seg, s.id)
		if r.status != s.status || s.code != "" && r.gerr(t).Error.Code != s.code {
			t.Fatalf("%s: %d %s, want %d %s", s.name, r.status, r.body, s.status, s.code)
		}
	}
	if after, def, _ := tn.AuthMethods(target); len(after) != 1 || after[0].ID != methodPassword || def != "" {
		t.Fatalf("after the reset: %v, default %q", after, def)
	}
	// Authentication method calls count under the reports family (reference §6).
	if cnt := tn.Counters(); cnt.Families["reports"]["v1.0/users/{}/authentication/methods"].Accepted == 0 {
		t.Fatalf("counters %+v", cnt.Families["reports"])
	}
}

func TestPolicyProtectionAndIntuneEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		licences []Licence
		roles    []string
		path     string
		status   int
		code     string
	}{
		{"CA policies", nil, ReadOnlyRoles(), "/v1.0/identity/conditionalAccess/policies", 200, ""},
		{"named locations", nil, ReadOnlyRoles(), "/v1.0/identity/conditionalAccess/namedLocations", 200, ""},
		{"CA on a free tenant", []Licence{LicenceFree}, ReadOnlyRoles(), "/v1.0/identity/conditionalAccess/policies", 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
		{"CA without Policy.Read.All", nil, []string{"Directory.Read.All"}, "/v1.0/identity/conditionalAccess/policies", 403, "Authorization_RequestDenied"},
		{"risky users with P2", nil, ReadOnlyRoles(), "/v1.0/identityProtection/riskyUsers", 200, ""},
		{"risky users need P2", []Licence{LicenceP1}, ReadOnlyRoles(), "/v1.0/identityProtection/riskyUsers", 403, "Forbidden"},
		{"risk detections", nil, ReadOnlyRoles(), "/v1.0/identityProtection/riskDetections", 200, ""},
		{"registration details", nil, ReadOnlyRoles(), "/v1.0/reports/authenticationMethods/userRegistrationDetails", 200, ""},
		{"registration details need AuditLog", nil, []string{"Directory.Read.All"}, "/v1.0/reports/authenticationMethods/userRegistrationDetails", 403, "Authentication_MSGraphPermissionMissing"},
		{"Intune without the licence", nil, ReadOnlyRoles(), "/v1.0/deviceManagement/managedDevices", 400, "BadRequest"},
		{"Intune", []Licence{LicenceP2, LicenceIntune}, ReadOnlyRoles(), "/v1.0/deviceManagement/managedDevices", 200, ""},
		{"Intune without permission", []Licence{LicenceP2, LicenceIntune}, []string{"Directory.Read.All"}, "/v1.0/deviceManagement/managedDevices", 403, "UnknownError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Seed: 97, Licences: tc.licences})
			c := newClient(t, tn)
			c.token = fakeToken(tn.TenantID(), tn.ClientID(), tc.roles, time.Now().Add(time.Hour))
			r := c.sendURL(tn.GraphURL()+tc.path, nil)
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.status != 200 {
				if e := r.gerr(t); e.Error.Code != tc.code {
					t.Fatalf("error %+v", e.Error)
				}
				return
			}
			if len(r.page(t).Value) == 0 {
				t.Fatal("empty list")
			}
		})
	}
	// The Intune licence error is Graph's exact answer.
	tn, _ := startTenant(t, Options{Seed: 97})
	c := newClient(t, tn)
	if e := c.sendURL(tn.GraphURL()+"/v1.0/deviceManagement/managedDevices", nil).gerr(t); e.Error.Message != "Request not applicable to target tenant." {
		t.Fatalf("%+v", e.Error)
	}
}

func TestDirectoryThrottling(t *testing.T) {
	// Scale 10 stretches the windows (protection: 1 request per 10 s) so the counts do not depend on speed.
	tn, _ := startTenant(t, Options{Seed: 98, Users: 30, ThrottleScale: 10})
	c := newClient(t, tn)
	tests := []struct {
		path string
		ru   string
	}{
		{"/v1.0/users", "2"},
		{"/v1.0/users?$select=id", "1"},
		{"/v1.0/users?$top=5", "1"},
		{"/v1.0/groups/" + groupID(98, 0) + "/members", "3"},
		{"/v1.0/groups/" + groupID(98, 0) + "/transitiveMembers", "5"},
		{"/v1.0/applications", "2"},
		{"/v1.0/devices", "1"},
	}
	for _, tc := range tests {
		r := c.sendURL(tn.GraphURL()+tc.path, nil)
		if r.status != 200 || r.header.Get("x-ms-resource-unit") != tc.ru {
			t.Fatalf("%s: %d, x-ms-resource-unit %q, want %s", tc.path, r.status, r.header.Get("x-ms-resource-unit"), tc.ru)
		}
	}
	// Conditional Access: 1 request per (scaled) second per tenant, 429 without Retry-After.
	first := c.sendURL(tn.GraphURL()+"/v1.0/identity/conditionalAccess/policies", nil)
	second := c.sendURL(tn.GraphURL()+"/v1.0/identity/conditionalAccess/namedLocations", nil)
	if first.status != 200 || second.status != 429 || second.header.Get("Retry-After") != "" {
		t.Fatalf("protection family: %d then %d (Retry-After %q)", first.status, second.status, second.header.Get("Retry-After"))
	}
	// Another app shares the tenant-wide protection budget.
	other, _ := tn.AddApp("Other", ReadOnlyRoles())
	c.token = fakeToken(tn.TenantID(), other.AppID, other.Roles, time.Now().Add(time.Hour))
	if r := c.sendURL(tn.GraphURL()+"/v1.0/identity/conditionalAccess/policies", nil); r.status != 429 {
		t.Fatalf("the protection budget is per tenant: %d", r.status)
	}
}
