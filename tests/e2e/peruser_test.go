package e2e

import (
	"context"
	"encoding/json"
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

// ghostUser is a listed user the tenant does not have.
const ghostUser = "0badc0de-0000-4000-8000-000000000000"

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
	listed := []string{users[0], users[3], ghostUser}

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

// checkPerObjectData compares the newest snapshot of each per-object data type with the tenant: every user's
// mailbox once (or its absence), every provisioning job once, the listed users' authentication methods only.
func checkPerObjectData(t *testing.T, env *scenario.Env, ctx context.Context, listed []string) {
	t.Helper()
	truth := env.Tenant.MailboxTruth()

	// mailboxSettings: every user once, with the tenant's settings or recorded without a mailbox.
	type mailboxRecord struct {
		ID              string
		MailboxSettings *struct{ TimeZone string }
		Absent          *struct{ Code string }
	}
	seen := map[string]int{}
	withBox, without := 0, 0
	for _, raw := range newestRound(t, env, ctx, "mailboxSettings") {
		var r mailboxRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		seen[r.ID]++
		want, ok := truth[r.ID]
		switch {
		case !ok:
			t.Errorf("mailboxSettings of %s, no user of the tenant", r.ID)
		case want == "" && (r.Absent == nil || r.Absent.Code != "MailboxNotEnabledForRESTAPI" || r.MailboxSettings != nil):
			t.Errorf("user %s has no mailbox; archived %s", r.ID, raw)
		case want != "" && (r.MailboxSettings == nil || r.MailboxSettings.TimeZone != want):
			t.Errorf("user %s: archived %s, want time zone %q", r.ID, raw, want)
		case want == "":
			without++
		default:
			withBox++
		}
	}
	for id := range truth {
		if seen[id] != 1 {
			t.Errorf("user %s archived %d times in mailboxSettings, want once", id, seen[id])
		}
	}
	if withBox == 0 || without == 0 {
		t.Errorf("%d users with a mailbox, %d without: the tenant should have both", withBox, without)
	}
	peak, refused := env.Tenant.MailboxConcurrency(env.Tenant.ClientID())
	t.Logf("mailboxSettings: %d users with a mailbox, %d without; at most %d requests in flight, %d refused", withBox, without, peak, refused)

	// synchronizationJobs: every job of every service principal, once.
	want := map[string]bool{}
	for sp, jobs := range env.Tenant.SynchronizationJobs() {
		for _, j := range jobs {
			want[sp+"/"+j] = true
		}
	}
	got := map[string]int{}
	for _, raw := range newestRound(t, env, ctx, "synchronizationJobs") {
		var r struct {
			ID, ServicePrincipalID string
			Job                    struct{ ID, TemplateID string }
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		got[r.ID]++
		if r.ID != r.ServicePrincipalID+"/"+r.Job.ID || r.Job.TemplateID == "" {
			t.Errorf("synchronization job record %s", raw)
		}
	}
	if len(want) == 0 {
		t.Fatal("the tenant has no provisioning jobs: the test shows nothing")
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("job %s archived %d times, want once", id, got[id])
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("job %s archived, not in the tenant", id)
		}
	}
	t.Logf("synchronizationJobs: %d jobs", len(got))

	// authenticationMethods: the listed users only; the one that does not exist recorded as such.
	methods := map[string][]string{}
	for _, raw := range newestRound(t, env, ctx, "authenticationMethods") {
		var r struct {
			ID      string
			Methods *[]struct{ ID string }
			Absent  *struct{ Code string }
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if _, dup := methods[r.ID]; dup {
			t.Errorf("user %s archived twice", r.ID)
		}
		methods[r.ID] = []string{}
		if r.Absent != nil {
			methods[r.ID] = append(methods[r.ID], "absent:"+r.Absent.Code)
			continue
		}
		for _, m := range *r.Methods {
			methods[r.ID] = append(methods[r.ID], m.ID)
		}
	}
	if len(methods) != len(listed) {
		t.Errorf("authentication methods of %d users, want the %d listed: %v", len(methods), len(listed), methods)
	}
	for _, u := range listed[:2] {
		ms, _, err := env.Tenant.AuthMethods(u)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		if !slices.Equal(methods[u], ids) || len(ids) == 0 {
			t.Errorf("user %s: archived methods %v, tenant %v", u, methods[u], ids)
		}
	}
	if g := methods[ghostUser]; len(g) != 1 || !strings.HasPrefix(g[0], "absent:") {
		t.Errorf("listed user that does not exist: %v, want recorded absent", g)
	}
}

// newestRound returns the records of a data type's newest finished snapshot round.
func newestRound(t *testing.T, env *scenario.Env, ctx context.Context, dataType string) [][]byte {
	t.Helper()
	store, err := env.Archive()
	if err != nil {
		t.Fatal(err)
	}
	rounds, err := store.Rounds(ctx, scenario.Integration, dataType)
	if err != nil || len(rounds) == 0 {
		c, _ := env.Cursor(ctx, dataType)
		t.Fatalf("%s: no round (%v); cursor %s", dataType, err, scenario.Describe(c))
	}
	var out [][]byte
	for _, p := range rounds[len(rounds)-1].Parts {
		if err := store.ReadRecords(ctx, p.Name, func(b []byte) error {
			out = append(out, slices.Clone(b))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
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
	listed := []string{users[1], users[2], ghostUser}
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
