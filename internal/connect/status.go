package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/storage"
)

// StatusTable is the table of connectivity results (SPEC §6).
const StatusTable = "status"

// Statuses keeps each integration's last connectivity test in the status table: PartitionKey the integration id,
// RowKey "connectivity", with the state, message and time as properties and the whole Result (every data type's
// outcome) as a JSON document.
type Statuses struct {
	svc   *aztables.ServiceClient
	table *aztables.Client
	name  string
}

// NewStatuses returns the store on the named table ("" means StatusTable).
func NewStatuses(svc *aztables.ServiceClient, table string) *Statuses {
	if table == "" {
		table = StatusTable
	}
	return &Statuses{svc: svc, table: svc.NewClient(table), name: table}
}

// Ensure creates the table if needed.
func (s *Statuses) Ensure(ctx context.Context) error {
	return storage.EnsureTable(ctx, s.svc, s.name)
}

const connectivityRow = "connectivity"

// Put stores a result as its integration's last test.
func (s *Statuses) Put(ctx context.Context, r Result) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b, err := json.Marshal(aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: r.Integration, RowKey: connectivityRow},
		Properties: map[string]any{"State": string(r.State), "Message": truncate(r.Message, 4000), "Code": r.Code,
			"TestedAt": aztables.EDMDateTime(r.TestedAt.UTC()), "Document": string(doc)},
	})
	if err != nil {
		return err
	}
	if _, err := s.table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("store connectivity of %q: %w", r.Integration, err)
	}
	return nil
}

// Get returns an integration's last test, nil when it was never tested.
func (s *Statuses) Get(ctx context.Context, integration string) (*Result, error) {
	resp, err := s.table.GetEntity(ctx, integration, connectivityRow, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read connectivity of %q: %w", integration, err)
	}
	var e aztables.EDMEntity
	if err := json.Unmarshal(resp.Value, &e); err != nil {
		return nil, err
	}
	doc, _ := e.Properties["Document"].(string)
	var r Result
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("connectivity of %q: %w", integration, err)
	}
	return &r, nil
}

// Delete removes an integration's result.
func (s *Statuses) Delete(ctx context.Context, integration string) error {
	_, err := s.table.DeleteEntity(ctx, integration, connectivityRow, nil)
	var re *azcore.ResponseError
	if err != nil && !(errors.As(err, &re) && re.StatusCode == 404) {
		return fmt.Errorf("delete connectivity of %q: %w", integration, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return shorten(s, n)
}
