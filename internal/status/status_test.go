package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/insights"
	"github.com/entra-di/edi/internal/storage"
)

var now = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func tp(t time.Time) *time.Time { return &t }
func ip(n int) *int             { return &n }
func lp(n int64) *int64         { return &n }

const evil = `<img src=x onerror=alert(1)>`

// sample is a report with every kind of fact the page shows, tenant-controlled strings carrying markup.
func sample(integrations, dataTypes int) Report {
	r := Report{Version: "test", GeneratedAt: now, Healthy: true, Storage: storage.Reachability{Blob: "ok", Table: "ok", Queue: "ok"},
		Alerts: []Alert{}}
	for i := range integrations {
		id := fmt.Sprintf("tenant-%02d", i)
		in := Integration{ID: id, Name: "Contoso " + evil, TenantID: "11111111-2222-3333-4444-555555555555", ClientID: "66666666-7777-8888-9999-000000000000",
			Source: "table",
			Connectivity: &Connectivity{State: "Invalid credentials", Message: "AADSTS7000215: Invalid client secret provided. " + evil,
				Code: "AADSTS7000215", TestedAt: now.Add(-time.Hour), DataTypes: map[string]string{"dt-00": "ok", "dt-01": "missing-permission: AuditLog.Read.All"}},
			Secret: &Secret{SecretID: "secret-id", Expires: tp(now.Add(12 * 24 * time.Hour)), DaysLeft: ip(12),
				LastAlert: &SecretAlert{Threshold: "14", SentAt: now.Add(-48 * time.Hour)}, CheckedAt: tp(now.Add(-6 * time.Hour))},
		}
		for d := range dataTypes {
			name := fmt.Sprintf("dt-%02d", d)
			dt := DataType{Name: name, Mode: "buckets", State: cursor.StateOK, Connectivity: in.Connectivity.DataTypes[name],
				ArchivedFrom: tp(now.Add(-30 * 24 * time.Hour)), ArchivedTo: tp(now.Add(-20 * time.Minute)), LagSeconds: lp(1200),
				BacklogBuckets: d, Records: int64(1000 * d), RecordsToday: int64(17 + d), Parts: int64(d)}
			switch d % 3 {
			case 1:
				dt.Mode, dt.ArchivedFrom, dt.ArchivedTo = "delta", nil, nil
				dt.LastRound, dt.LastFull, dt.Objects, dt.Changes, dt.LagSeconds = tp(now.Add(-3*time.Hour-20*time.Minute)), tp(now.Add(-72*time.Hour)), 4200, 17, lp(12000)
			case 2:
				dt.State, dt.LastError, dt.LastRequestID, dt.LastErrorAt = cursor.StateError,
					"signIns.interactive bucket 2026-01-10T09:00Z: graph server-error (HTTP 503) "+evil+" [request-id 0b1f-req]", "0b1f-req", tp(now.Add(-time.Hour))
			}
			in.DataTypes = append(in.DataTypes, dt)
		}
		in.Runs = []cursor.Run{{Integration: id, Family: "reports", Invocation: "inv-1", Reason: "schedule", Started: now.Add(-5 * time.Minute),
			Finished: now.Add(-4 * time.Minute), Outcome: "partial", Requests: 40, Throttled: 1, Pages: 12, Records: 3000,
			Errors: []cursor.RunError{{DataType: "dt-02", Bucket: "2026-01-10T09:00Z", RequestID: "0b1f-req", Message: "graph server-error " + evil}}}}
		in.Insights = sampleInsights(id)
		in.Alerts = alerts(&in, now)
		r.Alerts = append(r.Alerts, in.Alerts...)
		r.Integrations = append(r.Integrations, in)
	}
	return r
}

func sampleInsights(id string) *insights.Report {
	reg := 7
	return &insights.Report{Integration: id, Date: "2026-01-10", ComputedAt: now.Add(-8 * time.Hour),
		Users: insights.Users{Total: 120, Enabled: 110, ByUserType: map[string]int{"Member": 100, "Guest": 20}},
		Inactive: insights.Inactive{AsOf: tp(now.Add(-9 * time.Hour)), ThresholdDays: 90, ExpiredDays: 30, Totals: insights.InactiveCounts{Users: 100, Inactive: 23, Expired: 41, NeverSignedIn: 5},
			ByUserType: map[string]insights.InactiveCounts{"Member": {Users: 85, Inactive: 19, Expired: 33, NeverSignedIn: 4}, "Guest": {Users: 15, Inactive: 4, Expired: 8, NeverSignedIn: 1}},
			Longest:    []insights.UserRef{{ID: "u1", DisplayName: evil, UserPrincipalName: "x@contoso.example", UserType: "Member"}}},
		MFA: insights.MFA{Source: "signIns", SignIns: &insights.SignInCoverage{Users: 110, SignedIn: 80, PerformedMFA: 60, SingleFactorOnly: 20, Passwordless: 3},
			Admins: 4, AdminsWithoutMFA: 1, AdminList: []insights.UserRef{{ID: "u2", DisplayName: "Admin " + evil}}},
		SSO: insights.SSO{Denominator: "apps known to Entra", AppsKnown: 31, AppsWithSignIns: 12,
			ByMode: []insights.ModeCount{{Mode: "saml", Apps: 5, AppsWithSignIns: 4, SignIns: 900}}, Top: []insights.AppRef{{AppID: "a", DisplayName: "App " + evil, Mode: "saml", SignIns: 900}}},
		Guests:  insights.Guests{Total: 20, Enabled: 19, PendingAcceptance: 2, PendingOver30Days: 1, Inactive: &reg, NeverSignedIn: ip(1)},
		Caveats: []string{"signInActivity may lag by up to 24 hours."},
	}
}

// TestPageShowsEveryFact renders a report and finds each fact on the page, every tenant-controlled string escaped.
func TestPageShowsEveryFact(t *testing.T) {
	var b bytes.Buffer
	if err := sample(2, 4).HTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<img") || strings.Contains(page, "onerror=alert(1)>") {
		t.Error("a tenant's markup reached the page unescaped")
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="120">`, "reloads itself every 2 minutes",
		"&lt;img src=x onerror=alert(1)&gt;",
		"Invalid credentials", "<code>AADSTS7000215</code>",
		"Client Secret Expiring Soon: 12 days left (expires 2026-01-22 12:00Z)", "last alert: 14 days",
		`data-datatype="dt-00"`, `<td data-field="test">missing-permission: AuditLog.Read.All</td>`,
		"2025-12-11 12:00Z → 2026-01-10 11:40Z", `<td class="num" data-field="lag">20m</td>`, `<td class="num" data-field="lag">3h 20m</td>`,
		`data-field="records-today">18<`, "4200 objects (+17 changes)",
		`<code data-field="request-id">0b1f-req</code>`,
		`data-field="inactive">23<`, `data-field="expired">41<`, `data-field="mfa-performed">75 %<`, "1 of 4 admins without MFA",
		`data-field="apps-with-signins">12<`, "apps known to Entra", `data-field="pending">2<`,
		`data-severity="error"`, "connectivity: Invalid credentials", "client secret expires in 12 days",
		"Recent runs", "<div>graph server-error &lt;img src=x onerror=alert(1)&gt;</div>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("the page carries JavaScript")
	}
}

func TestPageWithoutData(t *testing.T) {
	var b bytes.Buffer
	r := Report{Version: "test", GeneratedAt: now, Storage: storage.Reachability{Blob: "error: timeout", Table: "ok", Queue: "ok"}, Integrations: []Integration{},
		Alerts: []Alert{{Severity: Error, Message: "storage unreachable"}}, Problems: []string{"list integrations: " + evil}}
	if err := r.HTML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"degraded", "No integration is configured yet", "storage unreachable", "Status could not read: list integrations: &lt;img"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	b.Reset()
	in := Integration{ID: "x", Name: "X", DataTypes: []DataType{{Name: "users", Mode: "delta", State: "not started"}}}
	r = Report{Version: "test", GeneratedAt: now, Healthy: true, Integrations: []Integration{in}}
	if err := r.HTML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"not tested yet", "the daily expiry check has not reported yet", "Not computed yet", "No run yet", "Nothing needs attention"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestAlerts(t *testing.T) {
	ok := DataType{Name: "signIns.interactive", Mode: "buckets", State: cursor.StateOK, LagSeconds: lp(600)}
	for _, tc := range []struct {
		name string
		in   Integration
		want []string
	}{
		{"nothing", Integration{Connectivity: &Connectivity{State: Connected}, Secret: &Secret{Expires: tp(now), DaysLeft: ip(31)}, DataTypes: []DataType{ok}}, nil},
		{"secret within 30 days", Integration{Secret: &Secret{Expires: tp(now.Add(30 * 24 * time.Hour)), DaysLeft: ip(30)}}, []string{"warning: client secret expires in 30 days (2026-02-09)"}},
		{"secret expired", Integration{Secret: &Secret{Expires: tp(now.Add(-time.Hour)), DaysLeft: ip(-1)}}, []string{"error: client secret expired on 2026-01-10: collection stops until the credentials are reset"}},
		{"secret deleted", Integration{Secret: &Secret{Problem: "secret deleted in Entra"}}, []string{"error: client secret: secret deleted in Entra"}},
		{"not connected", Integration{Connectivity: &Connectivity{State: "Missing permissions", Message: "AuditLog.Read.All"}}, []string{"error: connectivity: Missing permissions — AuditLog.Read.All"}},
		{"failing and behind, errors first", Integration{DataTypes: []DataType{
			{Name: "directoryAudits", Mode: "buckets", State: cursor.StateOK, LagSeconds: lp(3 * 3600)},
			{Name: "users", Mode: "delta", State: cursor.StateOK, LagSeconds: lp(49 * 3600)},
			{Name: "groups", Mode: "delta", State: cursor.StateOK, LagSeconds: lp(47 * 3600)},
			{Name: "provisioning", Mode: "buckets", State: cursor.StateError, LastError: "provisioning bucket x: graph server-error [request-id r9]"},
			{Name: "signIns.managedIdentity", Mode: "buckets", State: cursor.StateNotLicensed, LagSeconds: lp(99 * 3600)},
		}}, []string{"error: provisioning bucket x: graph server-error [request-id r9]", "warning: directoryAudits is 3h 0m behind", "warning: users: last round 2d 1h ago"}},
		{"admins without MFA", Integration{Insights: &insights.Report{Date: "2026-01-10", MFA: insights.MFA{AdminsWithoutMFA: 2}}}, []string{"warning: 2 admins without MFA (insights of 2026-01-10)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range alerts(&tc.in, now) {
				got = append(got, string(a.Severity)+": "+a.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDaysLeft(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int
	}{{30*24*time.Hour + time.Minute, 30}, {24 * time.Hour, 1}, {time.Hour, 0}, {0, 0}, {-time.Minute, -1}, {-25 * time.Hour, -2}} {
		if got := daysLeft(now.Add(tc.in), now); got != tc.want {
			t.Errorf("daysLeft(now%+v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for s, want := range map[int64]string{0: "0s", 59: "59s", 60: "1m", 3599: "59m", 3600: "1h 0m", 12000: "3h 20m", 86400: "1d 0h", 90061: "1d 1h"} {
		if got := Duration(s); got != want {
			t.Errorf("Duration(%d) = %q, want %q", s, got, want)
		}
	}
}

// BenchmarkRender renders the page and encodes the JSON of a large deployment: 50 integrations × 30 data types,
// each with runs, alerts and insights.
func BenchmarkRender(b *testing.B) {
	r := sample(50, 30)
	for _, tc := range []struct {
		name string
		run  func(w *bytes.Buffer) error
	}{
		{"html", func(w *bytes.Buffer) error { return r.HTML(w) }},
		{"json", func(w *bytes.Buffer) error { return json.NewEncoder(w).Encode(r) }},
	} {
		b.Run(tc.name+"-50x30", func(b *testing.B) {
			var w bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				w.Reset()
				if err := tc.run(&w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.Len())/1024, "KiB/page")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}
