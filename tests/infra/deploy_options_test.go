package infra

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/azfake"
)

// testSecret stands for a client secret value an admin pastes; it must reach ARM and appear nowhere else.
const testSecret = "Zq8Q~pasted.Secret-Value_0123456789abcdefXYZ"

// secretFile writes the secret (with the trailing newline an editor adds) to a file outside the fake's folder.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(p, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertSecretNowhere fails if the secret, or a 12-character piece of it, is in the script's output, in any az
// argument, or in any file the run left behind under dir except the fake's state (which stands for Azure).
func assertSecretNowhere(t *testing.T, az *azEnv, res result) {
	t.Helper()
	for _, leak := range secretLeaksIn(t, az, res) {
		t.Error(leak)
	}
}

func secretLeaksIn(t *testing.T, az *azEnv, res result) []string {
	t.Helper()
	texts := map[string]string{"stdout": res.stdout, "stderr": res.stderr}
	for i, c := range az.calls() {
		texts[fmt.Sprintf("az call %d arguments", i)] = strings.Join(c.Args, " ")
	}
	err := filepath.WalkDir(az.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == az.statePath {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		texts["file "+strings.TrimPrefix(p, az.dir)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var leaks []string
	for name, text := range texts {
		if strings.Contains(text, testSecret) || strings.Contains(text, testSecret[5:17]) {
			leaks = append(leaks, "the client secret appears in "+name)
		}
	}
	return leaks
}

// TestDeploySecretLeaksAreCaught breaks copies of deploy.sh so that the secret leaks (to the output, onto a command
// line, into a file left behind) and expects the leak check of TestDeployEveryOptionCombination to find each.
func TestDeploySecretLeaksAreCaught(t *testing.T) {
	for _, c := range []struct{ name, old, new, where string }{
		{"printed", `			rm -f "$secret_dir/secret"
`, `			rm -f "$secret_dir/secret"
			cat "$secret_params" >&2
`, "stderr"},
		{"on the command line", `	[[ -z $secret_params ]] || args+=("@$secret_params")`,
			`	[[ -z $secret_params ]] || args+=("integrationClientSecret=$(jq -r .parameters.integrationClientSecret.value "$secret_params")")`, "arguments"},
		{"left behind", `		trap 'rm -rf "$secret_dir"' EXIT
`, ``, "file "},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := copyRepo(t)
			replaceIn(t, root, deployScript, c.old, c.new)
			st := deployTenant()
			st.ResourceGroups = []string{"rg-edi"}
			az := startAz(t, st)
			res := az.runIn(root, deployScript, nil, "-g", "rg-edi", "--package", tinyZip(t), "--integration-id", "contoso",
				"--tenant-id", tenantID, "--client-id", "a0000000-0000-4000-8000-000000000002", "--client-secret-file", secretFile(t))
			if res.code != 0 {
				t.Fatalf("the broken copy failed:\n%s", res)
			}
			leaks := secretLeaksIn(t, az, res)
			if !strings.Contains(strings.Join(leaks, "\n"), c.where) {
				t.Errorf("the leak into %s went unnoticed (found: %q)", c.where, leaks)
			}
		})
	}
}

// lastDeployment returns the one template deployment the run made.
func lastDeployment(t *testing.T, az *azEnv) azfake.Deployment {
	t.Helper()
	deps := az.state().Deployments
	if len(deps) != 1 {
		t.Fatalf("%d deployments, want 1", len(deps))
	}
	return deps[0]
}

// TestDeployEveryOptionCombination runs scripts/deploy.sh for each combination of the portal form's two structural
// options, with and without a single-tenant integration (secret included) and with and without Event Hubs
// streaming, and checks the exact az calls, the exact parameters ARM receives, that the secret reaches ARM as the
// secure parameter and nowhere else, and what the script prints.
func TestDeployEveryOptionCombination(t *testing.T) {
	for _, integration := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("integration=%v,streaming=%v", integration, streaming), func(t *testing.T) {
				t.Parallel()
				st := deployTenant()
				st.ResourceGroups = []string{"rg-edi"}
				st.DeploymentOutputs["statusPageUrl"] = "https://func-edi-abc123.azurewebsites.net/api/status"
				st.DeploymentOutputs["integrationsApiUrl"] = "https://func-edi-abc123.azurewebsites.net/api/integrations"
				az := startAz(t, st)
				pkg := tinyZip(t)
				args := []string{"-g", "rg-edi", "--package", pkg}
				want := map[string]any{
					"packageUri":                  "",
					"secretsOfficerPrincipalId":   userObjectID,
					"secretsOfficerPrincipalType": "User",
				}
				if streaming {
					args = append(args, "--param", "enableEventHub=true")
					want["enableEventHub"] = "true"
				}
				if integration {
					args = append(args, "--integration-id", "contoso", "--tenant-id", tenantID,
						"--client-id", "a0000000-0000-4000-8000-000000000002", "--secret-id", "b0000000-0000-4000-8000-000000000003",
						"--client-secret-file", secretFile(t))
					want["integrationId"] = "contoso"
					want["integrationTenantId"] = tenantID
					want["integrationClientId"] = "a0000000-0000-4000-8000-000000000002"
					want["integrationSecretId"] = "b0000000-0000-4000-8000-000000000003"
					want["integrationClientSecret"] = testSecret
				}
				res := az.run(deployScript, nil, args...)
				if res.code != 0 {
					t.Fatalf("deploy failed:\n%s", res)
				}
				calls := az.calls()
				wantCalls := []string{"account show", "group show", "ad signed-in-user show", "deployment group create",
					"functionapp deployment source config-zip"}
				if got := commands(calls); strings.Join(got, "|") != strings.Join(wantCalls, "|") {
					t.Fatalf("az calls %q, want %q", got, wantCalls)
				}
				d := lastDeployment(t, az)
				if d.Group != "rg-edi" || d.Template != filepath.Join(repoRoot(t), "infra", "main.bicep") {
					t.Errorf("deployed %s into %s", d.Template, d.Group)
				}
				if !reflect.DeepEqual(d.Parameters, want) {
					t.Errorf("parameters\n %v\nwant\n %v", redact(d.Parameters), redact(want))
				}
				if argAfter(calls[4].Args, "--src") != pkg {
					t.Errorf("config-zip %q", calls[4].Args)
				}
				for _, line := range []string{"Status page:    https://func-edi-abc123.azurewebsites.net/api/status?code=<function key>",
					"Integrations:   https://func-edi-abc123.azurewebsites.net/api/integrations"} {
					if !strings.Contains(res.stdout, line) {
						t.Errorf("stdout lacks %q:\n%s", line, res.stdout)
					}
				}
				if got := strings.Contains(res.stdout, "is in the vault as integration-contoso"); got != integration {
					t.Errorf("stdout says the secret is in the vault: %v, want %v:\n%s", got, integration, res.stdout)
				}
				assertSecretNowhere(t, az, res)
			})
		}
	}
}

func redact(params map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range params {
		if k == "integrationClientSecret" {
			v = fmt.Sprintf("<%d characters>", len(fmt.Sprint(v)))
		}
		out[k] = v
	}
	return out
}

// TestDeployRelease: --release hands the template the release's package URL (one deploy installs it), builds
// nothing and pushes nothing; the secret can come from standard input.
func TestDeployRelease(t *testing.T) {
	for _, c := range []struct{ release, uri string }{
		{"1.4.0", "https://github.com/entra-di/edi/releases/download/v1.4.0/entra-data-integration.zip"},
		{"v2.0.0-rc.1", "https://github.com/entra-di/edi/releases/download/v2.0.0-rc.1/entra-data-integration.zip"},
		{"latest", "https://github.com/entra-di/edi/releases/latest/download/entra-data-integration.zip"},
	} {
		t.Run(c.release, func(t *testing.T) {
			t.Parallel()
			st := deployTenant()
			st.ResourceGroups = []string{"rg-edi"}
			az := startAz(t, st)
			res := az.runStdin(deployScript, testSecret+"\n", "-g", "rg-edi", "--release", c.release, "--no-secret-access",
				"--integration-id", "contoso", "--tenant-id", tenantID, "--client-id", "a0000000-0000-4000-8000-000000000002",
				"--client-secret-file", "-")
			if res.code != 0 {
				t.Fatalf("deploy failed:\n%s", res)
			}
			if got := commands(az.calls()); strings.Join(got, "|") != "account show|group show|deployment group create" {
				t.Errorf("az calls %q", got)
			}
			d := lastDeployment(t, az)
			if d.Parameters["packageUri"] != c.uri {
				t.Errorf("packageUri %v, want %s", d.Parameters["packageUri"], c.uri)
			}
			if d.Parameters["integrationClientSecret"] != testSecret {
				t.Error("the secret from standard input did not reach the deployment")
			}
			if strings.Contains(res.stderr, "building handler") {
				t.Error("--release built a package")
			}
			assertSecretNowhere(t, az, res)
		})
	}
}

// TestDeploySecretAndReleaseUsage: contradictory or incomplete options exit 2 before any az call; an empty secret
// file fails before the deployment.
func TestDeploySecretAndReleaseUsage(t *testing.T) {
	t.Parallel()
	az := startAz(t, deployTenant())
	secret := secretFile(t)
	pkg := tinyZip(t)
	for _, args := range [][]string{
		{"-g", "rg", "--client-secret-file", secret},
		{"-g", "rg", "--integration-id", "x", "--tenant-id", tenantID, "--client-id", tenantID, "--client-secret-file", "/does/not/exist"},
		{"-g", "rg", "--code-only", "--app", "f", "--integration-id", "x", "--tenant-id", tenantID, "--client-id", tenantID, "--client-secret-file", secret},
		{"-g", "rg", "--release", "1.4"},
		{"-g", "rg", "--release", "1.4.0", "--package", pkg},
		{"-g", "rg", "--release", "1.4.0", "--package-uri", "https://example.com/p.zip"},
		{"-g", "rg", "--package-uri", "http://example.com/p.zip"},
		{"-g", "rg", "--code-only", "--app", "f", "--release", "1.4.0"},
	} {
		if res := az.run(deployScript, nil, args...); res.code != 2 {
			t.Errorf("%q: want exit 2:\n%s", args, res)
		}
	}
	if n := len(az.calls()); n != 0 {
		t.Errorf("usage errors called az %d times", n)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := deployTenant()
	st.ResourceGroups = []string{"rg"}
	az = startAz(t, st)
	res := az.run(deployScript, nil, "-g", "rg", "--package", pkg, "--integration-id", "x", "--tenant-id", tenantID,
		"--client-id", tenantID, "--client-secret-file", empty)
	if res.code != 1 || !strings.Contains(res.stderr, "is empty") {
		t.Errorf("empty secret file:\n%s", res)
	}
	if len(az.state().Deployments) != 0 {
		t.Error("an empty secret was deployed")
	}
}
