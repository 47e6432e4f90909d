package entrasim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPrivilegedTargets: the directory roles a user holds, directly or through a nested group, are listed by
// transitiveMemberOf/microsoft.graph.directoryRole and make the user an administrator for Graph's sensitive
// actions: an application cannot delete or restore them.
func TestPrivilegedTargets(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 101, Users: 120})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	var admin, plain, viaGroup User
	for _, u := range tn.Users() {
		switch {
		case u.Admin && admin.ID == "":
			admin = u
		case u.UserType == "Member" && len(u.Roles) == 0 && plain.ID == "":
			plain = u
		case u.UserType == "Member" && len(u.Roles) == 0 && viaGroup.ID == "":
			viaGroup = u
		}
	}
	roles := func(id, query string) []map[string]any {
		r := c.sendURL(tn.GraphURL()+"/v1.0/users/"+id+"/transitiveMemberOf/microsoft.graph.directoryRole"+query, nil)
		if r.status != 200 {
			t.Fatalf("roles of %s: %d %s", id, r.status, r.body)
		}
		var page struct {
			Value []map[string]any `json:"value"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		return page.Value
	}
	// A generated admin is a Global Administrator and, through the role-assignable Privileged Admins group,
	// a Security Administrator.
	rs := roles(admin.ID, "?$select=id,displayName,roleTemplateId")
	if !slices.ContainsFunc(rs, func(r map[string]any) bool {
		return r["displayName"] == "Global Administrator" && r["roleTemplateId"] == roleGlobalAdmin && r["@odata.type"] == "#microsoft.graph.directoryRole"
	}) || slices.ContainsFunc(rs, func(r map[string]any) bool { _, has := r["description"]; return has }) {
		t.Fatalf("admin's roles %v", rs)
	}
	if got := tn.Users(); !slices.ContainsFunc(got, func(u User) bool { return u.ID == admin.ID && len(u.Roles) == len(rs) }) {
		t.Fatalf("Users does not report the admin's %d roles", len(rs))
	}
	// viaGroup is in a department group, itself in All Staff; All Staff gets a role.
	allStaff := groupID(101, slices.Index(groupNames, "All Staff"))
	if err := tn.AssignRole(allStaff, "Security Reader"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []User{plain, viaGroup} {
		if rs := roles(u.ID, ""); len(rs) != 1 || rs[0]["displayName"] != "Security Reader" {
			t.Fatalf("member of All Staff: roles %v", rs)
		}
	}
	// A guest is not in All Staff.
	var guest User
	for _, u := range tn.Users() {
		if u.UserType == "Guest" {
			guest = u
			break
		}
	}
	if rs := roles(guest.ID, ""); len(rs) != 0 {
		t.Fatalf("guest's roles %v", rs)
	}
	if r := c.sendURL(tn.GraphURL()+"/v1.0/users/00000000-0000-0000-0000-000000000000/transitiveMemberOf/microsoft.graph.directoryRole", nil); r.status != 404 {
		t.Fatalf("unknown user: %d", r.status)
	}
	if r := c.send(http.MethodDelete, "/v1.0/users/"+viaGroup.ID, "", nil); r.status != 403 || r.gerr(t).Error.Code != "Authorization_RequestDenied" {
		t.Fatalf("deleting a role holder (through a group): %d %s", r.status, r.body)
	}
	if got := tn.Users(); !slices.ContainsFunc(got, func(u User) bool { return u.ID == viaGroup.ID && slices.Contains(u.Roles, "Security Reader") }) {
		t.Fatal("Users does not report the role held through the group")
	}

	// A deleted guest: readable in deletedItems by id, restorable; a deleted user who holds a role is not.
	if r := c.send(http.MethodDelete, "/v1.0/users/"+guest.ID, "", nil); r.status != 204 {
		t.Fatalf("delete guest: %d %s", r.status, r.body)
	}
	r := c.sendURL(tn.GraphURL()+"/v1.0/directory/deletedItems/"+guest.ID, nil)
	if r.status != 200 || field(t, r.body, "id") != guest.ID || field(t, r.body, "deletedDateTime") == nil ||
		field(t, r.body, "@odata.type") != "#microsoft.graph.user" || field(t, r.body, "userType") != "Guest" {
		t.Fatalf("deleted item: %d %s", r.status, r.body)
	}
	if r := c.sendURL(tn.GraphURL()+"/v1.0/directory/deletedItems/"+plain.ID, nil); r.status != 404 {
		t.Fatalf("a live user is no deleted item: %d", r.status)
	}
	if err := tn.AssignRole(guest.ID, "Global Reader"); err == nil {
		t.Fatal("assigned a role to a deleted user")
	}
	// Without User.ReadWrite.All (Directory.ReadWrite.All is not enough for delete), 403.
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), append(ReadOnlyRoles(), "Directory.ReadWrite.All"), time.Now().Add(time.Hour))
	if r := c.send(http.MethodPost, "/v1.0/directory/deletedItems/"+guest.ID+"/restore", "", nil); r.status != 403 {
		t.Fatalf("restore without User.ReadWrite.All: %d %s", r.status, r.body)
	}
}

// TestRemediationFaults: fault rules reach the remediation endpoints — a refusal midway, and a delay that holds
// the answer of a change already made.
func TestRemediationFaults(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 102, Users: 40})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	user := tn.Users()[5].ID
	fido, oath := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	if _, err := tn.SetAuthMethods(user, []AuthMethod{
		{Type: "fido2AuthenticationMethod", ID: fido},
		{Type: "softwareOathAuthenticationMethod", ID: oath},
		{Type: "emailAuthenticationMethod"},
	}, ""); err != nil {
		t.Fatal(err)
	}
	base := "/v1.0/users/" + user + "/authentication/"
	refuse, err := ParseFaultRule(`{"kind":"status","status":403,"path":"` + base + `fido2Methods/"}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.AddFault(refuse); err != nil {
		t.Fatal(err)
	}
	if r := c.send(http.MethodDelete, base+"fido2Methods/"+fido, "", nil); r.status != 403 || r.gerr(t).Error.Code != "Authorization_RequestDenied" {
		t.Fatalf("refused delete: %d %s", r.status, r.body)
	}
	if ms, _, _ := tn.AuthMethods(user); len(ms) != 4 {
		t.Fatalf("a refused delete changed the methods: %v", ms)
	}

	delay, err := ParseFaultRule(`{"kind":"delay","delay":"30s","path":"` + base + `softwareOathMethods/"}`)
	if err != nil || delay.Delay != 30*time.Second {
		t.Fatalf("delay rule %+v, %v", delay, err)
	}
	if _, err := tn.AddFault(delay); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, tn.GraphURL()+base+"softwareOathMethods/"+oath, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if res, err := c.hc.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if res != nil {
			res.Body.Close()
		}
		t.Fatalf("held answer: %v", err)
	}
	ms, _, _ := tn.AuthMethods(user)
	if slices.ContainsFunc(ms, func(m AuthMethod) bool { return m.ID == oath }) || len(ms) != 3 {
		t.Fatalf("the delayed delete did not take effect: %v", ms)
	}
	// The simulator logs the request once it notices the client left.
	var held RequestRecord
	for deadline := time.Now().Add(10 * time.Second); held.Path == "" && time.Now().Before(deadline); {
		for _, rec := range tn.Requests() {
			if strings.HasSuffix(rec.Path, oath) {
				held = rec
			}
		}
		if held.Path == "" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if held.Fault != string(FaultDelay) || held.Status != 499 {
		t.Fatalf("request log of the held delete: %+v", held)
	}

	for _, bad := range []string{`{"kind":"delay"}`, `{"kind":"delay","delay":"-1s"}`, `{"kind":"status","status":418}`} {
		if _, err := ParseFaultRule(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
