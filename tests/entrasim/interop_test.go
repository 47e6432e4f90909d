package entrasim

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/tests/testca"
)

// The project's own Graph client (internal/graph) and catalog queries against the stand-in: every log data
// type's window, read page by page through throttling (scaled) and injected faults, yields exactly the ground
// truth. This is the contract the collector relies on.
func TestCollectorClientReadsTruth(t *testing.T) {
	tn, clock := startWithAuthority(t, Options{Seed: 86, Users: 80, ThrottleScale: 0.01})
	for _, f := range []FaultRule{
		{Kind: FaultThrottle, Path: "/beta/auditLogs/signIns", Every: 3, Storm: 2, RetryAfter: 50 * time.Millisecond},
		{Kind: FaultStatus, Status: 503, Every: 4},
		{Kind: FaultTruncate, Path: "/beta", Stream: StreamNonInteractive, Nth: 1},
		{Kind: FaultTruncate, Path: "/v1.0", Nth: 1, Abort: true},
		{Kind: FaultInvalidJSON, Path: "/v1.0", Nth: 2},
		{Kind: FaultReset, Path: "/v1.0/auditLogs/provisioning", Nth: 1},
	} {
		if _, err := tn.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := graph.NewSecretCredential(tn.TenantID(), tn.ClientID(), func(context.Context, bool) (string, error) {
		return tn.ClientSecret(), nil
	}, &graph.CredentialOptions{AuthorityHost: tn.AuthorityURL(), Transport: ca.Client()})
	if err != nil {
		t.Fatal(err)
	}
	budgets := map[catalog.Family]catalog.Budget{}
	for f, b := range catalog.Budgets {
		budgets[f] = catalog.Budget{Requests: b.Requests, Window: time.Duration(float64(b.Window) * 0.01)}
	}
	client, err := graph.New(cred, &graph.Options{Endpoint: tn.GraphURL(), Transport: ca.Client().Transport, Budgets: budgets,
		Retry: graph.RetryPolicy{MaxAttempts: 8, Base: 10 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	from, to := clock.Now().Add(-8*time.Hour), clock.Now().Add(-2*time.Hour)
	for _, dt := range catalog.InFamily(catalog.Reports) {
		if streamByName(dt.Name) == nil {
			continue // not a log stream (e.g. registration details)
		}
		t.Run(dt.Name, func(t *testing.T) {
			seen := map[string]bool{}
			var ids []string
			_, err := client.Pages(context.Background(), dt.Query(from, to), func(it graph.Item) error {
				var rec struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(it.Raw, &rec); err != nil {
					return err
				}
				if !seen[rec.ID] { // Pages may repeat a page after a body failure; callers dedupe
					seen[rec.ID] = true
					ids = append(ids, rec.ID)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Pages: %v", err)
			}
			want, _ := tn.Truth(dt.Name, from, to, clock.Now())
			slices.Sort(ids)
			slices.Sort(want)
			if len(want) == 0 || !slices.Equal(ids, want) {
				t.Fatalf("%d ids read, truth has %d", len(ids), len(want))
			}
		})
	}
	for _, f := range tn.Faults() {
		if f.Fired == 0 {
			t.Errorf("fault %+v never fired: the test would not show the client rides it out", f.Rule)
		}
	}
}
