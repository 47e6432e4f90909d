package main

import (
	"context"

	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/logging"
)

// compactArchive is the CompactArchive timer: it merges every enabled integration's closed log days into one part
// per hour (internal/archive/compact.go). A run cut short by its deadline or a crash is finished by the next.
func (a *app) compactArchive(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	timer, err := req.Timer("timer")
	if err != nil {
		return nil, err
	}
	enabled, err := a.enabledIntegrations(ctx)
	if err != nil {
		return nil, err
	}
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := collect.Compact(ctx, st.archive, ids(enabled), dataClock(req)(), *a.collectOptions())
	if err != nil {
		return nil, err
	}
	logging.From(ctx).Info("compacted the archive", "integrations", len(enabled), "hours", stats.Hours, "inputs", stats.Inputs,
		"records", stats.Records, "deleted", stats.Deleted, "past_due", timer.IsPastDue)
	reply := envelope.NewReply()
	reply.Log("compacted %d hours of %d parts (%d records) for %d integrations; %d replaced parts deleted",
		stats.Hours, stats.Inputs, stats.Records, len(enabled), stats.Deleted)
	return reply, nil
}
