package entrasim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/entra-di/edi/tests/entrasim/authority"
)

// The token authority (tests/entrasim/authority) issues the tokens Graph accepts. The tenant's directory is its
// Directory, so the authority and the Graph view of the app registrations agree; the tenant verifies bearer
// tokens with the authority's Verify.

// Directory returns the tenant's directory as the token authority reads it: the tenant by id or initial
// domain, and every app registration with its client secrets and granted Graph permissions.
//
// Clocks: tokens live in real time (clients cache them by real time), while the directory lives in simulated
// time. Secret validity is therefore presented shifted by (real now − simulated now) at each lookup, so a
// secret is accepted exactly while the simulated clock is inside its startDateTime–endDateTime, as the Graph
// view of the same app reports it.
func (t *Tenant) Directory() authority.Directory { return authDirectory{t} }

type authDirectory struct{ t *Tenant }

func (d authDirectory) Tenant(idOrDomain string) (string, bool) {
	return d.t.dir.resolveTenant(idOrDomain)
}

// TenantName gives the authority the organisation's name for its error messages.
func (d authDirectory) TenantName(tenantID string) (string, bool) {
	if _, ok := d.t.dir.resolveTenant(tenantID); !ok {
		return "", false
	}
	return d.t.dir.name, true
}

func (d authDirectory) App(tenantID, appID string) (authority.App, bool) {
	if id, ok := d.t.dir.resolveTenant(tenantID); !ok || id != d.t.dir.tenantID {
		return authority.App{}, false
	}
	app, ok := d.t.appByClientID(appID)
	if !ok {
		return authority.App{}, false
	}
	shift := time.Since(d.t.Now())
	out := authority.App{AppID: app.AppID, DisplayName: app.DisplayName, Roles: slices.Clone(app.Roles),
		ObjectID: d.t.spIDOf(app.AppID), Disabled: !d.t.spEnabled(app.AppID)}
	out.Certificates, out.FederatedCredentials, out.BlockedByConditionalAccess = d.t.appCredentials(app.AppID)
	for _, s := range app.PasswordCredentials {
		if s.SecretText == "" {
			continue // a secret whose text this simulator never knew cannot be presented
		}
		out.Secrets = append(out.Secrets, authority.Secret{KeyID: s.KeyID, Value: s.SecretText,
			Start: s.StartDateTime.Add(time.Duration(d.t.secretPropagation.Load())).Add(shift), End: s.EndDateTime.Add(shift)})
	}
	return out, true
}

// authorityVerifier adapts the authority's Verify to TokenVerifier, mapping its typed failures to the
// errors that select Graph's 401 messages.
type authorityVerifier struct{ a *authority.Authority }

func (v authorityVerifier) VerifyToken(token, audience string) (Principal, error) {
	c, err := v.a.Verify(token, audience)
	switch {
	case errors.Is(err, authority.ErrTokenExpired):
		return Principal{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	case errors.Is(err, authority.ErrWrongAudience):
		return Principal{}, fmt.Errorf("%w: %w", ErrTokenAudience, err)
	case err != nil:
		return Principal{}, err
	}
	return Principal{TenantID: c.TenantID, AppID: c.AppID, Roles: c.Roles, Expires: c.Expires}, nil
}

// startAuthority starts the built-in token authority on its own TLS port.
func (t *Tenant) startAuthority() error {
	a := authority.New(t.Directory(), &authority.Options{CA: t.ca, TokenLifetime: t.cfg.TokenLifetime})
	base, err := a.Start()
	if err != nil {
		return fmt.Errorf("entrasim: token authority: %w", err)
	}
	t.authority = a
	t.authorityURL = base
	t.verifier = authorityVerifier{a}
	t.closers = append(t.closers, a.Close)
	return nil
}
