package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/tests/hostsim"
)

// API calls an HTTP function with the function key, as a caller App Service Authentication signed in with role
// (no principal when role is ""). body, when not nil, is sent as JSON.
func (e *Env) API(ctx context.Context, method, path string, body any, role access.Role) (*hostsim.HTTPResult, error) {
	req := &hostsim.HTTPRequest{Method: method, Path: path, Header: http.Header{"x-functions-key": {e.FunctionKey}, "Accept": {"application/json"}}}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		req.Body = b
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Principal = &hostsim.Principal{AuthType: "aad", Name: "admin@contoso.example", ID: "11111111-0000-4000-8000-000000000001",
			Claims: []hostsim.Claim{{Type: hostsim.ClaimTypeRole, Value: string(role)}}}
	}
	return e.Host.HTTP(ctx, req)
}

// PostIntegration adds the scenario's integration (id Integration) through the Integrations API as an
// administrator, with the given client secret value (a wrong one too: the integration is stored with its
// diagnosis).
func (e *Env) PostIntegration(ctx context.Context, secret string, extra map[string]any) (*hostsim.HTTPResult, error) {
	body := map[string]any{"id": Integration, "name": "Contoso (simulated)", "tenantId": e.Tenant.TenantID(),
		"clientId": e.Tenant.ClientID(), "secretId": e.Tenant.SecretID(), "secret": secret}
	for k, v := range extra {
		body[k] = v
	}
	res, err := e.API(ctx, http.MethodPost, "/api/integrations", body, access.Admin)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusCreated {
		return res, fmt.Errorf("POST /api/integrations answered %d: %s", res.StatusCode, res.Body)
	}
	return res, nil
}
