package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/secrets"
)

// Vault is what the service needs of Key Vault (*secrets.Store).
type Vault interface {
	Put(ctx context.Context, name, value string, o secrets.PutOptions) (string, error)
	GetVersion(ctx context.Context, name, version string, refresh bool) (string, error)
	VersionProperties(ctx context.Context, name, version string) (secrets.Properties, error)
	Update(ctx context.Context, name, version string, expires time.Time, enabled *bool) error
	Delete(ctx context.Context, name string) (bool, error)
	Forget(name string)
}

// Store is what the service needs of the integrations table (*integrations.Store).
type Store interface {
	List(ctx context.Context) ([]integrations.Integration, []error, error)
	Get(ctx context.Context, id string) (integrations.Integration, error)
	Create(ctx context.Context, i integrations.Integration) (integrations.Integration, error)
	Update(ctx context.Context, i integrations.Integration) (integrations.Integration, error)
	Delete(ctx context.Context, id string) (bool, error)
	RecordTest(ctx context.Context, id string, t integrations.TestSummary) (integrations.Integration, error)
	IsSettings(id string) bool
}

// Leases releases the collection leases of an integration, so its running workers stop (*cursor.Store).
type Leases interface {
	DropLeases(ctx context.Context, integration string) (int, error)
}

// Service carries out the Integrations API: the Add Integration flow (create, Connect, settings, Test
// Connectivity, Reset Credentials, delete). It keeps the credential only in Key Vault, as secret
// integration-<id>, and never returns it.
type Service struct {
	Store    Store
	Statuses *Statuses
	Tester   *Tester
	// Vault holds the credentials; nil when no Key Vault is configured (only managed-identity integrations then).
	Vault Vault
	// Identity is the function app's managed identity as an assertion source (nil when it has none).
	Identity graph.AssertionSource
	// Leases, when set, are released on delete.
	Leases Leases
	// Changed is told when an integration's credential changed (the integration as it now is) or the
	// integration was deleted, so caches drop what they hold.
	Changed func(i integrations.Integration, deleted bool)
	// Expired, when set, is told when a test of the integration's stored secret found it expired (AADSTS7000222),
	// so the expired alert goes out at once (internal/expiry).
	Expired func(ctx context.Context, i integrations.Integration, now time.Time)
}

// Content types of the Key Vault secret (a Key Vault certificate's secret uses the same PEM type).
const (
	ContentTypeSecret      = "text/plain; charset=utf-8"
	ContentTypeCertificate = "application/x-pem-file"
)

// Created is the answer to Add Integration.
type Created struct {
	Integration  integrations.Integration `json:"integration"`
	Connectivity Result                   `json:"connectivity"`
	// Warning says what could not be recorded after the integration was created (it exists either way).
	Warning string `json:"warning,omitempty"`
}

// View is one integration with its last connectivity test.
type View struct {
	integrations.Integration
	Connectivity *Result `json:"connectivity,omitempty"`
}

// Reset is the answer to Reset Credentials: whether the integration switched to the new credential, and if not,
// why (the old one stays in use).
type Reset struct {
	Switched     bool                     `json:"switched"`
	Reason       string                   `json:"reason,omitempty"`
	Integration  integrations.Integration `json:"integration"`
	Connectivity Result                   `json:"connectivity"`
}

// Deleted is the answer to delete. Deleting twice is fine: the second finds nothing.
type Deleted struct {
	ID string `json:"id"`
	// Deleted reports that the integration existed; SecretDeleted that its Key Vault secret did (now
	// soft-deleted, recoverable for the vault's retention period).
	Deleted        bool `json:"deleted"`
	SecretDeleted  bool `json:"secretDeleted"`
	LeasesReleased int  `json:"leasesReleased"`
}

func errSettings(id string) error {
	return &integrations.ValidationError{Field: "id", Status: http.StatusConflict,
		Problem: fmt.Sprintf("%q is declared in app settings (ENTRA_*); change it there", id)}
}

// List returns every integration, and the rows that could not be read.
func (s *Service) List(ctx context.Context) ([]integrations.Integration, []error, error) {
	return s.Store.List(ctx)
}

// Get returns one integration with its last connectivity test.
func (s *Service) Get(ctx context.Context, id string) (*View, error) {
	i, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &View{Integration: i}
	if v.Connectivity, err = s.Statuses.Get(ctx, id); err != nil {
		return nil, err
	}
	return v, nil
}

// Create adds an integration: the credential into Key Vault, the integration into the table, then the
// connectivity test, whose result the answer carries. A failed test still creates the integration (with the
// test's state, so Reset Credentials can fix it); a failure to store creates nothing — no row without its
// secret, no secret without its row.
func (s *Service) Create(ctx context.Context, req integrations.CreateRequest, now time.Time) (*Created, error) {
	integ, err := req.Integration()
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.Get(ctx, integ.ID); err == nil {
		return nil, &integrations.ValidationError{Field: "id", Status: http.StatusConflict,
			Problem: fmt.Sprintf("an integration with id %q exists; choose another id or name", integ.ID)}
	} else if !errors.Is(err, integrations.ErrNotFound) {
		return nil, err
	}
	log := logging.From(ctx).With(logging.KeyIntegration, integ.ID)
	t := now.UTC()
	integ.Created, integ.Updated = &t, &t
	material, adopted := req.Material(), false
	if integ.CredentialKind() != integrations.ManagedIdentity {
		if s.Vault == nil {
			return nil, &integrations.ValidationError{Field: "credential", Status: http.StatusConflict,
				Problem: "no Key Vault is configured (KEY_VAULT_URL) to keep a secret or certificate; use managed-identity"}
		}
		if material == "" {
			// No value in the request: the secret was stored in Key Vault beforehand (scripts/register-app.sh
			// --key-vault), where the integration takes its current version.
			if integ.SecretVersion, material, err = s.adopt(ctx, integ); err != nil {
				return nil, err
			}
			adopted = true
		} else if integ.SecretVersion, err = s.Vault.Put(ctx, integ.SecretName, material, putOptions(integ, nil)); err != nil {
			return nil, fmt.Errorf("store the credential in Key Vault: %w", err)
		}
	}
	stored, err := s.Store.Create(ctx, integ)
	if err != nil {
		if !adopted {
			s.undoSecret(ctx, integ, errors.Is(err, integrations.ErrExists))
		}
		if errors.Is(err, integrations.ErrExists) {
			return nil, &integrations.ValidationError{Field: "id", Status: http.StatusConflict,
				Problem: fmt.Sprintf("an integration with id %q exists", integ.ID)}
		}
		return nil, err
	}
	log.Info("integration added", "credential", stored.CredentialKind(), "secret_version", stored.SecretVersion)
	res := s.Tester.Test(ctx, stored, Material{Secret: material, Assertion: s.Identity, New: true}, now)
	out := &Created{Integration: stored, Connectivity: res}
	if recorded, err := s.record(ctx, stored, res); err != nil {
		log.Error("connectivity result not recorded", "error", err.Error())
		out.Warning = "the integration was added, but its connectivity result could not be stored: " + err.Error() + "; run Test Connectivity again"
	} else {
		out.Integration = recorded
	}
	return out, nil
}

// adopt finds the integration's secret stored in Key Vault before it was added, and returns its current version
// and value. The secret's secretId tag, when it has one, must name the Secret ID of the request.
func (s *Service) adopt(ctx context.Context, i integrations.Integration) (string, string, error) {
	props, err := s.Vault.VersionProperties(ctx, i.SecretName, "")
	if errors.Is(err, secrets.ErrNotFound) {
		return "", "", &integrations.ValidationError{Field: "secret", Problem: fmt.Sprintf(
			"required: the client secret's Value (or store it in Key Vault as %s first: scripts/register-app.sh --key-vault)", i.SecretName)}
	}
	if err != nil {
		return "", "", err
	}
	if tag := props.Tags["secretId"]; tag != "" && !strings.EqualFold(tag, i.SecretID) {
		return "", "", &integrations.ValidationError{Field: "secretId", Problem: fmt.Sprintf(
			"the Key Vault secret %s holds the secret with Secret ID %s, not this one", i.SecretName, tag)}
	}
	value, err := s.Vault.GetVersion(ctx, i.SecretName, props.Version, true)
	if err != nil {
		return "", "", err
	}
	return props.Version, value, nil
}

// undoSecret takes back the secret version Create wrote when the row could not be stored: the whole secret when
// the integration is new, only our version (disabled) when another request created the integration meanwhile.
func (s *Service) undoSecret(ctx context.Context, i integrations.Integration, raced bool) {
	if i.SecretVersion == "" || s.Vault == nil {
		return
	}
	log := logging.From(ctx).With(logging.KeyIntegration, i.ID)
	var err error
	if raced {
		off := false
		err = s.Vault.Update(ctx, i.SecretName, i.SecretVersion, time.Time{}, &off)
	} else {
		_, err = s.Vault.Delete(ctx, i.SecretName)
	}
	if err != nil {
		log.Error("could not take back the Key Vault secret after the integration was not stored", "error", err.Error())
	}
}

func putOptions(i integrations.Integration, expires *time.Time) secrets.PutOptions {
	o := secrets.PutOptions{ContentType: ContentTypeSecret, Recover: true,
		Tags: map[string]string{"tenant": i.TenantID, "client": i.ClientID, "integration": i.ID}}
	if i.CredentialKind() == integrations.Certificate {
		o.ContentType = ContentTypeCertificate
	}
	if i.SecretID != "" {
		o.Tags["secretId"] = i.SecretID
	}
	if expires != nil {
		o.Expires = *expires
	}
	return o
}

// record keeps a test of the integration's stored credential: the expiry on the Key Vault version, the result in
// the status table, the summary (and expiry) on the integration.
func (s *Service) record(ctx context.Context, i integrations.Integration, res Result) (integrations.Integration, error) {
	log := logging.From(ctx).With(logging.KeyIntegration, i.ID)
	if res.SecretExpires != nil && i.SecretVersion != "" && s.Vault != nil {
		if err := s.Vault.Update(ctx, i.SecretName, i.SecretVersion, *res.SecretExpires, nil); err != nil {
			log.Warn("could not set the expiry on the Key Vault secret", "error", err.Error())
		}
	}
	if res.State == SecretExpired && s.Expired != nil {
		s.Expired(ctx, i, res.TestedAt)
	}
	if err := s.Statuses.Put(ctx, res); err != nil {
		return i, err
	}
	if s.Store.IsSettings(i.ID) {
		return s.Store.RecordTest(ctx, i.ID, res.Summary())
	}
	return s.update(ctx, i.ID, func(x *integrations.Integration) error {
		sum := res.Summary()
		x.LastTest = &sum
		if res.SecretExpires != nil {
			x.SecretExpires = res.SecretExpires
		}
		return nil
	})
}

// update reads, changes and stores an integration, again when another request changed it meanwhile.
func (s *Service) update(ctx context.Context, id string, change func(*integrations.Integration) error) (integrations.Integration, error) {
	for attempt := 0; ; attempt++ {
		i, err := s.Store.Get(ctx, id)
		if err != nil {
			return i, err
		}
		if err := change(&i); err != nil {
			return i, err
		}
		out, err := s.Store.Update(ctx, i)
		if !errors.Is(err, integrations.ErrChanged) || attempt == 4 {
			return out, err
		}
	}
}

// material reads the integration's stored credential for a test (the pinned Key Vault version, bypassing the
// cache).
func (s *Service) material(ctx context.Context, i integrations.Integration) (Material, error) {
	if i.CredentialKind() == integrations.ManagedIdentity {
		return Material{Assertion: s.Identity}, nil
	}
	if s.Vault == nil {
		return Material{}, errors.New("no Key Vault is configured (KEY_VAULT_URL)")
	}
	v, err := s.Vault.GetVersion(ctx, i.SecretName, i.SecretVersion, true)
	return Material{Secret: v}, err
}

// Test runs Test Connectivity on the integration's stored credential and records the result.
func (s *Service) Test(ctx context.Context, id string, now time.Time) (Result, error) {
	i, err := s.Store.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	m, err := s.material(ctx, i)
	var res Result
	if err != nil {
		res = Result{Integration: i.ID, TestedAt: now.UTC(), State: CredentialUnavailable, Credential: string(i.CredentialKind()),
			Message: "the credential could not be read: " + err.Error(), Granted: []string{}, Required: []string{},
			Missing: []string{}, DataTypes: []DataTypeResult{}}
	} else {
		res = s.Tester.Test(ctx, i, m, now)
	}
	_, err = s.record(ctx, i, res)
	return res, err
}

// Patch changes an integration's settings (not its tenant, app or credential).
func (s *Service) Patch(ctx context.Context, id string, body []byte, now time.Time) (integrations.Integration, error) {
	settings, err := integrations.DecodePatch(body)
	if err != nil {
		return integrations.Integration{}, err
	}
	if s.Store.IsSettings(id) {
		return integrations.Integration{}, errSettings(id)
	}
	return s.update(ctx, id, func(i *integrations.Integration) error {
		settings.Apply(i)
		t := now.UTC()
		i.Updated = &t
		return i.Validate()
	})
}

// ResetCredentials tests the new credential in body and switches the integration to it only if Entra accepts it:
// a new Key Vault version, pinned on the integration, and every cache of the old one dropped. Otherwise nothing
// changes — the old version stays in use — and the answer says why.
func (s *Service) ResetCredentials(ctx context.Context, id string, body []byte, now time.Time) (*Reset, error) {
	if s.Store.IsSettings(id) {
		return nil, errSettings(id)
	}
	i, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	req, err := integrations.DecodeCredentials(body, i.CredentialKind())
	if err != nil {
		return nil, err
	}
	if s.Vault == nil {
		return nil, errors.New("no Key Vault is configured (KEY_VAULT_URL)")
	}
	candidate := i
	if req.SecretID != "" {
		candidate.SecretID = req.SecretID
	}
	res := s.Tester.Test(ctx, candidate, Material{Secret: req.Material(), New: true}, now)
	if !res.State.TokenOK() {
		return &Reset{Switched: false, Integration: i, Connectivity: res,
			Reason: fmt.Sprintf("the new credential was refused (%s): %s The integration keeps using Key Vault version %s.", res.State, res.Message, i.SecretVersion)}, nil
	}
	version, err := s.Vault.Put(ctx, i.SecretName, req.Material(), putOptions(candidate, res.SecretExpires))
	if err != nil {
		return nil, fmt.Errorf("store the new credential in Key Vault: %w", err)
	}
	updated, err := s.update(ctx, id, func(x *integrations.Integration) error {
		sum := res.Summary()
		t := now.UTC()
		x.SecretID, x.SecretVersion, x.SecretExpires, x.LastTest, x.Updated = candidate.SecretID, version, res.SecretExpires, &sum, &t
		return nil
	})
	if err != nil {
		// The integration still names the old version: disable the new one, which nothing uses.
		off := false
		if uerr := s.Vault.Update(ctx, i.SecretName, version, time.Time{}, &off); uerr != nil {
			logging.From(ctx).Error("could not disable the unused Key Vault version", logging.KeyIntegration, id, "error", uerr.Error())
		}
		return nil, err
	}
	if err := s.Statuses.Put(ctx, res); err != nil {
		return nil, err
	}
	s.Vault.Forget(i.SecretName)
	s.changed(updated, false)
	logging.From(ctx).Info("credentials reset", logging.KeyIntegration, id, "secret_version", version, "state", res.State)
	return &Reset{Switched: true, Integration: updated, Connectivity: res}, nil
}

// Delete removes the integration, its Key Vault secret (soft-deleted by Key Vault), its connectivity result and
// its leases (so running workers stop). The archive and cursors stay. Deleting an integration that is gone
// succeeds with nothing deleted.
func (s *Service) Delete(ctx context.Context, id string) (*Deleted, error) {
	if s.Store.IsSettings(id) {
		return nil, errSettings(id)
	}
	out := &Deleted{ID: id}
	if !config.ValidSlug(id) {
		return out, nil
	}
	var err error
	if out.Deleted, err = s.Store.Delete(ctx, id); err != nil {
		return nil, err
	}
	if s.Vault != nil {
		if out.SecretDeleted, err = s.Vault.Delete(ctx, integrations.SecretNameFor(id)); err != nil {
			return nil, err
		}
	}
	if err := s.Statuses.Delete(ctx, id); err != nil {
		return nil, err
	}
	if s.Leases != nil {
		if out.LeasesReleased, err = s.Leases.DropLeases(ctx, id); err != nil {
			return nil, err
		}
	}
	s.changed(integrations.Integration{ID: id}, true)
	logging.From(ctx).Info("integration deleted", logging.KeyIntegration, id, "existed", out.Deleted, "secret_deleted", out.SecretDeleted)
	return out, nil
}

func (s *Service) changed(i integrations.Integration, deleted bool) {
	if s.Changed != nil {
		s.Changed(i, deleted)
	}
}
