package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// short keeps these tests quick: three days of history, backfill of three days.
func short(o entrasim.Options) entrasim.Options {
	o.History = 3 * 24 * time.Hour
	return o
}

var shortSettings = map[string]string{"COLLECT_BACKFILL_DAYS": "3", "COLLECT_LEASE_TTL": "3s"}

func byType(reports []scenario.Report) map[string]scenario.Report {
	out := map[string]scenario.Report{}
	for _, r := range reports {
		out[r.DataType] = r
	}
	return out
}

// TestFreeTenant: sign-ins and provisioning are not licensed and say so; audits are still collected, 7 days back.
func TestFreeTenant(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{
		Tenant:   entrasim.Options{Seed: 31, Users: 20, History: 10 * 24 * time.Hour, Licences: []entrasim.Licence{entrasim.LicenceFree}},
		Settings: map[string]string{"COLLECT_LEASE_TTL": "3s"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	reports := byType(mustVerify(t, env, false))
	for _, name := range []string{"signIns.interactive", "signIns.nonInteractive", "signIns.servicePrincipal", "signIns.managedIdentity", "provisioning"} {
		c, err := env.Cursor(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != "not-licensed" || c.Detail != "entraP1P2" || c.Records != 0 || !c.SkipUntil.After(env.Clock.Now()) {
			t.Errorf("%s", scenario.Describe(c))
		}
	}
	audits, err := env.Cursor(ctx, "directoryAudits")
	if err != nil {
		t.Fatal(err)
	}
	backfill := env.Clock.Now().Sub(audits.Target)
	if audits.State != "ok" || backfill < 7*24*time.Hour || backfill > 7*24*time.Hour+2*time.Hour || !audits.Low.Equal(audits.Target) {
		t.Errorf("audits: %s (backfill %v)", scenario.Describe(audits), backfill)
	}
	if r := reports["directoryAudits"]; !r.OK() || r.Records == 0 {
		t.Errorf("audits: %+v", r)
	}
	// A second run does not ask Graph for the skipped data types again (they are re-probed daily).
	signIns := func() int64 {
		c := env.Tenant.Counters().Endpoint("beta/auditLogs/signIns")
		return c.Accepted + c.Throttled
	}
	before := signIns()
	env.Clock.Advance(time.Hour)
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if after := signIns(); after != before {
		t.Errorf("skipped sign-ins were asked for again: %d → %d requests", before, after)
	}
}

// TestMissingPermissions: without Directory.Read.All sign-ins are refused, audits, provisioning and risk
// detections go on; without AuditLog.Read.All every log that needs it is refused and says which permission is
// missing, while the risk detections (IdentityRiskEvent.Read.All) are still collected.
func TestMissingPermissions(t *testing.T) {
	t.Parallel()
	without := func(drop string) []string {
		return slices.DeleteFunc(entrasim.ReadOnlyRoles(), func(r string) bool { return r == drop })
	}
	t.Run("Directory.Read.All", func(t *testing.T) {
		env := startScenario(t, scenario.Options{Tenant: short(entrasim.Options{Seed: 32, Users: 20, Roles: without("Directory.Read.All")}), Settings: shortSettings})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		reports := byType(mustVerify(t, env, false))
		for name, r := range reports {
			c, _ := env.Cursor(ctx, name)
			if strings.HasPrefix(name, "signIns.") {
				if c.State != "missing-permission" || c.Detail != "Directory.Read.All" {
					t.Errorf("%s", scenario.Describe(c))
				}
				continue
			}
			if c.State != "ok" || !r.OK() || r.Records == 0 {
				t.Errorf("%s: %+v", scenario.Describe(c), r)
			}
		}
	})
	t.Run("AuditLog.Read.All", func(t *testing.T) {
		env := startScenario(t, scenario.Options{Tenant: short(entrasim.Options{Seed: 33, Users: 20, Roles: without("AuditLog.Read.All")}), Settings: shortSettings})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, r := range mustVerify(t, env, false) {
			c, _ := env.Cursor(ctx, r.DataType)
			if dt, _ := catalog.Lookup(r.DataType); !slices.Contains(dt.Permissions, "AuditLog.Read.All") {
				// Identity Protection's detections need IdentityRiskEvent.Read.All, which the app has: collected.
				if c.State != "ok" || !r.OK() || r.Records == 0 {
					t.Errorf("%s: %+v", scenario.Describe(c), r)
				}
				continue
			}
			refused++
			if c.State != "missing-permission" || !strings.Contains(c.Detail, "AuditLog.Read.All") || c.Records != 0 {
				t.Errorf("%s", scenario.Describe(c))
			}
		}
		if refused == 0 {
			t.Error("no log data type needs AuditLog.Read.All: nothing was refused")
		}
		// Every data type of the reports family that needs AuditLog.Read.All is refused once: the six log streams and
		// userSignInActivity.
		needing := 0
		for _, dt := range catalog.InFamily(catalog.Reports) {
			if slices.Contains(dt.Permissions, "AuditLog.Read.All") {
				needing++
			}
		}
		// The reports family's run (the protection family runs apart).
		all, err := env.Runs(ctx, 20)
		var runs []cursor.Run
		for _, r := range all {
			if r.Family == string(catalog.Reports) {
				runs = append(runs, r)
			}
		}
		if err != nil || len(runs) != 1 || runs[0].Outcome != "partial" || len(runs[0].Errors) != needing {
			t.Fatalf("runs = %+v, %v; want one reports run with %d errors", runs, err, needing)
		}
		for _, e := range runs[0].Errors {
			if e.Kind != "missing-permission" || e.RequestID == "" {
				t.Errorf("run error %+v", e)
			}
		}
	})
}

// TestFaultsNeverLoseData injects every fault class of the simulated Graph while collecting: the archive still
// equals the truth, and the failures that outlasted the retries are visible in runs and Status with data type,
// window and request id.
func TestFaultsNeverLoseData(t *testing.T) {
	t.Parallel()
	faults := []entrasim.FaultRule{
		{Kind: entrasim.FaultStatus, Status: 500, Probability: 0.03},
		{Kind: entrasim.FaultStatus, Status: 503, Probability: 0.03},
		{Kind: entrasim.FaultStatus, Status: 504, Probability: 0.02},
		{Kind: entrasim.FaultReset, Probability: 0.03},
		{Kind: entrasim.FaultTruncate, Probability: 0.03},
		{Kind: entrasim.FaultTruncate, Abort: true, Probability: 0.02},
		{Kind: entrasim.FaultInvalidJSON, Probability: 0.03},
		{Kind: entrasim.FaultInvalidSkipToken, Every: 2},
		{Kind: entrasim.FaultThrottle, Storm: 3, RetryAfter: 30 * time.Millisecond, Probability: 0.02},
		{Kind: entrasim.FaultThrottle, Storm: 2, Probability: 0.01},
		// A burst no retry outlasts: six invalid pages in a row on the audit log.
		{Kind: entrasim.FaultInvalidJSON, Path: "/v1.0/auditLogs/directoryAudits", Count: 6},
	}
	env := startScenario(t, scenario.Options{
		Tenant:   short(entrasim.Options{Seed: 34, Users: 30, LateShare: 0.05, Faults: faults}),
		Settings: shortSettings,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := env.CollectUntilSettled(ctx, 6*time.Hour); err != nil {
		t.Fatal(err)
	}
	// Every fault class fired.
	for _, f := range env.Tenant.Faults() {
		t.Logf("fault %s %+v: fired %d of %d matches", f.Rule.Kind, f.Rule, f.Fired, f.Matched)
		if f.Fired == 0 {
			t.Errorf("fault %+v never fired", f.Rule)
		}
	}
	// Later runs can fail on their own faults too; with the faults off, one more collection catches up.
	env.Tenant.ClearFaults()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustVerify(t, env, true) {
		t.Log(r.Line(), "parts", r.Parts)
		if !r.OK() || r.Records == 0 {
			t.Errorf("%+v", r)
		}
	}
	counters := env.Tenant.Counters()
	t.Logf("Graph requests %d", counters.Requests)

	runs, err := env.Runs(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	var auditErr bool
	for _, r := range runs {
		for _, e := range r.Errors {
			if e.DataType == "" || e.Bucket == "" || e.Message == "" {
				t.Errorf("run error lacks data type, window or message: %+v", e)
			}
			if e.DataType == "directoryAudits" && e.Kind == "invalid-page" && e.RequestID != "" {
				auditErr = true
			}
		}
	}
	if !auditErr {
		t.Error("the audit-log burst is not in any run with its request id")
	}

	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodGet, Path: "/api/status", Header: http.Header{"x-functions-key": {env.FunctionKey}}})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("status: %v %+v", err, res)
	}
	var status struct {
		Integrations []struct {
			DataTypes []struct {
				DataType, Mode, State, LastError string
				BacklogBuckets                   int
				Records                          int64
			} `json:"dataTypes"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(res.Body, &status); err != nil {
		t.Fatal(err)
	}
	if len(status.Integrations) != 1 {
		t.Fatalf("status: %s", res.Body)
	}
	for _, d := range status.Integrations[0].DataTypes {
		if dt, _ := catalog.Lookup(d.DataType); d.Mode != "buckets" || !env.Licensed(dt) {
			continue // the log streams the tenant has are what this test collects
		}
		if d.State != "ok" || d.Records == 0 {
			t.Errorf("status %+v", d)
		}
		if d.DataType == "directoryAudits" && (!strings.Contains(d.LastError, "directoryAudits") || !strings.Contains(d.LastError, "request-id")) {
			t.Errorf("status does not show the audit failure: %q", d.LastError)
		}
	}
}

// TestKillMidWorker kills the handler (SIGKILL) while a worker is archiving, lets the host restart it, and
// collects on: the final archive equals the truth, with nothing lost and nothing twice.
func TestKillMidWorker(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{
		// No late events: the archive must equal the truth right after recovery, without waiting for re-sweeps.
		Tenant:   entrasim.Options{Seed: 35, Users: 30, History: 5 * 24 * time.Hour, LateShare: -1, PageLatency: entrasim.Dist{Fixed: 25 * time.Millisecond}},
		Settings: map[string]string{"COLLECT_LEASE_TTL": "3s"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if _, err := env.Host.Timer(ctx, "CollectLogs", nil); err != nil {
		t.Fatal(err)
	}
	// Kill once some windows are committed and the worker is still running.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := env.Cursor(ctx, "signIns.nonInteractive")
		if err != nil {
			t.Fatal(err)
		}
		if c.Records > 0 && env.Host.InFlight() > 0 {
			t.Logf("killing the handler with %s", scenario.Describe(c))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker archived nothing in two minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := env.Host.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := env.Host.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var killed bool
	for _, inv := range env.Host.Invocations() {
		killed = killed || inv.Function == "CollectWork" && inv.Failure != ""
	}
	if !killed {
		t.Error("no CollectWork invocation failed: the kill hit nothing")
	}
	env.Clock.Advance(time.Hour)
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustVerify(t, env, false) {
		t.Log(r.Line())
		if !r.OK() || r.Records == 0 {
			t.Errorf("%+v", r)
		}
	}
}
