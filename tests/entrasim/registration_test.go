package entrasim

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"
)

// The registration report has a row for every member and guest user (userregistrationdetails.md): users created
// over the simulated clock get one, soft-deleted and purged users leave it, restored users return; the list and
// SnapshotAt (the ground truth tests/scenario verifies against) agree at every instant.
func TestRegistrationDetailsFollowUsers(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 71, Users: 60, Churn: 40})
	c := newClient(t, tn)
	ids := func(u string) map[string]string {
		items, _, _ := c.allPages(tn.GraphURL()+u, nil)
		out := map[string]string{}
		for _, raw := range items {
			var o struct{ ID, UserType string }
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			out[o.ID] = o.UserType
		}
		return out
	}
	initial := ids("/v1.0/users?$top=999&$select=id,userType")
	created, deleted := 0, 0
	for step := 0; step < 4; step++ {
		clock.Advance(6 * time.Hour)
		users := ids("/v1.0/users?$top=999&$select=id,userType")
		rows := ids("/v1.0/reports/authenticationMethods/userRegistrationDetails")
		for id, typ := range users {
			got, ok := rows[id]
			switch {
			case !ok:
				t.Errorf("after %d h: user %s (%s) has no registration row", 6*(step+1), id, typ)
			case got != map[string]string{"Member": "member", "Guest": "guest"}[typ]:
				t.Errorf("user %s: row userType %q, user %q", id, got, typ)
			}
		}
		for id := range rows {
			if _, ok := users[id]; !ok {
				t.Errorf("after %d h: registration row %s has no live user", 6*(step+1), id)
			}
		}
		snap, err := tn.SnapshotAt("userRegistrationDetails", clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := slices.Sorted(maps.Keys(snap)), slices.Sorted(maps.Keys(rows)); !slices.Equal(got, want) {
			t.Errorf("SnapshotAt has %d rows, the list %d", len(got), len(want))
		}
		for id := range users {
			if _, ok := initial[id]; !ok {
				created++
			}
		}
		for id := range initial {
			if _, ok := users[id]; !ok {
				deleted++
			}
		}
	}
	if created == 0 || deleted == 0 {
		t.Fatalf("churn created %d and deleted %d users: the test shows nothing", created, deleted)
	}
}
