package e2e

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// perObjectPaths are the request paths of the opt-in per-object data types.
var perObjectPaths = []string{"/mailboxSettings", "/synchronization/jobs", "/authentication/methods"}

// perObjectRequests counts the simulator's requests to each per-object endpoint.
func perObjectRequests(env *scenario.Env) map[string]int {
	out := map[string]int{}
	for _, r := range env.Tenant.Requests() {
		for _, p := range perObjectPaths {
			if strings.HasSuffix(r.Path, p) {
				out[p]++
			}
		}
	}
	return out
}

// TestPerObjectDataOptIn shows the targeted per-object data types (mailboxSettings, synchronizationJobs,
// authenticationMethods) off by default — managed mode collects and probes them with not one request — refused
// with the field named when the input is wrong, and, once switched on in custom mode, each collected exactly as the
// tenant has it: every user once with its mailbox settings or recorded without a mailbox, at most 4 mailbox
// requests in flight (measured at the simulator, which refuses a fifth as Outlook does), every provisioning job of
// every service principal once, and the authentication methods of the listed users only.
func TestPerObjectDataOptIn(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{APIIntegration: true, Settings: shortSettings,
		Tenant: short(entrasim.Options{Seed: 61, Users: 40, Apps: 40, LateShare: -1})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Off: managed mode neither probes nor collects them.
	if _, err := env.PostIntegration(ctx, env.Tenant.ClientSecret(), nil); err != nil {
		t.Fatal(err)
	}
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := perObjectRequests(env); len(n) > 0 {
		t.Fatalf("off, yet requested: %v", n)
	}
	for _, name := range []string{"mailboxSettings", "synchronizationJobs", "authenticationMethods"} {
		if c, err := env.Cursor(ctx, name); err != nil || c.Started() {
			t.Fatalf("%s collected while off: %+v %v", name, c, err)
		}
	}

	truth := env.Tenant.MailboxTruth()
	users := slices.Sorted(maps.Keys(truth))
	listed := []string{users[0], users[3], scenario.NoSuchUser}

	// Bad input is refused naming the field, and changes nothing.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"mode": "custom", "dataTypes": map[string]bool{"authenticationMethods": true}}, "authenticationMethodsUsers"},
		{map[string]any{"authenticationMethodsUsers": []string{"not a user"}}, "authenticationMethodsUsers[0]"},
		{map[string]any{"authenticationMethodsUsers": []string{users[0], strings.ToUpper(users[0])}}, "authenticationMethodsUsers[1]"},
		{map[string]any{"authenticationMethodsUsers": "someone"}, "authenticationMethodsUsers"},
		{map[string]any{"mode": "custom", "dataTypes": map[string]bool{"mailboxSetting": true}}, "dataTypes"},
	} {
		res, err := env.API(ctx, http.MethodPatch, "/api/integrations/"+scenario.Integration, c.body, access.Admin)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(res.Body), c.field) {
			t.Errorf("PATCH %v: %d %s, want 400 naming %s", c.body, res.StatusCode, res.Body, c.field)
		}
	}
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if n := perObjectRequests(env); len(n) > 0 {
		t.Fatalf("refused input switched something on: %v", n)
	}

	// On: custom mode with the directory and the three opt-in data types.
	on := map[string]bool{"users": true, "groups": true, "servicePrincipals": true, "mailboxSettings": true,
		"synchronizationJobs": true, "authenticationMethods": true}
	res, err := env.API(ctx, http.MethodPatch, "/api/integrations/"+scenario.Integration,
		map[string]any{"mode": "custom", "dataTypes": on, "authenticationMethodsUsers": listed}, access.Admin)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH custom: %v %d %s", err, res.StatusCode, res.Body)
	}
	env.Tenant.ResetCounters()
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	checkPerObjectData(t, env, ctx, listed)
	peak, refused := env.Tenant.MailboxConcurrency(env.Tenant.ClientID())
	if peak > entrasim.OutlookConcurrency || refused > 0 {
		t.Errorf("%d mailbox requests in flight at once (%d refused), Outlook allows %d", peak, refused, entrasim.OutlookConcurrency)
	}
	if peak < 2 {
		t.Errorf("never more than %d mailbox request in flight: the reads are not concurrent", peak)
	}
	if n := perObjectRequests(env)["/authentication/methods"]; n != 2 {
		t.Errorf("%d authentication-method requests, want one per listed user that exists (2)", n)
	}
}

// checkPerObjectData compares the newest snapshot of each per-object data type with the tenant
// (scenario.VerifyPerObject): every user's mailbox once (or its absence), every provisioning job once, the listed
// users' authentication methods only — and the tenant has what makes the comparison show something: users with and
// without a mailbox, provisioning jobs, listed users with methods and one that does not exist.
func checkPerObjectData(t *testing.T, env *scenario.Env, ctx context.Context, listed []string) {
	t.Helper()
	reports, err := env.VerifyPerObject(ctx, listed)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]scenario.Report{}
	for _, r := range reports {
		got[r.DataType] = r
		t.Logf("%s extra=%d absent=%d", r.Line(), r.Extra, r.Absent)
		if !r.OK() || r.Records == 0 {
			t.Errorf("%s extra=%d state=%q: %v", r.Line(), r.Extra, r.State, r.Examples)
		}
	}
	if len(got) != len(scenario.PerObjectDataTypes) {
		t.Fatalf("reports for %v, want %v", slices.Sorted(maps.Keys(got)), scenario.PerObjectDataTypes)
	}
	if mb := got["mailboxSettings"]; mb.Absent == 0 || mb.Absent == mb.Records {
		t.Errorf("%d users with a mailbox, %d without: the tenant should have both", mb.Records-mb.Absent, mb.Absent)
	}
	peak, refused := env.Tenant.MailboxConcurrency(env.Tenant.ClientID())
	t.Logf("mailboxSettings: at most %d requests in flight, %d refused", peak, refused)
	if am := got["authenticationMethods"]; am.Records != len(listed) || am.Absent != 1 {
		t.Errorf("authentication methods of %d users (%d absent), want the %d listed, one of them absent", am.Records, am.Absent, len(listed))
	}
	for _, u := range listed {
		if u == scenario.NoSuchUser {
			continue
		}
		if ms, _, err := env.Tenant.AuthMethods(u); err != nil || len(ms) == 0 {
			t.Errorf("listed user %s: methods %v (%v): the comparison shows nothing", u, ms, err)
		}
	}
}

// TestPerObjectDataUnderFaults collects the three per-object data types while Graph fails: 503s, connection
// resets and 429 storms on the users' and the service principals' paths (the target lists and the per-object
// requests), and Outlook's own concurrency refusals. A failed page is read again from its target page, never half
// kept: the snapshots end exactly as the tenant is (no user or job lost or twice).
func TestPerObjectDataUnderFaults(t *testing.T) {
	t.Parallel()
	faults := []entrasim.FaultRule{
		{Kind: entrasim.FaultStatus, Status: 503, Path: "/v1.0/users", Every: 5},
		{Kind: entrasim.FaultReset, Path: "/v1.0/users", Every: 7},
		{Kind: entrasim.FaultThrottle, Path: "/v1.0/users", Every: 11, Storm: 3, RetryAfter: 100 * time.Millisecond},
		{Kind: entrasim.FaultStatus, Status: 500, Path: "/v1.0/servicePrincipals", Every: 4},
		{Kind: entrasim.FaultReset, Path: "/v1.0/servicePrincipals", Every: 9},
	}
	env := startScenario(t, scenario.Options{APIIntegration: true, Settings: shortSettings,
		Tenant: short(entrasim.Options{Seed: 62, Users: 40, Apps: 40, LateShare: -1, Faults: faults})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	users := slices.Sorted(maps.Keys(env.Tenant.MailboxTruth()))
	listed := []string{users[1], users[2], scenario.NoSuchUser}
	on := map[string]bool{"mailboxSettings": true, "synchronizationJobs": true, "authenticationMethods": true}
	if _, err := env.PostIntegration(ctx, env.Tenant.ClientSecret(), map[string]any{"mode": "custom", "dataTypes": on,
		"authenticationMethodsUsers": listed}); err != nil {
		t.Fatal(err)
	}
	done := func() bool {
		for name := range on {
			if c, err := env.Cursor(ctx, name); err != nil || c.LastFull.IsZero() {
				return false
			}
		}
		return true
	}
	for i := 0; !done(); i++ {
		if i == 8 {
			for name := range on {
				c, _ := env.Cursor(ctx, name)
				t.Log(scenario.Describe(c))
			}
			t.Fatal("the per-object snapshots did not finish in 8 rounds of collection under faults")
		}
		if err := env.CollectDirectory(ctx); err != nil {
			t.Fatal(err)
		}
		if err := env.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(10 * time.Minute)
	}
	faulted := 0
	for _, r := range env.Tenant.Requests() {
		if r.Fault != "" {
			faulted++
		}
	}
	t.Logf("%d requests faulted", faulted)
	if faulted == 0 {
		t.Fatal("no fault was applied: the test shows nothing")
	}
	checkPerObjectData(t, env, ctx, listed)
}
