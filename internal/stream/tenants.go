package stream

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/entra-di/edi/internal/integrations"
)

// IntegrationLister lists the integrations (integrations.Store does).
type IntegrationLister interface {
	List(ctx context.Context) ([]integrations.Integration, []error, error)
}

// Tenants decides which integration a streamed record belongs to: the one whose tenantId is the record's tenant.
// One event hub may carry several tenants' logs (an MSP points every client tenant's diagnostic setting at it).
type Tenants struct {
	list     IntegrationLister
	fallback string
	maxAge   time.Duration
	minAge   time.Duration
	now      func() time.Time

	mu       sync.Mutex
	byTenant map[string]string
	loaded   time.Time
}

// TenantsOptions tune Tenants; nil means the defaults.
type TenantsOptions struct {
	// Fallback is the integration of records whose tenant matches no integration (STREAM_INTEGRATION_ID): for a
	// hub that carries one tenant's logs, with or without a Graph integration for it. Empty: such records are
	// quarantined.
	Fallback string
	// MaxAge is how long the list of integrations is used before it is read again (1 minute).
	MaxAge time.Duration
	// MinAge is how soon a tenant that matched nothing may make the list be read again (10 seconds), so an
	// integration added a moment ago is found without a table read per unknown record.
	MinAge time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// NewTenants returns the tenant map over the integrations list.
func NewTenants(list IntegrationLister, o *TenantsOptions) *Tenants {
	t := &Tenants{list: list, maxAge: time.Minute, minAge: 10 * time.Second, now: time.Now}
	if o != nil {
		t.fallback = o.Fallback
		if o.MaxAge > 0 {
			t.maxAge = o.MaxAge
		}
		if o.MinAge > 0 {
			t.minAge = o.MinAge
		}
		if o.Now != nil {
			t.now = o.Now
		}
	}
	return t
}

// Integration returns the id of the integration that tenantID belongs to. A tenant that several integrations
// name (two app registrations in one tenant) belongs to the one declared in app settings, else to the smallest id.
// Disabled integrations count: streamed records are archived whether or not Graph collection is on. ok is false
// when no integration matches and there is no fallback: the record goes to quarantine.
func (t *Tenants) Integration(ctx context.Context, tenantID string) (string, bool, error) {
	key := strings.ToLower(strings.TrimSpace(tenantID))
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	age := now.Sub(t.loaded)
	if t.byTenant == nil || age >= t.maxAge {
		if err := t.load(ctx, now); err != nil {
			return "", false, err
		}
	} else if _, ok := t.byTenant[key]; !ok && key != "" && age >= t.minAge {
		if err := t.load(ctx, now); err != nil {
			return "", false, err
		}
	}
	if id, ok := t.byTenant[key]; ok && key != "" {
		return id, true, nil
	}
	if t.fallback != "" {
		return t.fallback, true, nil
	}
	return "", false, nil
}

func (t *Tenants) load(ctx context.Context, now time.Time) error {
	list, _, err := t.list.List(ctx)
	if err != nil {
		return err
	}
	// The app-settings integration comes first in the list; then the smallest id wins.
	slices.SortStableFunc(list, func(a, b integrations.Integration) int {
		if (a.Source == integrations.SourceSettings) != (b.Source == integrations.SourceSettings) {
			if a.Source == integrations.SourceSettings {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	m := map[string]string{}
	for _, i := range list {
		k := strings.ToLower(strings.TrimSpace(i.TenantID))
		if _, dup := m[k]; !dup && k != "" {
			m[k] = i.ID
		}
	}
	t.byTenant, t.loaded = m, now
	return nil
}
