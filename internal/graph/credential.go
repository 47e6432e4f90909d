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

// CredentialOptions configures NewSecretCredential. A nil *CredentialOptions means the public cloud.
type CredentialOptions struct {
	// AuthorityHost is the Entra authority, "https://login.microsoftonline.com/" by default.
	AuthorityHost string
	// Transport overrides the HTTP transport of the token requests.
	Transport policy.Transporter
}

// secretCredential is a client-secret credential whose secret comes from a SecretSource. When Entra refuses the
// secret (AADSTS7000215 invalid, AADSTS7000222 expired) it reads the secret again and, if it changed (rotated in
// Key Vault by Reset Credentials), retries with the new one — no restart needed.
type secretCredential struct {
	tenantID, clientID string
	source             SecretSource
	opts               azidentity.ClientSecretCredentialOptions

	mu     sync.Mutex
	secret string
	cred   *azidentity.ClientSecretCredential
}

// NewSecretCredential returns the credential of an integration's app registration.
func NewSecretCredential(tenantID, clientID string, source SecretSource, opts *CredentialOptions) (azcore.TokenCredential, error) {
	o := azidentity.ClientSecretCredentialOptions{}
	if opts != nil {
		if opts.AuthorityHost != "" {
			o.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: opts.AuthorityHost}
			// Instance discovery asks login.microsoftonline.com about the authority; a local stand-in is unknown there.
			o.DisableInstanceDiscovery = urls.IsLoopback(opts.AuthorityHost)
		}
		if opts.Transport != nil {
			o.Transport = opts.Transport
		}
	}
	return &secretCredential{tenantID: tenantID, clientID: clientID, source: source, opts: o}, nil
}

// current returns the credential for the cached secret, reading it (fresh when refresh) if needed.
func (c *secretCredential) current(ctx context.Context, refresh bool) (*azidentity.ClientSecretCredential, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cred != nil && !refresh {
		return c.cred, false, nil
	}
	secret, err := c.source(ctx, refresh)
	if err != nil {
		return nil, false, &Error{Kind: SecretUnavailable, Message: "reading the client secret failed: " + err.Error(), Err: err}
	}
	if c.cred != nil && secret == c.secret {
		return c.cred, false, nil
	}
	cred, err := azidentity.NewClientSecretCredential(c.tenantID, c.clientID, secret, &c.opts)
	if err != nil {
		return nil, false, err
	}
	c.secret, c.cred = secret, cred
	return cred, true, nil
}

// GetToken implements azcore.TokenCredential.
func (c *secretCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
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
