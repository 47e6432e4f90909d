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

// TestVersionsAndDelete: Put writes versions with content type, tags and expiry; GetVersion reads a pinned one;
// Update disables one; Delete soft-deletes the secret and Put with Recover brings its name back.
func TestVersionsAndDelete(t *testing.T) {
	vault, store, _ := setup(t)
	ctx := context.Background()
	exp := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	v1, err := store.Put(ctx, "integration-x", "first", PutOptions{ContentType: "text/plain", Tags: map[string]string{"tenant": tenant}})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := store.Put(ctx, "integration-x", "second", PutOptions{Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	versions := vault.SecretVersions("integration-x")
	if len(versions) != 2 || versions[0].ContentType != "text/plain" || versions[0].Tags["tenant"] != tenant || !versions[1].Expires.Equal(exp) {
		t.Fatalf("versions %+v", versions)
	}
	for version, want := range map[string]string{v1: "first", v2: "second", "": "second"} {
		if got, err := store.GetVersion(ctx, "integration-x", version, true); err != nil || got != want {
			t.Errorf("GetVersion(%q) = %q, %v", version, got, err)
		}
	}
	p, err := store.VersionProperties(ctx, "integration-x", v1)
	if err != nil || p.Version != v1 || p.ContentType != "text/plain" {
		t.Errorf("VersionProperties = %+v %v", p, err)
	}
	off := false
	if err := store.Update(ctx, "integration-x", v1, time.Time{}, &off); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetVersion(ctx, "integration-x", v1, false); err == nil {
		t.Error("a disabled version is still served (from the cache?)")
	}
	if err := store.Update(ctx, "integration-x", v2, exp.AddDate(0, 1, 0), nil); err != nil {
		t.Fatal(err)
	}
	if cur, _ := vault.Secret("integration-x"); !cur.Expires.Equal(exp.AddDate(0, 1, 0)) || !cur.Enabled {
		t.Errorf("after Update: %+v", cur)
	}
	for k, want := range []bool{true, false} {
		if deleted, err := store.Delete(ctx, "integration-x"); err != nil || deleted != want {
			t.Errorf("Delete #%d = %v, %v", k+1, deleted, err)
		}
	}
	if !vault.Deleted("integration-x") {
		t.Fatal("not soft-deleted")
	}
	if _, err := store.GetVersion(ctx, "integration-x", v2, false); err == nil {
		t.Error("a deleted secret is still served from the cache")
	}
	if _, err := store.Put(ctx, "integration-x", "third", PutOptions{}); err == nil {
		t.Error("Key Vault let a soft-deleted name be reused without recovery")
	}
	v3, err := store.Put(ctx, "integration-x", "third", PutOptions{Recover: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.GetVersion(ctx, "integration-x", "", true); err != nil || got != "third" || vault.Deleted("integration-x") {
		t.Errorf("after recovery: %q %v", got, err)
	}
	if len(vault.SecretVersions("integration-x")) != 3 || v3 == v2 {
		t.Errorf("versions after recovery: %d", len(vault.SecretVersions("integration-x")))
	}
}

// TestForget: Forget makes the next read go to the vault even within the cache's lifetime.
func TestForget(t *testing.T) {
	vault, store, _ := setup(t)
	ctx := context.Background()
	if _, err := vault.SetSecret("s", "one", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.Get(ctx, "s", false); v != "one" {
		t.Fatal(v)
	}
	if _, err := vault.SetSecret("s", "two", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.Get(ctx, "s", false); v != "one" {
		t.Fatalf("cached read = %q", v)
	}
	store.Forget("s")
	if v, _ := store.Get(ctx, "s", false); v != "two" {
		t.Errorf("after Forget = %q", v)
	}
}
