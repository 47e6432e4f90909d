package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// TestIntegrationsBadInput sends every field of every Integrations API request wrong, through the host simulator:
// each answer is a 4xx naming the field, and nothing is stored — no integration row, no Key Vault write, no
// change to an existing integration.
func TestIntegrationsBadInput(t *testing.T) {
	t.Parallel()
	env := startScenario(t, scenario.Options{APIIntegration: true, Settings: shortSettings, Tenant: short(entrasim.Options{Seed: 45, Users: 10})})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := env.Tenant
	const typed = "Typed~secret-value-never-stored.1"
	env.Secrets.Add("client secret typed into refused requests", typed)
	valid := func() map[string]any {
		return map[string]any{"id": "fabrikam", "name": "Fabrikam", "tenantId": tn.TenantID(), "clientId": tn.ClientID(), "secretId": tn.SecretID(),
			"secret": typed, "permissions": "read-only", "licences": map[string]string{"entraP1P2": "auto"}, "mode": "custom",
			"dataTypes": map[string]bool{"users": true}, "excludedGroups": []string{}, "excludeGuests": false, "excludeFromLogs": false,
			"schedules": map[string]string{}, "disabled": false}
	}
	with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }
	without := func(k string) map[string]any { m := valid(); delete(m, k); return m }
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	long := strings.Repeat("n", 101)
	guid := "6f1d2c3b-1111-4222-8333-444455556666"

	type call struct {
		name         string
		method, path string
		body         any
		status       int
		field        string
	}
	creates := []call{
		{"name missing", "", "", without("name"), 400, "name"},
		{"name wrong type", "", "", with("name", 42), 400, "name"},
		{"name too long", "", "", with("name", long), 400, "name"},
		{"id not a slug", "", "", with("id", "Fabrikam Inc"), 400, "id"},
		{"id too long", "", "", with("id", strings.Repeat("f", 41)), 400, "id"},
		{"tenantId missing", "", "", without("tenantId"), 400, "tenantId"},
		{"tenantId not a GUID", "", "", with("tenantId", "fabrikam.onmicrosoft.com"), 400, "tenantId"},
		{"tenantId wrong type", "", "", with("tenantId", 7), 400, "tenantId"},
		{"clientId missing", "", "", without("clientId"), 400, "clientId"},
		{"clientId not a GUID", "", "", with("clientId", guid[:30]), 400, "clientId"},
		{"credential unknown", "", "", with("credential", "password"), 400, "credential"},
		{"secretId missing", "", "", without("secretId"), 400, "secretId"},
		{"secretId not a GUID", "", "", with("secretId", "secret-1"), 400, "secretId"},
		{"secret missing", "", "", without("secret"), 400, "secret"},
		{"secret wrong type", "", "", with("secret", []string{typed}), 400, "secret"},
		{"secret too long", "", "", with("secret", strings.Repeat("s", 1025)), 400, "secret"},
		{"secret is the Secret ID", "", "", with("secret", tn.SecretID()), 400, "secret"},
		{"certificate with a secret", "", "", with("certificate", "-----BEGIN CERTIFICATE-----"), 400, "certificate"},
		{"permissions unknown", "", "", with("permissions", "admin"), 400, "permissions"},
		{"licences unknown licence", "", "", with("licences", map[string]string{"m365": "yes"}), 400, "licences"},
		{"licences bad answer", "", "", with("licences", map[string]string{"entraP2": "perhaps"}), 400, "licences.entraP2"},
		{"mode unknown", "", "", with("mode", "smart"), 400, "mode"},
		{"dataTypes unknown data type", "", "", with("dataTypes", map[string]bool{"signIns": true}), 400, "dataTypes"},
		{"dataTypes wrong type", "", "", with("dataTypes", []string{"users"}), 400, "dataTypes"},
		{"excludedGroups not a GUID", "", "", with("excludedGroups", []string{"Admins"}), 400, "excludedGroups[0]"},
		{"excludedGroups wrong type", "", "", with("excludedGroups", guid), 400, "excludedGroups"},
		{"excludeGuests wrong type", "", "", with("excludeGuests", "no"), 400, "excludeGuests"},
		{"excludeFromLogs wrong type", "", "", with("excludeFromLogs", 0), 400, "excludeFromLogs"},
		{"schedules unknown family", "", "", with("schedules", map[string]string{"mail": "1h"}), 400, "schedules"},
		{"schedules bad duration", "", "", with("schedules", map[string]string{"reports": "soon"}), 400, "schedules.reports"},
		{"disabled wrong type", "", "", with("disabled", "true"), 400, "disabled"},
		{"unknown field", "", "", with("clientSecret", typed), 400, "clientSecret"},
		{"null field", "", "", with("name", nil), 400, "name"},
		{"not an object", "", "", raw(`"fabrikam"`), 400, "body"},
		{"oversized body", "", "", with("padding", strings.Repeat("p", 70<<10)), 413, "body"},
	}
	for i := range creates {
		creates[i].method, creates[i].path = http.MethodPost, "/api/integrations"
	}
	send := func(t *testing.T, c call) {
		t.Helper()
		res, err := env.API(ctx, c.method, c.path, c.body, access.Admin)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error, Field string }
		if res.StatusCode != c.status || json.Unmarshal(res.Body, &e) != nil || e.Field != c.field || e.Error == "" {
			t.Errorf("%s %s (%s): %d %s, want %d naming %q", c.method, c.path, c.name, res.StatusCode, res.Body, c.status, c.field)
		}
		if bytes.Contains(res.Body, []byte(typed)) {
			t.Errorf("%s: the answer quotes the secret", c.name)
		}
	}
	for _, c := range creates {
		send(t, c)
	}
	var list struct{ Integrations []json.RawMessage }
	res, err := env.API(ctx, http.MethodGet, "/api/integrations", nil, access.Reader)
	apiJSON(t, res, err, http.StatusOK, &list)
	if len(list.Integrations) != 0 {
		t.Fatalf("refused requests stored integrations: %s", res.Body)
	}
	if n := env.Vault.Counters().ByOperation["SetSecret"]; n != 0 {
		t.Fatalf("refused requests wrote %d secrets", n)
	}

	// An integration that exists: its id cannot be taken again, and bad changes leave it as it is.
	good := valid()
	good["secret"] = tn.ClientSecret()
	res, err = env.API(ctx, http.MethodPost, "/api/integrations", good, access.Admin)
	apiJSON(t, res, err, http.StatusCreated, nil)
	res, err = env.API(ctx, http.MethodGet, "/api/integrations/fabrikam", nil, access.Reader)
	apiJSON(t, res, err, http.StatusOK, nil)
	before := res.Body
	writes := env.Vault.Counters().ByOperation["SetSecret"]
	changes := []call{
		{"duplicate id", http.MethodPost, "/api/integrations", good, 409, "id"},
		{"duplicate id from the name", http.MethodPost, "/api/integrations", without("id"), 409, "id"},
		{"patch unknown field", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"tenantId": guid}, 400, "tenantId"},
		{"patch name wrong type", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"name": false}, 400, "name"},
		{"patch empty name", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"name": ""}, 400, "name"},
		{"patch unknown data type", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"dataTypes": map[string]bool{"mail": true}}, 400, "dataTypes"},
		{"patch data types in managed mode", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"mode": "managed", "dataTypes": map[string]bool{"users": true}}, 400, "dataTypes"},
		{"patch excludedGroups not GUIDs", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"excludedGroups": []string{guid, "x"}}, 400, "excludedGroups[1]"},
		{"patch schedules too long", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"schedules": map[string]string{"directory": "30d"}}, 400, "schedules.directory"},
		{"patch oversized", http.MethodPatch, "/api/integrations/fabrikam", map[string]any{"name": strings.Repeat("n", 70<<10)}, 413, "body"},
		{"credentials secretId missing", http.MethodPost, "/api/integrations/fabrikam/credentials", map[string]any{"secret": typed}, 400, "secretId"},
		{"credentials secret missing", http.MethodPost, "/api/integrations/fabrikam/credentials", map[string]any{"secretId": guid}, 400, "secret"},
		{"credentials secret wrong type", http.MethodPost, "/api/integrations/fabrikam/credentials", map[string]any{"secretId": guid, "secret": 1}, 400, "secret"},
		{"credentials secretId not a GUID", http.MethodPost, "/api/integrations/fabrikam/credentials", map[string]any{"secretId": "k1", "secret": typed}, 400, "secretId"},
		{"credentials unknown field", http.MethodPost, "/api/integrations/fabrikam/credentials", map[string]any{"secretId": guid, "secret": typed, "tenantId": guid}, 400, "tenantId"},
		{"credentials certificate for a secret", http.MethodPost, "/api/integrations/fabrikam/credentials", map[string]any{"certificate": "x"}, 400, "certificate"},
	}
	for _, c := range changes {
		send(t, c)
	}
	for _, c := range []struct{ method, path, problem string }{
		{http.MethodPatch, "/api/integrations/nobody", "not found"},
		{http.MethodPost, "/api/integrations/nobody/test", "not found"},
		{http.MethodPost, "/api/integrations/nobody/credentials", "not found"},
		{http.MethodPost, "/api/integrations/fabrikam/rotate", "unknown action"},
		{http.MethodGet, "/api/integrations/fabrikam/test", "use POST"},
	} {
		res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: c.method, Path: c.path, Body: []byte(`{}`),
			Header: http.Header{"x-functions-key": {env.FunctionKey}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(res.Body), c.problem) {
			t.Errorf("%s %s: %d %s", c.method, c.path, res.StatusCode, res.Body)
		}
	}
	res, err = env.API(ctx, http.MethodGet, "/api/integrations/fabrikam", nil, access.Reader)
	apiJSON(t, res, err, http.StatusOK, nil)
	if !bytes.Equal(before, res.Body) {
		t.Errorf("refused changes changed the integration:\nbefore %s\nafter  %s", before, res.Body)
	}
	if n := env.Vault.Counters().ByOperation["SetSecret"]; n != writes {
		t.Errorf("refused changes wrote %d secrets", n-writes)
	}
}
