package cursor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Lease gives one worker the right to collect one (integration, family) until Expires. Leases run on the real
// clock: they are about processes being alive, not about data time.
type Lease struct {
	Integration, Family string
	// Owner identifies the holder (the invocation id).
	Owner   string
	Expires time.Time
	etag    azcore.ETag
}

// HeldError is returned by Acquire when another owner holds an unexpired lease.
type HeldError struct {
	Owner   string
	Expires time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease held by %s until %s", e.Owner, e.Expires.Format(time.RFC3339))
}

// ErrLeaseLost means the lease was taken over (it had expired) or deleted: the holder must stop writing.
var ErrLeaseLost = fmt.Errorf("lease lost: %w", ErrConflict)

func leaseEntity(l *Lease) ([]byte, error) {
	return json.Marshal(aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: l.Integration, RowKey: l.Family},
		Properties: map[string]any{"Owner": l.Owner, "Expires": aztables.EDMDateTime(l.Expires.UTC())},
	})
}

// Acquire takes the lease of (integration, family) for ttl if it is free or expired.
func (s *Store) Acquire(ctx context.Context, integration, family, owner string, ttl time.Duration) (*Lease, error) {
	l := &Lease{Integration: integration, Family: family, Owner: owner, Expires: time.Now().Add(ttl)}
	b, err := leaseEntity(l)
	if err != nil {
		return nil, err
	}
	resp, err := s.leases.AddEntity(ctx, b, nil)
	if err == nil {
		l.etag = resp.ETag
		return l, nil
	}
	if !isStatus(err, 409) {
		return nil, fmt.Errorf("acquire lease %s/%s: %w", integration, family, err)
	}
	cur, err := s.leases.GetEntity(ctx, integration, family, nil)
	if isStatus(err, 404) {
		return nil, &HeldError{Owner: "(released meanwhile)", Expires: time.Now()}
	}
	if err != nil {
		return nil, fmt.Errorf("read lease %s/%s: %w", integration, family, err)
	}
	var e aztables.EDMEntity
	if err := json.Unmarshal(cur.Value, &e); err != nil {
		return nil, err
	}
	p := props(e.Properties)
	if exp := p.time("Expires"); time.Now().Before(exp) && p.str("Owner") != owner {
		return nil, &HeldError{Owner: p.str("Owner"), Expires: exp}
	}
	etag := cur.ETag
	upd, err := s.leases.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if isStatus(err, 412) || isStatus(err, 404) {
		return nil, &HeldError{Owner: "(taken meanwhile)", Expires: time.Now().Add(ttl)}
	}
	if err != nil {
		return nil, fmt.Errorf("take over lease %s/%s: %w", integration, family, err)
	}
	l.etag = upd.ETag
	return l, nil
}

// Renew extends the lease to now+ttl; ErrLeaseLost if someone else took it.
func (s *Store) Renew(ctx context.Context, l *Lease, ttl time.Duration) error {
	next := *l
	next.Expires = time.Now().Add(ttl)
	b, err := leaseEntity(&next)
	if err != nil {
		return err
	}
	etag := l.etag
	resp, err := s.leases.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if isStatus(err, 412) || isStatus(err, 404) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("renew lease %s/%s: %w", l.Integration, l.Family, err)
	}
	l.Expires, l.etag = next.Expires, resp.ETag
	return nil
}

// Release gives the lease up (only if still ours).
func (s *Store) Release(ctx context.Context, l *Lease) error {
	etag := l.etag
	_, err := s.leases.DeleteEntity(ctx, l.Integration, l.Family, &aztables.DeleteEntityOptions{IfMatch: &etag})
	if err != nil && !isStatus(err, 412) && !isStatus(err, 404) {
		return fmt.Errorf("release lease %s/%s: %w", l.Integration, l.Family, err)
	}
	return nil
}

// DropLeases deletes every lease of an integration (its integration was deleted): a worker holding one loses it
// at its next renewal and stops. It returns how many there were.
func (s *Store) DropLeases(ctx context.Context, integration string) (int, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s'", escape(integration))
	pager := s.leases.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: to.Ptr("PartitionKey,RowKey")})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isStatus(err, 404) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("list leases of %s: %w", integration, err)
		}
		for _, b := range page.Entities {
			var e aztables.Entity
			if err := json.Unmarshal(b, &e); err != nil {
				return n, err
			}
			_, err := s.leases.DeleteEntity(ctx, e.PartitionKey, e.RowKey, nil)
			if err != nil && !isStatus(err, 404) {
				return n, fmt.Errorf("drop lease %s/%s: %w", e.PartitionKey, e.RowKey, err)
			}
			n++
		}
	}
	return n, nil
}
