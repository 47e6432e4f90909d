package authority

import (
	"errors"
	"testing"
	"time"
)

func TestStaticDirectory(t *testing.T) {
	d := NewStaticDirectory()
	if err := d.AddTenant(Tenant{ID: "not-a-guid"}); err == nil {
		t.Error("AddTenant accepted a tenant ID that is not a GUID")
	}
	if err := d.AddTenant(Tenant{ID: testTenant, DisplayName: testTenantName, Domains: []string{"old.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.PutApp(testTenant, App{AppID: testApp, Roles: []string{"User.Read.All"}, Secrets: []Secret{{KeyID: "k", Value: "v"}}}); err != nil {
		t.Fatal(err)
	}
	// replacing the tenant keeps its apps and moves its domains
	if err := d.AddTenant(Tenant{ID: testTenant, Domains: []string{"new.example"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"PutApp in an unknown tenant", d.PutApp("9b4d2a5e-7f11-4c8a-9d3e-1a2b3c4d5e6f", App{AppID: "a"}), ErrUnknownTenant},
		{"PutApp without AppID", d.PutApp(testTenant, App{}), nil},
		{"AddSecret to an unknown app", d.AddSecret(testTenant, noRolesApp, Secret{}), ErrUnknownApp},
		{"SetRoles in an unknown tenant", d.SetRoles("9b4d2a5e-7f11-4c8a-9d3e-1a2b3c4d5e6f", testApp, nil), ErrUnknownTenant},
		{"ExpireSecret on an unknown app", d.ExpireSecret(testTenant, noRolesApp, "k", time.Now()), ErrUnknownApp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				if tc.err == nil {
					t.Error("no error")
				}
				return
			}
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("error %v, want %v", tc.err, tc.want)
			}
		})
	}
	if _, ok := d.Tenant("old.example"); ok {
		t.Error("the replaced domain still resolves")
	}
	if id, ok := d.Tenant("NEW.example"); !ok || id != testTenant {
		t.Errorf("Tenant(new.example) = %q, %v", id, ok)
	}
	if _, ok := d.TenantName(testTenant); ok {
		t.Error("the replaced tenant kept its old display name")
	}
	app, ok := d.App(testTenant, "11111111-2222-4333-8444-555555555555")
	if !ok {
		t.Fatal("the app did not survive replacing its tenant")
	}
	app.Secrets[0].Value = "changed"
	app.Roles[0] = "Directory.ReadWrite.All"
	again, _ := d.App(testTenant, testApp)
	if again.Secrets[0].Value != "v" || again.Roles[0] != "User.Read.All" {
		t.Error("App returned the directory's own slices")
	}
	if err := d.DeleteApp(testTenant, testApp); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.App(testTenant, testApp); ok {
		t.Error("deleted app still found")
	}
}
