package main

import (
	"context"
	"errors"

	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/insights"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
)

// computeInsights is the ComputeInsights timer: it plans one insights work item per enabled integration onto
// insights-work (the computation reads the archive and may take minutes; timers only plan).
func (a *app) computeInsights(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	timer, err := req.Timer("timer")
	if err != nil {
		return nil, err
	}
	enabled, err := a.enabledIntegrations(ctx)
	if err != nil {
		return nil, err
	}
	items := insights.Plan(ids(enabled), dataClock(req)())
	reply := envelope.NewReply()
	if len(items) > 0 {
		if err := reply.AddQueue("workItems", toAny(items)...); err != nil {
			return nil, err
		}
	}
	logging.From(ctx).Info("planned insights", "integrations", len(enabled), "past_due", timer.IsPastDue)
	reply.Log("planned insights for %d integrations", len(enabled))
	return reply, nil
}

// insightsWork is the InsightsWork queue function: one integration's insights of the day, from the archive,
// written as integration=<id>/type=insights/date=<d>/insights.json.
func (a *app) insightsWork(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	msg, err := req.Queue("item")
	if err != nil {
		return nil, err
	}
	item, err := insights.ParseWorkItem(msg.Body)
	if err != nil {
		return nil, err
	}
	ctx = logging.Attrs(ctx, logging.KeyIntegration, item.Integration)
	log := logging.From(ctx)
	reply := envelope.NewReply()
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	integ, err := st.integrations.Get(ctx, item.Integration)
	if errors.Is(err, integrations.ErrNotFound) {
		reply.Log("integration %s not found; insights dropped", item.Integration)
		return reply, nil
	}
	if err != nil {
		return nil, err
	}
	opts := insights.Options{InactiveDays: a.cfg.Insights.InactiveDays, SignInDays: a.cfg.Insights.SignInDays}
	r, outcome, err := insights.Run(ctx, st.archive, integ, opts, dataClock(req)())
	if errors.Is(err, insights.ErrExcludedGroupsUnknown) {
		// Retrying now would not help: the groups arrive with the next directory collection, tomorrow's run uses them.
		log.Warn("insights not computed", "error", err.Error())
		reply.Log("%s: insights not computed: %v", integ.ID, err)
		return reply, nil
	}
	if err != nil {
		return nil, err
	}
	doc := insights.Document(integ.ID, r.ComputedAt).Name()
	log.Info("insights written", "document", doc, "outcome", string(outcome), "users", r.Users.Total,
		"inactive", r.Inactive.Totals.Inactive, "mfa_source", r.MFA.Source)
	reply.Log("%s: insights %s (%s): %d users, %d inactive, %d apps known to Entra", integ.ID, doc, outcome,
		r.Users.Total, r.Inactive.Totals.Inactive, r.SSO.AppsKnown)
	return reply, nil
}
