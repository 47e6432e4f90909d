package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

func mustVerifyDirectory(t *testing.T, env *scenario.Env, stage string) []scenario.DirReport {
	t.Helper()
	reports, err := env.VerifyDirectory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		t.Logf("%s: %s rounds=%d asOf=%s", stage, r.Line(), r.Rounds, r.AsOf.Format(time.RFC3339))
		if !r.OK() || r.Objects == 0 && r.DataType != "administrativeUnits" {
			t.Errorf("%s: %s %v", stage, r.Line(), r.Examples)
		}
	}
	return reports
}

// TestDirectoryReplay collects the directory through the host simulator while it churns — creations, updates,
// soft and hard deletions, restores, membership changes, nested groups, invited guests — with Graph's replays,
// delayed removals and large groups split over several items, and after every collection replays the archive
// (the newest snapshot and the delta rounds after it) against the tenant's directory at the last round's start:
// 0 missing, 0 extra, 0 stale objects and memberships, for every delta data type.
func TestDirectoryReplay(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 23, Users: 300, Churn: 40,
		DeltaReplayShare: 0.1, RemovalDelay: 20 * time.Minute, MemberSliceSize: 25, History: 24 * time.Hour,
		Streams: map[string]entrasim.StreamOptions{"signIns.interactive": {Rate: 2}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	first := mustVerifyDirectory(t, env, "after the full rounds")
	for range 4 {
		env.Clock.Advance(90 * time.Minute)
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
	}
	last := mustVerifyDirectory(t, env, "after four delta rounds")
	changed := 0
	for i, r := range last {
		if r.Rounds < 2 {
			t.Errorf("%s: %d rounds replayed, want the full round and delta rounds", r.DataType, r.Rounds)
		}
		if r.Objects != first[i].Objects {
			changed++
		}
	}
	if changed == 0 {
		t.Error("the churn changed no object count: the test saw no creations or deletions")
	}
	runs, err := env.Runs(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		for _, e := range r.Errors {
			if parkedUnlicensed(env, e) {
				continue
			}
			t.Errorf("run %s %s: %s %s: %s", r.Invocation, r.Family, e.DataType, e.Kind, e.Message)
		}
	}
}

// TestDirectoryResync: Graph resets the synchronization (410 with a Location) or asks for a resync
// (resyncRequired), and a deltaLink outlives Graph's 7 days (400 syncStateNotFound): each leads to one clean full
// round, no run error, and the archive replays to the tenant's directory.
func TestDirectoryResync(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 29, Users: 60, Churn: 10, History: 24 * time.Hour,
		Streams: map[string]entrasim.StreamOptions{"signIns.interactive": {Rate: 1}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	fullRounds := func(dataType string) int {
		n, err := env.FullRounds(ctx, dataType)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, step := range []struct {
		name string
		do   func()
		kind string
	}{
		{"synchronization reset (410)", func() {
			if err := env.Tenant.ResetDeltaSync("users"); err != nil {
				t.Fatal(err)
			}
		}, "users"},
		{"resyncRequired", func() {
			if _, err := env.Tenant.AddFault(entrasim.FaultRule{Kind: entrasim.FaultResyncRequired, Path: "/v1.0/groups/delta", Count: 1}); err != nil {
				t.Fatal(err)
			}
		}, "groups"},
		{"deltaLink older than 7 days", func() { env.Clock.Advance(8 * 24 * time.Hour) }, "devices"},
	} {
		before := fullRounds(step.kind)
		step.do()
		env.Clock.Advance(time.Hour)
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
		if got := fullRounds(step.kind) - before; got != 1 {
			t.Errorf("%s: %d full rounds of %s, want one", step.name, got, step.kind)
		}
		c, err := env.Cursor(ctx, step.kind)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != cursor.StateOK || c.Resync != "" || c.InRound() {
			t.Errorf("%s: cursor %+v", step.name, c)
		}
		mustVerifyDirectory(t, env, "after "+step.name)
	}
	runs, err := env.Runs(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		for _, e := range r.Errors {
			if parkedUnlicensed(env, e) {
				continue
			}
			t.Errorf("run %s: %s %s: %s", r.Invocation, e.DataType, e.Kind, e.Message)
		}
	}
}

// parkedUnlicensed reports whether a run error is a data type the tenant has no licence for (Intune, Workload ID)
// answering not-licensed: the first run, and the daily re-probe, find it so and park it, no fault of the directory.
func parkedUnlicensed(env *scenario.Env, e cursor.RunError) bool {
	dt, ok := catalog.Lookup(e.DataType)
	return ok && !env.Licensed(dt) && e.Kind == "not-licensed"
}

// groupGraph is the test's own reading of the tenant's nesting: group → direct members, and which ids are groups.
type groupGraph struct {
	members map[string][]string
}

func newGroupGraph(groups []entrasim.DirObject) groupGraph {
	g := groupGraph{members: map[string][]string{}}
	for _, o := range groups {
		g.members[o.ID] = o.Members
	}
	return g
}

// closure returns the groups reachable from root (root included) and whether the walk met a cycle.
func (g groupGraph) closure(root string) (map[string]bool, bool) {
	seen, cycle := map[string]bool{}, false
	var walk func(id string, path map[string]bool)
	walk = func(id string, path map[string]bool) {
		if path[id] {
			cycle = true
			return
		}
		if seen[id] {
			return
		}
		seen[id] = true
		path[id] = true
		for _, m := range g.members[id] {
			if _, isGroup := g.members[m]; isGroup {
				walk(m, path)
			}
		}
		delete(path, id)
	}
	walk(root, map[string]bool{})
	return seen, cycle
}

// excludedUsers are the users in the closure of root.
func (g groupGraph) excludedUsers(root string, users map[string]bool) map[string]bool {
	groups, _ := g.closure(root)
	out := map[string]bool{}
	for gr := range groups {
		for _, m := range g.members[gr] {
			if users[m] {
				out[m] = true
			}
		}
	}
	return out
}

// TestDirectoryExclusions: an integration excludes a group whose nesting reaches a cycle, and guests. No user in
// the group, directly or through nested groups, and no guest is ever archived as a user; everyone else is. A user
// removed from the nested group it was excluded through is archived at the round after the groups round that
// shows the removal.
func TestDirectoryExclusions(t *testing.T) {
	t.Parallel()
	topts := entrasim.Options{Seed: 31, Users: 200, History: 24 * time.Hour,
		Streams: map[string]entrasim.StreamOptions{"signIns.interactive": {Rate: 1}}}
	// The same seed and size give the same directory: read it from a tenant of our own to choose the group.
	probe := topts
	probe.Clock = entrasim.NewSimClock(scenario.DefaultStart)
	pt, err := entrasim.New(&probe)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := pt.DirectoryAt("groups", scenario.DefaultStart, nil)
	if err != nil {
		t.Fatal(err)
	}
	users, err := pt.DirectoryAt("users", scenario.DefaultStart, []string{"userType"})
	if err != nil {
		t.Fatal(err)
	}
	isUser := map[string]bool{}
	for _, u := range users {
		isUser[u.ID] = true
	}
	gg := newGroupGraph(groups)
	// The smallest group whose nesting reaches a cycle and holds users.
	var root string
	best := 0
	for _, o := range groups {
		closure, cycle := gg.closure(o.ID)
		if n := len(gg.excludedUsers(o.ID, isUser)); cycle && len(closure) > 1 && n > 0 && (root == "" || n < best) {
			root, best = o.ID, n
		}
	}
	if root == "" {
		t.Fatal("the tenant has no group whose nesting reaches a cycle")
	}
	env := startScenario(t, scenario.Options{Tenant: topts, Settings: map[string]string{
		"ENTRA_EXCLUDED_GROUPS": root, "ENTRA_EXCLUDE_GUESTS": "true", "ENTRA_EXCLUDE_FROM_LOGS": "true"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	check := func(stage string) (excluded map[string]bool) {
		t.Helper()
		c, err := env.Cursor(ctx, "users")
		if err != nil {
			t.Fatal(err)
		}
		truthGroups, err := env.Tenant.DirectoryAt("groups", c.LastRound, nil)
		if err != nil {
			t.Fatal(err)
		}
		truthUsers, err := env.Tenant.DirectoryAt("users", c.LastRound, []string{"userType"})
		if err != nil {
			t.Fatal(err)
		}
		all := map[string]bool{}
		for _, u := range truthUsers {
			all[u.ID] = true
		}
		excluded = newGroupGraph(truthGroups).excludedUsers(root, all)
		guests := 0
		for _, u := range truthUsers {
			if string(u.Props["userType"]) == `"Guest"` {
				excluded[u.ID] = true
				guests++
			}
		}
		got, err := env.Replayed(ctx, "users")
		if err != nil {
			t.Fatal(err)
		}
		for id := range all {
			if _, archived := got[id]; archived == excluded[id] {
				t.Errorf("%s: user %s archived %v, excluded %v", stage, id, archived, excluded[id])
			}
		}
		if guests == 0 || len(excluded) == guests {
			t.Errorf("%s: %d excluded, %d of them guests: the test excludes nobody through the group", stage, len(excluded), guests)
		}
		t.Logf("%s: %d users, %d excluded (%d guests), %d archived", stage, len(all), len(excluded), guests, len(got))
		return excluded
	}
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	excluded := check("after the first rounds")

	// Remove an excluded member (not a guest) from every group of the closure that lists it directly.
	closure, _ := gg.closure(root)
	var leaver string
	var via []string
	for gr := range closure {
		for _, m := range gg.members[gr] {
			if isUser[m] && excluded[m] && (leaver == "" || leaver == m) && !isGuest(users, m) {
				leaver = m
				via = append(via, gr)
			}
		}
	}
	if leaver == "" {
		t.Fatal("no excluded member to move out")
	}
	for _, gr := range via {
		if changed, err := env.Tenant.SetGroupMember(gr, leaver, true); err != nil || !changed {
			t.Fatalf("SetGroupMember(%s, %s): %v %v", gr, leaver, changed, err)
		}
	}
	for range 2 {
		env.Clock.Advance(time.Hour)
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after := check("after the removal")
	if after[leaver] {
		t.Fatalf("the user removed from %v is still excluded", via)
	}
	read := false
	for _, r := range env.Tenant.Requests() {
		read = read || strings.HasSuffix(r.Path, "/users/"+leaver)
	}
	if !read {
		t.Errorf("user %s was not read again after leaving the excluded groups", leaver)
	}
	// Nobody still excluded was ever archived, in any round.
	ids, err := env.ArchivedValues(ctx, "users", "id")
	if err != nil {
		t.Fatal(err)
	}
	for id := range after {
		if ids[id] > 0 {
			t.Errorf("excluded user %s archived %d times", id, ids[id])
		}
	}
	// With excludeFromLogs, their sign-ins are left out too, and everyone else's are in.
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	signIns, err := env.ArchivedValues(ctx, "signIns.interactive", "userId")
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for user, n := range signIns {
		if after[user] {
			t.Errorf("%d sign-ins of excluded user %s archived", n, user)
		}
		kept += n
	}
	if kept == 0 {
		t.Error("no sign-in archived at all")
	}
}

func isGuest(users []entrasim.DirObject, id string) bool {
	i := slices.IndexFunc(users, func(u entrasim.DirObject) bool { return u.ID == id })
	return i >= 0 && string(users[i].Props["userType"]) == `"Guest"`
}
