package infra

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/azfake"
)

const deployScript = "scripts/deploy.sh"

// tinyZip writes a zip the fake accepts as a package.
func tinyZip(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	if _, err := zw.Create("host.json"); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func deployTenant() *azfake.State {
	st := newTenant()
	st.DeploymentOutputs = map[string]string{
		"functionAppName": "func-edi-abc123", "functionAppUrl": "https://func-edi-abc123.azurewebsites.net/api",
		"keyVaultName": "kv-edi-abc123", "storageAccountName": "stediabc123", "rawContainerName": "entra-raw",
	}
	return st
}

// commands returns the az command words of every call, e.g. "deployment group create".
func commands(calls []azfake.Call) []string {
	var out []string
	for _, c := range calls {
		var words []string
		for _, a := range c.Args {
			if strings.HasPrefix(a, "-") {
				break
			}
			words = append(words, a)
		}
		out = append(out, strings.Join(words, " "))
	}
	return out
}

func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// TestDeployCreatesGroupDeploysTemplateAndCode: a new resource group, the template with the signed-in user as
// Key Vault Secrets Officer and the single-tenant parameters, then the package to the app the template names.
func TestDeployCreatesGroupDeploysTemplateAndCode(t *testing.T) {
	az := startAz(t, deployTenant())
	pkg := tinyZip(t)
	res := az.run(deployScript, nil, "-g", "rg-edi", "-l", "westeurope", "--param", "namePrefix=contoso",
		"--integration-id", "contoso", "--tenant-id", tenantID, "--client-id", "a0000000-0000-4000-8000-000000000002",
		"--secret-id", "b0000000-0000-4000-8000-000000000003", "--integration-permissions", "read-write", "--package", pkg)
	if res.code != 0 {
		t.Fatalf("deploy failed:\n%s", res)
	}
	calls := az.calls()
	want := []string{"account show", "group show", "group create", "ad signed-in-user show", "deployment group create",
		"functionapp deployment source config-zip"}
	if got := commands(calls); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("az calls %q, want %q", got, want)
	}
	create := calls[4].Args
	if got := argAfter(create, "--template-file"); got != filepath.Join(repoRoot(t), "infra", "main.bicep") {
		t.Errorf("template %q", got)
	}
	if argAfter(create, "--resource-group") != "rg-edi" {
		t.Errorf("deployment into %q", argAfter(create, "--resource-group"))
	}
	i := slices.Index(create, "--parameters")
	if i < 0 {
		t.Fatalf("no --parameters in %q", create)
	}
	var params []string
	for _, a := range create[i+1:] {
		if strings.HasPrefix(a, "--") {
			break
		}
		params = append(params, a)
	}
	wantParams := []string{"namePrefix=contoso", "integrationId=contoso", "integrationTenantId=" + tenantID,
		"integrationClientId=a0000000-0000-4000-8000-000000000002", "integrationSecretId=b0000000-0000-4000-8000-000000000003",
		"integrationPermissions=read-write", "packageUri=", "secretsOfficerPrincipalId=" + userObjectID, "secretsOfficerPrincipalType=User"}
	if strings.Join(params, " ") != strings.Join(wantParams, " ") {
		t.Errorf("parameters\n %q\nwant\n %q", params, wantParams)
	}
	zipCall := calls[5].Args
	if argAfter(zipCall, "--name") != "func-edi-abc123" || argAfter(zipCall, "--src") != pkg || argAfter(zipCall, "--resource-group") != "rg-edi" {
		t.Errorf("config-zip %q", zipCall)
	}
	for _, want := range []string{"Function app:   func-edi-abc123", "Key Vault:      kv-edi-abc123",
		"scripts/register-app.sh --key-vault kv-edi-abc123"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
}

// TestDeployBuildsThePackage: without --package the script builds one with package.sh and deploys that file.
func TestDeployBuildsThePackage(t *testing.T) {
	st := deployTenant()
	st.ResourceGroups = []string{"rg-edi"}
	az := startAz(t, st)
	res := az.run(deployScript, map[string]string{"SOURCE_DATE_EPOCH": "1767225600"}, "-g", "rg-edi", "--no-secret-access")
	if res.code != 0 {
		t.Fatalf("deploy failed:\n%s", res)
	}
	calls := az.calls()
	last := calls[len(calls)-1].Args
	src := argAfter(last, "--src")
	if !strings.HasPrefix(src, filepath.Join(repoRoot(t), "dist")+string(filepath.Separator)) || !strings.HasSuffix(src, ".zip") {
		t.Fatalf("deployed %q, want a zip under dist/", src)
	}
	t.Cleanup(func() { os.Remove(src) })
	if _, err := zip.OpenReader(src); err != nil {
		t.Errorf("deployed package: %v", err)
	}
	for _, c := range commands(calls) {
		if strings.HasPrefix(c, "ad ") {
			t.Errorf("--no-secret-access still looked up the signed-in account: %s", c)
		}
	}
}

// TestDeployAsServicePrincipal: a pipeline signed in as a service principal becomes the secrets officer as such.
func TestDeployAsServicePrincipal(t *testing.T) {
	st := deployTenant()
	st.ResourceGroups = []string{"rg-edi"}
	st.UserType, st.UserName = "servicePrincipal", "c1000000-0000-4000-8000-000000000001"
	st.ServicePrincipals = []azfake.Object{{"id": "c2000000-0000-4000-8000-000000000002", "appId": st.UserName}}
	az := startAz(t, st)
	res := az.run(deployScript, nil, "-g", "rg-edi", "--infra-only")
	if res.code != 0 {
		t.Fatalf("deploy failed:\n%s", res)
	}
	var create []string
	for _, c := range az.calls() {
		if strings.Join(c.Args[:min(3, len(c.Args))], " ") == "deployment group create" {
			create = c.Args
		}
		if len(c.Args) > 1 && c.Args[0] == "functionapp" {
			t.Error("--infra-only deployed code")
		}
	}
	for _, p := range []string{"secretsOfficerPrincipalId=c2000000-0000-4000-8000-000000000002", "secretsOfficerPrincipalType=ServicePrincipal"} {
		if !slices.Contains(create, p) {
			t.Errorf("deployment lacks %s: %q", p, create)
		}
	}
}

// TestDeployDryRunChangesNothing: reads only, prints every change.
func TestDeployDryRunChangesNothing(t *testing.T) {
	az := startAz(t, deployTenant())
	res := az.run(deployScript, nil, "-g", "rg-new", "-l", "westeurope", "--dry-run")
	if res.code != 0 {
		t.Fatalf("dry run failed:\n%s", res)
	}
	for _, c := range commands(az.calls()) {
		if c != "account show" && c != "group show" && c != "ad signed-in-user show" {
			t.Errorf("dry run ran az %s", c)
		}
	}
	for _, want := range []string{"dry-run: az group create --name rg-new --location westeurope",
		"dry-run: az deployment group create", "dry-run: az functionapp deployment source config-zip"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// TestDeployCodeOnlyAndErrors: --code-only deploys to the named app; wrong usage exits 2 before any az call; a
// missing group without --location fails clearly.
func TestDeployCodeOnlyAndErrors(t *testing.T) {
	az := startAz(t, deployTenant())
	pkg := tinyZip(t)
	res := az.run(deployScript, nil, "-g", "rg-edi", "--code-only", "--app", "func-x", "--package", pkg)
	if res.code != 0 {
		t.Fatalf("code-only failed:\n%s", res)
	}
	if got := commands(az.calls()); strings.Join(got, "|") != "account show|functionapp deployment source config-zip" {
		t.Errorf("code-only ran %q", got)
	}
	az.clearLog()
	for _, args := range [][]string{
		{}, {"-g", "rg", "--code-only"}, {"-g", "rg", "--param", "not a param"},
		{"-g", "rg", "--tenant-id", tenantID}, {"-g", "rg", "--integration-id", "x", "--tenant-id", "nope", "--client-id", "nope"},
		{"-g", "rg", "--package", "/does/not/exist.zip"}, {"-g", "rg", "--infra-only", "--code-only"},
	} {
		if res := az.run(deployScript, nil, args...); res.code != 2 {
			t.Errorf("%q: want exit 2:\n%s", args, res)
		}
	}
	if n := len(az.calls()); n != 0 {
		t.Errorf("usage errors called az %d times", n)
	}
	res = az.run(deployScript, nil, "-g", "rg-missing", "--package", pkg)
	if res.code != 1 || !strings.Contains(res.stderr, "pass --location") {
		t.Errorf("missing group:\n%s", res)
	}
	if res := az.run(deployScript, nil, "--help"); res.code != 0 || !strings.Contains(res.stdout, "Usage: scripts/deploy.sh") {
		t.Errorf("--help:\n%s", res)
	}
}

// TestDeployWhatIf previews the template and changes nothing.
func TestDeployWhatIf(t *testing.T) {
	st := deployTenant()
	st.ResourceGroups = []string{"rg-edi"}
	az := startAz(t, st)
	res := az.run(deployScript, nil, "-g", "rg-edi", "--what-if", "--param", "enableEventHub=true")
	if res.code != 0 {
		t.Fatalf("what-if failed:\n%s", res)
	}
	got := commands(az.calls())
	if strings.Join(got, "|") != "account show|group show|ad signed-in-user show|deployment group what-if" {
		t.Errorf("what-if ran %q", got)
	}
	if args := az.calls()[len(got)-1].Args; !slices.Contains(args, "enableEventHub=true") {
		t.Errorf("what-if without the parameters: %q", args)
	}
}
