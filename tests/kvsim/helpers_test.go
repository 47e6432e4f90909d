package kvsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// Test identities; the secret values are test data.
const (
	tenantID    = "5c8e2f4a-1b3d-4e6f-8a9b-0c1d2e3f4a5b"
	otherTenant = "7d9f3a5b-2c4e-4f70-9b8c-1d2e3f4a5b6c"
	adminApp    = "aaaaaaaa-0000-4000-8000-000000000001"
	readerApp   = "aaaaaaaa-0000-4000-8000-000000000002"
	outsiderApp = "aaaaaaaa-0000-4000-8000-000000000003"
	foreignApp  = "bbbbbbbb-0000-4000-8000-000000000001"
	appSecret   = "client-secret-for-tests"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	ca    *testca.CA
	clock *testClock
	auth  *authority.Authority
	vault *Vault
}

// newFixture starts an authority with the test apps and a vault whose readers are admin and reader and whose only
// writer is admin; change applies to the vault options before Start.
func newFixture(t *testing.T, change func(*Options)) *fixture {
	t.Helper()
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)}
	dir := authority.NewStaticDirectory()
	for _, ten := range []string{tenantID, otherTenant} {
		if err := dir.AddTenant(authority.Tenant{ID: ten}); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []string{adminApp, readerApp, outsiderApp} {
		if err := dir.PutApp(tenantID, authority.App{AppID: app, Secrets: []authority.Secret{{KeyID: "k", Value: appSecret}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dir.PutApp(otherTenant, authority.App{AppID: foreignApp, Secrets: []authority.Secret{{KeyID: "k", Value: appSecret}}}); err != nil {
		t.Fatal(err)
	}
	auth := authority.New(dir, &authority.Options{Now: clock.Now, CA: ca})
	authURL, err := auth.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = auth.Close() })
	opts := &Options{
		AuthorityURL: authURL, TenantID: tenantID, Verify: auth.Verify, CA: ca, Now: clock.Now,
		ReadAllow: []string{adminApp, readerApp}, WriteAllow: []string{adminApp},
	}
	if change != nil {
		change(opts)
	}
	vault, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vault.Close(); err != nil {
			t.Errorf("vault Close: %v", err)
		}
	})
	return &fixture{ca: ca, clock: clock, auth: auth, vault: vault}
}

func (f *fixture) credential(t *testing.T, tenant, app string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, app, appSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.auth.URL()},
			Transport: f.ca.Client(),
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// client is the real azsecrets client for app, configured as the product's tests do; retries are off unless
// retry is given.
func (f *fixture) client(t *testing.T, app string, retry *policy.RetryOptions) *azsecrets.Client {
	t.Helper()
	r := policy.RetryOptions{MaxRetries: -1}
	if retry != nil {
		r = *retry
	}
	c, err := azsecrets.NewClient(f.vault.URL(), f.credential(t, tenantID, app), &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: f.ca.Client(), Retry: r},
		DisableChallengeResourceVerification: true, // the stand-in's host is not under vault.azure.net
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// token gets an access token from the authority with the real credential.
func (f *fixture) token(t *testing.T, tenant, app, scope string, cae bool) string {
	t.Helper()
	tok, err := f.credential(t, tenant, app).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}, EnableCAE: cae})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// responseError asserts err is an *azcore.ResponseError with the status and code and returns the decoded body.
func responseError(t *testing.T, err error, status int, code string) wireErrorBody {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %T is not an *azcore.ResponseError: %v", err, err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("ResponseError %d %q, want %d %q", re.StatusCode, re.ErrorCode, status, code)
	}
	return decodeError(t, re.RawResponse)
}

func decodeError(t *testing.T, resp *http.Response) wireErrorBody {
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var w wireError
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatalf("error body %s: %v", raw, err)
	}
	return w.Error
}
