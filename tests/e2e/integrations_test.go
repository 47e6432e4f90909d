package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// apiJSON decodes an API answer, failing the test on an unexpected status.
func apiJSON(t *testing.T, res *hostsim.HTTPResult, err error, status int, v any) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != status {
		t.Fatalf("answered %d, want %d: %s", res.StatusCode, status, res.Body)
	}
	if v != nil {
		if err := json.Unmarshal(res.Body, v); err != nil {
			t.Fatalf("answer %s: %v", res.Body, err)
		}
	}
}

type connectivity struct {
	State     string    `json:"state"`
	Message   string    `json:"message"`
	Code      string    `json:"code"`
	TestedAt  time.Time `json:"testedAt"`
	DataTypes []struct {
		DataType, Outcome string
	} `json:"dataTypes"`
}

type integrationView struct {
	ID            string        `json:"id"`
	SecretVersion string        `json:"secretVersion"`
	SecretExpires *time.Time    `json:"secretExpires"`
	Mode          string        `json:"mode"`
	Connectivity  *connectivity `json:"connectivity"`
}

// TestIntegrationsAPIFlow is the Add Integration flow through the HTTP API under the host simulator: add with a
// wrong secret (stored with its diagnosis, nothing collected), Reset Credentials to the right one (collection
// starts), a wrong reset (refused; the old secret keeps working), a rotation to a second secret (collection goes
// on without a restart, the old Key Vault version is never read again, even after the old secret is removed from
// the app), roles, the daily re-test, delete. The secret scanner checks every reply, log, table, blob and queue
// message at the end.
func TestIntegrationsAPIFlow(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{APIIntegration: true, Settings: shortSettings,
		Tenant: short(entrasim.Options{Seed: 44, Users: 20, LateShare: -1, Streams: map[string]entrasim.StreamOptions{
			"signIns.interactive": {Rate: 4}, "signIns.nonInteractive": {Rate: 6}, "signIns.servicePrincipal": {Rate: 2},
			"signIns.managedIdentity": {Rate: 2}, "directoryAudits": {Rate: 2}, "provisioning": {Rate: 1}}})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const wrong, alsoWrong = "Wr0ng~value-typed-by-the-admin.0", "An0ther~wrong-value-for-reset.9"
	env.Secrets.Add("wrong client secret", wrong)
	env.Secrets.Add("second wrong client secret", alsoWrong)
	secretName := "integration-" + scenario.Integration
	body := map[string]any{"id": scenario.Integration, "name": "Contoso", "tenantId": env.Tenant.TenantID(), "clientId": env.Tenant.ClientID(),
		"secretId": env.Tenant.SecretID(), "secret": wrong}

	// Only an administrator adds integrations.
	for _, role := range []access.Role{access.Reader, access.Helpdesk} {
		res, err := env.API(ctx, http.MethodPost, "/api/integrations", body, role)
		apiJSON(t, res, err, http.StatusForbidden, nil)
	}
	if len(env.Vault.SecretVersions(secretName)) != 0 {
		t.Fatal("a refused request wrote the secret")
	}

	var created struct {
		Integration  integrationView `json:"integration"`
		Connectivity connectivity    `json:"connectivity"`
	}
	res, err := env.API(ctx, http.MethodPost, "/api/integrations", body, access.Admin)
	apiJSON(t, res, err, http.StatusCreated, &created)
	if created.Connectivity.State != "Invalid credentials" || created.Connectivity.Code != "AADSTS7000215" ||
		!strings.Contains(created.Connectivity.Message, "AADSTS7000215") {
		t.Fatalf("connectivity %+v", created.Connectivity)
	}
	v1 := created.Integration.SecretVersion
	if versions := env.Vault.SecretVersions(secretName); len(versions) != 1 || versions[0].Version != v1 || versions[0].Tags["secretId"] != env.Tenant.SecretID() {
		t.Fatalf("Key Vault %+v, integration pins %q", versions, v1)
	}
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, dt := range catalog.DataTypes {
		if c, _ := env.Cursor(ctx, dt.Name); c.Started() {
			t.Errorf("%s collected with refused credentials", dt.Name)
		}
	}

	// The help desk may test and collect, not reset; a reader only reads.
	res, err = env.API(ctx, http.MethodPost, "/api/integrations/default/test", nil, access.Helpdesk)
	var tested connectivity
	apiJSON(t, res, err, http.StatusOK, &tested)
	if tested.State != "Invalid credentials" {
		t.Errorf("test: %+v", tested)
	}
	res, err = env.API(ctx, http.MethodPost, "/api/integrations/default/credentials", map[string]string{"secretId": env.Tenant.SecretID(), "secret": env.Tenant.ClientSecret()}, access.Helpdesk)
	apiJSON(t, res, err, http.StatusForbidden, nil)
	for _, call := range []struct{ method, path string }{{http.MethodPost, "/api/integrations/default/test"}, {http.MethodPost, "/api/integrations/default/collect"},
		{http.MethodPatch, "/api/integrations/default"}, {http.MethodDelete, "/api/integrations/default"}} {
		res, err = env.API(ctx, call.method, call.path, map[string]string{}, access.Reader)
		apiJSON(t, res, err, http.StatusForbidden, nil)
	}
	var list struct{ Integrations []integrationView }
	res, err = env.API(ctx, http.MethodGet, "/api/integrations", nil, access.Reader)
	apiJSON(t, res, err, http.StatusOK, &list)
	if len(list.Integrations) != 1 || list.Integrations[0].SecretVersion != v1 {
		t.Errorf("list %+v", list)
	}

	reset := func(secretID, secret string, status int) map[string]any {
		t.Helper()
		var out map[string]any
		res, err := env.API(ctx, http.MethodPost, "/api/integrations/default/credentials", map[string]string{"secretId": secretID, "secret": secret}, access.Admin)
		apiJSON(t, res, err, status, &out)
		return out
	}
	out := reset(env.Tenant.SecretID(), env.Tenant.ClientSecret(), http.StatusOK)
	if out["switched"] != true {
		t.Fatalf("reset %v", out)
	}
	start := env.Clock.Now()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	verifyArchive(t, env, start)

	// A wrong reset is refused; the integration keeps its secret and collection goes on with it.
	versions := len(env.Vault.SecretVersions(secretName))
	out = reset(env.Tenant.SecretID(), alsoWrong, http.StatusUnprocessableEntity)
	if out["switched"] != false || !strings.Contains(out["reason"].(string), "AADSTS7000215") || len(env.Vault.SecretVersions(secretName)) != versions {
		t.Fatalf("wrong reset %v", out)
	}
	env.Clock.Advance(2 * time.Hour)
	start = env.Clock.Now()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	verifyArchive(t, env, start)

	// Rotation: the admin adds a second secret, resets to it and removes the first from the app registration.
	second, err := env.Tenant.AddClientSecret(env.Tenant.ClientID(), "rotated", "", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	env.Secrets.Add("rotated client secret", second.SecretText)
	out = reset(second.KeyID, second.SecretText, http.StatusOK)
	integ := out["integration"].(map[string]any)
	current := integ["secretVersion"].(string)
	if out["switched"] != true || integ["secretId"] != second.KeyID {
		t.Fatalf("rotation %v", out)
	}
	mark := len(env.Vault.Reads())
	if err := env.Tenant.RemoveClientSecret(env.Tenant.ClientID(), env.Tenant.SecretID()); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(2 * time.Hour)
	start = env.Clock.Now()
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	verifyArchive(t, env, start)
	reads := env.Vault.Reads()[mark:]
	for _, r := range reads {
		if r.Name == secretName && r.Version != current {
			t.Errorf("version %s read after the switch to %s", r.Version, current)
		}
	}
	t.Logf("%d Key Vault reads after the rotation, all of version %s", len(reads), current)
	runs, err := env.Runs(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Outcome != "ok" {
			t.Errorf("run after the rotation: %+v", r)
		}
	}

	// Status shows the connectivity per integration and per data type.
	var st struct {
		Integrations []struct {
			Connectivity *struct{ State string } `json:"connectivity"`
			DataTypes    []struct {
				DataType, Connectivity string
				Collected              bool
			} `json:"dataTypes"`
		} `json:"integrations"`
	}
	res, err = env.API(ctx, http.MethodGet, "/api/status", nil, "")
	apiJSON(t, res, err, http.StatusOK, &st)
	if len(st.Integrations) != 1 || st.Integrations[0].Connectivity == nil || st.Integrations[0].Connectivity.State != "Connected" {
		t.Fatalf("status %s", res.Body)
	}
	for _, d := range st.Integrations[0].DataTypes {
		if d.DataType == "signIns.interactive" && (d.Connectivity != "ok" || !d.Collected) {
			t.Errorf("status of %s: %+v", d.DataType, d)
		}
	}

	// Managed mode re-tests daily: a day later the timer plans a test.
	var before integrationView
	res, err = env.API(ctx, http.MethodGet, "/api/integrations/default", nil, access.Reader)
	apiJSON(t, res, err, http.StatusOK, &before)
	env.Clock.Advance(25 * time.Hour)
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	var after integrationView
	res, err = env.API(ctx, http.MethodGet, "/api/integrations/default", nil, access.Reader)
	apiJSON(t, res, err, http.StatusOK, &after)
	if after.Connectivity == nil || !after.Connectivity.TestedAt.After(before.Connectivity.TestedAt.Add(24*time.Hour)) {
		t.Errorf("not re-tested: %v then %v", before.Connectivity.TestedAt, after.Connectivity)
	}

	// Delete: integration and secret go (the secret soft-deleted), the archive stays, work for it stops.
	var del struct{ Deleted, SecretDeleted bool }
	res, err = env.API(ctx, http.MethodDelete, "/api/integrations/default", nil, access.Admin)
	apiJSON(t, res, err, http.StatusOK, &del)
	if !del.Deleted || !del.SecretDeleted || !env.Vault.Deleted(secretName) {
		t.Fatalf("delete %+v", del)
	}
	res, err = env.API(ctx, http.MethodDelete, "/api/integrations/default", nil, access.Admin)
	apiJSON(t, res, err, http.StatusOK, &del)
	if del.Deleted || del.SecretDeleted {
		t.Errorf("second delete %+v", del)
	}
	res, err = env.API(ctx, http.MethodPost, "/api/integrations/default/collect", nil, access.Admin)
	apiJSON(t, res, err, http.StatusNotFound, nil)
	c, err := env.Cursor(ctx, "signIns.interactive")
	if err != nil || c.Records == 0 {
		t.Errorf("archive state gone after delete: %v %v", c, err)
	}
	inv, err := env.Host.Timer(ctx, "CollectLogs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.QueueWrites) != 0 {
		t.Errorf("work planned for a deleted integration: %+v", inv.QueueWrites)
	}
}

func verifyArchive(t *testing.T, env *scenario.Env, asOf time.Time) {
	t.Helper()
	reports, err := env.VerifyAsOf(context.Background(), false, asOf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if !r.OK() || r.Records == 0 {
			t.Errorf("%s: %+v", r.DataType, r)
		}
	}
}
