package expiry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/storage"
)

// AlertsTable is the table of expiry alerts and check results (SPEC §6).
const AlertsTable = "alerts"

// Alert delivery states.
const (
	// Sending: an instance claimed the alert and is sending it until ClaimedUntil.
	Sending = "sending"
	// Sent: the webhook accepted it (2xx); it is never sent again.
	Sent = "sent"
	// Failed: the last attempt failed; the next run tries again.
	Failed = "failed"
)

// checkRow is the RowKey of an integration's last check result.
const checkRow = "check"

// Alerts keeps, in the alerts table, one row per (integration, secret, threshold, webhook) — PartitionKey the
// integration, RowKey "<secret>|<threshold>|<webhook>" — whose ETag-guarded claim makes each alert go out once even
// when two instances check at the same time, and one row "check" per integration with the last check's result.
type Alerts struct {
	svc   *aztables.ServiceClient
	table *aztables.Client
	name  string
}

// NewAlerts returns the store on the named table ("" means AlertsTable).
func NewAlerts(svc *aztables.ServiceClient, table string) *Alerts {
	if table == "" {
		table = AlertsTable
	}
	return &Alerts{svc: svc, table: svc.NewClient(table), name: table}
}

// Ensure creates the table if needed.
func (a *Alerts) Ensure(ctx context.Context) error {
	return storage.EnsureTable(ctx, a.svc, a.name)
}

// Delivery is one alert to one webhook as the table holds it.
type Delivery struct {
	Integration string
	Secret      string
	Threshold   string
	Webhook     string
	State       string
	// ClaimedUntil is when a Sending claim lapses (its instance died): another run may send then.
	ClaimedUntil time.Time
	SentAt       time.Time
	Attempts     int
	// LastError is the last failure, without the webhook's URL.
	LastError string

	etag azcore.ETag
}

func rowKey(secret, threshold, webhook string) string {
	return strings.ToLower(secret) + "|" + threshold + "|" + webhook
}

func (d Delivery) entity() ([]byte, error) {
	props := map[string]any{"Secret": d.Secret, "Threshold": d.Threshold, "Webhook": d.Webhook, "State": d.State,
		"Attempts": int32(d.Attempts), "LastError": truncate(d.LastError, 2000)}
	if !d.ClaimedUntil.IsZero() {
		props["ClaimedUntil"] = aztables.EDMDateTime(d.ClaimedUntil.UTC())
	}
	if !d.SentAt.IsZero() {
		props["SentAt"] = aztables.EDMDateTime(d.SentAt.UTC())
	}
	return json.Marshal(aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: d.Integration, RowKey: rowKey(d.Secret, d.Threshold, d.Webhook)},
		Properties: props,
	})
}

func decodeDelivery(b []byte, etag azcore.ETag) (Delivery, error) {
	var e aztables.EDMEntity
	if err := json.Unmarshal(b, &e); err != nil {
		return Delivery{}, err
	}
	p := e.Properties
	str := func(k string) string { s, _ := p[k].(string); return s }
	when := func(k string) time.Time {
		if t, ok := p[k].(aztables.EDMDateTime); ok {
			return time.Time(t)
		}
		return time.Time{}
	}
	n, _ := p["Attempts"].(int32)
	return Delivery{Integration: e.PartitionKey, Secret: str("Secret"), Threshold: str("Threshold"), Webhook: str("Webhook"),
		State: str("State"), ClaimedUntil: when("ClaimedUntil"), SentAt: when("SentAt"), Attempts: int(n),
		LastError: str("LastError"), etag: etag}, nil
}

// errTaken means another instance holds or has sent the alert.
var errTaken = errors.New("alert taken by another run")

// Claim takes the alert (integration, secret, threshold, webhook) for sending until now+lease. It returns
// errTaken when the alert was sent already or another run holds a live claim; the insert or the ETag-guarded update
// lets exactly one of two simultaneous claimants win.
func (a *Alerts) Claim(ctx context.Context, integration, secret, threshold, webhook string, now time.Time, lease time.Duration) (Delivery, error) {
	d := Delivery{Integration: integration, Secret: secret, Threshold: threshold, Webhook: webhook}
	resp, err := a.table.GetEntity(ctx, integration, rowKey(secret, threshold, webhook), nil)
	switch {
	case storage.IsStatus(err, 404):
		d.State, d.ClaimedUntil = Sending, now.Add(lease)
		b, err := d.entity()
		if err != nil {
			return d, err
		}
		added, err := a.table.AddEntity(ctx, b, nil)
		if storage.IsStatus(err, 409) {
			return d, errTaken
		}
		if err != nil {
			return d, fmt.Errorf("claim alert: %w", err)
		}
		d.etag = added.ETag
		return d, nil
	case err != nil:
		return d, fmt.Errorf("read alert: %w", err)
	}
	if d, err = decodeDelivery(resp.Value, resp.ETag); err != nil {
		return d, err
	}
	if d.State == Sent || d.State == Sending && now.Before(d.ClaimedUntil) {
		return d, errTaken
	}
	d.State, d.ClaimedUntil = Sending, now.Add(lease)
	b, err := d.entity()
	if err != nil {
		return d, err
	}
	upd, err := a.table.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: &d.etag, UpdateMode: aztables.UpdateModeReplace})
	if storage.IsStatus(err, 412) {
		return d, errTaken
	}
	if err != nil {
		return d, fmt.Errorf("claim alert: %w", err)
	}
	d.etag = upd.ETag
	return d, nil
}

// Finish records the outcome of a claimed alert: Sent at now, or Failed with the problem (retried next run).
func (a *Alerts) Finish(ctx context.Context, d Delivery, now time.Time, sendErr error) error {
	d.Attempts++
	d.ClaimedUntil = time.Time{}
	if sendErr == nil {
		d.State, d.SentAt, d.LastError = Sent, now.UTC(), ""
	} else {
		d.State, d.LastError = Failed, sendErr.Error()
	}
	b, err := d.entity()
	if err != nil {
		return err
	}
	if _, err := a.table.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: &d.etag, UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("record alert %s: %w", d.State, err)
	}
	return nil
}

// Deliveries lists the alert rows of an integration.
func (a *Alerts) Deliveries(ctx context.Context, integration string) ([]Delivery, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s'", strings.ReplaceAll(integration, "'", "''"))
	pager := a.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []Delivery
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list alerts of %q: %w", integration, err)
		}
		for _, raw := range page.Entities {
			var head aztables.Entity
			if json.Unmarshal(raw, &head) != nil || head.RowKey == checkRow {
				continue
			}
			d, err := decodeDelivery(raw, "")
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// PutResult stores an integration's last check result.
func (a *Alerts) PutResult(ctx context.Context, r Result) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b, err := json.Marshal(aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: r.Integration, RowKey: checkRow},
		Properties: map[string]any{"CheckedAt": aztables.EDMDateTime(r.CheckedAt.UTC()), "Document": string(doc)},
	})
	if err != nil {
		return err
	}
	if _, err := a.table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("store the expiry check of %q: %w", r.Integration, err)
	}
	return nil
}

// GetResult returns an integration's last check result, nil before the first check.
func (a *Alerts) GetResult(ctx context.Context, integration string) (*Result, error) {
	resp, err := a.table.GetEntity(ctx, integration, checkRow, nil)
	if storage.IsStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the expiry check of %q: %w", integration, err)
	}
	var e aztables.EDMEntity
	if err := json.Unmarshal(resp.Value, &e); err != nil {
		return nil, err
	}
	doc, _ := e.Properties["Document"].(string)
	var r Result
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("expiry check of %q: %w", integration, err)
	}
	return &r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
