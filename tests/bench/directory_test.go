package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// envFloat reads a fractional tuning knob from the environment.
func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkDirectorySync runs the initial sync of a large directory — every delta data type's full round and the
// role snapshots — through the host simulator, at the directory family's limit, and measures how much of the
// budget it used, the share of 429s and the handler's peak resident set.
//
// A large tenant's resource-unit bucket (8,000 per 10 s) is bigger than this initial sync and faster than the
// simulator serves, so both the bucket and the collector's budget are scaled down alike (ResourceUnitScale,
// GRAPH_BUDGETS): the budget, not the machine, is the bottleneck. The budget available over the sync is the
// bucket's capacity (its first burst) plus its refill over the time the sync took.
func BenchmarkDirectorySync(b *testing.B) {
	users := envInt("BENCH_DIR_USERS", 100_000)
	groups := envInt("BENCH_DIR_GROUPS", 20_000)
	scale := envFloat("BENCH_DIR_RU_SCALE", 0.02)
	base := catalog.Budgets[catalog.Directory]
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		noLogs := map[string]entrasim.StreamOptions{}
		for _, name := range entrasim.StreamNames() {
			noLogs[name] = entrasim.StreamOptions{Rate: -1}
		}
		env, err := scenario.Start(ctx, scenario.Options{
			AppRoot: app(b),
			Tenant: entrasim.Options{Seed: 71, Users: users, Groups: groups, ThrottleScale: 1, ResourceUnitScale: scale,
				History: time.Hour, Streams: noLogs},
			Settings: map[string]string{
				"GRAPH_BUDGETS": fmt.Sprintf("reports=5/10s,directory=%d/%s", int(float64(base.Requests)*scale), base.Window),
				// The directory only: users' sign-in activity (reports family, 10 requests a minute) is left out.
				"ENTRA_LICENSES": "entraP1P2=no",
			},
		})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		err = env.CollectDirectory(ctx)
		cancel()
		rss, rerr := peakRSS(env.Host.PID())
		var first, last time.Time
		var accepted, throttled int64
		for _, r := range env.Tenant.Requests() {
			if r.Family != string(catalog.Directory) {
				continue
			}
			if first.IsZero() {
				first = r.Arrival
			}
			last = r.Arrival
			if r.Throttled {
				throttled++
			} else {
				accepted++
			}
		}
		var units float64
		for _, ep := range env.Tenant.Counters().Families[string(catalog.Directory)] {
			units += ep.ResourceUnits
		}
		capacity, window := env.Tenant.DirectoryBudget()
		reports, verr := env.VerifyDirectory(context.Background())
		env.Close()
		if err != nil {
			b.Fatal(err)
		}
		if rerr != nil {
			b.Fatal(rerr)
		}
		if verr != nil {
			b.Fatal(verr)
		}
		objects := 0
		for _, r := range reports {
			if !r.OK() {
				b.Fatalf("the sync is not exact: %s %v", r.Line(), r.Examples)
			}
			objects += r.Objects
		}
		elapsed := last.Sub(first)
		available := capacity + capacity/window.Seconds()*elapsed.Seconds()
		b.ReportMetric(100*units/available, "%budget")
		b.ReportMetric(100*float64(throttled)/float64(max(accepted+throttled, 1)), "%429")
		b.ReportMetric(float64(rss)/(1<<20), "MiB-peak-RSS")
		b.ReportMetric(float64(objects), "objects")
		b.ReportMetric(elapsed.Seconds(), "s-sync")
	}
}
