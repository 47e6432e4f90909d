package e2e

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/testca"
)

// TestProtectionBudgetShared reads Identity Protection at Graph's real limit — 1 request / s per tenant for all
// apps, 429s without Retry-After — while another app of the tenant, unannounced, takes 30 % of it: the project's
// client uses at least 90 % of what is left, at most 1 % of its requests are refused, and after a refusal no request
// goes out inside the shortest back-off the client may choose (RetryPolicy.Base / 4).
func TestProtectionBudgetShared(t *testing.T) {
	// Measured on branch i16: 120 accepted, 62 refused (34 %), 83.6 % of the remaining budget used. The limiter
	// adapts by lowering the requests per window, and the protection budget is one request per second: it cannot
	// go lower. It needs a rate (spacing) it can lower below one per window. Until then this test documents the gap.
	if os.Getenv("EDI_PROTECTION_BUDGET_TEST") == "" {
		t.Skip("known gap: the limiter cannot share a 1-request budget with an unannounced neighbour (set EDI_PROTECTION_BUDGET_TEST=1 to run)")
	}
	t.Parallel()
	const share = 0.3
	tn, err := entrasim.Start(&entrasim.Options{Seed: 13, Users: 200, ThrottleScale: 1,
		Licences:     []entrasim.Licence{entrasim.LicenceP2},
		SharedBudget: map[string]float64{string(catalog.Protection): share}})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	secret := tn.ClientSecret()
	cred, err := graph.NewSecretCredential(tn.TenantID(), tn.ClientID(),
		func(context.Context, bool) (string, error) { return secret, nil },
		&graph.CredentialOptions{AuthorityHost: tn.AuthorityURL(), Transport: ca.Client()})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(cred, &graph.Options{Endpoint: tn.GraphURL(), Transport: ca.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Two readers, as a run's protection data types would, for long enough that 1 % is one request.
	const perReader = 60
	errs := make(chan error, 2)
	for _, path := range []string{"/v1.0/identityProtection/riskyUsers?$top=1", "/v1.0/identityProtection/riskDetections?$top=1"} {
		go func() {
			for range perReader {
				if _, _, err := g.Object(ctx, path); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}

	var first, last time.Time
	var accepted, throttled, others int
	var mine []entrasim.RequestRecord
	log := tn.Requests()
	for _, r := range log {
		if r.Family != string(catalog.Protection) || r.Shared {
			continue
		}
		mine = append(mine, r)
		if first.IsZero() || r.Arrival.Before(first) {
			first = r.Arrival
		}
		if r.Arrival.After(last) {
			last = r.Arrival
		}
		if r.Throttled {
			throttled++
		} else {
			accepted++
		}
	}
	for _, r := range log {
		if r.Shared && !r.Throttled && r.Family == string(catalog.Protection) && !r.Arrival.Before(first) && !r.Arrival.After(last) {
			others++
		}
	}
	span := last.Sub(first).Seconds()
	left := span*1.0 - float64(others) // the requests the budget had room for besides the other app's
	used := float64(accepted-1) / left // the first request opens the span
	refused := float64(throttled) / float64(accepted+throttled)
	t.Logf("%d accepted, %d refused (%.1f %%), other app %d, span %.1f s: %.1f %% of the remaining budget used",
		accepted, throttled, 100*refused, others, span, 100*used)
	if used < 0.9 {
		t.Errorf("used %.1f %% of the budget left by the other app, want at least 90 %%", 100*used)
	}
	if refused > 0.01 {
		t.Errorf("%.1f %% of the requests refused, want at most 1 %%", 100*refused)
	}
	slices.SortFunc(mine, func(a, b entrasim.RequestRecord) int { return a.Arrival.Compare(b.Arrival) })
	minBackoff := graph.DefaultRetry.Base / 4
	for i, r := range mine {
		if !r.Throttled || i+1 >= len(mine) {
			continue
		}
		if gap := mine[i+1].Arrival.Sub(r.Arrival); gap < minBackoff {
			t.Errorf("a request %v after a 429 without Retry-After, inside the back-off (at least %v)", gap, minBackoff)
		}
	}
}
