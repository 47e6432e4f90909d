package hostsim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// hubCall is one batch as the probe received it.
type hubCall struct {
	function  string
	partition string
	group     string
	seqs      []int64
	bodies    []string
	retry     *retryContext
}

func decodeHubCall(t *testing.T, c probeCall) hubCall {
	t.Helper()
	data, meta := c.envelope(t)
	hc := hubCall{function: c.Function}
	if err := json.Unmarshal([]byte(unquote(t, data["events"])), &hc.bodies); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(unquote(t, meta["SequenceNumberArray"])), &hc.seqs); err != nil {
		t.Fatal(err)
	}
	var pc map[string]string
	if err := json.Unmarshal(meta["PartitionContext"], &pc); err != nil {
		t.Fatal(err)
	}
	hc.partition, hc.group = pc["PartitionId"], pc["ConsumerGroup"]
	if raw, ok := meta["RetryContext"]; ok {
		hc.retry = &retryContext{}
		if err := json.Unmarshal(raw, hc.retry); err != nil {
			t.Fatalf("RetryContext %s: %v", raw, err)
		}
	}
	return hc
}

func hubCalls(t *testing.T, c *control, function string) []hubCall {
	t.Helper()
	var out []hubCall
	for _, pc := range c.Calls() {
		if pc.Function == function {
			out = append(out, decodeHubCall(t, pc))
		}
	}
	return out
}

// fill sends n events to every partition of hub: "p<partition>-<i>".
func fill(hub *Hub, n int) {
	for p := range hub.Partitions() {
		for i := range n {
			hub.Send(p, fmt.Sprintf("p%d-%d", p, i))
		}
	}
}

func failReply() instruction {
	return instruction{Status: 500, ContentType: "application/json", Body: `{"Outputs":{},"Logs":["failed"],"ReturnValue":null}`}
}

// TestEventHubDeliversInOrderAndCheckpoints: batches of at most maxEventBatchSize (4 in the probe's host.json),
// in order per partition, every event once, with sequence numbers, enqueued times and the partition in the
// binding data; each partition's checkpoint ends at its last event.
func TestEventHubDeliversInOrderAndCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, nil)
	hub := NewHub("ns.servicebus.windows.net", "entra", 3, nil)
	fill(hub, 10)
	if _, err := h.RunEventHub(ctx, "Events", NewHub("ns", "other", 1, nil), nil); err == nil {
		t.Error("RunEventHub on another event hub succeeded")
	}
	run, err := h.RunEventHub(ctx, "Events", hub, &EventHubRunOptions{UntilCaughtUp: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, hc := range hubCalls(t, c, "Events") {
		if len(hc.bodies) > 4 || len(hc.bodies) != len(hc.seqs) || hc.group != "$Default" || hc.retry != nil {
			t.Errorf("batch %+v", hc)
		}
		for i, b := range hc.bodies {
			if want := fmt.Sprintf("p%s-%d", hc.partition, hc.seqs[i]); b != want {
				t.Errorf("partition %s sequence %d carries %q, want %q", hc.partition, hc.seqs[i], b, want)
			}
		}
		got[hc.partition] = append(got[hc.partition], hc.bodies...)
	}
	for p := range 3 {
		var want []string
		for i := range 10 {
			want = append(want, fmt.Sprintf("p%d-%d", p, i))
		}
		if !slices.Equal(got[strconv.Itoa(p)], want) {
			t.Errorf("partition %d delivered %v, want %v", p, got[strconv.Itoa(p)], want)
		}
		if seq, ok := hub.Checkpoint("$Default", p); !ok || seq != 9 {
			t.Errorf("partition %d checkpoint %d %v, want 9", p, seq, ok)
		}
	}
	if n := len(run.Batches()); n != 9 || hub.Backlog("$Default") != 0 {
		t.Errorf("%d batches, backlog %d; want 3 per partition and none", n, hub.Backlog("$Default"))
	}
	// A later host of the same consumer group starts after the checkpoints: nothing is delivered again.
	before := len(c.Calls())
	if _, err := h.RunEventHub(ctx, "Events", hub, &EventHubRunOptions{UntilCaughtUp: true}); err != nil || len(c.Calls()) != before {
		t.Errorf("a caught-up consumer group got %d more batches (%v)", len(c.Calls())-before, err)
	}
}

// TestEventHubFailedBatchIsLostWithoutRetryPolicy is the behaviour StreamEvents' retry policy exists for: the host
// checkpoints a failed batch and never delivers it again (reference/eventhub.md §3.5 item 1).
func TestEventHubFailedBatchIsLostWithoutRetryPolicy(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	c.setRespond(func(ctx context.Context, pc probeCall) instruction {
		if hc := decodeHubCall(t, pc); hc.seqs[0] == 4 {
			return failReply()
		}
		return okReply()
	})
	h := startProbe(t, c, nil)
	hub := NewHub("ns.servicebus.windows.net", "entra", 1, nil)
	fill(hub, 12)
	run, err := h.RunEventHub(ctx, "Events", hub, &EventHubRunOptions{UntilCaughtUp: true})
	if err != nil {
		t.Fatal(err)
	}
	lost := run.Lost()
	if len(lost) != 1 || lost[0].First != 4 || lost[0].Last != 7 || lost[0].Attempts != 1 {
		t.Errorf("lost batches %+v, want sequence 4-7 after one attempt", lost)
	}
	if seq, _ := hub.Checkpoint("$Default", 0); seq != 11 {
		t.Errorf("checkpoint %d: the host checkpoints past a failed batch", seq)
	}
	if n := len(hubCalls(t, c, "Events")); n != 3 {
		t.Errorf("%d invocations, want 3 (the failed batch is not delivered again)", n)
	}
}

// TestEventHubRetryPolicyRedelivers: with function.json's retry policy a failed batch is delivered again, with
// RetryContext, after the policy's backoff, while the partition waits; nothing is checkpointed until it succeeds.
func TestEventHubRetryPolicyRedelivers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	var mu sync.Mutex
	fails := 3
	var checkpointsDuringRetry []int64
	hub := NewHub("ns.servicebus.windows.net", "entra", 1, nil)
	c.setRespond(func(ctx context.Context, pc probeCall) instruction {
		mu.Lock()
		defer mu.Unlock()
		if hc := decodeHubCall(t, pc); hc.seqs[0] == 4 && fails > 0 {
			fails--
			seq, _ := hub.Checkpoint("retrying", 0)
			checkpointsDuringRetry = append(checkpointsDuringRetry, seq)
			return failReply()
		}
		return okReply()
	})
	h := startProbe(t, c, nil)
	fill(hub, 12)
	start := time.Now()
	run, err := h.RunEventHub(ctx, "EventsRetry", hub, &EventHubRunOptions{UntilCaughtUp: true, RetryDelayScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	calls := hubCalls(t, c, "EventsRetry")
	var firsts []int64
	var retries []int
	for _, hc := range calls {
		firsts = append(firsts, hc.seqs[0])
		if hc.retry == nil || hc.retry.MaxRetryCount != -1 {
			t.Fatalf("batch without the policy's RetryContext: %+v", hc.retry)
		}
		retries = append(retries, hc.retry.RetryCount)
		if hc.retry.RetryCount > 0 && (hc.retry.Exception == nil || hc.retry.Exception.Message == "") {
			t.Errorf("retry %d without the failure", hc.retry.RetryCount)
		}
	}
	// The failed batch comes 4 times in a row (1 + 3 retries), the next batch only after it succeeded.
	if !slices.Equal(firsts, []int64{0, 4, 4, 4, 4, 8}) || !slices.Equal(retries, []int{0, 0, 1, 2, 3, 0}) {
		t.Errorf("batches started at %v with retry counts %v", firsts, retries)
	}
	if !slices.Equal(checkpointsDuringRetry, []int64{3, 3, 3}) {
		t.Errorf("checkpoints while the policy ran: %v, want 3 (before the failing batch) each time", checkpointsDuringRetry)
	}
	if len(run.Lost()) != 0 {
		t.Errorf("lost %+v", run.Lost())
	}
	if seq, _ := hub.Checkpoint("retrying", 0); seq != 11 {
		t.Errorf("checkpoint %d, want 11", seq)
	}
	// Backoff 10 s, 20 s, 40 s scaled by 0.001: at least 70 ms.
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Errorf("three retries took %v: the backoff was not applied", d)
	}
}

// TestEventHubRestartRedeliversFromCheckpoint: a host that stops while a batch runs checkpoints nothing for it; the
// next host delivers it again from the last checkpoint (reference/eventhub.md §3.5 item 3), and a failed
// checkpoint write does the same.
func TestEventHubRestartRedeliversFromCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		if hc := decodeHubCall(t, pc); hc.seqs[0] == 4 {
			blocked := false
			once.Do(func() { blocked = true })
			if blocked {
				entered <- struct{}{}
				select {
				case <-release:
				case <-rctx.Done():
				}
			}
		}
		return okReply()
	})
	h := startProbe(t, c, nil)
	hub := NewHub("ns.servicebus.windows.net", "entra", 1, nil)
	fill(hub, 12)
	run := &EventHubRun{}
	hostCtx, stopHost := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := h.RunEventHub(hostCtx, "Events", hub, &EventHubRunOptions{Run: run})
		done <- err
	}()
	<-entered
	stopHost() // the host goes away with the batch 4-7 in flight
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(release)
	if seq, _ := hub.Checkpoint("$Default", 0); seq != 3 {
		t.Fatalf("checkpoint %d after the stop, want 3", seq)
	}
	// The next host: the checkpoint write after 8-11 fails once, so 8-11 comes twice.
	failedOnce := false
	if _, err := h.RunEventHub(ctx, "Events", hub, &EventHubRunOptions{UntilCaughtUp: true, Run: run,
		CheckpointFails: func(p int, first, last int64) bool {
			if first == 8 && !failedOnce {
				failedOnce = true
				return true
			}
			return false
		}}); err != nil {
		t.Fatal(err)
	}
	var firsts []int64
	for _, hc := range hubCalls(t, c, "Events") {
		firsts = append(firsts, hc.seqs[0])
	}
	if !slices.Equal(firsts, []int64{0, 4, 4, 8, 8}) {
		t.Errorf("batches started at %v, want 0, 4 (abandoned), 4 (next host), 8 (checkpoint failed), 8", firsts)
	}
	var outcomes []string
	for _, b := range run.Batches() {
		outcomes = append(outcomes, fmt.Sprintf("%d:%s", b.First, b.Outcome))
	}
	if !slices.Equal(outcomes, []string{"0:checkpointed", "4:abandoned", "4:checkpointed", "8:checkpoint-failed", "8:checkpointed"}) {
		t.Errorf("outcomes %v", outcomes)
	}
}

// TestEventHubBatchCheckpointFrequency: with batchCheckpointFrequency 3 a batch is checkpointed only with the
// third; a consumer group without a checkpoint starts at initialOffsetOptions (here an enqueued time); the hub's
// retention drops events a stalled partition did not read in time.
func TestEventHubBatchCheckpointFrequency(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	root := probeVariant(t, func(host map[string]any) {
		host["extensions"].(map[string]any)["eventHubs"] = map[string]any{"maxEventBatchSize": 2, "batchCheckpointFrequency": 3,
			"initialOffsetOptions": map[string]any{"type": "fromEnqueuedTime", "enqueuedTimeUtc": "2026-01-10T10:01:00Z"}}
	})
	h := startProbe(t, c, func(o *Options) { o.AppRoot = root })
	now := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	hub := NewHub("ns", "entra", 1, &HubOptions{Retention: time.Hour, Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
	hub.Send(0, "before-start")
	clock.Lock()
	now = now.Add(2 * time.Minute)
	clock.Unlock()
	for i := range 8 {
		hub.Send(0, fmt.Sprintf("e%d", i))
	}
	run, err := h.RunEventHub(ctx, "Events", hub, &EventHubRunOptions{UntilCaughtUp: true})
	if err != nil {
		t.Fatal(err)
	}
	if calls := hubCalls(t, c, "Events"); len(calls) != 4 || calls[0].seqs[0] != 1 {
		t.Fatalf("%d batches, the first at %v: want 4 starting after the event enqueued before 10:01", len(calls), calls[0].seqs)
	}
	// Sequence 1..8 in batches of 2: a checkpoint after the 3rd batch only.
	if seq, ok := hub.Checkpoint("$Default", 0); !ok || seq != 6 {
		t.Errorf("checkpoint %d %v, want 6 (after three batches)", seq, ok)
	}
	if b := run.Batches(); len(b) != 4 || b[3].Outcome != BatchPending {
		t.Errorf("batches %+v: the 4th is not checkpointed yet", b)
	}
	// Two hours later the events past the checkpoint are gone with the retention.
	clock.Lock()
	now = now.Add(2 * time.Hour)
	clock.Unlock()
	before := len(c.Calls())
	if _, err := h.RunEventHub(ctx, "Events", hub, &EventHubRunOptions{UntilCaughtUp: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Calls()) - before; n != 0 {
		t.Errorf("%d batches of expired events delivered", n)
	}
}

// TestHubStart: where a consumer group without a checkpoint starts, per initialOffsetOptions.
func TestHubStart(t *testing.T) {
	t0 := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	now := t0
	hub := NewHub("ns", "h", 1, &HubOptions{Now: func() time.Time { return now }})
	for i := range 5 {
		now = t0.Add(time.Duration(i) * time.Minute)
		hub.Send(0, fmt.Sprint(i))
	}
	for _, c := range []struct {
		s    EventHubSettings
		want int
	}{
		{EventHubSettings{InitialOffset: "fromStart"}, 0},
		{EventHubSettings{InitialOffset: "fromEnd"}, 5},
		{EventHubSettings{InitialOffset: "fromEnqueuedTime", InitialEnqueuedTime: t0.Add(150 * time.Second)}, 3},
	} {
		if got := hub.start("g", 0, c.s); got != c.want {
			t.Errorf("%+v: start %d, want %d", c.s, got, c.want)
		}
	}
	hub.setCheckpoint("g", 0, 1)
	if got := hub.start("g", 0, EventHubSettings{InitialOffset: "fromEnd"}); got != 2 {
		t.Errorf("with a checkpoint at 1: start %d, want 2", got)
	}
}

func TestRetryPolicy(t *testing.T) {
	p, err := retryPolicy("exponentialBackoff", ptrTo(-1), "", "00:00:10", "00:15:00")
	if err != nil {
		t.Fatal(err)
	}
	var delays []time.Duration
	for n := 1; n <= 9; n++ {
		delays = append(delays, p.Delay(n))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 640 * time.Second, 15 * time.Minute, 15 * time.Minute}
	if !slices.Equal(delays, want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	if f, err := retryPolicy("fixedDelay", ptrTo(5), "00:00:07", "", ""); err != nil || f.Delay(3) != 7*time.Second {
		t.Errorf("fixed delay %+v %v", f, err)
	}
	for name, bad := range map[string]func() (*RetryPolicy, error){
		"no max":       func() (*RetryPolicy, error) { return retryPolicy("fixedDelay", nil, "00:00:01", "", "") },
		"max below -1": func() (*RetryPolicy, error) { return retryPolicy("fixedDelay", ptrTo(-2), "00:00:01", "", "") },
		"unknown":      func() (*RetryPolicy, error) { return retryPolicy("linear", ptrTo(1), "00:00:01", "", "") },
		"mixed": func() (*RetryPolicy, error) {
			return retryPolicy("exponentialBackoff", ptrTo(1), "00:00:01", "00:00:01", "00:00:02")
		},
		"min above max": func() (*RetryPolicy, error) {
			return retryPolicy("exponentialBackoff", ptrTo(1), "", "00:01:00", "00:00:02")
		},
		"not a time span": func() (*RetryPolicy, error) { return retryPolicy("fixedDelay", ptrTo(1), "10s", "", "") },
	} {
		if _, err := bad(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
