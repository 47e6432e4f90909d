package graph

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

const (
	tenantID = "6e2a8f3c-1111-4222-8333-944445555666"
	appID    = "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111"
)

// rotatingSource serves a secret that a test can rotate, counting fresh reads.
type rotatingSource struct {
	mu      sync.Mutex
	value   string
	refresh int
}

func (s *rotatingSource) get(ctx context.Context, refresh bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refresh {
		s.refresh++
	}
	return s.value, nil
}

func (s *rotatingSource) set(v string) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

func startAuthority(t *testing.T) (*authority.StaticDirectory, string) {
	t.Helper()
	dir := authority.NewStaticDirectory()
	if err := dir.AddTenant(authority.Tenant{ID: tenantID, DisplayName: "Contoso"}); err != nil {
		t.Fatal(err)
	}
	if err := dir.PutApp(tenantID, authority.App{AppID: appID, DisplayName: "Entra ID Data Integration",
		Secrets: []authority.Secret{{KeyID: "k1", Value: "first-secret-value", End: time.Now().Add(24 * time.Hour)}},
		Roles:   []string{"AuditLog.Read.All"}}); err != nil {
		t.Fatal(err)
	}
	a := authority.New(dir, nil)
	url, err := a.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return dir, url
}

// TestSecretCredentialPicksUpRotatedSecret: the app's secret is rotated in Entra and in Key Vault; the credential,
// still holding the old value, is refused with AADSTS7000215, reads the secret again and succeeds.
func TestSecretCredentialPicksUpRotatedSecret(t *testing.T) {
	dir, url := startAuthority(t)
	ca, _ := testca.Shared()
	src := &rotatingSource{value: "first-secret-value"}
	cred, err := NewSecretCredential(tenantID, appID, src.get, &CredentialOptions{AuthorityHost: url, Transport: ca.Client()})
	if err != nil {
		t.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{Scope}}
	if _, err := cred.GetToken(context.Background(), opts); err != nil {
		t.Fatalf("first token: %v", err)
	}

	// Rotate: new secret in Entra, old one removed, Key Vault updated.
	if err := dir.AddSecret(tenantID, appID, authority.Secret{KeyID: "k2", Value: "second-secret-value", End: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := dir.RemoveSecret(tenantID, appID, "k1"); err != nil {
		t.Fatal(err)
	}
	src.set("second-secret-value")
	// A fresh scope forces a token request (the first token is cached for Graph).
	opts2 := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
	if _, err := cred.GetToken(context.Background(), opts2); err != nil {
		t.Fatalf("token after rotation: %v", err)
	}
	if src.refresh != 1 {
		t.Errorf("%d fresh reads, want 1", src.refresh)
	}
}

// TestCredentialErrorsQuoteAADSTS: each way the credential can be wrong gets its own message with the code, and no
// secret in it.
func TestCredentialErrorsQuoteAADSTS(t *testing.T) {
	dir, url := startAuthority(t)
	ca, _ := testca.Shared()
	if err := dir.PutApp(tenantID, authority.App{AppID: "9d5f9a2b-aaaa-4bbb-8ccc-dddd00002222",
		Secrets: []authority.Secret{{KeyID: "old", Value: "expired-secret-value", End: time.Now().Add(-time.Hour)}}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, tenant, app, secret string
		code                      int
		msg                       string
	}{
		{"wrong secret", tenantID, appID, "not-the-secret-value", 7000215, "invalid client secret"},
		{"expired secret", tenantID, "9d5f9a2b-aaaa-4bbb-8ccc-dddd00002222", "expired-secret-value", 7000222, "expired"},
		{"unknown app", tenantID, "11111111-2222-4333-8444-555555555555", "x-secret-value", 700016, "unknown application"},
		{"unknown tenant", "22222222-2222-4333-8444-555555555555", appID, "first-secret-value", 90002, "unknown tenant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := &rotatingSource{value: tc.secret}
			cred, err := NewSecretCredential(tc.tenant, tc.app, src.get, &CredentialOptions{AuthorityHost: url, Transport: ca.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{Scope}})
			ce := credentialError(err)
			if got := AADSTS(ce); got != tc.code {
				t.Fatalf("AADSTS = %d (%v), want %d", got, ce, tc.code)
			}
			if !strings.Contains(ce.Error(), tc.msg) || strings.Contains(ce.Error(), tc.secret) {
				t.Errorf("message %q: want %q and no secret", ce.Error(), tc.msg)
			}
		})
	}
}

func TestGrantedRoles(t *testing.T) {
	_, url := startAuthority(t)
	ca, _ := testca.Shared()
	src := &rotatingSource{value: "first-secret-value"}
	cred, err := NewSecretCredential(tenantID, appID, src.get, &CredentialOptions{AuthorityHost: url, Transport: ca.Client()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := c.GrantedRoles(context.Background())
	if err != nil || len(roles) != 1 || roles[0] != "AuditLog.Read.All" {
		t.Errorf("roles = %v, %v", roles, err)
	}
}

// TestSecretUnavailable: when the secret cannot be read (Key Vault down), the token error is a SecretUnavailable
// Graph error that says so and keeps the cause, and the secret is read again on the next request.
func TestSecretUnavailable(t *testing.T) {
	vaultDown := errors.New(`key vault secret "integration-x": HTTP 503 ServiceUnavailable`)
	reads := 0
	src := func(ctx context.Context, refresh bool) (string, error) {
		reads++
		return "", vaultDown
	}
	cred, err := NewSecretCredential(tenantID, appID, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
		if KindOf(err) != SecretUnavailable || !errors.Is(err, vaultDown) || !strings.Contains(err.Error(), "reading the client secret failed: key vault secret") {
			t.Fatalf("GetToken error = %v (kind %q), want a %s error wrapping the vault's", err, KindOf(err), SecretUnavailable)
		}
	}
	if reads != 2 {
		t.Errorf("the secret was read %d times for 2 requests, want 2 (no failure cached)", reads)
	}
}
