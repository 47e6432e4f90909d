package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/kvsim"
	"github.com/entra-di/edi/tests/testca"
)

const tenant, app = "72f988bf-0000-4000-8000-000000000011", "0a1b2c3d-0000-4000-8000-000000000012"

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T) (*kvsim.Vault, *Store, *clock) {
	t.Helper()
	dir := authority.NewStaticDirectory()
	if err := dir.AddTenant(authority.Tenant{ID: tenant}); err != nil {
		t.Fatal(err)
	}
	if err := dir.PutApp(tenant, authority.App{AppID: app, Secrets: []authority.Secret{{KeyID: "k", Value: "function-app-identity"}}}); err != nil {
		t.Fatal(err)
	}
	ca, _ := testca.Shared()
	auth := authority.New(dir, &authority.Options{CA: ca})
	base, err := auth.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	vault, err := kvsim.Start(&kvsim.Options{AuthorityURL: base, TenantID: tenant, Verify: auth.Verify, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vault.Close() })
	cred, err := azidentity.NewClientSecretCredential(tenant, app, "function-app-identity", &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: base}, Transport: ca.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	store, err := New(vault.URL(), cred, &Options{Transport: ca.Client(), Now: clk.now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return vault, store, clk
}

func TestGetCachesAndRefreshes(t *testing.T) {
	vault, store, clk := setup(t)
	ctx := context.Background()
	if _, err := vault.SetSecret("integration-contoso", "v1-secret-value", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := store.Get(ctx, "integration-contoso", false); err != nil || v != "v1-secret-value" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := vault.SetSecret("integration-contoso", "v2-secret-value", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.Get(ctx, "integration-contoso", false); v != "v1-secret-value" {
		t.Errorf("cached Get = %q, want the cached v1", v)
	}
	if v, _ := store.Get(ctx, "integration-contoso", true); v != "v2-secret-value" {
		t.Errorf("refreshed Get = %q, want v2", v)
	}
	if _, err := vault.SetSecret("integration-contoso", "v3-secret-value", nil); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	if v, _ := store.Get(ctx, "integration-contoso", false); v != "v3-secret-value" {
		t.Errorf("Get after the TTL = %q, want v3", v)
	}
}

func TestSetAndProperties(t *testing.T) {
	_, store, _ := setup(t)
	ctx := context.Background()
	exp := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	v1, err := store.Set(ctx, "integration-fabrikam", "fab-secret-value", exp, map[string]string{"secretId": "key-1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Properties(ctx, "integration-fabrikam")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != v1 || !p.Enabled || !p.Expires.Equal(exp) || p.Tags["secretId"] != "key-1" {
		t.Errorf("properties = %+v (version %s)", p, v1)
	}
}

func TestMissingSecretAndUnavailableVault(t *testing.T) {
	vault, store, _ := setup(t)
	ctx := context.Background()
	_, err := store.Get(ctx, "integration-nope", false)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "integration-nope") {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := vault.SetSecret("integration-x", "x-secret-value", nil); err != nil {
		t.Fatal(err)
	}
	vault.SetUnavailable(true)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = store.Get(ctx, "integration-x", true)
	if err == nil || errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "x-secret-value") {
		t.Errorf("unavailable vault: %v", err)
	}
}
