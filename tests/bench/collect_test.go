package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

var (
	buildOnce sync.Once
	appRoot   string
	buildErr  error
)

// app builds the handler once per benchmark binary (in the test binary's build configuration).
func app(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		root, err := azurite.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "edi-bench-")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		appRoot, buildErr = hostsim.BuildApp(ctx, root, filepath.Join(dir, "app"))
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return appRoot
}

// envInt reads a tuning knob from the environment (scripts/bench.sh --quick sets smaller ones).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// BenchmarkCollectAtBudget backfills a tenant whose sign-in streams hold far more than Graph's reports budget lets
// through quickly, with page latency, and measures how well the worker spends the budget: achieved requests per
// second over the budget's rate, the share of 429s, records per second, and the backfill's time over the
// throttle-limited optimum (the accepted requests at exactly the budget's rate).
func BenchmarkCollectAtBudget(b *testing.B) { collectAtBudget(b, 0) }

// BenchmarkCollectAtSharedBudget is BenchmarkCollectAtBudget where the simulated tenant allows 20 % less than the
// collector believes: another client of the same app registration spends a fifth of the reports budget
// (entrasim.Options.SharedBudget). It measures the share of the budget left to the collector that it used, and its
// share of 429s.
func BenchmarkCollectAtSharedBudget(b *testing.B) { collectAtBudget(b, 0.2) }

func collectAtBudget(b *testing.B, shared float64) {
	scale := 0.1 // 5 requests / 1 s
	days := envInt("BENCH_BUDGET_DAYS", 2)
	rate := float64(envInt("BENCH_BUDGET_RATE", 6000)) // events per hour per sign-in stream
	streams := map[string]entrasim.StreamOptions{}
	for _, s := range signInStreams {
		streams[s] = entrasim.StreamOptions{Rate: rate, LateShare: -1}
	}
	streams["directoryAudits"] = entrasim.StreamOptions{Rate: rate / 4, LateShare: -1}
	streams["provisioning"] = entrasim.StreamOptions{Rate: rate / 4, LateShare: -1}
	var sharedBudget map[string]float64
	if shared > 0 {
		sharedBudget = map[string]float64{string(catalog.Reports): shared}
	}
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		env, err := scenario.Start(ctx, scenario.Options{
			AppRoot: app(b),
			Tenant: entrasim.Options{Seed: 51, Users: 500, History: time.Duration(days) * 24 * time.Hour, ThrottleScale: scale,
				Streams: streams, SharedBudget: sharedBudget,
				PageLatency: entrasim.Dist{Median: 80 * time.Millisecond, Sigma: 0.5, Max: 600 * time.Millisecond}},
			Settings: map[string]string{"COLLECT_BACKFILL_DAYS": strconv.Itoa(days)},
		})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		start, simStart := time.Now(), env.Clock.Now()
		err = env.Collect(ctx)
		elapsed := time.Since(start)
		cancel()
		if err != nil {
			env.Close()
			b.Fatal(err)
		}
		// The collector's requests of the reports family, and those of the other client within their span.
		var first, last time.Time
		var accepted, throttled int64
		log := env.Tenant.Requests()
		for _, r := range log {
			if r.Family != string(catalog.Reports) || r.Shared {
				continue
			}
			if first.IsZero() || r.Arrival.Before(first) {
				first = r.Arrival
			}
			if r.Arrival.After(last) {
				last = r.Arrival
			}
			if r.Throttled {
				throttled++
			} else {
				accepted++
			}
		}
		var others int64
		for _, r := range log {
			if r.Shared && !r.Throttled && r.Family == string(catalog.Reports) && !r.Arrival.Before(first) && !r.Arrival.After(last) {
				others++
			}
		}
		budget := catalog.Budgets[catalog.Reports]
		perSecond := budget.Rate() / scale
		span := last.Sub(first).Seconds()
		// n requests at exactly the budget's rate need (n - Requests) / rate seconds between the first and the last:
		// the first Requests go at once. With another client on the budget, the collector's optimum is the span its
		// requests and the other client's would take together at the budget's rate.
		optimum := float64(accepted+others-int64(budget.Requests)) / perSecond
		var records, archived int64
		for _, n := range env.Tenant.Counters().Streams {
			records += n
		}
		// The tenant's log streams, as records counts what they served (not Identity Protection's detections).
		for _, name := range entrasim.StreamNames() {
			if c, err := env.Cursor(context.Background(), name); err == nil {
				archived += c.Records
			}
		}
		// The clock ran on during the collection: events that became visible meanwhile may wait for a re-sweep.
		reports, verr := env.VerifyAsOf(context.Background(), false, simStart)
		env.Close()
		if verr != nil {
			b.Fatal(verr)
		}
		for _, r := range reports {
			if !r.OK() {
				b.Fatalf("archive differs from the truth: %+v", r)
			}
		}
		if shared > 0 {
			// The budget left to the collector over its span: what the budget allowed after the first burst, less
			// what the other client used.
			available := span*perSecond - float64(others)
			b.ReportMetric(float64(accepted-int64(budget.Requests))/available*100, "%available")
			b.ReportMetric(float64(others), "other-requests")
		} else {
			b.ReportMetric(optimum/span*100, "%budget")
		}
		b.ReportMetric(float64(throttled)/float64(accepted+throttled)*100, "%429")
		b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
		b.ReportMetric(span/optimum, "time/optimum")
		b.ReportMetric(float64(accepted), "requests")
		// Records Graph served per record archived: reads wasted on windows given up as too large, and re-reads.
		b.ReportMetric(float64(records)/float64(max(archived, 1)), "served/archived")
	}
}

// BenchmarkPeakRSS archives a tenant of BENCH_RSS_SIGNINS sign-ins (100,000 by default) spread over
// BENCH_RSS_DAYS days (30 by default) of the four sign-in streams through the real handler, and reports the handler
// process's peak resident set, and the sign-in records per window the worker read (memory follows the window, and
// the window the density: about 20,000 records once a stream holds that many in a week).
func BenchmarkPeakRSS(b *testing.B) {
	total := envInt("BENCH_RSS_SIGNINS", 100_000)
	days := envInt("BENCH_RSS_DAYS", 30)
	for b.Loop() {
		// Throttling scaled so that the handler and storage are the limit.
		perHour := float64(total) / float64(days*24) / 4
		streams := map[string]entrasim.StreamOptions{"directoryAudits": {Rate: -1}, "provisioning": {Rate: -1}}
		for _, s := range signInStreams {
			streams[s] = entrasim.StreamOptions{Rate: perHour, LateShare: -1}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		env, err := scenario.Start(ctx, scenario.Options{
			AppRoot: app(b),
			Tenant: entrasim.Options{Seed: 61, Users: 2000, ThrottleScale: 0.001, Streams: streams, RequestLogLimit: -1,
				History: time.Duration(days) * 24 * time.Hour},
			// The function timeout bounds one run; continuations carry a long backfill on.
			Settings: map[string]string{"COLLECT_BACKFILL_DAYS": strconv.Itoa(days)},
		})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		start := time.Now()
		err = env.Collect(ctx)
		elapsed := time.Since(start)
		cancel()
		pid := env.Host.PID()
		rss, rerr := peakRSS(pid)
		var archived int64
		for _, name := range entrasim.StreamNames() {
			c, cerr := env.Cursor(context.Background(), name)
			if cerr == nil {
				archived += c.Records
			}
		}
		var signIns, windows int
		runs, runErr := env.Runs(context.Background(), 100_000)
		for _, r := range runs {
			for _, s := range signInStreams {
				signIns += r.DataTypes[s].Records
				windows += r.DataTypes[s].Windows
			}
		}
		env.Close()
		if err != nil {
			b.Fatal(err)
		}
		if rerr != nil {
			b.Fatal(rerr)
		}
		if runErr != nil {
			b.Fatal(runErr)
		}
		b.ReportMetric(float64(rss)/(1<<20), "MiB-peak-RSS")
		b.ReportMetric(float64(archived), "records")
		b.ReportMetric(float64(archived)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(signIns)/float64(max(windows, 1)), "records/window")
	}
}

// signInStreams are the four sign-in data types.
var signInStreams = []string{"signIns.interactive", "signIns.nonInteractive", "signIns.servicePrincipal", "signIns.managedIdentity"}
