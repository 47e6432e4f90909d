package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// attempts is how often a run asks Graph before it believes a not-licensed answer (collect.Options.Attempts), and
// probeAttempts how often a connectivity test's probe does (connect.Options.Attempts).
const (
	attempts      = 3
	probeAttempts = 3
)

// TestLicenceShapes collects a tenant of each licence shape (free, P1, P2, P2 + Intune, P2 + Agent ID) with every
// licence answered "auto", the integration declared in app settings so the first CollectLogs timer tests it:
// exactly the data types the tenant can have are collected (state ok), the others are parked by the connectivity
// test — Status says collected false, why and connectivity not-licensed naming the licence they need. A parked data
// type costs the test's probe (at most its attempts) and, before the test has decided, the collector's attempts of
// one run; none in the next runs of the same day. The P1 tenant then buys P2: within a day the daily re-test finds
// its Identity Protection data types and they are collected without any action.
func TestLicenceShapes(t *testing.T) {
	t.Parallel()
	for _, shape := range []struct {
		name     string
		licences []entrasim.Licence
		gains    entrasim.Licence
	}{
		{"free", []entrasim.Licence{entrasim.LicenceFree}, ""},
		{"P1", []entrasim.Licence{entrasim.LicenceP1}, entrasim.LicenceP2},
		{"P2", []entrasim.Licence{entrasim.LicenceP2}, ""},
		{"P2+Intune", []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceIntune}, ""},
		{"P2+AgentID", []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceAgentID}, ""},
	} {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			// The tenant's history is 2 hours: a day of backfill covers it.
			env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 41, Users: 30, History: 2 * time.Hour,
				Licences: shape.licences}, Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1"}})
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			collect := func() {
				t.Helper()
				if err := env.Collect(ctx); err != nil {
					t.Fatal(err)
				}
				if err := env.CollectDirectory(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// The first CollectLogs timer tests the integration (one probe per data type) while the collector,
			// which collects an untested integration, may already ask a parked data type for one run's attempts.
			collect()
			checkShape(t, env, ctx, "first run")
			first := parkedRequests(env)
			for dt, n := range first {
				t.Logf("%s parked: %d probe requests, %d collector requests, %d throttled (probe indistinguishable: %v)", dt, n.probes, n.collector, n.throttled, n.mixed)
				if !n.mixed && n.probes == 0 {
					t.Errorf("%s: parked, but the connectivity test never probed it", dt)
				}
				if n.probes > probeAttempts {
					t.Errorf("%s: the connectivity test asked %d times, want one probe of at most %d attempts", dt, n.probes, probeAttempts)
				}
				bound := attempts*sharing(dt) + attempts
				if n.mixed {
					bound += probeAttempts
				}
				if n.collector > bound {
					t.Errorf("%s: the collector asked %d times while parked, want at most one run's attempts (%d)", dt, n.collector, bound)
				}
				// No hot loop through 429s either: each attempt is sent again at most a few times.
				if n.throttled > 3*(bound+probeAttempts) {
					t.Errorf("%s: %d requests throttled while parked, more than three per attempt (%d attempts at most)", dt, n.throttled, bound+probeAttempts)
				}
			}
			// Later the same day: no test is due and the collector leaves the parked data types alone.
			env.Clock.Advance(2 * time.Hour)
			collect()
			checkShape(t, env, ctx, "same day")
			for dt, n := range parkedRequests(env) {
				if n != first[dt] {
					t.Errorf("%s: asked again the same day while parked: %+v, after the first run %+v", dt, n, first[dt])
				}
			}
			if shape.gains == "" {
				return
			}
			// A day after the first test the re-test is due: the CollectLogs that runs it may collect before the
			// test has decided, the next one collects what it found.
			env.Tenant.AddLicence(shape.gains)
			env.Clock.Advance(23 * time.Hour)
			collect()
			env.Clock.Advance(time.Hour)
			collect()
			if c, err := env.Cursor(ctx, "riskyUsers"); err != nil || c.State != "ok" {
				t.Fatalf("a day after the tenant bought %s: riskyUsers %+v (%v), want collected", shape.gains, c, err)
			}
			if c, err := env.Cursor(ctx, "riskDetections"); err != nil || c.State != "ok" {
				t.Errorf("riskDetections after the purchase: %+v (%v)", c, err)
			}
			for _, dt := range []string{"riskyUsers", "riskDetections"} {
				if d := statusOf(t, env, ctx)[dt]; !d.Collected || !strings.HasPrefix(d.Connectivity, "ok") {
					t.Errorf("Status after the purchase: %s %+v, want collected and connectivity ok", dt, d)
				}
			}
		})
	}
}

// statusEntry is what TestLicenceShapes reads of a data type in Status.
type statusEntry struct {
	Name         string `json:"dataType"`
	State        string `json:"state"`
	Detail       string `json:"detail"`
	Connectivity string `json:"connectivity"`
	Collected    bool   `json:"collected"`
	Why          string `json:"why"`
}

// statusOf reads the integration's data types from the Status API (JSON).
func statusOf(t *testing.T, env *scenario.Env, ctx context.Context) map[string]statusEntry {
	t.Helper()
	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {env.FunctionKey}, "Accept": {"application/json"}}})
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Integrations []struct {
			ID        string        `json:"id"`
			DataTypes []statusEntry `json:"dataTypes"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(res.Body, &report); err != nil || len(report.Integrations) == 0 {
		t.Fatalf("status: %v %s", err, res.Body)
	}
	out := map[string]statusEntry{}
	for _, d := range report.Integrations[0].DataTypes {
		out[d.Name] = d
	}
	return out
}

// checkShape compares every Graph data type's cursor and Status entry with the tenant's licences.
func checkShape(t *testing.T, env *scenario.Env, ctx context.Context, stage string) {
	t.Helper()
	status := statusOf(t, env, ctx)
	collected, parked := 0, 0
	for _, dt := range catalog.DataTypes {
		if dt.Mode() == catalog.Stream || dt.OptIn {
			// Opt-in data types are off in managed mode whatever the licences (TestPerObjectDataOptIn).
			continue
		}
		c, err := env.Cursor(ctx, dt.Name)
		if err != nil {
			t.Fatal(err)
		}
		s := status[dt.Name]
		if env.Licensed(dt) {
			collected++
			if c.State != "ok" || !s.Collected || s.Connectivity != "ok" {
				t.Errorf("%s: %s is %q %q, Status %+v, want collected", stage, dt.Name, c.State, c.Detail, s)
			}
			continue
		}
		// Parked by the connectivity test (internal/integrations Collects): the cursor may hold the collector's
		// own not-licensed from before the test decided, or nothing; Status tells why.
		parked++
		if s.Collected || !strings.HasPrefix(s.Why, "not-licensed") || !needsNamed(dt, s.Why) {
			t.Errorf("%s: Status says %s collected=%v why %q, want parked not-licensed naming %s", stage, dt.Name, s.Collected, s.Why, dt.LicenceText())
		}
		if !strings.HasPrefix(s.Connectivity, "not-licensed") || !needsNamed(dt, s.Connectivity) {
			t.Errorf("%s: Status gives %s connectivity %q, want not-licensed naming %s", stage, dt.Name, s.Connectivity, dt.LicenceText())
		}
		if c.State != "" && c.State != "not started" && !strings.HasPrefix(c.State, "not-licensed") {
			t.Errorf("%s: parked %s has cursor state %q %q", stage, dt.Name, c.State, c.Detail)
		}
	}
	t.Logf("%s: %d data types collected, %d parked", stage, collected, parked)
	// What is collected matches the tenant: the snapshots it has a truth for, compared property by property.
	snaps, err := env.VerifySnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range snaps {
		t.Log(stage, r.Line())
		if !r.OK() || r.Records == 0 {
			t.Errorf("%s: %+v", stage, r)
		}
	}
}

// needsNamed reports whether a state's text names one of the licences the data type needs.
func needsNamed(dt catalog.DataType, text string) bool {
	for _, l := range dt.Licences {
		if strings.Contains(text, string(l)) {
			return true
		}
	}
	return false
}

// requestCount splits the Graph requests to a parked data type's path into the connectivity test's probes (the
// data type's ProbeQuery, `$top=1`) and the collector's (every other query).
type requestCount struct {
	// probes and collector count the answered requests (attempts); throttled counts the 429s among the requests
	// to the path, which the client sends again on top of its attempts (the probes and the collector share the
	// family's budget, so a probe made while the collector runs can draw one).
	probes, collector, throttled int
	// mixed: the probe's query is the collector's, so collector counts both.
	mixed bool
}

// parkedRequests counts the Graph requests to each unlicensed data type's path that no licensed data type shares.
// A data type whose probe is the collector's own first page (a snapshot that takes no $top or $select) cannot be
// told apart: its requests all count as the collector's, whose bound (one run's attempts for each data type
// reading the path, plus the probe's) covers both.
func parkedRequests(env *scenario.Env) map[string]requestCount {
	probes := map[string]string{} // a probe's query → its data type
	for _, dt := range catalog.DataTypes {
		if q, err := url.PathUnescape(dt.ProbeQuery()); err == nil && strings.Contains(q, "?") {
			probes[q] = dt.Name
		}
	}
	out := map[string]requestCount{}
	reqs := env.Tenant.Requests()
	for _, dt := range catalog.DataTypes {
		if dt.Path == "" || env.Licensed(dt) || sharedWithLicensed(env, dt) {
			continue
		}
		n := requestCount{mixed: !strings.Contains(dt.ProbeQuery(), "?")}
		for _, r := range reqs {
			if !strings.HasSuffix(r.Path, "/"+dt.Path) {
				continue
			}
			if r.Status == http.StatusTooManyRequests {
				n.throttled++
				continue
			}
			u, _ := url.PathUnescape(r.Path + "?" + r.Query)
			switch of, probe := probeOf(probes, u); {
			case !probe:
				n.collector++
			case of == dt.Name:
				n.probes++
			}
		}
		out[dt.Name] = n
	}
	return out
}

// probeOf names the data type whose probe the request (path and query, unescaped) is.
func probeOf(probes map[string]string, u string) (string, bool) {
	for q, name := range probes {
		if strings.HasSuffix(u, q) {
			return name, true
		}
	}
	return "", false
}

func sharedWithLicensed(env *scenario.Env, d catalog.DataType) bool {
	for _, o := range catalog.DataTypes {
		if o.Path == d.Path && env.Licensed(o) {
			return true
		}
	}
	return false
}

// sharing is how many data types read the data type's path (the four sign-in streams read one).
func sharing(name string) int {
	d, _ := catalog.Lookup(name)
	n := 0
	for _, o := range catalog.DataTypes {
		if o.Path == d.Path {
			n++
		}
	}
	return n
}
