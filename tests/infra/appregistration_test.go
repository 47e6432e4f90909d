package infra

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/infra/azfake"
	"github.com/entra-di/edi/tests/infra/infracheck"
)

const createScript = infracheck.CreateAppScriptPath

// scriptEnv is the environment the deployment script resource gives the script for one form answer: the same
// names and values main.bicep / mainTemplate.json pass (the contract test checks those expressions).
func scriptEnv(t *testing.T, name string, write, intune, consent bool) map[string]string {
	t.Helper()
	perms, err := json.Marshal(permissionSets(t).Select(write, intune))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"APP_NAME":            name,
		"PERMISSIONS":         string(perms),
		"TENANT_ID":           tenantID,
		"GRANT_ADMIN_CONSENT": fmt.Sprint(consent),
		"LOGIN_ENDPOINT":      "https://login.microsoftonline.com/",
		"RETRY_DELAY_SECONDS": "0",
	}
}

func permissionSets(t *testing.T) infracheck.PermissionSets {
	t.Helper()
	sets, err := infracheck.BuildPermissionSets()
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

// expectedAccess is the requiredResourceAccess entry for Graph: the catalog's role ids, in template order.
func expectedAccess(t *testing.T, write, intune bool) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, name := range permissionSets(t).Select(write, intune) {
		p, ok := catalog.PermissionByName(name)
		if !ok {
			t.Fatalf("%s is not in the catalog", name)
		}
		out = append(out, map[string]string{"id": p.ID, "type": "Role"})
	}
	return out
}

type scriptOutput struct {
	AppID               string   `json:"appId"`
	ObjectID            string   `json:"objectId"`
	ServicePrincipalID  string   `json:"servicePrincipalId"`
	TenantID            string   `json:"tenantId"`
	AdminConsentURL     string   `json:"adminConsentUrl"`
	APIPermissionsURL   string   `json:"apiPermissionsUrl"`
	Permissions         []string `json:"permissions"`
	AdminConsentGranted bool     `json:"adminConsentGranted"`
}

func readOutput(t *testing.T, path string) scriptOutput {
	t.Helper()
	st, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out scriptOutput
	if err := json.Unmarshal([]byte(st), &out); err != nil {
		t.Fatalf("output %q: %v", st, err)
	}
	return out
}

func filterQuery(prop, value, selectFields string) map[string]string {
	return map[string]string{"$filter": fmt.Sprintf("%s eq '%s'", prop, strings.ReplaceAll(value, "'", "''")), "$select": selectFields}
}

const appNotes = "Entra ID Data Integration: reads sign-in and audit logs and directory data through Microsoft Graph (application permissions, client credentials)."

// TestDeploymentScriptEveryAnswer runs the deployment script for the four Yes/No combinations of "Assign write
// permissions" and "Tenant has Intune License" on an empty tenant and checks every Graph request and body, the
// outputs, and that a second run finds the application and service principal and changes nothing.
func TestDeploymentScriptEveryAnswer(t *testing.T) {
	for _, write := range []bool{false, true} {
		for _, intune := range []bool{false, true} {
			t.Run(fmt.Sprintf("write=%v,intune=%v", write, intune), func(t *testing.T) {
				t.Parallel()
				az := startAz(t, newTenant())
				env := scriptEnv(t, "Contoso's Entra ID Data Integration", write, intune, false)
				outPath := az.dir + "/scriptoutputs.json"
				env["AZ_SCRIPTS_OUTPUT_PATH"] = outPath
				res := az.run(createScript, env)
				if res.code != 0 {
					t.Fatalf("script failed:\n%s", res)
				}
				st := az.state()
				if len(st.Applications) != 1 || len(st.ServicePrincipals) != 1 {
					t.Fatalf("tenant has %d applications and %d service principals, want 1 and 1", len(st.Applications), len(st.ServicePrincipals))
				}
				app, sp := st.Applications[0], st.ServicePrincipals[0]
				appID, objectID, spID := app["appId"].(string), app["id"].(string), sp["id"].(string)
				access := expectedAccess(t, write, intune)
				assertRequests(t, az.graphCalls(), []request{
					{Method: "GET", Path: "/v1.0/applications",
						Query: filterQuery("displayName", "Contoso's Entra ID Data Integration", "id,appId,displayName,signInAudience,requiredResourceAccess")},
					{Method: "POST", Path: "/v1.0/applications", Body: map[string]any{
						"displayName": "Contoso's Entra ID Data Integration", "signInAudience": "AzureADMyOrg", "notes": appNotes}},
					{Method: "GET", Path: "/v1.0/servicePrincipals(appId='" + catalog.GraphAppID + "')",
						Query: map[string]string{"$select": "id,appRoles"}},
					{Method: "PATCH", Path: "/v1.0/applications/" + objectID, Body: map[string]any{
						"requiredResourceAccess": []any{map[string]any{"resourceAppId": catalog.GraphAppID, "resourceAccess": access}}}},
					{Method: "GET", Path: "/v1.0/servicePrincipals", Query: filterQuery("appId", appID, "id,appId")},
					{Method: "POST", Path: "/v1.0/servicePrincipals", Body: map[string]any{"appId": appID}},
				})
				for _, c := range az.calls() {
					if c.Rest == nil {
						t.Errorf("unexpected az call %v (the template passes TENANT_ID)", c.Args)
					}
				}

				// The permissions are exactly the catalog's set for the answers.
				var names []string
				for _, p := range catalog.PermissionSet(map[bool]catalog.Access{false: catalog.ReadOnly, true: catalog.ReadWrite}[write], intune) {
					names = append(names, p.Name)
				}
				out := readOutput(t, outPath)
				if !sameSet(out.Permissions, names) {
					t.Errorf("permissions %v, want the catalog's %v", out.Permissions, names)
				}
				want := scriptOutput{
					AppID: appID, ObjectID: objectID, ServicePrincipalID: spID, TenantID: tenantID,
					AdminConsentURL:   "https://login.microsoftonline.com/" + tenantID + "/adminconsent?client_id=" + appID,
					APIPermissionsURL: "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/CallAnAPI/appId/" + appID,
					Permissions:       out.Permissions,
				}
				if fmt.Sprint(out) != fmt.Sprint(want) {
					t.Errorf("outputs\n %+v\nwant\n %+v", out, want)
				}

				// Second run: found, not created; nothing written.
				az.clearLog()
				res = az.run(createScript, env)
				if res.code != 0 {
					t.Fatalf("second run failed:\n%s", res)
				}
				assertRequests(t, az.graphCalls(), []request{
					{Method: "GET", Path: "/v1.0/applications"},
					{Method: "GET", Path: "/v1.0/servicePrincipals(appId='" + catalog.GraphAppID + "')"},
					{Method: "GET", Path: "/v1.0/servicePrincipals"},
				})
				if again := readOutput(t, outPath); fmt.Sprint(again) != fmt.Sprint(out) {
					t.Errorf("second run outputs %+v, first %+v", again, out)
				}
				st = az.state()
				if len(st.Applications) != 1 || len(st.ServicePrincipals) != 1 {
					t.Errorf("second run left %d applications and %d service principals", len(st.Applications), len(st.ServicePrincipals))
				}
				if !strings.Contains(res.stderr, "found app registration") || !strings.Contains(res.stderr, "found service principal") {
					t.Errorf("second run does not say it found the existing objects:\n%s", res.stderr)
				}
			})
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestDeploymentScriptWaitsForReplication: Entra answers the first service principal creation and the first
// update with replication errors; the script retries and completes.
func TestDeploymentScriptWaitsForReplication(t *testing.T) {
	st := newTenant()
	st.SPReplicationFailures = 2
	st.PatchReplicationFailures = 1
	az := startAz(t, st)
	res := az.run(createScript, scriptEnv(t, "Entra ID Data Integration", false, false, false))
	if res.code != 0 {
		t.Fatalf("script failed:\n%s", res)
	}
	var methods []string
	for _, c := range az.graphCalls() {
		methods = append(methods, c.Method+" "+strings.SplitN(c.Path, "/", 4)[2])
	}
	want := []string{"GET applications", "POST applications", "GET servicePrincipals(appId='" + catalog.GraphAppID + "')",
		"PATCH applications", "PATCH applications", "GET servicePrincipals",
		"POST servicePrincipals", "POST servicePrincipals", "POST servicePrincipals"}
	if strings.Join(methods, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(methods, "\n"), strings.Join(want, "\n"))
	}
	if got := strings.Count(res.stderr, "waiting 0s for directory replication"); got != 3 {
		t.Errorf("stderr reports %d waits, want 3:\n%s", got, res.stderr)
	}
	var out scriptOutput
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || out.ServicePrincipalID == "" {
		t.Errorf("stdout %q is not the output JSON with a service principal (%v)", res.stdout, err)
	}
}

// TestDeploymentScriptGivesUpAfterRetries: a replication delay longer than the retries fails the deployment with
// Graph's error, and non-replication errors are not retried at all.
func TestDeploymentScriptGivesUpAfterRetries(t *testing.T) {
	st := newTenant()
	st.SPReplicationFailures = 10
	az := startAz(t, st)
	env := scriptEnv(t, "Entra ID Data Integration", false, false, false)
	env["RETRY_ATTEMPTS"] = "3"
	res := az.run(createScript, env)
	if res.code == 0 {
		t.Fatalf("script succeeded although the service principal never replicated:\n%s", res)
	}
	if !strings.Contains(res.stderr, "NoBackingApplicationObject") {
		t.Errorf("stderr does not carry Graph's error:\n%s", res.stderr)
	}
	posts := 0
	for _, c := range az.graphCalls() {
		if c.Method == "POST" && c.Path == "/v1.0/servicePrincipals" {
			posts++
		}
	}
	if posts != 3 {
		t.Errorf("%d attempts, want 3", posts)
	}
}

// TestDeploymentScriptRefusesUnknownPermission: a permission name Graph does not offer as an application role
// fails before anything is written to the application.
func TestDeploymentScriptRefusesUnknownPermission(t *testing.T) {
	az := startAz(t, newTenant())
	env := scriptEnv(t, "Entra ID Data Integration", false, false, false)
	env["PERMISSIONS"] = `["AuditLog.Read.All","AuditLog.Read.Al","DeviceManagementApps.Read"]`
	res := az.run(createScript, env)
	if res.code == 0 {
		t.Fatalf("script accepted unknown permissions:\n%s", res)
	}
	if !strings.Contains(res.stderr, "no application permission named: AuditLog.Read.Al, DeviceManagementApps.Read") {
		t.Errorf("stderr does not name the unknown permissions:\n%s", res.stderr)
	}
	for _, c := range az.graphCalls() {
		if c.Method == "PATCH" {
			t.Errorf("the application was updated: %s %s", c.Path, c.Body)
		}
	}
}

// TestDeploymentScriptKeepsOtherAPIs: permissions on other APIs that an admin added stay; Graph's are replaced, so
// answering "No" to write permissions later removes them.
func TestDeploymentScriptKeepsOtherAPIs(t *testing.T) {
	st := newTenant()
	exchange := map[string]any{"resourceAppId": "00000002-0000-0ff1-ce00-000000000000",
		"resourceAccess": []any{map[string]any{"id": "dc890d15-9560-4a4c-9b7f-a736ec74ec40", "type": "Role"}}}
	rw := expectedAccess(t, true, false)
	st.Applications = []azfake.Object{{
		"id": "a0000000-0000-4000-8000-000000000001", "appId": "a0000000-0000-4000-8000-000000000002",
		"displayName": "Entra ID Data Integration",
		"requiredResourceAccess": []any{exchange,
			map[string]any{"resourceAppId": catalog.GraphAppID, "resourceAccess": normalizeJSON(t, rw)}},
	}}
	az := startAz(t, st)
	res := az.run(createScript, scriptEnv(t, "Entra ID Data Integration", false, false, false))
	if res.code != 0 {
		t.Fatalf("script failed:\n%s", res)
	}
	var patch *azfake.RestCall
	for _, c := range az.graphCalls() {
		if c.Method == "PATCH" {
			patch = &c
		}
	}
	if patch == nil {
		t.Fatal("read-only answer did not update a read-write application")
	}
	var body struct {
		RRA []map[string]any `json:"requiredResourceAccess"`
	}
	if err := json.Unmarshal(patch.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := normalizeJSON(t, []any{exchange, map[string]any{"resourceAppId": catalog.GraphAppID, "resourceAccess": expectedAccess(t, false, false)}})
	if fmt.Sprint(normalizeJSON(t, body.RRA)) != fmt.Sprint(want) {
		t.Errorf("requiredResourceAccess %s\nwant %v", patch.Body, want)
	}
}

// TestDeploymentScriptRefusesAmbiguousName: two applications with the display name cannot be told apart.
func TestDeploymentScriptRefusesAmbiguousName(t *testing.T) {
	st := newTenant()
	for i := 1; i <= 2; i++ {
		st.Applications = append(st.Applications, azfake.Object{"id": fmt.Sprintf("a000000%d-0000-4000-8000-000000000001", i),
			"appId": fmt.Sprintf("b000000%d-0000-4000-8000-000000000001", i), "displayName": "Entra ID Data Integration"})
	}
	az := startAz(t, st)
	res := az.run(createScript, scriptEnv(t, "Entra ID Data Integration", false, false, false))
	if res.code == 0 || !strings.Contains(res.stderr, "2 app registrations are named 'Entra ID Data Integration'") {
		t.Fatalf("want a refusal naming the duplicates:\n%s", res)
	}
	if calls := az.graphCalls(); len(calls) != 1 {
		t.Errorf("%d requests after the ambiguous lookup, want none", len(calls)-1)
	}
}

// TestDeploymentScriptConsent: with GRANT_ADMIN_CONSENT the script assigns every Graph app role (the grant);
// Application Administrator is refused with a clear message; a second run assigns nothing twice.
func TestDeploymentScriptConsent(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		st := newTenant()
		st.ForbidAppRoleAssignments = true
		az := startAz(t, st)
		res := az.run(createScript, scriptEnv(t, "Entra ID Data Integration", false, false, true))
		if res.code == 0 {
			t.Fatalf("consent refused by Graph but the script succeeded:\n%s", res)
		}
		if !strings.Contains(res.stderr, "Authorization_RequestDenied") || !strings.Contains(res.stderr, "Privileged Role Administrator or Global Administrator") {
			t.Errorf("stderr does not explain the refusal:\n%s", res.stderr)
		}
	})
	t.Run("granted", func(t *testing.T) {
		az := startAz(t, newTenant())
		env := scriptEnv(t, "Entra ID Data Integration", true, true, true)
		res := az.run(createScript, env)
		if res.code != 0 {
			t.Fatalf("script failed:\n%s", res)
		}
		st := az.state()
		spID := st.ServicePrincipals[0]["id"].(string)
		var want []request
		for _, a := range expectedAccess(t, true, true) {
			want = append(want, request{Method: "POST", Path: "/v1.0/servicePrincipals/" + graphSPID + "/appRoleAssignedTo",
				Body: map[string]any{"principalId": spID, "resourceId": graphSPID, "appRoleId": a["id"]}})
		}
		calls := az.graphCalls()
		assertRequests(t, calls[len(calls)-len(want):], want)
		if calls[len(calls)-len(want)-1].Path != "/v1.0/servicePrincipals/"+spID+"/appRoleAssignments" {
			t.Errorf("the script did not read the existing grants before granting")
		}
		var out scriptOutput
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || !out.AdminConsentGranted {
			t.Errorf("output does not report the grant: %s", res.stdout)
		}
		az.clearLog()
		if res := az.run(createScript, env); res.code != 0 {
			t.Fatalf("second run failed:\n%s", res)
		}
		for _, c := range az.graphCalls() {
			if c.Method != "GET" {
				t.Errorf("second run wrote %s %s", c.Method, c.Path)
			}
		}
		if n := len(az.state().Assignments); n != len(want) {
			t.Errorf("%d grants after two runs, want %d", n, len(want))
		}
	})
}

// TestDeploymentScriptDryRun: reads, prints the writes, changes nothing.
func TestDeploymentScriptDryRun(t *testing.T) {
	az := startAz(t, newTenant())
	env := scriptEnv(t, "Entra ID Data Integration", true, false, false)
	env["DRY_RUN"] = "true"
	res := az.run(createScript, env)
	if res.code != 0 {
		t.Fatalf("dry run failed:\n%s", res)
	}
	for _, c := range az.graphCalls() {
		if c.Method != "GET" {
			t.Errorf("dry run sent %s %s", c.Method, c.Path)
		}
	}
	for _, want := range []string{"dry-run: would send POST https://graph.microsoft.com/v1.0/applications",
		"dry-run: would send POST https://graph.microsoft.com/v1.0/servicePrincipals"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if st := az.state(); len(st.Applications) != 0 {
		t.Errorf("dry run created %d applications", len(st.Applications))
	}
}

// TestDeploymentScriptValidatesInputs: missing or malformed inputs fail before any call.
func TestDeploymentScriptValidatesInputs(t *testing.T) {
	for name, change := range map[string]map[string]string{
		"no name":            {"APP_NAME": ""},
		"permissions object": {"PERMISSIONS": `{"readOnly":[]}`},
		"bad consent flag":   {"GRANT_ADMIN_CONSENT": "Yes"},
	} {
		t.Run(name, func(t *testing.T) {
			az := startAz(t, newTenant())
			env := scriptEnv(t, "Entra ID Data Integration", false, false, false)
			for k, v := range change {
				env[k] = v
			}
			if res := az.run(createScript, env); res.code == 0 || !strings.Contains(res.stderr, "error:") {
				t.Errorf("want a validation error:\n%s", res)
			}
			if calls := az.calls(); len(calls) != 0 {
				t.Errorf("%d az calls before validation", len(calls))
			}
		})
	}
}

// TestDeploymentScriptFederatedCredential: with the function app's managed identity the script makes the
// registration trust it as a federated identity credential — issuer the login endpoint's tenant v2.0 URL, subject
// the identity's object id, audience api://AzureADTokenExchange — multi-tenant when asked; a second run changes
// nothing; another identity updates the same credential in place (its name is immutable in Entra).
func TestDeploymentScriptFederatedCredential(t *testing.T) {
	const principal, other = "3c4d5e6f-1111-4222-8333-444455556666", "7a8b9c0d-1111-4222-8333-444455556666"
	az := startAz(t, newTenant())
	env := scriptEnv(t, "Entra ID Data Integration", false, false, false)
	env["SIGN_IN_AUDIENCE"], env["FEDERATED_IDENTITY_PRINCIPAL_ID"] = "AzureADMultipleOrgs", principal
	outPath := az.dir + "/scriptoutputs.json"
	env["AZ_SCRIPTS_OUTPUT_PATH"] = outPath
	if res := az.run(createScript, env); res.code != 0 {
		t.Fatalf("script failed:\n%s", res)
	}
	st := az.state()
	objectID := st.Applications[0]["id"].(string)
	issuer := "https://login.microsoftonline.com/" + tenantID + "/v2.0"
	if st.Applications[0]["signInAudience"] != "AzureADMultipleOrgs" {
		t.Errorf("signInAudience %v", st.Applications[0]["signInAudience"])
	}
	if len(st.FederatedCredentials) != 1 {
		t.Fatalf("federated credentials %+v", st.FederatedCredentials)
	}
	fc := st.FederatedCredentials[0]
	if fc.AppObjectID != objectID || fc.Name != "function-app-managed-identity" || fc.Issuer != issuer || fc.Subject != principal ||
		fmt.Sprint(fc.Audiences) != "[api://AzureADTokenExchange]" {
		t.Errorf("federated credential %+v", fc)
	}
	var out struct {
		SignInAudience      string `json:"signInAudience"`
		FederatedCredential struct {
			Name, Issuer, Subject string
			Audiences             []string
		} `json:"federatedCredential"`
	}
	raw, err := readFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil || out.SignInAudience != "AzureADMultipleOrgs" || out.FederatedCredential.Subject != principal {
		t.Errorf("outputs %s: %v", raw, err)
	}

	az.clearLog()
	if res := az.run(createScript, env); res.code != 0 || !strings.Contains(res.stderr, "found federated identity credential") {
		t.Fatalf("second run:\n%s", res)
	}
	for _, c := range az.graphCalls() {
		if c.Method != "GET" {
			t.Errorf("second run wrote %s %s", c.Method, c.Path)
		}
	}

	az.clearLog()
	env["FEDERATED_IDENTITY_PRINCIPAL_ID"] = other
	if res := az.run(createScript, env); res.code != 0 {
		t.Fatalf("third run:\n%s", res)
	}
	st = az.state()
	if len(st.FederatedCredentials) != 1 || st.FederatedCredentials[0].Subject != other || st.FederatedCredentials[0].ID != fc.ID {
		t.Errorf("after another identity: %+v", st.FederatedCredentials)
	}
	var patches int
	for _, c := range az.graphCalls() {
		if c.Method == "PATCH" && strings.HasSuffix(c.Path, "/federatedIdentityCredentials/"+fc.ID) {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("%d PATCHes of the federated credential, want 1", patches)
	}

	// An existing single-tenant registration is switched to multi-tenant.
	st2 := newTenant()
	st2.Applications = append(st2.Applications, azfake.Object{"id": "a0000001-0000-4000-8000-000000000001",
		"appId": "b0000001-0000-4000-8000-000000000001", "displayName": "Entra ID Data Integration", "signInAudience": "AzureADMyOrg"})
	az2 := startAz(t, st2)
	if res := az2.run(createScript, env); res.code != 0 {
		t.Fatalf("existing app:\n%s", res)
	}
	if got := az2.state().Applications[0]["signInAudience"]; got != "AzureADMultipleOrgs" {
		t.Errorf("signInAudience %v after the switch", got)
	}

	env["FEDERATED_IDENTITY_PRINCIPAL_ID"] = "not-a-guid"
	if res := az.run(createScript, env); res.code == 0 || !strings.Contains(res.stderr, "FEDERATED_IDENTITY_PRINCIPAL_ID must be") {
		t.Errorf("a bad principal id was accepted:\n%s", res)
	}
}
