package hostsim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EventHubOptions describe the partition and events of one batch. A nil *EventHubOptions means defaults.
type EventHubOptions struct {
	// Namespace is the fully qualified namespace (default "hostsim.servicebus.windows.net").
	Namespace string
	// PartitionID defaults to "0".
	PartitionID string
	// FirstSequenceNumber and FirstOffset number the batch's first event; later events follow on.
	FirstSequenceNumber int64
	FirstOffset         int64
	// PartitionKeys, EnqueuedTimes and Properties, when set, hold one entry per event. Enqueued times default
	// to the host clock.
	PartitionKeys []*string
	EnqueuedTimes []time.Time
	Properties    []map[string]any
}

// HubEvent is one event of an event hub partition with its system properties.
type HubEvent struct {
	Body           string
	SequenceNumber int64
	Offset         int64
	Enqueued       time.Time
	PartitionKey   *string
	Properties     map[string]any
}

// EventHub delivers one batch of events to an eventHubTrigger function with cardinality "many" and dataType
// "string": Data.<name> is a string holding the JSON array of event bodies, and the *Array metadata keys are
// strings holding JSON arrays (reference §5.5). It is one invocation, nothing more: no checkpoint, no retry (see
// Hub and RunEventHub for the trigger's delivery semantics).
func (h *Host) EventHub(ctx context.Context, function string, events []string, opts *EventHubOptions) (*Invocation, error) {
	fn, err := h.eventHubFunction(function)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, errors.New("hostsim: an Event Hub batch has at least one event")
	}
	o := EventHubOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = "hostsim.servicebus.windows.net"
	}
	if o.PartitionID == "" {
		o.PartitionID = "0"
	}
	for _, n := range []struct {
		name string
		len  int
	}{{"PartitionKeys", len(o.PartitionKeys)}, {"EnqueuedTimes", len(o.EnqueuedTimes)}, {"Properties", len(o.Properties)}} {
		if n.len != 0 && n.len != len(events) {
			return nil, fmt.Errorf("hostsim: EventHubOptions.%s has %d entries for %d events", n.name, n.len, len(events))
		}
	}
	now := h.now()
	batch := make([]HubEvent, len(events))
	offset := o.FirstOffset
	for i, e := range events {
		ev := HubEvent{Body: e, SequenceNumber: o.FirstSequenceNumber + int64(i), Offset: offset, Enqueued: now}
		offset += int64(len(e))
		if len(o.EnqueuedTimes) > 0 {
			ev.Enqueued = o.EnqueuedTimes[i]
		}
		if len(o.PartitionKeys) > 0 {
			ev.PartitionKey = o.PartitionKeys[i]
		}
		if len(o.Properties) > 0 {
			ev.Properties = o.Properties[i]
		}
		batch[i] = ev
	}
	return h.invokeEventHub(ctx, fn, o.Namespace, o.PartitionID, batch, nil), nil
}

// eventHubFunction returns the function if it is an eventHubTrigger function the simulator can drive.
func (h *Host) eventHubFunction(function string) (*Function, error) {
	fn, ok := h.app.Function(function)
	if !ok || fn.Trigger.Type != TypeEventHub {
		return nil, fmt.Errorf("hostsim: %s is not an eventHubTrigger function", function)
	}
	t := fn.Trigger
	if !strings.EqualFold(t.Cardinality, "many") || !strings.EqualFold(t.DataType, "string") {
		// Without dataType the requested type is object[], whose conversion the reference could not confirm.
		return nil, fmt.Errorf("hostsim: %s: simulated only with \"cardinality\": \"many\" and \"dataType\": \"string\" (has %q, %q)", function, t.Cardinality, t.DataType)
	}
	return fn, nil
}

// consumerGroup is the trigger's consumer group ($Default when function.json names none).
func consumerGroup(fn *Function) string {
	if fn.Trigger.ConsumerGroup == "" {
		return "$Default"
	}
	return fn.Trigger.ConsumerGroup
}

// retryContext is Metadata.RetryContext while a retry policy runs (ScriptInvocationContextExtensions
// SetRetryContext): the retry count (0 on the first attempt), the policy's maximum and the last failure.
type retryContext struct {
	RetryCount    int             `json:"RetryCount"`
	MaxRetryCount int             `json:"MaxRetryCount"`
	Exception     *retryException `json:"Exception"`
}

type retryException struct {
	ClassName string `json:"ClassName"`
	Message   string `json:"Message"`
}

// invokeEventHub sends one batch of a partition and enforces the reply contract.
func (h *Host) invokeEventHub(ctx context.Context, fn *Function, namespace, partitionID string, events []HubEvent, retry *retryContext) *Invocation {
	t := fn.Trigger
	form := h.opts.Form
	// (unverified) PartitionContext follows Azure.Messaging.EventHubs.Consumer.PartitionContext.
	partition := mustJSON(map[string]string{
		"FullyQualifiedNamespace": namespace,
		"EventHubName":            t.EventHubName,
		"ConsumerGroup":           consumerGroup(fn),
		"PartitionId":             partitionID,
	})
	var (
		bodies, offsets, enqueued, keys, seqs, props, sysProps jsonArray
	)
	for _, e := range events {
		off := strconv.FormatInt(e.Offset, 10)
		p := e.Properties
		if p == nil {
			p = map[string]any{}
		}
		bodies = append(bodies, e.Body)
		seqs = append(seqs, e.SequenceNumber)
		offsets = append(offsets, off)
		// (unverified) Enqueued times have unspecified kind: no zone designator.
		enqueued = append(enqueued, formatUnspecified(e.Enqueued))
		keys = append(keys, e.PartitionKey)
		props = append(props, p)
		sp := map[string]any{"x-opt-sequence-number": e.SequenceNumber, "x-opt-offset": off, "x-opt-enqueued-time": formatUtc(e.Enqueued)}
		if e.PartitionKey != nil {
			sp["x-opt-partition-key"] = *e.PartitionKey
		}
		sysProps = append(sysProps, sp)
	}
	data := map[string]json.RawMessage{t.Name: wireValue(bodies, form)}
	meta := map[string]json.RawMessage{
		"EventHubTrigger":         wireValue(bodies, form),
		"PartitionContext":        partition,
		"TriggerPartitionContext": partition,
		"PartitionKeyArray":       wireValue(keys, form),
		"OffsetArray":             wireValue(offsets, form),
		"OffsetStringArray":       wireValue(offsets, form),
		"SequenceNumberArray":     wireValue(seqs, form),
		"EnqueuedTimeUtcArray":    wireValue(enqueued, form),
		"PropertiesArray":         wireValue(props, form),
		"SystemPropertiesArray":   wireValue(sysProps, form),
	}
	if retry != nil {
		meta["RetryContext"] = mustJSON(retry)
	}
	return h.call(ctx, fn, data, meta, h.now())
}

// Hub is a simulated event hub: partitions of events, each with its sequence number (from 0), byte offset and
// enqueued time, and the checkpoint of every consumer group per partition — the checkpoint store the host keeps
// in AzureWebJobsStorage (reference/eventhub.md §3.4). A Hub outlives the hosts that read it, so a new Host
// resumes where the last checkpoint says, as the next owner of a partition does.
type Hub struct {
	// Namespace is the fully qualified namespace; Name the event hub's name.
	Namespace, Name string

	now       func() time.Time
	retention time.Duration

	mu          sync.Mutex
	partitions  [][]HubEvent
	offsets     []int64
	checkpoints map[string]map[int]int64 // consumer group → partition → sequence number of the last event checkpointed
	changed     chan struct{}
}

// HubOptions configure a Hub; nil means the defaults.
type HubOptions struct {
	// Now is the clock that stamps enqueued times and ages events (time.Now).
	Now func() time.Time
	// Retention drops events older than this from what readers get (0: keep everything); a partition stalled
	// longer than the retention loses events (reference/eventhub.md §3.5 item 6).
	Retention time.Duration
}

// NewHub returns an empty event hub with the given number of partitions ("0", "1", …).
func NewHub(namespace, name string, partitions int, o *HubOptions) *Hub {
	hub := &Hub{Namespace: namespace, Name: name, now: time.Now, partitions: make([][]HubEvent, partitions),
		offsets: make([]int64, partitions), checkpoints: map[string]map[int]int64{}, changed: make(chan struct{})}
	if o != nil {
		if o.Now != nil {
			hub.now = o.Now
		}
		hub.retention = o.Retention
	}
	return hub
}

// Partitions is the number of partitions.
func (hub *Hub) Partitions() int { return len(hub.partitions) }

// Send appends events to a partition and returns them with their system properties.
func (hub *Hub) Send(partition int, bodies ...string) []HubEvent {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	now := hub.now()
	out := make([]HubEvent, len(bodies))
	for i, b := range bodies {
		e := HubEvent{Body: b, SequenceNumber: int64(len(hub.partitions[partition])), Offset: hub.offsets[partition], Enqueued: now}
		hub.offsets[partition] += int64(len(b))
		hub.partitions[partition] = append(hub.partitions[partition], e)
		out[i] = e
	}
	hub.notifyLocked()
	return out
}

// Events returns a partition's events.
func (hub *Hub) Events(partition int) []HubEvent {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	return slices.Clone(hub.partitions[partition])
}

// Checkpoint returns the sequence number of the last event a consumer group checkpointed in a partition; ok is
// false when there is no checkpoint.
func (hub *Hub) Checkpoint(consumerGroup string, partition int) (seq int64, ok bool) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	seq, ok = hub.checkpoints[consumerGroup][partition]
	return seq, ok
}

// Backlog is the number of events past a consumer group's checkpoints, over all partitions.
func (hub *Hub) Backlog(consumerGroup string) int {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	n := 0
	for p, events := range hub.partitions {
		next := int64(0)
		if seq, ok := hub.checkpoints[consumerGroup][p]; ok {
			next = seq + 1
		}
		n += len(events) - int(next)
	}
	return n
}

// WaitBacklog waits until at most n events lie past a consumer group's checkpoints.
func (hub *Hub) WaitBacklog(ctx context.Context, consumerGroup string, n int) error {
	for {
		hub.mu.Lock()
		ch := hub.changed
		hub.mu.Unlock()
		if hub.Backlog(consumerGroup) <= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("hostsim: %d events past the checkpoints of %s: %w", hub.Backlog(consumerGroup), consumerGroup, ctx.Err())
		}
	}
}

func (hub *Hub) notifyLocked() {
	close(hub.changed)
	hub.changed = make(chan struct{})
}

func (hub *Hub) setCheckpoint(consumerGroup string, partition int, seq int64) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.checkpoints[consumerGroup] == nil {
		hub.checkpoints[consumerGroup] = map[int]int64{}
	}
	hub.checkpoints[consumerGroup][partition] = seq
	hub.notifyLocked()
}

// start is the position (index = sequence number) a new owner of the partition reads from: after the checkpoint,
// else where initialOffsetOptions says.
func (hub *Hub) start(consumerGroup string, partition int, s EventHubSettings) int {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if seq, ok := hub.checkpoints[consumerGroup][partition]; ok {
		return int(seq) + 1
	}
	events := hub.partitions[partition]
	switch s.InitialOffset {
	case "fromEnd":
		return len(events)
	case "fromEnqueuedTime":
		return sort.Search(len(events), func(i int) bool { return !events[i].Enqueued.Before(s.InitialEnqueuedTime) })
	}
	return 0
}

// next waits for events at position pos or later and returns up to limit of them with the position they start at
// (later than pos when the events at pos are past retention). It returns no events when ctx ends, or at once
// when the partition has nothing new and wait is false.
func (hub *Hub) next(ctx context.Context, partition, pos, limit int, wait bool) (int, []HubEvent) {
	for {
		hub.mu.Lock()
		events := hub.partitions[partition]
		if hub.retention > 0 {
			cut := hub.now().Add(-hub.retention)
			first := sort.Search(len(events), func(i int) bool { return events[i].Enqueued.After(cut) })
			pos = max(pos, first)
		}
		ch := hub.changed
		if pos < len(events) {
			batch := slices.Clone(events[pos:min(pos+limit, len(events))])
			hub.mu.Unlock()
			return pos, batch
		}
		hub.mu.Unlock()
		if !wait {
			return pos, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return pos, nil
		}
	}
}

// Batch outcomes of RunEventHub.
const (
	// BatchCheckpointed: the function succeeded (perhaps after retries) and the checkpoint moved past the batch.
	BatchCheckpointed = "checkpointed"
	// BatchLost: the function failed and the host checkpointed past the batch anyway — no retry policy, or its
	// retries were spent (reference/eventhub.md §3.5 items 1 and 2).
	BatchLost = "lost"
	// BatchCheckpointFailed: the function succeeded but the checkpoint was not written; the partition is read
	// again from the last checkpoint.
	BatchCheckpointFailed = "checkpoint-failed"
	// BatchAbandoned: the host stopped (ctx ended) before the batch was checkpointed.
	BatchAbandoned = "abandoned"
	// BatchPending: the function succeeded; batchCheckpointFrequency has not reached a checkpoint yet.
	BatchPending = "pending"
)

// BatchRecord is what happened to one batch RunEventHub delivered.
type BatchRecord struct {
	Partition   int
	First, Last int64
	// Attempts counts the invocations (1 + retries).
	Attempts int
	Outcome  string
}

// EventHubRun records the batches of RunEventHub runs.
type EventHubRun struct {
	mu      sync.Mutex
	batches []BatchRecord
}

// Batches returns every batch so far, in completion order.
func (r *EventHubRun) Batches() []BatchRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// Lost returns the batches checkpointed away after a failure.
func (r *EventHubRun) Lost() []BatchRecord {
	var out []BatchRecord
	for _, b := range r.Batches() {
		if b.Outcome == BatchLost {
			out = append(out, b)
		}
	}
	return out
}

func (r *EventHubRun) add(b BatchRecord) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
}

// EventHubRunOptions tune RunEventHub; nil means the defaults.
type EventHubRunOptions struct {
	// UntilCaughtUp makes RunEventHub return once every partition has delivered all its events; otherwise it
	// runs until ctx ends, waiting for new events.
	UntilCaughtUp bool
	// RetryDelayScale multiplies the retry policy's delays (1 when 0): tests shrink 10 s to 10 ms.
	RetryDelayScale float64
	// CheckpointFails is asked before each checkpoint write; true makes the write fail (a lost lease, a storage
	// error: reference/eventhub.md §3.5 item 5), and the partition is read again from its last checkpoint.
	CheckpointFails func(partition int, first, last int64) bool
	// Run collects the batch records; a new one when nil. Pass the same to runs that model one host after
	// another.
	Run *EventHubRun
}

// RunEventHub is the Event Hubs trigger for function over hub, as reference/eventhub.md §3 describes it: one
// reader per partition starts after its consumer group's checkpoint (else at host.json initialOffsetOptions),
// delivers batches of up to maxEventBatchSize events in order, one at a time per partition, and checkpoints after
// every batchCheckpointFrequency batches — after a success, and after a failure too: without a retry policy a
// failed batch is checkpointed away (lost). With the function's retry policy a failed batch is delivered again
// after the policy's delay, with Metadata.RetryContext, and nothing is checkpointed until it succeeds or the
// retries are spent. When ctx ends (the host stops: a restart, a scale-in), batches in flight are not
// checkpointed, and the next RunEventHub on the same Hub delivers them again with the retry count reset.
func (h *Host) RunEventHub(ctx context.Context, function string, hub *Hub, o *EventHubRunOptions) (*EventHubRun, error) {
	fn, err := h.eventHubFunction(function)
	if err != nil {
		return nil, err
	}
	if fn.Trigger.EventHubName != hub.Name {
		return nil, fmt.Errorf("hostsim: %s listens to event hub %q, not %q", function, fn.Trigger.EventHubName, hub.Name)
	}
	if h.disabled(fn) {
		return nil, fmt.Errorf("hostsim: %s is disabled", function)
	}
	opts := EventHubRunOptions{}
	if o != nil {
		opts = *o
	}
	if opts.RetryDelayScale == 0 {
		opts.RetryDelayScale = 1
	}
	if opts.Run == nil {
		opts.Run = &EventHubRun{}
	}
	var wg sync.WaitGroup
	for p := range hub.Partitions() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.runPartition(ctx, fn, hub, p, &opts)
		}()
	}
	wg.Wait()
	return opts.Run, nil
}

func (h *Host) runPartition(ctx context.Context, fn *Function, hub *Hub, p int, o *EventHubRunOptions) {
	s := h.app.Host.EventHubs
	cg := consumerGroup(fn)
	pid := strconv.Itoa(p)
	pos := hub.start(cg, p, s)
	var pending []BatchRecord // done, not yet checkpointed
	defer func() {
		outcome := BatchPending
		if ctx.Err() != nil {
			outcome = BatchAbandoned
		}
		for _, b := range pending {
			if b.Outcome == "" {
				b.Outcome = outcome
			}
			o.Run.add(b)
		}
	}()
	for ctx.Err() == nil {
		start, batch := hub.next(ctx, p, pos, s.MaxEventBatchSize, !o.UntilCaughtUp)
		if len(batch) == 0 {
			break
		}
		rec := BatchRecord{Partition: p, First: batch[0].SequenceNumber, Last: batch[len(batch)-1].SequenceNumber}
		var retry *retryContext
		if fn.Retry != nil {
			retry = &retryContext{MaxRetryCount: fn.Retry.MaxRetryCount}
		}
		failed := false
		for {
			rec.Attempts++
			inv := h.invokeEventHub(ctx, fn, hub.Namespace, pid, batch, retry)
			if ctx.Err() != nil {
				rec.Outcome = BatchAbandoned
				o.Run.add(rec)
				return
			}
			if inv.Succeeded() {
				break
			}
			if fn.Retry == nil || (fn.Retry.MaxRetryCount >= 0 && retry.RetryCount >= fn.Retry.MaxRetryCount) {
				failed = true
				break
			}
			retry.RetryCount++
			retry.Exception = &retryException{ClassName: "System.Net.Http.HttpRequestException", Message: inv.Failure}
			delay := time.Duration(float64(fn.Retry.Delay(retry.RetryCount)) * o.RetryDelayScale)
			h.logf("Retrying '%s' partition %s sequence %d-%d in %s (retry %d)", fn.Name, pid, rec.First, rec.Last, delay, retry.RetryCount)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				rec.Outcome = BatchAbandoned
				o.Run.add(rec)
				return
			}
		}
		pos = start + len(batch)
		if failed {
			rec.Outcome = BatchLost
			h.logf("Checkpointing past failed batch of '%s' partition %s sequence %d-%d (no retry left)", fn.Name, pid, rec.First, rec.Last)
		}
		pending = append(pending, rec)
		if len(pending) < s.BatchCheckpointFrequency {
			continue
		}
		if o.CheckpointFails != nil && o.CheckpointFails(p, pending[0].First, rec.Last) {
			for _, b := range pending {
				if b.Outcome == "" {
					b.Outcome = BatchCheckpointFailed
				}
				o.Run.add(b)
			}
			pending = nil
			pos = hub.start(cg, p, s)
			continue
		}
		hub.setCheckpoint(cg, p, rec.Last)
		for _, b := range pending {
			if b.Outcome == "" {
				b.Outcome = BatchCheckpointed
			}
			o.Run.add(b)
		}
		pending = nil
	}
}

// ReadEventBatches reads NDJSON, one event body per non-blank line (kept verbatim), and groups the events into
// batches of at most batchSize.
func ReadEventBatches(r io.Reader, batchSize int) ([][]string, error) {
	if batchSize < 1 {
		return nil, errors.New("hostsim: batch size must be at least 1")
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var batches [][]string
	var cur []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		cur = append(cur, line)
		if len(cur) == batchSize {
			batches = append(batches, cur)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches, nil
}

// ReadEventBatchesFile reads an NDJSON file (gzip-compressed when it starts with the gzip magic bytes) with
// ReadEventBatches.
func ReadEventBatchesFile(path string, batchSize int) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = bytes.NewReader(b)
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return ReadEventBatches(r, batchSize)
}
