package integrations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

func valid() Integration {
	return Integration{ID: "contoso", Name: "Contoso", TenantID: "6e2a8f3c-1111-4222-8333-944445555666",
		ClientID: "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111", SecretName: "integration-contoso", Permissions: catalog.ReadOnly,
		Licences: map[catalog.Licence]Answer{catalog.EntraP1P2: Yes}}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := map[string]func(*Integration){
		"id":                 func(i *Integration) { i.ID = "Contoso!" },
		"tenantId":           func(i *Integration) { i.TenantID = "contoso" },
		"clientId":           func(i *Integration) { i.ClientID = "app" },
		"secretName":         func(i *Integration) { i.SecretName = "" },
		"permissions":        func(i *Integration) { i.Permissions = "all" },
		"licences":           func(i *Integration) { i.Licences["office"] = Yes },
		"licences.entraP1P2": func(i *Integration) { i.Licences[catalog.EntraP1P2] = "maybe" },
		"protectedUsers[1]": func(i *Integration) {
			i.ProtectedUsers = []string{"breakglass@contoso.com", "users/../groups"}
		},
		"protectedUsers": func(i *Integration) { i.ProtectedUsers = make([]string, config.MaxProtectedUsers+1) },
		"authenticationMethodsUsers": func(i *Integration) {
			i.Mode, i.DataTypes = Custom, map[string]bool{AuthenticationMethods: true}
		},
		"authenticationMethodsUsers[0]": func(i *Integration) { i.AuthenticationMethodsUsers = []string{"not a user"} },
		"authenticationMethodsUsers[2]": func(i *Integration) {
			i.AuthenticationMethodsUsers = []string{"a@contoso.com", "6e2a8f3c-1111-4222-8333-944445555666", "A@Contoso.com"}
		},
	}
	cases["authenticationMethodsUsers "] = func(i *Integration) {
		i.AuthenticationMethodsUsers = make([]string, catalog.MaxListedUsers+1)
		for n := range i.AuthenticationMethodsUsers {
			i.AuthenticationMethodsUsers[n] = fmt.Sprintf("u%d@contoso.com", n)
		}
	}
	for field, mutate := range cases {
		i := valid()
		mutate(&i)
		var ve *ValidationError
		if err := i.Validate(); !errors.As(err, &ve) || ve.Field != strings.TrimSpace(field) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("valid integration: %v", err)
	}
	protected := valid()
	protected.ProtectedUsers = []string{"breakglass@contoso.com", "6e2a8f3c-1111-4222-8333-944445555666", "ext_fabrikam.com#EXT#@contoso.onmicrosoft.com"}
	if err := protected.Validate(); err != nil {
		t.Errorf("protected users: %v", err)
	}
	listed := valid()
	listed.Mode, listed.DataTypes = Custom, map[string]bool{AuthenticationMethods: true}
	listed.AuthenticationMethodsUsers = []string{"breakglass@contoso.com", "6e2a8f3c-1111-4222-8333-944445555666"}
	if err := listed.Validate(); err != nil {
		t.Errorf("listed users: %v", err)
	}
}

func TestStore(t *testing.T) {
	svc, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fromSettings := FromSettings(config.Entra{ID: "default", TenantID: "contoso.onmicrosoft.com", ClientID: "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111",
		SecretName: "integration-default", Permissions: catalog.ReadWrite, Licences: map[catalog.Licence]string{catalog.IntuneLicence: "no"},
		ProtectedUsers: []string{"breakglass@contoso.com"}})
	s := New(svc, azurite.UniqueName(t, "integ"), &fromSettings)
	// Before the table exists the settings integration is still listed.
	list, bad, err := s.List(ctx)
	if err != nil || len(list) != 1 || len(bad) != 0 || list[0].Source != "settings" || list[0].Licence(catalog.IntuneLicence) != No {
		t.Fatalf("List before table = %+v %v %v", list, bad, err)
	}
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	stored := valid()
	stored.ProtectedUsers = []string{"breakglass@contoso.com", "6e2a8f3c-1111-4222-8333-944445555666"}
	if err := s.Put(ctx, stored); err != nil {
		t.Fatal(err)
	}
	broken := valid()
	broken.ClientID = "nope"
	if err := s.Put(ctx, broken); err == nil {
		t.Error("Put stored an invalid integration")
	}
	shadow := valid()
	shadow.ID = "default"
	if err := s.Put(ctx, shadow); err != nil {
		t.Fatal(err)
	}
	list, bad, err = s.List(ctx)
	if err != nil || len(list) != 2 || list[1].ID != "contoso" || list[1].Licence(catalog.EntraP2) != Auto || len(bad) != 1 {
		t.Fatalf("List = %+v, bad %v, %v", list, bad, err)
	}
	got, err := s.Get(ctx, "contoso")
	if err != nil || got.TenantID != valid().TenantID || got.Source != "table" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if len(got.ProtectedUsers) != 2 || got.ProtectedUsers[1] != "6e2a8f3c-1111-4222-8333-944445555666" {
		t.Errorf("protected users after a round trip: %q", got.ProtectedUsers)
	}
	if got, err := s.Get(ctx, "default"); err != nil || got.Source != "settings" || len(got.ProtectedUsers) != 1 {
		t.Errorf("Get(default) = %+v, %v", got, err)
	}
	for _, id := range []string{"nobody", "Bad Id"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v", id, err)
		}
	}
}

// TestStoreLifecycle: Create refuses an existing id, Update refuses a stale copy, RecordTest keeps the last test
// (for the app-settings integration in a row of its own), Delete reports whether there was anything.
func TestStoreLifecycle(t *testing.T) {
	svc, err := azurite.Shared(t).TableClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fromSettings := FromSettings(config.Entra{ID: "default", TenantID: "contoso.onmicrosoft.com", ClientID: "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111",
		SecretName: "integration-default", Permissions: catalog.ReadOnly})
	s := New(svc, azurite.UniqueName(t, "integ"), &fromSettings)
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	i := valid()
	created, err := s.Create(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	for _, dup := range []Integration{i, func() Integration { d := valid(); d.ID = "default"; return d }()} {
		if _, err := s.Create(ctx, dup); !errors.Is(err, ErrExists) {
			t.Errorf("Create(%s) again: %v", dup.ID, err)
		}
	}
	stale, _ := s.Get(ctx, "contoso")
	created.Name = "Contoso EU"
	if _, err := s.Update(ctx, created); err != nil {
		t.Fatal(err)
	}
	stale.Name = "lost update"
	if _, err := s.Update(ctx, stale); !errors.Is(err, ErrChanged) {
		t.Errorf("stale Update: %v", err)
	}
	bad := created
	bad.ExcludedGroups = []string{"not-a-guid"}
	var ve *ValidationError
	if _, err := s.Update(ctx, bad); !errors.As(err, &ve) || ve.Field != "excludedGroups[0]" {
		t.Errorf("invalid Update: %v", err)
	}
	sum := TestSummary{At: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), State: "Connected", TokenOK: true, DataTypes: map[string]string{"users": OutcomeOK}}
	got, err := s.RecordTest(ctx, "contoso", sum)
	if err != nil || got.Name != "Contoso EU" || got.LastTest == nil || got.LastTest.DataTypes["users"] != OutcomeOK {
		t.Fatalf("RecordTest = %+v, %v", got, err)
	}
	if _, err := s.RecordTest(ctx, "default", sum); err != nil {
		t.Fatal(err)
	}
	list, bad2, err := s.List(ctx)
	if err != nil || len(bad2) != 0 || len(list) != 2 || list[0].LastTest == nil || !list[0].LastTest.At.Equal(sum.At) || list[1].LastTest == nil {
		t.Fatalf("List = %+v %v %v", list, bad2, err)
	}
	if _, err := s.Delete(ctx, "default"); !errors.Is(err, ErrSettings) {
		t.Errorf("Delete(default) = %v", err)
	}
	for k, want := range []bool{true, false} {
		if existed, err := s.Delete(ctx, "contoso"); err != nil || existed != want {
			t.Errorf("Delete #%d = %v, %v", k+1, existed, err)
		}
	}
	if _, err := s.Get(ctx, "contoso"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}
