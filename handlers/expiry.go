package main

import (
	"context"

	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/expiry"
	"github.com/entra-di/edi/internal/logging"
)

// checkSecretExpiry is the CheckSecretExpiry timer: the daily client secret expiry check of every integration, with
// its alerts to the configured webhooks (internal/expiry).
func (a *app) checkSecretExpiry(ctx context.Context, req *envelope.Request) (*envelope.Reply, error) {
	timer, err := req.Timer("timer")
	if err != nil {
		return nil, err
	}
	if _, err := a.stores(ctx); err != nil {
		return nil, err
	}
	checker := a.expiryChecker()
	if a.cfg.KeyVaultURL != "" {
		// Rotation stores the new secret as a Key Vault version: without a vault there is nothing to rotate.
		if checker.Rotator, err = a.rotator(ctx); err != nil {
			return nil, err
		}
	}
	results, err := checker.Check(ctx, dataClock(req)())
	if err != nil {
		return nil, err
	}
	summary := expiry.Summary(results)
	logging.From(ctx).Info("secret expiry check", "integrations", len(results), "past_due", timer.IsPastDue)
	reply := envelope.NewReply()
	reply.Log("%s", summary)
	return reply, nil
}
