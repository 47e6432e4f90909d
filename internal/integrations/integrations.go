// Package integrations holds the integrations: one Entra tenant plus one app registration each. They live in Table
// Storage (table `integrations`); a single integration can also be declared in app settings for the one-tenant case.
// The client secret itself is never here: only the name of the Key Vault secret that holds it.
package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

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

// Integration is one tenant and app registration.
type Integration struct {
	// ID is the integration's slug; it names blob partitions, cursors and the Key Vault secret.
	ID   string `json:"id"`
	Name string `json:"name"`
	// TenantID is the Directory (tenant) ID, a GUID or verified domain.
	TenantID string `json:"tenantId"`
	// ClientID is the app registration's Application (client) ID.
	ClientID string `json:"clientId"`
	// SecretName is the Key Vault secret holding the client secret.
	SecretName string `json:"secretName"`
	// SecretID is the client secret's keyId (the portal's "Secret ID").
	SecretID    string                     `json:"secretId,omitempty"`
	Permissions catalog.Access             `json:"permissions"`
	Licences    map[catalog.Licence]Answer `json:"licences,omitempty"`
	// ExcludedGroups are group object ids whose users, also through nested groups, are not collected as
	// directory data; ExcludeGuests leaves guests out too (SPEC §3); ExcludeFromLogs applies both to the sign-in
	// logs.
	ExcludedGroups  []string `json:"excludedGroups,omitempty"`
	ExcludeGuests   bool     `json:"excludeGuests,omitempty"`
	ExcludeFromLogs bool     `json:"excludeFromLogs,omitempty"`
	// Disabled integrations are not collected.
	Disabled bool `json:"disabled,omitempty"`
	// ProtectedUsers are object ids or user principal names remediation never acts on (break-glass accounts).
	ProtectedUsers []string `json:"protectedUsers,omitempty"`
	// Source is "settings" (app settings) or "table".
	Source string `json:"source"`
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

// ValidationError names the field of an integration that is wrong.
type ValidationError struct {
	Field, Problem string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("integration field %s: %s", e.Field, e.Problem)
}

// Validate checks every field.
func (i Integration) Validate() error {
	switch {
	case !config.ValidSlug(i.ID):
		return &ValidationError{"id", fmt.Sprintf("%q is not a slug (lowercase letters, digits, hyphens, 1-40 characters)", i.ID)}
	case !config.ValidGUID(i.TenantID) && !strings.Contains(i.TenantID, "."):
		return &ValidationError{"tenantId", fmt.Sprintf("%q is not a GUID or domain name", i.TenantID)}
	case !config.ValidGUID(i.ClientID):
		return &ValidationError{"clientId", fmt.Sprintf("%q is not a GUID", i.ClientID)}
	case i.SecretName == "" || len(i.SecretName) > 127:
		return &ValidationError{"secretName", "required, at most 127 characters"}
	case i.Permissions != catalog.ReadOnly && i.Permissions != catalog.ReadWrite:
		return &ValidationError{"permissions", fmt.Sprintf("%q: want read-only or read-write", i.Permissions)}
	}
	for n, g := range i.ExcludedGroups {
		if !config.ValidGUID(g) {
			return &ValidationError{fmt.Sprintf("excludedGroups[%d]", n), fmt.Sprintf("%q is not a group object id (a GUID)", g)}
		}
	}
	if len(i.ProtectedUsers) > config.MaxProtectedUsers {
		return &ValidationError{"protectedUsers", fmt.Sprintf("at most %d entries, got %d", config.MaxProtectedUsers, len(i.ProtectedUsers))}
	}
	for n, u := range i.ProtectedUsers {
		if !config.ValidUserRef(u) {
			return &ValidationError{fmt.Sprintf("protectedUsers[%d]", n), fmt.Sprintf("%q is neither an object id (GUID) nor a user principal name", u)}
		}
	}
	for l, a := range i.Licences {
		if !slices.Contains(catalog.Licences, l) {
			return &ValidationError{"licences", fmt.Sprintf("unknown licence %q", l)}
		}
		if a != Yes && a != No && a != Auto {
			return &ValidationError{"licences." + string(l), fmt.Sprintf("%q: want yes, no or auto", a)}
		}
	}
	return nil
}

// FromSettings returns the integration declared in app settings.
func FromSettings(e config.Entra) Integration {
	i := Integration{ID: e.ID, Name: e.ID, TenantID: e.TenantID, ClientID: e.ClientID, SecretName: e.SecretName,
		SecretID: e.SecretID, Permissions: e.Permissions, Licences: map[catalog.Licence]Answer{}, Source: "settings",
		ExcludedGroups: e.ExcludedGroups, ExcludeGuests: e.ExcludeGuests, ExcludeFromLogs: e.ExcludeFromLogs,
		ProtectedUsers: slices.Clone(e.ProtectedUsers)}
	for l, a := range e.Licences {
		i.Licences[l] = Answer(a)
	}
	return i
}

// ErrNotFound means there is no integration with that id.
var ErrNotFound = errors.New("integration not found")

// Store lists integrations from the table and app settings.
type Store struct {
	table    *aztables.Client
	svc      *aztables.ServiceClient
	name     string
	settings *Integration
}

// New returns the store on the named table; settings is the app-settings integration or nil.
func New(svc *aztables.ServiceClient, table string, settings *Integration) *Store {
	return &Store{table: svc.NewClient(table), svc: svc, name: table, settings: settings}
}

// Ensure creates the table if needed.
func (s *Store) Ensure(ctx context.Context) error {
	_, err := s.svc.CreateTable(ctx, s.name, nil)
	var re *azcore.ResponseError
	if err != nil && !(errors.As(err, &re) && re.ErrorCode == string(aztables.TableAlreadyExists)) {
		return fmt.Errorf("create table %s: %w", s.name, err)
	}
	return nil
}

const partition = "integration"

// List returns every integration: the app-settings one first, then the table's by id. A table row that fails
// validation is skipped and reported in the returned error list.
func (s *Store) List(ctx context.Context) ([]Integration, []error, error) {
	var out []Integration
	var bad []error
	if s.settings != nil {
		out = append(out, *s.settings)
	}
	pager := s.table.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("list integrations: %w", err)
		}
		for _, b := range page.Entities {
			i, err := decode(b)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			if s.settings != nil && i.ID == s.settings.ID {
				bad = append(bad, fmt.Errorf("integration %q in table %s is shadowed by the one in app settings", i.ID, s.name))
				continue
			}
			out = append(out, i)
		}
	}
	return out, bad, nil
}

// Get returns one integration.
func (s *Store) Get(ctx context.Context, id string) (Integration, error) {
	if s.settings != nil && s.settings.ID == id {
		return *s.settings, nil
	}
	if !config.ValidSlug(id) {
		return Integration{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	resp, err := s.table.GetEntity(ctx, partition, id, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == 404 {
		return Integration{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Integration{}, fmt.Errorf("read integration %q: %w", id, err)
	}
	return decode(resp.Value)
}

// Put stores an integration in the table (insert or replace), after validating it.
func (s *Store) Put(ctx context.Context, i Integration) error {
	i.Source = "table"
	if err := i.Validate(); err != nil {
		return err
	}
	doc, err := json.Marshal(i)
	if err != nil {
		return err
	}
	b, err := json.Marshal(aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: partition, RowKey: i.ID},
		Properties: map[string]any{
			"Name": i.Name, "TenantId": i.TenantID, "ClientId": i.ClientID, "Document": string(doc),
			"Updated": aztables.EDMDateTime(time.Now().UTC()),
		},
	})
	if err != nil {
		return err
	}
	if _, err := s.table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("store integration %q: %w", i.ID, err)
	}
	return nil
}

func decode(b []byte) (Integration, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(b, &e); err != nil {
		return Integration{}, fmt.Errorf("decode integration: %w", err)
	}
	doc, _ := e.Properties["Document"].(string)
	var i Integration
	if err := json.Unmarshal([]byte(doc), &i); err != nil {
		return Integration{}, fmt.Errorf("integration %q: document: %w", e.RowKey, err)
	}
	i.ID, i.Source = e.RowKey, "table"
	if err := i.Validate(); err != nil {
		return Integration{}, fmt.Errorf("integration %q: %w", e.RowKey, err)
	}
	return i, nil
}
