// Package integrations holds the integrations: one Entra tenant plus one app registration each. They live in Table
// Storage (table `integrations`); a single integration can also be declared in app settings for the one-tenant case.
// The credential itself is never here: only the name and version of the Key Vault secret that holds it.
//
// The package also decodes and validates the Integrations API's request bodies (request.go) and decides, from the
// last connectivity test, which data types an integration collects (Collects).
package integrations

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
)

// Answer is a licence answer: yes, no, or auto (detected).
type Answer string

// Licence answers.
const (
	Yes  Answer = "yes"
	No   Answer = "no"
	Auto Answer = "auto"
)

// CredentialKind is how an integration's app registration proves its identity to Entra.
type CredentialKind string

// Credential kinds (SPEC §3, reference/credentials.md §5).
const (
	// Secret is a client secret, stored in Key Vault (the default).
	Secret CredentialKind = "secret"
	// Certificate is a certificate with its private key (PEM), stored in Key Vault: the secretless option of a
	// single-tenant app registration.
	Certificate CredentialKind = "certificate"
	// ManagedIdentity is the function app's user-assigned managed identity, trusted as a federated identity
	// credential by a multi-tenant app registration: no secret at all.
	ManagedIdentity CredentialKind = "managed-identity"
)

// CredentialKinds lists the credential kinds.
var CredentialKinds = []CredentialKind{Secret, Certificate, ManagedIdentity}

// Mode decides which data types an integration collects.
type Mode string

// Data-type modes (SPEC §3).
const (
	// Managed collects exactly what the last connectivity test found collectable, re-tested daily.
	Managed Mode = "managed"
	// Custom collects the data types switched on in DataTypes, unless the last test shows one unusable.
	Custom Mode = "custom"
)

// Integration is one tenant and app registration.
type Integration struct {
	// ID is the integration's slug; it names blob partitions, cursors and the Key Vault secret.
	ID string `json:"id"`
	// Name is the display name.
	Name string `json:"name"`
	// TenantID is the Directory (tenant) ID, a GUID (or, for one declared in app settings, a verified domain).
	TenantID string `json:"tenantId"`
	// ClientID is the app registration's Application (client) ID.
	ClientID string `json:"clientId"`
	// Credential is how the app authenticates; empty means Secret.
	Credential CredentialKind `json:"credential,omitempty"`
	// SecretName is the Key Vault secret holding the client secret or certificate (none for ManagedIdentity).
	SecretName string `json:"secretName,omitempty"`
	// SecretID is the client secret's keyId (the portal's "Secret ID").
	SecretID string `json:"secretId,omitempty"`
	// SecretVersion is the Key Vault version of SecretName the integration uses; empty means the current one.
	// Reset Credentials moves it only once the new version has passed a connectivity test.
	SecretVersion string `json:"secretVersion,omitempty"`
	// SecretExpires is when the credential expires, as the app registration says (where it could be read).
	SecretExpires *time.Time     `json:"secretExpires,omitempty"`
	Permissions   catalog.Access `json:"permissions"`
	// Licences are the licence answers; a licence not listed is Auto.
	Licences map[catalog.Licence]Answer `json:"licences,omitempty"`
	// Mode is the data-type mode; empty means Managed.
	Mode Mode `json:"mode,omitempty"`
	// DataTypes are custom mode's per-data-type choices (a data type not listed is off). The opt-in data types
	// (catalog.DataType.OptIn) are collected only when switched on here.
	DataTypes map[string]bool `json:"dataTypes,omitempty"`
	// AuthenticationMethodsUsers are the users (object ids or user principal names) whose authentication methods
	// the authenticationMethods data type reads; nobody else's are read.
	AuthenticationMethodsUsers []string `json:"authenticationMethodsUsers,omitempty"`
	// ExcludedGroups are group object ids whose members (transitively) are never collected or imported.
	ExcludedGroups []string `json:"excludedGroups,omitempty"`
	// ExcludeGuests leaves guest users out (default false: guests matter for security).
	ExcludeGuests bool `json:"excludeGuests,omitempty"`
	// ExcludeFromLogs applies the exclusions to the log streams too (by default only directory data).
	ExcludeFromLogs bool `json:"excludeFromLogs,omitempty"`
	// Schedules are the collection cadences per throttling family ("15m", "1h"); a family not listed follows the
	// CollectLogs timer.
	Schedules map[catalog.Family]string `json:"schedules,omitempty"`
	// Disabled integrations are not collected.
	Disabled bool `json:"disabled,omitempty"`
	// Rotate lets CheckSecretExpiry replace the client secret before it expires (addPassword, Reset Credentials,
	// removePassword of the old one); the app needs Application.ReadWrite.OwnedBy and to own itself.
	Rotate bool `json:"rotate,omitempty"`
	// ProtectedUsers are object ids or user principal names remediation never acts on (break-glass accounts).
	ProtectedUsers []string `json:"protectedUsers,omitempty"`
	// Source is SourceSettings (app settings) or "table".
	Source string `json:"source"`
	// Created and Updated are when the integration was added and last changed through the API.
	Created *time.Time `json:"created,omitempty"`
	Updated *time.Time `json:"updated,omitempty"`
	// LastTest summarises the last connectivity test; nil before the first.
	LastTest *TestSummary `json:"lastTest,omitempty"`

	etag azcore.ETag
}

// Excludes reports whether the integration leaves anyone out of its directory data.
func (i Integration) Excludes() bool { return len(i.ExcludedGroups) > 0 || i.ExcludeGuests }

// Licence returns the answer for a licence (Auto when unanswered).
func (i Integration) Licence(l catalog.Licence) Answer {
	if a, ok := i.Licences[l]; ok {
		return a
	}
	return Auto
}

// CredentialKind returns the credential kind, Secret when unset.
func (i Integration) CredentialKind() CredentialKind {
	if i.Credential == "" {
		return Secret
	}
	return i.Credential
}

// DataMode returns the data-type mode, Managed when unset.
func (i Integration) DataMode() Mode {
	if i.Mode == "" {
		return Managed
	}
	return i.Mode
}

// SecretNameFor is the Key Vault secret that holds an integration's credential (SPEC §3).
func SecretNameFor(id string) string { return "integration-" + id }

// ValidationError names the field of an integration or of a request that is wrong. Status is the HTTP status to
// answer with (400 when zero): 409 for an id that exists, 413 for an oversized body.
type ValidationError struct {
	Field, Problem string
	Status         int
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("integration field %s: %s", e.Field, e.Problem)
}

// HTTPStatus is the status to answer with.
func (e *ValidationError) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Limits of the integration's fields.
const (
	MaxNameLength     = 100
	MaxExcludedGroups = 500
	// MinSchedule and MaxSchedule bound a family's collection cadence.
	MinSchedule = 5 * time.Minute
	MaxSchedule = 7 * 24 * time.Hour
)

// Validate checks every field.
func (i Integration) Validate() error {
	switch {
	case !config.ValidSlug(i.ID):
		return invalid("id", "%q is not a slug (lowercase letters, digits, inner hyphens, 1-40 characters)", i.ID)
	case i.Name != "" && !validName(i.Name):
		return invalid("name", "at most %d characters, no control characters", MaxNameLength)
	case !config.ValidGUID(i.TenantID) && !strings.Contains(i.TenantID, "."):
		return invalid("tenantId", "%q is not a GUID or domain name", i.TenantID)
	case !config.ValidGUID(i.ClientID):
		return invalid("clientId", "%q is not a GUID", i.ClientID)
	case !slices.Contains(CredentialKinds, i.CredentialKind()):
		return invalid("credential", "%q: want secret, certificate or managed-identity", i.Credential)
	case i.CredentialKind() != ManagedIdentity && (i.SecretName == "" || len(i.SecretName) > 127):
		return invalid("secretName", "required, at most 127 characters")
	case i.SecretID != "" && !config.ValidGUID(i.SecretID):
		return invalid("secretId", "%q is not a GUID", i.SecretID)
	case i.Permissions != catalog.ReadOnly && i.Permissions != catalog.ReadWrite:
		return invalid("permissions", "%q: want read-only or read-write", i.Permissions)
	case i.DataMode() != Managed && i.DataMode() != Custom:
		return invalid("mode", "%q: want managed or custom", i.Mode)
	case i.DataMode() == Managed && len(i.DataTypes) > 0:
		return invalid("dataTypes", "only in custom mode (managed mode collects what the connectivity test finds)")
	}
	if len(i.ProtectedUsers) > config.MaxProtectedUsers {
		return invalid("protectedUsers", "at most %d entries, got %d", config.MaxProtectedUsers, len(i.ProtectedUsers))
	}
	for n, u := range i.ProtectedUsers {
		if !config.ValidUserRef(u) {
			return invalid(fmt.Sprintf("protectedUsers[%d]", n), "%q is neither an object id (GUID) nor a user principal name", u)
		}
	}
	for l, a := range i.Licences {
		if !slices.Contains(catalog.Licences, l) {
			return invalid("licences", "unknown licence %q (want one of %v)", l, catalog.Licences)
		}
		if a != Yes && a != No && a != Auto {
			return invalid("licences."+string(l), "%q: want yes, no or auto", a)
		}
	}
	for name := range i.DataTypes {
		if _, ok := catalog.Lookup(name); !ok {
			return invalid("dataTypes", "unknown data type %q", name)
		}
	}
	if err := i.validateListedUsers(); err != nil {
		return err
	}
	if len(i.ExcludedGroups) > MaxExcludedGroups {
		return invalid("excludedGroups", "at most %d groups", MaxExcludedGroups)
	}
	for k, g := range i.ExcludedGroups {
		if !config.ValidGUID(g) {
			return invalid(fmt.Sprintf("excludedGroups[%d]", k), "%q is not a group object id (GUID)", g)
		}
		if slices.ContainsFunc(i.ExcludedGroups[:k], func(o string) bool { return strings.EqualFold(o, g) }) {
			return invalid(fmt.Sprintf("excludedGroups[%d]", k), "%q is listed twice", g)
		}
	}
	for f, s := range i.Schedules {
		if !slices.Contains(catalog.Families(), f) {
			return invalid("schedules", "unknown family %q (want one of %v)", f, catalog.Families())
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < MinSchedule || d > MaxSchedule {
			return invalid("schedules."+string(f), "%q: want a duration from %s to %s, e.g. \"15m\" or \"6h\"", s, MinSchedule, MaxSchedule)
		}
	}
	if i.LastTest != nil && i.LastTest.State == "" {
		return invalid("lastTest", "has no state")
	}
	return nil
}

// validateListedUsers checks AuthenticationMethodsUsers: at most catalog.MaxListedUsers object ids or user principal
// names, none twice, and at least one when authenticationMethods is switched on.
func (i Integration) validateListedUsers() error {
	const field = "authenticationMethodsUsers"
	users := i.AuthenticationMethodsUsers
	if len(users) > catalog.MaxListedUsers {
		return invalid(field, "at most %d users, got %d", catalog.MaxListedUsers, len(users))
	}
	for n, u := range users {
		if !config.ValidUserRef(u) {
			return invalid(fmt.Sprintf("%s[%d]", field, n), "%q is neither an object id (GUID) nor a user principal name", u)
		}
		if slices.ContainsFunc(users[:n], func(o string) bool { return strings.EqualFold(o, u) }) {
			return invalid(fmt.Sprintf("%s[%d]", field, n), "%q is listed twice", u)
		}
	}
	if i.DataTypes[AuthenticationMethods] && len(users) == 0 {
		return invalid(field, "required when dataTypes.%s is on: the users whose methods are read (never every user; "+
			"userRegistrationDetails covers everyone)", AuthenticationMethods)
	}
	return nil
}

// AuthenticationMethods is the data type read only for the users an integration lists (AuthenticationMethodsUsers).
const AuthenticationMethods = "authenticationMethods"

func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > MaxNameLength || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// FromSettings returns the integration declared in app settings.
func FromSettings(e config.Entra) Integration {
	i := Integration{ID: e.ID, Name: e.ID, TenantID: e.TenantID, ClientID: e.ClientID, SecretName: e.SecretName,
		SecretID: e.SecretID, Permissions: e.Permissions, Licences: map[catalog.Licence]Answer{}, Source: SourceSettings,
		ExcludedGroups: e.ExcludedGroups, ExcludeGuests: e.ExcludeGuests, ExcludeFromLogs: e.ExcludeFromLogs,
		ProtectedUsers: slices.Clone(e.ProtectedUsers)}
	for l, a := range e.Licences {
		i.Licences[l] = Answer(a)
	}
	return i
}

// ErrNotFound means there is no integration with that id.
var ErrNotFound = errors.New("integration not found")

// ErrExists means an integration with that id exists already.
var ErrExists = errors.New("integration exists")

// ErrChanged means the integration changed since it was read (another request updated it): read it again.
var ErrChanged = errors.New("integration changed meanwhile")

// ErrSettings means the integration is declared in app settings and cannot be changed through the API.
var ErrSettings = errors.New("integration is declared in app settings")

// SourceSettings is the Source of the integration declared in app settings.
const SourceSettings = "settings"
