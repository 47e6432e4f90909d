package authority

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestMetadata(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, tenant string
		wantIssuer   string
	}{
		{"tenant GUID", testTenant, f.base + testTenant + "/v2.0"},
		{"verified domain resolves to the GUID", testDomain, f.base + testTenant + "/v2.0"},
		{"upper-case GUID", strings.ToUpper(testTenant), f.base + testTenant + "/v2.0"},
		{"common has the tenant template", "common", f.base + "{tenantid}/v2.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.client.Get(f.base + tc.tenant + "/v2.0/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var md map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
				t.Fatal(err)
			}
			if md["issuer"] != tc.wantIssuer {
				t.Errorf("issuer %v, want %s", md["issuer"], tc.wantIssuer)
			}
			prefix := strings.TrimSuffix(tc.wantIssuer, "/v2.0")
			for _, k := range []string{"token_endpoint", "authorization_endpoint", "jwks_uri", "device_authorization_endpoint", "end_session_endpoint"} {
				v, _ := md[k].(string)
				if !strings.HasPrefix(v, prefix+"/") {
					t.Errorf("%s = %q, want it under %s", k, v, prefix)
				}
			}
			if md["token_endpoint"] != prefix+"/oauth2/v2.0/token" {
				t.Errorf("token_endpoint %v", md["token_endpoint"])
			}
			if got := md["token_endpoint_auth_methods_supported"]; !slices.Contains(toStrings(got), "client_secret_basic") || !slices.Contains(toStrings(got), "client_secret_post") {
				t.Errorf("auth methods %v", got)
			}
		})
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func TestMetadataUnknownTenant(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{
		"nosuchtenant.onmicrosoft.com/v2.0/.well-known/openid-configuration",
		"9b4d2a5e-7f11-4c8a-9d3e-1a2b3c4d5e6f/discovery/v2.0/keys",
	} {
		t.Run(path, func(t *testing.T) {
			resp, err := f.client.Get(f.base + path)
			if err != nil {
				t.Fatal(err)
			}
			tenant := strings.SplitN(path, "/", 2)[0]
			e := readError(t, resp, http.StatusBadRequest, "invalid_tenant", CodeUnknownTenant)
			if want := fmt.Sprintf("Tenant '%s' not found.", tenant); !strings.Contains(e.ErrorDescription, want) {
				t.Errorf("description %q lacks %q", e.ErrorDescription, want)
			}
		})
	}
}

// readError checks an Entra error response: status, error, error_codes, the description's prefix and trailer,
// the trace ID header and the error_uri, and returns the body.
func readError(t *testing.T, resp *http.Response, status int, oauthErr string, code int) ErrorResponse {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var e ErrorResponse
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, raw)
	}
	if e.Error != oauthErr {
		t.Errorf("error %q, want %q", e.Error, oauthErr)
	}
	if !slices.Equal(e.ErrorCodes, []int{code}) {
		t.Errorf("error_codes %v, want [%d]", e.ErrorCodes, code)
	}
	if prefix := fmt.Sprintf("AADSTS%d: ", code); !strings.HasPrefix(e.ErrorDescription, prefix) {
		t.Errorf("error_description %q does not start with %q", e.ErrorDescription, prefix)
	}
	trailer := fmt.Sprintf("\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.TraceID, e.CorrelationID, e.Timestamp)
	if !strings.HasSuffix(e.ErrorDescription, trailer) {
		t.Errorf("error_description %q does not end with %q", e.ErrorDescription, trailer)
	}
	if !guidRE.MatchString(e.TraceID) || !guidRE.MatchString(e.CorrelationID) {
		t.Errorf("trace_id %q / correlation_id %q are not GUIDs", e.TraceID, e.CorrelationID)
	}
	if got := resp.Header.Get("x-ms-request-id"); got != e.TraceID {
		t.Errorf("x-ms-request-id %q, trace_id %q", got, e.TraceID)
	}
	if !strings.HasSuffix(e.ErrorURI, fmt.Sprintf("/error?code=%d", code)) {
		t.Errorf("error_uri %q", e.ErrorURI)
	}
	if _, err := time.Parse(entraTimestamp, e.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", e.Timestamp, err)
	}
	return e
}

type tokenCase struct {
	name        string
	method      string // default POST
	tenant      string // default testTenant
	form        url.Values
	query       string
	basicID     string
	basicSecret string
	// success
	wantAud   string
	wantRoles []string
	// failure
	status   int
	oauthErr string
	code     int
	contains string
}

func TestTokenEndpoint(t *testing.T) {
	f := newFixture(t)
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cc := func(scope, id, secret string) url.Values {
		v := form("grant_type", "client_credentials", "scope", scope)
		if id != "" {
			v.Set("client_id", id)
		}
		if secret != "" {
			v.Set("client_secret", secret)
		}
		return v
	}
	graph := GraphResource + "/.default"
	msalScope := graph + " openid offline_access profile"
	tests := []tokenCase{
		{name: "graph token with roles", form: cc(graph, testApp, testSecret), wantAud: GraphResource, wantRoles: testRoles},
		{name: "MSAL's extra OIDC scopes are ignored", form: cc(msalScope, testApp, testSecret), wantAud: GraphResource, wantRoles: testRoles},
		{name: "tenant by verified domain", tenant: testDomain, form: cc(graph, testApp, testSecret), wantAud: GraphResource, wantRoles: testRoles},
		{name: "graph by app ID", form: cc(GraphAppID+"/.default", testApp, testSecret), wantAud: GraphResource, wantRoles: testRoles},
		{name: "graph with trailing slash", form: cc(GraphResource+"//.default", testApp, testSecret), wantAud: GraphResource, wantRoles: testRoles},
		{name: "client_secret_basic", form: cc(graph, "", ""), basicID: testApp, basicSecret: testSecret, wantAud: GraphResource, wantRoles: testRoles},
		{name: "app without grants has no roles claim", form: cc(graph, noRolesApp, noRolesSecret), wantAud: GraphResource},
		{name: "key vault token has no roles", form: cc(VaultResource+"/.default openid offline_access profile", testApp, testSecret), wantAud: VaultResource},

		{name: "invalid secret", form: cc(graph, testApp, "wrong-secret"), status: 401, oauthErr: "invalid_client", code: CodeInvalidSecret,
			contains: "for a secret added to app '" + testApp + "'."},
		{name: "invalid secret via basic", form: cc(graph, "", ""), basicID: testApp, basicSecret: "wrong-secret", status: 401, oauthErr: "invalid_client", code: CodeInvalidSecret},
		{name: "expired secret", form: cc(graph, testApp, expiredSecret), status: 401, oauthErr: "invalid_client", code: CodeExpiredSecret,
			contains: "The provided client secret keys for app '" + testApp + "' are expired."},
		{name: "secret not valid yet", form: cc(graph, testApp, futureSecret), status: 401, oauthErr: "invalid_client", code: CodeInvalidSecret},
		{name: "missing secret", form: cc(graph, testApp, ""), status: 400, oauthErr: "invalid_request", code: CodeMissingSecret},
		{name: "unknown app", form: cc(graph, "99999999-2222-4333-8444-555555555555", testSecret), status: 400, oauthErr: "unauthorized_client", code: CodeUnknownApp,
			contains: "Application with identifier '99999999-2222-4333-8444-555555555555' was not found in the directory '" + testTenantName + "'."},
		{name: "unknown tenant", tenant: "nosuch.onmicrosoft.com", form: cc(graph, testApp, testSecret), status: 400, oauthErr: "invalid_request", code: CodeUnknownTenant,
			contains: "Tenant 'nosuch.onmicrosoft.com' not found."},
		{name: "missing grant_type", form: form("client_id", testApp, "client_secret", testSecret, "scope", graph), status: 400, oauthErr: "invalid_request", code: CodeMissingParameter,
			contains: "The request body must contain the following parameter: 'grant_type'."},
		{name: "grant_type only in the query string", query: "grant_type=client_credentials", form: form("client_id", testApp, "client_secret", testSecret, "scope", graph),
			status: 400, oauthErr: "invalid_request", code: CodeMissingParameter},
		{name: "missing client_id", form: cc(graph, "", testSecret), status: 400, oauthErr: "invalid_request", code: CodeMissingParameter,
			contains: "'client_id'"},
		{name: "unsupported grant", form: form("grant_type", "password", "client_id", testApp, "scope", graph), status: 400, oauthErr: "unsupported_grant_type", code: CodeUnsupportedGrant,
			contains: "unsupported grant type 'password'"},
		{name: "missing scope", form: cc("", testApp, testSecret), status: 400, oauthErr: "invalid_request", code: CodeMissingScope},
		{name: "scope without /.default", form: cc(GraphResource+"/User.Read.All", testApp, testSecret), status: 400, oauthErr: "invalid_scope", code: CodeScopeNotDefault,
			contains: "The provided value for scope https://graph.microsoft.com/User.Read.All is not valid. Client credential flows must have a scope value with /.default suffixed"},
		{name: "only OIDC scopes", form: cc("openid profile", testApp, testSecret), status: 400, oauthErr: "invalid_scope", code: CodeScopeNotDefault,
			contains: "scope openid is not valid"},
		{name: "unknown resource", form: cc("api://not-registered/.default", testApp, testSecret), status: 400, oauthErr: "invalid_resource", code: CodeUnknownResource,
			contains: "The resource principal named api://not-registered was not found in the tenant named " + testTenantName + "."},
		{name: "two resources", form: cc(graph+" "+VaultResource+"/.default", testApp, testSecret), status: 400, oauthErr: "invalid_scope", code: CodeMultipleResources},
		{name: "GET is not allowed", method: http.MethodGet, form: url.Values{}, status: 400, oauthErr: "invalid_request", code: CodePostOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := postToken(t, f, tc)
			if tc.status != 0 {
				e := readError(t, resp, tc.status, tc.oauthErr, tc.code)
				if tc.contains != "" && !strings.Contains(e.ErrorDescription, tc.contains) {
					t.Errorf("error_description %q lacks %q", e.ErrorDescription, tc.contains)
				}
				for _, s := range []string{testSecret, expiredSecret, futureSecret, "wrong-secret"} {
					if strings.Contains(e.ErrorDescription, s) {
						t.Errorf("error body contains a client secret")
					}
				}
				return
			}
			checkTokenResponse(t, f, resp, tc)
		})
	}
}

func postToken(t *testing.T, f *fixture, tc tokenCase) *http.Response {
	t.Helper()
	tenant := tc.tenant
	if tenant == "" {
		tenant = testTenant
	}
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	u := f.base + tenant + "/oauth2/v2.0/token"
	if tc.query != "" {
		u += "?" + tc.query
	}
	req, err := http.NewRequest(method, u, strings.NewReader(tc.form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tc.basicID != "" {
		req.SetBasicAuth(url.QueryEscape(tc.basicID), url.QueryEscape(tc.basicSecret))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func checkTokenResponse(t *testing.T, f *fixture, resp *http.Response, tc tokenCase) {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != 3599.0 || body["ext_expires_in"] != 3599.0 {
		t.Errorf("body %v", body)
	}
	if len(body) != 4 {
		t.Errorf("unexpected fields in %v", body)
	}
	token, _ := body["access_token"].(string)
	claims, err := f.auth.Verify(token, tc.wantAud)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	wantApp := tc.form.Get("client_id")
	if wantApp == "" {
		wantApp = tc.basicID
	}
	now := f.clock.Now()
	if claims.TenantID != testTenant || claims.AppID != wantApp || claims.Audience != tc.wantAud {
		t.Errorf("claims %+v", claims)
	}
	if !slices.Equal(claims.Roles, tc.wantRoles) {
		t.Errorf("roles %v, want %v", claims.Roles, tc.wantRoles)
	}
	if !claims.IssuedAt.Equal(now.Add(-5*time.Minute)) || !claims.NotBefore.Equal(claims.IssuedAt) || !claims.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("iat %v nbf %v exp %v, now %v", claims.IssuedAt, claims.NotBefore, claims.Expires, now)
	}
	hdr, payload := decodeJWT(t, token)
	if hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["kid"] == "" {
		t.Errorf("header %v", hdr)
	}
	if payload["iss"] != "https://sts.windows.net/"+testTenant+"/" || payload["ver"] != "1.0" || payload["appidacr"] != "1" ||
		payload["oid"] != payload["sub"] || !guidRE.MatchString(fmt.Sprint(payload["oid"])) {
		t.Errorf("payload %v", payload)
	}
	if _, ok := payload["roles"]; ok != (len(tc.wantRoles) > 0) {
		t.Errorf("roles claim present = %v, want %v", ok, len(tc.wantRoles) > 0)
	}
	isGraph := tc.wantAud == GraphResource
	if (payload["idtyp"] == "app") != isGraph {
		t.Errorf("idtyp %v for %s", payload["idtyp"], tc.wantAud)
	}
	if _, ok := payload["azp"]; ok {
		t.Error("v1 tokens carry appid, not azp")
	}
	verifyWithJWKS(t, f.client, f.base+testTenant+"/discovery/v2.0/keys", token)
}

func TestCorrelationIDEcho(t *testing.T) {
	f := newFixture(t)
	const corr = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	req, _ := http.NewRequest(http.MethodPost, f.base+testTenant+"/oauth2/v2.0/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp},
			"client_secret": {"wrong"}, "scope": {GraphResource + "/.default"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", corr)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e := readError(t, resp, 401, "invalid_client", CodeInvalidSecret)
	if e.CorrelationID != corr {
		t.Errorf("correlation_id %q, want the client-request-id %q", e.CorrelationID, corr)
	}
}

func TestCounters(t *testing.T) {
	f := newFixture(t)
	graph := GraphResource + "/.default"
	for _, tc := range []tokenCase{
		{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {testSecret}, "scope": {graph}}},
		{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {testSecret}, "scope": {VaultResource + "/.default"}}},
		{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {"bad"}, "scope": {graph}}},
		{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {"bad"}, "scope": {graph}}},
		{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {testApp}, "client_secret": {expiredSecret}, "scope": {graph}}},
	} {
		resp := postToken(t, f, tc)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c := f.auth.Counters()
	if c.TokenRequests != 5 || c.TokensIssued != 2 || c.TokensByResource[GraphResource] != 1 || c.TokensByResource[VaultResource] != 1 {
		t.Errorf("counters %+v", c)
	}
	if c.Failures[CodeInvalidSecret] != 2 || c.Failures[CodeExpiredSecret] != 1 || len(c.Failures) != 2 {
		t.Errorf("failures %v", c.Failures)
	}
	c.Failures[CodeInvalidSecret] = 99 // a snapshot: changing it does not change the authority
	if f.auth.Counters().Failures[CodeInvalidSecret] != 2 {
		t.Error("Counters returned a shared map")
	}
}
