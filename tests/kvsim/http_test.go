package kvsim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/entrasim/authority"
)

// do sends a raw request to the vault with an optional bearer token.
func (f *fixture) do(t *testing.T, method, pathAndQuery, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.vault.URL()+strings.TrimPrefix(pathAndQuery, "/"), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-ms-client-request-id", "0d7c1d4e-0000-4000-8000-000000000000")
	resp, err := f.ca.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestChallenge(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/secrets/s1?api-version=2026-04-01", "/secrets?api-version=7.4", "/anything"} {
		t.Run(path, func(t *testing.T) {
			resp := f.do(t, http.MethodGet, path, "", "")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", resp.StatusCode)
			}
			want := `Bearer authorization="` + f.auth.URL() + tenantID + `", resource="https://vault.azure.net"`
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
			if got := resp.Header.Get("x-ms-client-request-id"); got != "0d7c1d4e-0000-4000-8000-000000000000" {
				t.Errorf("x-ms-client-request-id %q", got)
			}
			raw, _ := io.ReadAll(resp.Body)
			if string(raw) != `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}` {
				t.Errorf("body %s", raw)
			}
		})
	}
	if c := f.vault.Counters(); c.Challenges != 3 || c.Requests != 3 || c.ByStatus[401] != 3 {
		t.Errorf("counters %+v", c)
	}
}

func TestTokenRejections(t *testing.T) {
	f := newFixture(t, nil)
	vaultScope := authority.VaultResource + "/.default"
	plain := f.token(t, tenantID, adminApp, vaultScope, false)
	cae := f.token(t, tenantID, adminApp, vaultScope, true)
	graph := f.token(t, tenantID, adminApp, authority.GraphResource+"/.default", false)
	foreign := f.token(t, otherTenant, foreignApp, vaultScope, false)
	other := newFixture(t, nil)
	otherAuthority := other.token(t, tenantID, adminApp, vaultScope, false)
	header, _, _ := strings.Cut(otherAuthority, ".")
	parts := strings.Split(plain, ".")
	badSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("not a signature"))

	bearerChallenge := `Bearer authorization="` + f.auth.URL() + tenantID + `", resource="https://vault.azure.net"`
	caeRE := regexp.MustCompile(`^Bearer realm="", authorization_uri="` + regexp.QuoteMeta(f.auth.URL()) + `common/oauth2/authorize", error="insufficient_claims", claims="[A-Za-z0-9+/=]+"$`)
	tests := []struct {
		name, token string
		advance     time.Duration
		message     string
		cae         bool
	}{
		{name: "graph audience", token: graph, message: "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://graph.microsoft.com."},
		{name: "another tenant", token: foreign, message: "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/" + tenantID + "/, found https://sts.windows.net/" + otherTenant + "/."},
		{name: "another authority", token: otherAuthority, message: "AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '" + header + "'."},
		{name: "bad signature", token: badSig, message: "Error validating token: IDX10511"},
		{name: "not a JWT", token: "opaque", message: "Error validating token: IDX12741"},
		{name: "expired", token: plain, advance: 25 * time.Hour, message: "Error validating token: IDX10223"},
		{name: "expired CAE-capable", token: cae, advance: 25 * time.Hour, message: "Error validating token: IDX10223", cae: true},
		{name: "not yet valid", token: plain, advance: -time.Hour, message: "Error validating token: IDX10222"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Advance(tc.advance)
			defer f.clock.Advance(-tc.advance)
			resp := f.do(t, http.MethodGet, "/secrets/s1?api-version=7.6", tc.token, "")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := resp.Header.Get("WWW-Authenticate")
			if tc.cae && !caeRE.MatchString(got) || !tc.cae && got != bearerChallenge {
				t.Errorf("WWW-Authenticate %q", got)
			}
			body := decodeError(t, resp)
			if body.Code != "Unauthorized" || body.Message != tc.message {
				t.Errorf("body %+v, want message %q", body, tc.message)
			}
			if strings.Contains(body.Message, parts[1]) || strings.Contains(body.Message, parts[2]) {
				t.Error("the message contains the token")
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.vault.SetSecret("s1", "v", nil); err != nil {
		t.Fatal(err)
	}
	token := f.token(t, tenantID, adminApp, authority.VaultResource+"/.default", false)
	tests := []struct {
		name, method, path, body string
		status                   int
		code, message            string
	}{
		{"missing api-version", http.MethodGet, "/secrets/s1", "", 400, "BadParameter", "The api-version query parameter (?api-version=) is required for all requests."},
		{"unknown api-version", http.MethodGet, "/secrets/s1?api-version=1.0", "", 400, "BadParameter",
			"The specified version (1.0) is not recognized. Consider using the latest supported version (2026-04-01)."},
		{"invalid name", http.MethodGet, "/secrets/bad_name?api-version=7.6", "", 400, "BadParameter", "The request URI contains an invalid name: bad_name"},
		{"unknown version", http.MethodGet, "/secrets/s1/0123456789abcdef0123456789abcdef?api-version=7.6", "", 404, "SecretNotFound", ""},
		{"set without value", http.MethodPut, "/secrets/s2?api-version=7.6", `{"attributes":{}}`, 400, "BadParameter", "Property 'value' is required."},
		{"set with a non-JSON body", http.MethodPut, "/secrets/s2?api-version=7.6", `value=x`, 400, "BadParameter", ""},
		{"maxresults above 25", http.MethodGet, "/secrets?api-version=7.6&maxresults=26", "", 400, "BadParameter", ""},
		{"bad skiptoken", http.MethodGet, "/secrets?api-version=7.6&$skiptoken=bm90LWpzb24", "", 400, "BadParameter", ""},
		{"unknown route", http.MethodGet, "/keys?api-version=7.6", "", 404, "NotFound", ""},
		{"wrong method", http.MethodPost, "/secrets/s1?api-version=7.6", "", 405, "MethodNotAllowed", ""},
		{"delete a missing secret", http.MethodDelete, "/secrets/nothing?api-version=7.6", "", 404, "SecretNotFound", ""},
		{"recover a secret that is not deleted", http.MethodPost, "/deletedsecrets/s1/recover?api-version=7.6", "", 404, "SecretNotFound", "Deleted Secret not found: s1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, tc.method, tc.path, token, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			body := decodeError(t, resp)
			if body.Code != tc.code || tc.message != "" && body.Message != tc.message {
				t.Errorf("body %+v", body)
			}
		})
	}
}

func TestWireFormat(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.PageSize = 1 })
	token := f.token(t, tenantID, adminApp, authority.VaultResource+"/.default", false)
	resp := f.do(t, http.MethodPut, "/secrets/wire?api-version=7.6", token,
		`{"value":"v","contentType":"text/plain","attributes":{"enabled":true,"exp":1900000000,"created":1},"tags":{"t":"1"}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var bundle map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&bundle); err != nil {
		t.Fatal(err)
	}
	attrs, _ := bundle["attributes"].(map[string]any)
	now := float64(f.clock.Now().Unix())
	if bundle["value"] != "v" || bundle["contentType"] != "text/plain" || attrs["exp"] != 1900000000.0 ||
		attrs["created"] != now || attrs["updated"] != now || attrs["enabled"] != true ||
		attrs["recoveryLevel"] != "Recoverable+Purgeable" || attrs["recoverableDays"] != 90.0 {
		t.Errorf("bundle %v", bundle)
	}
	if _, ok := attrs["nbf"]; ok {
		t.Error("nbf present though never set")
	}
	if _, err := f.vault.SetSecret("wire2", "v", nil); err != nil {
		t.Fatal(err)
	}
	resp = f.do(t, http.MethodGet, "/secrets?api-version=7.6", token, "")
	var page struct {
		Value    []map[string]any
		NextLink *string
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 1 || page.NextLink == nil || page.Value[0]["value"] != nil {
		t.Fatalf("page %+v", page)
	}
	if !strings.HasPrefix(*page.NextLink, f.vault.URL()+"secrets?api-version=7.6&$skiptoken=") {
		t.Errorf("nextLink %s", *page.NextLink)
	}
	req, _ := http.NewRequest(http.MethodGet, *page.NextLink, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp2, err := f.ca.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	raw, _ := io.ReadAll(resp2.Body)
	if !strings.Contains(string(raw), `/secrets/wire2"`) || !strings.HasSuffix(string(raw), `"nextLink":null}`) {
		t.Errorf("second page %s", raw)
	}
}
