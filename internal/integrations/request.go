package integrations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/config"
)

// Request limits of the Integrations API.
const (
	// MaxBody is the largest request body read; a larger one is refused whole (413).
	MaxBody = 64 << 10
	// MaxSecretLength bounds a client secret value (Entra's are 40 characters).
	MaxSecretLength = 1024
	// MaxCertificateLength bounds a PEM certificate with its key (Key Vault keeps at most 25 KB a secret).
	MaxCertificateLength = 24 << 10
)

// Settings are the fields of an integration that can be given at creation and changed later (PATCH). A nil
// field is not given.
type Settings struct {
	Name            *string
	Permissions     *catalog.Access
	Licences        map[catalog.Licence]Answer
	Mode            *Mode
	DataTypes       map[string]bool
	ExcludedGroups  *[]string
	ExcludeGuests   *bool
	ExcludeFromLogs *bool
	ProtectedUsers  *[]string
	Schedules       map[catalog.Family]string
	Disabled        *bool
	Rotate          *bool
	// AuthenticationMethodsUsers replaces the users whose authentication methods are read.
	AuthenticationMethodsUsers *[]string
}

// Apply sets the given fields on i. Licences, data types and schedules replace the whole map.
func (s Settings) Apply(i *Integration) {
	if s.Name != nil {
		i.Name = *s.Name
	}
	if s.Permissions != nil {
		i.Permissions = *s.Permissions
	}
	if s.Licences != nil {
		i.Licences = s.Licences
	}
	if s.Mode != nil {
		i.Mode = *s.Mode
		if i.Mode == Managed && s.DataTypes == nil {
			i.DataTypes = nil // managed mode has no choices of its own
		}
	}
	if s.DataTypes != nil {
		i.DataTypes = s.DataTypes
	}
	if s.ExcludedGroups != nil {
		i.ExcludedGroups = *s.ExcludedGroups
	}
	if s.ExcludeGuests != nil {
		i.ExcludeGuests = *s.ExcludeGuests
	}
	if s.ExcludeFromLogs != nil {
		i.ExcludeFromLogs = *s.ExcludeFromLogs
	}
	if s.ProtectedUsers != nil {
		i.ProtectedUsers = *s.ProtectedUsers
	}
	if s.Schedules != nil {
		i.Schedules = s.Schedules
	}
	if s.Disabled != nil {
		i.Disabled = *s.Disabled
	}
	if s.Rotate != nil {
		i.Rotate = *s.Rotate
	}
	if s.AuthenticationMethodsUsers != nil {
		i.AuthenticationMethodsUsers = *s.AuthenticationMethodsUsers
	}
}

// fields returns the JSON fields of the settings and where each decodes to.
func (s *Settings) fields() map[string]any {
	return map[string]any{
		"name": &s.Name, "permissions": &s.Permissions, "licences": &s.Licences, "mode": &s.Mode,
		"dataTypes": &s.DataTypes, "excludedGroups": &s.ExcludedGroups, "excludeGuests": &s.ExcludeGuests,
		"excludeFromLogs": &s.ExcludeFromLogs, "protectedUsers": &s.ProtectedUsers, "schedules": &s.Schedules, "disabled": &s.Disabled,
		"rotate": &s.Rotate, "authenticationMethodsUsers": &s.AuthenticationMethodsUsers,
	}
}

// CreateRequest is the body of POST /api/integrations: the Add Integration form.
type CreateRequest struct {
	// ID is the slug; empty derives it from the name.
	ID                 string
	TenantID, ClientID string
	Credential         CredentialKind
	// SecretID and Secret are the client secret's "Secret ID" and value (credential secret).
	SecretID string
	Secret   string
	// Certificate is a PEM certificate with its unencrypted private key (credential certificate).
	Certificate string
	Settings
}

// Material is the credential the request carries: the secret value or the PEM certificate ("" for a managed
// identity, and for a secret already stored in Key Vault).
func (r CreateRequest) Material() string {
	if r.Credential == Certificate {
		return r.Certificate
	}
	return r.Secret
}

// CredentialsRequest is the body of POST /api/integrations/{id}/credentials (Reset Credentials).
type CredentialsRequest struct {
	SecretID    string
	Secret      string
	Certificate string
}

// Material is the new secret value or certificate.
func (r CredentialsRequest) Material() string {
	if r.Certificate != "" {
		return r.Certificate
	}
	return r.Secret
}

// DecodeCreate decodes and checks an Add Integration request. The result is complete and valid: Integration
// builds the integration from it.
func DecodeCreate(body []byte) (CreateRequest, error) {
	var r CreateRequest
	var id, tenant, client, cred, secretID, secret, cert *string
	fields := r.Settings.fields()
	for k, v := range map[string]any{"id": &id, "tenantId": &tenant, "clientId": &client, "credential": &cred,
		"secretId": &secretID, "secret": &secret, "certificate": &cert} {
		fields[k] = v
	}
	if err := decodeObject(body, fields); err != nil {
		return r, err
	}
	switch {
	case r.Name == nil:
		return r, invalid("name", "required")
	case *r.Name == "":
		return r, invalid("name", "must not be empty")
	case tenant == nil:
		return r, invalid("tenantId", "required: the Directory (tenant) ID")
	case !config.ValidGUID(*tenant):
		return r, invalid("tenantId", "%s is not a GUID (the Directory (tenant) ID on the app's Overview page)", quote(*tenant))
	case client == nil:
		return r, invalid("clientId", "required: the Application (client) ID")
	case !config.ValidGUID(*client):
		return r, invalid("clientId", "%s is not a GUID (the Application (client) ID on the app's Overview page)", quote(*client))
	}
	r.TenantID, r.ClientID = strings.ToLower(*tenant), strings.ToLower(*client)
	if id != nil {
		if !config.ValidSlug(*id) {
			return r, invalid("id", "%s is not a slug (lowercase letters, digits, inner hyphens, 1-40 characters)", quote(*id))
		}
		r.ID = *id
	} else if r.ID = Slug(*r.Name); r.ID == "" {
		return r, invalid("name", "has no letter or digit to make an id of; give an id")
	}
	r.Credential = Secret
	if cred != nil {
		r.Credential = CredentialKind(*cred)
	}
	if err := checkCredential(r.Credential, secretID, secret, cert, true); err != nil {
		return r, err
	}
	r.SecretID, r.Secret, r.Certificate = deref(secretID), deref(secret), deref(cert)
	_, err := r.Integration()
	return r, err
}

// Integration builds the integration the request describes (not yet stored, no secret version).
func (r CreateRequest) Integration() (Integration, error) {
	i := Integration{ID: r.ID, TenantID: r.TenantID, ClientID: r.ClientID, Credential: r.Credential,
		SecretID: strings.ToLower(r.SecretID), Permissions: catalog.ReadOnly, Mode: Managed}
	if r.Credential != ManagedIdentity {
		i.SecretName = SecretNameFor(r.ID)
	}
	r.Settings.Apply(&i)
	return i, i.Validate()
}

// DecodePatch decodes and checks the body of PATCH /api/integrations/{id}: settings only.
func DecodePatch(body []byte) (Settings, error) {
	var s Settings
	if err := decodeObject(body, s.fields()); err != nil {
		return s, err
	}
	// Field checks against a stand-in integration in custom mode (so data type names are checked); whether data
	// types may be given at all depends on the stored mode, which the service checks on the result.
	probe := Integration{ID: "x", TenantID: "00000000-0000-0000-0000-000000000000", ClientID: "00000000-0000-0000-0000-000000000000",
		Credential: ManagedIdentity, Permissions: catalog.ReadOnly, Mode: Custom}
	s.Apply(&probe)
	if s.AuthenticationMethodsUsers == nil {
		// Whether authenticationMethods has its users depends on the stored list, which the service checks on the
		// result.
		probe.AuthenticationMethodsUsers = []string{"00000000-0000-0000-0000-000000000001"}
	}
	if s.Name != nil && *s.Name == "" {
		return s, invalid("name", "must not be empty")
	}
	return s, probe.Validate()
}

// DecodeCredentials decodes and checks a Reset Credentials request for an integration of credential kind kind.
func DecodeCredentials(body []byte, kind CredentialKind) (CredentialsRequest, error) {
	var secretID, secret, cert *string
	if err := decodeObject(body, map[string]any{"secretId": &secretID, "secret": &secret, "certificate": &cert}); err != nil {
		return CredentialsRequest{}, err
	}
	if kind == ManagedIdentity {
		return CredentialsRequest{}, &ValidationError{Field: "credential", Status: http.StatusConflict,
			Problem: "the integration signs in with the function app's managed identity: it has no secret to reset"}
	}
	if err := checkCredential(kind, secretID, secret, cert, false); err != nil {
		return CredentialsRequest{}, err
	}
	return CredentialsRequest{SecretID: strings.ToLower(deref(secretID)), Secret: deref(secret), Certificate: deref(cert)}, nil
}

// checkCredential checks the credential fields for kind: a secret needs secretId and secret, a certificate
// needs certificate, a managed identity none.
func checkCredential(kind CredentialKind, secretID, secret, cert *string, create bool) error {
	switch kind {
	case Secret:
		switch {
		case cert != nil:
			return invalid("certificate", "only with credential certificate")
		case secretID == nil:
			return invalid("secretId", "required: the Secret ID shown next to the client secret")
		case !config.ValidGUID(*secretID):
			return invalid("secretId", "%s is not a GUID (the Secret ID shown next to the client secret)", quote(*secretID))
		case secret == nil && !create:
			return invalid("secret", "required: the new client secret's Value")
		case secret == nil:
			// The service looks for the secret in Key Vault (stored there by scripts/register-app.sh --key-vault).
		case *secret == "":
			return invalid("secret", "must not be empty: the client secret's Value")
		case len(*secret) > MaxSecretLength:
			return invalid("secret", "longer than %d characters", MaxSecretLength)
		case strings.EqualFold(strings.TrimSpace(*secret), *secretID):
			return invalid("secret", "this is the Secret ID; enter the secret's Value (shown only when the secret was created)")
		case strings.TrimSpace(*secret) != *secret:
			return invalid("secret", "has white space at the start or end (copied with it?)")
		case !utf8.ValidString(*secret) || strings.ContainsFunc(*secret, unicode.IsControl):
			return invalid("secret", "contains control characters")
		}
	case Certificate:
		switch {
		case secret != nil:
			return invalid("secret", "only with credential secret")
		case cert == nil || *cert == "":
			return invalid("certificate", "required: the PEM certificate with its private key")
		case len(*cert) > MaxCertificateLength:
			return invalid("certificate", "longer than %d bytes", MaxCertificateLength)
		case !strings.Contains(*cert, "-----BEGIN CERTIFICATE-----") || !strings.Contains(*cert, "PRIVATE KEY-----"):
			return invalid("certificate", "want PEM with a CERTIFICATE and an unencrypted PRIVATE KEY block")
		case secretID != nil && !config.ValidGUID(*secretID):
			return invalid("secretId", "%s is not a GUID", quote(*secretID))
		}
	case ManagedIdentity:
		if !create {
			return nil
		}
		for _, f := range []struct {
			name string
			v    *string
		}{{"secretId", secretID}, {"secret", secret}, {"certificate", cert}} {
			if f.v != nil {
				return invalid(f.name, "not with credential managed-identity (the function app's identity signs in)")
			}
		}
	default:
		return invalid("credential", "%s: want secret, certificate or managed-identity", quote(string(kind)))
	}
	return nil
}

// Slug turns a display name into an id: lowercase letters and digits, other runs as one hyphen, at most 40.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	return strings.Trim(b.String()[:min(b.Len(), 40)], "-")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// quote renders a value of the request for a message, shortened.
func quote(s string) string {
	if len(s) > 60 {
		s = s[:57]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// decodeObject reads body as one JSON object whose members are all in fields, decoding each into its target.
// Every problem is a *ValidationError naming the member: unknown, given twice, null, or of the wrong type; a body
// that is not one object (or is larger than MaxBody) names "body".
func decodeObject(body []byte, fields map[string]any) error {
	if len(body) > MaxBody {
		return &ValidationError{Field: "body", Problem: fmt.Sprintf("larger than %d bytes", MaxBody), Status: http.StatusRequestEntityTooLarge}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return invalid("body", "want a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalid("body", "not valid JSON")
		}
		key, _ := tok.(string)
		target, known := fields[key]
		if !known {
			return invalid(quoteField(key), "unknown field")
		}
		if seen[key] {
			return invalid(key, "given twice")
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return invalid("body", "not valid JSON")
		}
		if string(raw) == "null" {
			return invalid(key, "must not be null")
		}
		if err := unmarshalField(key, raw, target); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return invalid("body", "not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", "data after the JSON object")
	}
	return nil
}

// unmarshalField decodes one member; the members of an object-valued field are decoded one by one, so a wrong one
// is named ("licences.entraP2").
func unmarshalField(key string, raw json.RawMessage, target any) error {
	switch t := target.(type) {
	case *map[catalog.Licence]Answer:
		return decodeMap(key, raw, t, "yes, no or auto")
	case *map[catalog.Family]string:
		return decodeMap(key, raw, t, "a duration string")
	case *map[string]bool:
		return decodeMap(key, raw, t, "true or false")
	}
	if err := json.Unmarshal(raw, target); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid(key, "want %s, got a JSON %s", kindOf(target), te.Value)
		}
		return invalid(key, "want %s", kindOf(target))
	}
	return nil
}

func decodeMap[K ~string, V any](key string, raw json.RawMessage, out *map[K]V, want string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return invalid(key, "want an object whose values are %s", want)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	res := make(map[K]V, len(m))
	for _, k := range keys {
		var v V
		if string(m[k]) == "null" || json.Unmarshal(m[k], &v) != nil {
			return invalid(key+"."+quoteField(k), "want %s", want)
		}
		res[K(k)] = v
	}
	*out = res
	return nil
}

// quoteField names an unknown member for a message, shortened and printable.
func quoteField(key string) string {
	if key != "" && len(key) <= 40 && !strings.ContainsFunc(key, func(r rune) bool { return !unicode.IsPrint(r) || r == '"' }) {
		return key
	}
	return quote(key)
}

func kindOf(target any) string {
	switch target.(type) {
	case **string, **catalog.Access, **Mode:
		return "a string"
	case **bool:
		return "true or false"
	case **[]string:
		return "an array of strings"
	}
	return "another type"
}
