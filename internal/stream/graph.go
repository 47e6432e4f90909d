package stream

import (
	"context"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
)

// The Graph collector and StreamEvents archive the data types with a Graph twin (sign-ins, audits, provisioning)
// into the same hour folders, and between them each record once: the stream archives what it receives, and for a
// data type that streams the Graph collector first reads a bucket an hour after it closed, skipping every id the
// stream archived (internal/collect). What the stream receives later than that — after an outage, from a backlog —
// may already be in Graph's parts; the stream then leaves it out. Diagnostic-log records do not have Graph's shape,
// so the two sources match on the record's id (properties.id is the Graph object's id, reference/eventhub.md §2.3),
// ignoring case.

// FallbackSlack is how much later than the Graph object's time a streamed record's own time may be when it comes
// from the record's top-level `time` (a processing time, a minute or two after the event) instead of the Graph
// time field: Graph's record may then sit in the hour before.
const FallbackSlack = 10 * time.Minute

// graphIndex caches, for one batch, the ids of Graph's parts of each hour folder it looked at.
type graphIndex map[string]map[string]struct{}

// graphHas reports whether Graph's parts in the record's hour folder (and the hour before, when the record's time
// is not its Graph time field's and may be a few minutes later) hold the record's id.
func (a *Archiver) graphHas(ctx context.Context, idx graphIndex, integration string, route Route, rec Record) (bool, error) {
	if rec.ID == "" {
		return false, nil
	}
	id := strings.ToLower(rec.ID)
	hours := []time.Time{rec.Time.UTC().Truncate(time.Hour)}
	if !strings.EqualFold(strings.TrimPrefix(rec.TimeFrom, "properties."), route.TimeField) {
		if prev := rec.Time.Add(-FallbackSlack).UTC().Truncate(time.Hour); !prev.Equal(hours[0]) {
			hours = append(hours, prev)
		}
	}
	for _, h := range hours {
		ids, err := a.graphIDs(ctx, idx, integration, route.DataType, h)
		if err != nil {
			return false, err
		}
		if _, ok := ids[id]; ok {
			return true, nil
		}
	}
	return false, nil
}

// graphIDs returns the ids (in lower case) of the records in Graph's parts of one hour folder.
func (a *Archiver) graphIDs(ctx context.Context, idx graphIndex, integration, dataType string, hour time.Time) (map[string]struct{}, error) {
	folder := archive.HourFolder(integration, dataType, hour)
	if ids, ok := idx[folder]; ok {
		return ids, nil
	}
	names, err := a.store.HourParts(ctx, integration, dataType, hour, false)
	if err != nil {
		return nil, err
	}
	key := "id"
	if d, ok := catalog.Lookup(dataType); ok && d.DedupKey != "" {
		key = d.DedupKey
	}
	ids := map[string]struct{}{}
	for _, name := range names {
		if err := a.store.ReadKeys(ctx, name, key, func(k string) { ids[strings.ToLower(k)] = struct{}{} }); err != nil {
			return nil, err
		}
	}
	idx[folder] = ids
	return ids, nil
}
