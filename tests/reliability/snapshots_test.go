package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// snapshotKillKinds are the kill points of one snapshot data type's round, counting only that data type's storage
// requests: before and after its part or manifest is committed, before and after its cursor is written (the
// round's begin, its "every part committed", the move past it).
var snapshotKillKinds = []killKind{
	{name: "round-write-before", op: opPartCommit, maxN: 2, needs: "round parts and manifests of the data type"},
	{name: "round-write-after", op: opPartCommit, after: true, maxN: 2, needs: "round parts and manifests of the data type"},
	{name: "cursor-write-before", op: opCursorWrite, maxN: 3, needs: "cursor writes of the data type"},
	{name: "cursor-write-after", op: opCursorWrite, after: true, maxN: 3, needs: "cursor writes of the data type"},
}

// snapshotKillTargets are the data types the kill points land in, in turn: versioned (each version archived once,
// the manifest naming the versions held), hashed (a snapshot kept only after a change: Conditional Access policies,
// which the tenant edits now and then — its named locations never change, so no part or manifest of theirs is
// ever written after the first) and plain snapshots of each family.
var snapshotKillTargets = []string{"riskyUsers", "conditionalAccessPolicies", "riskyAgents", "managedDevices",
	"riskyServicePrincipals", "userRegistrationDetails", "agentInstances", "agentCardManifests"}

// TestKillSnapshots kills the handler with SIGKILL inside the rounds of issue 16's snapshot data types — Identity
// Protection's and Agent ID's versioned risky users, service principals and agents, Conditional Access's hashed
// snapshots, the registration report, Intune and the agent registry — before and after each of the data type's
// part, manifest and cursor writes, 8 kills in short mode, on a tenant with every licence whose risk and policies
// change as the clock moves. After each kill no cursor or manifest names a round, snapshot or version that is not
// durably archived (checkRounds); at the end, collected on without kills, the versions and snapshots kept equal the
// tenant's truth: nothing missing, nothing twice, nothing it never had. (TestKillRandom's kills count every
// storage request of CollectLogs, which the log streams' parts swamp, and it checks only the log streams;
// TestKillDirectory's count the directory's.)
func TestKillSnapshots(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	count := *kills
	if count == 0 {
		count = shortOrLong(8, 40)
	}
	var plan []killPoint
	for i := 0; len(plan) < count; i++ {
		for _, j := range rng.Perm(len(snapshotKillKinds)) {
			if len(plan) == count {
				break
			}
			k := snapshotKillKinds[j]
			plan = append(plan, killPoint{kind: k, n: 1 + rng.IntN(k.maxN), dataType: snapshotKillTargets[len(plan)%len(snapshotKillTargets)]})
		}
	}
	var proxy *storageProxy
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{Seed: int64(rng.Uint32()), Users: 30, Churn: 1, History: 3 * 24 * time.Hour, Streams: noLogStreams(),
			Licences: []entrasim.Licence{entrasim.LicenceP1, entrasim.LicenceP2, entrasim.LicenceIntune,
				entrasim.LicenceWorkloadIdentitiesPremium, entrasim.LicenceAgentID},
			PageLatency: entrasim.Dist{Fixed: 5 * time.Millisecond, Jitter: 10 * time.Millisecond}},
		Settings:       map[string]string{"COLLECT_BACKFILL_DAYS": "1", "COLLECT_CONCURRENCY": "2"},
		RestartLimit:   10 * count,
		HandlerStorage: behindProxy(&proxy),
	})
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(10*time.Minute, 60*time.Minute))
	defer cancel()
	types := roundTypes(env, catalog.Families()...)
	// CollectDirectory plans every family with rounds; the killed handler held their leases.
	leasesFree := func() {
		for _, f := range catalog.Families() {
			lctx, lcancel := context.WithTimeout(ctx, 3*time.Minute)
			err := waitLeaseFree(lctx, env, f)
			lcancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// A first collection without kills: every data type's first round, so the kills land in later ones too.
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	k := &killer{t: t, env: env, proxy: proxy, rng: rng, timer: "CollectDirectory", family: catalog.Directory}
	fired, skipped := map[string]int{}, 0
	for i, kp := range plan {
		dt, _ := catalog.Lookup(kp.dataType)
		k.family = dt.Family
		killed := false
		for attempt := 1; attempt <= maxAttempts && !killed; attempt++ {
			// The data type's round falls due at its cadence.
			env.Clock.Advance(dt.Snapshot.Every)
			leasesFree()
			var err error
			if killed, err = k.collectUntilKilled(ctx, kp); err != nil {
				t.Fatalf("kill point %d (%s): %v", i+1, kp, err)
			}
			if !killed {
				kp.n = 1 + rng.IntN(max(1, kp.n/2))
			}
		}
		if !killed {
			skipped++
			t.Logf("kill point %d/%d (%s) skipped: not reached in %d collections", i+1, len(plan), kp, maxAttempts)
			continue
		}
		fired[kp.kind.name+" "+kp.dataType]++
		problems, err := checkRounds(ctx, env, types)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d/%d: %s (sim %s): %d problems", i+1, len(plan), kp, env.Clock.Now().Format("01-02T15:04"), len(problems))
		for _, p := range problems {
			t.Error("after kill: " + p)
		}
		if len(problems) > 0 {
			t.FailNow()
		}
	}
	proxy.disarm()
	t.Logf("kill points fired: %v; skipped: %d", fired, skipped)
	if len(fired) == 0 {
		t.Fatal("no kill point fired")
	}
	// Collect on, a day at a time so every snapshot is read again, until no round is in progress; the last
	// collection's rounds are then checked like the others.
	for attempt := 0; ; attempt++ {
		env.Clock.Advance(24 * time.Hour)
		leasesFree()
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
		var busy []string
		for _, dt := range types {
			c, err := env.Cursor(ctx, dt.Name)
			if err != nil {
				t.Fatal(err)
			}
			if c.InRound() || c.LastRound.IsZero() {
				busy = append(busy, dt.Name)
			}
		}
		if len(busy) == 0 {
			break
		}
		if attempt == 3 {
			t.Fatalf("rounds still in progress after %d collections: %s", attempt+1, strings.Join(busy, ", "))
		}
	}
	verifyRounds(ctx, t, env, "at the end", true)
}
