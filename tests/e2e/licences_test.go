package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// attempts is how often a run asks Graph before it believes a not-licensed answer (collect.Options.Attempts).
const attempts = 3

// TestLicenceShapes collects a tenant of each licence shape (free, P1, P2, P2 + Intune, P2 + Agent ID) with every
// licence answered "auto": exactly the data types the tenant can have are collected (state ok), the others are
// parked not-licensed with the licence they need, in the cursor and in Status; a parked data type costs at most the
// run's few attempts, none in the next runs of the same day, and is asked again a day later. The P1 tenant then
// buys P2: within a day its Identity Protection data types are collected without any action.
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
			env := startScenario(t, scenario.Options{Tenant: entrasim.Options{Seed: 41, Users: 30, History: 2 * time.Hour,
				Licences: shape.licences}})
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
			collect()
			checkShape(t, env, ctx, "first run")
			first := parkedRequests(env)
			for dt, n := range first {
				if n > attempts*sharing(dt)+attempts {
					t.Errorf("%s: %d requests while parked, want at most the run's attempts", dt, n)
				}
			}
			env.Clock.Advance(2 * time.Hour)
			collect()
			for dt, n := range parkedRequests(env) {
				if n != first[dt] {
					t.Errorf("%s: asked again %d times the same day while parked", dt, n-first[dt])
				}
			}
			if shape.gains == "" {
				return
			}
			env.Tenant.AddLicence(shape.gains)
			env.Clock.Advance(23 * time.Hour)
			collect()
			if c, err := env.Cursor(ctx, "riskyUsers"); err != nil || c.State != "ok" {
				t.Fatalf("a day after the tenant bought %s: riskyUsers %+v (%v), want collected", shape.gains, c, err)
			}
			if c, err := env.Cursor(ctx, "riskDetections"); err != nil || c.State != "ok" {
				t.Errorf("riskDetections after the purchase: %+v (%v)", c, err)
			}
		})
	}
}

// checkShape compares every Graph data type's cursor and Status entry with the tenant's licences.
func checkShape(t *testing.T, env *scenario.Env, ctx context.Context, stage string) {
	t.Helper()
	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {env.FunctionKey}, "Accept": {"application/json"}}})
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Integrations []struct {
			ID        string `json:"id"`
			DataTypes []struct {
				Name   string `json:"dataType"`
				State  string `json:"state"`
				Detail string `json:"detail"`
			} `json:"dataTypes"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(res.Body, &report); err != nil || len(report.Integrations) == 0 {
		t.Fatalf("status: %v %s", err, res.Body)
	}
	status := map[string]string{}
	for _, d := range report.Integrations[0].DataTypes {
		status[d.Name] = d.State + " " + d.Detail
	}
	collected, parked := 0, 0
	for _, dt := range catalog.DataTypes {
		if dt.Mode() == catalog.Stream {
			continue
		}
		c, err := env.Cursor(ctx, dt.Name)
		if err != nil {
			t.Fatal(err)
		}
		if env.Licensed(dt) {
			collected++
			if c.State != "ok" {
				t.Errorf("%s: %s is %q %q, want collected", stage, dt.Name, c.State, c.Detail)
			}
			continue
		}
		parked++
		if !strings.HasPrefix(c.State, "not-licensed") || !needsNamed(dt, c.State+" "+c.Detail) {
			t.Errorf("%s: %s is %q %q, want not-licensed naming %s", stage, dt.Name, c.State, c.Detail, dt.LicenceText())
		}
		if s := status[dt.Name]; !strings.HasPrefix(s, "not-licensed") || !needsNamed(dt, s) {
			t.Errorf("%s: Status says %s is %q, want not-licensed naming %s", stage, dt.Name, s, dt.LicenceText())
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

// parkedRequests counts the Graph requests to each unlicensed data type's path that no licensed data type shares.
func parkedRequests(env *scenario.Env) map[string]int {
	out := map[string]int{}
	reqs := env.Tenant.Requests()
	for _, dt := range catalog.DataTypes {
		if dt.Path == "" || env.Licensed(dt) || sharedWithLicensed(env, dt) {
			continue
		}
		n := 0
		for _, r := range reqs {
			p, _, _ := strings.Cut(r.Path, "?")
			if strings.HasSuffix(p, "/"+dt.Path) {
				n++
			}
		}
		out[dt.Name] = n
	}
	return out
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
