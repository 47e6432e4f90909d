package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/internal/storage"
)

// ActivityTable is the table in which StreamEvents counts what it archived, per integration and data type.
const ActivityTable = "streamactivity"

// Activity counts the records StreamEvents archived, per integration and data type, and remembers the newest event
// time among them: the Graph collector reads it to learn which data types stream (and then only fills the stream's
// gaps), Status to show how many records the stream delivered.
//
// One row per (integration, event hub partition, data type): PartitionKey the integration, RowKey
// "<hub>-p<partition>|<data type>". A row also holds the position (enqueued time, sequence number) of the last event
// it counted, and a batch adds only the records of events after it: a batch delivered again — after a failure, a
// restart, a lost checkpoint — is not counted twice, and a recreated hub, whose sequence numbers start again, counts
// from its later enqueued times. Only the partition's owner writes its rows, each update with its ETag.
type Activity struct {
	table *aztables.Client
	svc   *aztables.ServiceClient
	name  string
}

// NewActivity returns the activity counters in the named table (ActivityTable when empty).
func NewActivity(svc *aztables.ServiceClient, table string) *Activity {
	if table == "" {
		table = ActivityTable
	}
	return &Activity{table: svc.NewClient(table), svc: svc, name: table}
}

// Ensure creates the table if needed.
func (a *Activity) Ensure(ctx context.Context) error {
	return storage.EnsureTable(ctx, a.svc, a.name)
}

// DataTypeActivity is what the stream archived of one data type of one integration.
type DataTypeActivity struct {
	// Records is the number of records archived (each distinct content once).
	Records int64
	// LastEvent is the newest event time among them.
	LastEvent time.Time
}

// Count is what one event added to one data type of one integration: records archived and their newest event
// time.
type Count struct {
	Integration, DataType string
	Records               int
	Newest                time.Time
	// Sequence and Enqueued are the event's position in its partition.
	Sequence int64
	Enqueued time.Time
}

// position is an event's place in its partition: enqueued time first (a recreated hub restarts its sequence
// numbers), then sequence number.
type position struct {
	enqueued time.Time
	sequence int64
}

func (p position) after(q position) bool {
	if !p.enqueued.Equal(q.enqueued) {
		return p.enqueued.After(q.enqueued)
	}
	return p.sequence > q.sequence
}

type activityRow struct {
	Records   int64
	LastEvent time.Time
	Through   position
	etag      azcore.ETag
	exists    bool
}

// activityAttempts bounds the retries of one integration's update when an ETag check fails (two instances owning
// the same partition for a moment, during a rebalance).
const activityAttempts = 5

// Add counts a batch's archived records (counts of events of one partition of hub). Events at or before a row's
// last counted position are skipped. An error means the batch must fail: it is delivered again, and counted then.
func (a *Activity) Add(ctx context.Context, hub Hub, counts []Count) error {
	byIntegration := map[string][]Count{}
	var order []string
	last := position{}
	for _, c := range counts {
		if _, ok := byIntegration[c.Integration]; !ok {
			order = append(order, c.Integration)
		}
		byIntegration[c.Integration] = append(byIntegration[c.Integration], c)
		if p := (position{c.Enqueued.UTC(), c.Sequence}); p.after(last) {
			last = p
		}
	}
	prefix := hubPartitionKey(hub)
	for _, integ := range order {
		var err error
		for attempt := 0; attempt < activityAttempts; attempt++ {
			var retry bool
			retry, err = a.add(ctx, integ, prefix, byIntegration[integ], last)
			if err == nil || !retry {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// add applies one integration's counts in one entity group transaction; retry is true when an ETag check failed.
func (a *Activity) add(ctx context.Context, integ, prefix string, counts []Count, last position) (retry bool, err error) {
	rows, err := a.rows(ctx, integ, prefix)
	if err != nil {
		return false, err
	}
	changed := map[string]*activityRow{}
	for _, c := range counts {
		rk := prefix + "|" + keySafe(c.DataType)
		row := rows[rk]
		if row == nil {
			row = &activityRow{}
			rows[rk] = row
		}
		if !(position{c.Enqueued.UTC(), c.Sequence}).after(row.Through) {
			continue // counted by an earlier delivery
		}
		row.Records += int64(c.Records)
		if c.Newest.After(row.LastEvent) {
			row.LastEvent = c.Newest.UTC()
		}
		changed[rk] = row
	}
	if len(changed) == 0 {
		return false, nil
	}
	keys := make([]string, 0, len(changed))
	for rk := range changed {
		keys = append(keys, rk)
	}
	sort.Strings(keys)
	actions := make([]aztables.TransactionAction, 0, len(keys))
	for _, rk := range keys {
		row := changed[rk]
		if last.after(row.Through) {
			row.Through = last
		}
		props := map[string]any{
			"Records":         aztables.EDMInt64(row.Records),
			"ThroughSequence": aztables.EDMInt64(row.Through.sequence),
		}
		if !row.LastEvent.IsZero() {
			props["LastEvent"] = aztables.EDMDateTime(row.LastEvent)
		}
		if !row.Through.enqueued.IsZero() {
			props["ThroughEnqueued"] = aztables.EDMDateTime(row.Through.enqueued)
		}
		b, err := json.Marshal(aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: integ, RowKey: rk}, Properties: props})
		if err != nil {
			return false, err
		}
		act := aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: b}
		if row.exists {
			etag := row.etag
			act = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: b, IfMatch: &etag}
		}
		actions = append(actions, act)
	}
	for start := 0; start < len(actions); start += transactionMax {
		if _, err := a.table.SubmitTransaction(ctx, actions[start:min(start+transactionMax, len(actions))], nil); err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) && (re.StatusCode == http.StatusPreconditionFailed || re.StatusCode == http.StatusConflict) {
				return true, fmt.Errorf("count streamed records of %s in %s: %w", integ, a.name, err)
			}
			return false, fmt.Errorf("count streamed records of %s in %s: %w", integ, a.name, err)
		}
	}
	return false, nil
}

// rows reads an integration's rows of one event hub partition.
func (a *Activity) rows(ctx context.Context, integ, prefix string) (map[string]*activityRow, error) {
	// '}' follows '|' in ASCII: the range holds exactly the row keys "<prefix>|…".
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey ge '%s|' and RowKey lt '%s}'", quote(integ), quote(prefix), quote(prefix))
	out := map[string]*activityRow{}
	err := a.list(ctx, filter, func(rk string, row *activityRow) { out[rk] = row })
	return out, err
}

// Read returns what the stream archived of each data type of an integration (summed over the event hub
// partitions), by data type. A missing table reads as no activity.
func (a *Activity) Read(ctx context.Context, integration string) (map[string]DataTypeActivity, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s'", quote(integration))
	out := map[string]DataTypeActivity{}
	err := a.list(ctx, filter, func(rk string, row *activityRow) {
		_, dt, ok := cutLast(rk, '|')
		if !ok {
			return
		}
		d := out[dt]
		d.Records += row.Records
		if row.LastEvent.After(d.LastEvent) {
			d.LastEvent = row.LastEvent
		}
		out[dt] = d
	})
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return map[string]DataTypeActivity{}, nil
	}
	return out, err
}

func (a *Activity) list(ctx context.Context, filter string, fn func(rk string, row *activityRow)) error {
	pager := a.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read %s: %w", a.name, err)
		}
		for _, raw := range page.Entities {
			var e aztables.EDMEntity
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("read %s: %w", a.name, err)
			}
			row := &activityRow{exists: true, etag: azcore.ETag(e.ETag)}
			row.Records = int64Prop(e.Properties["Records"])
			row.Through.sequence = int64Prop(e.Properties["ThroughSequence"])
			if t, ok := e.Properties["LastEvent"].(aztables.EDMDateTime); ok {
				row.LastEvent = time.Time(t).UTC()
			}
			if t, ok := e.Properties["ThroughEnqueued"].(aztables.EDMDateTime); ok {
				row.Through.enqueued = time.Time(t).UTC()
			}
			fn(e.RowKey, row)
		}
	}
	return nil
}

func int64Prop(v any) int64 {
	switch x := v.(type) {
	case aztables.EDMInt64:
		return int64(x)
	case int32:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

// hubPartitionKey names an event hub partition in row keys: the hub's hash (as in part names) and the partition.
func hubPartitionKey(hub Hub) string {
	return hubHash(hub) + "-p" + nameSafe(hub.Partition, 16)
}

// quote doubles the single quotes of a value inside an OData string literal.
func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
