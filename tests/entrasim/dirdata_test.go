package entrasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// objects lists a collection with every property selected and decodes the objects.
func objects(t *testing.T, c *client, path string, def *entityDef) []map[string]any {
	t.Helper()
	items, _, _ := c.allPages(c.tn.GraphURL()+path+"?$top=500&$select="+url.QueryEscape(strings.Join(def.props, ",")), nil)
	var out []map[string]any
	for _, raw := range items {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func at(v any) time.Time {
	s, _ := v.(string)
	ts, _ := time.Parse(time.RFC3339Nano, s)
	return ts
}

func path(m map[string]any, p string) any {
	var v any = m
	for _, k := range strings.Split(p, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// The properties security products read are present with plausible, varied values — not only null.
func TestSecurityRelevantProperties(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 131, Users: 600, Apps: 40, Churn: 20})
	clock.Advance(6 * time.Hour)
	c := newClient(t, tn)
	now := clock.Now()
	// A check holds for every object (all) or for at least one (some).
	type check struct {
		name string
		all  bool
		ok   func(o map[string]any) bool
	}
	tests := []struct {
		kind   string
		path   string
		def    *entityDef
		checks []check
	}{
		{"users", "/v1.0/users", userDef, []check{
			{"lastPasswordChangeDateTime after creation, not in the future", true, func(o map[string]any) bool {
				p := at(o["lastPasswordChangeDateTime"])
				return !p.IsZero() && !p.Before(at(o["createdDateTime"])) && !p.After(now)
			}},
			{"synchronised from Active Directory, with its identifiers", false, func(o map[string]any) bool {
				return o["onPremisesSyncEnabled"] == true && o["onPremisesImmutableId"] != nil && o["onPremisesSamAccountName"] != nil &&
					o["onPremisesDistinguishedName"] != nil && strings.HasPrefix(fmt.Sprint(o["onPremisesSecurityIdentifier"]), "S-1-5-21-") &&
					!at(o["onPremisesLastSyncDateTime"]).IsZero()
			}},
			{"cloud-only users have no on-premises identifiers", true, func(o map[string]any) bool {
				return o["onPremisesSyncEnabled"] == true || o["onPremisesImmutableId"] == nil && o["onPremisesSecurityIdentifier"] == nil
			}},
			{"passwords that never expire", false, func(o map[string]any) bool { return o["passwordPolicies"] == "DisablePasswordExpiration" }},
			{"accepted guests: invitation, state, change time, foreign identity", false, func(o map[string]any) bool {
				ids, _ := o["identities"].([]any)
				foreign := slices.ContainsFunc(ids, func(x any) bool { return path(x.(map[string]any), "signInType") == "federated" })
				return o["userType"] == "Guest" && o["creationType"] == "Invitation" && o["externalUserState"] == "Accepted" &&
					!at(o["externalUserStateChangeDateTime"]).IsZero() && foreign
			}},
			{"invited guests pending acceptance", false, func(o map[string]any) bool { return o["externalUserState"] == "PendingAcceptance" }},
			{"members have a licence and no external state", true, func(o map[string]any) bool {
				return o["userType"] != "Member" || len(o["assignedLicenses"].([]any)) > 0 && o["externalUserState"] == nil && o["creationType"] == nil
			}},
			{"signInActivity with a successful sign-in", false, func(o map[string]any) bool { return path(o, "signInActivity.lastSuccessfulSignInDateTime") != nil }},
			{"signInActivity null (never signed in)", false, func(o map[string]any) bool { return o["signInActivity"] == nil }},
			{"disabled accounts", false, func(o map[string]any) bool { return o["accountEnabled"] == false }},
			{"cloud security identifier", true, func(o map[string]any) bool {
				return strings.HasPrefix(fmt.Sprint(o["securityIdentifier"]), "S-1-12-1-")
			}},
		}},
		{"applications", "/v1.0/applications", applicationDef, []check{
			{"web, publicClient, spa and verifiedPublisher are objects", true, func(o map[string]any) bool {
				for _, k := range []string{"web", "publicClient", "spa", "verifiedPublisher", "api", "info"} {
					if _, ok := o[k].(map[string]any); !ok {
						return false
					}
				}
				return true
			}},
			{"implicit grant of access tokens", false, func(o map[string]any) bool {
				return path(o, "web.implicitGrantSettings.enableAccessTokenIssuance") == true
			}},
			{"public client redirect URIs", false, func(o map[string]any) bool { return len(path(o, "publicClient.redirectUris").([]any)) > 0 }},
			{"verified publisher", false, func(o map[string]any) bool { return path(o, "verifiedPublisher.verifiedPublisherId") != nil }},
			{"multi-tenant", false, func(o map[string]any) bool { return o["signInAudience"] == "AzureADMultipleOrgs" }},
			{"an expired certificate", false, func(o map[string]any) bool {
				for _, k := range o["keyCredentials"].([]any) {
					if at(k.(map[string]any)["endDateTime"]).Before(now) {
						return true
					}
				}
				return false
			}},
			{"client secrets", false, func(o map[string]any) bool { return len(o["passwordCredentials"].([]any)) > 0 }},
			{"an application permission (Role) requested", false, func(o map[string]any) bool {
				for _, r := range o["requiredResourceAccess"].([]any) {
					for _, a := range r.(map[string]any)["resourceAccess"].([]any) {
						if a.(map[string]any)["type"] == "Role" {
							return true
						}
					}
				}
				return false
			}},
		}},
		{"servicePrincipals", "/v1.0/servicePrincipals", servicePrincipalDef, []check{
			{"SAML single sign-on", false, func(o map[string]any) bool {
				return o["preferredSingleSignOnMode"] == "saml" && o["samlSingleSignOnSettings"] != nil
			}},
			{"assignment required", false, func(o map[string]any) bool { return o["appRoleAssignmentRequired"] == true }},
			{"managed identities", false, func(o map[string]any) bool { return o["servicePrincipalType"] == "ManagedIdentity" }},
		}},
		{"devices", "/v1.0/devices", deviceDef, []check{
			{"isRooted and deviceOwnership always set", true, func(o map[string]any) bool {
				_, b := o["isRooted"].(bool)
				return b && (o["deviceOwnership"] == "Company" || o["deviceOwnership"] == "Personal")
			}},
			{"a rooted device", false, func(o map[string]any) bool { return o["isRooted"] == true }},
			{"personal devices", false, func(o map[string]any) bool { return o["deviceOwnership"] == "Personal" }},
			{"hybrid joined, synchronised", false, func(o map[string]any) bool { return o["trustType"] == "ServerAd" && o["onPremisesSyncEnabled"] == true }},
			{"managed and not compliant", false, func(o map[string]any) bool { return o["isManaged"] == true && o["isCompliant"] == false }},
		}},
		{"roleAssignments", "/v1.0/roleManagement/directory/roleAssignments", roleAssignmentDef, []check{
			{"condition always present", true, func(o map[string]any) bool { _, ok := o["condition"]; return ok }},
			{"a condition", false, func(o map[string]any) bool { return o["condition"] != nil }},
			{"scoped to an administrative unit", false, func(o map[string]any) bool {
				return strings.HasPrefix(fmt.Sprint(o["directoryScopeId"]), "/administrativeUnits/")
			}},
		}},
		{"administrativeUnits", "/v1.0/administrativeUnits", adminUnitDef, []check{
			{"dynamic membership", false, func(o map[string]any) bool { return o["membershipType"] == "Dynamic" && o["membershipRule"] != nil }},
			{"restricted management", false, func(o map[string]any) bool { return o["isMemberManagementRestricted"] == true }},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			objs := objects(t, c, tc.path, tc.def)
			for _, ck := range tc.checks {
				n := 0
				for _, o := range objs {
					if ck.ok(o) {
						n++
					} else if ck.all {
						t.Errorf("%s: not so for %v", ck.name, o["id"])
						break
					}
				}
				if n == 0 {
					t.Errorf("%s: no object of %d", ck.name, len(objs))
				}
			}
		})
	}
}

// Named locations are polymorphic: $select accepts each subtype's properties, checked against all of them.
func TestNamedLocationsSelect(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 132})
	c := newClient(t, tn)
	r := c.sendURL(tn.GraphURL()+"/v1.0/identity/conditionalAccess/namedLocations?$select=displayName,ipRanges,countriesAndRegions", nil)
	items := r.page(t).Value
	if len(items) != 2 {
		t.Fatalf("%d locations", len(items))
	}
	for _, it := range items {
		keys := keysOf(t, it)
		switch field(t, it, "@odata.type") {
		case "#microsoft.graph.ipNamedLocation":
			if !slices.Equal(keys, []string{"@odata.type", "displayName", "ipRanges"}) {
				t.Fatalf("ip location keys %v", keys)
			}
		default:
			if !slices.Equal(keys, []string{"@odata.type", "countriesAndRegions", "displayName"}) {
				t.Fatalf("country location keys %v", keys)
			}
		}
	}
	if r := c.sendURL(tn.GraphURL()+"/v1.0/identity/conditionalAccess/namedLocations?$select=shoeSize", nil); r.status != 400 {
		t.Fatalf("unknown property: %d", r.status)
	}
}

// Churn exercises every kind of change for every delta kind, deterministically from the seed.
func TestChurnCoversEveryKindOfChange(t *testing.T) {
	run := func() (*Tenant, string) {
		tn, clock := startTenant(t, Options{Seed: 133, Users: 300, Churn: 600})
		clock.Advance(24 * time.Hour)
		var b strings.Builder
		for _, k := range DeltaKinds() {
			objs, err := tn.DirectoryAt(k, clock.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(objs)
			b.Write(raw)
		}
		return tn, b.String()
	}
	tn, first := run()
	if _, second := run(); second != first {
		t.Fatal("the same seed and clock gave another directory")
	}
	tn.store.mu.RLock()
	defer tn.store.mu.RUnlock()
	type tally struct{ created, updated, softDeleted, restored, purged, added, removed, nestedAdded, nestedRemoved int }
	counts := map[string]*tally{}
	for _, k := range DeltaKinds() {
		tl := &tally{}
		counts[k] = tl
		c := tn.store.cols[k]
		for _, id := range c.ids {
			r := c.byID[id]
			prev := stLive
			for i, v := range r.vers {
				switch {
				case v.born && v.seq > 0:
					tl.created++
				case v.state == stSoftDeleted && prev == stLive:
					tl.softDeleted++
				case v.state == stLive && prev == stSoftDeleted:
					tl.restored++
				case v.state == stGone:
					tl.purged++
				case v.state == stLive && i > 0 || v.state == stLive && r.idx >= 0:
					tl.updated++
				}
				prev = v.state
			}
			if r.ms != nil {
				for _, ch := range r.ms.log {
					switch {
					case ch.m.col.name == colGroups && ch.removed:
						tl.nestedRemoved++
					case ch.m.col.name == colGroups:
						tl.nestedAdded++
					case ch.removed:
						tl.removed++
					default:
						tl.added++
					}
				}
			}
		}
	}
	want := map[string][]string{
		colUsers:          {"created", "updated", "softDeleted", "restored", "purged"},
		colGroups:         {"created", "updated", "softDeleted", "restored", "purged", "added", "removed", "nestedAdded", "nestedRemoved"},
		colApplications:   {"created", "updated", "softDeleted", "restored", "purged"},
		colSPs:            {"created", "updated", "softDeleted", "restored"},
		colDevices:        {"created", "updated", "purged"},
		colDirectoryRoles: {"added", "removed"},
		colAdminUnits:     {"created", "added", "removed", "softDeleted"},
	}
	for k, fields := range want {
		tl := *counts[k]
		got := map[string]int{"created": tl.created, "updated": tl.updated, "softDeleted": tl.softDeleted, "restored": tl.restored,
			"purged": tl.purged, "added": tl.added, "removed": tl.removed, "nestedAdded": tl.nestedAdded, "nestedRemoved": tl.nestedRemoved}
		for _, f := range fields {
			if got[f] == 0 {
				t.Errorf("%s: no %s in a day of churn: %+v", k, f, tl)
			}
		}
	}
	// Guests were invited and accepted.
	invited, accepted := 0, 0
	for _, id := range tn.store.cols[colUsers].ids {
		r := tn.store.cols[colUsers].byID[id]
		for _, v := range r.vers {
			if s, ok := v.set.get("externalUserState"); ok {
				switch {
				case v.born && s == "PendingAcceptance":
					invited++
				case !v.born && s == "Accepted":
					accepted++
				}
			}
		}
	}
	if invited == 0 || accepted == 0 {
		t.Errorf("%d guests invited, %d accepted", invited, accepted)
	}
}

// The initial groups contain nested groups and a nesting cycle; transitiveMembers lists each member once.
func TestNestedGroupsWithACycle(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 134, Users: 200})
	c := newClient(t, tn)
	a, b := groupID(134, len(groupNames)), groupID(134, len(groupNames)+1)
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		items, _, _ := c.allPages(tn.GraphURL()+"/v1.0/groups/"+pair[0]+"/members?$select=id", nil)
		if !slices.ContainsFunc(items, func(raw json.RawMessage) bool { return field(t, raw, "id") == pair[1] }) {
			t.Fatalf("%s is not a member of %s", pair[1], pair[0])
		}
	}
	items, _, _ := c.allPages(tn.GraphURL()+"/v1.0/groups/"+a+"/transitiveMembers?$select=id", nil)
	seen := map[string]bool{}
	for _, raw := range items {
		id := field(t, raw, "id").(string)
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	if !seen[b] || seen[a] {
		t.Fatalf("transitive members of a group in a cycle: contains the other %v, itself %v", seen[b], seen[a])
	}
}

// The ground truth over /_sim is DirectoryAt; bad requests are refused clearly; a past state stays as it
// was after later changes.
func TestDirectoryTruthEndpoint(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 135, Users: 80, Churn: 200})
	c := newClient(t, tn)
	t1 := clock.Advance(2 * time.Hour)
	before, _ := tn.DirectoryAt(colGroups, t1, []string{"displayName"})
	clock.Advance(3 * time.Hour)
	if after, _ := tn.DirectoryAt(colGroups, t1, []string{"displayName"}); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("the state at a past time changed")
	}
	if now, _ := tn.DirectoryAt(colGroups, clock.Now(), []string{"displayName"}); fmt.Sprint(now) == fmt.Sprint(before) {
		t.Fatal("five hours of churn changed no group")
	}
	res, err := c.hc.Get(tn.GraphURL() + "/_sim/directory?kind=groups&select=displayName&asOf=" + url.QueryEscape(t1.Format(time.RFC3339Nano)))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Kind    string      `json:"kind"`
		Count   int         `json:"count"`
		Objects []DirObject `json:"objects"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != 200 {
		t.Fatalf("%d %v", res.StatusCode, err)
	}
	res.Body.Close()
	if got.Count != len(before) || fmt.Sprint(got.Objects) != fmt.Sprint(before) {
		t.Fatalf("/_sim/directory: %d objects, DirectoryAt %d", got.Count, len(before))
	}
	for _, q := range []string{"kind=shoes", "kind=users&asOf=2020-01-01T00:00:00Z", "kind=users&asOf=2999-01-01T00:00:00Z", "kind=users&asOf=yesterday",
		"kind=users&select=shoeSize"} {
		res, err := c.hc.Get(tn.GraphURL() + "/_sim/directory?" + q)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d", q, res.StatusCode)
		}
	}
	res, err = c.hc.Get(tn.GraphURL() + "/_sim/signInActivity")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("signInActivity: %v %v", err, res)
	}
	res.Body.Close()
	if _, err := tn.DirectoryAt("users", clock.Now().Add(time.Second), nil); err == nil {
		t.Fatal("a time after now was accepted")
	}
}
