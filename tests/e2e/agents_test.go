package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// agentTypes are the Agent ID data types (catalog family agents).
func agentTypes() []string {
	var out []string
	for _, d := range catalog.InFamily(catalog.Agents) {
		out = append(out, d.Name)
	}
	return out
}

// TestAgentIDCollection collects the Agent ID data types through the host simulator for twelve hours while agent
// risk is raised, dismissed and confirmed over the simulated clock: the agent registry's instances and card
// manifests (daily snapshots), risky agents (hourly snapshot, one version per riskLastModifiedDateTime) and agent
// risk detections (hourly buckets on lastModifiedDateTime, re-swept). The archive is exactly the tenant's truth:
// every version it served is archived once, nothing it never served, and the registry's snapshot is the registry.
// With seed 41 six agent risk versions fall inside the run and four of them are replaced during it.
func TestAgentIDCollection(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 41, Users: 30, Churn: 4, History: 6 * time.Hour,
		Licences: []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceAgentID}, Streams: quietStreams()},
		Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	collectHourly(t, ctx, env, 12)

	var reports []scenario.Report
	for _, verify := range []func(context.Context) ([]scenario.Report, error){
		func(ctx context.Context) ([]scenario.Report, error) { return env.Verify(ctx, false) },
		env.VerifyVersions, env.VerifySnapshots,
	} {
		r, err := verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, r...)
	}
	seen := map[string]bool{}
	for _, r := range reports {
		if d, _ := catalog.Lookup(r.DataType); d.Family != catalog.Agents {
			continue
		}
		seen[r.DataType] = true
		t.Log(r.Line(), "extra", r.Extra, "state", r.State)
		if !r.OK() || r.Records == 0 || r.State != "ok" {
			t.Errorf("%s: %+v", r.DataType, r)
		}
	}
	if len(seen) != len(agentTypes()) {
		t.Errorf("verified %v, want every Agent ID data type %v", seen, agentTypes())
	}
	// Versions: some detection and some risky agent were archived more than once, each time in a new state.
	for _, name := range []string{"agentRiskDetections", "riskyAgents"} {
		ids, err := env.ArchivedValues(ctx, name, "id")
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for _, n := range ids {
			if n > 1 {
				changed++
			}
		}
		states, err := env.ArchivedValues(ctx, name, "riskState")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d ids, %d archived in more than one version; states %v", name, len(ids), changed, states)
		if changed == 0 || states["atRisk"] == 0 || states["dismissed"]+states["confirmedSafe"]+states["confirmedCompromised"] == 0 {
			t.Errorf("%s: no record archived again after a change of its risk state", name)
		}
	}
}

// TestAgentIDNotAvailable: a tenant Graph does not serve the Agent ID APIs (before the preview reaches it, or after
// Microsoft replaced the Agent Registry APIs) answers 400 "Resource not found for the segment …". The connectivity
// test says not-available and parks the four data types; no run fails and everything else is collected. When
// the APIs vanish after the test found them (404 and 400 on the collector's own queries), the collector parks them
// as not-available for a day — the runs stay ok, and the same day nothing asks again.
func TestAgentIDNotAvailable(t *testing.T) {
	t.Parallel()
	t.Run("from the start", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 41, Users: 20, History: 2 * time.Hour,
			Licences:    []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceAgentID},
			Unavailable: []string{"agentRegistry", "identityProtection/riskyAgents", "identityProtection/agentRiskDetections"}},
			Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1"}})
		for range 2 {
			if err := env.Collect(ctx); err != nil {
				t.Fatal(err)
			}
			if err := env.CollectDirectory(ctx); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(time.Hour)
		}
		status := statusOf(t, env, ctx)
		for _, name := range agentTypes() {
			s := status[name]
			c, err := env.Cursor(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: Status %+v, cursor %q %q", name, s, c.State, c.Detail)
			if s.Collected || s.Connectivity != "not-available" || !strings.Contains(s.Why, "not-available") {
				t.Errorf("%s: Status %+v, want parked with connectivity not-available", name, s)
			}
			if c.State != "" && c.State != "not started" && c.State != "not-available" {
				t.Errorf("%s: cursor state %q %q, want none or not-available", name, c.State, c.Detail)
			}
		}
		checkRunsOK(t, env, ctx)
		for _, name := range []string{"riskyUsers", "riskDetections", "users"} {
			if c, err := env.Cursor(ctx, name); err != nil || c.State != "ok" {
				t.Errorf("%s beside the missing Agent ID APIs: %+v (%v), want collected", name, c, err)
			}
		}
	})
	t.Run("gone after the test", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 41, Users: 20, History: 2 * time.Hour,
			Licences: []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceAgentID}},
			Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1"}})
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"riskyAgents", "agentRiskDetections"} {
			if c, err := env.Cursor(ctx, name); err != nil || c.State != "ok" {
				t.Fatalf("%s before the APIs vanish: %+v (%v)", name, c, err)
			}
		}
		// The probe's own query ($top=1, or the first page) keeps working: only the collector's reads fail, so it is
		// the collector that must decide.
		for path, status := range map[string]int{"/beta/identityProtection/riskyAgents": 400, "/beta/identityProtection/agentRiskDetections": 404} {
			if _, err := env.Tenant.AddFault(entrasim.FaultRule{Kind: entrasim.FaultStatus, Path: path, Status: status}); err != nil {
				t.Fatal(err)
			}
		}
		before := len(env.Tenant.Requests())
		env.Clock.Advance(2 * time.Hour)
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		asked := agentRequests(env, before)
		for _, name := range []string{"riskyAgents", "agentRiskDetections"} {
			c, err := env.Cursor(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %q %q, asked %d times", name, c.State, c.Detail, asked[name])
			if c.State != "not-available" || !strings.Contains(c.Detail, "Agent ID") || !c.SkipUntil.After(env.Clock.Now().Add(20*time.Hour)) {
				t.Errorf("%s: cursor %q %q skip until %v, want not-available for a day", name, c.State, c.Detail, c.SkipUntil)
			}
			if asked[name] == 0 || asked[name] > attempts {
				t.Errorf("%s: asked %d times before parking, want 1 to %d", name, asked[name], attempts)
			}
		}
		checkRunsOK(t, env, ctx)
		// Later the same day: parked, not asked again.
		before = len(env.Tenant.Requests())
		env.Clock.Advance(2 * time.Hour)
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		if n := agentRequests(env, before); n["riskyAgents"]+n["agentRiskDetections"] > 0 {
			t.Errorf("asked again the same day while not available: %v", n)
		}
		if c, err := env.Cursor(ctx, "riskyUsers"); err != nil || c.State != "ok" {
			t.Errorf("riskyUsers beside them: %+v (%v)", c, err)
		}
	})
}

// quietStreams gives every log stream about one event an hour, so that runs about other data types stay short.
func quietStreams() map[string]entrasim.StreamOptions {
	out := map[string]entrasim.StreamOptions{}
	for _, name := range []string{"signIns.interactive", "signIns.nonInteractive", "signIns.servicePrincipal",
		"signIns.managedIdentity", "directoryAudits", "provisioning"} {
		out[name] = entrasim.StreamOptions{Rate: 1}
	}
	return out
}

// collectHourly fires CollectLogs hours times, an hour of simulated time apart, and once more at the end.
func collectHourly(t *testing.T, ctx context.Context, env *scenario.Env, hours int) {
	t.Helper()
	for range hours {
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Hour)
	}
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
}

// agentRequests counts the Graph requests since the first n of the request log by Agent ID data type.
func agentRequests(env *scenario.Env, n int) map[string]int {
	out := map[string]int{}
	for _, r := range env.Tenant.Requests()[n:] {
		for _, d := range catalog.InFamily(catalog.Agents) {
			if strings.HasSuffix(r.Path, "/"+d.Path) {
				out[d.Name]++
			}
		}
	}
	return out
}

// checkRunsOK fails unless every recorded run of the agents family finished ok, without errors.
func checkRunsOK(t *testing.T, env *scenario.Env, ctx context.Context) {
	t.Helper()
	runs, err := env.Runs(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.Family != string(catalog.Agents) {
			continue
		}
		n++
		if r.Outcome != "ok" || len(r.Errors) > 0 {
			t.Errorf("agents run %s: outcome %s, errors %+v", r.Invocation, r.Outcome, r.Errors)
		}
	}
	if n == 0 {
		t.Error("no run of the agents family recorded")
	}
}
