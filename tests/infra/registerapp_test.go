package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/infra/azfake"
)

const registerScript = "scripts/register-app.sh"

// TestRegisterAppEveryAnswer: the four --permissions/--intune combinations request the same permissions as the
// portal path, and a second run reuses the registration.
func TestRegisterAppEveryAnswer(t *testing.T) {
	for _, write := range []bool{false, true} {
		for _, intune := range []bool{false, true} {
			t.Run(fmt.Sprintf("write=%v,intune=%v", write, intune), func(t *testing.T) {
				t.Parallel()
				az := startAz(t, newTenant())
				args := []string{"--permissions", map[bool]string{false: "read-only", true: "read-write"}[write],
					"--intune", map[bool]string{false: "no", true: "yes"}[intune]}
				res := az.run(registerScript, nil, args...)
				if res.code != 0 {
					t.Fatalf("register-app failed:\n%s", res)
				}
				st := az.state()
				objectID := st.Applications[0]["id"].(string)
				calls := az.graphCalls()
				i := slices.IndexFunc(calls, func(c azfake.RestCall) bool { return c.Method == "PATCH" })
				if i < 0 {
					t.Fatal("no PATCH of the application")
				}
				assertRequests(t, calls[i:i+1], []request{{Method: "PATCH", Path: "/v1.0/applications/" + objectID,
					Body: map[string]any{"requiredResourceAccess": []any{map[string]any{
						"resourceAppId": catalog.GraphAppID, "resourceAccess": expectedAccess(t, write, intune)}}}}})
				for _, want := range []string{"Directory (tenant) ID:     " + tenantID,
					"Application (client) ID:   " + st.Applications[0]["appId"].(string),
					fmt.Sprintf("%d Microsoft Graph application permissions", len(expectedAccess(t, write, intune)))} {
					if !strings.Contains(res.stdout, want) {
						t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
					}
				}
				if strings.Contains(res.stdout, "Secret ID") {
					t.Errorf("a secret was reported without --key-vault:\n%s", res.stdout)
				}
				az.clearLog()
				if res := az.run(registerScript, nil, args...); res.code != 0 {
					t.Fatalf("second run failed:\n%s", res)
				}
				for _, c := range az.graphCalls() {
					if c.Method != "GET" {
						t.Errorf("second run wrote %s %s", c.Method, c.Path)
					}
				}
			})
		}
	}
}

// TestRegisterAppStoresSecretInKeyVault: the client secret goes from Graph into Key Vault through a private file,
// never through a command line or the output; the output carries the ids and the app settings.
func TestRegisterAppStoresSecretInKeyVault(t *testing.T) {
	az := startAz(t, newTenant())
	before := time.Now().UTC()
	res := az.run(registerScript, nil, "--name", "EDI test", "--key-vault", "kv-edi-test",
		"--integration-id", "contoso", "--secret-days", "90")
	if res.code != 0 {
		t.Fatalf("register-app failed:\n%s", res)
	}
	st := az.state()
	if len(st.Passwords) != 1 || len(st.Secrets) != 1 {
		t.Fatalf("%d passwords and %d Key Vault secrets, want 1 and 1", len(st.Passwords), len(st.Secrets))
	}
	pw, kv := st.Passwords[0], st.Secrets[0]
	app := st.Applications[0]
	if kv.Vault != "kv-edi-test" || kv.Name != "integration-contoso" || kv.Value != pw.SecretText {
		t.Errorf("Key Vault holds %s/%s (value matches the password: %v)", kv.Vault, kv.Name, kv.Value == pw.SecretText)
	}
	if kv.Expires != pw.EndDateTime {
		t.Errorf("secret expires %q, the password %q", kv.Expires, pw.EndDateTime)
	}
	want := map[string]string{"tenantId": tenantID, "clientId": app["appId"].(string), "secretId": pw.KeyID}
	if fmt.Sprint(kv.Tags) != fmt.Sprint(want) {
		t.Errorf("secret tags %v, want %v", kv.Tags, want)
	}
	end, err := time.Parse(time.RFC3339, pw.EndDateTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := end.Sub(before.Add(90 * 24 * time.Hour)); d < -time.Minute || d > 5*time.Minute {
		t.Errorf("secret ends %v, want 90 days from now", end)
	}
	if !strings.HasPrefix(pw.DisplayName, "Entra ID Data Integration (integration-contoso, ") {
		t.Errorf("secret display name %q", pw.DisplayName)
	}

	var setArgs []string
	var addPassword *azfake.RestCall
	for _, c := range az.calls() {
		if len(c.Args) > 2 && c.Args[0] == "keyvault" {
			setArgs = c.Args
		}
		if c.Rest != nil && strings.HasSuffix(c.Rest.Path, "/addPassword") {
			addPassword = c.Rest
		}
	}
	if addPassword == nil || addPassword.Path != "/v1.0/applications/"+app["id"].(string)+"/addPassword" {
		t.Fatalf("no addPassword on the application: %+v", addPassword)
	}
	for _, flag := range []string{"--file", "--encoding", "--expires", "--output"} {
		if !slices.Contains(setArgs, flag) {
			t.Errorf("az keyvault secret set without %s: %v", flag, setArgs)
		}
	}
	if i := slices.Index(setArgs, "--file"); i >= 0 {
		if _, err := os.Stat(setArgs[i+1]); !os.IsNotExist(err) {
			t.Errorf("the secret file %s was left behind (%v)", setArgs[i+1], err)
		}
	}
	for _, line := range []string{"Secret ID:                 " + pw.KeyID, "Key Vault secret:          kv-edi-test / integration-contoso",
		"ENTRA_CLIENT_SECRET_NAME=integration-contoso", "ENTRA_SECRET_ID=" + pw.KeyID, "ENTRA_CLIENT_ID=" + app["appId"].(string)} {
		if !strings.Contains(res.stdout, line) {
			t.Errorf("stdout lacks %q:\n%s", line, res.stdout)
		}
	}
	logBytes, _ := os.ReadFile(az.logPath)
	assertNoSecret(t, st, map[string]string{"stdout": res.stdout, "stderr": res.stderr, "az command lines": string(logBytes)})
	leftovers, _ := os.ReadDir(az.dir)
	for _, e := range leftovers {
		if e.IsDir() && strings.HasPrefix(e.Name(), "tmp.") {
			t.Errorf("temporary directory %s left in TMPDIR", e.Name())
		}
	}

	// Rotation: a second run adds a new secret and a new Key Vault version of the same secret.
	res = az.run(registerScript, nil, "--name", "EDI test", "--key-vault", "kv-edi-test", "--integration-id", "contoso")
	if res.code != 0 {
		t.Fatalf("second run failed:\n%s", res)
	}
	st = az.state()
	if len(st.Applications) != 1 || len(st.Passwords) != 2 || len(st.Secrets) != 2 || st.Secrets[1].Name != "integration-contoso" {
		t.Errorf("after rotation: %d apps, %d passwords, %d secret versions", len(st.Applications), len(st.Passwords), len(st.Secrets))
	}
	assertNoSecret(t, st, map[string]string{"stdout": res.stdout, "stderr": res.stderr})
}

// TestRegisterAppRemovesSecretKeyVaultRefused: when Key Vault refuses the write, the new password is removed
// from the application again and the script fails without printing the value.
func TestRegisterAppRemovesSecretKeyVaultRefused(t *testing.T) {
	st := newTenant()
	st.ForbidSecretWrites = true
	az := startAz(t, st)
	res := az.run(registerScript, nil, "--key-vault", "kv-edi-test")
	if res.code == 0 {
		t.Fatalf("register-app succeeded although Key Vault refused:\n%s", res)
	}
	after := az.state()
	if len(after.Passwords) != 0 {
		t.Errorf("%d passwords left on the application", len(after.Passwords))
	}
	var removed bool
	for _, c := range az.graphCalls() {
		if strings.HasSuffix(c.Path, "/removePassword") {
			var body map[string]string
			removed = json.Unmarshal(c.Body, &body) == nil && body["keyId"] != ""
		}
	}
	if !removed {
		t.Error("no removePassword with the keyId")
	}
	if !strings.Contains(res.stderr, "Key Vault Secrets Officer") {
		t.Errorf("stderr does not say which role is missing:\n%s", res.stderr)
	}
	logBytes, _ := os.ReadFile(az.logPath)
	assertNoSecret(t, after, map[string]string{"stdout": res.stdout, "stderr": res.stderr, "az command lines": string(logBytes)})
}

// TestRegisterAppDryRun changes nothing, says what it would do.
func TestRegisterAppDryRun(t *testing.T) {
	az := startAz(t, newTenant())
	res := az.run(registerScript, nil, "--permissions", "read-write", "--key-vault", "kv-edi-test", "--dry-run")
	if res.code != 0 {
		t.Fatalf("dry run failed:\n%s", res)
	}
	for _, c := range az.calls() {
		if c.Rest != nil && c.Rest.Method != "GET" || len(c.Args) > 0 && c.Args[0] == "keyvault" {
			t.Errorf("dry run called %v", c.Args)
		}
	}
	for _, want := range []string{"dry-run: would add a client secret valid for 180 days and store it in kv-edi-test as integration-default",
		"dry-run: would send POST"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if !strings.Contains(res.stdout, "(dry run: nothing changed)") {
		t.Errorf("stdout does not flag the dry run:\n%s", res.stdout)
	}
}

// TestRegisterAppUsage: --help succeeds; wrong arguments exit 2 before any az call.
func TestRegisterAppUsage(t *testing.T) {
	az := startAz(t, newTenant())
	if res := az.run(registerScript, nil, "--help"); res.code != 0 || !strings.Contains(res.stdout, "Usage: scripts/register-app.sh") {
		t.Errorf("--help:\n%s", res)
	}
	for _, args := range [][]string{
		{"--permissions", "admin"}, {"--intune", "maybe"}, {"--integration-id", "Contoso Ltd"},
		{"--secret-days", "0"}, {"--secret-days", "731"}, {"--key-vault", "-bad"}, {"--frobnicate"},
	} {
		res := az.run(registerScript, nil, args...)
		if res.code != 2 || !strings.Contains(res.stderr, "error:") {
			t.Errorf("%v: want exit 2 with an error:\n%s", args, res)
		}
	}
	if calls := az.calls(); len(calls) != 0 {
		t.Errorf("usage errors called az %d times", len(calls))
	}
}

// TestLeakCheckCatchesLeaks proves the secret scan of these tests can fail: copies of register-app.sh that print
// the Graph response, or put the value on a command line, are caught.
func TestLeakCheckCatchesLeaks(t *testing.T) {
	for name, c := range map[string]struct{ old, new, where string }{
		"printed": {`		unset response`, `		printf '%s\n' "$response" >&2
		unset response`, "stderr"},
		"on a command line": {`--file "$secret_file"`, `--file "$secret_file" --description "$(cat "$secret_file")"`, "az command lines"},
	} {
		t.Run(name, func(t *testing.T) {
			root := copyRepo(t)
			replaceIn(t, root, registerScript, c.old, c.new)
			az := startAz(t, newTenant())
			res := az.runIn(root, registerScript, nil, "--key-vault", "kv-edi-test")
			logBytes, _ := os.ReadFile(az.logPath)
			leaks := secretLeaks(az.state(), map[string]string{"stdout": res.stdout, "stderr": res.stderr, "az command lines": string(logBytes)})
			if !slices.Contains(leaks, "a client secret value appears in "+c.where) {
				t.Errorf("leak in %s not detected (found %v):\n%s", c.where, leaks, res)
			}
		})
	}
}

// TestRegisterAppFederatedIdentity: --multi-tenant --federated-identity make the registration multi-tenant and
// trust the function app's managed identity; no secret is created; a bad id is a usage error.
func TestRegisterAppFederatedIdentity(t *testing.T) {
	const principal = "3c4d5e6f-1111-4222-8333-444455556666"
	az := startAz(t, newTenant())
	res := az.run(registerScript, nil, "--multi-tenant", "--federated-identity", principal)
	if res.code != 0 {
		t.Fatalf("register-app failed:\n%s", res)
	}
	st := az.state()
	if st.Applications[0]["signInAudience"] != "AzureADMultipleOrgs" || len(st.FederatedCredentials) != 1 || st.FederatedCredentials[0].Subject != principal ||
		len(st.Passwords) != 0 {
		t.Errorf("state %+v", st)
	}
	for _, want := range []string{"Sign-in audience:          AzureADMultipleOrgs", "Federated credential:      the managed identity " + principal, `"credential": "managed-identity"`} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	if res := az.run(registerScript, nil, "--federated-identity", "my-identity"); res.code != 2 || !strings.Contains(res.stderr, "--federated-identity must be") {
		t.Errorf("bad id: %s", res)
	}
}
