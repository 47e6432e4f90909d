package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/hostsim"
)

// Signed-in callers as App Service Authentication presents them, one per app role.
var (
	AdminCaller    = Caller("Ada Admin", "0b8f4d2c-1111-4222-8333-444455556666", "Integration.Admin")
	HelpdeskCaller = Caller("Hal Helpdesk", "1c9f5e3d-1111-4222-8333-444455556666", "Integration.Helpdesk")
	ReaderCaller   = Caller("Rita Reader", "2d0a6f4e-1111-4222-8333-444455556666", "Integration.Reader")
)

// Caller is an Easy Auth principal with a name, an Entra object id and app roles.
func Caller(name, objectID string, roles ...string) *hostsim.Principal {
	claims := []hostsim.Claim{{Type: hostsim.ClaimTypeName, Value: name},
		{Type: "http://schemas.microsoft.com/identity/claims/objectidentifier", Value: objectID}}
	for _, r := range roles {
		claims = append(claims, hostsim.Claim{Type: hostsim.ClaimTypeRole, Value: r})
	}
	return &hostsim.Principal{AuthType: "aad", Claims: claims, ID: objectID, Name: name}
}

// AddIntegration stores an integration in the integrations table (as the Integrations API does) with the
// scenario tenant's client secret (Key Vault secret integration-default) unless it names another.
func (e *Env) AddIntegration(ctx context.Context, i integrations.Integration) error {
	tables, err := e.Azurite.TableClient()
	if err != nil {
		return err
	}
	if i.TenantID == "" {
		i.TenantID = e.Tenant.TenantID()
	}
	if i.ClientID == "" {
		i.ClientID = e.Tenant.ClientID()
	}
	if i.SecretName == "" {
		i.SecretName = "integration-" + Integration
	}
	if i.Name == "" {
		i.Name = i.ID
	}
	s := integrations.New(tables, "integrations", nil)
	if err := s.Ensure(ctx); err != nil {
		return err
	}
	return s.Put(ctx, i)
}

// Remediate calls POST /api/remediation/{action} with the function key, a principal (nil: none), an
// Idempotency-Key ("": none) and a body (a string, or a value encoded as JSON).
func (e *Env) Remediate(ctx context.Context, action string, p *hostsim.Principal, key string, body any) (*hostsim.HTTPResult, error) {
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	h := http.Header{"x-functions-key": {e.FunctionKey}, "Content-Type": {"application/json"}}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return e.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodPost, Path: "/api/remediation/" + action, Header: h, Body: b, Principal: p})
}

// RemediationAudit reads GET /api/remediation/audit with the given query (integration, from, to, limit) and
// answers the JSON body (remediate.AuditReply).
func (e *Env) RemediationAudit(ctx context.Context, p *hostsim.Principal, query url.Values) ([]byte, error) {
	res, err := e.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodGet, Path: "/api/remediation/audit", Query: query,
		Header: http.Header{"x-functions-key": {e.FunctionKey}}, Principal: p})
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/remediation/audit: %d %s", res.StatusCode, res.Body)
	}
	return res.Body, nil
}
