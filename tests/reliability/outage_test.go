package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// outage is one way storage goes away in the middle of a collection.
type outage struct {
	name string
	// at is the part commit (counted from the collection's start) at which the outage begins.
	at int
	// begin starts the outage; end (after hold) brings storage back.
	begin, end func(ctx context.Context, env *scenario.Env, p *storageProxy) error
	hold       time.Duration
}

var outages = []outage{
	{
		// What the handler sees when the storage account drops every connection for a while.
		name: "connections dropped", at: 3, hold: 4 * time.Second,
		begin: func(_ context.Context, _ *scenario.Env, p *storageProxy) error { p.setBlocked(true); return nil },
		end:   func(_ context.Context, _ *scenario.Env, p *storageProxy) error { p.setBlocked(false); return nil },
	},
	{
		// Azurite stopped (SIGTERM: it saves what it acknowledged) and started again on the same ports. The host's
		// queues live there too.
		name: "Azurite stopped and restarted", at: 5, hold: 2 * time.Second,
		begin: func(_ context.Context, env *scenario.Env, _ *storageProxy) error { return env.Azurite.Halt() },
		end: func(ctx context.Context, env *scenario.Env, _ *storageProxy) error {
			return env.Azurite.Restart(ctx)
		},
	},
	{
		// A hung service (SIGSTOP): connections are accepted and never answered until it continues.
		name: "Azurite hung", at: 2, hold: 5 * time.Second,
		begin: func(_ context.Context, env *scenario.Env, _ *storageProxy) error { return env.Azurite.Pause() },
		end:   func(_ context.Context, env *scenario.Env, _ *storageProxy) error { return env.Azurite.Resume() },
	},
}

// TestStorageOutage takes storage away in the middle of collections — every connection dropped, Azurite stopped
// and restarted, Azurite hung — and brings it back. After each outage no cursor may claim data the archive lacks,
// and the failure is on record (a run's error or the failed invocation's reply names the storage operation). Then
// it collects until settled: the archive equals the truth, nothing twice.
func TestStorageOutage(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	var proxy *storageProxy
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{
			Seed: int64(rng.Uint32()), Users: 20, Apps: 3, ManagedIdentities: 2, History: 2 * 24 * time.Hour,
			Streams: map[string]entrasim.StreamOptions{
				entrasim.StreamNonInteractive: {Rate: 120},
				entrasim.StreamInteractive:    {Rate: 6},
				"signIns.servicePrincipal":    {Rate: 4},
				"signIns.managedIdentity":     {Rate: 3},
				"directoryAudits":             {Rate: 5},
				"provisioning":                {Rate: 3},
			},
			// Slow pages keep the collection going while the outage starts.
			PageLatency: entrasim.Dist{Fixed: 30 * time.Millisecond, Jitter: 30 * time.Millisecond},
		},
		Settings: map[string]string{"COLLECT_CONCURRENCY": "2"},
		// Azurite's restart takes the handler's storage away; the host keeps restarting a handler that fails.
		RestartLimit:   20,
		HandlerStorage: behindProxy(&proxy),
	})
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(8*time.Minute, 30*time.Minute))
	defer cancel()
	idx, err := newArchiveIndex(env)
	if err != nil {
		t.Fatal(err)
	}
	rounds := shortOrLong(1, 3)
	for round := 0; round < rounds; round++ {
		for _, o := range outages {
			runOutage(ctx, t, env, proxy, idx, o)
			env.Clock.Advance(time.Duration(1+rng.IntN(4)) * time.Hour)
		}
	}
	if err := settle(ctx, env, 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	logCursors(t, env)
	verifySettled(t, env)
}

// runOutage fires a collection, starts the outage at the o.at-th part commit, holds it, ends it, waits until the
// collection is over (or failed), and checks cursors and the record of the failure.
func runOutage(ctx context.Context, t *testing.T, env *scenario.Env, proxy *storageProxy, idx *archiveIndex, o outage) {
	t.Helper()
	began := make(chan struct{})
	ended := make(chan error, 1)
	octx, stop := context.WithCancel(ctx)
	defer stop()
	proxy.arm(opPartCommit, o.at, false, func() {
		close(began)
		// Not in the proxy's goroutine: the outage must not hold this request hostage.
		go func() {
			err := o.begin(octx, env, proxy)
			if err == nil {
				select {
				case <-time.After(o.hold):
				case <-octx.Done():
				}
				// Bring storage back even when the test is ending.
				ectx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err = o.end(ectx, env, proxy)
				cancel()
			}
			ended <- err
		}()
	})
	defer proxy.disarm()

	started := time.Now()
	if err := env.Host.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if inv, err := env.Host.Timer(ctx, "CollectLogs", nil); err != nil {
		t.Fatalf("%s: %v", o.name, err)
	} else if inv.Failure != "" {
		t.Fatalf("%s: CollectLogs failed: %s", o.name, inv.Failure)
	}
	select {
	case <-began:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: the collection made fewer than %d part commits", o.name, o.at)
	}
	if err := <-ended; err != nil {
		t.Fatalf("%s: %v", o.name, err)
	}
	t.Logf("%s: began after %s, storage back after %s", o.name, time.Since(started).Round(time.Millisecond), o.hold)
	// Whatever the outage broke, collections go on: the queue redelivers a failed item after its visibility
	// timeout, and the next timer tick plans again. The collection that met the outage may still be running (its
	// retries, its later windows): let it end, then collect until one finishes cleanly.
	if _, err := env.Host.WaitFor(ctx, func(_ []*hostsim.Invocation, inflight int) bool { return inflight == 0 }); err != nil {
		t.Fatalf("%s: waiting for the collection to end: %v", o.name, err)
	}
	if err := collect(ctx, env); err != nil {
		t.Fatalf("%s: collecting after the outage: %v", o.name, err)
	}
	problems, checked, err := checkDurable(ctx, env, idx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: durable check of %d events: %d problems", o.name, checked, len(problems))
	for _, p := range problems {
		t.Errorf("%s: %s", o.name, p)
	}
	checkOutageRecorded(ctx, t, env, o, started)
}

// checkOutageRecorded looks for the outage in what the collection left behind: a run error naming storage, or a
// CollectWork invocation that failed with a reply naming it.
func checkOutageRecorded(ctx context.Context, t *testing.T, env *scenario.Env, o outage, since time.Time) {
	t.Helper()
	storageWords := []string{"blob", "table", "storage", "cursor", "lease", "archive", "part"}
	names := func(s string) bool {
		s = strings.ToLower(s)
		for _, w := range storageWords {
			if strings.Contains(s, w) {
				return true
			}
		}
		return false
	}
	runs, err := env.Runs(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Started.Before(since) {
			continue
		}
		for _, e := range r.Errors {
			if names(e.Message) {
				t.Logf("%s: run %s recorded: %s %s: %s", o.name, r.Invocation, e.DataType, e.Kind, e.Message)
				return
			}
		}
	}
	// A run that storage failed cannot write its record: then the handler's log line for the failed invocation
	// (stdout, which the host logs) must say what failed.
	var failed []*hostsim.Invocation
	output := strings.Split(env.Host.HandlerOutput(), "\n")
	for _, inv := range env.Host.Invocations() {
		if inv.Function != "CollectWork" || inv.Started.Before(since) || inv.Succeeded() {
			continue
		}
		failed = append(failed, inv)
		for _, line := range output {
			if strings.Contains(line, inv.ID) && strings.Contains(line, `"invocation failed"`) && names(line) {
				t.Logf("%s: invocation %s failed: %s", o.name, inv.ID, line)
				return
			}
		}
	}
	// A short outage may be ridden out by the storage client's retries; then nothing failed, and nothing may be
	// claimed that is not there (checked by the caller).
	if len(failed) > 0 {
		t.Errorf("%s: %d CollectWork invocations failed, none with an error naming storage: %q", o.name, len(failed), failed[0].Failure)
	} else {
		t.Logf("%s: the storage client's retries rode the outage out; no run failed", o.name)
	}
}

// TestKeyVaultUnavailable starts with Key Vault answering 503: the integration's client secret cannot be read, so
// runs record a clear error for every data type and no cursor moves. A handler restarted while the vault is still
// down fails the same way. Once the vault is back, collection catches up: the archive equals the truth.
func TestKeyVaultUnavailable(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{Seed: int64(rng.Uint32()), Users: 15, Apps: 2, ManagedIdentities: 1, History: 2 * 24 * time.Hour},
		// Two windows at a time: both may be in flight when the first failure stops the run.
		Settings: map[string]string{"COLLECT_BACKFILL_DAYS": "1", "COLLECT_CONCURRENCY": "2"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	idx, err := newArchiveIndex(env)
	if err != nil {
		t.Fatal(err)
	}
	env.Vault.SetUnavailable(true)
	for attempt := 0; attempt < 2; attempt++ {
		if attempt == 1 {
			// A fresh process has no secret cached either.
			if err := env.Host.Restart(ctx); err != nil {
				t.Fatal(err)
			}
		}
		since := time.Now()
		if err := collect(ctx, env); err != nil {
			t.Fatal(err)
		}
		runs, err := env.Runs(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		// A work item is one throttling family's run. One failure is enough for it to know: the run stops instead
		// of failing each of its data types in turn, so each run records the outage once (twice with two windows
		// in flight), and every family that planned work records it.
		recorded, runsRecording := 0, 0
		for _, r := range runs {
			if r.Started.Before(since) {
				continue
			}
			n := 0
			for _, e := range r.Errors {
				if !strings.Contains(strings.ToLower(e.Message), "key vault") || e.Kind != "secret-unavailable" {
					t.Errorf("run error does not say the secret could not be read from Key Vault: %+v", e)
					continue
				}
				n++
				if recorded+n == 1 {
					t.Logf("run %s recorded: %s %s window %s: %s", r.Invocation, e.DataType, e.Kind, e.Bucket, e.Message)
				}
			}
			if n > 2 {
				t.Errorf("attempt %d: run %s recorded the Key Vault failure %d times, want 1 (2 with concurrent windows)", attempt+1, r.Invocation, n)
			}
			if n > 0 {
				runsRecording++
			}
			recorded += n
		}
		if runsRecording == 0 {
			t.Errorf("attempt %d: no run recorded the Key Vault failure", attempt+1)
		}
		t.Logf("attempt %d: %d runs recorded the Key Vault failure %d times", attempt+1, runsRecording, recorded)
		for _, dt := range []string{entrasim.StreamInteractive, "directoryAudits"} {
			c, err := env.Cursor(ctx, dt)
			if err != nil {
				t.Fatal(err)
			}
			if c.Records != 0 || c.High.After(c.Low) {
				t.Errorf("%s: cursor moved while Key Vault was down: %s", dt, scenario.Describe(c))
			}
		}
		if problems, _, err := checkDurable(ctx, env, idx); err != nil {
			t.Fatal(err)
		} else if len(problems) > 0 {
			t.Errorf("while Key Vault was down: %v", problems)
		}
		env.Clock.Advance(time.Hour)
	}
	env.Vault.SetUnavailable(false)
	if err := settle(ctx, env, 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	verifySettled(t, env)
}
