// Package secrets reads and writes the integrations' client secrets in Key Vault with azsecrets, authenticated as
// the function app's own identity. Values are cached briefly and can be re-read on demand (after Entra refuses a
// secret, so a rotation is picked up without a restart). A secret value never appears in an error or a log line.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/entra-di/edi/internal/urls"
)

// ErrNotFound means the vault has no (enabled, current) secret of that name.
var ErrNotFound = errors.New("secret not found in Key Vault")

// Options configures a Store. A nil *Options means defaults.
type Options struct {
	// TTL is how long a value read from the vault is reused; 0 means 5 minutes.
	TTL time.Duration
	// Transport overrides the HTTP transport.
	Transport policy.Transporter
	// Now is the clock for the cache and for expiry decisions (default time.Now).
	Now func() time.Time
}

// Store is a Key Vault of integration secrets.
type Store struct {
	client *azsecrets.Client
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	value string
	at    time.Time
}

// New returns a Store for the vault at vaultURL, authenticating with cred.
func New(vaultURL string, cred azcore.TokenCredential, opts *Options) (*Store, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u, err := url.Parse(vaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("key vault URL %q: must be an absolute https URL", vaultURL)
	}
	co := &azsecrets.ClientOptions{
		// A vault on a loopback address is a local stand-in; the real service lives under vault.azure.net and its
		// challenge names that resource, which azsecrets verifies.
		DisableChallengeResourceVerification: urls.IsLoopback(u.Hostname()),
	}
	if o.Transport != nil {
		co.Transport = o.Transport
	}
	client, err := azsecrets.NewClient(vaultURL, cred, co)
	if err != nil {
		return nil, fmt.Errorf("key vault client: %w", err)
	}
	return &Store{client: client, ttl: o.TTL, now: o.Now, cache: map[string]cached{}}, nil
}

// Get returns the current value of the secret name. refresh skips the cache.
func (s *Store) Get(ctx context.Context, name string, refresh bool) (string, error) {
	if !refresh {
		s.mu.Lock()
		c, ok := s.cache[name]
		s.mu.Unlock()
		if ok && s.now().Sub(c.at) < s.ttl {
			return c.value, nil
		}
	}
	resp, err := s.client.GetSecret(ctx, name, "", nil)
	if err != nil {
		return "", describe(name, err)
	}
	if resp.Value == nil {
		return "", fmt.Errorf("key vault secret %q: %w (no value)", name, ErrNotFound)
	}
	s.mu.Lock()
	s.cache[name] = cached{value: *resp.Value, at: s.now()}
	s.mu.Unlock()
	return *resp.Value, nil
}

// Properties of a stored secret, without its value.
type Properties struct {
	Version string
	Enabled bool
	// Expires is the secret's expiry attribute; zero when none is set.
	Expires time.Time
	Updated time.Time
	Tags    map[string]string
}

// Set stores value as a new version of name, with an optional expiry and tags, and returns the new version.
func (s *Store) Set(ctx context.Context, name, value string, expires time.Time, tags map[string]string) (string, error) {
	params := azsecrets.SetSecretParameters{Value: &value, Tags: map[string]*string{}}
	for k, v := range tags {
		params.Tags[k] = &v
	}
	if !expires.IsZero() {
		params.SecretAttributes = &azsecrets.SecretAttributes{Expires: &expires}
	}
	resp, err := s.client.SetSecret(ctx, name, params, nil)
	if err != nil {
		return "", describe(name, err)
	}
	s.mu.Lock()
	s.cache[name] = cached{value: value, at: s.now()}
	s.mu.Unlock()
	return resp.ID.Version(), nil
}

// Properties returns the attributes of the current version of name.
func (s *Store) Properties(ctx context.Context, name string) (Properties, error) {
	resp, err := s.client.GetSecret(ctx, name, "", nil)
	if err != nil {
		return Properties{}, describe(name, err)
	}
	p := Properties{Tags: map[string]string{}}
	if resp.ID != nil {
		p.Version = resp.ID.Version()
	}
	if a := resp.Attributes; a != nil {
		p.Enabled = a.Enabled == nil || *a.Enabled
		if a.Expires != nil {
			p.Expires = *a.Expires
		}
		if a.Updated != nil {
			p.Updated = *a.Updated
		}
	}
	for k, v := range resp.Tags {
		if v != nil {
			p.Tags[k] = *v
		}
	}
	return p, nil
}

// describe turns an azsecrets error into one that names the secret and Key Vault's code but carries neither the
// request URL's query nor anything of a value.
func describe(name string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode == 404 {
			return fmt.Errorf("key vault secret %q: %w (%s)", name, ErrNotFound, re.ErrorCode)
		}
		return fmt.Errorf("key vault secret %q: HTTP %d %s", name, re.StatusCode, re.ErrorCode)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("key vault secret %q: %w", name, err)
	}
	return fmt.Errorf("key vault secret %q: %v", name, err)
}
