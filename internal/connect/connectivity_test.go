package connect

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/testca"
)

// scale shrinks Graph's throttling windows (the simulated tenant's and the client's alike) so tests run fast at
// Graph's real proportions.
const scale = 0.01

func scaledBudgets() map[catalog.Family]catalog.Budget {
	out := map[catalog.Family]catalog.Budget{}
	for f, b := range catalog.Budgets {
		out[f] = catalog.Budget{Requests: b.Requests, Window: time.Duration(float64(b.Window) * scale)}
	}
	return out
}

func startTenant(t *testing.T, o entrasim.Options) *entrasim.Tenant {
	t.Helper()
	if o.Users == 0 {
		o.Users = 12
	}
	if o.History == 0 {
		o.History = 2 * 24 * time.Hour
	}
	o.ThrottleScale = scale
	tn, err := entrasim.Start(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.Close() })
	return tn
}

func newTester(t *testing.T, tn *entrasim.Tenant, authorityURL string) *Tester {
	t.Helper()
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	return NewTester(&Options{
		Graph:      graph.Options{Endpoint: tn.GraphURL(), Transport: ca.Client().Transport, Budgets: scaledBudgets()},
		Credential: graph.CredentialOptions{AuthorityHost: authorityURL, Transport: ca.Client()},
		RetryBase:  10 * time.Millisecond,
	})
}

func integrationFor(tn *entrasim.Tenant) integrations.Integration {
	return integrations.Integration{ID: "contoso", Name: "Contoso", TenantID: tn.TenantID(), ClientID: tn.ClientID(),
		SecretName: "integration-contoso", SecretID: tn.SecretID(), Permissions: catalog.ReadOnly, Mode: integrations.Managed}
}

// selfSigned returns a certificate and its PEM (certificate and PKCS#8 key).
func selfSigned(t *testing.T, cn string) (*x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
}

// identity is a second app of the tenant standing in for the function app's managed identity: its token for
// api://AzureADTokenExchange is what the integration app's federated credential trusts.
func identity(t *testing.T, tn *entrasim.Tenant) (graph.AssertionSource, string) {
	t.Helper()
	app, err := tn.AddApp("function app identity", nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := testca.Shared()
	cred, err := azidentity.NewClientSecretCredential(tn.TenantID(), app.AppID, app.PasswordCredentials[0].SecretText,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: tn.AuthorityURL()}, Transport: ca.Client()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return graph.ManagedIdentityAssertion(cred), tn.ServicePrincipalID(app.AppID)
}

func without(drop ...string) []string {
	return slices.DeleteFunc(entrasim.ReadOnlyRoles(), func(r string) bool { return slices.Contains(drop, r) })
}

var signIns = []string{"signIns.interactive", "signIns.nonInteractive", "signIns.servicePrincipal", "signIns.managedIdentity"}

// TestConnectivity runs the connectivity test against the simulated tenant (real azidentity and msgraph-sdk-go
// over TLS) for every credential fault the simulated authority can produce, every licence kind and permission
// gaps: each gets its own state and message, and each data type the outcome Graph's answer means.
func TestConnectivity(t *testing.T) {
	type setup struct {
		integ    integrations.Integration
		material Material
		tester   *Tester
		tn       *entrasim.Tenant
	}
	cases := []struct {
		name    string
		tenant  entrasim.Options
		prepare func(t *testing.T, s *setup)
		state   State
		code    string
		// message holds phrases the message must contain.
		message []string
		// outcomes are expected data type outcomes (a subset; the rest is not asserted).
		outcomes map[string]string
		// sameAs names the case whose verdict this one shares (no fault: the same outcome by another way); every
		// other case has a state and message of its own.
		sameAs string
		check  func(t *testing.T, s *setup, r Result)
	}{
		{name: "connected (P2 tenant)", state: Connected, message: []string{"signed in with the client secret; every permission read-only asks for is granted", "Licences: Entra ID P2."},
			outcomes: map[string]string{"signIns.interactive": "ok", "directoryAudits": "ok", "provisioning": "ok", "users": "ok", "groups": "ok", "roleAssignments": "ok"},
			check: func(t *testing.T, s *setup, r Result) {
				if r.SecretExpires == nil || !r.SecretExpires.Equal(s.tn.SecretExpires().UTC()) {
					t.Errorf("secret expiry %v, want the app registration's %v", r.SecretExpires, s.tn.SecretExpires())
				}
				if len(r.Missing) != 0 || !slices.Contains(r.Granted, "AuditLog.Read.All") {
					t.Errorf("granted %v, missing %v", r.Granted, r.Missing)
				}
				if r.Licences[catalog.EntraP2] != "yes" || r.Licences[catalog.IntuneLicence] != "no" ||
					slices.ContainsFunc(r.Required, func(p string) bool { return strings.HasPrefix(p, "DeviceManagement") }) {
					t.Errorf("licences %v, required %v", r.Licences, r.Required)
				}
			}},
		{name: "wrong secret", prepare: func(t *testing.T, s *setup) { s.material.Secret = "not-the-secret-value" },
			state: InvalidCredentials, code: "AADSTS7000215", message: []string{"AADSTS7000215", "not its Secret ID"}},
		{name: "secret ID pasted as the secret", prepare: func(t *testing.T, s *setup) { s.material.Secret = s.tn.SecretID() },
			state: InvalidCredentials, code: "AADSTS7000215", message: []string{"AADSTS7000215", "the value entered is the Secret ID"}},
		{name: "expired secret", tenant: entrasim.Options{SecretLifetime: time.Hour},
			state: SecretExpired, code: "AADSTS7000222", message: []string{"AADSTS7000222", "has expired"}},
		{name: "unknown app", prepare: func(t *testing.T, s *setup) { s.integ.ClientID = "0badc0de-1111-4222-8333-444455556666" },
			state: UnknownApplication, code: "AADSTS700016", message: []string{"AADSTS700016", "admin consent", "adminconsent?client_id=0badc0de"}},
		{name: "unknown tenant", prepare: func(t *testing.T, s *setup) { s.integ.TenantID = "0badc0de-9999-4222-8333-444455556666" },
			state: UnknownTenant, code: "AADSTS90002", message: []string{"AADSTS90002", "Directory (tenant) ID"}},
		{name: "disabled app", prepare: func(t *testing.T, s *setup) {
			if err := s.tn.SetServicePrincipalEnabled(s.tn.ClientID(), false); err != nil {
				t.Fatal(err)
			}
		}, state: ApplicationDisabled, code: "AADSTS7000112", message: []string{"AADSTS7000112", "disabled"}},
		{name: "conditional access block", prepare: func(t *testing.T, s *setup) {
			if err := s.tn.SetConditionalAccessBlock(s.tn.ClientID(), true); err != nil {
				t.Fatal(err)
			}
		}, state: BlockedByPolicy, code: "AADSTS53003", message: []string{"AADSTS53003", "Conditional Access"}},
		{name: "authority unreachable", prepare: func(t *testing.T, s *setup) {
			s.tester = newTester(t, s.tn, "https://127.0.0.1:1/")
		}, state: Unreachable, message: []string{"could not be reached", "https://127.0.0.1:1/"}},
		{name: "missing consent", tenant: entrasim.Options{Roles: []string{}}, state: ConsentRequired, message: []string{"admin consent"},
			outcomes: map[string]string{"signIns.interactive": "missing-permission: AuditLog.Read.All, Directory.Read.All", "users": "missing-permission: User.Read.All"},
			check: func(t *testing.T, s *setup, r Result) {
				if n := s.tn.Counters().Families["reports"]; len(n) != 0 {
					t.Errorf("with no permission at all the test still probed Graph's reports: %v", n)
				}
			}},
		{name: "missing AuditLog.Read.All", tenant: entrasim.Options{Roles: without("AuditLog.Read.All")}, state: MissingPermissions,
			message: []string{"not granted: AuditLog.Read.All"},
			outcomes: map[string]string{"signIns.nonInteractive": "missing-permission: AuditLog.Read.All", "directoryAudits": "missing-permission: AuditLog.Read.All",
				"users": "ok", "devices": "ok"}},
		{name: "missing Directory.Read.All", tenant: entrasim.Options{Roles: without("Directory.Read.All")}, state: MissingPermissions,
			message: []string{"not granted: Directory.Read.All"},
			outcomes: map[string]string{"signIns.interactive": "missing-permission: Directory.Read.All", "directoryAudits": "ok",
				"devices": "missing-permission: Directory.Read.All", "users": "ok", "groups": "ok"}},
		{name: "missing Directory.Read.All and User.Read.All", tenant: entrasim.Options{Roles: without("Directory.Read.All", "User.Read.All")}, state: MissingPermissions,
			message:  []string{"not granted: Directory.Read.All, User.Read.All"},
			outcomes: map[string]string{"users": "missing-permission: User.Read.All", "groups": "ok"}},
		{name: "missing a permission no data type uses yet", tenant: entrasim.Options{Roles: without("MailboxSettings.Read")}, state: MissingPermissions,
			message: []string{"not granted: MailboxSettings.Read"}, outcomes: map[string]string{"signIns.interactive": "ok", "users": "ok"}},
		{name: "implied permission is enough", tenant: entrasim.Options{Roles: without("Application.Read.All", "GroupMember.Read.All")}, state: Connected,
			sameAs:   "connected (P2 tenant)",
			outcomes: map[string]string{"applications": "ok", "servicePrincipals": "ok", "groups": "ok"}},
		{name: "free tenant", tenant: entrasim.Options{Licences: []entrasim.Licence{entrasim.LicenceFree}}, state: Connected,
			message: []string{"Licences: none found (a free tenant", "not-licensed: entraP1P2"},
			outcomes: map[string]string{"signIns.interactive": "not-licensed: entraP1P2", "provisioning": "not-licensed: entraP1P2",
				"directoryAudits": "ok", "users": "ok"},
			check: func(t *testing.T, s *setup, r Result) {
				// The non-premium 403 is asked Attempts times before it is believed.
				if n := s.tn.Counters().Endpoint("beta/auditLogs/signIns"); n.Accepted != 4*3 {
					t.Errorf("sign-in probes: %+v, want 3 per sign-in data type", n)
				}
				if r.Licences[catalog.EntraP1P2] != "no" {
					t.Errorf("licences %v", r.Licences)
				}
			}},
		{name: "P1 tenant", tenant: entrasim.Options{Licences: []entrasim.Licence{entrasim.LicenceP1}}, state: Connected,
			message: []string{"Licences: Entra ID P1."}, outcomes: map[string]string{"signIns.interactive": "ok", "provisioning": "ok"},
			check: func(t *testing.T, s *setup, r Result) {
				if r.Licences[catalog.EntraP1P2] != "yes" || r.Licences[catalog.EntraP2] != "no" {
					t.Errorf("licences %v", r.Licences)
				}
			}},
		{name: "Intune tenant", tenant: entrasim.Options{Licences: []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceIntune}}, state: Connected,
			message: []string{"Licences: Entra ID P2, Intune."},
			check: func(t *testing.T, s *setup, r Result) {
				if !slices.Contains(r.Required, "DeviceManagementManagedDevices.Read.All") {
					t.Errorf("an Intune tenant asks for the Intune permissions: %v", r.Required)
				}
			}},
		{name: "Intune tenant without the Intune permissions", state: MissingPermissions,
			tenant:  entrasim.Options{Licences: []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceIntune}, Roles: without("DeviceManagementManagedDevices.Read.All", "DeviceManagementApps.Read.All", "DeviceManagementConfiguration.Read.All")},
			message: []string{"not granted: DeviceManagementApps.Read.All, DeviceManagementConfiguration.Read.All, DeviceManagementManagedDevices.Read.All"}},
		{name: "intermittent non-premium 403 on a licensed tenant", tenant: entrasim.Options{NonPremiumShare: 1}, state: Connected,
			message:  []string{"Undecided (the collector retries)"},
			outcomes: map[string]string{"provisioning": "ok"},
			check: func(t *testing.T, s *setup, r Result) {
				o := r.Outcome("signIns.interactive")
				if !strings.HasPrefix(o, "error: Graph answered \"not licensed\" 3 times although the tenant holds entraP1P2") {
					t.Errorf("sign-ins: %q", o)
				}
				if !integrations.Usable(o) {
					t.Error("an undecided probe must not park the data type")
				}
			}},
		{name: "certificate", prepare: func(t *testing.T, s *setup) {
			cert, pemData := selfSigned(t, "integration")
			if err := s.tn.AddCertificate(s.tn.ClientID(), cert); err != nil {
				t.Fatal(err)
			}
			s.integ.Credential, s.material.Secret = integrations.Certificate, pemData
		}, state: Connected, message: []string{"signed in with the certificate"},
			check: func(t *testing.T, s *setup, r Result) {
				if r.SecretExpires == nil || r.SecretExpires.Before(time.Now().AddDate(0, 11, 0)) {
					t.Errorf("certificate expiry %v", r.SecretExpires)
				}
			}},
		{name: "certificate not uploaded", prepare: func(t *testing.T, s *setup) {
			_, pemData := selfSigned(t, "other")
			s.integ.Credential, s.material.Secret = integrations.Certificate, pemData
		}, state: CertificateRejected, code: "AADSTS700027", message: []string{"AADSTS700027", "upload its public part"}},
		{name: "managed identity as federated credential", prepare: func(t *testing.T, s *setup) {
			assertion, subject := identity(t, s.tn)
			if err := s.tn.AddFederatedCredential(s.tn.ClientID(), authority.FederatedCredential{Name: "function-app",
				Issuer: s.tn.FederatedIssuer(), Subject: subject, Audiences: []string{authority.TokenExchangeAudience}}); err != nil {
				t.Fatal(err)
			}
			s.integ.Credential, s.integ.SecretName, s.material = integrations.ManagedIdentity, "", Material{Assertion: assertion}
		}, state: Connected, message: []string{"signed in with the function app's managed identity"}, outcomes: map[string]string{"signIns.interactive": "ok"}},
		{name: "managed identity without federated credential", prepare: func(t *testing.T, s *setup) {
			assertion, _ := identity(t, s.tn)
			s.integ.Credential, s.integ.SecretName, s.material = integrations.ManagedIdentity, "", Material{Assertion: assertion}
		}, state: FederationRejected, code: "AADSTS70021", message: []string{"AADSTS70021", "api://AzureADTokenExchange"}},
		{name: "managed identity, federated credential for another subject", prepare: func(t *testing.T, s *setup) {
			assertion, _ := identity(t, s.tn)
			if err := s.tn.AddFederatedCredential(s.tn.ClientID(), authority.FederatedCredential{Name: "other",
				Issuer: s.tn.FederatedIssuer(), Subject: "00000000-1111-4222-8333-444444444444", Audiences: []string{authority.TokenExchangeAudience}}); err != nil {
				t.Fatal(err)
			}
			s.integ.Credential, s.integ.SecretName, s.material = integrations.ManagedIdentity, "", Material{Assertion: assertion}
		}, state: FederationRejected, code: "AADSTS700213", message: []string{"AADSTS700213"}},
		{name: "no managed identity", prepare: func(t *testing.T, s *setup) {
			s.integ.Credential, s.integ.SecretName, s.material = integrations.ManagedIdentity, "", Material{}
		}, state: CredentialUnavailable, message: []string{"no managed identity"}},
	}
	seen := map[string]string{}
	trace := regexp.MustCompile(`\[trace id [0-9a-f-]+\]`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn := startTenant(t, tc.tenant)
			s := &setup{integ: integrationFor(tn), material: Material{Secret: tn.ClientSecret()}, tn: tn}
			s.tester = newTester(t, tn, tn.AuthorityURL())
			if tc.prepare != nil {
				tc.prepare(t, s)
			}
			now := tn.Now()
			r := s.tester.Test(context.Background(), s.integ, s.material, now)
			t.Logf("%s: %s", r.State, r.Message)
			if r.State != tc.state || r.Code != tc.code {
				t.Fatalf("state %q code %q, want %q %q (%s)", r.State, r.Code, tc.state, tc.code, r.Message)
			}
			for _, m := range tc.message {
				if !strings.Contains(r.Message, m) {
					t.Errorf("message %q lacks %q", r.Message, m)
				}
			}
			if !r.TestedAt.Equal(now.UTC()) || r.Integration != "contoso" {
				t.Errorf("tested at %v (want %v), integration %q", r.TestedAt, now, r.Integration)
			}
			if r.State.TokenOK() != (len(r.DataTypes) == len(catalog.DataTypes)) {
				t.Errorf("%d data types probed with state %s", len(r.DataTypes), r.State)
			}
			for dt, want := range tc.outcomes {
				if got := r.Outcome(dt); got != want {
					t.Errorf("%s: %q, want %q", dt, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, s, r)
			}
			if s.material.Secret != "" && strings.Contains(r.Message+strings.Join(r.Granted, ""), s.material.Secret) {
				t.Error("the result contains the credential")
			}
			key := string(r.State) + " " + trace.ReplaceAllString(r.Message, "")
			if tc.sameAs != "" {
				if seen[key] != tc.sameAs {
					t.Errorf("verdict differs from %q's", tc.sameAs)
				}
			} else if other, dup := seen[key]; dup {
				t.Errorf("same state and message as %q", other)
			} else {
				seen[key] = tc.name
			}
			sum := r.Summary()
			if sum.State != string(r.State) || sum.TokenOK != r.State.TokenOK() || len(sum.DataTypes) != len(r.DataTypes) {
				t.Errorf("summary %+v", sum)
			}
			// Only an outage leaves the test undecided; a verdict on the credential parks collection.
			if undecided := r.State == CredentialUnavailable || r.State == Unreachable; sum.Undecided != undecided {
				t.Errorf("summary of %s: undecided %v", r.State, sum.Undecided)
			}
		})
	}
}

// TestPropagationRetry: a new secret refused as invalid is tried again within the propagation window and passes
// once Entra accepts it; a stored one is tried once.
func TestPropagationRetry(t *testing.T) {
	tn := startTenant(t, entrasim.Options{})
	tester := newTester(t, tn, tn.AuthorityURL())
	tester.o.Propagation = 30 * time.Second
	integ := integrationFor(tn)
	// The admin has just created the secret in the portal; Entra accepts it two seconds later.
	const value = "fresh-secret-value-accepted-later"
	done := make(chan error, 1)
	go func() {
		time.Sleep(2 * time.Second)
		_, err := tn.AddClientSecret(tn.ClientID(), "fresh", value, 24*time.Hour)
		done <- err
	}()
	r := tester.Test(context.Background(), integ, Material{Secret: value, New: true}, tn.Now())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	refused := tn.Authority().Counters().Failures[authority.CodeInvalidSecret]
	if r.State != Connected || refused < 2 {
		t.Fatalf("state %s after %d refusals: %s", r.State, refused, r.Message)
	}
	before := refused
	r = tester.Test(context.Background(), integ, Material{Secret: "never-valid"}, tn.Now())
	if got := tn.Authority().Counters().Failures[authority.CodeInvalidSecret] - before; r.State != InvalidCredentials || got != 1 {
		t.Errorf("a stored secret: %s after %d tries, want Invalid credentials after one", r.State, got)
	}
}
