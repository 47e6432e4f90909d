package main

import (
	"context"

	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/stream"
)

// streamEvents is the StreamEvents Event Hub function: it archives one batch of Entra diagnostic logs and answers
// 2xx only once every part is committed. A failure answers non-2xx, which the function's retry policy turns into
// the same batch delivered again; without the policy the host would checkpoint past it (reference/eventhub.md
// §3.5).
func (a *app) streamEvents(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	batch, err := req.EventHub("events")
	if err != nil {
		return nil, err
	}
	// The doubly encoded batch is as large as the events themselves: let it go before archiving.
	delete(req.Data, "events")
	arch, err := a.streamArchiver(ctx)
	if err != nil {
		return nil, err
	}
	pc := batch.Partition
	b := stream.Batch{
		Hub:    stream.Hub{Namespace: pc.FullyQualifiedNamespace, EventHub: pc.EventHubName, ConsumerGroup: pc.ConsumerGroup, Partition: pc.PartitionID},
		Events: make([]stream.Event, len(batch.Events)),
	}
	for i, body := range batch.Events {
		e := stream.Event{Body: body, SequenceNumber: batch.SequenceNumbers[i]}
		if batch.Offsets != nil {
			e.Offset = batch.Offsets[i]
		}
		if batch.EnqueuedTimes != nil {
			e.Enqueued = batch.EnqueuedTimes[i]
		}
		b.Events[i] = e
	}
	first, last := batch.SequenceNumbers[0], batch.SequenceNumbers[len(batch.SequenceNumbers)-1]
	ctx = logging.Attrs(ctx, "event_hub", pc.EventHubName, "partition", pc.PartitionID, "first_sequence", first, "last_sequence", last)
	log := logging.From(ctx)
	if r := batch.Retry; r != nil && r.RetryCount > 0 {
		log.Warn("batch delivered again by the retry policy", "retry_count", r.RetryCount, "max_retry_count", r.MaxRetryCount)
	}
	res, err := arch.Archive(ctx, b)
	if err != nil {
		return nil, err
	}
	log.Info("batch archived", "events", res.Events, "records", res.Records, "archived", res.Archived,
		"duplicates", res.Duplicates, "graph_had", res.GraphHad, "unknown_tenant", res.UnknownTenant, "quarantined", res.Quarantined,
		"parts", res.Parts, "claims_pruned", res.Pruned)
	reply := envelope.NewReply()
	reply.Log("partition %s sequence %d-%d: %d records, %d archived, %d duplicates, %d of unknown tenants, %d quarantined, %d parts, %d archived by Graph already",
		pc.PartitionID, first, last, res.Records, res.Archived, res.Duplicates, res.UnknownTenant, res.Quarantined, res.Parts, res.GraphHad)
	return reply, nil
}

// streamArchiver returns the stream archiver, building it (and the claims table) on first use.
func (a *app) streamArchiver(ctx context.Context) (*stream.Archiver, error) {
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.streamArch != nil {
		return a.streamArch, nil
	}
	claims := stream.NewClaims(st.clients.Table, stream.ClaimsTable)
	if err := claims.Ensure(ctx); err != nil {
		return nil, err
	}
	if err := st.activity.Ensure(ctx); err != nil {
		return nil, err
	}
	tenants := stream.NewTenants(st.integrations, &stream.TenantsOptions{Fallback: a.cfg.Stream.Integration})
	a.streamArch = stream.NewArchiver(st.archive, claims, tenants, &stream.Options{DedupDays: a.cfg.Stream.DedupDays, Activity: st.activity})
	return a.streamArch, nil
}
