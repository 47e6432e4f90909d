// Package connect connects integrations: the connectivity test ("Connect", "Test Connectivity") and the
// Integrations API's operations around it — add an integration with its credential in Key Vault, change its
// settings, reset its credentials, delete it (service.go) — and the `status` table where each test's result is
// kept (status.go).
//
// The connectivity test acquires a token with a fresh credential, classifies a refusal by the AADSTS code of the
// token endpoint's error body (never by its text), compares the Graph application permissions in the token with
// what the integration's permission level asks for, reads the tenant's licences, and probes every data type of
// the catalog with its cheapest request, classifying the answer as Graph's error body says (reference/graph.md
// §4; the intermittent non-premium 403 is retried before it is believed). Its verdict is a named state:
// Connected only when the token works, nothing the level asks for is missing, and sign-ins or directory data are
// collectable.
package connect

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
)

// State is a connectivity test's verdict.
type State string

// Verdicts. Each token failure has its own, decided by the AADSTS code of Entra's error body.
const (
	// Connected: the token works, every permission the level asks for is granted, and sign-ins or directory data
	// are collectable.
	Connected State = "Connected"
	// MissingPermissions: the token works but permissions the level asks for are not granted.
	MissingPermissions State = "Missing permissions"
	// ConsentRequired: the token carries no Graph application permission at all (no admin consent).
	ConsentRequired State = "Consent required"
	// NotCollectable: the token works and the permissions are there, but neither sign-ins nor any directory data
	// could be read.
	NotCollectable State = "Not collectable"
	// InvalidCredentials: AADSTS7000215, the secret value is wrong (often the Secret ID pasted instead).
	InvalidCredentials State = "Invalid credentials"
	// SecretExpired: AADSTS7000222.
	SecretExpired State = "Secret expired"
	// UnknownApplication: AADSTS700016, no such app in the tenant (or a multi-tenant app never consented there).
	UnknownApplication State = "Unknown application"
	// UnknownTenant: AADSTS90002 or AADSTS900023.
	UnknownTenant State = "Unknown tenant"
	// ApplicationDisabled: AADSTS7000112, the app or its service principal is disabled.
	ApplicationDisabled State = "Application disabled"
	// BlockedByPolicy: AADSTS53003 (Conditional Access for workload identities) or AADSTS530032 (security policy).
	BlockedByPolicy State = "Blocked by Conditional Access"
	// CertificateRejected: AADSTS700027.
	CertificateRejected State = "Certificate rejected"
	// FederationRejected: AADSTS70021, 700211, 700212, 700213, 700024, 50013 — no federated identity credential
	// of the app matches the managed identity's token.
	FederationRejected State = "Federated credential rejected"
	// CredentialUnavailable: the credential could not be read (Key Vault) or the managed identity gave no token.
	CredentialUnavailable State = "Credential unavailable"
	// Unreachable: Entra could not be reached or answered with a transient failure.
	Unreachable State = "Unreachable"
	// TokenRefused: any other token error.
	TokenRefused State = "Token refused"
)

// TokenOK reports whether the state comes after a token was issued.
func (s State) TokenOK() bool {
	switch s {
	case Connected, MissingPermissions, ConsentRequired, NotCollectable:
		return true
	}
	return false
}

// Result is a connectivity test's full result, as the API returns it and the status table keeps it.
type Result struct {
	Integration string    `json:"integration"`
	TestedAt    time.Time `json:"testedAt"`
	DurationMS  int64     `json:"durationMs"`
	State       State     `json:"state"`
	Message     string    `json:"message"`
	Credential  string    `json:"credential"`
	// Code is the AADSTS code of a refused token request ("AADSTS7000215"); RequestID Entra's trace id for it.
	Code      string `json:"code,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	// Granted are the Graph application permissions in the token; Required what the permission level asks for;
	// Missing the required ones not granted (counting what a granted permission implies).
	Granted  []string `json:"grantedPermissions"`
	Required []string `json:"requiredPermissions"`
	Missing  []string `json:"missingPermissions"`
	// Licences are the tenant's licences as its subscribed SKUs show them ("yes"/"no"), or "unknown" when they
	// could not be read.
	Licences map[catalog.Licence]string `json:"licences,omitempty"`
	// SecretExpires is when the credential expires, as the app registration (or the certificate) says.
	SecretExpires *time.Time `json:"secretExpires,omitempty"`
	// DataTypes is every catalog data type's outcome: ok, missing-permission: <names>, not-licensed: <licence>,
	// not-available, error: <text>.
	DataTypes []DataTypeResult `json:"dataTypes"`
}

// DataTypeResult is one data type's probe.
type DataTypeResult struct {
	DataType string `json:"dataType"`
	Outcome  string `json:"outcome"`
	// RequestID is Graph's request-id of the probe's last answer.
	RequestID string `json:"requestId,omitempty"`
}

// Outcome returns a data type's outcome ("" when it was not probed).
func (r Result) Outcome(dataType string) string {
	for _, d := range r.DataTypes {
		if d.DataType == dataType {
			return d.Outcome
		}
	}
	return ""
}

// Summary is what the integration keeps of the result.
func (r Result) Summary() integrations.TestSummary {
	s := integrations.TestSummary{At: r.TestedAt, State: string(r.State), TokenOK: r.State.TokenOK(), Granted: r.Granted,
		Undecided: r.State == CredentialUnavailable || r.State == Unreachable}
	if len(r.DataTypes) > 0 {
		s.DataTypes = map[string]string{}
		for _, d := range r.DataTypes {
			s.DataTypes[d.DataType] = d.Outcome
		}
	}
	return s
}

// Options configure a Tester. Zero values mean the defaults in parentheses.
type Options struct {
	// Graph configures the Graph client of each test (endpoint, budgets, transport).
	Graph graph.Options
	// Credential configures the test's credential (authority host, transport).
	Credential graph.CredentialOptions
	// Attempts is how often a probe answered with the non-premium 403 is asked (3): Graph answers it
	// intermittently on licensed tenants too.
	Attempts int
	// RetryBase is the first pause between those attempts (2 s), doubling.
	RetryBase time.Duration
	// Propagation is how long a new secret refused as invalid (AADSTS7000215) is tried again: Entra takes seconds
	// to accept a secret just created (0: not at all).
	Propagation time.Duration
	// Concurrency is how many probes run at once (4); each family's budget paces them anyway.
	Concurrency int
	// Limits, when set, gives the budgets of an app in a tenant that the process's other Graph clients spend too
	// (the collector's): Graph's limits are per app and tenant, so a test's probes must not spend them unseen.
	Limits func(tenantID, clientID string) *graph.Limits
}

// Tester runs connectivity tests.
type Tester struct{ o Options }

// NewTester returns a Tester; nil opts means defaults.
func NewTester(opts *Options) *Tester {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	return &Tester{o: o}
}

// Material is the credential a test signs in with: the secret value or PEM certificate (credential secret or
// certificate), or the managed identity's assertion (credential managed-identity).
type Material struct {
	Secret    string
	Assertion graph.AssertionSource
	// New marks a credential just created (Add Integration, Reset Credentials): a refusal as invalid is tried
	// again for Options.Propagation.
	New bool
}

// credential builds a fresh credential, so that no cached token or secret is tested instead of the given one.
func (t *Tester) credential(i integrations.Integration, m Material) (azcore.TokenCredential, error) {
	static := func(context.Context, bool) (string, error) { return m.Secret, nil }
	switch i.CredentialKind() {
	case integrations.Certificate:
		return graph.NewCertificateCredential(i.TenantID, i.ClientID, static, &t.o.Credential)
	case integrations.ManagedIdentity:
		if m.Assertion == nil {
			return nil, errors.New("no managed identity is configured for this function app (AZURE_CLIENT_ID)")
		}
		return graph.NewAssertionCredential(i.TenantID, i.ClientID, m.Assertion, &t.o.Credential)
	}
	return graph.NewSecretCredential(i.TenantID, i.ClientID, static, &t.o.Credential)
}

// Test runs the connectivity test of integration i signing in with m, at now (the data clock). It always returns
// a result: what went wrong is the result's state and message.
func (t *Tester) Test(ctx context.Context, i integrations.Integration, m Material, now time.Time) Result {
	started := time.Now()
	r := Result{Integration: i.ID, TestedAt: now.UTC(), Credential: string(i.CredentialKind()), Granted: []string{},
		Missing: []string{}, DataTypes: []DataTypeResult{}}
	r.Required = catalog.Names(catalog.PermissionSet(i.Permissions, i.Licence(catalog.IntuneLicence) == integrations.Yes))
	defer func() { r.DurationMS = time.Since(started).Milliseconds() }()
	log := logging.From(ctx).With(logging.KeyIntegration, i.ID)

	cred, err := t.credential(i, m)
	if err != nil {
		r.State, r.Message = CredentialUnavailable, "the credential cannot be used: "+err.Error()
		return r
	}
	gopts := t.o.Graph
	if t.o.Limits != nil {
		gopts.Limits = t.o.Limits(i.TenantID, i.ClientID)
	}
	client, err := graph.New(cred, &gopts)
	if err != nil {
		r.State, r.Message = TokenRefused, err.Error()
		return r
	}
	granted, err := t.token(ctx, client, m)
	if err != nil {
		t.tokenFailure(&r, i, m.Secret, err)
		log.Info("connectivity test: no token", "state", r.State, "code", r.Code)
		return r
	}
	r.Granted = granted
	slices.Sort(r.Granted)
	r.Licences = t.licences(ctx, client)
	// The Intune permissions are asked for when the tenant has Intune: answered yes, or detected when auto.
	intune := i.Licence(catalog.IntuneLicence) == integrations.Yes ||
		i.Licence(catalog.IntuneLicence) == integrations.Auto && r.Licences[catalog.IntuneLicence] == "yes"
	r.Required = catalog.Names(catalog.PermissionSet(i.Permissions, intune))
	for _, p := range r.Required {
		if !catalog.Grants(granted, p) {
			r.Missing = append(r.Missing, p)
		}
	}
	if exp := t.expiry(ctx, client, i, m); !exp.IsZero() {
		r.SecretExpires = &exp
	}
	if len(granted) == 0 {
		// No role at all: every probe would answer 403. Say what each data type needs instead of asking Graph.
		for _, dt := range catalog.DataTypes {
			r.DataTypes = append(r.DataTypes, DataTypeResult{DataType: dt.Name,
				Outcome: integrations.OutcomeMissingPermission + strings.Join(dt.Permissions, ", ")})
		}
	} else {
		r.DataTypes = t.probe(ctx, client, i, granted, r.Licences)
	}
	verdict(&r, i)
	log.Info("connectivity test", "state", r.State, "missing", strings.Join(r.Missing, ","), "duration_ms", time.Since(started).Milliseconds())
	return r
}

// token acquires the Graph token and returns its roles. A new secret refused as invalid is tried again for the
// propagation window (Entra accepts a secret a few seconds after it is created).
func (t *Tester) token(ctx context.Context, client *graph.Client, m Material) ([]string, error) {
	deadline := time.Now().Add(t.o.Propagation)
	wait := time.Second
	for {
		roles, err := client.GrantedRoles(ctx)
		if err == nil || !m.New || graph.AADSTS(err) != 7000215 || time.Now().Add(wait).After(deadline) {
			return roles, err
		}
		if serr := sleep(ctx, wait); serr != nil {
			return nil, err
		}
		wait *= 2
	}
}

// tokenFailure names the state of a refused token request from its AADSTS code, and says what to do. secret is
// the secret tried (compared with the Secret ID only, never reported).
func (t *Tester) tokenFailure(r *Result, i integrations.Integration, secret string, err error) {
	var ge *graph.Error
	if !errors.As(err, &ge) {
		r.State, r.Message = Unreachable, "Entra could not be reached: "+err.Error()
		return
	}
	r.RequestID = ge.RequestID
	if ge.Kind == graph.SecretUnavailable {
		r.State, r.Message = CredentialUnavailable, ge.Message
		return
	}
	if ge.Code == "certificate" {
		r.State, r.Message = CertificateRejected, ge.Message
		return
	}
	code := graph.AADSTS(err)
	if code != 0 {
		r.Code = fmt.Sprintf("AADSTS%d", code)
	}
	if code == 0 && ge.Status == 0 {
		// No answer from the token endpoint at all: a network failure, not a refusal.
		host := t.o.Credential.AuthorityHost
		if host == "" {
			host = "https://login.microsoftonline.com/"
		}
		r.State, r.Message = Unreachable, "Entra could not be reached: no answer to the token request at "+host+"; check the network and test again."
		return
	}
	q := r.Code + ": "
	switch code {
	case 7000215:
		r.State = InvalidCredentials
		r.Message = q + "Entra refused the client secret. Enter the secret's Value, not its Secret ID; if the secret " +
			"was just created, wait a minute and test again; otherwise create a new one and use Reset Credentials."
		if i.SecretID != "" && strings.EqualFold(strings.TrimSpace(secret), i.SecretID) {
			r.Message = q + "the value entered is the Secret ID. Enter the secret's Value instead (shown only when the " +
				"secret was created; if it is lost, create a new secret) and use Reset Credentials."
		}
	case 7000222:
		r.State = SecretExpired
		r.Message = q + "the client secret has expired. Create a new secret for app " + i.ClientID + " and use Reset Credentials."
	case 700016:
		r.State = UnknownApplication
		r.Message = q + "there is no application " + i.ClientID + " in tenant " + i.TenantID + ". Check the Application " +
			"(client) ID and the Directory (tenant) ID; a multi-tenant app must first be granted admin consent in the tenant: " +
			consentURL(t.o.Credential.AuthorityHost, i)
	case 90002, 900023:
		r.State = UnknownTenant
		r.Message = q + "tenant " + i.TenantID + " was not found. Check the Directory (tenant) ID and that the tenant is in this cloud."
	case 7000112:
		r.State = ApplicationDisabled
		r.Message = q + "the application or its service principal (Enterprise application) is disabled in the tenant. " +
			"Set \"Enabled for users to sign in\" to Yes on the Enterprise application, or ask Microsoft why it was disabled."
	case 53003, 530032:
		r.State = BlockedByPolicy
		r.Message = q + "a Conditional Access policy for workload identities (or a tenant security policy) blocks this " +
			"application's sign-in. Exclude its service principal from the policy, or allow the function app's outbound addresses."
	case 700027:
		r.State = CertificateRejected
		r.Message = q + "Entra did not accept the certificate: upload its public part to the app registration's " +
			"Certificates & secrets, or Reset Credentials with the certificate that is there."
	case 70021, 700211, 700212, 700213, 700024, 50013:
		r.State = FederationRejected
		r.Message = q + "no federated identity credential of app " + i.ClientID + " matches the function app's managed " +
			"identity (issuer, subject = the identity's object id, audience api://AzureADTokenExchange). Add it with " +
			"scripts/register-app.sh --federated-identity, or wait a few minutes after adding it."
	case 50033, 90024, 90033, 90055:
		r.State = Unreachable
		r.Message = q + "Entra answered with a transient failure; test again in a few minutes."
	default:
		if ge.Status >= 500 {
			r.State, r.Message = Unreachable, "Entra answered HTTP "+fmt.Sprint(ge.Status)+"; test again in a few minutes."
			return
		}
		r.State = TokenRefused
		r.Message = strings.TrimPrefix(q+"Entra refused the token request ("+ge.Message+").", ": ")
	}
	if r.RequestID != "" {
		r.Message += " [trace id " + r.RequestID + "]"
	}
}

// consentURL is the admin-consent URL of the app in the tenant (reference/credentials.md §6).
func consentURL(authority string, i integrations.Integration) string {
	if authority == "" {
		authority = "https://login.microsoftonline.com/"
	}
	return strings.TrimSuffix(authority, "/") + "/" + url.PathEscape(i.TenantID) + "/adminconsent?client_id=" + url.QueryEscape(i.ClientID)
}

// Service plans that show a licence in subscribedSkus (Microsoft's licensing service plan reference; the
// Workload Identities Premium plans are unverified). Agent ID has no service plan known here: it stays "unknown".
var planLicences = map[string][]catalog.Licence{
	"AAD_PREMIUM":    {catalog.EntraP1P2},
	"AAD_PREMIUM_P2": {catalog.EntraP1P2, catalog.EntraP2},
	"INTUNE_A":       {catalog.IntuneLicence},
	"AAD_WRKLDID_P1": {catalog.WorkloadIdentitiesPremium},
	"AAD_WRKLDID_P2": {catalog.WorkloadIdentitiesPremium},
}

type subscribedSku struct {
	CapabilityStatus string `json:"capabilityStatus"`
	ServicePlans     []struct {
		ServicePlanName    string `json:"servicePlanName"`
		ProvisioningStatus string `json:"provisioningStatus"`
	} `json:"servicePlans"`
}

// licences reads the tenant's subscribed SKUs (Directory.Read.All); "unknown" for every licence when it cannot.
func (t *Tester) licences(ctx context.Context, client *graph.Client) map[catalog.Licence]string {
	out := map[catalog.Licence]string{}
	for _, l := range catalog.Licences {
		out[l] = "no"
	}
	_, err := client.Pages(ctx, "/v1.0/subscribedSkus", func(it graph.Item) error {
		var s subscribedSku
		if json.Unmarshal(it.Raw, &s) != nil || s.CapabilityStatus != "Enabled" && s.CapabilityStatus != "Warning" {
			return nil
		}
		for _, p := range s.ServicePlans {
			if p.ProvisioningStatus != "Success" {
				continue
			}
			for _, l := range planLicences[p.ServicePlanName] {
				out[l] = "yes"
			}
		}
		return nil
	})
	if err != nil {
		for _, l := range catalog.Licences {
			out[l] = "unknown"
		}
		return out
	}
	out[catalog.AgentID] = "unknown"
	return out
}

// expiry is when the credential expires: a certificate's own end date, or the app registration's
// passwordCredential whose keyId is the Secret ID (Application.Read.All or Directory.Read.All, in the tenant
// where the app is registered); zero when it cannot be read.
func (t *Tester) expiry(ctx context.Context, client *graph.Client, i integrations.Integration, m Material) time.Time {
	switch i.CredentialKind() {
	case integrations.Certificate:
		rest := []byte(m.Secret)
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return time.Time{}
			}
			if b.Type == "CERTIFICATE" {
				if c, err := x509.ParseCertificate(b.Bytes); err == nil {
					return c.NotAfter.UTC()
				}
			}
		}
	case integrations.ManagedIdentity:
		return time.Time{}
	}
	if i.SecretID == "" {
		return time.Time{}
	}
	var end time.Time
	q := "/v1.0/applications?$filter=" + url.QueryEscape("appId eq '"+i.ClientID+"'") + "&$select=id,appId,passwordCredentials"
	_, _ = client.Pages(ctx, q, func(it graph.Item) error {
		var app struct {
			PasswordCredentials []struct {
				KeyID       string    `json:"keyId"`
				EndDateTime time.Time `json:"endDateTime"`
			} `json:"passwordCredentials"`
		}
		if json.Unmarshal(it.Raw, &app) == nil {
			for _, p := range app.PasswordCredentials {
				if strings.EqualFold(p.KeyID, i.SecretID) {
					end = p.EndDateTime.UTC()
				}
			}
		}
		return nil
	})
	return end
}

var errProbeDone = errors.New("probe done")

// probe asks Graph for one record of every data type and classifies the answers.
func (t *Tester) probe(ctx context.Context, client *graph.Client, i integrations.Integration, granted []string, licences map[catalog.Licence]string) []DataTypeResult {
	out := make([]DataTypeResult, len(catalog.DataTypes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.o.Concurrency)
	var mu sync.Mutex
	for k, dt := range catalog.DataTypes {
		g.Go(func() error {
			res := t.probeOne(gctx, client, i, dt, granted, licences)
			mu.Lock()
			out[k] = res
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func (t *Tester) probeOne(ctx context.Context, client *graph.Client, i integrations.Integration, dt catalog.DataType, granted []string, licences map[catalog.Licence]string) DataTypeResult {
	res := DataTypeResult{DataType: dt.Name}
	for _, l := range dt.Licences {
		if i.Licence(l) == integrations.No {
			res.Outcome = integrations.OutcomeNotLicensed + string(l) + " (answered no)"
			return res
		}
	}
	if dt.PerObject() != nil {
		// A per-object data type has no cheap probe (a request per object, and an opt-in one must send nothing while
		// it is off): the granted permissions decide, and the collector parks it if Graph refuses.
		res.Outcome = integrations.OutcomeOK
		if missing := dt.Missing(granted); len(missing) > 0 {
			res.Outcome = integrations.OutcomeMissingPermission + strings.Join(missing, ", ")
		}
		return res
	}
	for attempt := 1; ; attempt++ {
		_, err := client.Pages(ctx, dt.ProbeQuery(), func(graph.Item) error { return errProbeDone })
		if err == nil || errors.Is(err, errProbeDone) {
			res.Outcome = integrations.OutcomeOK
			return res
		}
		var ge *graph.Error
		if errors.As(err, &ge) {
			res.RequestID = ge.RequestID
		}
		switch graph.KindOf(err) {
		case graph.NotLicensed:
			if attempt < t.o.Attempts && sleep(ctx, t.o.RetryBase<<(attempt-1)) == nil {
				continue
			}
			if held := heldLicences(dt, licences); held {
				res.Outcome = fmt.Sprintf("%sGraph answered \"not licensed\" %d times although the tenant holds %s "+
					"(Graph does this intermittently); the collector will keep trying", integrations.OutcomeError, attempt, dt.LicenceText())
				return res
			}
			res.Outcome = integrations.OutcomeNotLicensed + dt.LicenceText()
		case graph.MissingPermission, graph.Forbidden:
			missing := dt.Missing(granted)
			if len(missing) == 0 {
				missing = dt.Permissions
			}
			res.Outcome = integrations.OutcomeMissingPermission + strings.Join(missing, ", ")
		case graph.BadRequest, graph.NotFound:
			res.Outcome = integrations.OutcomeNotAvailable
		default:
			res.Outcome = integrations.OutcomeError + shorten(err.Error(), 200)
		}
		return res
	}
}

// heldLicences reports whether the subscribed SKUs show every licence dt needs.
func heldLicences(dt catalog.DataType, licences map[catalog.Licence]string) bool {
	if len(dt.Licences) == 0 {
		return false
	}
	for _, l := range dt.Licences {
		if licences[l] != "yes" {
			return false
		}
	}
	return true
}

// verdict decides the state and message of a test whose token worked.
func verdict(r *Result, i integrations.Integration) {
	collectable := false
	var gaps, errs []string
	for _, d := range r.DataTypes {
		dt, _ := catalog.Lookup(d.DataType)
		switch {
		case d.Outcome == integrations.OutcomeOK:
			if strings.HasPrefix(dt.Name, "signIns.") || dt.Family == catalog.Directory {
				collectable = true
			}
		case strings.HasPrefix(d.Outcome, integrations.OutcomeError):
			errs = append(errs, d.DataType)
		default:
			gaps = append(gaps, d.DataType+" "+d.Outcome)
		}
	}
	lic := licenceText(r.Licences)
	switch {
	case len(r.Granted) == 0:
		r.State = ConsentRequired
		r.Message = "the token carries no Microsoft Graph application permission: an administrator of the tenant must grant " +
			"admin consent to the app's permissions (" + strings.Join(r.Required, ", ") + ")."
	case len(r.Missing) > 0:
		r.State = MissingPermissions
		r.Message = fmt.Sprintf("not granted: %s (asked for by %s); grant them and admin consent, then test again.",
			strings.Join(r.Missing, ", "), i.Permissions)
	case !collectable:
		r.State = NotCollectable
		r.Message = "neither sign-ins nor directory data could be read: " + strings.Join(append(gaps, errs...), "; ")
		return
	default:
		r.State = Connected
		r.Message = "signed in with the " + credentialText(i.CredentialKind()) + "; every permission " + string(i.Permissions) + " asks for is granted."
	}
	if lic != "" {
		r.Message += " Licences: " + lic + "."
	}
	if len(gaps) > 0 && r.State != ConsentRequired {
		r.Message += " Not collected: " + strings.Join(gaps, "; ") + "."
	}
	if len(errs) > 0 {
		r.Message += " Undecided (the collector retries): " + strings.Join(errs, ", ") + "."
	}
}

func credentialText(k integrations.CredentialKind) string {
	switch k {
	case integrations.Certificate:
		return "certificate"
	case integrations.ManagedIdentity:
		return "function app's managed identity (federated credential)"
	}
	return "client secret"
}

// licenceText names the detected licences ("Entra ID P1/P2, Intune"; "none (free tenant)").
func licenceText(l map[catalog.Licence]string) string {
	if len(l) == 0 || l[catalog.EntraP1P2] == "unknown" {
		return "unknown (subscribedSkus could not be read)"
	}
	names := map[catalog.Licence]string{catalog.EntraP1P2: "Entra ID P1", catalog.EntraP2: "Entra ID P2",
		catalog.IntuneLicence: "Intune", catalog.WorkloadIdentitiesPremium: "Workload Identities Premium", catalog.AgentID: "Agent ID"}
	var held []string
	for _, lic := range catalog.Licences {
		if l[lic] == "yes" {
			held = append(held, names[lic])
		}
	}
	if slices.Contains(held, "Entra ID P2") {
		held = slices.DeleteFunc(held, func(s string) bool { return s == "Entra ID P1" })
	}
	if len(held) == 0 {
		return "none found (a free tenant: sign-ins need Entra ID P1/P2, audits are kept 7 days)"
	}
	return strings.Join(held, ", ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
