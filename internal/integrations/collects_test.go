package integrations

import (
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
)

func TestCollects(t *testing.T) {
	at := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	dt := func(name string) catalog.DataType {
		d, ok := catalog.Lookup(name)
		if !ok {
			t.Fatalf("no data type %s", name)
		}
		return d
	}
	tested := &TestSummary{At: at, State: "Connected", TokenOK: true, DataTypes: map[string]string{
		"signIns.interactive": OutcomeOK, "provisioning": OutcomeNotLicensed + "entraP1P2", "users": OutcomeMissingPermission + "User.Read.All",
		"groups": OutcomeError + "HTTP 503", "devices": OutcomeNotAvailable}}
	cases := []struct {
		name   string
		integ  Integration
		dt     string
		ok     bool
		reason string
	}{
		{"managed, untested", Integration{}, "users", true, "not tested yet"},
		{"managed, ok", Integration{LastTest: tested}, "signIns.interactive", true, "ok in the connectivity test of 2026-01-10 12:00Z"},
		{"managed, not licensed", Integration{LastTest: tested}, "provisioning", false, "not-licensed: entraP1P2 (connectivity test of 2026-01-10 12:00Z)"},
		{"managed, missing permission", Integration{LastTest: tested}, "users", false, "missing-permission: User.Read.All"},
		{"managed, undecided probe", Integration{LastTest: tested}, "groups", true, "error: HTTP 503"},
		{"managed, not available", Integration{LastTest: tested}, "devices", false, "not-available"},
		{"managed, not probed", Integration{LastTest: tested}, "applications", false, "not in the connectivity test"},
		{"managed, token refused", Integration{LastTest: &TestSummary{At: at, State: "Invalid credentials"}}, "signIns.interactive", false, "Invalid credentials"},
		{"managed, test undecided", Integration{LastTest: &TestSummary{At: at, State: "Credential unavailable", Undecided: true}}, "signIns.interactive", true,
			"could not decide (Credential unavailable)"},
		{"licence answered no", Integration{Licences: map[catalog.Licence]Answer{catalog.EntraP1P2: No}}, "signIns.interactive", false, "licence entraP1P2 answered no"},
		{"custom, switched on", Integration{Mode: Custom, DataTypes: map[string]bool{"users": true}}, "users", true, "switched on"},
		{"custom, switched off", Integration{Mode: Custom, DataTypes: map[string]bool{"users": false}}, "users", false, "switched off"},
		{"custom, not listed", Integration{Mode: Custom}, "groups", false, "switched off"},
		{"custom, on but unusable", Integration{Mode: Custom, DataTypes: map[string]bool{"users": true}, LastTest: tested}, "users", false,
			"switched on, but missing-permission: User.Read.All"},
		{"custom, on and not probed", Integration{Mode: Custom, DataTypes: map[string]bool{"applications": true}, LastTest: tested}, "applications", true, "switched on"},
		{"opt-in, managed", Integration{LastTest: &TestSummary{At: at, State: "Connected", TokenOK: true, DataTypes: map[string]string{"mailboxSettings": OutcomeOK}}},
			"mailboxSettings", false, "opt-in"},
		{"opt-in, managed, untested", Integration{}, "synchronizationJobs", false, "opt-in"},
		{"opt-in, custom, off", Integration{Mode: Custom, DataTypes: map[string]bool{"users": true}}, "authenticationMethods", false, "opt-in"},
		{"opt-in, custom, on", Integration{Mode: Custom, DataTypes: map[string]bool{"mailboxSettings": true}}, "mailboxSettings", true, "switched on"},
	}
	for _, tc := range cases {
		ok, reason := tc.integ.Collects(dt(tc.dt))
		if ok != tc.ok || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: %v %q, want %v %q", tc.name, ok, reason, tc.ok, tc.reason)
		}
	}
}

func TestTestDue(t *testing.T) {
	at := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	last := &TestSummary{At: at, State: "Connected"}
	for _, tc := range []struct {
		integ Integration
		now   time.Time
		due   bool
	}{
		{Integration{LastTest: last}, at.Add(23 * time.Hour), false},
		{Integration{LastTest: last}, at.Add(24 * time.Hour), true},
		{Integration{}, at.Add(48 * time.Hour), false},  // added through the API: tested when added
		{Integration{Source: SourceSettings}, at, true}, // declared in app settings: the first timer tests it
		{Integration{Source: SourceSettings, Mode: Custom}, at, true},
		{Integration{Source: SourceSettings, Disabled: true}, at, false},
		{Integration{Source: SourceSettings, LastTest: last}, at.Add(time.Hour), false},
		{Integration{LastTest: &TestSummary{At: at, Undecided: true}}, at.Add(59 * time.Minute), false},
		{Integration{LastTest: &TestSummary{At: at, Undecided: true}, Mode: Custom}, at.Add(time.Hour), true}, // repeated in any mode
		{Integration{LastTest: last, Mode: Custom}, at.Add(48 * time.Hour), false},
		{Integration{LastTest: last, Disabled: true}, at.Add(48 * time.Hour), false},
	} {
		if got := tc.integ.TestDue(tc.now); got != tc.due {
			t.Errorf("%+v at %v: due %v, want %v", tc.integ, tc.now, got, tc.due)
		}
	}
}
