// Package secrets reads and writes the integrations' client secrets in Key Vault with azsecrets, authenticated as
// the function app's own identity. Values are cached briefly and can be re-read on demand (after Entra refuses a
// secret, so a rotation is picked up without a restart). A secret value never appears in an error or a log line.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
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
	return s.GetVersion(ctx, name, "", refresh)
}

// GetVersion returns the value of one version of the secret name ("" is the current version). refresh skips the
// cache.
func (s *Store) GetVersion(ctx context.Context, name, version string, refresh bool) (string, error) {
	key := cacheKey(name, version)
	if !refresh {
		s.mu.Lock()
		c, ok := s.cache[key]
		s.mu.Unlock()
		if ok && s.now().Sub(c.at) < s.ttl {
			return c.value, nil
		}
	}
	resp, err := s.client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return "", describe(name, err)
	}
	if resp.Value == nil {
		return "", fmt.Errorf("key vault secret %q: %w (no value)", name, ErrNotFound)
	}
	s.mu.Lock()
	s.cache[key] = cached{value: *resp.Value, at: s.now()}
	s.mu.Unlock()
	return *resp.Value, nil
}

func cacheKey(name, version string) string {
	return strings.ToLower(name) + "/" + strings.ToLower(version)
}

// Forget drops every cached version of the secret name, so the next read goes to the vault (after Reset
// Credentials switched versions, or the secret was deleted).
func (s *Store) Forget(name string) {
	prefix := strings.ToLower(name) + "/"
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.cache {
		if strings.HasPrefix(k, prefix) {
			delete(s.cache, k)
		}
	}
}

// Properties of a stored secret, without its value.
type Properties struct {
	Version     string
	ContentType string
	Enabled     bool
	// Expires is the secret's expiry attribute; zero when none is set.
	Expires time.Time
	Updated time.Time
	Tags    map[string]string
}

// Set stores value as a new version of name, with an optional expiry and tags, and returns the new version.
func (s *Store) Set(ctx context.Context, name, value string, expires time.Time, tags map[string]string) (string, error) {
	return s.Put(ctx, name, value, PutOptions{Expires: expires, Tags: tags})
}

// PutOptions are the attributes of a new secret version.
type PutOptions struct {
	// ContentType describes the value ("text/plain" for a client secret, "application/x-pem-file" for a PEM
	// certificate with its key).
	ContentType string
	// Expires is the expiry attribute (informational in Key Vault); zero means none.
	Expires time.Time
	Tags    map[string]string
	// Recover lets Put bring back a soft-deleted secret of that name first (Key Vault refuses to reuse the name
	// of a deleted secret until it is recovered or purged).
	Recover bool
}

// Put stores value as a new version of name and returns the version.
func (s *Store) Put(ctx context.Context, name, value string, o PutOptions) (string, error) {
	params := azsecrets.SetSecretParameters{Value: &value, Tags: map[string]*string{}}
	for k, v := range o.Tags {
		params.Tags[k] = &v
	}
	if o.ContentType != "" {
		params.ContentType = &o.ContentType
	}
	if !o.Expires.IsZero() {
		params.SecretAttributes = &azsecrets.SecretAttributes{Expires: &o.Expires}
	}
	resp, err := s.client.SetSecret(ctx, name, params, nil)
	if o.Recover && isDeletedButRecoverable(err) {
		if err := s.recover(ctx, name); err != nil {
			return "", err
		}
		resp, err = s.client.SetSecret(ctx, name, params, nil)
	}
	if err != nil {
		return "", describe(name, err)
	}
	version := resp.ID.Version()
	s.mu.Lock()
	// The new version is also the current one.
	s.cache[cacheKey(name, version)] = cached{value: value, at: s.now()}
	s.cache[cacheKey(name, "")] = cached{value: value, at: s.now()}
	s.mu.Unlock()
	return version, nil
}

// recover brings back a soft-deleted secret and waits until it is readable again (recovery completes
// asynchronously in Key Vault).
func (s *Store) recover(ctx context.Context, name string) error {
	if _, err := s.client.RecoverDeletedSecret(ctx, name, nil); err != nil {
		return describe(name, err)
	}
	wait := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err := s.client.GetSecret(ctx, name, "", nil)
		var re *azcore.ResponseError
		if err == nil || !errors.As(err, &re) || re.StatusCode != 404 || attempt == 8 {
			if err != nil {
				return describe(name, err)
			}
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// keyVaultError is Key Vault's error body: {"error":{"code","message","innererror":{"code"}}}.
type keyVaultError struct {
	Error struct {
		Code       string `json:"code"`
		InnerError struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

// isDeletedButRecoverable reports Key Vault's 409 for a name whose secret is soft-deleted, from the error body's
// innererror code.
func isDeletedButRecoverable(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 409 || re.RawResponse == nil {
		return false
	}
	body, rerr := runtime.Payload(re.RawResponse)
	var ke keyVaultError
	return rerr == nil && json.Unmarshal(body, &ke) == nil && ke.Error.InnerError.Code == "ObjectIsDeletedButRecoverable"
}

// Update changes the attributes of one version of name: its expiry (when not zero) and whether it is enabled
// (when enabled is not nil).
func (s *Store) Update(ctx context.Context, name, version string, expires time.Time, enabled *bool) error {
	attrs := &azsecrets.SecretAttributes{Enabled: enabled}
	if !expires.IsZero() {
		attrs.Expires = &expires
	}
	if _, err := s.client.UpdateSecretProperties(ctx, name, version, azsecrets.UpdateSecretPropertiesParameters{SecretAttributes: attrs}, nil); err != nil {
		return describe(name, err)
	}
	if enabled != nil && !*enabled {
		s.mu.Lock()
		delete(s.cache, cacheKey(name, version))
		s.mu.Unlock()
	}
	return nil
}

// Delete deletes the secret name with all its versions. Key Vault keeps it soft-deleted (recoverable) for its
// retention period. It reports whether there was a secret to delete.
func (s *Store) Delete(ctx context.Context, name string) (bool, error) {
	s.Forget(name)
	_, err := s.client.DeleteSecret(ctx, name, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == 404 {
		return false, nil
	}
	if err != nil {
		return false, describe(name, err)
	}
	return true, nil
}

// Properties returns the attributes of the current version of name.
func (s *Store) Properties(ctx context.Context, name string) (Properties, error) {
	return s.VersionProperties(ctx, name, "")
}

// VersionProperties returns the attributes of one version of name ("" for the current one).
func (s *Store) VersionProperties(ctx context.Context, name, version string) (Properties, error) {
	resp, err := s.client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return Properties{}, describe(name, err)
	}
	p := Properties{Tags: map[string]string{}}
	if resp.ContentType != nil {
		p.ContentType = *resp.ContentType
	}
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
