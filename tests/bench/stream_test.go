package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/eventgen"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// cpuSeconds is the user and system CPU time a process has used (/proc/<pid>/stat utime and stime, in clock
// ticks of 1/100 s on Linux).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(fields[12], &stime); err != nil {
		return 0, err
	}
	return float64(utime+stime) / 100, nil
}

// streamScenario starts a deployment with StreamEvents on and an empty event hub of four partitions.
func streamScenario(b *testing.B, ctx context.Context) (*scenario.Env, *hostsim.Hub) {
	b.Helper()
	env, err := scenario.Start(ctx, scenario.Options{
		AppRoot: app(b),
		// StreamEvents needs no Graph: a small tenant that starts fast.
		Tenant:   entrasim.Options{Seed: 5, Users: 5, History: time.Hour},
		Settings: map[string]string{"AzureWebJobs.StreamEvents.Disabled": "false"},
	})
	if err != nil {
		b.Fatal(err)
	}
	hub := hostsim.NewHub("bench.servicebus.windows.net", env.Settings["STREAM_EVENTHUB_NAME"], 4, &hostsim.HubOptions{Now: env.Clock.Now})
	return env, hub
}

// BenchmarkStreamThroughput sends BENCH_STREAM_RECORDS (50,000) diagnostic-log records of every category
// (tests/eventgen: sign-ins dominate; events of up to 100 records, about 250 KB, as Entra sends them) to a
// four-partition event hub and lets StreamEvents archive them through the host simulator into Azurite. It reports
// records archived per second of the handler's CPU time (records per second per core), per second of wall time
// (Azurite shares the machine), event bytes per CPU second, and the handler's peak resident set.
func BenchmarkStreamThroughput(b *testing.B) {
	records := envInt("BENCH_STREAM_RECORDS", 50_000)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		env, hub := streamScenario(b, ctx)
		st := eventgen.Generate(eventgen.Options{Seed: 17, TenantID: env.Tenant.TenantID(), Integration: scenario.Integration,
			Records: records, RecordsPerEvent: 100, Partitions: 4, NoCorrupt: true, Hours: 24})
		var bytes int64
		for _, e := range st.Events {
			bytes += int64(len(e.Body))
		}
		st.NewSender(hub).Send(len(st.Events))
		if err := env.Host.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		pid := env.Host.PID()
		cpu0, err := cpuSeconds(pid)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		run, err := env.Host.RunEventHub(ctx, "StreamEvents", hub, &hostsim.EventHubRunOptions{UntilCaughtUp: true})
		elapsed := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		cpu1, err := cpuSeconds(pid)
		if err != nil {
			b.Fatal(err)
		}
		rss, err := peakRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		for _, bt := range run.Batches() {
			if bt.Outcome != hostsim.BatchCheckpointed || bt.Attempts != 1 {
				b.Fatalf("batch %+v did not go through at once", bt)
			}
		}
		if len(env.Host.Exits()) > 0 || env.Host.PID() != pid {
			b.Fatal("the handler restarted during the benchmark")
		}
		cancel()
		env.Close()
		// Every record sent counts, those sent twice too: each was read, hashed and claimed.
		sent := 0
		for _, e := range st.Events {
			sent += strings.Count(e.Body, `"category"`) + strings.Count(e.Body, `"Category"`)
		}
		cpu := cpu1 - cpu0
		b.ReportMetric(float64(sent), "records")
		b.ReportMetric(float64(sent)/cpu, "records/cpu-s")
		b.ReportMetric(float64(sent)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(bytes)/(1<<20)/cpu, "MiB/cpu-s")
		b.ReportMetric(float64(rss)/(1<<20), "MiB-peak-RSS")
		b.ReportMetric(float64(len(run.Batches())), "batches")
	}
}

// BenchmarkStreamMaxBatchRSS hands a fresh handler one batch of the largest size host.json allows
// (maxEventBatchSize events) of events of BENCH_STREAM_EVENT_KB (1024: the largest event Event Hubs Standard
// takes; Entra's messages are at most 256 KB), full of records, and reports its peak resident set.
func BenchmarkStreamMaxBatchRSS(b *testing.B) {
	maxEvent := envInt("BENCH_STREAM_EVENT_KB", 1024) << 10
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		env, hub := streamScenario(b, ctx)
		batch := env.Host.App().Host.EventHubs.MaxEventBatchSize
		st := eventgen.Generate(eventgen.Options{Seed: 23, TenantID: env.Tenant.TenantID(), Integration: scenario.Integration,
			Records: batch * 600, RecordsPerEvent: 1, Partitions: 1, NoCorrupt: true, NoResend: true})
		// Pack whole records into events of at most maxEvent bytes.
		var bodies []string
		var cur []string
		size := 0
		flush := func() {
			if len(cur) > 0 {
				bodies = append(bodies, `{"records":[`+strings.Join(cur, ",")+`]}`)
			}
			cur, size = nil, 0
		}
		for _, r := range st.Records {
			if size+len(r.Raw)+32 > maxEvent {
				flush()
			}
			cur = append(cur, r.Raw)
			size += len(r.Raw) + 1
		}
		flush()
		if len(bodies) < batch {
			b.Fatalf("only %d events of %d KB for a batch of %d", len(bodies), maxEvent>>10, batch)
		}
		var total, recs int
		for _, body := range bodies[:batch] {
			hub.Send(0, body)
			total += len(body)
			recs += strings.Count(body, `"category"`) + strings.Count(body, `"Category"`)
		}
		if err := env.Host.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		pid := env.Host.PID()
		run, err := env.Host.RunEventHub(ctx, "StreamEvents", hub, &hostsim.EventHubRunOptions{UntilCaughtUp: true})
		if err != nil {
			b.Fatal(err)
		}
		rss, err := peakRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		cancel()
		env.Close()
		if bt := run.Batches(); len(bt) != 1 || bt[0].Outcome != hostsim.BatchCheckpointed {
			b.Fatalf("batches %+v, want one that succeeded", bt)
		}
		b.ReportMetric(float64(rss)/(1<<20), "MiB-peak-RSS")
		b.ReportMetric(float64(total)/(1<<20), "MiB-batch")
		b.ReportMetric(float64(batch), "events")
		b.ReportMetric(float64(recs), "records")
	}
}
