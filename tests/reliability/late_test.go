package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// lateTally counts a data type's events by how late they became visible after their bucket closed.
type lateTally struct {
	// late arrived more than the collection step after their bucket closed (the first read cannot have seen
	// them); veryLate more than 24 h after (only the +48 h re-sweep can).
	late, lateArchived, veryLate, veryLateArchived int
}

// TestLateArrivals collects every step of simulated time for more than two days while a third of the events
// arrive between 1 h and 48 h late. With the re-sweeps (+1 h, +6 h, +24 h, +48 h) every late event is archived,
// once. The negative control runs the same tenant with COLLECT_RESWEEPS=none and must miss late events: the
// re-sweeps, not luck, are what catches them.
func TestLateArrivals(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	seed := int64(rng.Uint32())
	step := shortOrLong(2*time.Hour, 45*time.Minute)
	tenant := entrasim.Options{
		Seed: seed, Users: 15, Apps: 2, ManagedIdentities: 1, History: 2 * 24 * time.Hour,
		LateShare: 0.3, // LateDelay zero: uniform between 1 h and 48 h
		Streams: map[string]entrasim.StreamOptions{
			entrasim.StreamNonInteractive: {Rate: 40},
			entrasim.StreamInteractive:    {Rate: 12},
			"signIns.servicePrincipal":    {Rate: 6},
			"signIns.managedIdentity":     {Rate: 4},
			"directoryAudits":             {Rate: 8},
			"provisioning":                {Rate: 4},
		},
	}
	tally := func(t *testing.T, env *scenario.Env) map[string]lateTally {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		idx, err := newArchiveIndex(env)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]lateTally{}
		for _, dt := range catalog.InMode(catalog.Buckets) {
			if !env.Licensed(dt) {
				continue // parked as not licensed (Workload ID): nothing to settle
			}
			c, err := env.Cursor(ctx, dt.Name)
			if err != nil {
				t.Fatal(err)
			}
			// The settled part: buckets whose last re-sweep is done, or (no re-sweeps) 49 h before now, when
			// every late event of them is visible.
			to := env.Clock.Now().Add(-49 * time.Hour).Truncate(dt.Buckets.Bucket)
			if n := len(c.Resweep); n > 0 && c.Resweep[n-1].Before(to) {
				to = c.Resweep[n-1]
			}
			if !c.Started() || !to.After(c.Low) {
				t.Fatalf("%s: nothing settled: %s", dt.Name, scenario.Describe(c))
			}
			keys, err := idx.keys(ctx, dt, c.Low, to)
			if err != nil {
				t.Fatal(err)
			}
			truth, err := env.TruthEvents(dt, c.Low, to, env.Clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			var lt lateTally
			for _, e := range truth {
				end := e.Time.UTC().Truncate(dt.Buckets.Bucket).Add(dt.Buckets.Bucket)
				delay := e.Visible.Sub(end)
				if delay > step+10*time.Minute {
					lt.late++
					if keys[e.ID] > 0 {
						lt.lateArchived++
					}
				}
				if delay > 24*time.Hour {
					lt.veryLate++
					if keys[e.ID] > 0 {
						lt.veryLateArchived++
					}
				}
			}
			t.Logf("%s: settled %s..%s: %d late events, %d archived; %d later than 24 h, %d archived",
				dt.Name, c.Low.Format("01-02T15:04"), to.Format("01-02T15:04"), lt.late, lt.lateArchived, lt.veryLate, lt.veryLateArchived)
			out[dt.Name] = lt
		}
		return out
	}
	run := func(t *testing.T, settings map[string]string) (map[string]lateTally, []scenario.Report) {
		env := startEnv(t, scenario.Options{Tenant: tenant, Settings: settings})
		ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(6*time.Minute, 30*time.Minute))
		defer cancel()
		if err := settle(ctx, env, step); err != nil {
			t.Fatal(err)
		}
		reports, err := env.Verify(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		return tally(t, env), reports
	}

	t.Run("resweeps", func(t *testing.T) {
		counts, reports := run(t, nil)
		// Exactly once, and nothing missing, over the whole settled archive.
		for _, r := range reports {
			t.Log(r.Line())
			if !r.OK() || r.Records == 0 {
				t.Errorf("%s: missing %d, extra %d, duplicates %d, bad parts %v, records %d", r.DataType, r.Missing, r.Extra, r.Duplicates, r.BadParts, r.Records)
			}
		}
		late, veryLate := 0, 0
		for name, lt := range counts {
			if lt.lateArchived != lt.late || lt.veryLateArchived != lt.veryLate {
				t.Errorf("%s: %d of %d late events archived (%d of %d later than 24 h)", name, lt.lateArchived, lt.late, lt.veryLateArchived, lt.veryLate)
			}
			late += lt.late
			veryLate += lt.veryLate
		}
		if late == 0 || veryLate == 0 {
			t.Fatalf("the tenant produced %d late events, %d later than 24 h: nothing was tested", late, veryLate)
		}
	})
	t.Run("negative control without resweeps", func(t *testing.T) {
		counts, reports := run(t, map[string]string{"COLLECT_RESWEEPS": "none"})
		missing, late := 0, 0
		for name, lt := range counts {
			late += lt.late
			missing += lt.late - lt.lateArchived
			if lt.lateArchived == lt.late && lt.late > 0 {
				t.Errorf("%s: without re-sweeps all %d late events were still archived", name, lt.late)
			}
		}
		verifyMissing := 0
		for _, r := range reports {
			verifyMissing += r.Missing
			if r.Duplicates > 0 {
				t.Errorf("%s: %d duplicates", r.DataType, r.Duplicates)
			}
		}
		t.Logf("without re-sweeps: %d of %d late events missing; verification finds %d missing", missing, late, verifyMissing)
		if missing == 0 || verifyMissing == 0 {
			t.Errorf("without re-sweeps nothing was missed (%d late events): the test cannot tell re-sweeps from luck", late)
		}
	})
}
