package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

func startScenario(t *testing.T, o scenario.Options) *scenario.Env {
	t.Helper()
	o.AppRoot = appRoot
	o.Output = t.Output()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := scenario.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	env.ScanSecretsAtEnd(t)
	return env
}

func logCursors(t *testing.T, env *scenario.Env) {
	t.Helper()
	for _, r := range mustVerify(t, env, false) {
		c, err := env.Cursor(context.Background(), r.DataType)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(scenario.Describe(c))
	}
}

func mustVerify(t *testing.T, env *scenario.Env, settled bool) []scenario.Report {
	t.Helper()
	reports, err := env.Verify(context.Background(), settled)
	if err != nil {
		t.Fatal(err)
	}
	return reports
}

// TestCollectExactlyOnce runs backfill, incremental collections and late arrivals over two and a half simulated
// days, and compares the archive with the tenant's ground truth for every stream.
func TestCollectExactlyOnce(t *testing.T) {
	t.Parallel()
	// Low rates keep the number of blobs (one per non-empty bucket and pass) and the test's time down; the
	// history is the full 30 days.
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 11, Users: 20, LateShare: 0.05,
		Streams: map[string]entrasim.StreamOptions{
			"signIns.interactive": {Rate: 2}, "signIns.nonInteractive": {Rate: 8}, "signIns.servicePrincipal": {Rate: 3},
			"signIns.managedIdentity": {Rate: 2}, "directoryAudits": {Rate: 2}, "provisioning": {Rate: 1},
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	start := time.Now()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("backfill took %v", time.Since(start))
	// Right after the first run the backfill is complete and fresh buckets are in.
	for _, r := range mustVerify(t, env, false) {
		t.Log(r.Line(), "parts", r.Parts, "from", r.From, "to", r.To)
		if r.Records == 0 || r.Duplicates != 0 || len(r.BadParts) != 0 || r.Extra != 0 {
			t.Errorf("after backfill: %+v", r)
		}
	}
	start = time.Now()
	if err := env.CollectUntilSettled(ctx, 3*time.Hour); err != nil {
		t.Fatal(err)
	}
	t.Logf("incremental runs took %v", time.Since(start))
	logCursors(t, env)
	for _, r := range mustVerify(t, env, true) {
		t.Log(r.Line(), "parts", r.Parts)
		if !r.OK() || r.Records == 0 {
			t.Errorf("%s: %+v", r.DataType, r)
		}
		if r.To.Sub(r.From) < 25*24*time.Hour {
			t.Errorf("%s: compared only %v..%v", r.DataType, r.From, r.To)
		}
	}
	// Graph's reports budget (5 requests / 10 s, scaled) is spent without running into it: under 1 % 429s.
	var accepted, throttled int64
	for _, ec := range env.Tenant.Counters().Families["reports"] {
		accepted += ec.Accepted
		throttled += ec.Throttled
	}
	t.Logf("reports family: %d requests accepted, %d throttled", accepted, throttled)
	if accepted == 0 || float64(throttled) >= 0.01*float64(accepted+throttled) {
		t.Errorf("429 share %d/%d is not under 1 %%", throttled, accepted+throttled)
	}
	runs, err := env.Runs(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 || runs[0].Outcome != "ok" {
		t.Fatalf("runs = %+v", runs)
	}
}
