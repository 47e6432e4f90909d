package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func base(t *testing.T) map[string]string {
	return map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "7001",
		"FUNCTIONS_APP_ROOT_PATH":      t.TempDir(),
		"AzureWebJobsStorage":          "UseDevelopmentStorage=true",
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(base(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 7001 || c.RawContainer != "entra-raw" || c.ShutdownGrace != 25*time.Second || c.FunctionTimeout != DefaultFunctionTimeout {
		t.Errorf("config = %+v", c)
	}
	if c.Insights != (Insights{Schedule: "0 30 3 * * *", InactiveDays: 90, SignInDays: 30}) {
		t.Errorf("insights = %+v", c.Insights)
	}
	if c.Storage.ConnectionString != DevelopmentStorage {
		t.Errorf("UseDevelopmentStorage=true not expanded: %q", c.Storage.ConnectionString)
	}
}

func TestFunctionTimeoutFromHostJSON(t *testing.T) {
	m := base(t)
	if err := os.WriteFile(filepath.Join(m["FUNCTIONS_APP_ROOT_PATH"], "host.json"), []byte(`{"version":"2.0","functionTimeout":"00:10:00"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.FunctionTimeout != 10*time.Minute {
		t.Errorf("FunctionTimeout = %v", c.FunctionTimeout)
	}
	m["FUNCTION_TIMEOUT"] = "90s"
	if c, err = Load(env(m)); err != nil || c.FunctionTimeout != 90*time.Second {
		t.Errorf("override: %v, %v", c, err)
	}
}

func TestIdentityStorage(t *testing.T) {
	m := base(t)
	delete(m, "AzureWebJobsStorage")
	m["AzureWebJobsStorage__accountName"] = "stentra"
	m["AzureWebJobsStorage__credential"] = "managedidentity"
	m["AzureWebJobsStorage__clientId"] = "11111111-2222-3333-4444-555555555555"
	m["AzureWebJobsStorage__queueServiceUri"] = "https://q.example.net/"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Storage
	if !s.Identity() || s.BlobURL != "https://stentra.blob.core.windows.net/" || s.QueueURL != "https://q.example.net/" || s.TableURL != "https://stentra.table.core.windows.net/" {
		t.Errorf("storage = %+v", s)
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	cases := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":        "http",
		"RAW_CONTAINER":                       "Entra_Raw",
		"FUNCTION_TIMEOUT":                    "ten minutes",
		"SHUTDOWN_GRACE":                      "-1s",
		"LOG_LEVEL":                           "loud",
		"AzureWebJobsStorage":                 "not-a-connection-string",
		"AzureWebJobsStorage__credential":     "password",
		"AzureWebJobsStorage__blobServiceUri": "blob.example.net",
		"INSIGHTS_SCHEDULE":                   "daily",
		"INSIGHTS_INACTIVE_DAYS":              "0",
		"INSIGHTS_SIGNIN_DAYS":                "31",
		"ENTRA_PROTECTED_USERS":               "breakglass@contoso.com,not a user",
		"REMEDIATION_FUNCTION_KEY_ROLE":       "Integration.Reader",
		"REMEDIATION_LEASE_TTL":               "1s",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			m := base(t)
			m[name] = value
			_, err := Load(env(m))
			if err == nil || !strings.Contains(err.Error(), "setting "+name) {
				t.Fatalf("err = %v, want it to name %s", err, name)
			}
			if strings.Contains(err.Error(), "Eby8vdM02") {
				t.Errorf("error leaks the account key: %v", err)
			}
		})
	}
}

func TestEntraIntegration(t *testing.T) {
	m := base(t)
	m["ENTRA_TENANT_ID"] = "contoso.onmicrosoft.com"
	m["ENTRA_CLIENT_ID"] = "0d5f9a2b-aaaa-4bbb-8ccc-dddd00001111"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "KEY_VAULT_URL") {
		t.Fatalf("without a vault: %v", err)
	}
	m["KEY_VAULT_URL"] = "https://kv-entra.vault.azure.net/"
	m["ENTRA_LICENSES"] = "entraP1P2=yes,intune=no,agentId=auto"
	m["GRAPH_BUDGETS"] = "reports=5/100ms"
	m["COLLECT_RESWEEPS"] = "30m,2h"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Entra
	if !e.Declared() || e.ID != "default" || e.SecretName != "integration-default" || e.Permissions != "read-only" ||
		len(e.Licences) != 2 || e.Licences["entraP1P2"] != "yes" || e.Licences["intune"] != "no" {
		t.Errorf("entra = %+v", e)
	}
	if b := c.Collect.Budgets["reports"]; b.Requests != 5 || b.Window != 100*time.Millisecond {
		t.Errorf("budgets = %+v", c.Collect.Budgets)
	}
	if len(c.Collect.Resweeps) != 2 || c.Collect.Resweeps[1] != 2*time.Hour || c.Collect.Lag != 10*time.Minute {
		t.Errorf("collect = %+v", c.Collect)
	}
	sum, _ := json.Marshal(c.Summary())
	if !strings.Contains(string(sum), "integration-default") || !strings.Contains(string(sum), "reports=5/100ms") {
		t.Errorf("summary = %s", sum)
	}
	if len(e.ProtectedUsers) != 0 || c.Remediation.KeyRole != "" || c.Remediation.LeaseTTL != 30*time.Second {
		t.Errorf("remediation defaults: protected %v, %+v", e.ProtectedUsers, c.Remediation)
	}
	m["ENTRA_PROTECTED_USERS"] = " breakglass@contoso.com, 6e2a8f3c-1111-4222-8333-944445555666 ,alice_fabrikam.com#EXT#@contoso.onmicrosoft.com"
	m["REMEDIATION_FUNCTION_KEY_ROLE"] = "Integration.Helpdesk"
	if c, err = Load(env(m)); err != nil {
		t.Fatal(err)
	}
	if p := c.Entra.ProtectedUsers; len(p) != 3 || p[0] != "breakglass@contoso.com" || p[2] != "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com" || c.Remediation.KeyRole != "Integration.Helpdesk" {
		t.Errorf("protected %q, key role %q", p, c.Remediation.KeyRole)
	}
	delete(m, "ENTRA_CLIENT_ID")
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "ENTRA_CLIENT_ID") {
		t.Errorf("without a client id: %v", err)
	}
}

func TestValidateRequires(t *testing.T) {
	for _, missing := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "AzureWebJobsStorage"} {
		m := base(t)
		delete(m, missing)
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: err = %v", missing, err)
		}
	}
}

func TestHostFunctionTimeoutErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host.json")
	for _, body := range []string{`{`, `{"functionTimeout":"10 minutes"}`} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := HostFunctionTimeout(path); err == nil {
			t.Errorf("host.json %s accepted", body)
		}
	}
	for in, want := range map[string]time.Duration{"00:10:00": 10 * time.Minute, "1.02:00:00": 26 * time.Hour, "00:00:30.5": 30500 * time.Millisecond} {
		if got, err := ParseTimeSpan(in); err != nil || got != want {
			t.Errorf("ParseTimeSpan(%q) = %v, %v", in, got, err)
		}
	}
}

func TestSummaryHasNoSecrets(t *testing.T) {
	c, err := Load(env(base(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c.Summary())
	if strings.Contains(string(b), "AccountKey") || strings.Contains(string(b), "Eby8vdM02") {
		t.Errorf("summary leaks the key: %s", b)
	}
	if !strings.Contains(string(b), "devstoreaccount1") {
		t.Errorf("summary does not say which account: %s", b)
	}
}

// TestREADMETable keeps the README's configuration table in step with Settings.
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	begin, end := strings.Index(readme, "<!-- config-table:begin -->"), strings.Index(readme, "<!-- config-table:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md lacks the config-table markers")
	}
	got := strings.TrimSpace(readme[begin+len("<!-- config-table:begin -->") : end])
	if want := MarkdownTable(); got != want {
		t.Errorf("README configuration table is stale; replace it with:\n%s", want)
	}
}

// TestSampleSettings checks that local.settings.sample.json lists every setting the host does not set itself.
func TestSampleSettings(t *testing.T) {
	b, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Values map[string]string }
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	// Besides the handler's settings, the sample holds what the host reads: the worker runtime, and StreamEvents'
	// binding settings (%STREAM_EVENTHUB_NAME%, %STREAM_EVENTHUB_CONSUMER_GROUP%, the STREAM_EVENTHUB connection)
	// with the function disabled, as a local run has no event hub.
	known := map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "STREAM_EVENTHUB_NAME": true, "STREAM_EVENTHUB_CONSUMER_GROUP": true,
		"STREAM_EVENTHUB__fullyQualifiedNamespace": true, "AzureWebJobs.StreamEvents.Disabled": true}
	for _, s := range Settings {
		known[s.Name] = true
		if s.Name == "FUNCTIONS_CUSTOMHANDLER_PORT" || s.Name == "FUNCTIONS_APP_ROOT_PATH" {
			continue
		}
		if _, ok := sample.Values[s.Name]; !ok {
			t.Errorf("local.settings.sample.json lacks %s", s.Name)
		}
	}
	for k := range sample.Values {
		if !known[k] {
			t.Errorf("local.settings.sample.json has %s, which no code reads", k)
		}
	}
	// The sample must work locally as it is.
	vals := map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "7001", "FUNCTIONS_APP_ROOT_PATH": t.TempDir()}
	for k, v := range sample.Values {
		vals[k] = v
	}
	if _, err := Load(env(vals)); err != nil {
		t.Errorf("sample settings do not load: %v", err)
	}
}

func ExampleMarkdownTable() {
	fmt.Println(strings.SplitN(MarkdownTable(), "\n", 3)[0])
	// Output: | setting | default | meaning |
}

func TestValidUserRef(t *testing.T) {
	for s, want := range map[string]bool{
		"6e2a8f3c-1111-4222-8333-944445555666":            true,
		"adele.vance@contoso.com":                         true,
		"o'brien@contoso.com":                             true,
		"alice_fabrikam.com#EXT#@contoso.onmicrosoft.com": true,
		"":                               false,
		"adele":                          false,
		"@contoso.com":                   false,
		"adele@":                         false,
		"adele@localhost":                false,
		"a b@contoso.com":                false,
		"adele@contoso.com/../../groups": false,
		"adele?$select=id@contoso.com":   false,
		"adele@@contoso.com":             false,
		"adèle@contoso.com":              false,
		strings.Repeat("a", 250) + "@contoso.com": false,
		"6e2a8f3c-1111-4222-8333-94444555566":     false,
		"adele\x00@contoso.com":                   false,
	} {
		if got := ValidUserRef(s); got != want {
			t.Errorf("ValidUserRef(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestWebhookSettings: the kind follows the host or the prefix; bad values are refused without quoting them (a
// webhook URL is a credential).
func TestWebhookSettings(t *testing.T) {
	for _, c := range []struct {
		value, kind, problem string
	}{
		{"https://prod-01.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=S3cr3tSig", WebhookTeams, ""},
		{"https://x.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/y?sig=S3cr3tSig", WebhookTeams, ""},
		{"https://hooks.slack.com/services/T000/B000/S3cr3tSig", WebhookSlack, ""},
		{"https://example.org/hooks/S3cr3tSig", WebhookJSON, ""},
		{"slack:http://127.0.0.1:8080/slack/S3cr3tSig", WebhookSlack, ""},
		{"json:https://hooks.slack.com/services/T000/B000/S3cr3tSig", WebhookJSON, ""},
		{"http://example.org/hooks/S3cr3tSig", "", "not an absolute https URL"},
		{"https://contoso.webhook.office.com/webhookb2/S3cr3tSig", "", "Office 365 connector"},
		{"@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/S3cr3tSig)", "", "Key Vault reference was not resolved"},
		{"teams:S3cr3tSig", "", "not an absolute https URL"},
	} {
		w, err := ParseWebhook("SECRET_EXPIRY_WEBHOOK_1", c.value)
		if c.problem != "" {
			if err == nil || !strings.Contains(err.Error(), c.problem) || strings.Contains(err.Error(), "S3cr3tSig") {
				t.Errorf("%s: error %v, want %q without the value", c.value, err, c.problem)
			}
			continue
		}
		if err != nil || w.Kind != c.kind || strings.Contains(w.String(), "S3cr3tSig") {
			t.Errorf("%s: %+v (%s), %v", c.value, w, w.String(), err)
		}
	}
	env := map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "7071", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
		"FUNCTION_TIMEOUT": "5m", "SECRET_EXPIRY_WEBHOOK_1": "https://hooks.slack.com/services/a", "SECRET_EXPIRY_WEBHOOK_3": "https://example.org/h",
		"SECRET_EXPIRY_THRESHOLDS": "7, 60,1"}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Expiry.Webhooks) != 2 || c.Expiry.Webhooks[1].Setting != "SECRET_EXPIRY_WEBHOOK_3" || fmt.Sprint(c.Expiry.Thresholds) != "[60 7 1]" {
		t.Errorf("expiry %+v", c.Expiry)
	}
	env["SECRET_EXPIRY_THRESHOLDS"] = "30,30"
	if _, err := Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "SECRET_EXPIRY_THRESHOLDS") {
		t.Errorf("duplicate thresholds: %v", err)
	}
}
