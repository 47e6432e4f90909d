package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Intent states.
const (
	// statePending: a request holds the key (its lease runs) and may be changing the tenant.
	statePending = "pending"
	// stateFailed: the request ended with changes failed or left to make; the next one with the key resumes.
	stateFailed = "failed"
	// stateDone: the outcome is final; requests with the key get it back.
	stateDone = "done"
)

// intent is the durable record of one Idempotency-Key: what was asked, who holds it, what is planned and what
// was already changed, and the final reply. It is written before the first change and after each one.
type intent struct {
	Scope       string `json:"scope"`
	Key         string `json:"key"`
	Hash        string `json:"hash"`
	Action      Action `json:"action"`
	Integration string `json:"integration"`
	Requested   string `json:"requested"`
	// First is the request that created the record, Owner the one holding it now, FinishedBy the one that
	// wrote the final reply.
	First      string    `json:"first"`
	Owner      string    `json:"owner"`
	FinishedBy string    `json:"finishedBy,omitempty"`
	Created    time.Time `json:"created"`
	LeaseUntil time.Time `json:"leaseUntil"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	// Plan is recorded before the first change; Done lists the changes made, each recorded after it was made.
	Plan *planRecord `json:"plan,omitempty"`
	Done []Step      `json:"done,omitempty"`
	// Reply is the final answer (stateDone).
	Reply *storedReply `json:"reply,omitempty"`

	etag azcore.ETag
}

// planRecord is what the first attempt saw and meant to do.
type planRecord struct {
	TargetID   string `json:"targetId"`
	TargetUPN  string `json:"targetUpn"`
	TargetType string `json:"targetType"`
	// SessionsBefore is signInSessionsValidFromDateTime before revoke-sessions.
	SessionsBefore *time.Time `json:"sessionsBefore,omitempty"`
	// Methods are the methods reset-mfa set out to delete.
	Methods []Method `json:"methods,omitempty"`
	Steps   []Step   `json:"steps"`
}

type storedReply struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// Intents keeps the intent records in a table (default "remediations"), one row per caller and key.
type Intents struct {
	svc  *aztables.ServiceClient
	tbl  *aztables.Client
	name string
}

// NewIntents returns the store on the named table ("" for "remediations"). It makes no network call.
func NewIntents(svc *aztables.ServiceClient, table string) *Intents {
	if table == "" {
		table = "remediations"
	}
	return &Intents{svc: svc, tbl: svc.NewClient(table), name: table}
}

// Ensure creates the table if needed.
func (s *Intents) Ensure(ctx context.Context) error {
	if _, err := s.svc.CreateTable(ctx, s.name, nil); err != nil && !tableExists(err) {
		return fmt.Errorf("create table %s: %w", s.name, err)
	}
	return nil
}

const intentPartition = "key"

// errIntentChanged means the record is not the version this request read: another request took the key.
var errIntentChanged = errors.New("the Idempotency-Key was taken over by another request")

// errIntentExists means a record for the key appeared meanwhile.
var errIntentExists = errors.New("a request with this Idempotency-Key started meanwhile")

func intentRow(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\n" + key))
	return hex.EncodeToString(sum[:20])
}

func (s *Intents) entity(in *intent) ([]byte, error) {
	doc, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return json.Marshal(aztables.EDMEntity{
		Entity: aztables.Entity{PartitionKey: intentPartition, RowKey: intentRow(in.Scope, in.Key)},
		Properties: map[string]any{
			"State": in.State, "Created": aztables.EDMDateTime(in.Created.UTC()), "Document": string(doc),
		},
	})
}

func decodeIntent(raw []byte, etag azcore.ETag) (*intent, error) {
	var row struct {
		Document string `json:"Document"`
	}
	var in intent
	if json.Unmarshal(raw, &row) != nil || json.Unmarshal([]byte(row.Document), &in) != nil {
		return nil, errors.New("remediation intent: not an intent document")
	}
	in.etag = etag
	return &in, nil
}

// get reads the record of a caller's key; nil when there is none.
func (s *Intents) get(ctx context.Context, scope, key string) (*intent, error) {
	resp, err := s.tbl.GetEntity(ctx, intentPartition, intentRow(scope, key), nil)
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Idempotency-Key record: %w", err)
	}
	return decodeIntent(resp.Value, resp.ETag)
}

// insert writes a new record; errIntentExists if one appeared meanwhile.
func (s *Intents) insert(ctx context.Context, in *intent) error {
	b, err := s.entity(in)
	if err != nil {
		return err
	}
	resp, err := s.tbl.AddEntity(ctx, b, nil)
	if isStatus(err, http.StatusConflict) {
		return errIntentExists
	}
	if err != nil {
		return fmt.Errorf("write Idempotency-Key record: %w", err)
	}
	in.etag = resp.ETag
	return nil
}

// replace overwrites the record this request read (its ETag); errIntentChanged if it changed meanwhile.
func (s *Intents) replace(ctx context.Context, in *intent) error {
	b, err := s.entity(in)
	if err != nil {
		return err
	}
	etag := in.etag
	resp, err := s.tbl.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if isStatus(err, http.StatusPreconditionFailed, http.StatusNotFound) {
		return errIntentChanged
	}
	if err != nil {
		return fmt.Errorf("write Idempotency-Key record: %w", err)
	}
	in.etag = resp.ETag
	return nil
}

// remove deletes the record this request read, so the key is free again (nothing was changed).
func (s *Intents) remove(ctx context.Context, in *intent) error {
	etag := in.etag
	_, err := s.tbl.DeleteEntity(ctx, intentPartition, intentRow(in.Scope, in.Key), &aztables.DeleteEntityOptions{IfMatch: &etag})
	if err != nil && !isStatus(err, http.StatusNotFound, http.StatusPreconditionFailed) {
		return fmt.Errorf("free Idempotency-Key record: %w", err)
	}
	return nil
}

// unfinished lists the records that are not done (a request holds them, or one failed or died), created after
// since.
func (s *Intents) unfinished(ctx context.Context, since time.Time) ([]*intent, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s' and State ne '%s' and Created ge datetime'%s'", intentPartition, stateDone,
		since.UTC().Format(time.RFC3339))
	pager := s.tbl.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []*intent
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isStatus(err, http.StatusNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list Idempotency-Key records: %w", err)
		}
		for _, raw := range page.Entities {
			in, err := decodeIntent(raw, "")
			if err != nil {
				return nil, err
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// purge deletes up to max records created before before (keys are kept for 24 hours).
func (s *Intents) purge(ctx context.Context, before time.Time, max int32) error {
	filter := fmt.Sprintf("PartitionKey eq '%s' and Created lt datetime'%s'", intentPartition, before.UTC().Format(time.RFC3339))
	pager := s.tbl.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: to.Ptr("PartitionKey,RowKey"), Top: &max})
	if !pager.More() {
		return nil
	}
	page, err := pager.NextPage(ctx)
	if err != nil {
		return err
	}
	for _, raw := range page.Entities {
		var e aztables.Entity
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		if _, err := s.tbl.DeleteEntity(ctx, e.PartitionKey, e.RowKey, nil); err != nil && !isStatus(err, http.StatusNotFound) {
			return err
		}
	}
	return nil
}

// claim is a request's hold on its key: every write goes through it with the record's ETag, and a heartbeat
// renews the lease. When a write finds the record changed (another request took the key over, which happens only
// after the lease expired), lost is called: the request must stop changing the tenant.
type claim struct {
	store *Intents
	ttl   time.Duration
	now   func() time.Time
	lost  func()

	mu  sync.Mutex
	rec *intent
}

// update applies fn to a copy of the record and writes it; the copy becomes the record only once written.
func (c *claim) update(ctx context.Context, fn func(*intent)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := *c.rec
	fn(&next)
	next.LeaseUntil = c.now().Add(c.ttl)
	if err := c.store.replace(ctx, &next); err != nil {
		if errors.Is(err, errIntentChanged) {
			c.lost()
		}
		return err
	}
	c.rec = &next
	return nil
}

// record returns a copy of the current record.
func (c *claim) record() intent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.rec
}

// heartbeat renews the lease every third of its time until ctx ends.
func (c *claim) heartbeat(ctx context.Context) {
	t := time.NewTicker(c.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.update(ctx, func(*intent) {}); errors.Is(err, errIntentChanged) {
				return
			}
		}
	}
}
