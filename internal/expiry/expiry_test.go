package expiry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/connect"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/secrets"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/kvsim"
	"github.com/entra-di/edi/tests/secretscan"
	"github.com/entra-di/edi/tests/testca"
	"github.com/entra-di/edi/tests/webhooksim"
)

func TestMain(m *testing.M) { azurite.Main(m) }

const day = 24 * time.Hour

// fixture is the check on real storage (Azurite), the Key Vault stand-in, the simulated tenant on a simulated
// clock, and a local webhook receiver with a Teams, a Slack and a generic JSON webhook.
type fixture struct {
	clock   *entrasim.SimClock
	tn      *entrasim.Tenant
	ca      *testca.CA
	kv      *secrets.Store
	tables  *aztables.ServiceClient
	store   *integrations.Store
	alerts  *Alerts
	recv    *webhooksim.Receiver
	checker *Checker
	scan    *secretscan.Scanner
	logs    *secretscan.Writer
	ctx     context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: entrasim.NewSimClock(time.Now().UTC().Truncate(time.Second)), scan: secretscan.New()}
	var err error
	if f.tn, err = entrasim.Start(&entrasim.Options{Clock: f.clock, Users: 12, History: day}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.tn.Close() })
	if f.ca, err = testca.Shared(); err != nil {
		t.Fatal(err)
	}
	app, err := f.tn.AddApp("entra-data-integration-function-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	vault, err := kvsim.Start(&kvsim.Options{AuthorityURL: f.tn.AuthorityURL(), TenantID: f.tn.TenantID(), Verify: f.tn.Authority().Verify, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vault.Close() })
	identity, err := azidentity.NewClientSecretCredential(f.tn.TenantID(), app.AppID, app.PasswordCredentials[0].SecretText,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.tn.AuthorityURL()}, Transport: f.ca.Client()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	f.scan.Add("function app identity secret", app.PasswordCredentials[0].SecretText)
	if f.kv, err = secrets.New(vault.URL(), identity, &secrets.Options{Transport: f.ca.Client(), Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if f.tables, err = azurite.Shared(t).TableClient(); err != nil {
		t.Fatal(err)
	}
	prefix := azurite.UniqueName(t, "exp")
	f.store = integrations.New(f.tables, prefix+"integ", nil)
	f.alerts = NewAlerts(f.tables, prefix+"alerts")
	for _, e := range []interface{ Ensure(context.Context) error }{f.store, f.alerts} {
		if err := e.Ensure(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f.recv = webhooksim.Start()
	t.Cleanup(f.recv.Close)
	var hooks []config.Webhook
	for n, kind := range []string{webhooksim.Teams, webhooksim.Slack, webhooksim.JSON} {
		token := fmt.Sprintf("tok%dSeCrEt%d", n, time.Now().UnixNano())
		w, err := config.ParseWebhook(fmt.Sprintf("SECRET_EXPIRY_WEBHOOK_%d", n+1), kind+":"+f.recv.URL(kind, token))
		if err != nil {
			t.Fatal(err)
		}
		f.scan.Add("webhook URL "+kind, w.URL)
		f.scan.Add("webhook token "+kind, token)
		hooks = append(hooks, w)
	}
	f.logs = f.scan.Writer("check log", &bytes.Buffer{})
	f.ctx = logging.With(context.Background(), slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f.checker = &Checker{Integrations: f.store, Apps: GraphApps{Client: f.graphClient}, Vault: f.kv, Alerts: f.alerts,
		Webhooks: hooks, Sender: &Sender{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}
	return f
}

// graphClient is a fresh client per check (its token is then fresh for the simulated clock), signing in with the
// integration's pinned Key Vault version as the app does.
func (f *fixture) graphClient(i integrations.Integration) (*graph.Client, error) {
	src := func(ctx context.Context, _ bool) (string, error) {
		return f.kv.GetVersion(ctx, i.SecretName, i.SecretVersion, true)
	}
	cred, err := graph.NewSecretCredential(i.TenantID, i.ClientID, src, &graph.CredentialOptions{AuthorityHost: f.tn.AuthorityURL(), Transport: f.ca.Client()})
	if err != nil {
		return nil, err
	}
	return graph.New(cred, &graph.Options{Endpoint: f.tn.GraphURL(), Transport: f.ca.Client().Transport})
}

// addSecret gives the integration app a new client secret (as an admin would in the portal).
func (f *fixture) addSecret(t *testing.T, lifetime time.Duration) entrasim.PasswordCredential {
	t.Helper()
	s, err := f.tn.AddClientSecret(f.tn.ClientID(), "edi "+f.clock.Now().Format("2006-01-02"), "", lifetime)
	if err != nil {
		t.Fatal(err)
	}
	f.scan.Add("client secret "+s.KeyID, s.SecretText)
	return s
}

// addIntegration stores the secret in Key Vault (expires vaultExpires) and adds the integration to the table.
func (f *fixture) addIntegration(t *testing.T, s entrasim.PasswordCredential, vaultExpires time.Time) integrations.Integration {
	t.Helper()
	i := integrations.Integration{ID: "contoso", Name: "Contoso", TenantID: f.tn.TenantID(), ClientID: f.tn.ClientID(),
		SecretName: "integration-contoso", SecretID: s.KeyID, Permissions: catalog.ReadOnly, Source: "table", Rotate: f.checker.Rotator != nil}
	var err error
	if i.SecretVersion, err = f.kv.Put(f.ctx, i.SecretName, s.SecretText, secrets.PutOptions{Expires: vaultExpires, Tags: map[string]string{"secretId": s.KeyID}}); err != nil {
		t.Fatal(err)
	}
	if i, err = f.store.Create(f.ctx, i); err != nil {
		t.Fatal(err)
	}
	return i
}

// check runs one CheckSecretExpiry at the simulated now.
func (f *fixture) check(t *testing.T) []Result {
	t.Helper()
	res, err := f.checker.Check(f.ctx, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// noSecrets fails when a secret value or webhook URL shows in the logs, the results or the alerts table.
func (f *fixture) noSecrets(t *testing.T, results []Result) {
	t.Helper()
	findings := f.logs.Findings()
	b, _ := json.Marshal(results)
	findings = append(findings, f.scan.Scan("check results", b)...)
	pager := f.tables.NewClient(f.alerts.name).NewListEntitiesPager(nil)
	entities := 0
	for pager.More() {
		page, err := pager.NextPage(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entities {
			entities++
			findings = append(findings, f.scan.Scan("alerts table", e)...)
		}
	}
	if entities == 0 {
		t.Error("the alerts table is empty: the scan looked at nothing")
	}
	if err := secretscan.Check(findings); err != nil {
		t.Error(err)
	}
}

type got struct {
	kind, threshold, secret string
	day                     int
	daysLeft                *int
}

// received is what each webhook got, with the day of the simulated year it arrived on.
func received(t *testing.T, recv *webhooksim.Receiver, dayOf map[string]int) map[string][]got {
	t.Helper()
	out := map[string][]got{}
	for _, r := range recv.Received() {
		g := got{kind: r.Kind, threshold: r.Threshold, secret: r.SecretID}
		if r.Kind == webhooksim.JSON {
			var n Notice
			if err := json.Unmarshal(r.Body, &n); err != nil {
				t.Fatal(err)
			}
			g.daysLeft, g.day = n.DaysLeft, dayOf[n.OccurredAt.UTC().Format(time.RFC3339)]
		}
		out[r.Kind] = append(out[r.Kind], g)
	}
	return out
}

// TestSimulatedYear advances the simulated clock a day at a time for a year: the first secret's thresholds arrive
// once each, in order, at every webhook (the generic one says the days left equal the threshold); the expiry is
// the earlier of Entra's and Key Vault's; the secret expires (Entra refuses it, AADSTS7000222) and the expired
// alert goes out; Reset Credentials switches to a new secret, after which nothing arrives until that secret's own
// thresholds, which then arrive once each too.
func TestSimulatedYear(t *testing.T) {
	f := newFixture(t)
	start := f.clock.Now()
	s1 := f.addSecret(t, 120*day)
	// Key Vault says later: Entra's end is the expiry.
	f.addIntegration(t, s1, s1.EndDateTime.Add(10*day))
	statuses := connect.NewStatuses(f.tables, azurite.UniqueName(t, "expst"))
	if err := statuses.Ensure(f.ctx); err != nil {
		t.Fatal(err)
	}
	svc := &connect.Service{Store: f.store, Statuses: statuses, Vault: f.kv, Tester: connect.NewTester(&connect.Options{
		Graph:      graph.Options{Endpoint: f.tn.GraphURL(), Transport: f.ca.Client().Transport},
		Credential: graph.CredentialOptions{AuthorityHost: f.tn.AuthorityURL(), Transport: f.ca.Client()}, RetryBase: time.Millisecond})}

	dayOf := map[string]int{}
	var s2 entrasim.PasswordCredential
	var all []Result
	for d := 0; d <= 365; d++ {
		now := f.clock.Now()
		dayOf[now.Format(time.RFC3339)] = d
		if d == 130 {
			// The admin adds a second secret (Key Vault will say it expires 5 days before Entra does) and resets.
			s2 = f.addSecret(t, 200*day)
			body, _ := json.Marshal(map[string]string{"secretId": s2.KeyID, "secret": s2.SecretText})
			reset, err := svc.ResetCredentials(f.ctx, "contoso", body, now)
			if err != nil || !reset.Switched {
				t.Fatalf("reset credentials: %+v, %v", reset, err)
			}
			if err := f.kv.Update(f.ctx, "integration-contoso", reset.Integration.SecretVersion, s2.EndDateTime.Add(-5*day), nil); err != nil {
				t.Fatal(err)
			}
		}
		res := f.check(t)
		if len(res) != 1 {
			t.Fatalf("day %d: %d results", d, len(res))
		}
		all = append(all, res...)
		if d == 125 && !strings.Contains(res[0].Problem, "AADSTS7000222") {
			t.Errorf("day 125 (expired secret): problem %q", res[0].Problem)
		}
		if d == 200 && (res[0].Expires == nil || !res[0].Expires.Equal(s2.EndDateTime.Add(-5*day)) || res[0].AppExpires == nil || !res[0].AppExpires.Equal(s2.EndDateTime)) {
			t.Errorf("day 200: expires %v (app %v), want Key Vault's %v", res[0].Expires, res[0].AppExpires, s2.EndDateTime.Add(-5*day))
		}
		if d < 365 {
			f.clock.Advance(day)
		}
	}
	if rej := f.recv.Rejected(); len(rej) > 0 {
		t.Errorf("receiver rejected: %v", rej)
	}
	// Secret 1 expires on day 120, secret 2 (by Key Vault) on day 130+195 = 325.
	type want struct {
		threshold string
		day       int
	}
	var wants []want
	for _, s := range []struct{ secret, end int }{{1, 120}, {2, 325}} {
		for _, th := range DefaultThresholds {
			wants = append(wants, want{strconv.Itoa(th), s.end - th})
		}
		wants = append(wants, want{Expired, s.end})
		_ = s.secret
	}
	byKind := received(t, f.recv, dayOf)
	for _, kind := range []string{webhooksim.Teams, webhooksim.Slack, webhooksim.JSON} {
		gs := byKind[kind]
		var seq []string
		for _, g := range gs {
			seq = append(seq, g.threshold)
		}
		wantSeq := []string{"90", "30", "14", "7", "1", "expired", "90", "30", "14", "7", "1", "expired"}
		if strings.Join(seq, ",") != strings.Join(wantSeq, ",") {
			t.Errorf("%s received %v, want %v", kind, seq, wantSeq)
			continue
		}
		for n, g := range gs {
			secret := s1.KeyID
			if n >= 6 {
				secret = s2.KeyID
			}
			if !strings.EqualFold(g.secret, secret) {
				t.Errorf("%s alert %d (%s) names secret %s, want %s", kind, n, g.threshold, g.secret, secret)
			}
			if kind != webhooksim.JSON {
				continue
			}
			if g.day != wants[n].day {
				t.Errorf("%s alert %s of secret %d on day %d, want day %d", kind, g.threshold, n/6+1, g.day, wants[n].day)
			}
			if th, err := strconv.Atoi(g.threshold); err == nil && (g.daysLeft == nil || *g.daysLeft != th) {
				t.Errorf("alert %s says %v days left", g.threshold, g.daysLeft)
			}
		}
	}
	// Status's view: the last check has the last alert (expired of secret 2).
	last, err := f.alerts.GetResult(f.ctx, "contoso")
	if err != nil || last == nil || last.LastAlert == nil || last.LastAlert.Threshold != Expired || !strings.EqualFold(last.SecretID, s2.KeyID) {
		t.Errorf("last result %+v, %v", last, err)
	}
	_ = start
	f.noSecrets(t, all)
}

// TestWebhookDown: the receiver is down for three days when the 14-day threshold is due; the alert is retried
// each day, never marked sent, and arrives once when the receiver is back.
func TestWebhookDown(t *testing.T) {
	f := newFixture(t)
	s := f.addSecret(t, 20*day)
	f.addIntegration(t, s, time.Time{})
	f.checker.Thresholds = []int{14, 7}
	f.check(t) // 20 days left: nothing due
	f.clock.Advance(6 * day)
	f.recv.SetDown(true)
	for d := 0; d < 3; d++ {
		res := f.check(t)
		if len(res[0].Sent) != 0 || len(res[0].Failed) != 3 || res[0].Due != "14" {
			t.Fatalf("down day %d: %+v", d, res[0])
		}
		ds, err := f.alerts.Deliveries(f.ctx, "contoso")
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range ds {
			if dl.State != Failed || dl.Attempts != d+1 || dl.LastError == "" {
				t.Errorf("down day %d: delivery %+v", d, dl)
			}
		}
		f.clock.Advance(day)
	}
	if got := len(f.recv.Received()); got != 0 {
		t.Fatalf("%d received while down", got)
	}
	f.recv.SetDown(false)
	for d := 0; d < 2; d++ { // back: sent once, not again the next day
		f.check(t)
		f.clock.Advance(day)
	}
	gs := f.recv.Received()
	if len(gs) != 3 {
		t.Fatalf("received %d after the outage, want 3 (one per webhook)", len(gs))
	}
	for _, g := range gs {
		if g.Threshold != "14" {
			t.Errorf("%s received %s", g.Kind, g.Threshold)
		}
	}
	ds, _ := f.alerts.Deliveries(f.ctx, "contoso")
	for _, dl := range ds {
		if dl.State != Sent || dl.Attempts != 4 {
			t.Errorf("delivery %+v, want sent after 4 attempts", dl)
		}
	}
	f.noSecrets(t, nil)
}

// TestRetries: a 429 and a 503 are retried within one send; a 400 is not (and is retried on the next run).
func TestRetries(t *testing.T) {
	f := newFixture(t)
	s := f.addSecret(t, 10*day)
	f.addIntegration(t, s, time.Time{})
	f.checker.Webhooks = f.checker.Webhooks[2:] // the generic one
	f.checker.Sender.MaxBackoff = 5 * time.Millisecond
	f.recv.FailNext(http.StatusTooManyRequests, http.StatusServiceUnavailable)
	res := f.check(t)
	if len(res[0].Sent) != 1 || f.recv.Requests() != 3 {
		t.Fatalf("after 429, 503: %+v, %d requests", res[0], f.recv.Requests())
	}
	f.clock.Advance(4 * day) // 6 days left: the 7-day threshold
	f.recv.FailNext(http.StatusBadRequest)
	res = f.check(t)
	if len(res[0].Failed) != 1 || f.recv.Requests() != 4 {
		t.Fatalf("after 400: %+v, %d requests (a 400 is not retried at once)", res[0], f.recv.Requests())
	}
	res = f.check(t)
	if len(res[0].Sent) != 1 {
		t.Fatalf("next run: %+v", res[0])
	}
}

// TestConcurrentChecks: several CheckSecretExpiry at the same time send each alert once per webhook.
func TestConcurrentChecks(t *testing.T) {
	f := newFixture(t)
	s := f.addSecret(t, 100*day)
	f.addIntegration(t, s, time.Time{})
	for _, advance := range []time.Duration{10 * day, 60 * day, 16 * day, 7 * day} { // 90, 30, 14, 7 days left
		f.clock.Advance(advance)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.checker.Check(f.ctx, f.clock.Now()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	counts := map[string]int{}
	for _, r := range f.recv.Received() {
		counts[r.Kind+" "+r.Threshold]++
	}
	for _, kind := range []string{webhooksim.Teams, webhooksim.Slack, webhooksim.JSON} {
		for _, th := range []string{"90", "30", "14", "7"} {
			if counts[kind+" "+th] != 1 {
				t.Errorf("%s %s received %d times, want once", kind, th, counts[kind+" "+th])
			}
		}
	}
	if len(f.recv.Received()) != 12 {
		t.Errorf("received %d, want 12", len(f.recv.Received()))
	}
}

// TestDeletedAndNoSecret: a Secret ID removed from the app is its own alert ("secret deleted in Entra"), once; a
// managed-identity integration has nothing to expire and says so.
func TestDeletedAndNoSecret(t *testing.T) {
	f := newFixture(t)
	keep := f.addSecret(t, 300*day)
	gone := f.addSecret(t, 300*day)
	i := f.addIntegration(t, gone, time.Time{})
	// The integration signs in with the secret that stays (so Graph can be read) but names the removed one.
	i.SecretVersion, _ = f.kv.Put(f.ctx, i.SecretName, keep.SecretText, secrets.PutOptions{})
	if _, err := f.store.Update(f.ctx, i); err != nil {
		t.Fatal(err)
	}
	if err := f.tn.RemoveClientSecret(f.tn.ClientID(), gone.KeyID); err != nil {
		t.Fatal(err)
	}
	mi := integrations.Integration{ID: "fabrikam", Name: "Fabrikam", TenantID: f.tn.TenantID(), ClientID: f.tn.ClientID(),
		Credential: integrations.ManagedIdentity, Permissions: catalog.ReadOnly, Source: "table"}
	if _, err := f.store.Create(f.ctx, mi); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res := f.check(t)
		byID := map[string]Result{}
		for _, r := range res {
			byID[r.Integration] = r
		}
		if r := byID["contoso"]; r.Problem != "secret deleted in Entra" || r.Due != Deleted {
			t.Errorf("contoso %+v", r)
		}
		if r := byID["fabrikam"]; r.Note == "" || r.Due != "" || r.Expires != nil {
			t.Errorf("fabrikam %+v", r)
		}
		f.clock.Advance(day)
	}
	gs := f.recv.Received()
	if len(gs) != 3 {
		t.Fatalf("received %d, want the deleted alert once per webhook", len(gs))
	}
	for _, g := range gs {
		if g.Threshold != Deleted || !strings.EqualFold(g.SecretID, gone.KeyID) {
			t.Errorf("%s got %s for %s", g.Kind, g.Threshold, g.SecretID)
		}
	}
}

// TestDue is the threshold rule.
func TestDue(t *testing.T) {
	exp := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	th := []int{90, 30, 14, 7, 1}
	for _, c := range []struct {
		now  time.Time
		want string
	}{
		{exp.Add(-91 * day), ""},
		{exp.Add(-90*day - time.Hour), "90"},
		{exp.Add(-90 * day), "90"},
		{exp.Add(-31 * day), "90"},
		{exp.Add(-30 * day), "30"},
		{exp.Add(-10 * day), "14"}, // first seen with 10 days left: only the tightest
		{exp.Add(-2 * day), "7"},
		{exp.Add(-time.Hour), "1"},
		{exp, Expired},
		{exp.Add(40 * day), Expired},
	} {
		if got := Due(exp, c.now, th); got != c.want {
			t.Errorf("Due at %v before expiry = %q, want %q", exp.Sub(c.now), got, c.want)
		}
	}
}

// TestPayloads: the three kinds' bodies as the receiver checks them; none carries a URL.
func TestPayloads(t *testing.T) {
	days := 14
	exp := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	n := Notice{ID: "exp_1", Type: TypeExpiring, OccurredAt: exp.Add(-14 * day), IntegrationID: "contoso", TenantID: "t",
		ClientID: "c", SecretID: "k", ExpiresAt: &exp, DaysLeft: &days, Threshold: "14", HowToRotate: "do it"}
	for _, kind := range []string{config.WebhookTeams, config.WebhookSlack, config.WebhookJSON} {
		b, err := Payload(kind, n)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) || !strings.Contains(string(b), "14") {
			t.Errorf("%s: %s", kind, b)
		}
	}
	if _, err := Payload("email", n); err == nil {
		t.Error("unknown kind accepted")
	}
}
