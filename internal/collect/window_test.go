package collect

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/tests/entrasim"
)

// anyToken lets every bearer token in as the integration's app with the read-only permissions.
type anyToken struct{ tenant, app string }

func (a *anyToken) VerifyToken(token, audience string) (entrasim.Principal, error) {
	return entrasim.Principal{TenantID: a.tenant, AppID: a.app, Roles: entrasim.ReadOnlyRoles(), Expires: time.Now().Add(time.Hour)}, nil
}

// TestTooLargeWindowGivenUpEarly: a stream's first window is sized before its density is known. On a dense
// stream it holds far more than a window should; the worker must notice after a page or two and read smaller
// windows, not read up to the hard cap and throw it all away. Graph serves barely more records than are archived.
func TestTooLargeWindowGivenUpEarly(t *testing.T) {
	clock := entrasim.NewSimClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	v := &anyToken{}
	streams := map[string]entrasim.StreamOptions{}
	for _, dt := range catalog.InFamily(catalog.Reports) {
		if dt.Mode() != catalog.Buckets {
			continue
		}
		streams[dt.Name] = entrasim.StreamOptions{Rate: -1}
	}
	// 24,000 sign-ins in the day before now: the first (one-day) window holds 12 times the target below.
	streams[entrasim.StreamInteractive] = entrasim.StreamOptions{Rate: 1000, LateShare: -1}
	tn, err := entrasim.New(&entrasim.Options{Seed: 5, Users: 50, History: 24 * time.Hour, Clock: clock, Verifier: v,
		DisableThrottling: true, Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	v.tenant, v.app = tn.TenantID(), tn.ClientID()
	srv := httptest.NewTLSServer(tn.Handler())
	t.Cleanup(srv.Close)
	g := testGraph(t, srv)
	env := newTestEnv(t)
	o := fastOptions()
	o.BackfillDays, o.TargetRecords = 1, 2000 // hard cap 8,000 records
	w := NewWorker(StorageDeps(env.cursors, env.archive), o)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctx = logging.With(ctx, logging.New(t.Output(), slog.LevelInfo))
	item := WorkItem{Integration: testIntegration.ID, Family: catalog.Reports, Reason: ReasonSchedule}
	if _, err := w.Run(ctx, testIntegration, item, "inv-dense", g, clock.Now); err != nil {
		t.Fatal(err)
	}
	c, err := env.cursors.Get(ctx, testIntegration.ID, entrasim.StreamInteractive)
	if err != nil {
		t.Fatal(err)
	}
	served := tn.Counters().Streams[entrasim.StreamInteractive]
	t.Logf("archived %d, Graph served %d; cursor %s", c.Records, served, describeCursor(c))
	if c.Records < 20000 || c.Low.After(c.Target) {
		t.Fatalf("backfill incomplete: %s", describeCursor(c))
	}
	// Giving up at the hard cap would cost 8,000 records read for nothing; a page or two is at most 2,000.
	if waste := served - c.Records; waste > 2000 {
		t.Errorf("Graph served %d records for %d archived: %d read for nothing", served, c.Records, waste)
	}
}
