package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/azfake"
)

const registerAPIScript = "scripts/register-api-app.sh"

type appRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
}

func rolesOf(t *testing.T, app azfake.Object) map[string]appRole {
	t.Helper()
	b, _ := json.Marshal(app["appRoles"])
	var roles []appRole
	if err := json.Unmarshal(b, &roles); err != nil {
		t.Fatal(err)
	}
	out := map[string]appRole{}
	for _, r := range roles {
		out[r.Value] = r
	}
	return out
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestRegisterAPIApp: the API app gets api://<appId> and the three Integration.* roles; a rerun keeps the role
// ids (assignments survive) and leaves roles added by hand alone.
func TestRegisterAPIApp(t *testing.T) {
	st := newTenant()
	st.Applications = []azfake.Object{{
		"id": "e0000000-0000-4000-8000-000000000001", "appId": "e0000000-0000-4000-8000-000000000002",
		"displayName": "Entra ID Data Integration API", "identifierUris": []any{},
		"appRoles": []any{
			map[string]any{"id": "e0000000-0000-4000-8000-0000000000aa", "value": "Integration.Admin", "displayName": "old",
				"description": "old", "allowedMemberTypes": []any{"User"}, "isEnabled": true},
			map[string]any{"id": "e0000000-0000-4000-8000-0000000000bb", "value": "Custom.Auditor", "displayName": "Auditor",
				"description": "added by hand", "allowedMemberTypes": []any{"User"}, "isEnabled": true},
		},
	}}
	az := startAz(t, st)
	res := az.run(registerAPIScript, nil)
	if res.code != 0 {
		t.Fatalf("register-api-app failed:\n%s", res)
	}
	after := az.state()
	app := after.Applications[0]
	roles := rolesOf(t, app)
	if len(roles) != 4 {
		t.Fatalf("roles %v, want the three Integration.* roles and the hand-made one", roles)
	}
	if roles["Integration.Admin"].ID != "e0000000-0000-4000-8000-0000000000aa" {
		t.Errorf("Integration.Admin changed its id to %s", roles["Integration.Admin"].ID)
	}
	if roles["Custom.Auditor"].Description != "added by hand" {
		t.Error("the hand-made role was changed")
	}
	for _, v := range []string{"Integration.Admin", "Integration.Helpdesk", "Integration.Reader"} {
		r := roles[v]
		if !uuidPattern.MatchString(r.ID) || !r.IsEnabled || strings.Join(r.AllowedMemberTypes, ",") != "User,Application" || r.Description == "old" {
			t.Errorf("role %s: %+v", v, r)
		}
	}
	if uris, _ := json.Marshal(app["identifierUris"]); string(uris) != `["api://e0000000-0000-4000-8000-000000000002"]` {
		t.Errorf("identifierUris %s", uris)
	}
	if after.ServicePrincipals[0]["appRoleAssignmentRequired"] != true {
		t.Error("the service principal does not require role assignment")
	}
	if !strings.Contains(res.stdout, "--param authClientId=e0000000-0000-4000-8000-000000000002") {
		t.Errorf("stdout does not show how to turn authentication on:\n%s", res.stdout)
	}

	az.clearLog()
	if res := az.run(registerAPIScript, nil); res.code != 0 {
		t.Fatalf("second run failed:\n%s", res)
	}
	for _, c := range az.graphCalls() {
		if c.Method == "PATCH" && strings.HasPrefix(c.Path, "/v1.0/applications/") || c.Method == "POST" {
			t.Errorf("second run changed %s %s", c.Method, c.Path)
		}
	}
	if again := rolesOf(t, az.state().Applications[0]); again["Integration.Reader"].ID != roles["Integration.Reader"].ID {
		t.Error("a rerun changed the role ids")
	}
}

// TestAPIAppRolesAreTheSpecs: the API app defines exactly the roles the handler authorizes by (SPEC §7).
func TestAPIAppRolesAreTheSpecs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "auth", "app-roles.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		AppRoles []appRole `json:"appRoles"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, r := range f.AppRoles {
		values = append(values, r.Value)
		if r.DisplayName == "" || r.Description == "" || len(r.AllowedMemberTypes) == 0 || r.ID != "" {
			t.Errorf("role %s: display name, description and member types required, no fixed id: %+v", r.Value, r)
		}
	}
	if strings.Join(values, ",") != "Integration.Admin,Integration.Helpdesk,Integration.Reader" {
		t.Errorf("roles %v", values)
	}
}
