package authority

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// credential is the real azidentity.ClientSecretCredential pointed at the stand-in, as product tests configure it.
func credential(t *testing.T, f *fixture, tenant, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.base},
			Transport: f.client,
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	return cred
}

var graphScopes = []string{GraphResource + "/.default"}

func TestAzidentityGraphToken(t *testing.T) {
	f := newFixture(t)
	for _, tenant := range []string{testTenant, testDomain} {
		t.Run(tenant, func(t *testing.T) {
			cred := credential(t, f, tenant, testApp, testSecret)
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: graphScopes})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			claims, err := f.auth.Verify(tok.Token, GraphResource)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !slices.Equal(claims.Roles, testRoles) || claims.AppID != testApp || claims.TenantID != testTenant {
				t.Errorf("claims %+v", claims)
			}
			// azidentity computes ExpiresOn from expires_in on the wall clock
			if d := time.Until(tok.ExpiresOn); d < 50*time.Minute || d > time.Hour {
				t.Errorf("ExpiresOn in %v", d)
			}
		})
	}
}

// aadCode extracts the AADSTS code from an azidentity error the way product code does: errors.As to
// *azidentity.AuthenticationFailedError, then the error_codes of the response body.
func aadCode(t *testing.T, err error) int {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("error %T is not an *azidentity.AuthenticationFailedError: %v", err, err)
	}
	if afe.RawResponse == nil {
		t.Fatalf("AuthenticationFailedError without RawResponse: %v", err)
	}
	body, rerr := runtime.Payload(afe.RawResponse)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var e ErrorResponse
	if jerr := json.Unmarshal(body, &e); jerr != nil || len(e.ErrorCodes) != 1 {
		t.Fatalf("body %s", body)
	}
	if !strings.HasPrefix(e.ErrorDescription, "AADSTS"+strconv.Itoa(e.ErrorCodes[0])+": ") {
		t.Errorf("description %q", e.ErrorDescription)
	}
	return e.ErrorCodes[0]
}

func TestAzidentityErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name                   string
		tenant, client, secret string
		scopes                 []string
		code                   int
	}{
		{"invalid secret", testTenant, testApp, "not-the-secret", graphScopes, CodeInvalidSecret},
		{"expired secret", testTenant, testApp, expiredSecret, graphScopes, CodeExpiredSecret},
		{"unknown app", testTenant, "99999999-2222-4333-8444-555555555555", testSecret, graphScopes, CodeUnknownApp},
		{"unknown tenant", "9b4d2a5e-7f11-4c8a-9d3e-1a2b3c4d5e6f", testApp, testSecret, graphScopes, CodeUnknownTenant},
		{"unknown tenant domain", "wrong.onmicrosoft.com", testApp, testSecret, graphScopes, CodeUnknownTenant},
		{"scope without /.default", testTenant, testApp, testSecret, []string{GraphResource + "/AuditLog.Read.All"}, CodeScopeNotDefault},
		{"unknown resource", testTenant, testApp, testSecret, []string{"api://not-registered/.default"}, CodeUnknownResource},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cred := credential(t, f, tc.tenant, tc.client, tc.secret)
			_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: tc.scopes})
			if err == nil {
				t.Fatal("GetToken succeeded")
			}
			if got := aadCode(t, err); got != tc.code {
				t.Errorf("AADSTS%d, want AADSTS%d", got, tc.code)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Error("the error message contains the client secret")
			}
		})
	}
}

// TestAzidentitySecretRotation follows a rotation as in Entra: add a new secret, let the old one expire.
func TestAzidentitySecretRotation(t *testing.T) {
	f := newFixture(t)
	const newSecret = "s3cr3t-value-rotated"
	get := func(secret string) error {
		_, err := credential(t, f, testTenant, testApp, secret).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: graphScopes})
		return err
	}
	if err := get(newSecret); err == nil || aadCode(t, err) != CodeInvalidSecret {
		t.Fatalf("new secret before it is added: %v", err)
	}
	now := f.clock.Now()
	if err := f.dir.AddSecret(testTenant, testApp, Secret{KeyID: "key-new", Value: newSecret, Start: now, End: now.AddDate(0, 6, 0)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testSecret, newSecret} {
		if err := get(s); err != nil {
			t.Fatalf("during the overlap: %v", err)
		}
	}
	if err := f.dir.ExpireSecret(testTenant, testApp, "key-current", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if err := get(testSecret); err == nil || aadCode(t, err) != CodeExpiredSecret {
		t.Fatalf("old secret after its end date: %v", err)
	}
	if err := get(newSecret); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if err := f.dir.RemoveSecret(testTenant, testApp, "key-current"); err != nil {
		t.Fatal(err)
	}
	if err := get(testSecret); err == nil || aadCode(t, err) != CodeInvalidSecret {
		t.Fatalf("old secret after removal: %v", err)
	}
}

// TestAzidentitySimulatedClock shows the wall-clock cache gap and how a CAE claims challenge closes it.
func TestAzidentitySimulatedClock(t *testing.T) {
	f := newFixture(t)
	cred := credential(t, f, testTenant, testApp, testSecret)
	ctx := context.Background()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(24 * time.Hour)
	_, err = f.auth.Verify(tok.Token, GraphResource)
	var te *TokenError
	if !errors.Is(err, ErrTokenExpired) || !errors.As(err, &te) || te.Claims == nil || !te.Claims.CAECapable() {
		t.Fatalf("yesterday's token: %v", err)
	}
	cached, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes, EnableCAE: true})
	if err != nil || cached.Token != tok.Token {
		t.Fatalf("azidentity did not serve its cached token (err %v)", err)
	}
	// The claims a resource's CAEChallenge carries make azidentity bypass its cache.
	claims := `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(f.clock.Now().Unix(), 10) + `"}}}`
	fresh, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes, EnableCAE: true, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Verify(fresh.Token, GraphResource); err != nil {
		t.Fatalf("token fetched with the claims challenge: %v", err)
	}
}
