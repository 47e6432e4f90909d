package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
)

// dataClock is the invocation's data clock: the host's time at invocation (Metadata.sys.UtcNow), advancing with
// the real clock. In Azure it is the host's clock; under the host simulator it is the simulated one.
func dataClock(req *envelope.Request) func() time.Time {
	base, start := invocationTime(req), time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

// collectLogs is the CollectLogs timer: it plans one work item per integration and family with log streams onto
// collect-work.
func (a *app) collectLogs(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	return a.plan(ctx, req, catalog.Buckets)
}

// collectDirectory is the CollectDirectory timer: it plans the families with delta and snapshot data types (the
// directory's rounds, userSignInActivity).
func (a *app) collectDirectory(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	return a.plan(ctx, req, catalog.Delta, catalog.Snapshot)
}

// plan emits the work items of the enabled integrations for the families with data types of the given modes.
func (a *app) plan(ctx context.Context, req *envelope.Request, modes ...catalog.Mode) (*envelope.Reply, error) {
	timer, err := req.Timer("timer")
	if err != nil {
		return nil, err
	}
	enabled, err := a.enabledIntegrations(ctx)
	if err != nil {
		return nil, err
	}
	log := logging.From(ctx)
	now := dataClock(req)()
	items := collect.Plan(ids(enabled), collect.ReasonSchedule, now, modes...)
	if slices.Contains(modes, catalog.Buckets) {
		// Managed mode's daily re-test rides on the log planner, which runs every few minutes.
		items = append(items, collect.PlanTests(enabled, collect.ReasonSchedule, now)...)
	}
	reply := envelope.NewReply()
	if len(items) > 0 {
		if err := reply.AddQueue("workItems", toAny(items)...); err != nil {
			return nil, err
		}
	}
	log.Info("planned collection", "integrations", len(enabled), "work_items", len(items), "past_due", timer.IsPastDue)
	reply.Log("planned %d work items for %d integrations", len(items), len(enabled))
	return reply, nil
}

// enabledIntegrations returns the integrations that are not disabled; one that cannot be read is logged and
// skipped.
func (a *app) enabledIntegrations(ctx context.Context) ([]integrations.Integration, error) {
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	list, bad, err := st.integrations.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range bad {
		logging.From(ctx).Warn("integration skipped", "error", e.Error())
	}
	var enabled []integrations.Integration
	for _, i := range list {
		if !i.Disabled {
			enabled = append(enabled, i)
		}
	}
	return enabled, nil
}

// ids returns the integrations' ids, in order.
func ids(list []integrations.Integration) []string {
	out := make([]string, len(list))
	for n, i := range list {
		out[n] = i.ID
	}
	return out
}

// collectWork is the CollectWork queue function: it runs one work item and asks for a continuation when the
// deadline stopped it with work left.
func (a *app) collectWork(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	msg, err := req.Queue("item")
	if err != nil {
		return nil, err
	}
	item, err := collect.ParseWorkItem(msg.Body)
	if err != nil {
		// A malformed message fails every attempt and ends in collect-work-poison, where it can be inspected.
		return nil, err
	}
	ctx = logging.Attrs(ctx, logging.KeyIntegration, item.Integration, logging.KeyFamily, item.Family, "dequeue_count", msg.DequeueCount)
	log := logging.From(ctx)
	reply := envelope.NewReply()
	if item.IsTest() {
		return a.testWork(ctx, reply, item, dataClock(req)())
	}
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	integ, err := st.integrations.Get(ctx, item.Integration)
	if errors.Is(err, integrations.ErrNotFound) {
		log.Warn("work item for an integration that no longer exists; dropped")
		reply.Log("integration %s not found; work item dropped", item.Integration)
		return reply, nil
	}
	if err != nil {
		return nil, err
	}
	if integ.Disabled {
		reply.Log("integration %s is disabled; work item dropped", integ.ID)
		return reply, nil
	}
	g, err := a.graphClient(integ)
	if err != nil {
		return nil, fmt.Errorf("graph client for %s: %w", integ.ID, err)
	}
	deps := collect.StorageDeps(st.cursors, st.archive)
	deps.Streams = st.activity
	w := collect.NewWorker(deps, a.collectOptions())
	res, err := w.Run(ctx, integ, item, invocationID(ctx), g, dataClock(req))
	if err != nil {
		return nil, err
	}
	if res.Continue {
		if err := reply.AddQueue("continuations", item.Continuation()); err != nil {
			return nil, err
		}
	}
	reply.Log("%s/%s: %s, %d records in %d parts from %d pages, %d requests (%d throttled)%s", integ.ID, item.Family,
		res.Run.Outcome, res.Run.Records, res.Run.Parts, res.Run.Pages, res.Run.Requests, res.Run.Throttled, continued(res.Continue))
	return reply, nil
}

// testWork runs the connectivity test a work item asks for: the first test of the integration in app settings, or
// managed mode's daily re-test.
func (a *app) testWork(ctx context.Context, reply *envelope.Reply, item collect.WorkItem, now time.Time) (*envelope.Reply, error) {
	svc, _, err := a.connectService(ctx)
	if err != nil {
		return nil, err
	}
	svc.Tester = a.tester(1)
	res, err := svc.Test(ctx, item.Integration, now)
	if errors.Is(err, integrations.ErrNotFound) {
		reply.Log("integration %s not found; test dropped", item.Integration)
		return reply, nil
	}
	if err != nil {
		return nil, err
	}
	reply.Log("%s: connectivity %s", item.Integration, res.State)
	return reply, nil
}

func continued(c bool) string {
	if c {
		return ", continuing"
	}
	return ""
}

func toAny[T any](items []T) []any {
	out := make([]any, len(items))
	for i := range items {
		out[i] = items[i]
	}
	return out
}
