package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/expiry"
	"github.com/entra-di/edi/internal/insights"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/storage"
	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

type reachable struct{}

func (reachable) Ping(context.Context, time.Duration) storage.Reachability {
	return storage.Reachability{Blob: "ok", Table: "ok", Queue: "ok"}
}

// fakeTests and fakeSecrets stand in for the connectivity test (issue 10) and the expiry check (issue 12).
type fakeTests map[string]*Connectivity

func (f fakeTests) Connectivity(_ context.Context, id string) (*Connectivity, error) {
	if id == "broken" {
		return nil, errors.New("read connectivity of broken: table unavailable")
	}
	return f[id], nil
}

type fakeSecrets map[string]*Secret

func (f fakeSecrets) Secret(_ context.Context, id string) (*Secret, error) { return f[id], nil }

// deployment stores n integrations in Azurite, each with a cursor per catalog data type, runs and an insights
// document, and returns the sources Status reads.
func deployment(tb testing.TB, n int) Sources {
	tb.Helper()
	ctx := context.Background()
	srv := azurite.Shared(tb)
	tables, err := srv.TableClient()
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := srv.BlobClient()
	if err != nil {
		tb.Fatal(err)
	}
	prefix := azurite.UniqueName(tb, "st")
	integ := integrations.New(tables, prefix+"integrations", nil)
	curs := cursor.New(tables, &cursor.Tables{Cursors: prefix + "cursors", Leases: prefix + "leases", Runs: prefix + "runs"})
	arch := archive.New(blobs, prefix)
	for _, e := range []interface{ Ensure(context.Context) error }{integ, curs, arch} {
		if err := e.Ensure(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("tenant-%02d", i)
		if i == 0 {
			id = "broken"
		}
		if err := integ.Put(ctx, integrations.Integration{ID: id, Name: "Tenant " + id, TenantID: "11111111-2222-3333-4444-555555555555",
			ClientID: "66666666-7777-8888-9999-000000000000", SecretName: "integration-" + id, Permissions: catalog.ReadOnly}); err != nil {
			tb.Fatal(err)
		}
		for _, dt := range catalog.DataTypes {
			c := &cursor.Cursor{Integration: id, DataType: dt.Name, State: cursor.StateOK, LastSuccess: now.Add(-time.Minute)}
			if dt.Mode() == catalog.Buckets {
				c.Low, c.High, c.Target = now.Add(-30*24*time.Hour), now.Add(-25*time.Minute), now.Add(-30*24*time.Hour)
			} else {
				c.LastRound, c.LastFull, c.Objects = now.Add(-time.Hour), now.Add(-time.Hour), 500
			}
			c.AddRecords(now.Add(-25*time.Hour), 100)
			c.AddRecords(now.Add(-time.Hour), 42)
			if dt.Name == "provisioning" {
				c.State, c.LastError, c.LastRequestID, c.LastErrorAt = cursor.StateError, "provisioning bucket …: graph server-error [request-id rq-"+id+"]", "rq-"+id, now.Add(-time.Hour)
			}
			if err := curs.Put(ctx, c); err != nil {
				tb.Fatal(err)
			}
		}
		for r := range RecentRuns + 1 {
			if err := curs.AddRun(ctx, &cursor.Run{Integration: id, Family: "reports", Invocation: fmt.Sprintf("inv-%d", r), Reason: "schedule",
				Started: now.Add(-time.Duration(r) * 5 * time.Minute), Finished: now.Add(-time.Duration(r)*5*time.Minute + time.Second), Outcome: "ok"}); err != nil {
				tb.Fatal(err)
			}
		}
		if i%2 == 1 {
			doc := sampleInsights(id)
			if _, err := insights.Write(ctx, arch, doc); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return Sources{Integrations: integ, Cursors: curs, Insights: arch,
		Connectivity: fakeTests{"tenant-01": {State: Connected, Message: "ok", TestedAt: now, DataTypes: map[string]string{"users": "ok", "provisioning": "not-licensed: entraP1P2"}}},
		Secrets:      fakeSecrets{"tenant-01": {Expires: tp(now.Add(10*24*time.Hour + time.Hour))}}}
}

// TestBuild reads a deployment from storage: every source lands in the report, in the integrations' order, and a
// source that fails is a problem, not a failed report.
func TestBuild(t *testing.T) {
	t.Parallel()
	src := deployment(t, 3)
	r := Build(context.Background(), &config.Config{}, reachable{}, src, now)
	if len(r.Integrations) != 3 || r.Integrations[0].ID != "broken" || r.Integrations[1].ID != "tenant-01" || r.Integrations[2].ID != "tenant-02" {
		t.Fatalf("integrations = %+v", r.Integrations)
	}
	if len(r.Problems) != 1 || r.Problems[0] != "read connectivity of broken: table unavailable" {
		t.Errorf("problems = %q", r.Problems)
	}
	in := r.Integrations[1]
	if in.Connectivity == nil || in.Connectivity.State != Connected || in.Secret == nil || in.Secret.DaysLeft == nil || *in.Secret.DaysLeft != 10 {
		t.Errorf("connectivity %+v, secret %+v", in.Connectivity, in.Secret)
	}
	if len(in.Runs) != RecentRuns || in.Insights == nil || in.Insights.Inactive.Totals.Inactive != 23 || r.Integrations[2].Insights != nil {
		t.Errorf("runs %d, insights %+v / %+v", len(in.Runs), in.Insights, r.Integrations[2].Insights)
	}
	byName := map[string]DataType{}
	for _, d := range in.DataTypes {
		byName[d.Name] = d
	}
	if len(in.DataTypes) != len(catalog.DataTypes) {
		t.Errorf("%d data types, want the catalog's %d", len(in.DataTypes), len(catalog.DataTypes))
	}
	si, users, prov := byName["signIns.interactive"], byName["users"], byName["provisioning"]
	if si.RecordsToday != 42 || si.Records != 142 || si.LagSeconds == nil || *si.LagSeconds != 25*60 || si.Mode != "buckets" {
		t.Errorf("signIns.interactive = %+v", si)
	}
	if users.LagSeconds == nil || *users.LagSeconds != 3600 || users.Connectivity != "ok" || users.Objects != 500 {
		t.Errorf("users = %+v", users)
	}
	if prov.State != cursor.StateError || prov.LastRequestID != "rq-tenant-01" || prov.Connectivity != "not-licensed: entraP1P2" {
		t.Errorf("provisioning = %+v", prov)
	}
	var msgs []string
	for _, a := range in.Alerts {
		msgs = append(msgs, string(a.Severity)+": "+a.Message)
	}
	want := []string{"error: provisioning bucket …: graph server-error [request-id rq-tenant-01]", "warning: client secret expires in 10 days (2026-01-20)", "warning: 1 admins without MFA (insights of 2026-01-10)"}
	if fmt.Sprint(msgs) != fmt.Sprint(want) {
		t.Errorf("alerts = %q, want %q", msgs, want)
	}
	if len(r.Alerts) != 3+1+1 || r.Alerts[len(r.Alerts)-1].Severity != Warning {
		t.Errorf("report alerts = %+v", r.Alerts)
	}
}

// BenchmarkBuild reads 50 integrations (a cursor per catalog data type, runs, insights) from Azurite.
func BenchmarkBuild(b *testing.B) {
	src := deployment(b, 50)
	src.Connectivity = nil
	b.ResetTimer()
	for b.Loop() {
		r := Build(context.Background(), &config.Config{}, reachable{}, src, now)
		if len(r.Integrations) != 50 || len(r.Problems) > 0 {
			b.Fatalf("%d integrations, problems %q", len(r.Integrations), r.Problems)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/report")
}

// TestSecretChecks: Status reads the expiry check's results from the alerts table (internal/expiry): days left,
// the last alert, and the warning banner at 30 days or fewer (none at 31).
func TestSecretChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := deployment(t, 3)
	tables, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	alerts := expiry.NewAlerts(tables, azurite.UniqueName(t, "stalerts"))
	if err := alerts.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	soon, later := now.Add(20*24*time.Hour+time.Hour), now.Add(31*24*time.Hour+time.Hour)
	for _, r := range []expiry.Result{
		{Integration: "tenant-01", CheckedAt: now.Add(-time.Hour), SecretID: "k1", Expires: &soon,
			LastAlert: &expiry.SentAlert{Threshold: "30", SentAt: now.Add(-10 * 24 * time.Hour)}},
		{Integration: "tenant-02", CheckedAt: now.Add(-time.Hour), SecretID: "k2", Expires: &later},
	} {
		if err := alerts.PutResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	src.Secrets = SecretChecks(alerts)
	r := Build(ctx, &config.Config{}, reachable{}, src, now)
	s1, s2 := r.Integrations[1].Secret, r.Integrations[2].Secret
	if s1 == nil || s1.DaysLeft == nil || *s1.DaysLeft != 20 || s1.LastAlert == nil || s1.LastAlert.Threshold != "30" || s1.SecretID != "k1" {
		t.Fatalf("tenant-01 secret %+v", s1)
	}
	if s2 == nil || s2.DaysLeft == nil || *s2.DaysLeft != 31 || r.Integrations[0].Secret != nil {
		t.Fatalf("tenant-02 secret %+v, broken %+v", s2, r.Integrations[0].Secret)
	}
	var page bytes.Buffer
	if err := r.HTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Client Secret Expiring Soon: 20 days left", "last alert: 30 days", "client secret expires in 20 days"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page.String(), "Client Secret Expiring Soon: 31 days") || strings.Contains(page.String(), "client secret expires in 31 days") {
		t.Error("a secret 31 days from expiry has a banner")
	}
}
