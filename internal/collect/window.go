package collect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/rawjson"
	"github.com/entra-di/edi/internal/stream"
)

// maxOpenParts bounds the parts one window writes at once. Graph returns sign-ins newest first, so records of one
// bucket arrive together; when they do not, a bucket just gets one more part.
const maxOpenParts = 2

// estimateEvery is how many records a window reads between estimates of its size (a page of sign-ins).
const estimateEvery = 1000

// commitConcurrency is how many parts of a window are committed at once.
const commitConcurrency = 8

// maxHeldBytes bounds the compressed bytes a window keeps in memory for closed parts that await their commit
// (small parts are committed with one Put Blob; beyond this budget the oldest are staged as blocks instead).
const maxHeldBytes = 2 << 20

// result is what one task did.
type result struct {
	task       task
	pages      int
	items      int // elements received, duplicates included
	records    int // new records archived
	duplicates int
	streamed   int // records StreamEvents had archived already (left out)
	outside    int // elements outside the window (Graph's filter is looser than the bucket bounds)
	excluded   int // records the integration's exclusions leave out
	parts      int
	requestIDs []string
	err        error
	// shrink, when set, asks for the same range with a window this long (the first one was too large).
	shrink time.Duration
	// more says a round stopped at a checkpoint (the deadline) with pages left.
	more bool
}

// bucketState is one bucket of a window being read.
type bucketState struct {
	start    time.Time
	seen     map[string]struct{}
	nextPart int
	open     Part
	lastUse  int
}

// errTooLarge stops a window that turned out far larger than planned.
var errTooLarge = errors.New("window larger than planned")

// RecordError is a record the collector cannot place: no dedup key, or no readable time.
type RecordError struct {
	DataType, Field, Problem string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s record: field %s %s", e.DataType, e.Field, e.Problem)
}

// readWindow reads the window t: it loads the dedup keys already archived in its buckets (by Graph, and for a data
// type that Event Hubs delivers too the ids StreamEvents archived), pages through Graph,
// writes each new record into its bucket's part, and commits the parts. On any error nothing of the window is
// committed except parts whose commit already succeeded (their records are then skipped as duplicates by the
// next attempt, so nothing is written twice).
func (r *run) readWindow(ctx context.Context, t task) result {
	res := result{task: t}
	dt := t.dt
	n := int(t.to.Sub(t.from) / dt.Buckets.Bucket)
	buckets := make([]*bucketState, n)
	bucket := func(i int) *bucketState {
		if buckets[i] == nil {
			buckets[i] = &bucketState{start: t.from.Add(time.Duration(i) * dt.Buckets.Bucket), seen: map[string]struct{}{}}
		}
		return buckets[i]
	}

	existing, err := r.w.deps.Archive.Parts(ctx, r.integ.ID, dt.Name, t.from, t.to)
	if err != nil {
		res.err = fmt.Errorf("list archived parts: %w", err)
		return res
	}
	// merged holds the keys of compacted hours (archive/compact.go), which cover several buckets, some maybe
	// outside the window; a bucket they cover numbers its new parts from the merged part's number up.
	merged := map[string]struct{}{}
	for start, parts := range existing {
		for _, p := range parts {
			if p.Merged {
				if err := readVersionKeys(ctx, r.w.deps.Archive, p.Name, dt, func(k string) { merged[k] = struct{}{} }); err != nil {
					res.err = fmt.Errorf("read archived keys: %w", err)
					return res
				}
				for at := maxTime(p.BucketStart, t.from); at.Before(p.End()) && at.Before(t.to); at = at.Add(dt.Buckets.Bucket) {
					b := bucket(int(at.Sub(t.from) / dt.Buckets.Bucket))
					b.nextPart = max(b.nextPart, p.Part)
				}
				continue
			}
			b := bucket(int(start.Sub(t.from) / dt.Buckets.Bucket))
			if err := readVersionKeys(ctx, r.w.deps.Archive, p.Name, dt, func(k string) { b.seen[k] = struct{}{} }); err != nil {
				res.err = fmt.Errorf("read archived keys: %w", err)
				return res
			}
			b.nextPart = max(b.nextPart, p.Part+1)
		}
	}

	var closed []Part
	var open []*bucketState
	uses, held, staged := 0, 0, 0
	closePart := func(b *bucketState) error {
		if err := b.open.Close(ctx); err != nil {
			return err
		}
		closed = append(closed, b.open)
		held += b.open.Buffered()
		b.open = nil
		for held > maxHeldBytes && staged < len(closed) {
			p := closed[staged]
			held -= p.Buffered()
			if err := p.Stage(ctx); err != nil {
				return err
			}
			staged++
		}
		return nil
	}
	openPart := func(b *bucketState) (Part, error) {
		uses++
		b.lastUse = uses
		if b.open != nil {
			return b.open, nil
		}
		if len(open) >= maxOpenParts {
			sort.Slice(open, func(i, j int) bool { return open[i].lastUse < open[j].lastUse })
			if err := closePart(open[0]); err != nil {
				return nil, err
			}
			open = open[1:]
		}
		b.open = r.w.deps.Archive.NewPart(archive.Bucket{Integration: r.integ.ID, DataType: dt.Name, Start: b.start, End: b.start.Add(dt.Buckets.Bucket)},
			b.nextPart, "graph", t.label(r.w.opts))
		b.nextPart++
		open = append(open, b)
		return b.open, nil
	}

	var fromStream map[string]struct{}
	if t.stream.streamed {
		if fromStream, err = r.streamKeys(ctx, dt, t.from, t.to); err != nil {
			res.err = fmt.Errorf("read streamed keys: %w", err)
			return res
		}
	}

	keep, err := r.recordFilter(ctx, dt)
	if err != nil {
		res.err = err
		return res
	}
	hardCap := 4 * r.w.opts.TargetRecords
	oldest := t.to
	sum, err := r.g.Pages(ctx, dt.Query(t.from, t.to), func(it graph.Item) error {
		res.items++
		f, err := rawjson.Fields(it.Raw, dt.DedupKey, dt.Buckets.TimeField)
		if err != nil {
			return &RecordError{DataType: dt.Name, Field: dt.DedupKey, Problem: err.Error()}
		}
		key, stamp := f[0], f[1]
		if key == "" {
			return &RecordError{DataType: dt.Name, Field: dt.DedupKey, Problem: "is missing or not a string"}
		}
		// A versioned stream's time field is its version (catalog test): a changed record is a new key.
		key = dt.VersionKey(key, stamp)
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			return &RecordError{DataType: dt.Name, Field: dt.Buckets.TimeField, Problem: fmt.Sprintf("is not a time: %q", stamp)}
		}
		if at.Before(t.from) || !at.Before(t.to) {
			res.outside++
			return nil
		}
		if at.Before(oldest) {
			oldest = at
		}
		if n > 1 && (res.items > hardCap || res.items%estimateEvery == 0) {
			// Estimate the window from the share of it covered so far (Graph sends logs newest first). Checked
			// after every page's worth of records, so a window far larger than planned (a stream's first, before
			// its density is known) is given up after a page or two, not after hardCap records.
			covered := t.to.Sub(oldest)
			est := float64(res.items) * float64(t.to.Sub(t.from)) / float64(max(covered, time.Second))
			if res.items > hardCap || est > float64(hardCap) {
				res.shrink = max(dt.Buckets.Bucket, time.Duration(float64(t.to.Sub(t.from))*float64(r.w.opts.TargetRecords)/max(est, 1)))
				return errTooLarge
			}
		}
		b := bucket(int(at.Sub(t.from) / dt.Buckets.Bucket))
		_, dup := b.seen[key]
		if _, m := merged[key]; dup || m {
			res.duplicates++
			return nil
		}
		if fromStream != nil {
			if _, ok := fromStream[strings.ToLower(key)]; ok {
				res.streamed++
				return nil
			}
		}
		if keep != nil {
			if ok, err := keep(it.Raw); err != nil || !ok {
				res.excluded++
				return err
			}
		}
		b.seen[key] = struct{}{}
		p, err := openPart(b)
		if err != nil {
			return err
		}
		res.records++
		return p.Add(ctx, it.Raw, at, it.RequestID)
	})
	res.pages, res.requestIDs = sum.Pages, sum.RequestIDs
	if err != nil {
		res.err = err
		return res
	}
	for _, b := range open {
		if err := closePart(b); err != nil {
			res.err = err
			return res
		}
	}
	if err := r.ensureLease(); err != nil {
		res.err = err
		return res
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitConcurrency)
	for _, p := range closed {
		g.Go(func() error { return p.Commit(gctx) })
	}
	if err := g.Wait(); err != nil {
		res.err = err
		return res
	}
	res.parts = len(closed)
	return res
}

// streamKeys returns the ids, in lower case, of the records StreamEvents archived for a window [from, to) of a data
// type: those in the stream parts of the hour folders the window touches whose event time (as StreamEvents reads it)
// falls in the window — or up to stream.FallbackSlack after it, where a record without its Graph time field was
// placed by its processing time. Diagnostic-log records do not have Graph's shape; their id (properties.id) is the
// Graph object's, in any case of key and value (reference/eventhub.md §2.3). The set holds about as many keys as the
// window has records, so a window's memory stays bounded.
func (r *run) streamKeys(ctx context.Context, dt catalog.DataType, from, to time.Time) (map[string]struct{}, error) {
	end := to.Add(stream.FallbackSlack)
	timeField := func(string) string { return dt.StreamTimeField() }
	keys := map[string]struct{}{}
	for h := from.UTC().Truncate(time.Hour); h.Before(end); h = h.Add(time.Hour) {
		names, err := r.w.deps.Archive.HourParts(ctx, r.integ.ID, dt.Name, h, true)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			err := r.w.deps.Archive.ReadRecords(ctx, name, func(raw []byte) error {
				rec, err := stream.ReadRecord(raw, time.Time{}, timeField)
				if err != nil {
					return err
				}
				if rec.ID != "" && !rec.Time.Before(from) && rec.Time.Before(end) {
					keys[strings.ToLower(rec.ID)] = struct{}{}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}
