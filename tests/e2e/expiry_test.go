package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
	"github.com/entra-di/edi/tests/webhooksim"
)

// TestSecretExpiryThroughTheHost runs CheckSecretExpiry in the host simulator against the handler binary: the
// integration's secret expires in 19 days, so two runs send the 30-day alert once to each of a Teams, a Slack and a
// generic JSON webhook (configured as app settings, as Key Vault references resolve to); Status shows the days
// left, the last alert and the warning banner. Once the secret has expired, a collection's token request is refused
// with AADSTS7000222 and the expired alert goes out from CollectWork, before any check runs. The secret scan at the
// end covers the webhook URLs.
func TestSecretExpiryThroughTheHost(t *testing.T) {
	t.Parallel()
	recv := webhooksim.Start()
	t.Cleanup(recv.Close)
	settings := map[string]string{}
	var urls []string
	for n, kind := range []string{webhooksim.Teams, webhooksim.Slack, webhooksim.JSON} {
		u := recv.URL(kind, fmt.Sprintf("e2eT0ken%d%d", n, time.Now().UnixNano()))
		urls = append(urls, u)
		settings[fmt.Sprintf("SECRET_EXPIRY_WEBHOOK_%d", n+1)] = kind + ":" + u
	}
	quiet := entrasim.StreamOptions{Rate: -1}
	env := startScenario(t, scenario.Options{Settings: settings, Tenant: entrasim.Options{Seed: 12, Users: 10,
		SecretLifetime: 20 * 24 * time.Hour, Streams: map[string]entrasim.StreamOptions{"signIns.nonInteractive": quiet,
			"signIns.servicePrincipal": quiet, "signIns.managedIdentity": quiet, "provisioning": quiet}}})
	for n, u := range urls {
		env.Secrets.Add(fmt.Sprintf("webhook URL %d", n+1), u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for range 2 {
		if err := env.CheckSecretExpiry(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := recv.Received()
	if len(got) != 3 || len(recv.Rejected()) > 0 {
		t.Fatalf("received %d (%+v), rejected %v; want the 30-day alert once per webhook", len(got), got, recv.Rejected())
	}
	for _, g := range got {
		if g.Threshold != "30" || !strings.EqualFold(g.SecretID, env.Tenant.SecretID()) || g.Integration != scenario.Integration {
			t.Errorf("%s received %+v", g.Kind, g)
		}
	}

	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodGet, Path: "/api/status",
		Header: http.Header{"x-functions-key": {env.FunctionKey}, "Accept": {"application/json"}}})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("status: %v %+v", err, res)
	}
	var st struct {
		Integrations []struct {
			ID     string `json:"id"`
			Secret *struct {
				DaysLeft  *int `json:"daysLeft"`
				LastAlert *struct {
					Threshold string `json:"threshold"`
				} `json:"lastAlert"`
			} `json:"secret"`
		} `json:"integrations"`
		Alerts []struct {
			Severity, Message string
		} `json:"alerts"`
	}
	if err := json.Unmarshal(res.Body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Integrations) != 1 || st.Integrations[0].Secret == nil || st.Integrations[0].Secret.DaysLeft == nil ||
		*st.Integrations[0].Secret.DaysLeft != 18 && *st.Integrations[0].Secret.DaysLeft != 19 ||
		st.Integrations[0].Secret.LastAlert == nil || st.Integrations[0].Secret.LastAlert.Threshold != "30" {
		t.Fatalf("status integrations: %s", res.Body)
	}
	page, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodGet, Path: "/api/status",
		Header: http.Header{"x-functions-key": {env.FunctionKey}, "Accept": {"text/html"}}})
	if err != nil || !strings.Contains(string(page.Body), "Client Secret Expiring Soon") {
		t.Errorf("the page has no expiry banner (%v)", err)
	}

	// Twenty days on the secret has expired: the collection's token request is refused (AADSTS7000222), which
	// raises the expired alert at once.
	env.Clock.Advance(20 * 24 * time.Hour)
	_ = env.Collect(ctx)
	var expired int
	for _, g := range recv.Received() {
		if g.Threshold == "expired" {
			expired++
		}
	}
	if expired != 3 {
		t.Errorf("expired alerts after a refused collection: %d, want one per webhook", expired)
	}
}
