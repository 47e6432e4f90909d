package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// TestConditionalAccessSnapshots reads Conditional Access every hour for eight hours while administrators edit
// policies over the simulated clock (seed 4 edits them twice, between different reads): a snapshot is
// kept at the first read and then only when the policies changed since the read before (content hash;
// modifiedDateTime alone could be null), and the newest one holds the policies as they are. Named locations, never
// edited, keep their first snapshot only.
func TestConditionalAccessSnapshots(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 4, Users: 20, Churn: 1, History: 2 * time.Hour,
		Licences: []entrasim.Licence{entrasim.LicenceP1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var starts []time.Time
	for i := range 8 {
		if i > 0 {
			env.Clock.Advance(time.Hour)
		}
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := env.Cursor(ctx, "conditionalAccessPolicies")
		if err != nil {
			t.Fatal(err)
		}
		if len(starts) > 0 && !c.LastRound.After(starts[len(starts)-1]) {
			t.Fatalf("read %d: no new round (last %v)", i, c.LastRound)
		}
		starts = append(starts, c.LastRound)
	}
	edits := env.Tenant.ConditionalAccessEdits()
	want := 1
	for i := 1; i < len(starts); i++ {
		for _, e := range edits {
			if e.After(starts[i-1]) && !e.After(starts[i]) {
				want++
				break
			}
		}
	}
	got, err := env.FullRounds(ctx, "conditionalAccessPolicies")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d edits, %d reads, %d snapshots kept (want %d)", len(edits), len(starts), got, want)
	if len(edits) == 0 || want == 1 {
		t.Fatal("the tenant's policies were never edited between reads: the test shows nothing")
	}
	if got != want {
		t.Errorf("%d snapshots kept, want %d (one at the first read and one per read after an edit)", got, want)
	}
	if n, err := env.FullRounds(ctx, "namedLocations"); err != nil || n != 1 {
		t.Errorf("namedLocations: %d snapshots kept (%v), want 1: nothing changed", n, err)
	}

	// The newest snapshot is the tenant's policies now.
	store, err := env.Archive()
	if err != nil {
		t.Fatal(err)
	}
	rounds, err := store.Rounds(ctx, scenario.Integration, "conditionalAccessPolicies")
	if err != nil || len(rounds) == 0 {
		t.Fatalf("rounds: %v %v", rounds, err)
	}
	archived := map[string]string{}
	for _, p := range rounds[len(rounds)-1].Parts {
		err := store.ReadRecords(ctx, p.Name, func(b []byte) error {
			var o struct{ ID, State string }
			if err := json.Unmarshal(b, &o); err != nil {
				return err
			}
			archived[o.ID] = o.State
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}
	_, err = g.Pages(ctx, "/v1.0/identity/conditionalAccess/policies", func(it graph.Item) error {
		var o struct{ ID, State string }
		if err := json.Unmarshal(it.Raw, &o); err != nil {
			return err
		}
		live[o.ID] = o.State
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(live) == 0 || len(archived) != len(live) {
		t.Fatalf("newest snapshot %v, tenant %v", archived, live)
	}
	for id, st := range live {
		if archived[id] != st {
			t.Errorf("policy %s: archived state %q, tenant %q", id, archived[id], st)
		}
	}
}

// TestPolicySnapshotsMatchTheTenant reads the registration report, Conditional Access policies and named
// locations once and compares each snapshot with the tenant's collection at the read, property by property; a
// second read an hour later keeps no new registration snapshot (daily) and, nothing having changed, no new
// Conditional Access one.
func TestPolicySnapshotsMatchTheTenant(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 9, Users: 60, History: 2 * time.Hour,
		Licences: []entrasim.Licence{entrasim.LicenceP1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for range 2 {
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Hour)
	}
	reports, err := env.VerifySnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports, want userRegistrationDetails, conditionalAccessPolicies and namedLocations", len(reports))
	}
	for _, r := range reports {
		t.Log(r.Line(), "extra", r.Extra)
		if !r.OK() || r.Records == 0 {
			t.Errorf("%+v", r)
		}
		if n, err := env.FullRounds(ctx, r.DataType); err != nil || n != 1 {
			t.Errorf("%s: %d snapshots kept (%v), want 1", r.DataType, n, err)
		}
	}
}
