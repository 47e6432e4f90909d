package authority

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Secret is one client secret of an app registration (a passwordCredential).
type Secret struct {
	// KeyID is the credential's keyId (the "Secret ID" shown in the portal).
	KeyID string
	// Value is the secret text the client sends as client_secret.
	Value string
	// Start is startDateTime; the zero time means valid from the beginning.
	Start time.Time
	// End is endDateTime; the zero time means the secret never expires (Entra always sets one; tests may not).
	End time.Time
}

// App is an app registration with its service principal in one tenant.
type App struct {
	// AppID is the application (client) ID.
	AppID string
	// DisplayName is the app's display name (the app_displayname claim of Graph tokens).
	DisplayName string
	// Secrets are the app's client secrets; any one that is current authenticates the app.
	Secrets []Secret
	// Roles are the granted (admin-consented) Microsoft Graph application permissions by value, for example
	// "AuditLog.Read.All"; they become the roles claim of Graph tokens.
	Roles []string
	// ObjectID is the service principal's object ID (the oid and sub claims). When empty a stable ID is derived
	// from the tenant and app IDs.
	ObjectID string
	// Disabled means the app's service principal is disabled (accountEnabled false) or the app was disabled by
	// Microsoft: an authenticated token request gets AADSTS7000112.
	Disabled bool
	// BlockedByConditionalAccess means a Conditional Access policy for workload identities blocks the app: an
	// authenticated token request gets AADSTS53003.
	BlockedByConditionalAccess bool
	// Certificates are the public certificates of the app's keyCredentials: a client assertion signed with one's
	// private key authenticates the app (certificate credentials).
	Certificates []*x509.Certificate
	// FederatedCredentials are the app's federated identity credentials: a client assertion from a trusted issuer
	// whose subject and audience match one of them authenticates the app (workload identity federation).
	FederatedCredentials []FederatedCredential
}

// FederatedCredential is a federatedIdentityCredential of an app registration: the issuer, subject and audiences
// an external token must carry (exact, case-sensitive matches; no wildcards).
type FederatedCredential struct {
	Name      string
	Issuer    string
	Subject   string
	Audiences []string
}

// Directory is what the authority needs to know about tenants and their apps. Implementations must be safe for
// concurrent use; the authority reads them on every request, so changes (a rotated secret, a new grant) apply to
// the next token request.
type Directory interface {
	// Tenant resolves a tenant GUID or verified domain name to the canonical tenant GUID.
	Tenant(idOrDomain string) (tenantID string, ok bool)
	// App returns the app registration with the given application ID in the tenant.
	App(tenantID, appID string) (App, bool)
}

// TenantNamer is optionally implemented by a Directory to give tenants display names. Entra quotes the tenant's
// name in some errors (AADSTS700016, AADSTS500011); without it the tenant ID is quoted.
type TenantNamer interface {
	// TenantName returns the tenant's display name.
	TenantName(tenantID string) (string, bool)
}

// Tenant describes one tenant of a StaticDirectory.
type Tenant struct {
	// ID is the tenant (directory) GUID.
	ID string
	// DisplayName is the organisation's name, quoted in some AADSTS errors.
	DisplayName string
	// Domains are verified domain names that resolve to the tenant, for example "contoso.onmicrosoft.com".
	Domains []string
}

// Errors returned by StaticDirectory's mutators.
var (
	// ErrUnknownTenant means the tenant is not in the directory.
	ErrUnknownTenant = errors.New("authority: unknown tenant")
	// ErrUnknownApp means the app is not registered in the tenant.
	ErrUnknownApp = errors.New("authority: unknown app")
)

// StaticDirectory is an in-memory Directory for tests and small tools. It is safe for concurrent use; App
// returns copies, so callers cannot change the directory through them.
type StaticDirectory struct {
	mu      sync.RWMutex
	tenants map[string]*dirTenant // by lower-case tenant ID
	aliases map[string]string     // lower-case ID or domain -> tenant ID
}

type dirTenant struct {
	info Tenant
	apps map[string]App // by lower-case app ID
}

// NewStaticDirectory returns an empty directory.
func NewStaticDirectory() *StaticDirectory {
	return &StaticDirectory{tenants: map[string]*dirTenant{}, aliases: map[string]string{}}
}

// AddTenant adds a tenant, or replaces the name and domains of an existing one (its apps are kept).
func (d *StaticDirectory) AddTenant(t Tenant) error {
	if !isGUID(t.ID) {
		return fmt.Errorf("authority: tenant ID %q is not a GUID", t.ID)
	}
	t.ID = strings.ToLower(t.ID)
	t.Domains = slices.Clone(t.Domains)
	d.mu.Lock()
	defer d.mu.Unlock()
	existing, ok := d.tenants[t.ID]
	if ok {
		for _, dom := range existing.info.Domains {
			delete(d.aliases, strings.ToLower(dom))
		}
		existing.info = t
	} else {
		d.tenants[t.ID] = &dirTenant{info: t, apps: map[string]App{}}
	}
	d.aliases[t.ID] = t.ID
	for _, dom := range t.Domains {
		d.aliases[strings.ToLower(dom)] = t.ID
	}
	return nil
}

// PutApp adds or replaces an app registration in a tenant.
func (d *StaticDirectory) PutApp(tenantID string, app App) error {
	if app.AppID == "" {
		return errors.New("authority: app has no AppID")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tenants[strings.ToLower(tenantID)]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTenant, tenantID)
	}
	t.apps[strings.ToLower(app.AppID)] = cloneApp(app)
	return nil
}

// DeleteApp removes an app registration; later token requests for it get AADSTS700016.
func (d *StaticDirectory) DeleteApp(tenantID, appID string) error {
	return d.update(tenantID, appID, func(*App) {}, true)
}

// AddSecret adds a client secret to an app (secret rotation adds the new secret before the old one expires).
func (d *StaticDirectory) AddSecret(tenantID, appID string, s Secret) error {
	return d.update(tenantID, appID, func(a *App) { a.Secrets = append(a.Secrets, s) }, false)
}

// RemoveSecret removes the secret with the given key ID from an app.
func (d *StaticDirectory) RemoveSecret(tenantID, appID, keyID string) error {
	return d.update(tenantID, appID, func(a *App) {
		a.Secrets = slices.DeleteFunc(a.Secrets, func(s Secret) bool { return s.KeyID == keyID })
	}, false)
}

// ExpireSecret sets the end time of the secret with the given key ID.
func (d *StaticDirectory) ExpireSecret(tenantID, appID, keyID string, end time.Time) error {
	return d.update(tenantID, appID, func(a *App) {
		for i := range a.Secrets {
			if a.Secrets[i].KeyID == keyID {
				a.Secrets[i].End = end
			}
		}
	}, false)
}

// SetDisabled disables (or enables again) an app's service principal.
func (d *StaticDirectory) SetDisabled(tenantID, appID string, disabled bool) error {
	return d.update(tenantID, appID, func(a *App) { a.Disabled = disabled }, false)
}

// SetBlockedByConditionalAccess makes a Conditional Access policy for workload identities block the app (or not).
func (d *StaticDirectory) SetBlockedByConditionalAccess(tenantID, appID string, blocked bool) error {
	return d.update(tenantID, appID, func(a *App) { a.BlockedByConditionalAccess = blocked }, false)
}

// AddCertificate adds a public certificate to an app's keyCredentials.
func (d *StaticDirectory) AddCertificate(tenantID, appID string, cert *x509.Certificate) error {
	return d.update(tenantID, appID, func(a *App) { a.Certificates = append(a.Certificates, cert) }, false)
}

// AddFederatedCredential adds a federated identity credential to an app.
func (d *StaticDirectory) AddFederatedCredential(tenantID, appID string, fc FederatedCredential) error {
	return d.update(tenantID, appID, func(a *App) { a.FederatedCredentials = append(a.FederatedCredentials, fc) }, false)
}

// SetRoles replaces an app's granted Graph application permissions.
func (d *StaticDirectory) SetRoles(tenantID, appID string, roles []string) error {
	return d.update(tenantID, appID, func(a *App) { a.Roles = slices.Clone(roles) }, false)
}

func (d *StaticDirectory) update(tenantID, appID string, change func(*App), remove bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tenants[strings.ToLower(tenantID)]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTenant, tenantID)
	}
	key := strings.ToLower(appID)
	app, ok := t.apps[key]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownApp, appID)
	}
	if remove {
		delete(t.apps, key)
		return nil
	}
	change(&app)
	t.apps[key] = app
	return nil
}

// Tenant implements Directory: it resolves a tenant GUID or verified domain, case-insensitively.
func (d *StaticDirectory) Tenant(idOrDomain string) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.aliases[strings.ToLower(idOrDomain)]
	return id, ok
}

// App implements Directory.
func (d *StaticDirectory) App(tenantID, appID string) (App, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	t, ok := d.tenants[strings.ToLower(tenantID)]
	if !ok {
		return App{}, false
	}
	app, ok := t.apps[strings.ToLower(appID)]
	if !ok {
		return App{}, false
	}
	return cloneApp(app), true
}

// TenantName implements TenantNamer.
func (d *StaticDirectory) TenantName(tenantID string) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	t, ok := d.tenants[strings.ToLower(tenantID)]
	if !ok || t.info.DisplayName == "" {
		return "", false
	}
	return t.info.DisplayName, true
}

func cloneApp(a App) App {
	a.Secrets = slices.Clone(a.Secrets)
	a.Roles = slices.Clone(a.Roles)
	a.Certificates = slices.Clone(a.Certificates)
	a.FederatedCredentials = slices.Clone(a.FederatedCredentials)
	for i := range a.FederatedCredentials {
		a.FederatedCredentials[i].Audiences = slices.Clone(a.FederatedCredentials[i].Audiences)
	}
	return a
}

// isGUID reports whether s has the 8-4-4-4-12 hexadecimal form of a GUID.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
