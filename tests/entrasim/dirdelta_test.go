package entrasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// replica is what a collector rebuilds from delta rounds: objects upserted by id, removals applied,
// members@delta merged as edges (never replacing a member set from one item).
type replica struct {
	objects map[string]map[string]json.RawMessage
	members map[string]map[string]bool
}

func newReplica() *replica {
	return &replica{objects: map[string]map[string]json.RawMessage{}, members: map[string]map[string]bool{}}
}

// roundStats describes one delta round.
type roundStats struct {
	items, pages int
	removed      map[string]string // id → reason
	seen         map[string]int    // id → occurrences in the round
	deltaLink    string
}

// deltaItem is one item of a delta page.
type deltaItem struct {
	ID      string                   `json:"id"`
	Removed *struct{ Reason string } `json:"@removed"`
	Members []struct {
		Type    string                   `json:"@odata.type"`
		ID      string                   `json:"id"`
		Removed *struct{ Reason string } `json:"@removed"`
	} `json:"members@delta"`
}

// round follows a delta round from u to its deltaLink and applies every item.
func (rp *replica) round(t *testing.T, c *client, u string, header map[string]string) roundStats {
	t.Helper()
	st := roundStats{removed: map[string]string{}, seen: map[string]int{}}
	for u != "" {
		r := c.sendURL(u, header)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", u, r.status, r.body)
		}
		var p struct {
			Next  string            `json:"@odata.nextLink"`
			Delta string            `json:"@odata.deltaLink"`
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Next != "" && p.Delta != "" {
			t.Fatal("a page with both nextLink and deltaLink")
		}
		st.pages++
		for _, raw := range p.Value {
			st.items++
			var it deltaItem
			if err := json.Unmarshal(raw, &it); err != nil {
				t.Fatal(err)
			}
			st.seen[it.ID]++
			if it.Removed != nil {
				st.removed[it.ID] = it.Removed.Reason
				delete(rp.objects, it.ID)
				delete(rp.members, it.ID)
				continue
			}
			var props map[string]json.RawMessage
			if err := json.Unmarshal(raw, &props); err != nil {
				t.Fatal(err)
			}
			delete(props, "members@delta")
			rp.objects[it.ID] = props
			for _, m := range it.Members {
				if rp.members[it.ID] == nil {
					rp.members[it.ID] = map[string]bool{}
				}
				if m.Removed != nil {
					delete(rp.members[it.ID], m.ID)
				} else {
					rp.members[it.ID][m.ID] = true
				}
			}
		}
		u = p.Next
		st.deltaLink = p.Delta
	}
	if st.deltaLink == "" {
		t.Fatal("the round ended without a deltaLink")
	}
	return st
}

// compare reports how the replica differs from the ground truth: missing, extra and stale objects or
// memberships.
func (rp *replica) compare(truth []DirObject) (missing, extra, stale []string) {
	want := map[string]DirObject{}
	for _, o := range truth {
		want[o.ID] = o
		got, ok := rp.objects[o.ID]
		if !ok {
			missing = append(missing, o.ID)
			continue
		}
		for k, v := range o.Props {
			if !bytes.Equal(got[k], v) {
				stale = append(stale, fmt.Sprintf("%s.%s: %s, truth %s", o.ID, k, got[k], v))
			}
		}
		if len(got) != len(o.Props) {
			stale = append(stale, fmt.Sprintf("%s: %d properties, truth %d", o.ID, len(got), len(o.Props)))
		}
		if o.Members != nil {
			have := rp.members[o.ID]
			for _, m := range o.Members {
				if !have[m] {
					missing = append(missing, o.ID+"∋"+m)
				}
			}
			for m := range have {
				if !slices.Contains(o.Members, m) {
					extra = append(extra, o.ID+"∋"+m)
				}
			}
		}
	}
	for id := range rp.objects {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(stale)
	return missing, extra, stale
}

// Replaying delta rounds reproduces the ground truth exactly, for every delta kind, with churn on — also with
// replays, delayed removals and large groups split across pages.
func TestDeltaRoundsReproduceTheTruth(t *testing.T) {
	variants := []struct {
		name string
		opts Options
		sel  string
	}{
		{"plain", Options{}, ""},
		{"replays, delayed removals, small slices", Options{DeltaReplayShare: 0.3, RemovalDelay: 20 * time.Minute, MemberSliceSize: 7}, ""},
		{"with $select", Options{RemovalDelay: 5 * time.Minute, MemberSliceSize: 50}, "displayName"},
	}
	for _, v := range variants {
		for _, kind := range DeltaKinds() {
			t.Run(v.name+"/"+kind, func(t *testing.T) {
				o := v.opts
				o.Seed, o.Users, o.Churn = 101, 160, 400
				tn, clock := startTenant(t, o)
				c := newClient(t, tn)
				var sel []string
				u := tn.GraphURL() + "/v1.0/" + kind + "/delta"
				if v.sel != "" {
					sel = strings.Split(v.sel, ",")
					u += "?$select=" + url.QueryEscape(v.sel)
					if kind == colGroups || kind == colDirectoryRoles || kind == colAdminUnits {
						u += ",members"
					}
				}
				prefer := map[string]string{"Prefer": "odata.maxpagesize=40"}
				rp := newReplica()
				link := u
				reported, removed, split := 0, 0, 0
				for round := 0; round < 8; round++ {
					st := rp.round(t, c, link, prefer)
					link = st.deltaLink
					truth, err := tn.DirectoryAt(kind, clock.Now(), sel)
					if err != nil {
						t.Fatal(err)
					}
					missing, extra, stale := rp.compare(truth)
					if len(missing)+len(extra)+len(stale) > 0 {
						t.Fatalf("round %d: %d objects: missing %v, extra %v, stale %v", round, len(truth), head(missing), head(extra), head(stale))
					}
					if round > 0 {
						reported += st.items
						removed += len(st.removed)
					}
					for _, n := range st.seen {
						if n > 1 {
							split++
						}
					}
					clock.Advance(37 * time.Minute)
				}
				if reported == 0 {
					t.Fatal("churn changed nothing of this kind")
				}
				t.Logf("%d items after the first round, %d removals, %d split objects", reported, removed, split)
			})
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// A large group is reported several times in one round, consecutively, with the same properties and the
// next slice of members@delta each time; pages hold at most MemberSliceSize member entries.
func TestDeltaSplitsLargeGroups(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 102, Users: 300, MemberSliceSize: 25})
	c := newClient(t, tn)
	u := tn.GraphURL() + "/v1.0/groups/delta"
	occurrences := map[string][]json.RawMessage{}
	var order []string
	for u != "" {
		r := c.sendURL(u, nil)
		var p struct {
			Next  string            `json:"@odata.nextLink"`
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != 200 {
			t.Fatalf("%d %v", r.status, err)
		}
		entries := 0
		for _, raw := range p.Value {
			var it deltaItem
			_ = json.Unmarshal(raw, &it)
			entries += len(it.Members)
			occurrences[it.ID] = append(occurrences[it.ID], raw)
			order = append(order, it.ID)
		}
		if entries > 25 && len(p.Value) > 1 {
			t.Fatalf("a page holds %d member entries in %d items", entries, len(p.Value))
		}
		u = p.Next
	}
	truth, _ := tn.DirectoryAt(colGroups, tn.Now(), nil)
	split := 0
	for _, g := range truth {
		occ := occurrences[g.ID]
		if want := max(1, (len(g.Members)+24)/25); len(occ) != want {
			t.Fatalf("group %s with %d members appears %d times, want %d", g.ID, len(g.Members), len(occ), want)
		}
		if len(occ) < 2 {
			continue
		}
		split++
		first := slices.Index(order, g.ID)
		members := map[string]bool{}
		for i, raw := range occ {
			if order[first+i] != g.ID {
				t.Fatalf("the slices of %s are not consecutive", g.ID)
			}
			var props map[string]json.RawMessage
			_ = json.Unmarshal(raw, &props)
			slice := props["members@delta"]
			delete(props, "members@delta")
			var firstProps map[string]json.RawMessage
			_ = json.Unmarshal(occ[0], &firstProps)
			delete(firstProps, "members@delta")
			if fmt.Sprint(props) != fmt.Sprint(firstProps) {
				t.Fatalf("slice %d of %s carries other properties", i, g.ID)
			}
			var ms []struct{ ID string }
			_ = json.Unmarshal(slice, &ms)
			for _, m := range ms {
				if members[m.ID] {
					t.Fatalf("member %s in two slices", m.ID)
				}
				members[m.ID] = true
			}
		}
		if len(members) != len(g.Members) {
			t.Fatalf("slices hold %d members, the group %d", len(members), len(g.Members))
		}
	}
	if split == 0 {
		t.Fatal("no group was split")
	}
}

// $select narrows what is tracked: a change to a property not selected does not surface.
func TestDeltaSelectNarrowsTracking(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 103, Users: 60})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	start := func(sel string) *replica {
		rp := newReplica()
		return rp
	}
	_ = start
	links := map[string]string{}
	for _, sel := range []string{"displayName", "jobTitle", ""} {
		u := tn.GraphURL() + "/v1.0/users/delta"
		if sel != "" {
			u += "?$select=" + sel
		}
		links[sel] = newReplica().round(t, c, u, nil).deltaLink
	}
	var target User
	for _, u := range tn.Users() {
		if u.UserType == "Member" && !u.Admin {
			target = u
			break
		}
	}
	if r := c.send(http.MethodPatch, "/v1.0/users/"+target.ID, `{"jobTitle":"Auditor"}`, nil); r.status != 204 {
		t.Fatalf("PATCH: %d", r.status)
	}
	tests := []struct {
		sel  string
		want int
	}{{"displayName", 0}, {"jobTitle", 1}, {"", 1}}
	for _, tc := range tests {
		st := newReplica().round(t, c, links[tc.sel], nil)
		if st.items != tc.want || tc.want == 1 && st.seen[target.ID] != 1 {
			t.Errorf("$select=%q: %d items, want %d", tc.sel, st.items, tc.want)
		}
	}
}

// Expired links, synchronization resets and resyncRequired answer as Graph does.
func TestDeltaExpiryAndResets(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, tn *Tenant, clock *SimClock, c *client)
		status  int
		code    string
		message string
		reset   bool // a 410 with a Location restarting the round
	}{
		{"expired after 7 days", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) {
			clock.Advance(7*24*time.Hour + time.Second)
		},
			400, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.", false},
		{"still valid at 7 days", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) { clock.Advance(7 * 24 * time.Hour) }, 200, "", "", false},
		{"ResetDeltaSync", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) {
			if err := tn.ResetDeltaSync(colGroups); err != nil {
				t.Fatal(err)
			}
		}, 410, "resyncRequired", resyncMessage, true},
		{"a reset of another kind does not matter", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) {
			if err := tn.ResetDeltaSync(colUsers); err != nil {
				t.Fatal(err)
			}
		}, 200, "", "", false},
		{"POST /_sim/directory/reset", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) {
			res, err := c.hc.Post(tn.GraphURL()+"/_sim/directory/reset", "application/json", strings.NewReader(`{"kinds":["groups"]}`))
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("reset: %v %v", err, res)
			}
			res.Body.Close()
		}, 410, "resyncRequired", resyncMessage, true},
		{"syncReset fault", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) {
			if _, err := tn.AddFault(FaultRule{Kind: FaultSyncReset, Path: "/v1.0/groups/delta", Count: 1}); err != nil {
				t.Fatal(err)
			}
		}, 410, "resyncRequired", resyncMessage, true},
		{"resyncRequired fault", func(t *testing.T, tn *Tenant, clock *SimClock, c *client) {
			if _, err := tn.AddFault(FaultRule{Kind: FaultResyncRequired, Path: "/v1.0/groups/delta", Count: 1}); err != nil {
				t.Fatal(err)
			}
		}, 400, "resyncRequired", resyncMessage, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, clock := startTenant(t, Options{Seed: 104, Users: 50})
			c := newClient(t, tn)
			link := newReplica().round(t, c, tn.GraphURL()+"/v1.0/groups/delta?$select=displayName,members", nil).deltaLink
			tc.prepare(t, tn, clock, c)
			c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))
			r := c.sendURL(link, nil)
			if r.status != tc.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tc.status == 200 {
				return
			}
			if e := r.gerr(t).Error; e.Code != tc.code || e.Message != tc.message {
				t.Fatalf("error %+v", e)
			}
			loc := r.header.Get("Location")
			if !tc.reset {
				if loc != "" {
					t.Fatalf("Location %q", loc)
				}
				return
			}
			// The Location is the initial request with an empty $deltatoken: following it is a full round.
			if !strings.Contains(loc, "/v1.0/groups/delta?") || !strings.HasSuffix(loc, "$deltatoken=") || !strings.Contains(loc, "members") {
				t.Fatalf("Location %q", loc)
			}
			rp := newReplica()
			rp.round(t, c, loc, nil)
			truth, _ := tn.DirectoryAt(colGroups, clock.Now(), []string{"displayName"})
			if m, e, s := rp.compare(truth); len(m)+len(e)+len(s) > 0 {
				t.Fatalf("the round from Location: missing %v extra %v stale %v", head(m), head(e), head(s))
			}
		})
	}
	// A skip token of a round that a reset overtook is gone too.
	tn, _ := startTenant(t, Options{Seed: 104, Users: 50})
	c := newClient(t, tn)
	r := c.sendURL(tn.GraphURL()+"/v1.0/users/delta", map[string]string{"Prefer": "odata.maxpagesize=10"})
	next := r.page(t).NextLink
	_ = tn.ResetDeltaSync()
	if r := c.sendURL(next, nil); r.status != 410 || r.header.Get("Location") == "" {
		t.Fatalf("skip token after a reset: %d", r.status)
	}
}

// signInActivity cannot be tracked by delta: Graph's 400.
func TestDeltaRefusesSignInActivity(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 105, Users: 20})
	c := newClient(t, tn)
	r := c.sendURL(tn.GraphURL()+"/v1.0/users/delta?$select=id,signInActivity", nil)
	if e := r.gerr(t).Error; r.status != 400 || e.Code != "BadRequest" ||
		e.Message != "Invalid request for delta query: for this entity set, $expand/$select is not supported for the following properties: signInActivity" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// Replays: with DeltaReplayShare 1 a round reports again everything the previous round reported; the
// choice is deterministic from the seed.
func TestDeltaReplays(t *testing.T) {
	run := func(share float64) [][]string {
		tn, clock := startTenant(t, Options{Seed: 106, Users: 120, Churn: 200, DeltaReplayShare: share})
		clock.Advance(2 * time.Hour) // churn starts in the hour after the tenant's
		c := newClient(t, tn)
		link := newReplica().round(t, c, tn.GraphURL()+"/v1.0/users/delta", nil).deltaLink
		var rounds [][]string
		for i := 0; i < 3; i++ {
			clock.Advance(time.Hour)
			st := newReplica().round(t, c, link, nil)
			link = st.deltaLink
			var ids []string
			for id := range st.seen {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			rounds = append(rounds, ids)
		}
		return rounds
	}
	none, all := run(0), run(1)
	for i := 1; i < 3; i++ {
		for _, id := range none[i-1] {
			if !slices.Contains(all[i], id) {
				t.Fatalf("round %d: %s reported in round %d is not replayed", i, id, i-1)
			}
		}
		if len(all[i]) <= len(none[i]) {
			t.Fatalf("round %d: %d items with replays, %d without", i, len(all[i]), len(none[i]))
		}
	}
	half1, half2 := run(0.5), run(0.5)
	if fmt.Sprint(half1) != fmt.Sprint(half2) {
		t.Fatal("replays are not deterministic")
	}
}

// Delayed removals: a deletion reaches delta rounds (and the ground truth) RemovalDelay after it happens.
func TestDeltaDelayedRemovals(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 107, Users: 60, RemovalDelay: 10 * time.Minute})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	users, groups := newReplica(), newReplica()
	uLink := users.round(t, c, tn.GraphURL()+"/v1.0/users/delta?$select=displayName", nil).deltaLink
	gLink := groups.round(t, c, tn.GraphURL()+"/v1.0/groups/delta?$select=displayName,members", nil).deltaLink
	var victim User
	for _, u := range tn.Users() {
		if u.UserType == "Member" && !u.Admin && u.Department != "" {
			victim = u
			break
		}
	}
	dept := groupID(107, slices.Index(groupNames, victim.Department))
	// Soft-delete, and take the user out of its department group, at T.
	if r := c.send(http.MethodDelete, "/v1.0/users/"+victim.ID, "", nil); r.status != 204 {
		t.Fatalf("DELETE: %d", r.status)
	}
	func() {
		tn.store.mu.Lock()
		defer tn.store.mu.Unlock()
		g, m := tn.store.cols[colGroups].get(dept), tn.store.cols[colUsers].get(victim.ID)
		if !tn.setMember(g, m, true, tn.Now()) {
			t.Fatal("not a member")
		}
	}()
	steps := []struct {
		advance time.Duration
		removed bool
	}{{5 * time.Minute, false}, {6 * time.Minute, true}}
	for _, s := range steps {
		clock.Advance(s.advance)
		us := users.round(t, c, uLink, nil)
		gs := groups.round(t, c, gLink, nil)
		uLink, gLink = us.deltaLink, gs.deltaLink
		gotRemoved := us.removed[victim.ID] == "changed"
		_, stillMember := groups.members[dept][victim.ID]
		if gotRemoved != s.removed || stillMember == s.removed {
			t.Fatalf("after %s: user removal reported %v, still a member %v", s.advance, gotRemoved, stillMember)
		}
		truth, _ := tn.DirectoryAt(colUsers, clock.Now(), []string{"displayName"})
		inTruth := slices.ContainsFunc(truth, func(o DirObject) bool { return o.ID == victim.ID })
		if inTruth == s.removed {
			t.Fatalf("after %s: the ground truth still lists the user: %v", s.advance, inTruth)
		}
	}
}

// Prefer: return=minimal returns only the changed properties of changed objects.
func TestDeltaReturnMinimal(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 108, Users: 40})
	c := newClient(t, tn)
	c.token = fakeToken(tn.TenantID(), tn.ClientID(), ReadWriteRoles(), time.Now().Add(time.Hour))
	link := newReplica().round(t, c, tn.GraphURL()+"/v1.0/users/delta?$select=displayName,jobTitle,department", nil).deltaLink
	var target User
	for _, u := range tn.Users() {
		if u.UserType == "Member" && !u.Admin {
			target = u
			break
		}
	}
	_ = c.send(http.MethodPatch, "/v1.0/users/"+target.ID, `{"jobTitle":"Auditor"}`, nil)
	r := c.sendURL(link, map[string]string{"Prefer": "return=minimal"})
	items := r.page(t).Value
	if len(items) != 1 || !slices.Equal(keysOf(t, items[0]), []string{"id", "jobTitle"}) {
		t.Fatalf("minimal items %s", items)
	}
}
