package stream

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

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

// hourFolder names one hour folder of one data type of one integration.
type hourFolder struct {
	integration, dataType string
	hour                  time.Time
}

// graphLookup finds which records of a batch Graph's parts already hold. The batch's records are added first;
// resolve then reads the Graph parts of each hour folder they touch once, keeping only the ids the batch asks
// for, so its memory is bounded by the batch, not by the hour's records.
type graphLookup struct {
	// want holds, per hour folder, the ids asked for (lower case) and whether Graph's parts hold them.
	want map[hourFolder]map[string]bool
}

func newGraphLookup() *graphLookup { return &graphLookup{want: map[hourFolder]map[string]bool{}} }

// folders are the hour folders in which Graph's copy of rec may be: its hour, and the hour before when the
// record's time is not its Graph time field's and may be a few minutes later.
func graphFolders(integration string, route Route, rec Record) []hourFolder {
	h := rec.Time.UTC().Truncate(time.Hour)
	out := []hourFolder{{integration, route.DataType, h}}
	if !strings.EqualFold(strings.TrimPrefix(rec.TimeFrom, "properties."), route.TimeField) {
		if prev := rec.Time.Add(-FallbackSlack).UTC().Truncate(time.Hour); !prev.Equal(h) {
			out = append(out, hourFolder{integration, route.DataType, prev})
		}
	}
	return out
}

// add asks for a record of a data type with a Graph twin (a record without an id cannot be matched).
func (l *graphLookup) add(integration string, route Route, rec Record) {
	if rec.ID == "" {
		return
	}
	id := strings.ToLower(rec.ID)
	for _, f := range graphFolders(integration, route, rec) {
		if l.want[f] == nil {
			l.want[f] = map[string]bool{}
		}
		l.want[f][id] = false
	}
}

// resolve reads the Graph parts of every hour folder asked for (concurrency folders at once) and marks the ids they
// hold.
func (l *graphLookup) resolve(ctx context.Context, store *archive.Store, concurrency int) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(concurrency)
	for f, ids := range l.want {
		// Each folder's goroutine writes only its own map.
		eg.Go(func() error {
			names, err := store.HourParts(ctx, f.integration, f.dataType, f.hour, false)
			if err != nil {
				return err
			}
			key := "id"
			if d, ok := catalog.Lookup(f.dataType); ok && d.DedupKey != "" {
				key = d.DedupKey
			}
			for _, name := range names {
				err := store.ReadKeys(ctx, name, key, func(k string) {
					k = strings.ToLower(k)
					if _, asked := ids[k]; asked {
						ids[k] = true
					}
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	return eg.Wait()
}

// has reports whether Graph's parts hold the record (after resolve).
func (l *graphLookup) has(integration string, route Route, rec Record) bool {
	if rec.ID == "" {
		return false
	}
	id := strings.ToLower(rec.ID)
	for _, f := range graphFolders(integration, route, rec) {
		if l.want[f][id] {
			return true
		}
	}
	return false
}
