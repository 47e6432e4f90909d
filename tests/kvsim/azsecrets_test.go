package kvsim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func TestAzsecretsRoundTrip(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.PageSize = 2 })
	c := f.client(t, adminApp, nil)
	ctx := context.Background()
	const name = "integration-contoso"

	exp := f.clock.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	set1, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{
		Value: to.Ptr("first-value"), ContentType: to.Ptr("text/plain"),
		Tags:             map[string]*string{"secretId": to.Ptr("key-1")},
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
	}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	v1 := set1.ID.Version()
	if len(v1) != 32 || set1.ID.Name() != name || *set1.Value != "first-value" || !set1.Attributes.Expires.Equal(exp) {
		t.Fatalf("SetSecret returned %+v (id %s)", set1.Secret, *set1.ID)
	}
	if !strings.HasPrefix(string(*set1.ID), f.vault.URL()+"secrets/"+name+"/") {
		t.Errorf("id %s is not under the vault URL %s", *set1.ID, f.vault.URL())
	}
	if *set1.Attributes.RecoveryLevel != "Recoverable+Purgeable" || *set1.Attributes.RecoverableDays != 90 ||
		!set1.Attributes.Created.Equal(f.clock.Now()) || !*set1.Attributes.Enabled {
		t.Errorf("attributes %+v", *set1.Attributes)
	}

	f.clock.Advance(time.Hour)
	set2, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("second-value")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("third-value")}, nil)
	if err != nil {
		t.Fatal(err)
	}

	latest, err := c.GetSecret(ctx, name, "", nil)
	if err != nil || *latest.Value != "third-value" {
		t.Fatalf("GetSecret latest: %v %v", err, latest.Value)
	}
	old, err := c.GetSecret(ctx, name, v1, nil)
	if err != nil || *old.Value != "first-value" || *old.ContentType != "text/plain" || *old.Tags["secretId"] != "key-1" {
		t.Fatalf("GetSecret v1: %v %+v", err, old.Secret)
	}

	// three versions over two pages of two
	var versions []string
	pager := c.NewListSecretPropertiesVersionsPager(name, nil)
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("versions page: %v", err)
		}
		pages++
		for _, p := range page.Value {
			if p.ID.Name() != name {
				t.Errorf("version of %s listed", p.ID.Name())
			}
			versions = append(versions, p.ID.Version())
		}
	}
	if pages != 2 || len(versions) != 3 || !slices.IsSorted(versions) || !slices.Contains(versions, set2.ID.Version()) {
		t.Errorf("versions %v in %d pages", versions, pages)
	}

	// update the properties of the first version, then disable the current one
	upd, err := c.UpdateSecretProperties(ctx, name, v1, azsecrets.UpdateSecretPropertiesParameters{
		ContentType: to.Ptr("application/json"), Tags: map[string]*string{"owner": to.Ptr("tests")},
	}, nil)
	if err != nil || upd.Value != nil || *upd.ContentType != "application/json" || upd.Tags["secretId"] != nil {
		t.Fatalf("UpdateSecretProperties: %v %+v", err, upd.Secret)
	}
	if _, err := c.UpdateSecretProperties(ctx, name, "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(ctx, name, "", nil)
	body := responseError(t, err, http.StatusForbidden, "Forbidden")
	if body.Message != "Operation get is not allowed on a disabled secret." || body.InnerError == nil || body.InnerError.Code != "SecretDisabled" {
		t.Errorf("disabled body %+v", body)
	}
	if got, err := c.GetSecret(ctx, name, v1, nil); err != nil || *got.Value != "first-value" {
		t.Errorf("an enabled older version: %v", err)
	}

	// soft delete, conflict on reuse, recover
	del, err := c.DeleteSecret(ctx, name, nil)
	if err != nil || del.Value != nil || *del.RecoveryID != f.vault.URL()+"deletedsecrets/"+name || !del.DeletedDate.Equal(f.clock.Now()) {
		t.Fatalf("DeleteSecret: %v %+v", err, del.DeletedSecret)
	}
	_, err = c.GetSecret(ctx, name, "", nil)
	if body := responseError(t, err, http.StatusNotFound, "SecretNotFound"); !strings.HasPrefix(body.Message, "A secret with (name/id) "+name+" was not found in this key vault.") {
		t.Errorf("message %q", body.Message)
	}
	if _, err := c.GetDeletedSecret(ctx, name, nil); err != nil {
		t.Fatalf("GetDeletedSecret: %v", err)
	}
	_, err = c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	if body := responseError(t, err, http.StatusConflict, "Conflict"); body.InnerError == nil || body.InnerError.Code != "ObjectIsDeletedButRecoverable" {
		t.Errorf("conflict body %+v", body)
	}
	if _, err := c.RecoverDeletedSecret(ctx, name, nil); err != nil {
		t.Fatalf("RecoverDeletedSecret: %v", err)
	}
	if got, err := c.GetSecret(ctx, name, v1, nil); err != nil || *got.Value != "first-value" {
		t.Fatalf("after recovery: %v", err)
	}

	// delete and purge: the name is free again
	if _, err := c.DeleteSecret(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, name, nil); err != nil {
		t.Fatalf("PurgeDeletedSecret: %v", err)
	}
	_, err = c.GetDeletedSecret(ctx, name, nil)
	if body := responseError(t, err, http.StatusNotFound, "SecretNotFound"); body.Message != "Deleted Secret not found: "+name {
		t.Errorf("message %q", body.Message)
	}
	if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("reborn")}, nil); err != nil {
		t.Fatalf("SetSecret after purge: %v", err)
	}
	if got := f.vault.SecretVersions(name); len(got) != 1 || got[0].Value != "reborn" {
		t.Errorf("versions after purge %+v", got)
	}
}

func TestAzsecretsListPaging(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.PageSize = 2 })
	names := []string{"a-one", "b-two", "c-three", "d-four", "e-five"}
	for _, n := range names {
		if _, err := f.vault.SetSecret(n, "v-"+n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.vault.SetSecret("f-disabled", "v", &Attributes{Enabled: to.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, readerApp, nil)
	ctx := context.Background()
	var got []string
	pages := 0
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range page.Value {
			if p.ID.Version() != "" {
				t.Errorf("list item id %s has a version", *p.ID)
			}
			got = append(got, p.ID.Name())
		}
	}
	want := append(slices.Clone(names), "f-disabled")
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
	if versions := f.client(t, readerApp, nil).NewListSecretPropertiesVersionsPager("no-such-secret", nil); versions.More() {
		page, err := versions.NextPage(ctx)
		if err != nil || len(page.Value) != 0 {
			t.Errorf("versions of a missing secret: %v %v", err, page.Value)
		}
	}
}

func TestAzsecretsMissingSecret(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client(t, readerApp, nil).GetSecret(context.Background(), "integration-missing", "", nil)
	body := responseError(t, err, http.StatusNotFound, "SecretNotFound")
	const want = "A secret with (name/id) integration-missing was not found in this key vault. If you recently deleted " +
		"this secret you may be able to recover it using the correct recovery command. For help resolving this issue, " +
		"please see https://go.microsoft.com/fwlink/?linkid=2125182"
	if body.Message != want {
		t.Errorf("message %q", body.Message)
	}
}

func TestAzsecretsAccessControl(t *testing.T) {
	ctx := context.Background()
	set := func(c *azsecrets.Client) error {
		_, err := c.SetSecret(ctx, "s1", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
		return err
	}
	get := func(c *azsecrets.Client) error {
		_, err := c.GetSecret(ctx, "s1", "", nil)
		return err
	}
	list := func(c *azsecrets.Client) error {
		_, err := c.NewListSecretPropertiesPager(nil).NextPage(ctx)
		return err
	}
	del := func(c *azsecrets.Client) error {
		_, err := c.DeleteSecret(ctx, "s1", nil)
		return err
	}
	tests := []struct {
		name    string
		model   PermissionModel
		open    bool // nil allow-lists
		app     string
		op      func(*azsecrets.Client) error
		denied  bool
		message string // part of the 403 message
	}{
		{name: "reader gets", app: readerApp, op: get},
		{name: "reader lists", app: readerApp, op: list},
		{name: "reader cannot set", app: readerApp, op: set, denied: true, message: "Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'"},
		{name: "reader cannot delete", app: readerApp, op: del, denied: true, message: "Action: 'Microsoft.KeyVault/vaults/secrets/delete'"},
		{name: "outsider cannot get", app: outsiderApp, op: get, denied: true,
			message: "Caller: appid=" + outsiderApp + ";oid="},
		{name: "outsider cannot list", app: outsiderApp, op: list, denied: true, message: "Action: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'"},
		{name: "access policy wording", model: AccessPolicy, app: outsiderApp, op: get, denied: true,
			message: "does not have secrets get permission on key vault 'kvsim;location=westeurope'"},
		{name: "open vault lets anyone in the tenant set", open: true, app: outsiderApp, op: set},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				o.Model = tc.model
				if tc.open {
					o.ReadAllow, o.WriteAllow = nil, nil
				}
			})
			if _, err := f.vault.SetSecret("s1", "v", nil); err != nil {
				t.Fatal(err)
			}
			err := tc.op(f.client(t, tc.app, nil))
			if !tc.denied {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			body := responseError(t, err, http.StatusForbidden, "Forbidden")
			wantInner := "ForbiddenByRbac"
			if tc.model == AccessPolicy {
				wantInner = "AccessDenied"
			}
			if body.InnerError == nil || body.InnerError.Code != wantInner || !strings.Contains(body.Message, tc.message) {
				t.Errorf("403 body %+v", body)
			}
			if got := f.vault.Counters().Forbidden; got != 1 {
				t.Errorf("Forbidden counter %d", got)
			}
		})
	}
}

func TestAzsecretsSetAccessAtRuntime(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.vault.SetSecret("s1", "v", nil); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, readerApp, nil)
	ctx := context.Background()
	if _, err := c.GetSecret(ctx, "s1", "", nil); err != nil {
		t.Fatal(err)
	}
	f.vault.SetAccess([]string{adminApp}, []string{adminApp})
	_, err := c.GetSecret(ctx, "s1", "", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden")
}

func TestAzsecretsUnavailable(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.vault.SetSecret("s1", "v", nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := f.client(t, adminApp, nil)
	if _, err := c.GetSecret(ctx, "s1", "", nil); err != nil { // authenticate first
		t.Fatal(err)
	}
	f.vault.SetUnavailable(true)
	before := f.vault.Counters()
	_, err := c.GetSecret(ctx, "s1", "", nil)
	responseError(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")

	// azcore retries a 503: three retries, then the error
	retrying := f.client(t, adminApp, &policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond})
	_, err = retrying.GetSecret(ctx, "s1", "", nil)
	responseError(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")
	after := f.vault.Counters()
	if got := after.Unavailable - before.Unavailable; got != 1+4 {
		t.Errorf("%d requests answered 503, want 5 (one, then one plus three retries)", got)
	}

	f.vault.SetUnavailable(false)
	if got, err := c.GetSecret(ctx, "s1", "", nil); err != nil || *got.Value != "v" {
		t.Fatalf("after recovery: %v", err)
	}
}

// TestAzsecretsSimulatedClock: after a simulated-clock jump the client's cached token is expired for the vault;
// the vault's CAE challenge makes azcore fetch a new one (unless StrictExpiry).
func TestAzsecretsSimulatedClock(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "CAE refresh", true: "strict expiry"}[strict], func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.StrictExpiry = strict })
			if _, err := f.vault.SetSecret("s1", "v", nil); err != nil {
				t.Fatal(err)
			}
			c := f.client(t, adminApp, nil)
			ctx := context.Background()
			if _, err := c.GetSecret(ctx, "s1", "", nil); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(48 * time.Hour)
			_, err := c.GetSecret(ctx, "s1", "", nil)
			counters := f.vault.Counters()
			if strict {
				body := responseError(t, err, http.StatusUnauthorized, "Unauthorized")
				if body.Message != "Error validating token: IDX10223" || counters.CAEChallenges != 0 {
					t.Errorf("body %+v, CAE challenges %d", body, counters.CAEChallenges)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetSecret after the jump: %v", err)
			}
			if counters.CAEChallenges != 1 {
				t.Errorf("CAE challenges %d, want 1", counters.CAEChallenges)
			}
		})
	}
}

func TestGoAPI(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.vault.SetSecret("bad_name", "v", nil); err == nil {
		t.Error("SetSecret accepted an invalid name")
	}
	nbf := f.clock.Now().Add(time.Hour)
	ver, err := f.vault.SetSecret("Mixed-Case", "v1", &Attributes{NotBefore: nbf, ContentType: "text/plain", Tags: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := f.vault.Secret("mixed-case")
	if !ok || got.Version != ver || got.Name != "Mixed-Case" || got.Value != "v1" || !got.NotBefore.Equal(nbf) || !got.Enabled {
		t.Fatalf("Secret = %+v, %v", got, ok)
	}
	got.Tags["a"] = "changed"
	if again, _ := f.vault.Secret("Mixed-Case"); again.Tags["a"] != "b" {
		t.Error("Secret returned the vault's own tag map")
	}
	// Key Vault documents that get works before nbf and after exp
	s, err := f.client(t, readerApp, nil).GetSecret(context.Background(), "Mixed-Case", "", nil)
	if err != nil || *s.Value != "v1" {
		t.Fatalf("get before nbf: %v", err)
	}
	if f.vault.Deleted("Mixed-Case") {
		t.Error("Deleted reports an active secret")
	}
}
