package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// TestIdentityProtectionVersions collects Identity Protection through the host simulator for twelve hours while
// risk is raised, dismissed and remediated over the simulated clock: risky users and service principals (hourly
// snapshots) and their risk detections (hourly buckets on lastUpdatedDateTime, re-swept). Every version the tenant
// served is archived once — a detection whose state changed is archived again as a new version, a risky user once
// per riskLastUpdatedDateTime — and nothing the tenant never served. CollectLogs alone plans the protection family
// (it holds a log stream), so the directory timer is not fired. With seed 31 a risk raised during the run is ended
// about 7 simulated hours in (risk ends at least 6 hours after it was raised), so twelve hourly rounds archive the
// detection and the user before and after the change.
func TestIdentityProtectionVersions(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 31, Users: 30, Churn: 4, History: 6 * time.Hour,
		Licences: []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceWorkloadIdentitiesPremium}, Streams: quietStreams()},
		// The tenant's history is 6 hours: a day of backfill covers it.
		Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	collectHourly(t, ctx, env, 12)

	reports, err := env.Verify(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := env.VerifyVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range append(reports, versions...) {
		switch r.DataType {
		case "riskyUsers", "riskyServicePrincipals", "riskDetections", "servicePrincipalRiskDetections":
		default:
			continue
		}
		seen[r.DataType] = true
		t.Log(r.Line(), "extra", r.Extra, "state", r.State)
		if !r.OK() || r.Records == 0 {
			t.Errorf("%s: %+v", r.DataType, r)
		}
	}
	if len(seen) != 4 {
		t.Errorf("verified %v, want the four Identity Protection data types", seen)
	}
	// Versions: some detection and some risky user were archived more than once, each time in a new state.
	for _, dt := range []struct{ name, field string }{{"riskDetections", "id"}, {"riskyUsers", "id"}} {
		ids, err := env.ArchivedValues(ctx, dt.name, dt.field)
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for _, n := range ids {
			if n > 1 {
				changed++
			}
		}
		states, err := env.ArchivedValues(ctx, dt.name, "riskState")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d ids, %d archived in more than one version; states %v", dt.name, len(ids), changed, states)
		if changed == 0 || states["atRisk"] == 0 || states["dismissed"]+states["remediated"] == 0 {
			t.Errorf("%s: no record archived again after a change of its risk state", dt.name)
		}
	}
}
