package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/storage"
)

// ClaimsTable is the table that remembers which part owns each distinct record content.
const ClaimsTable = "streamclaims"

// Claims remember, per (day, owner, data type) partition, which part archives each distinct record content: the
// row key is the content's hash, the Part column the blob name of the part that holds it. A record is written
// only by the part that owns its claim, so the same content arriving in two events (Entra re-sending a batch, two
// partitions) is archived once, while a sign-in re-published with new content (risk added, MFA merged) has a new
// hash and is archived again.
//
// A claim is inserted before its part is committed and never moves to another part, so an event delivered again
// claims nothing new and rebuilds exactly the part it built before.
type Claims struct {
	table *aztables.Client
	svc   *aztables.ServiceClient
	name  string
}

// NewClaims returns the claims in the named table (ClaimsTable when empty).
func NewClaims(svc *aztables.ServiceClient, table string) *Claims {
	if table == "" {
		table = ClaimsTable
	}
	return &Claims{table: svc.NewClient(table), svc: svc, name: table}
}

// Ensure creates the table if needed.
func (c *Claims) Ensure(ctx context.Context) error {
	return storage.EnsureTable(ctx, c.svc, c.name)
}

func hasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

// Claim asks for one record content for a part.
type Claim struct {
	// Partition and Key are the table's PartitionKey and RowKey.
	Partition, Key string
	// Part is the blob name of the part that wants the record.
	Part string
}

// transactionMax is Table Storage's limit of operations in one entity group transaction.
const transactionMax = 100

// Claim inserts the claims (at most one per Partition+Key) and reports, for each, whether the part it names owns
// the content: the insert succeeded now, or an earlier attempt of the same part made it. Claims of one partition
// go in entity group transactions of up to 100; a transaction that fails (a claim exists already) falls back to
// one insert per claim, and each claim that exists is read to learn its owner.
func (c *Claims) Claim(ctx context.Context, claims []Claim, concurrency int) ([]bool, error) {
	owned := make([]bool, len(claims))
	byPartition := map[string][]int{}
	var order []string
	for i, cl := range claims {
		if _, ok := byPartition[cl.Partition]; !ok {
			order = append(order, cl.Partition)
		}
		byPartition[cl.Partition] = append(byPartition[cl.Partition], i)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for _, pk := range order {
		idx := byPartition[pk]
		for start := 0; start < len(idx); start += transactionMax {
			chunk := idx[start:min(start+transactionMax, len(idx))]
			g.Go(func() error { return c.claimChunk(gctx, claims, chunk, owned) })
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return owned, nil
}

type claimEntity struct {
	PartitionKey string `json:"PartitionKey"`
	RowKey       string `json:"RowKey"`
	Part         string `json:"Part"`
}

func (c *Claims) claimChunk(ctx context.Context, claims []Claim, chunk []int, owned []bool) error {
	actions := make([]aztables.TransactionAction, len(chunk))
	for n, i := range chunk {
		b, err := json.Marshal(claimEntity{claims[i].Partition, claims[i].Key, claims[i].Part})
		if err != nil {
			return err
		}
		actions[n] = aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: b}
	}
	_, err := c.table.SubmitTransaction(ctx, actions, nil)
	if err == nil {
		for _, i := range chunk {
			owned[i] = true
		}
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests {
		// Transport failures, outages and throttling: the invocation fails and the batch comes again.
		return fmt.Errorf("claim records in %s: %w", c.name, err)
	}
	// A claim of the group exists (the transaction's answer does not say which in a form worth relying on): one
	// by one.
	for n, i := range chunk {
		owner, err := c.claimOne(ctx, actions[n].Entity, claims[i])
		if err != nil {
			return err
		}
		owned[i] = owner == claims[i].Part
	}
	return nil
}

// claimOne inserts one claim, or reads the existing one; it returns the owning part. A claim that an insert found
// but a read does not belonged to a transaction that was rolled back meanwhile (Azurite shows a transaction's rows
// before it commits): the insert is tried again.
func (c *Claims) claimOne(ctx context.Context, entity []byte, cl Claim) (string, error) {
	for attempt := 0; ; attempt++ {
		_, err := c.table.AddEntity(ctx, entity, nil)
		if err == nil {
			return cl.Part, nil
		}
		if !hasCode(err, aztables.EntityAlreadyExists) {
			return "", fmt.Errorf("claim record %s/%s in %s: %w", cl.Partition, cl.Key, c.name, err)
		}
		resp, err := c.table.GetEntity(ctx, cl.Partition, cl.Key, nil)
		if hasCode(err, aztables.ResourceNotFound) && attempt < 5 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read claim %s/%s in %s: %w", cl.Partition, cl.Key, c.name, err)
		}
		var e claimEntity
		if err := json.Unmarshal(resp.Value, &e); err != nil {
			return "", fmt.Errorf("read claim %s/%s in %s: %w", cl.Partition, cl.Key, c.name, err)
		}
		return e.Part, nil
	}
}

// dayStamp is the day prefix of a claim partition; partition keys sort by day, so expired days come first.
const dayStamp = "20060102"

// ClaimPartition is the partition of a claim: the record's UTC event day, its owner (an integration id, or the
// quarantined tenant), its data type and a shard of its hash (four shards spread a busy data type's claims over
// four partitions).
func ClaimPartition(day time.Time, owner, dataType string, shard byte) string {
	return fmt.Sprintf("%s|%s|%s|%d", day.UTC().Format(dayStamp), keySafe(owner), keySafe(dataType), shard%claimShards)
}

const claimShards = 4

// keySafe replaces the characters Table Storage refuses in keys ('/', '\\', '#', '?', control characters) and
// the '|' that separates the parts of a partition key.
func keySafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '/', r == '\\', r == '#', r == '?', r == '|', r < 0x20, r >= 0x7f && r < 0xa0:
			return '_'
		}
		return r
	}, s)
}

// Prune deletes up to limit claims that are expired: their event day is before the day of before, and they were
// written before before (a late or re-sent record of an old day keeps its fresh claim for the whole window). It
// returns how many it deleted. A record re-sent after its claim is gone is archived again.
func (c *Claims) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	filter := fmt.Sprintf("PartitionKey lt '%s' and Timestamp lt datetime'%s'", before.UTC().Format(dayStamp), before.UTC().Format(time.RFC3339))
	pager := c.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{
		Filter: &filter, Select: to.Ptr("PartitionKey,RowKey"), Top: to.Ptr(int32(min(limit, 1000))),
	})
	byPartition := map[string][]string{}
	var order []string
	found := 0
	for pager.More() && found < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("list expired claims in %s: %w", c.name, err)
		}
		for _, raw := range page.Entities {
			var e claimEntity
			if err := json.Unmarshal(raw, &e); err != nil {
				return 0, fmt.Errorf("list expired claims in %s: %w", c.name, err)
			}
			if _, ok := byPartition[e.PartitionKey]; !ok {
				order = append(order, e.PartitionKey)
			}
			byPartition[e.PartitionKey] = append(byPartition[e.PartitionKey], e.RowKey)
			if found++; found >= limit {
				break
			}
		}
	}
	deleted := 0
	for _, pk := range order {
		rows := byPartition[pk]
		for start := 0; start < len(rows); start += transactionMax {
			chunk := rows[start:min(start+transactionMax, len(rows))]
			actions := make([]aztables.TransactionAction, len(chunk))
			for n, rk := range chunk {
				b, err := json.Marshal(map[string]string{"PartitionKey": pk, "RowKey": rk})
				if err != nil {
					return deleted, err
				}
				actions[n] = aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: b}
			}
			if _, err := c.table.SubmitTransaction(ctx, actions, nil); err != nil {
				return deleted, fmt.Errorf("delete expired claims in %s: %w", c.name, err)
			}
			deleted += len(chunk)
		}
	}
	return deleted, nil
}
