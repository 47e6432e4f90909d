package graph

import (
	"context"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/internal/urls"
)

// SecretSource returns an integration's client secret. refresh asks for a fresh read that bypasses any cache.
type SecretSource func(ctx context.Context, refresh bool) (string, error)

// CredentialOptions configures the credential constructors. A nil *CredentialOptions means the public cloud.
type CredentialOptions struct {
	// AuthorityHost is the Entra authority, "https://login.microsoftonline.com/" by default.
	AuthorityHost string
	// Transport overrides the HTTP transport of the token requests.
	Transport policy.Transporter
}

func (o *CredentialOptions) client() (azcore.ClientOptions, bool) {
	var co azcore.ClientOptions
	if o == nil {
		return co, false
	}
	discovery := false
	if o.AuthorityHost != "" {
		co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: o.AuthorityHost}
		// Instance discovery asks login.microsoftonline.com about the authority; a local stand-in is unknown there.
		discovery = urls.IsLoopback(o.AuthorityHost)
	}
	if o.Transport != nil {
		co.Transport = o.Transport
	}
	return co, discovery
}

// SecretCredential is the credential of an integration's app registration whose secret material (a client secret,
// or a PEM certificate with its key) comes from a SecretSource. When Entra refuses it (AADSTS7000215 invalid,
// AADSTS7000222 expired, AADSTS700027 certificate not accepted) it reads the material again and, if it changed
// (rotated in Key Vault), retries with the new one — no restart needed. Forget drops what it holds.
type SecretCredential struct {
	tenantID, clientID string
	source             SecretSource
	certificate        bool
	opts               azcore.ClientOptions
	noDiscovery        bool

	mu       sync.Mutex
	material string
	cred     azcore.TokenCredential
}

// NewSecretCredential returns the client-secret credential of an integration's app registration.
func NewSecretCredential(tenantID, clientID string, source SecretSource, opts *CredentialOptions) (*SecretCredential, error) {
	co, nd := opts.client()
	return &SecretCredential{tenantID: tenantID, clientID: clientID, source: source, opts: co, noDiscovery: nd}, nil
}

// NewCertificateCredential returns the certificate credential of an integration's app registration: source gives
// the certificate and its unencrypted private key, PEM (or PKCS#12 without a password), as Key Vault keeps it.
func NewCertificateCredential(tenantID, clientID string, source SecretSource, opts *CredentialOptions) (*SecretCredential, error) {
	c, err := NewSecretCredential(tenantID, clientID, source, opts)
	if err != nil {
		return nil, err
	}
	c.certificate = true
	return c, nil
}

// Forget drops the held secret and credential: the next token request reads the source again.
func (c *SecretCredential) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.material, c.cred = "", nil
}

// build makes the azidentity credential for one value of the material.
func (c *SecretCredential) build(material string) (azcore.TokenCredential, error) {
	if !c.certificate {
		return azidentity.NewClientSecretCredential(c.tenantID, c.clientID, material, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: c.opts, DisableInstanceDiscovery: c.noDiscovery})
	}
	certs, key, err := azidentity.ParseCertificates([]byte(material), nil)
	if err != nil {
		// The parser's message names the format problem, never the key material.
		return nil, &Error{Kind: InvalidCredential, Code: "certificate", Message: "the certificate in Key Vault cannot be used: " + err.Error()}
	}
	return azidentity.NewClientCertificateCredential(c.tenantID, c.clientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
		ClientOptions: c.opts, DisableInstanceDiscovery: c.noDiscovery, SendCertificateChain: true})
}

// current returns the credential for the held material, reading it (fresh when refresh) if needed.
func (c *SecretCredential) current(ctx context.Context, refresh bool) (azcore.TokenCredential, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cred != nil && !refresh {
		return c.cred, false, nil
	}
	material, err := c.source(ctx, refresh)
	if err != nil {
		return nil, false, &Error{Kind: SecretUnavailable, Message: "reading the client secret failed: " + err.Error(), Err: err}
	}
	if c.cred != nil && material == c.material {
		return c.cred, false, nil
	}
	cred, err := c.build(material)
	if err != nil {
		return nil, false, err
	}
	c.material, c.cred = material, cred
	return cred, true, nil
}

// GetToken implements azcore.TokenCredential.
func (c *SecretCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cred, _, err := c.current(ctx, false)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	tok, err := cred.GetToken(ctx, opts)
	if err == nil || !IsInvalidClient(credentialError(err)) {
		return tok, err
	}
	fresh, changed, rerr := c.current(ctx, true)
	if rerr != nil || !changed {
		return tok, err
	}
	return fresh.GetToken(ctx, opts)
}

// TokenExchangeScope is the scope of the token a managed identity presents as a federated credential: the audience
// api://AzureADTokenExchange of the public cloud (US Government and China use api://AzureADTokenExchangeUSGov and
// api://AzureADTokenExchangeChina; reference/credentials.md §5.1).
const TokenExchangeScope = "api://AzureADTokenExchange/.default"

// AssertionSource returns a client assertion: for a managed identity as federated credential, the identity's
// token for TokenExchangeScope.
type AssertionSource func(ctx context.Context) (string, error)

// ManagedIdentityAssertion is the AssertionSource of a managed identity (or any credential standing in for one):
// its token for api://AzureADTokenExchange.
func ManagedIdentityAssertion(identity azcore.TokenCredential) AssertionSource {
	return func(ctx context.Context) (string, error) {
		tok, err := identity.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{TokenExchangeScope}})
		return tok.Token, err
	}
}

// AssertionCredential is the credential of an app registration that trusts a federated identity credential: it
// presents the assertion from its source instead of a secret (azidentity's ClientAssertionCredential). A failure
// to get the assertion itself comes back as a SecretUnavailable *Error.
type AssertionCredential struct {
	cred *azidentity.ClientAssertionCredential
}

type assertionFailure struct{ err error }

type assertionKey struct{}

// NewAssertionCredential returns the credential of app clientID in tenantID that signs in with assertions.
func NewAssertionCredential(tenantID, clientID string, source AssertionSource, opts *CredentialOptions) (*AssertionCredential, error) {
	co, nd := opts.client()
	get := func(ctx context.Context) (string, error) {
		a, err := source(ctx)
		if err != nil {
			// azidentity reports this inside an AuthenticationFailedError, which has no Unwrap: keep it for GetToken.
			if f, ok := ctx.Value(assertionKey{}).(*assertionFailure); ok {
				f.err = err
			}
		}
		return a, err
	}
	cred, err := azidentity.NewClientAssertionCredential(tenantID, clientID, get, &azidentity.ClientAssertionCredentialOptions{
		ClientOptions: co, DisableInstanceDiscovery: nd})
	if err != nil {
		return nil, err
	}
	return &AssertionCredential{cred: cred}, nil
}

// GetToken implements azcore.TokenCredential.
func (c *AssertionCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f := &assertionFailure{}
	tok, err := c.cred.GetToken(context.WithValue(ctx, assertionKey{}, f), opts)
	if err != nil && f.err != nil {
		return tok, &Error{Kind: SecretUnavailable, Code: "assertion",
			Message: "the function app's managed identity gave no token for api://AzureADTokenExchange: " + f.err.Error(), Err: f.err}
	}
	return tok, err
}
