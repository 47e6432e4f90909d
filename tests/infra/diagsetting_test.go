package infra

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/azfake"
)

const diagScript = "scripts/diagnostic-setting.sh"

const diagRule = "/subscriptions/d1e2f3a4-0000-4000-8000-00000000dddd/resourceGroups/rg-edi/providers/Microsoft.EventHub/namespaces/evhns-edi-abc/authorizationRules/entra-diagnostic-setting"

// diagBody is the PUT body the script sends.
type diagBody struct {
	Properties struct {
		EventHubAuthorizationRuleID string `json:"eventHubAuthorizationRuleId"`
		EventHubName                string `json:"eventHubName"`
		Logs                        []struct {
			Category string `json:"category"`
			Enabled  bool   `json:"enabled"`
		} `json:"logs"`
	} `json:"properties"`
}

func (b diagBody) categories() []string {
	var out []string
	for _, l := range b.Properties.Logs {
		if l.Enabled {
			out = append(out, l.Category)
		}
	}
	return out
}

func armCalls(e *azEnv) []azfake.RestCall {
	var out []azfake.RestCall
	for _, c := range e.graphCalls() {
		if c.Host == "management.azure.com" {
			out = append(out, c)
		}
	}
	return out
}

// TestDiagnosticSettingCreates: a GET (none yet), then one PUT of microsoft.aadiam/diagnosticSettings at tenant
// scope with api-version 2017-04-01, the rule, the event hub and the ten categories with a Graph twin; the tenant
// then has the setting. A second run replaces it with the chosen categories.
func TestDiagnosticSettingCreates(t *testing.T) {
	az := startAz(t, newTenant())
	res := az.run(diagScript, nil, "--rule-id", diagRule, "--event-hub", "entra-logs")
	if res.code != 0 {
		t.Fatalf("diagnostic-setting failed:\n%s", res)
	}
	calls := armCalls(az)
	if len(calls) != 2 || calls[0].Method != "GET" || calls[1].Method != "PUT" {
		t.Fatalf("requests %+v, want GET then PUT", calls)
	}
	for _, c := range calls {
		if c.Path != "/providers/microsoft.aadiam/diagnosticSettings/edi-stream" || c.Query["api-version"] != "2017-04-01" {
			t.Errorf("request %s %s %v", c.Method, c.Path, c.Query)
		}
	}
	var body diagBody
	if err := json.Unmarshal(calls[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := []string{"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs",
		"AuditLogs", "ProvisioningLogs", "RiskyUsers", "UserRiskEvents", "RiskyServicePrincipals", "ServicePrincipalRiskEvents"}
	if body.Properties.EventHubAuthorizationRuleID != diagRule || body.Properties.EventHubName != "entra-logs" || !slices.Equal(body.categories(), want) {
		t.Errorf("body %s", calls[1].Body)
	}
	if _, ok := az.state().DiagnosticSettings["edi-stream"]; !ok {
		t.Error("the tenant has no setting edi-stream")
	}
	if !strings.Contains(res.stdout, `"eventHubName": "entra-logs"`) {
		t.Errorf("stdout does not show the result:\n%s", res.stdout)
	}

	az.clearLog()
	res = az.run(diagScript, nil, "--rule-id", diagRule, "--event-hub", "entra-logs", "--categories", "SignInLogs,MicrosoftGraphActivityLogs")
	if res.code != 0 || !strings.Contains(res.stderr, "exists") {
		t.Fatalf("second run:\n%s", res)
	}
	calls = armCalls(az)
	if err := json.Unmarshal(calls[len(calls)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if got := body.categories(); !slices.Equal(got, []string{"SignInLogs", "MicrosoftGraphActivityLogs"}) {
		t.Errorf("second run categories %v", got)
	}
	// Every documented category.
	az.clearLog()
	if res := az.run(diagScript, nil, "--rule-id", diagRule, "--event-hub", "entra-logs", "--all-categories", "--name", "all"); res.code != 0 {
		t.Fatalf("--all-categories:\n%s", res)
	}
	calls = armCalls(az)
	if err := json.Unmarshal(calls[len(calls)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if got := body.categories(); len(got) != 20 || !slices.Contains(got, "NetworkAccessTrafficLogs") || !slices.Contains(got, "ADFSSignInLogs") {
		t.Errorf("--all-categories sent %v", got)
	}
}

// TestDiagnosticSettingDryRun prints the request and changes nothing.
func TestDiagnosticSettingDryRun(t *testing.T) {
	az := startAz(t, newTenant())
	res := az.run(diagScript, nil, "--rule-id", diagRule, "--event-hub", "entra-logs", "--dry-run")
	if res.code != 0 {
		t.Fatalf("dry run failed:\n%s", res)
	}
	for _, c := range armCalls(az) {
		if c.Method != "GET" {
			t.Errorf("dry run sent %s %s", c.Method, c.Path)
		}
	}
	if len(az.state().DiagnosticSettings) != 0 {
		t.Error("dry run created a setting")
	}
	var body diagBody
	if err := json.Unmarshal([]byte(res.stdout), &body); err != nil || body.Properties.EventHubName != "entra-logs" {
		t.Errorf("dry run did not print the body: %v\n%s", err, res)
	}
}

// TestDiagnosticSettingRefuses: wrong usage exits 2 before any request; a service principal login, a user without
// the role, and a setting of that name with other destinations exit 1 with the reason, and nothing is written.
func TestDiagnosticSettingRefuses(t *testing.T) {
	usage := map[string][]string{
		"no rule":          {"--event-hub", "entra-logs"},
		"no event hub":     {"--rule-id", diagRule},
		"rule not a rule":  {"--rule-id", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "--event-hub", "h"},
		"bad category":     {"--rule-id", diagRule, "--event-hub", "h", "--categories", "SignInLogs,Audit Logs"},
		"empty categories": {"--rule-id", diagRule, "--event-hub", "h", "--categories", ","},
		"bad name":         {"--rule-id", diagRule, "--event-hub", "h", "--name", "a/b"},
		"unknown flag":     {"--rule-id", diagRule, "--event-hub", "h", "--force"},
	}
	for name, args := range usage {
		t.Run(name, func(t *testing.T) {
			az := startAz(t, newTenant())
			res := az.run(diagScript, nil, args...)
			if res.code != 2 || len(az.calls()) != 0 {
				t.Errorf("exit %d after %d az calls, want 2 and none:\n%s", res.code, len(az.calls()), res)
			}
		})
	}

	sp := newTenant()
	sp.UserType = "servicePrincipal"
	forbidden := newTenant()
	forbidden.ForbidDiagnosticSettings = true
	shared := newTenant()
	shared.DiagnosticSettings = map[string]json.RawMessage{"edi-stream": json.RawMessage(
		`{"name":"edi-stream","properties":{"workspaceId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law","logs":[{"category":"AuditLogs","enabled":true}]}}`)}
	for name, c := range map[string]struct {
		st   *azfake.State
		want string
	}{
		"service principal": {sp, "service principal"},
		"not an admin":      {forbidden, "Security Administrator"},
		"other destination": {shared, "also sends to"},
	} {
		t.Run(name, func(t *testing.T) {
			az := startAz(t, c.st)
			res := az.run(diagScript, nil, "--rule-id", diagRule, "--event-hub", "entra-logs")
			if res.code != 1 || !strings.Contains(res.stderr, c.want) {
				t.Errorf("exit %d, want 1 naming %q:\n%s", res.code, c.want, res)
			}
			for _, call := range armCalls(az) {
				if call.Method == "PUT" {
					t.Error("a setting was written")
				}
			}
		})
	}
}

func TestDiagnosticSettingHelp(t *testing.T) {
	az := startAz(t, newTenant())
	res := az.run(diagScript, nil, "--help")
	if res.code != 0 || !strings.Contains(res.stdout, "--dry-run") || !strings.Contains(res.stdout, "Security Administrator") || len(az.calls()) != 0 {
		t.Errorf("--help:\n%s", res)
	}
}

// TestDeployPointsToDiagnosticSetting: with streaming deployed, deploy.sh names the next step and its arguments.
func TestDeployPointsToDiagnosticSetting(t *testing.T) {
	st := deployTenant()
	st.DeploymentOutputs["eventHubDiagnosticsRuleId"] = diagRule
	st.DeploymentOutputs["eventHubName"] = "entra-logs"
	az := startAz(t, st)
	res := az.run(deployScript, nil, "-g", "rg-edi", "-l", "westeurope", "--param", "enableEventHub=true", "--package", tinyZip(t))
	if res.code != 0 {
		t.Fatalf("deploy failed:\n%s", res)
	}
	if want := "scripts/diagnostic-setting.sh --rule-id " + diagRule + " --event-hub entra-logs"; !strings.Contains(res.stdout, want) {
		t.Errorf("deploy.sh does not print %q:\n%s", want, res.stdout)
	}
	az2 := startAz(t, deployTenant())
	if res := az2.run(deployScript, nil, "-g", "rg-edi", "-l", "westeurope", "--package", tinyZip(t)); res.code != 0 || strings.Contains(res.stdout, "diagnostic-setting.sh") {
		t.Errorf("without streaming deploy.sh still points to the diagnostic setting:\n%s", res)
	}
}
