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
	"strconv"
	"strings"
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

// EventHub delivers one batch of events to an eventHubTrigger function with cardinality "many" and dataType
// "string": Data.<name> is a string holding the JSON array of event bodies, and the *Array metadata keys are
// strings holding JSON arrays (reference §5.5). A failed batch is not redelivered (no retry policy).
func (h *Host) EventHub(ctx context.Context, function string, events []string, opts *EventHubOptions) (*Invocation, error) {
	fn, ok := h.app.Function(function)
	if !ok || fn.Trigger.Type != TypeEventHub {
		return nil, fmt.Errorf("hostsim: %s is not an eventHubTrigger function", function)
	}
	t := fn.Trigger
	if !strings.EqualFold(t.Cardinality, "many") || !strings.EqualFold(t.DataType, "string") {
		// Without dataType the requested type is object[], whose conversion the reference could not confirm.
		return nil, fmt.Errorf("hostsim: %s: simulated only with \"cardinality\": \"many\" and \"dataType\": \"string\" (has %q, %q)", function, t.Cardinality, t.DataType)
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
	consumerGroup := t.ConsumerGroup
	if consumerGroup == "" {
		consumerGroup = "$Default"
	}
	now := h.now()
	form := h.opts.Form

	// (unverified) PartitionContext follows Azure.Messaging.EventHubs.Consumer.PartitionContext.
	partition := mustJSON(map[string]string{
		"FullyQualifiedNamespace": o.Namespace,
		"EventHubName":            t.EventHubName,
		"ConsumerGroup":           consumerGroup,
		"PartitionId":             o.PartitionID,
	})
	var (
		bodies, offsets, enqueued, keys, seqs, props, sysProps jsonArray
	)
	offset := o.FirstOffset
	for i, e := range events {
		bodies = append(bodies, e)
		seq := o.FirstSequenceNumber + int64(i)
		off := strconv.FormatInt(offset, 10)
		offset += int64(len(e))
		enq := now
		if len(o.EnqueuedTimes) > 0 {
			enq = o.EnqueuedTimes[i]
		}
		var key *string
		if len(o.PartitionKeys) > 0 {
			key = o.PartitionKeys[i]
		}
		p := map[string]any{}
		if len(o.Properties) > 0 && o.Properties[i] != nil {
			p = o.Properties[i]
		}
		seqs = append(seqs, seq)
		offsets = append(offsets, off)
		// (unverified) Enqueued times have unspecified kind: no zone designator.
		enqueued = append(enqueued, formatUnspecified(enq))
		keys = append(keys, key)
		props = append(props, p)
		sp := map[string]any{"x-opt-sequence-number": seq, "x-opt-offset": off, "x-opt-enqueued-time": formatUtc(enq)}
		if key != nil {
			sp["x-opt-partition-key"] = *key
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
	return h.call(ctx, fn, data, meta, now), nil
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
