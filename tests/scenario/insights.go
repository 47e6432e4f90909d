package scenario

import (
	"context"
	"fmt"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/insights"
	"github.com/entra-di/edi/tests/testca"
)

// ComputeInsights fires the ComputeInsights timer and waits until InsightsWork has written every integration's
// insights (queue insights-work empty, nothing running).
func (e *Env) ComputeInsights(ctx context.Context) error { return e.plan(ctx, "ComputeInsights") }

// CheckSecretExpiry runs the daily client secret expiry check (timer CheckSecretExpiry).
func (e *Env) CheckSecretExpiry(ctx context.Context) error { return e.plan(ctx, "CheckSecretExpiry") }

// Insights reads the integration's newest insights document (nil before the first).
func (e *Env) Insights(ctx context.Context) (*insights.Report, error) {
	store, err := e.Archive()
	if err != nil {
		return nil, err
	}
	return insights.Latest(ctx, store, Integration)
}

// Archive is the scenario's archive container, as the handler writes it.
func (e *Env) Archive() (*archive.Store, error) {
	blobs, err := e.Azurite.BlobClient()
	if err != nil {
		return nil, err
	}
	return archive.New(blobs, e.Settings["RAW_CONTAINER"]), nil
}

// Graph returns the project's Graph client signed in as the integration's app registration, with the tenant's
// scaled budgets: for tests that take the tenant's own answers as truth, or change the tenant as an administrator
// would (with the permissions Options.Tenant.Roles grants).
func (e *Env) Graph() (*graph.Client, error) {
	ca, err := testca.Shared()
	if err != nil {
		return nil, err
	}
	secret := e.Tenant.ClientSecret()
	cred, err := graph.NewSecretCredential(e.Tenant.TenantID(), e.Tenant.ClientID(),
		func(context.Context, bool) (string, error) { return secret, nil },
		&graph.CredentialOptions{AuthorityHost: e.Tenant.AuthorityURL(), Transport: ca.Client()})
	if err != nil {
		return nil, err
	}
	budgets := map[catalog.Family]catalog.Budget{}
	for f, b := range catalog.Budgets {
		b.Window = max(1, b.Window/100) // the tenant's throttling is scaled 100× (ThrottleScale 0.01)
		budgets[f] = b
	}
	c, err := graph.New(cred, &graph.Options{Endpoint: e.Tenant.GraphURL(), Transport: ca.Client().Transport, Budgets: budgets})
	if err != nil {
		return nil, fmt.Errorf("scenario: graph client: %w", err)
	}
	return c, nil
}
