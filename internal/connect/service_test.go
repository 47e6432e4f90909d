package connect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/secrets"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/kvsim"
	"github.com/entra-di/edi/tests/testca"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// fixture is the service on real storage (Azurite), the Key Vault stand-in and the simulated tenant.
type fixture struct {
	tn      *entrasim.Tenant
	vault   *kvsim.Vault
	store   *integrations.Store
	cursors *cursor.Store
	svc     *Service
	// assertion is the function app's identity as federated credential; subject its object id.
	subject string
}

func newFixture(t *testing.T, o entrasim.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{tn: startTenant(t, o)}
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	app, err := f.tn.AddApp("entra-data-integration-function-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.subject = f.tn.ServicePrincipalID(app.AppID)
	if f.vault, err = kvsim.Start(&kvsim.Options{AuthorityURL: f.tn.AuthorityURL(), TenantID: f.tn.TenantID(), Verify: f.tn.Authority().Verify}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.vault.Close() })
	identity, err := azidentity.NewClientSecretCredential(f.tn.TenantID(), app.AppID, app.PasswordCredentials[0].SecretText,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.tn.AuthorityURL()}, Transport: ca.Client()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := secrets.New(f.vault.URL(), identity, &secrets.Options{Transport: ca.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tables, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	prefix := azurite.UniqueName(t, "svc")
	f.store = integrations.New(tables, prefix+"integ", nil)
	statuses := NewStatuses(tables, prefix+"status")
	f.cursors = cursor.New(tables, &cursor.Tables{Cursors: prefix + "cur", Leases: prefix + "lea", Runs: prefix + "run"})
	for _, e := range []interface{ Ensure(context.Context) error }{f.store, statuses, f.cursors} {
		if err := e.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.svc = &Service{Store: f.store, Statuses: statuses, Tester: newTester(t, f.tn, f.tn.AuthorityURL()), Vault: vault,
		Identity: graph.ManagedIdentityAssertion(identity), Leases: f.cursors}
	return f
}

func (f *fixture) createBody(secret string, extra map[string]any) integrations.CreateRequest {
	m := map[string]any{"name": "Contoso", "tenantId": f.tn.TenantID(), "clientId": f.tn.ClientID(), "secretId": f.tn.SecretID(), "secret": secret}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	r, err := integrations.DecodeCreate(b)
	if err != nil {
		panic(err)
	}
	return r
}

// TestLifecycle walks the Add Integration flow: a wrong secret is stored with its diagnosis, Reset Credentials
// with a wrong secret changes nothing, with the right one it switches to a new Key Vault version (and nothing
// reads the old one again), settings change, and delete removes integration, secret, result and leases.
func TestLifecycle(t *testing.T) {
	f := newFixture(t, entrasim.Options{})
	ctx := context.Background()
	now := f.tn.Now()
	const wrong = "Wr0ng~secret-value-for-the-test"
	created, err := f.svc.Create(ctx, f.createBody(wrong, nil), now)
	if err != nil {
		t.Fatal(err)
	}
	i := created.Integration
	if created.Connectivity.State != InvalidCredentials || created.Connectivity.Code != "AADSTS7000215" || created.Warning != "" {
		t.Fatalf("created %+v", created.Connectivity)
	}
	versions := f.vault.SecretVersions("integration-contoso")
	if len(versions) != 1 || versions[0].Value != wrong || versions[0].ContentType != ContentTypeSecret || i.SecretVersion != versions[0].Version ||
		versions[0].Tags["tenant"] != f.tn.TenantID() || versions[0].Tags["client"] != f.tn.ClientID() || versions[0].Tags["secretId"] != f.tn.SecretID() {
		t.Fatalf("Key Vault versions %+v, integration pins %q", versions, i.SecretVersion)
	}
	if i.LastTest == nil || i.LastTest.TokenOK || i.LastTest.State != string(InvalidCredentials) {
		t.Fatalf("last test %+v", i.LastTest)
	}
	if ok, why := i.Collects(mustType(t, "signIns.interactive")); ok || !strings.Contains(why, "Invalid credentials") {
		t.Errorf("an integration whose token is refused collects: %v %q", ok, why)
	}
	v, err := f.svc.Get(ctx, "contoso")
	if err != nil || v.Connectivity == nil || v.Connectivity.State != InvalidCredentials {
		t.Fatalf("Get = %+v %v", v, err)
	}
	if b, _ := json.Marshal(v); strings.Contains(string(b), wrong) {
		t.Error("Get returns the secret")
	}

	// The same id again: refused, nothing written.
	_, err = f.svc.Create(ctx, f.createBody(f.tn.ClientSecret(), nil), now)
	var ve *integrations.ValidationError
	if !errors.As(err, &ve) || ve.Field != "id" || ve.HTTPStatus() != http.StatusConflict || len(f.vault.SecretVersions("integration-contoso")) != 1 {
		t.Fatalf("duplicate id: %v, %d versions", err, len(f.vault.SecretVersions("integration-contoso")))
	}

	reset := func(secret string) *Reset {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"secretId": f.tn.SecretID(), "secret": secret})
		r, err := f.svc.ResetCredentials(ctx, "contoso", b, now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := reset("still-not-the-secret"); r.Switched || !strings.Contains(r.Reason, "AADSTS7000215") || !strings.Contains(r.Reason, i.SecretVersion) ||
		len(f.vault.SecretVersions("integration-contoso")) != 1 {
		t.Fatalf("wrong reset: %+v", r)
	}
	if cur, _ := f.store.Get(ctx, "contoso"); cur.SecretVersion != i.SecretVersion {
		t.Fatal("a refused reset moved the version")
	}
	r := reset(f.tn.ClientSecret())
	versions = f.vault.SecretVersions("integration-contoso")
	if !r.Switched || len(versions) != 2 || r.Integration.SecretVersion != versions[1].Version || r.Connectivity.State != Connected {
		t.Fatalf("right reset: %+v, versions %d", r, len(versions))
	}
	if !versions[1].Expires.Equal(f.tn.SecretExpires().UTC()) || r.Integration.SecretExpires == nil {
		t.Errorf("expiry on the new version %v, want the app registration's %v", versions[1].Expires, f.tn.SecretExpires())
	}
	if ok, _ := r.Integration.Collects(mustType(t, "signIns.interactive")); !ok {
		t.Error("not collected after a successful reset")
	}
	readsBefore := len(f.vault.Reads())
	res, err := f.svc.Test(ctx, "contoso", now.Add(time.Hour))
	if err != nil || res.State != Connected {
		t.Fatalf("Test = %s %v", res.State, err)
	}
	for _, rd := range f.vault.Reads()[readsBefore:] {
		if rd.Version != versions[1].Version {
			t.Errorf("Test Connectivity read version %s, not the current %s", rd.Version, versions[1].Version)
		}
	}
	if len(f.vault.Reads()) == readsBefore {
		t.Error("Test Connectivity did not read the stored secret")
	}

	// Settings.
	patched, err := f.svc.Patch(ctx, "contoso", []byte(`{"mode":"custom","dataTypes":{"users":true},"excludeGuests":true}`), now)
	if err != nil || patched.DataMode() != integrations.Custom || !patched.DataTypes["users"] || !patched.ExcludeGuests || patched.SecretVersion != versions[1].Version {
		t.Fatalf("Patch = %+v %v", patched, err)
	}
	if _, err := f.svc.Patch(ctx, "contoso", []byte(`{"mode":"managed","dataTypes":{"users":true}}`), now); !errors.As(err, &ve) || ve.Field != "dataTypes" {
		t.Errorf("invalid Patch: %v", err)
	}
	if _, err := f.svc.Patch(ctx, "nobody", []byte(`{"name":"x"}`), now); !errors.Is(err, integrations.ErrNotFound) {
		t.Errorf("Patch of nobody: %v", err)
	}

	// Delete: integration, secret (soft-deleted), result and leases; twice is fine.
	if _, err := f.cursors.Acquire(ctx, "contoso", "reports", "worker-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.Delete(ctx, "contoso")
	if err != nil || !d.Deleted || !d.SecretDeleted || d.LeasesReleased != 1 {
		t.Fatalf("Delete = %+v %v", d, err)
	}
	if _, ok := f.vault.Secret("integration-contoso"); ok || !f.vault.Deleted("integration-contoso") {
		t.Error("the secret is not soft-deleted")
	}
	if st, _ := f.svc.Statuses.Get(ctx, "contoso"); st != nil {
		t.Error("the connectivity result stayed")
	}
	if d, err := f.svc.Delete(ctx, "contoso"); err != nil || d.Deleted || d.SecretDeleted {
		t.Errorf("second Delete = %+v %v", d, err)
	}
	// Adding it again recovers the soft-deleted secret's name.
	again, err := f.svc.Create(ctx, f.createBody(f.tn.ClientSecret(), nil), now)
	if err != nil || again.Connectivity.State != Connected {
		t.Fatalf("create after delete: %+v %v", again, err)
	}
}

func mustType(t *testing.T, name string) catalog.DataType {
	t.Helper()
	dt, ok := catalog.Lookup(name)
	if !ok {
		t.Fatalf("no data type %s", name)
	}
	return dt
}

// failingStore fails Create as storage would, or as a concurrent creation of the same id does.
type failingStore struct {
	*integrations.Store
	err error
}

func (s failingStore) Create(context.Context, integrations.Integration) (integrations.Integration, error) {
	return integrations.Integration{}, s.err
}

// TestNothingHalfCreated: when Key Vault fails no row is stored; when the table fails the secret is taken back;
// when another request created the integration meanwhile only our version is disabled.
func TestNothingHalfCreated(t *testing.T) {
	ctx := context.Background()
	t.Run("key vault down", func(t *testing.T) {
		f := newFixture(t, entrasim.Options{})
		f.vault.SetUnavailable(true)
		if _, err := f.svc.Create(ctx, f.createBody(f.tn.ClientSecret(), nil), f.tn.Now()); err == nil {
			t.Fatal("created without Key Vault")
		}
		if list, _, _ := f.store.List(ctx); len(list) != 0 {
			t.Errorf("rows without their secret: %+v", list)
		}
	})
	t.Run("table down", func(t *testing.T) {
		f := newFixture(t, entrasim.Options{})
		f.svc.Store = failingStore{f.store, errors.New("table storage unavailable")}
		if _, err := f.svc.Create(ctx, f.createBody(f.tn.ClientSecret(), nil), f.tn.Now()); err == nil {
			t.Fatal("created without its row")
		}
		if _, ok := f.vault.Secret("integration-contoso"); ok {
			t.Error("the secret stayed without its integration")
		}
	})
	t.Run("created meanwhile", func(t *testing.T) {
		f := newFixture(t, entrasim.Options{})
		theirs, err := f.vault.SetSecret("integration-contoso", "their-value", nil)
		if err != nil {
			t.Fatal(err)
		}
		f.svc.Store = failingStore{f.store, integrations.ErrExists}
		_, err = f.svc.Create(ctx, f.createBody(f.tn.ClientSecret(), nil), f.tn.Now())
		var ve *integrations.ValidationError
		if !errors.As(err, &ve) || ve.HTTPStatus() != http.StatusConflict {
			t.Fatalf("err = %v", err)
		}
		versions := f.vault.SecretVersions("integration-contoso")
		if len(versions) != 2 || versions[0].Version != theirs || !versions[0].Enabled || versions[1].Enabled {
			t.Errorf("versions %+v: theirs must stay, ours be disabled", versions)
		}
	})
}

// TestSecretless: an integration that signs in with the function app's managed identity (a federated credential
// on the app registration) writes nothing to Key Vault and connects.
func TestSecretless(t *testing.T) {
	f := newFixture(t, entrasim.Options{})
	if err := f.tn.AddFederatedCredential(f.tn.ClientID(), authority.FederatedCredential{Name: "function-app",
		Issuer: f.tn.FederatedIssuer(), Subject: f.subject, Audiences: []string{authority.TokenExchangeAudience}}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"name": "MSP client", "tenantId": f.tn.TenantID(), "clientId": f.tn.ClientID(), "credential": "managed-identity"})
	req, err := integrations.DecodeCreate(b)
	if err != nil {
		t.Fatal(err)
	}
	created, err := f.svc.Create(context.Background(), req, f.tn.Now())
	if err != nil || created.Connectivity.State != Connected || created.Integration.SecretName != "" {
		t.Fatalf("created %+v %v", created, err)
	}
	if n := f.vault.Counters().ByOperation["SetSecret"]; n != 0 {
		t.Errorf("%d secrets written for a secretless integration", n)
	}
	if _, err := f.svc.ResetCredentials(context.Background(), created.Integration.ID, []byte(`{"secret":"x"}`), f.tn.Now()); err == nil {
		t.Error("Reset Credentials of a secretless integration accepted")
	}
}

// TestAdoptSecretInKeyVault: an integration added without a secret value takes the one scripts/register-app.sh
// stored in Key Vault (its current version, whose secretId tag must match); without one the field is named.
func TestAdoptSecretInKeyVault(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, entrasim.Options{})
	body := func(secretID string) integrations.CreateRequest {
		b, _ := json.Marshal(map[string]any{"name": "Contoso", "tenantId": f.tn.TenantID(), "clientId": f.tn.ClientID(), "secretId": secretID})
		r, err := integrations.DecodeCreate(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var ve *integrations.ValidationError
	if _, err := f.svc.Create(ctx, body(f.tn.SecretID()), f.tn.Now()); !errors.As(err, &ve) || ve.Field != "secret" {
		t.Fatalf("no secret anywhere: %v", err)
	}
	version, err := f.vault.SetSecret("integration-contoso", f.tn.ClientSecret(), &kvsim.Attributes{Tags: map[string]string{"secretId": f.tn.SecretID()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, body("aaaaaaaa-1111-4222-8333-444455556666"), f.tn.Now()); !errors.As(err, &ve) || ve.Field != "secretId" {
		t.Fatalf("another Secret ID: %v", err)
	}
	writes := f.vault.Counters().ByOperation["SetSecret"]
	created, err := f.svc.Create(ctx, body(f.tn.SecretID()), f.tn.Now())
	if err != nil || created.Connectivity.State != Connected || created.Integration.SecretVersion != version {
		t.Fatalf("adopted: %+v %v", created, err)
	}
	if n := f.vault.Counters().ByOperation["SetSecret"] - writes; n != 0 {
		t.Errorf("%d writes for an adopted secret", n)
	}
	if list, _, _ := f.store.List(ctx); len(list) != 1 {
		t.Errorf("integrations %+v", list)
	}
}
