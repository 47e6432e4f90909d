package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/storage"
)

// Store keeps the integrations in Table Storage, one entity each (PartitionKey "integration", RowKey the id, the
// integration as a JSON document), and lists the one declared in app settings first. The settings integration's
// last connectivity test is kept in the same table under PartitionKey "settings".
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
	return storage.EnsureTable(ctx, s.svc, s.name)
}

const (
	partition         = "integration"
	settingsPartition = "settings"
)

// IsSettings reports whether id is the integration declared in app settings.
func (s *Store) IsSettings(id string) bool { return s.settings != nil && s.settings.ID == id }

// List returns every integration: the app-settings one first, then the table's by id. A table row that fails
// validation is skipped and reported in the returned error list.
func (s *Store) List(ctx context.Context) ([]Integration, []error, error) {
	var out []Integration
	var bad []error
	if s.settings != nil {
		i, err := s.withSettingsTest(ctx, *s.settings)
		if err != nil {
			bad = append(bad, err)
		}
		out = append(out, i)
	}
	filter := fmt.Sprintf("PartitionKey eq '%s'", partition)
	pager := s.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if storage.IsStatus(err, 404) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("list integrations: %w", err)
		}
		for _, b := range page.Entities {
			i, err := decode(b, "")
			if err != nil {
				bad = append(bad, err)
				continue
			}
			if s.IsSettings(i.ID) {
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
	if s.IsSettings(id) {
		return s.withSettingsTest(ctx, *s.settings)
	}
	if !config.ValidSlug(id) {
		return Integration{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	resp, err := s.table.GetEntity(ctx, partition, id, nil)
	if storage.IsStatus(err, 404) {
		return Integration{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Integration{}, fmt.Errorf("read integration %q: %w", id, err)
	}
	return decode(resp.Value, resp.ETag)
}

// withSettingsTest adds the settings integration's last connectivity test, kept in the table.
func (s *Store) withSettingsTest(ctx context.Context, i Integration) (Integration, error) {
	resp, err := s.table.GetEntity(ctx, settingsPartition, i.ID, nil)
	if storage.IsStatus(err, 404) {
		return i, nil
	}
	if err != nil {
		return i, fmt.Errorf("read last connectivity test of %q: %w", i.ID, err)
	}
	var e aztables.EDMEntity
	if err := json.Unmarshal(resp.Value, &e); err != nil {
		return i, fmt.Errorf("last connectivity test of %q: %w", i.ID, err)
	}
	doc, _ := e.Properties["Document"].(string)
	var t TestSummary
	if err := json.Unmarshal([]byte(doc), &t); err != nil {
		return i, fmt.Errorf("last connectivity test of %q: %w", i.ID, err)
	}
	i.LastTest = &t
	return i, nil
}

func entity(pk string, i Integration) ([]byte, error) {
	i.Source = "table"
	if err := i.Validate(); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(i)
	if err != nil {
		return nil, err
	}
	return json.Marshal(aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: pk, RowKey: i.ID},
		Properties: map[string]any{
			"Name": i.Name, "TenantId": i.TenantID, "ClientId": i.ClientID, "Document": string(doc),
			"Updated": aztables.EDMDateTime(time.Now().UTC()),
		},
	})
}

// Put stores an integration in the table (insert or replace), after validating it.
func (s *Store) Put(ctx context.Context, i Integration) error {
	b, err := entity(partition, i)
	if err != nil {
		return err
	}
	if _, err := s.table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("store integration %q: %w", i.ID, err)
	}
	return nil
}

// Create adds a new integration; ErrExists when one with its id exists (in the table or in app settings).
func (s *Store) Create(ctx context.Context, i Integration) (Integration, error) {
	if s.IsSettings(i.ID) {
		return Integration{}, fmt.Errorf("%w: %q", ErrExists, i.ID)
	}
	b, err := entity(partition, i)
	if err != nil {
		return Integration{}, err
	}
	resp, err := s.table.AddEntity(ctx, b, nil)
	if storage.IsStatus(err, 409) {
		return Integration{}, fmt.Errorf("%w: %q", ErrExists, i.ID)
	}
	if err != nil {
		return Integration{}, fmt.Errorf("store integration %q: %w", i.ID, err)
	}
	i.Source, i.etag = "table", resp.ETag
	return i, nil
}

// Update replaces an integration read by Get, if nobody changed it since (ErrChanged otherwise).
func (s *Store) Update(ctx context.Context, i Integration) (Integration, error) {
	if s.IsSettings(i.ID) {
		return Integration{}, fmt.Errorf("%w: %q", ErrSettings, i.ID)
	}
	b, err := entity(partition, i)
	if err != nil {
		return Integration{}, err
	}
	opts := &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace}
	if i.etag != "" {
		opts.IfMatch = &i.etag
	}
	resp, err := s.table.UpdateEntity(ctx, b, opts)
	switch {
	case storage.IsStatus(err, 412):
		return Integration{}, fmt.Errorf("%w: %q", ErrChanged, i.ID)
	case storage.IsStatus(err, 404):
		return Integration{}, fmt.Errorf("%w: %q", ErrNotFound, i.ID)
	case err != nil:
		return Integration{}, fmt.Errorf("store integration %q: %w", i.ID, err)
	}
	i.Source, i.etag = "table", resp.ETag
	return i, nil
}

// Delete removes an integration's row; it reports whether there was one.
func (s *Store) Delete(ctx context.Context, id string) (bool, error) {
	if s.IsSettings(id) {
		return false, fmt.Errorf("%w: %q", ErrSettings, id)
	}
	if !config.ValidSlug(id) {
		return false, nil
	}
	_, err := s.table.DeleteEntity(ctx, partition, id, nil)
	if storage.IsStatus(err, 404) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete integration %q: %w", id, err)
	}
	return true, nil
}

// RecordTest keeps t as the integration's last connectivity test: on its row (re-read and retried when another
// request changed it meanwhile), or for the app-settings integration in its own row. It returns the integration
// as stored.
func (s *Store) RecordTest(ctx context.Context, id string, t TestSummary) (Integration, error) {
	if s.IsSettings(id) {
		doc, err := json.Marshal(t)
		if err != nil {
			return Integration{}, err
		}
		b, err := json.Marshal(aztables.EDMEntity{
			Entity:     aztables.Entity{PartitionKey: settingsPartition, RowKey: id},
			Properties: map[string]any{"Document": string(doc), "Updated": aztables.EDMDateTime(time.Now().UTC())},
		})
		if err != nil {
			return Integration{}, err
		}
		if _, err := s.table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
			return Integration{}, fmt.Errorf("store last connectivity test of %q: %w", id, err)
		}
		i := *s.settings
		i.LastTest = &t
		return i, nil
	}
	for attempt := 0; ; attempt++ {
		i, err := s.Get(ctx, id)
		if err != nil {
			return Integration{}, err
		}
		i.LastTest = &t
		i, err = s.Update(ctx, i)
		if !errors.Is(err, ErrChanged) || attempt == 4 {
			return i, err
		}
	}
}

func decode(b []byte, etag azcore.ETag) (Integration, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(b, &e); err != nil {
		return Integration{}, fmt.Errorf("decode integration: %w", err)
	}
	doc, _ := e.Properties["Document"].(string)
	var i Integration
	if err := json.Unmarshal([]byte(doc), &i); err != nil {
		return Integration{}, fmt.Errorf("integration %q: document: %w", e.RowKey, err)
	}
	i.ID, i.Source, i.etag = e.RowKey, "table", etag
	if i.etag == "" {
		i.etag = azcore.ETag(e.ETag)
	}
	if err := i.Validate(); err != nil {
		return Integration{}, fmt.Errorf("integration %q: %w", e.RowKey, err)
	}
	return i, nil
}
