package entrasim

import (
	"crypto/sha1" //nolint:gosec // customKeyIdentifier is the certificate's SHA-1 thumbprint
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/entra-di/edi/tests/entrasim/authority"
)

// What an administrator changes on an app registration or its service principal, for connectivity tests. Each
// change applies to the next token request (the authority reads the directory every time) and shows in Graph.

// withApp runs change on the live application with client id appID, under the store lock.
func (t *Tenant) withApp(appID string, change func(app *resource)) error {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	app := t.appResourceByClientID(appID)
	if app == nil {
		return fmt.Errorf("entrasim: no application with appId %s", appID)
	}
	change(app)
	return nil
}

// SetAppRoles replaces the Graph application permissions granted (admin-consented) to an app; an empty list
// means nothing is consented, so its tokens carry no roles claim.
func (t *Tenant) SetAppRoles(appID string, roles []string) error {
	for _, r := range roles {
		if _, ok := appRoleIDs[r]; !ok {
			return fmt.Errorf("entrasim: SetAppRoles: unknown Graph application permission %q", r)
		}
	}
	return t.withApp(appID, func(app *resource) { app.hidden["roles"] = slices.Clone(roles) })
}

// AddClientSecret adds a client secret valid for lifetime from now (simulated) to an app and returns it with its
// text (as addPassword does). A non-empty text is used as the secret's value (a test that needs to know the value
// before Entra accepts it); otherwise one is generated.
func (t *Tenant) AddClientSecret(appID, displayName, text string, lifetime time.Duration) (PasswordCredential, error) {
	var s PasswordCredential
	err := t.withApp(appID, func(app *resource) {
		secrets, _ := app.hidden["secrets"].([]PasswordCredential)
		start := t.Now().Truncate(time.Second)
		r := newRNG(uint64(t.cfg.Seed), strKey("add-client-secret"), strKey(app.id), uint64(len(secrets)), uint64(start.UnixNano()))
		s = newSecret(r, displayName, start, lifetime)
		if text != "" {
			s.SecretText, s.Hint = text, text[:min(3, len(text))]
		}
		secrets = append(slices.Clone(secrets), s)
		app.hidden["secrets"] = secrets
		t.store.update(app, t.Now(), obj{{"passwordCredentials", passwordCredentialObjs(secrets)}})
	})
	return s, err
}

// SetServicePrincipalEnabled enables or disables an app's service principal in the tenant (accountEnabled);
// token requests of a disabled one get AADSTS7000112.
func (t *Tenant) SetServicePrincipalEnabled(appID string, enabled bool) error {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	found := false
	t.store.cols[colSPs].each("", func(r *resource) bool {
		if r.live() && strings.EqualFold(r.props().str("appId"), appID) {
			t.store.update(r, t.Now(), obj{{"accountEnabled", enabled}})
			found = true
			return false
		}
		return true
	})
	if !found {
		return fmt.Errorf("entrasim: no service principal for appId %s", appID)
	}
	return nil
}

// SetConditionalAccessBlock makes a Conditional Access policy for workload identities block the app's service
// principal (or lifts it): its token requests get AADSTS53003.
func (t *Tenant) SetConditionalAccessBlock(appID string, blocked bool) error {
	return t.withApp(appID, func(app *resource) { app.hidden["caBlocked"] = blocked })
}

// AddCertificate uploads a public certificate to an app's keyCredentials.
func (t *Tenant) AddCertificate(appID string, cert *x509.Certificate) error {
	return t.withApp(appID, func(app *resource) {
		certs, _ := app.hidden["certificates"].([]*x509.Certificate)
		certs = append(slices.Clone(certs), cert)
		app.hidden["certificates"] = certs
		var creds []obj
		for _, c := range certs {
			thumb := sha1.Sum(c.Raw) //nolint:gosec // thumbprint
			creds = append(creds, obj{{"customKeyIdentifier", base64.StdEncoding.EncodeToString(thumb[:])},
				{"displayName", "CN=" + c.Subject.CommonName}, {"endDateTime", c.NotAfter.UTC()},
				{"keyId", guidFrom(uint64(t.cfg.Seed), strKey("key-credential"), strKey(string(thumb[:])))},
				{"startDateTime", c.NotBefore.UTC()}, {"type", "AsymmetricX509Cert"}, {"usage", "Verify"}, {"key", nil}})
		}
		t.store.update(app, t.Now(), obj{{"keyCredentials", creds}})
	})
}

// AddFederatedCredential adds a federated identity credential to an app (for example the function app's
// managed identity: issuer <authority>{tenant}/v2.0, subject the identity's object id, audience
// api://AzureADTokenExchange).
func (t *Tenant) AddFederatedCredential(appID string, fc authority.FederatedCredential) error {
	return t.withApp(appID, func(app *resource) {
		fics, _ := app.hidden["federatedCredentials"].([]authority.FederatedCredential)
		app.hidden["federatedCredentials"] = append(slices.Clone(fics), fc)
	})
}

// ServicePrincipalID is the object id of an app's service principal (the oid and sub of its tokens).
func (t *Tenant) ServicePrincipalID(appID string) string { return t.spIDOf(appID) }

// FederatedIssuer is the issuer of the tokens this tenant's authority gives for api://AzureADTokenExchange, the
// issuer a federated identity credential trusting one of its identities names.
func (t *Tenant) FederatedIssuer() string { return t.authorityURL + t.TenantID() + "/v2.0" }

// spEnabled reports whether an app's service principal is enabled (true when it has none).
func (t *Tenant) spEnabled(appID string) bool {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	enabled := true
	t.store.cols[colSPs].each("", func(r *resource) bool {
		if r.live() && strings.EqualFold(r.props().str("appId"), appID) {
			if v, ok := r.props().get("accountEnabled"); ok {
				enabled, _ = v.(bool)
			}
			return false
		}
		return true
	})
	return enabled
}

// appCredentials returns what the authority needs beyond secrets and roles: certificates, federated
// credentials and the Conditional Access block.
func (t *Tenant) appCredentials(appID string) ([]*x509.Certificate, []authority.FederatedCredential, bool) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	app := t.appResourceByClientID(appID)
	if app == nil {
		return nil, nil, false
	}
	certs, _ := app.hidden["certificates"].([]*x509.Certificate)
	fics, _ := app.hidden["federatedCredentials"].([]authority.FederatedCredential)
	blocked, _ := app.hidden["caBlocked"].(bool)
	return slices.Clone(certs), slices.Clone(fics), blocked
}

// RemoveClientSecret removes the client secret with the given key id from an app (as removePassword does): token
// requests with it get AADSTS7000215 from then on.
func (t *Tenant) RemoveClientSecret(appID, keyID string) error {
	found := false
	err := t.withApp(appID, func(app *resource) {
		secrets, _ := app.hidden["secrets"].([]PasswordCredential)
		kept := slices.DeleteFunc(slices.Clone(secrets), func(s PasswordCredential) bool { return strings.EqualFold(s.KeyID, keyID) })
		found = len(kept) < len(secrets)
		app.hidden["secrets"] = kept
		t.store.update(app, t.Now(), obj{{"passwordCredentials", passwordCredentialObjs(kept)}})
	})
	if err == nil && !found {
		err = fmt.Errorf("entrasim: app %s has no secret %s", appID, keyID)
	}
	return err
}

// SetSecretPropagation makes the authority refuse a client secret as invalid (AADSTS7000215) for d (simulated)
// after its start, as Entra refuses a secret for seconds after it was created (reference/credentials.md §4: 4–18 s
// observed, no SLA); 0 (the default) accepts it at once.
func (t *Tenant) SetSecretPropagation(d time.Duration) { t.secretPropagation.Store(int64(d)) }

// AddAppOwner makes the service principal of app ownerAppID an owner of application appID (POST
// /applications/{id}/owners/$ref): with Application.ReadWrite.OwnedBy, the owner may then add and remove the
// application's passwords — an app that owns itself can rotate its own secret (reference/credentials.md §4).
func (t *Tenant) AddAppOwner(appID, ownerAppID string) error {
	owner := t.spIDOf(ownerAppID)
	return t.withApp(appID, func(app *resource) {
		owners, _ := app.hidden["owners"].([]string)
		if !slices.Contains(owners, owner) {
			app.hidden["owners"] = append(slices.Clone(owners), owner)
		}
	})
}

// mayWriteApp reports whether the caller may change an application's credentials: with Application.ReadWrite.All
// or Directory.ReadWrite.All any application; with Application.ReadWrite.OwnedBy only one whose owners include the
// caller's service principal callerSP ("cannot update any apps that it is not an owner of"; caller holds the store
// lock, so callerSP is looked up before).
func (t *Tenant) mayWriteApp(p Principal, callerSP string, app *resource) bool {
	if slices.Contains(p.Roles, "Application.ReadWrite.All") || slices.Contains(p.Roles, "Directory.ReadWrite.All") {
		return true
	}
	owners, _ := app.hidden["owners"].([]string)
	return slices.Contains(p.Roles, "Application.ReadWrite.OwnedBy") && slices.Contains(owners, callerSP)
}
