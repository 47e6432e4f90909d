package authority

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// selfSigned returns a certificate and its PEM (certificate and PKCS#8 key), as an admin would upload to the app
// registration and import into Key Vault.
func selfSigned(t *testing.T, cn string) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...)
	return cert, out
}

func (f *fixture) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.base}, Transport: f.client}
}

// TestCertificateCredential: a certificate assertion (MSAL's PS256 with x5t#S256) authenticates the app when its
// certificate is registered, and gets AADSTS700027 otherwise.
func TestCertificateCredential(t *testing.T) {
	f := newFixture(t)
	registered, registeredPEM := selfSigned(t, "registered")
	_, otherPEM := selfSigned(t, "other")
	if err := f.dir.AddCertificate(testTenant, testApp, registered); err != nil {
		t.Fatal(err)
	}
	get := func(pemData []byte) (azcore.AccessToken, error) {
		certs, key, err := azidentity.ParseCertificates(pemData, nil)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := azidentity.NewClientCertificateCredential(testTenant, testApp, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: f.clientOptions(), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		return cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: graphScopes})
	}
	tok, err := get(registeredPEM)
	if err != nil {
		t.Fatalf("registered certificate: %v", err)
	}
	if _, payload := decodeJWT(t, tok.Token); payload["appidacr"] != "2" {
		t.Errorf("appidacr = %v, want 2 (certificate)", payload["appidacr"])
	}
	if _, err := get(otherPEM); err == nil || aadCode(t, err) != CodeCertificateInvalid {
		t.Errorf("unregistered certificate: %v", err)
	}
}

// ficFixture registers a second app standing in for the function app's managed identity, whose token for
// api://AzureADTokenExchange the integration app trusts through a federated identity credential.
type ficFixture struct {
	*fixture
	identity azcore.TokenCredential
	issuer   string
	subject  string
}

const (
	identityApp    = "77777777-8888-4999-aaaa-bbbbbbbbbbbb"
	identitySecret = "s3cr3t-value-identity"
	identityObject = "abcdef12-3434-4545-8686-9797979797ab"
)

func newFICFixture(t *testing.T) *ficFixture {
	f := newFixture(t)
	if err := f.dir.PutApp(testTenant, App{AppID: identityApp, DisplayName: "function app identity", ObjectID: identityObject,
		Secrets: []Secret{{KeyID: "k", Value: identitySecret}}}); err != nil {
		t.Fatal(err)
	}
	return &ficFixture{fixture: f, identity: credential(t, f, testTenant, identityApp, identitySecret),
		issuer: f.base + testTenant + "/v2.0", subject: identityObject}
}

func (f *ficFixture) assertionCredential(t *testing.T, assertion func(context.Context) (string, error)) *azidentity.ClientAssertionCredential {
	t.Helper()
	cred, err := azidentity.NewClientAssertionCredential(testTenant, testApp, assertion, &azidentity.ClientAssertionCredentialOptions{
		ClientOptions: f.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func (f *ficFixture) miAssertion(ctx context.Context) (string, error) {
	tok, err := f.identity.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{TokenExchangeAudience + "/.default"}})
	return tok.Token, err
}

// TestManagedIdentityAsFederatedCredential: the identity's token for api://AzureADTokenExchange is a v2.0 token
// (issuer https://<authority>/{tenant}/v2.0, subject its object id); presented as client_assertion it
// authenticates the app exactly when a federated credential matches issuer, audience and subject; each mismatch
// has its own AADSTS code.
func TestManagedIdentityAsFederatedCredential(t *testing.T) {
	f := newFICFixture(t)
	ctx := context.Background()
	assertion, err := f.miAssertion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, claims := decodeJWT(t, assertion)
	if claims["iss"] != f.issuer || claims["sub"] != f.subject || claims["aud"] != TokenExchangeAudience || claims["ver"] != "2.0" {
		t.Fatalf("exchange token claims %v", claims)
	}
	get := func() error {
		_, err := f.assertionCredential(t, f.miAssertion).GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes})
		return err
	}
	if err := get(); err == nil || aadCode(t, err) != CodeNoFederatedRecord {
		t.Fatalf("no federated credential: %v", err)
	}
	steps := []struct {
		name string
		fc   FederatedCredential
		code int
	}{
		{"wrong issuer", FederatedCredential{Name: "a", Issuer: "https://login.microsoftonline.com/" + testTenant + "/v2.0", Subject: f.subject, Audiences: []string{TokenExchangeAudience}}, CodeFederatedIssuer},
		{"wrong audience", FederatedCredential{Name: "b", Issuer: f.issuer, Subject: f.subject, Audiences: []string{"api://AzureADTokenExchangeChina"}}, CodeFederatedAudience},
		{"wrong subject (case-sensitive)", FederatedCredential{Name: "c", Issuer: f.issuer, Subject: strings.ToUpper(f.subject), Audiences: []string{TokenExchangeAudience}}, CodeFederatedSubject},
		{"match", FederatedCredential{Name: "d", Issuer: f.issuer, Subject: f.subject, Audiences: []string{TokenExchangeAudience}}, 0},
	}
	for _, s := range steps {
		if err := f.dir.AddFederatedCredential(testTenant, testApp, s.fc); err != nil {
			t.Fatal(err)
		}
		err := get()
		switch {
		case s.code == 0 && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case s.code != 0 && (err == nil || aadCode(t, err) != s.code):
			t.Errorf("%s: %v, want AADSTS%d", s.name, err, s.code)
		}
	}

	// A tampered assertion (signature of another payload) and an expired one are refused.
	tampered := func(ctx context.Context) (string, error) {
		a, err := f.miAssertion(ctx)
		parts := strings.Split(a, ".")
		return parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), err
	}
	if _, err := f.assertionCredential(t, tampered).GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes}); err == nil || aadCode(t, err) != CodeInvalidAssertion {
		t.Errorf("tampered assertion: %v", err)
	}
	stale := assertion
	f.clock.Advance(3 * time.Hour)
	old := func(context.Context) (string, error) { return stale, nil }
	if _, err := f.assertionCredential(t, old).GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes}); err == nil || aadCode(t, err) != CodeAssertionTime {
		t.Errorf("expired assertion: %v", err)
	}
}

// TestDisabledAndBlockedApps: a disabled service principal gets AADSTS7000112 and a Conditional Access block
// AADSTS53003, but only once the client authenticated (a wrong secret is still AADSTS7000215).
func TestDisabledAndBlockedApps(t *testing.T) {
	f := newFixture(t)
	get := func(secret string) error {
		_, err := credential(t, f, testTenant, testApp, secret).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: graphScopes})
		return err
	}
	if err := f.dir.SetDisabled(testTenant, testApp, true); err != nil {
		t.Fatal(err)
	}
	if err := get(testSecret); err == nil || aadCode(t, err) != CodeAppDisabled {
		t.Errorf("disabled: %v", err)
	}
	if err := get("wrong"); err == nil || aadCode(t, err) != CodeInvalidSecret {
		t.Errorf("disabled, wrong secret: %v", err)
	}
	if err := f.dir.SetDisabled(testTenant, testApp, false); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.SetBlockedByConditionalAccess(testTenant, testApp, true); err != nil {
		t.Fatal(err)
	}
	if err := get(testSecret); err == nil || aadCode(t, err) != CodeConditionalAccess {
		t.Errorf("blocked: %v", err)
	}
	if err := f.dir.SetBlockedByConditionalAccess(testTenant, testApp, false); err != nil {
		t.Fatal(err)
	}
	if err := get(testSecret); err != nil {
		t.Errorf("unblocked: %v", err)
	}
}
