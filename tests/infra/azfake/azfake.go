// Package azfake is a stand-in for the Azure CLI (`az`) for the deployment and registration scripts' tests. The
// test builds cmd/az, puts it first on PATH and hands it a state file (FAKEAZ_STATE) holding a small directory
// (applications, service principals, Microsoft Graph's service principal with its app roles), Key Vault secrets
// and deployment outputs. Each invocation is appended to FAKEAZ_LOG as one JSON line, so tests assert the exact
// Graph requests and bodies; state changes persist between invocations like a real tenant.
//
// It answers the way az does where the scripts depend on it: `az rest` prints the response body (nothing for 204)
// and on an HTTP error prints "ERROR: <reason>(<Graph error JSON>)" to stderr and exits 1; `az keyvault secret set`
// prints the secret bundle including its value, as the real command does. Faults are injected through the state:
// replication delays after a create, a refused consent, a refused Key Vault write. `--query` is refused: the
// scripts pipe JSON to jq, so the fake needs no JMESPath.
package azfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// GraphAppID is Microsoft Graph's application id.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// State is the fake tenant and subscription.
type State struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	// UserType is "user" or "servicePrincipal" (az account show's user.type).
	UserType     string `json:"userType"`
	UserName     string `json:"userName"`
	UserObjectID string `json:"userObjectId"`

	Applications      []Object     `json:"applications"`
	ServicePrincipals []Object     `json:"servicePrincipals"`
	GraphAppRoles     []AppRole    `json:"graphAppRoles"`
	GraphSPID         string       `json:"graphSpId"`
	Assignments       []Assignment `json:"assignments"`
	Passwords         []Password   `json:"passwords"`
	// FederatedCredentials are the applications' federated identity credentials.
	FederatedCredentials []FederatedCredential `json:"federatedCredentials"`
	// IssuedSecrets holds every secret value addPassword ever returned, removed ones included, for leak checks.
	IssuedSecrets []string        `json:"issuedSecrets"`
	Secrets       []SecretVersion `json:"secrets"`

	// SPReplicationFailures: POST /servicePrincipals answers NoBackingApplicationObject this many times.
	SPReplicationFailures int `json:"spReplicationFailures"`
	// PatchReplicationFailures: PATCH /applications/{id} answers Request_ResourceNotFound this many times.
	PatchReplicationFailures int `json:"patchReplicationFailures"`
	// ForbidAppRoleAssignments refuses appRoleAssignedTo like Application Administrator is refused for Graph.
	ForbidAppRoleAssignments bool `json:"forbidAppRoleAssignments"`
	// ForbidSecretWrites refuses `az keyvault secret set`.
	ForbidSecretWrites bool `json:"forbidSecretWrites"`

	ResourceGroups    []string          `json:"resourceGroups"`
	DeploymentOutputs map[string]string `json:"deploymentOutputs"`
	// Deployments records every template deployment (and what-if) with the parameters ARM received.
	Deployments []Deployment `json:"deployments"`

	// DiagnosticSettings are the tenant's Entra ID diagnostic settings (microsoft.aadiam/diagnosticSettings) by
	// name, as ARM returns them.
	DiagnosticSettings map[string]json.RawMessage `json:"diagnosticSettings,omitempty"`
	// ForbidDiagnosticSettings answers 403 to every diagnostic settings request, as for a user without the
	// Security Administrator role.
	ForbidDiagnosticSettings bool `json:"forbidDiagnosticSettings,omitempty"`

	Seq int `json:"seq"`
}

// FederatedCredential is a federatedIdentityCredential of an application.
type FederatedCredential struct {
	AppObjectID string   `json:"appObjectId"`
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Audiences   []string `json:"audiences"`
	Description string   `json:"description"`
}

// MaxFederatedCredentials is Entra's limit of federated identity credentials per application.
const MaxFederatedCredentials = 20

// Deployment is one `az deployment group create` or `what-if`: its parameters as ARM receives them, from inline
// NAME=VALUE arguments (strings) and @file parameter files (JSON values), later ones overriding earlier ones.
type Deployment struct {
	Command    string         `json:"command"`
	Group      string         `json:"group"`
	Name       string         `json:"name"`
	Template   string         `json:"template"`
	Parameters map[string]any `json:"parameters"`
}

// Object is a directory object as Graph returns it (application or service principal).
type Object map[string]any

// AppRole is an app role of Microsoft Graph's service principal.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
}

// Assignment is an app role assignment (a granted application permission).
type Assignment struct {
	ID          string `json:"id"`
	PrincipalID string `json:"principalId"`
	ResourceID  string `json:"resourceId"`
	AppRoleID   string `json:"appRoleId"`
}

// Password is a client secret of an application.
type Password struct {
	AppObjectID string `json:"appObjectId"`
	KeyID       string `json:"keyId"`
	DisplayName string `json:"displayName"`
	EndDateTime string `json:"endDateTime"`
	SecretText  string `json:"secretText"`
}

// SecretVersion is one version of a Key Vault secret.
type SecretVersion struct {
	Vault       string            `json:"vault"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Value       string            `json:"value"`
	Expires     string            `json:"expires"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
}

// Call is one logged invocation.
type Call struct {
	Args []string `json:"args"`
	// Rest is set for `az rest`.
	Rest *RestCall `json:"rest,omitempty"`
}

// RestCall is a parsed `az rest` request.
type RestCall struct {
	// Host is "management.azure.com" for Azure Resource Manager requests, empty for Microsoft Graph.
	Host   string            `json:"host,omitempty"`
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Query  map[string]string `json:"query,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
}

// Env names the files the fake reads and appends to.
const (
	EnvState = "FAKEAZ_STATE"
	EnvLog   = "FAKEAZ_LOG"
)

// httpError is a Graph or service error answered by the fake.
type httpError struct {
	reason string
	code   string
	msg    string
}

func (e *httpError) Error() string {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": e.code, "message": e.msg}})
	return fmt.Sprintf("%s(%s)", e.reason, body)
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Main runs one invocation with the state and log files named in the environment and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	statePath, logPath := os.Getenv(EnvState), os.Getenv(EnvLog)
	if statePath == "" || logPath == "" {
		fmt.Fprintln(stderr, "fakeaz: FAKEAZ_STATE and FAKEAZ_LOG must be set")
		return 2
	}
	st, err := Load(statePath)
	if err != nil {
		fmt.Fprintln(stderr, "fakeaz:", err)
		return 2
	}
	call := Call{Args: args}
	out, runErr := st.run(args, &call)
	if err := appendLog(logPath, call); err != nil {
		fmt.Fprintln(stderr, "fakeaz:", err)
		return 2
	}
	if err := st.Save(statePath); err != nil {
		fmt.Fprintln(stderr, "fakeaz:", err)
		return 2
	}
	var he *httpError
	var ue *usageError
	switch {
	case errors.As(runErr, &he):
		fmt.Fprintln(stderr, "ERROR:", he.Error())
		return 1
	case errors.As(runErr, &ue):
		fmt.Fprintln(stderr, "fakeaz:", ue.msg)
		return 2
	case runErr != nil:
		fmt.Fprintln(stderr, "ERROR:", runErr)
		return 1
	}
	if out != nil && flagValue(args, "--output", "-o") != "none" {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
	}
	return 0
}

// Load reads a state file.
func Load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// Save writes the state file.
func (st *State) Save(path string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ReadLog returns the logged calls.
func ReadLog(path string) ([]Call, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var calls []Call
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var c Call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func appendLog(path string, c Call) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// flagValue returns the value of the first of names in args ("--name value" or "--name=value").
func flagValue(args []string, names ...string) string {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

// flagValues returns every value following name, up to the next flag (az's space-separated lists).
func flagValues(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] != name {
			continue
		}
		for j := i + 1; j < len(args) && !strings.HasPrefix(args[j], "--"); j++ {
			out = append(out, args[j])
		}
	}
	return out
}

func (st *State) newID() string {
	st.Seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xfa4e0000+st.Seq, st.Seq)
}

func (st *State) run(args []string, call *Call) (any, error) {
	if slices.Contains(args, "--query") {
		return nil, &usageError{"--query is not supported: the scripts pipe JSON to jq"}
	}
	cmd := strings.Join(commandWords(args), " ")
	switch cmd {
	case "rest":
		return st.rest(args, call)
	case "account show":
		return map[string]any{
			"id": st.SubscriptionID, "tenantId": st.TenantID, "name": "Fake subscription", "state": "Enabled",
			"user": map[string]any{"name": st.UserName, "type": st.UserType},
		}, nil
	case "ad signed-in-user show":
		if st.UserType != "user" {
			return nil, &httpError{"Bad Request", "BadRequest", "/me request is only valid with delegated authentication flow."}
		}
		return map[string]any{"id": st.UserObjectID, "userPrincipalName": st.UserName}, nil
	case "ad sp show":
		id := flagValue(args, "--id")
		for _, sp := range st.ServicePrincipals {
			if sp["appId"] == id || sp["id"] == id {
				return sp, nil
			}
		}
		return nil, &httpError{"Not Found", "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist.", id)}
	case "keyvault secret set":
		return st.secretSet(args)
	case "group show":
		name := flagValue(args, "--name", "-n")
		if !slices.Contains(st.ResourceGroups, name) {
			return nil, &httpError{"Not Found", "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", name)}
		}
		return map[string]any{"name": name, "properties": map[string]any{"provisioningState": "Succeeded"}}, nil
	case "group create":
		name := flagValue(args, "--name", "-n")
		if flagValue(args, "--location", "-l") == "" {
			return nil, &usageError{"group create needs --location"}
		}
		if !slices.Contains(st.ResourceGroups, name) {
			st.ResourceGroups = append(st.ResourceGroups, name)
		}
		return map[string]any{"name": name}, nil
	case "deployment group create", "deployment group what-if":
		return st.deployment(args, cmd)
	case "functionapp deployment source config-zip":
		src := flagValue(args, "--src")
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, &usageError{"config-zip: " + err.Error()}
		}
		if len(b) < 4 || string(b[:4]) != "PK\x03\x04" {
			return nil, &usageError{"config-zip: " + src + " is not a zip file"}
		}
		return map[string]any{"status": 4, "complete": true}, nil
	}
	return nil, &usageError{"unsupported command: az " + strings.Join(args, " ")}
}

// commandWords returns the leading words of args before the first flag.
func commandWords(args []string) []string {
	var out []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		out = append(out, a)
	}
	return out
}

func (st *State) deployment(args []string, cmd string) (any, error) {
	group := flagValue(args, "--resource-group", "-g")
	if !slices.Contains(st.ResourceGroups, group) {
		return nil, &httpError{"Not Found", "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", group)}
	}
	tmpl := flagValue(args, "--template-file", "-f")
	if _, err := os.Stat(tmpl); err != nil {
		return nil, &usageError{"template file: " + err.Error()}
	}
	params, err := deploymentParameters(flagValues(args, "--parameters"))
	if err != nil {
		return nil, err
	}
	if err := checkTemplateParameters(tmpl, params); err != nil {
		return nil, err
	}
	st.Deployments = append(st.Deployments, Deployment{Command: cmd, Group: group, Name: flagValue(args, "--name", "-n"),
		Template: tmpl, Parameters: params})
	if cmd == "deployment group what-if" {
		return map[string]any{"status": "Succeeded", "changes": []any{}}, nil
	}
	outputs := map[string]any{}
	for k, v := range st.DeploymentOutputs {
		outputs[k] = map[string]any{"type": "String", "value": v}
	}
	return map[string]any{
		"name":       flagValue(args, "--name", "-n"),
		"properties": map[string]any{"provisioningState": "Succeeded", "outputs": outputs},
	}, nil
}

// deploymentParameters reads --parameters the way az does: NAME=VALUE pairs and @FILE deployment parameter files
// ({"parameters": {"name": {"value": ...}}}). A parameter file must be private to its owner, since it may hold a
// secret.
func deploymentParameters(items []string) (map[string]any, error) {
	out := map[string]any{}
	for _, it := range items {
		if file, ok := strings.CutPrefix(it, "@"); ok {
			info, err := os.Stat(file)
			if err != nil {
				return nil, &usageError{"parameters file: " + err.Error()}
			}
			if info.Mode().Perm()&0o077 != 0 {
				return nil, &usageError{fmt.Sprintf("parameters file %s is readable by others (mode %v)", file, info.Mode().Perm())}
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, &usageError{"parameters file: " + err.Error()}
			}
			var doc struct {
				Parameters map[string]struct {
					Value json.RawMessage `json:"value"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(b, &doc); err != nil || doc.Parameters == nil {
				return nil, &httpError{"Bad Request", "InvalidRequestContent", "The parameters file is not a deployment parameters document."}
			}
			for k, p := range doc.Parameters {
				var v any
				if err := json.Unmarshal(p.Value, &v); err != nil {
					return nil, &httpError{"Bad Request", "InvalidRequestContent", "Parameter " + k + " has no value."}
				}
				out[k] = v
			}
			continue
		}
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, &usageError{"--parameters wants NAME=VALUE or @FILE, got " + it}
		}
		out[k] = v
	}
	return out, nil
}

var bicepParam = regexp.MustCompile(`(?m)^param\s+(\w+)\s`)

// checkTemplateParameters refuses parameters a .bicep template does not declare, as ARM does.
func checkTemplateParameters(tmpl string, params map[string]any) error {
	if !strings.HasSuffix(tmpl, ".bicep") {
		return nil
	}
	b, err := os.ReadFile(tmpl)
	if err != nil {
		return &usageError{"template file: " + err.Error()}
	}
	declared := map[string]bool{}
	for _, m := range bicepParam.FindAllStringSubmatch(string(b), -1) {
		declared[m[1]] = true
	}
	var unknown []string
	for k := range params {
		if !declared[k] {
			unknown = append(unknown, "'"+k+"'")
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return &httpError{"Bad Request", "InvalidTemplate", "Deployment template validation failed: 'The following parameters were supplied, but do not correspond to any parameters defined in the template: " + strings.Join(unknown, ", ") + "'."}
	}
	return nil
}

func (st *State) secretSet(args []string) (any, error) {
	if flagValue(args, "--value") != "" {
		return nil, &usageError{"--value puts the secret on the command line; the scripts must use --file"}
	}
	if st.ForbidSecretWrites {
		return nil, &httpError{"Forbidden", "Forbidden", "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'"}
	}
	vault, name, file := flagValue(args, "--vault-name"), flagValue(args, "--name", "-n"), flagValue(args, "--file", "-f")
	if vault == "" || name == "" || file == "" {
		return nil, &usageError{"keyvault secret set needs --vault-name, --name and --file"}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &usageError{"--file: " + err.Error()}
	}
	info, err := os.Stat(file)
	if err == nil && info.Mode().Perm()&0o077 != 0 {
		return nil, &usageError{fmt.Sprintf("--file %s is readable by others (mode %v)", file, info.Mode().Perm())}
	}
	tags := map[string]string{}
	for _, t := range flagValues(args, "--tags") {
		k, v, _ := strings.Cut(t, "=")
		tags[k] = v
	}
	v := SecretVersion{Vault: vault, Name: name, Version: strings.ReplaceAll(st.newID(), "-", ""), Value: string(b),
		Expires: flagValue(args, "--expires"), ContentType: flagValue(args, "--content-type"), Tags: tags}
	st.Secrets = append(st.Secrets, v)
	// The real command prints the whole secret bundle, value included.
	return map[string]any{
		"id":          fmt.Sprintf("https://%s.vault.azure.net/secrets/%s/%s", vault, name, v.Version),
		"value":       v.Value,
		"contentType": v.ContentType,
		"tags":        v.Tags,
		"attributes":  map[string]any{"enabled": true, "expires": v.Expires},
	}, nil
}

var (
	reApp             = regexp.MustCompile(`^/v1\.0/applications/([^/]+)$`)
	reAppPassword     = regexp.MustCompile(`^/v1\.0/applications/([^/]+)/(addPassword|removePassword)$`)
	reAppFICs         = regexp.MustCompile(`^/v1\.0/applications/([^/]+)/federatedIdentityCredentials(?:/([^/]+))?$`)
	reGraphSP         = regexp.MustCompile(`^/v1\.0/servicePrincipals\(appId='([^']+)'\)$`)
	reSP              = regexp.MustCompile(`^/v1\.0/servicePrincipals/([^/]+)$`)
	reSPAssignments   = regexp.MustCompile(`^/v1\.0/servicePrincipals/([^/]+)/appRoleAssignments$`)
	reSPAssignedTo    = regexp.MustCompile(`^/v1\.0/servicePrincipals/([^/]+)/appRoleAssignedTo$`)
	reFilterEq        = regexp.MustCompile(`^(\w+) eq '((?:[^']|'')*)'$`)
	graphURLPrefix    = "https://graph.microsoft.com"
	armURLPrefix      = "https://management.azure.com"
	errNoSuchResource = func(id string) error {
		return &httpError{"Not Found", "Request_ResourceNotFound",
			fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}
	}
)

func (st *State) rest(args []string, call *Call) (any, error) {
	method := strings.ToUpper(flagValue(args, "--method", "-m"))
	if method == "" {
		method = "GET"
	}
	raw := flagValue(args, "--url", "--uri", "-u")
	if arm, ok := strings.CutPrefix(raw, armURLPrefix); ok {
		return st.armRest(method, arm, args, call)
	}
	rest, ok := strings.CutPrefix(raw, graphURLPrefix)
	if !ok {
		return nil, &usageError{"az rest to an unexpected host: " + raw}
	}
	u, err := url.Parse(rest)
	if err != nil {
		return nil, &usageError{"bad URL " + raw}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, &usageError{"bad query in " + raw}
	}
	rc := &RestCall{Method: method, Path: u.Path, Query: map[string]string{}}
	for k := range q {
		rc.Query[k] = q.Get(k)
	}
	var body map[string]any
	if b := flagValue(args, "--body", "-b"); b != "" {
		if err := json.Unmarshal([]byte(b), &body); err != nil {
			return nil, &httpError{"Bad Request", "BadRequest", "Unable to read JSON request payload."}
		}
		rc.Body = json.RawMessage(b)
		if !slices.Contains(flagValues(args, "--headers"), "Content-Type=application/json") {
			return nil, &usageError{"a JSON body needs --headers Content-Type=application/json"}
		}
	}
	call.Rest = rc

	switch {
	case method == "GET" && u.Path == "/v1.0/applications":
		prop, val, err := parseFilter(q.Get("$filter"))
		if err != nil {
			return nil, err
		}
		return list(st.Applications, prop, val), nil
	case method == "POST" && u.Path == "/v1.0/applications":
		name, _ := body["displayName"].(string)
		if name == "" {
			return nil, &httpError{"Bad Request", "Request_BadRequest", "displayName is required."}
		}
		app := Object{"id": st.newID(), "appId": st.newID(), "requiredResourceAccess": []any{}, "passwordCredentials": []any{}}
		maps.Copy(app, body)
		st.Applications = append(st.Applications, app)
		return app, nil
	case reAppPassword.MatchString(u.Path) && method == "POST":
		m := reAppPassword.FindStringSubmatch(u.Path)
		return st.password(m[1], m[2], body)
	case reAppFICs.MatchString(u.Path):
		m := reAppFICs.FindStringSubmatch(u.Path)
		return st.federated(method, m[1], m[2], body)
	case reApp.MatchString(u.Path):
		id := reApp.FindStringSubmatch(u.Path)[1]
		app := find(st.Applications, "id", id)
		if app == nil {
			return nil, errNoSuchResource(id)
		}
		switch method {
		case "GET":
			return app, nil
		case "PATCH":
			if st.PatchReplicationFailures > 0 {
				st.PatchReplicationFailures--
				return nil, errNoSuchResource(id)
			}
			maps.Copy(app, body)
			return nil, nil
		}
	case method == "GET" && reGraphSP.MatchString(u.Path):
		if reGraphSP.FindStringSubmatch(u.Path)[1] != GraphAppID {
			return nil, &usageError{"only Microsoft Graph's service principal is addressed by appId"}
		}
		return map[string]any{"id": st.GraphSPID, "appRoles": st.GraphAppRoles}, nil
	case method == "GET" && u.Path == "/v1.0/servicePrincipals":
		prop, val, err := parseFilter(q.Get("$filter"))
		if err != nil {
			return nil, err
		}
		return list(st.ServicePrincipals, prop, val), nil
	case method == "POST" && u.Path == "/v1.0/servicePrincipals":
		appID, _ := body["appId"].(string)
		noBacking := &httpError{"Bad Request", "Request_BadRequest",
			fmt.Sprintf("The appId '%s' of the service principal does not reference a valid application object. (NoBackingApplicationObject)", appID)}
		if st.SPReplicationFailures > 0 {
			st.SPReplicationFailures--
			return nil, noBacking
		}
		if find(st.Applications, "appId", appID) == nil {
			return nil, noBacking
		}
		if find(st.ServicePrincipals, "appId", appID) != nil {
			return nil, &httpError{"Bad Request", "Request_MultipleObjectsWithSameKeyValue", "Another object with the same value for property servicePrincipalNames already exists."}
		}
		sp := Object{"id": st.newID(), "appId": appID}
		st.ServicePrincipals = append(st.ServicePrincipals, sp)
		return sp, nil
	case method == "PATCH" && reSP.MatchString(u.Path):
		id := reSP.FindStringSubmatch(u.Path)[1]
		sp := find(st.ServicePrincipals, "id", id)
		if sp == nil {
			return nil, errNoSuchResource(id)
		}
		maps.Copy(sp, body)
		return nil, nil
	case method == "GET" && reSPAssignments.MatchString(u.Path):
		id := reSPAssignments.FindStringSubmatch(u.Path)[1]
		var out []any
		for _, a := range st.Assignments {
			if a.PrincipalID == id {
				out = append(out, a)
			}
		}
		return map[string]any{"value": orEmpty(out)}, nil
	case method == "POST" && reSPAssignedTo.MatchString(u.Path):
		return st.assign(reSPAssignedTo.FindStringSubmatch(u.Path)[1], body)
	}
	return nil, &usageError{fmt.Sprintf("unsupported Graph request %s %s", method, rest)}
}

var reDiagnosticSetting = regexp.MustCompile(`(?i)^/providers/microsoft\.aadiam/diagnosticSettings/([^/?]+)$`)

// armRest answers Azure Resource Manager requests: the tenant's Entra ID diagnostic settings (GET, PUT, DELETE of
// /providers/microsoft.aadiam/diagnosticSettings/{name}, api-version 2017-04-01). Like the real endpoint it
// refuses app (service principal) tokens (Azure/azure-rest-api-specs#11085).
func (st *State) armRest(method, rest string, args []string, call *Call) (any, error) {
	u, err := url.Parse(rest)
	if err != nil {
		return nil, &usageError{"bad URL " + rest}
	}
	rc := &RestCall{Host: "management.azure.com", Method: method, Path: u.Path, Query: map[string]string{}}
	for k, v := range u.Query() {
		rc.Query[k] = v[0]
	}
	if b := flagValue(args, "--body", "-b"); b != "" {
		if !json.Valid([]byte(b)) {
			return nil, &httpError{"Bad Request", "InvalidRequestContent", "The request content was invalid and could not be deserialized."}
		}
		rc.Body = json.RawMessage(b)
		if !slices.Contains(flagValues(args, "--headers"), "Content-Type=application/json") {
			return nil, &usageError{"a JSON body needs --headers Content-Type=application/json"}
		}
	}
	call.Rest = rc
	m := reDiagnosticSetting.FindStringSubmatch(u.Path)
	if m == nil {
		return nil, &usageError{fmt.Sprintf("unsupported ARM request %s %s", method, rest)}
	}
	if v := rc.Query["api-version"]; v != "2017-04-01" && v != "2017-04-01-preview" {
		return nil, &httpError{"Bad Request", "InvalidApiVersionParameter",
			fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '2017-04-01,2017-04-01-preview'.", v)}
	}
	if st.UserType != "user" || st.ForbidDiagnosticSettings {
		return nil, &httpError{"Forbidden", "AuthorizationFailed", fmt.Sprintf(
			"The client '%s' with object id '%s' does not have authorization to perform action 'microsoft.aadiam/diagnosticSettings/%s' over scope '/providers/microsoft.aadiam/diagnosticSettings/%s'.",
			st.UserName, st.UserObjectID, map[string]string{"GET": "read", "PUT": "write", "DELETE": "delete"}[method], m[1])}
	}
	name := m[1]
	notFound := &httpError{"Not Found", "ResourceNotFound", fmt.Sprintf("The diagnostic setting '%s' was not found.", name)}
	switch method {
	case "GET":
		if b, ok := st.DiagnosticSettings[name]; ok {
			return b, nil
		}
		return nil, notFound
	case "DELETE":
		delete(st.DiagnosticSettings, name)
		return nil, nil
	case "PUT":
		var body struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(rc.Body, &body); err != nil || body.Properties == nil {
			return nil, &httpError{"Bad Request", "InvalidRequestContent", "The request content was invalid: properties are required."}
		}
		var logs []struct {
			Category string `json:"category"`
			Enabled  *bool  `json:"enabled"`
		}
		if err := json.Unmarshal(body.Properties["logs"], &logs); err != nil || len(logs) == 0 {
			return nil, &httpError{"Bad Request", "BadRequest", "Logs are required."}
		}
		for _, l := range logs {
			if l.Category == "" || l.Enabled == nil {
				return nil, &httpError{"Bad Request", "BadRequest", "Every log needs a category and enabled."}
			}
		}
		if _, ok := body.Properties["eventHubAuthorizationRuleId"]; !ok {
			if _, ws := body.Properties["workspaceId"]; !ws {
				return nil, &httpError{"Bad Request", "BadRequest", "At least one destination is required."}
			}
		}
		res, _ := json.Marshal(map[string]any{"id": "/providers/microsoft.aadiam/diagnosticSettings/" + name, "name": name,
			"type": "microsoft.aadiam/diagnosticSettings", "properties": body.Properties})
		if st.DiagnosticSettings == nil {
			st.DiagnosticSettings = map[string]json.RawMessage{}
		}
		st.DiagnosticSettings[name] = res
		return json.RawMessage(res), nil
	}
	return nil, &usageError{fmt.Sprintf("unsupported ARM request %s %s", method, rest)}
}

func (st *State) assign(resourceID string, body map[string]any) (any, error) {
	if resourceID != st.GraphSPID {
		return nil, errNoSuchResource(resourceID)
	}
	if st.ForbidAppRoleAssignments {
		return nil, &httpError{"Forbidden", "Authorization_RequestDenied", "Insufficient privileges to complete the operation."}
	}
	a := Assignment{ID: st.newID()}
	a.PrincipalID, _ = body["principalId"].(string)
	a.ResourceID, _ = body["resourceId"].(string)
	a.AppRoleID, _ = body["appRoleId"].(string)
	if a.ResourceID != resourceID || find(st.ServicePrincipals, "id", a.PrincipalID) == nil ||
		!slices.ContainsFunc(st.GraphAppRoles, func(r AppRole) bool { return r.ID == a.AppRoleID }) {
		return nil, &httpError{"Bad Request", "Request_BadRequest", "Invalid principalId, resourceId or appRoleId."}
	}
	for _, b := range st.Assignments {
		if b.PrincipalID == a.PrincipalID && b.AppRoleID == a.AppRoleID {
			return nil, &httpError{"Bad Request", "Request_BadRequest", "Permission being assigned already exists on the object"}
		}
	}
	st.Assignments = append(st.Assignments, a)
	return a, nil
}

// federated serves /applications/{id}/federatedIdentityCredentials[/{fid}] (federatedidentitycredential-*.md):
// list, create (name unique per application, at most 20), update (name immutable).
func (st *State) federated(method, appObjectID, ficID string, body map[string]any) (any, error) {
	if find(st.Applications, "id", appObjectID) == nil {
		return nil, errNoSuchResource(appObjectID)
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	audiences := func() []string {
		var out []string
		list, _ := body["audiences"].([]any)
		for _, a := range list {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	switch {
	case method == "GET" && ficID == "":
		var out []any
		for _, f := range st.FederatedCredentials {
			if f.AppObjectID == appObjectID {
				out = append(out, map[string]any{"id": f.ID, "name": f.Name, "issuer": f.Issuer, "subject": f.Subject,
					"audiences": f.Audiences, "description": f.Description})
			}
		}
		return map[string]any{"value": orEmpty(out)}, nil
	case method == "POST" && ficID == "":
		f := FederatedCredential{AppObjectID: appObjectID, ID: st.newID(), Name: str("name"), Issuer: str("issuer"),
			Subject: str("subject"), Audiences: audiences(), Description: str("description")}
		if f.Name == "" || f.Issuer == "" || f.Subject == "" || len(f.Audiences) != 1 {
			return nil, &httpError{"Bad Request", "Request_BadRequest", "name, issuer, subject and one audience are required."}
		}
		n := 0
		for _, g := range st.FederatedCredentials {
			if g.AppObjectID != appObjectID {
				continue
			}
			n++
			if strings.EqualFold(g.Name, f.Name) {
				return nil, &httpError{"Bad Request", "Request_BadRequest", "FederatedIdentityCredential with name " + f.Name + " already exists."}
			}
		}
		if n >= MaxFederatedCredentials {
			return nil, &httpError{"Bad Request", "Request_BadRequest", "Maximum number of federated identity credentials reached."}
		}
		st.FederatedCredentials = append(st.FederatedCredentials, f)
		return map[string]any{"id": f.ID, "name": f.Name, "issuer": f.Issuer, "subject": f.Subject, "audiences": f.Audiences}, nil
	case method == "PATCH" && ficID != "":
		i := slices.IndexFunc(st.FederatedCredentials, func(f FederatedCredential) bool { return f.ID == ficID && f.AppObjectID == appObjectID })
		if i < 0 {
			return nil, errNoSuchResource(ficID)
		}
		if _, ok := body["name"]; ok {
			return nil, &httpError{"Bad Request", "Request_BadRequest", "Property 'name' is read-only and cannot be set."}
		}
		f := &st.FederatedCredentials[i]
		if v := str("issuer"); v != "" {
			f.Issuer = v
		}
		if v := str("subject"); v != "" {
			f.Subject = v
		}
		if a := audiences(); a != nil {
			f.Audiences = a
		}
		return nil, nil
	}
	return nil, &usageError{fmt.Sprintf("unsupported request %s on federatedIdentityCredentials", method)}
}

func (st *State) password(appObjectID, action string, body map[string]any) (any, error) {
	app := find(st.Applications, "id", appObjectID)
	if app == nil {
		return nil, errNoSuchResource(appObjectID)
	}
	if action == "removePassword" {
		keyID, _ := body["keyId"].(string)
		i := slices.IndexFunc(st.Passwords, func(p Password) bool { return p.KeyID == keyID && p.AppObjectID == appObjectID })
		if i < 0 {
			return nil, &httpError{"Bad Request", "Request_BadRequest", "No password credential with keyId " + keyID}
		}
		st.Passwords = slices.Delete(st.Passwords, i, i+1)
		return nil, nil
	}
	cred, _ := body["passwordCredential"].(map[string]any)
	p := Password{AppObjectID: appObjectID, KeyID: st.newID(), SecretText: newSecret()}
	p.DisplayName, _ = cred["displayName"].(string)
	p.EndDateTime, _ = cred["endDateTime"].(string)
	if p.EndDateTime == "" {
		p.EndDateTime = time.Now().UTC().AddDate(2, 0, 0).Format(time.RFC3339)
	}
	st.Passwords = append(st.Passwords, p)
	st.IssuedSecrets = append(st.IssuedSecrets, p.SecretText)
	return map[string]any{
		"customKeyIdentifier": nil, "displayName": p.DisplayName, "endDateTime": p.EndDateTime,
		"hint": p.SecretText[:3], "keyId": p.KeyID, "secretText": p.SecretText,
		"startDateTime": time.Now().UTC().Format(time.RFC3339),
	}, nil
}

// newSecret makes a secret value shaped like Entra's (40 characters) that tests can search for.
func newSecret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "Fk8Q~" + hex.EncodeToString(b) + "zz~"
}

func parseFilter(f string) (string, string, error) {
	m := reFilterEq.FindStringSubmatch(f)
	if m == nil {
		return "", "", &httpError{"Bad Request", "BadRequest", "Invalid filter clause: " + f}
	}
	return m[1], strings.ReplaceAll(m[2], "''", "'"), nil
}

func list(objs []Object, prop, val string) map[string]any {
	var out []any
	for _, o := range objs {
		if o[prop] == val {
			out = append(out, o)
		}
	}
	return map[string]any{"value": orEmpty(out)}
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func find(objs []Object, prop, val string) Object {
	for _, o := range objs {
		if o[prop] == val {
			return o
		}
	}
	return nil
}
