package e2e

import (
	"context"
	"testing"
	"time"

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
			t.Errorf("run %s: %s %s: %s", r.Invocation, e.DataType, e.Kind, e.Message)
		}
	}
}
