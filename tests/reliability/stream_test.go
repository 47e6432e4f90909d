package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/eventgen"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// otherTenant is a tenant no integration of the scenario names.
const otherTenant = "0b0b0b0b-0000-4000-8000-00000000000b"

// streamEnv is a scenario whose StreamEvents reads a simulated event hub, with the handler's storage behind a
// fault-injecting proxy.
type streamEnv struct {
	env   *scenario.Env
	proxy *storageProxy
	hub   *hostsim.Hub
	group string
	run   *hostsim.EventHubRun

	// restart serializes stopping and starting host instances: one runs at a time.
	restart sync.Mutex
	// rng is the test goroutine's; checkpointRng the host's partition readers', under mu.
	rng           *rand.Rand
	mu            sync.Mutex
	checkpointRng *rand.Rand
	cancel        context.CancelFunc
	done          chan struct{}
	// checkpointFailures is the share of checkpoint writes that fail at random; failEvery fails every n-th one on
	// top (0: none), so that some fail in any run.
	checkpointFailures float64
	failEvery          int
	checkpoints        int
}

func startStream(t *testing.T, app string, rng *rand.Rand) *streamEnv {
	t.Helper()
	var proxy *storageProxy
	env := startEnv(t, scenario.Options{
		AppRoot: app,
		// StreamEvents needs no Graph; a small tenant keeps the scenario's start quick.
		Tenant:   entrasim.Options{Seed: int64(rng.Uint32()), Users: 5, History: time.Hour},
		Settings: map[string]string{"AzureWebJobs.StreamEvents.Disabled": "false"},
		// Every kill is a handler failure; the host must keep restarting it.
		RestartLimit:   1000,
		HandlerStorage: behindProxy(&proxy),
	})
	t.Cleanup(proxy.Close)
	s := &streamEnv{env: env, proxy: proxy, group: env.Settings["STREAM_EVENTHUB_CONSUMER_GROUP"], run: &hostsim.EventHubRun{},
		rng: rng, checkpointRng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
	s.hub = hostsim.NewHub("edi-test.servicebus.windows.net", env.Settings["STREAM_EVENTHUB_NAME"], 4, &hostsim.HubOptions{Now: env.Clock.Now})
	return s
}

// startHost starts the Event Hubs trigger (a host instance) on the hub.
func (s *streamEnv) startHost(t *testing.T, ctx context.Context) {
	t.Helper()
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		_, err := s.env.Host.RunEventHub(hctx, "StreamEvents", s.hub, &hostsim.EventHubRunOptions{
			// The policy's 10 s … 15 min become 20 ms … 1.8 s.
			RetryDelayScale: 0.002,
			Run:             s.run,
			CheckpointFails: func(int, int64, int64) bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.checkpoints++
				return s.checkpointRng.Float64() < s.checkpointFailures || s.failEvery > 0 && s.checkpoints%s.failEvery == 0
			},
		})
		if err != nil {
			t.Errorf("RunEventHub: %v", err)
		}
	}()
}

// stopHost stops the host instance: batches in flight are not checkpointed.
func (s *streamEnv) stopHost() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// settle waits until every event is checkpointed.
func (s *streamEnv) settle(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := s.hub.WaitBacklog(ctx, s.group, 0); err != nil {
		t.Fatalf("%v (proxy: %s)", err, s.proxy)
	}
}

// verify compares the archive with the stream's truth.
func (s *streamEnv) verify(t *testing.T, ctx context.Context, st *eventgen.Stream, sender *eventgen.Sender) *eventgen.Report {
	t.Helper()
	blobs, err := s.env.Azurite.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eventgen.Verify(ctx, blobs, s.env.Settings["RAW_CONTAINER"], st, sender.Enqueued)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	return rep
}

// fault is one thing that goes wrong while batches flow.
type fault struct {
	name string
	// arm sets the fault up at a storage request to come. It returns the trigger and a channel closed once the
	// fault is over (the trigger's done, unless the fault goes on after the request).
	arm func(t *testing.T, ctx context.Context, s *streamEnv) (*trigger, <-chan struct{})
}

func killAt(kind op, after bool) fault {
	when := "before"
	if after {
		when = "after"
	}
	return fault{name: fmt.Sprintf("kill -9 %s a %s", when, kind), arm: func(t *testing.T, ctx context.Context, s *streamEnv) (*trigger, <-chan struct{}) {
		n := 1 + s.rng.IntN(6)
		tr := s.proxy.arm(kind, n, after, func() {
			if err := s.env.Host.Kill(); err != nil {
				t.Logf("kill: %v", err)
			}
		})
		return tr, tr.done
	}}
}

var streamFaults = []fault{
	killAt(opPartCommit, false),
	killAt(opPartCommit, true),
	// Claims are Table Storage inserts (entity group transactions) before the parts.
	killAt(opTableOther, false),
	killAt(opTableOther, true),
	killAt(opBlobRead, true),
	{name: "host instance stops with a batch in flight", arm: func(t *testing.T, ctx context.Context, s *streamEnv) (*trigger, <-chan struct{}) {
		restarted := make(chan struct{})
		tr := s.proxy.arm(opPartCommit, 1+s.rng.IntN(4), false, func() {
			// The host's invocation waits for this request; stopping it from here would wait for itself.
			go func() {
				defer close(restarted)
				s.restart.Lock()
				defer s.restart.Unlock()
				s.stopHost()
				s.startHost(t, ctx)
			}()
		})
		return tr, restarted
	}},
}

// TestStreamExactlyOnce feeds a stream of every diagnostic-log category and variation (tests/eventgen: records
// re-published with new content, events and records sent again, corrupt items, another tenant's records) through
// the host simulator's Event Hubs trigger into the real handler, while it kills the handler (kill -9) at random
// points — before and after part commits, claim writes and reads —, stops the host with batches in flight, fails
// checkpoint writes, and takes storage away (connections dropped, Azurite stopped and restarted, Azurite hung).
// With the function's retry policy nothing is lost: every distinct record is archived exactly once in its
// integration, data type and hour, the quarantine holds exactly the corrupt items, and no batch was checkpointed
// after a failure.
func TestStreamExactlyOnce(t *testing.T) {
	t.Parallel()
	rng, seed := testRand(t)
	s := startStream(t, "", rng)
	s.checkpointFailures, s.failEvery = 0.05, 7
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(8*time.Minute, 40*time.Minute))
	defer cancel()
	st := eventgen.Generate(eventgen.Options{Seed: seed, TenantID: s.env.Tenant.TenantID(), Integration: scenario.Integration,
		OtherTenant: otherTenant, Records: shortOrLong(1500, 20000), Partitions: 4})
	sender := st.NewSender(s.hub)
	t.Logf("%d events, %d distinct records (%d re-published), %d sent again, %d corrupt", len(st.Events), len(st.Records),
		st.Republished, st.Resent, len(st.Corrupt))

	var plan []fault
	for range shortOrLong(3, 12) {
		plan = append(plan, streamFaults...)
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	outagesLeft := shortOrLong(1, 3)
	waves := len(plan) + len(outages)*outagesLeft + 1
	perWave := max(len(st.Events)/waves, 1)

	s.startHost(t, ctx)
	for _, f := range plan {
		tr, over := f.arm(t, ctx, s)
		sender.Send(perWave)
		t.Logf("wave: %s", f.name)
		waitFault(t, ctx, s, tr, over)
	}
	for range outagesLeft {
		for _, o := range outages {
			tr := s.proxy.arm(opPartCommit, 1+rng.IntN(3), false, func() {
				if err := o.begin(ctx, s.env, s.proxy); err != nil {
					t.Errorf("%s: %v", o.name, err)
				}
			})
			sender.Send(perWave)
			t.Logf("wave: outage %s", o.name)
			if waitFault(t, ctx, s, tr, tr.done) {
				time.Sleep(o.hold) // the outage lasts this long
				if err := o.end(ctx, s.env, s.proxy); err != nil {
					t.Fatalf("%s: %v", o.name, err)
				}
			}
		}
	}
	for sender.Send(perWave) > 0 {
	}
	s.settle(t, ctx)
	s.stopHost()

	rep := s.verify(t, ctx, st, sender)
	reportProblems(t, rep)
	if lost := s.run.Lost(); len(lost) > 0 {
		t.Errorf("batches checkpointed after a failure despite the retry policy: %+v", lost)
	}
	// The faults must have happened: batches delivered again by the retry policy, after a stopped host and
	// after a failed checkpoint write.
	outcomes := map[string]int{}
	retried := 0
	for _, b := range s.run.Batches() {
		outcomes[b.Outcome]++
		if b.Attempts > 1 {
			retried++
		}
	}
	t.Logf("batches: %v, %d retried; handler exits %d; proxy: %s", outcomes, retried, len(s.env.Host.Exits()), s.proxy)
	if retried == 0 || outcomes[hostsim.BatchAbandoned] == 0 || outcomes[hostsim.BatchCheckpointFailed] == 0 {
		t.Errorf("the faults did not bite: %d batches retried, outcomes %v", retried, outcomes)
	}
}

// waitFault waits until the fault is over (over closed), or until the hub is drained before the fault happened
// (the wave was too small to reach the armed point); it disarms a fault that did not happen and reports whether it
// happened.
func waitFault(t *testing.T, ctx context.Context, s *streamEnv, tr *trigger, over <-chan struct{}) bool {
	t.Helper()
	drained := make(chan struct{})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		if s.hub.WaitBacklog(wctx, s.group, 0) == nil {
			close(drained)
		}
	}()
	select {
	case <-over:
		return true
	case <-drained:
		if s.proxy.disarmPending(tr) {
			return false
		}
		// It acted meanwhile: let it finish.
		select {
		case <-over:
			return true
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	t.Fatalf("waiting for a fault: %v (proxy: %s; %d events past the checkpoints)", ctx.Err(), s.proxy, s.hub.Backlog(s.group))
	return false
}

func reportProblems(t *testing.T, rep *eventgen.Report) {
	t.Helper()
	if rep.OK() {
		return
	}
	for i, m := range rep.Missing {
		if i == 10 {
			break
		}
		t.Errorf("missing %s/%s (event %d): %.160s", m.Owner, m.DataType, m.Event, m.Raw)
	}
	for raw, n := range rep.Duplicates {
		t.Errorf("archived %d times: %.160s", n, raw)
	}
	for _, x := range append(append(append(rep.Misplaced, rep.Extra...), rep.QuarantineExtra...), rep.BadParts...) {
		t.Error(x)
	}
	for _, c := range rep.CorruptMissing {
		t.Errorf("corrupt item not in quarantine: %.100q", c.Raw)
	}
	t.Errorf("the archive differs from the truth: %s", rep)
}

// TestStreamWithoutRetryPolicyLosesBatches is the negative control: the same function without its retry policy,
// the handler killed in the middle of a batch. The host checkpoints the failed batch (reference/eventhub.md §3.5),
// and its records that were not yet committed are lost — exactly those, nothing else.
func TestStreamWithoutRetryPolicyLosesBatches(t *testing.T) {
	t.Parallel()
	rng, seed := testRand(t)
	app := appWithoutRetryPolicy(t)
	s := startStream(t, app, rng)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := eventgen.Generate(eventgen.Options{Seed: seed, TenantID: s.env.Tenant.TenantID(), Integration: scenario.Integration,
		Records: 600, Partitions: 4, NoCorrupt: true, NoResend: true})
	sender := st.NewSender(s.hub)
	third := len(st.Events)/3 + 1
	s.startHost(t, ctx)
	// A first third goes through whole; the handler dies in the middle of the second; the last goes through.
	sender.Send(third)
	s.settle(t, ctx)
	killed := s.proxy.arm(opPartCommit, 2, false, func() {
		if err := s.env.Host.Kill(); err != nil {
			t.Logf("kill: %v", err)
		}
	})
	sender.Send(third)
	if !waitFault(t, ctx, s, killed, killed.done) {
		t.Fatal("the handler was never killed")
	}
	s.settle(t, ctx)
	sender.Send(third)
	s.settle(t, ctx)
	s.stopHost()

	lost := s.run.Lost()
	if len(lost) == 0 {
		t.Fatalf("no batch lost without the retry policy: %+v", s.run.Batches())
	}
	inLost := map[int]bool{}
	for _, b := range lost {
		for _, i := range sender.Events(b.Partition, b.First, b.Last) {
			inLost[i] = true
		}
	}
	rep := s.verify(t, ctx, st, sender)
	if len(rep.Missing) == 0 {
		t.Fatalf("a batch was checkpointed after a failure, yet nothing is missing: %s", rep)
	}
	for _, m := range rep.Missing {
		if !inLost[m.Event] {
			t.Errorf("missing a record of event %d, which no lost batch carried", m.Event)
		}
	}
	if len(rep.Duplicates) > 0 || len(rep.Misplaced) > 0 || len(rep.Extra) > 0 {
		t.Errorf("besides the loss: %s", rep)
	}
	t.Logf("lost batches %+v: %d of %d records missing", lost, len(rep.Missing), len(st.Records))
}

// appWithoutRetryPolicy copies the built app with StreamEvents' retry policy removed (the binary is linked).
func appWithoutRetryPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(appRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src, dst := filepath.Join(appRoot, e.Name()), filepath.Join(dir, e.Name())
		if e.Name() != "StreamEvents" {
			if err := os.Symlink(src, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, "function.json"))
		if err != nil {
			t.Fatal(err)
		}
		var fn map[string]any
		if err := json.Unmarshal(b, &fn); err != nil {
			t.Fatal(err)
		}
		if _, ok := fn["retry"]; !ok {
			t.Fatal("StreamEvents/function.json has no retry policy to remove")
		}
		delete(fn, "retry")
		b, _ = json.MarshalIndent(fn, "", "  ")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "function.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
