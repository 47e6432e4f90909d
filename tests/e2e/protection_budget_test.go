package e2e

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/testca"
)

// TestProtectionBudgetShared reads Identity Protection at Graph's real limit — 1 request / s per tenant for all
// apps, 429s without Retry-After — while another app of the tenant, unannounced, takes 30 % of it. Everything is
// counted at the simulated tenant, from its request log, never by the client:
//   - the project's client uses at least 90 % of what the other app left;
//   - the other app keeps its share (a client that crowds it out does not pass by emptying "what is left");
//   - every 429 of the project's client is the other app's doing — a request of the other app was admitted within
//     the window before it — and each request of the other app refuses at most one of ours; at most 1 % of our
//     requests are refused for anything else (our own requests too close together);
//   - after a 429, no request of ours arrives within one window: Graph sends no Retry-After, and the request that
//     took the budget keeps it for up to a window.
//
// What this test cannot ask is "at most 1 % of all our requests refused" (issue 16's acceptance wording). At one
// request per window the budget admits one request at a time: each request the other app gets admitted holds the
// budget for a whole window, and ours is refused whenever it arrives inside that window. The other app is unseen
// until it refuses one of ours, so with 30 % of the budget taken about 30 % of the time is held by it, and a client
// that cannot see it draws a 429 for each of its requests that lands between two of ours — slowing down does not
// avoid that (a request of the other app in a longer gap still holds the window before our next), it only leaves
// budget unused. Measured here: with the window limiter 120 accepted, 60 refused (33.3 %), 85.0 % of what was left
// used; spacing one window and holding one window after a 429, 120 accepted, 54 refused (31.0 %, one per request
// of the other app), 95.6 % used. Fewer refusals would need a budget that admits more than one request per window
// (a token bucket with a burst), which Graph does not document, or an app that yields to ours.
func TestProtectionBudgetShared(t *testing.T) {
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

	const window = time.Second // Graph's: 1 request / s (ThrottleScale 1)
	var first, last time.Time
	var accepted, throttled, others int
	var mine, admitted []entrasim.RequestRecord
	log := tn.Requests()
	for _, r := range log {
		if r.Family != string(catalog.Protection) {
			continue
		}
		if !r.Throttled {
			admitted = append(admitted, r)
		}
		if r.Shared {
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
	if want := 0.9 * share * span; float64(others) < want {
		t.Errorf("the other app got %d requests admitted in %.1f s, want at least %.0f (90 %% of its share)", others, span, want)
	}

	// Whose request held the budget when each of ours was refused: the last admitted before it, within the window.
	slices.SortFunc(admitted, func(a, b entrasim.RequestRecord) int { return a.Arrival.Compare(b.Arrival) })
	slices.SortFunc(mine, func(a, b entrasim.RequestRecord) int { return a.Arrival.Compare(b.Arrival) })
	var own, unexplained int
	refusedBy := map[time.Time]int{} // the other app's admitted request → ours it refused
	for _, r := range mine {
		if !r.Throttled {
			continue
		}
		i, _ := slices.BinarySearchFunc(admitted, r.Arrival, func(a entrasim.RequestRecord, at time.Time) int { return a.Arrival.Compare(at) })
		for i < len(admitted) && !admitted[i].Arrival.After(r.Arrival) {
			i++
		}
		switch {
		case i == 0 || r.Arrival.Sub(admitted[i-1].Arrival) >= window:
			unexplained++
		case admitted[i-1].Shared:
			refusedBy[admitted[i-1].Arrival]++
		default:
			own++
		}
	}
	if unexplained > 0 {
		t.Errorf("%d of our 429s with no admitted request in the window before them: the simulated budget is not what the test assumes", unexplained)
	}
	if float64(own) > 0.01*float64(accepted+throttled) {
		t.Errorf("%d of our %d requests refused because of our own previous request, want at most 1 %%", own, accepted+throttled)
	}
	for at, n := range refusedBy {
		if n > 1 {
			t.Errorf("the other app's request at %v refused %d of ours, want at most one", at.Format(time.RFC3339Nano), n)
		}
	}
	for i, r := range mine {
		if !r.Throttled || i+1 >= len(mine) {
			continue
		}
		if gap := mine[i+1].Arrival.Sub(r.Arrival); gap < window {
			t.Errorf("a request %v after a 429 without Retry-After, inside the window the request that took the budget keeps it (%v)", gap, window)
		}
	}
}
