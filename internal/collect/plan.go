package collect

import (
	"fmt"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
)

// Options tune collection. Zero values mean the defaults in parentheses.
type Options struct {
	// Lag: a bucket is first read once it ended this long ago (10 min).
	Lag time.Duration
	// Resweeps: a bucket is read again this long after it closed, for late events (1h, 6h, 24h, 48h).
	Resweeps []time.Duration
	// BackfillDays bounds the first run's backfill (30); the tenant's retention bounds it too.
	BackfillDays int
	// Concurrency is how many windows a worker reads at once (4).
	Concurrency int
	// TargetRecords is the number of records a window aims at (20,000 = 20 pages of sign-ins).
	TargetRecords int
	// MaxWindow bounds a window's length (7 days).
	MaxWindow time.Duration
	// FirstWindow is the length of a data type's windows until its density is known (1 day): long enough for a
	// small tenant's whole day, short enough that a large one's first window stays near TargetRecords instead of
	// holding a week of records in memory.
	FirstWindow time.Duration
	// LeaseTTL is how long a lease lasts without renewal (60 s); it is renewed every third of that.
	LeaseTTL time.Duration
	// StopBefore: no window starts when less than this is left before the invocation's deadline (2 min).
	StopBefore time.Duration
	// CommitBefore: windows still running this long before the deadline are abandoned (30 s).
	CommitBefore time.Duration
	// Attempts is how often one data type's window may fail in a run before the data type waits for the next
	// run (3); a not-licensed answer is also retried that often (Graph answers it intermittently).
	Attempts int
	// RetryBase is the first back-off between those attempts (2 s), doubling.
	RetryBase time.Duration
	// SkipFor is how long a not-licensed or missing-permission data type is left alone (24 h).
	SkipFor time.Duration
	// MaxGeneration bounds a chain of continuations (1000); the timer plans afresh anyway.
	MaxGeneration int
	// RoundPart is the number of records after which a round commits its part and checkpoints (20,000).
	RoundPart int
	// FullEvery, when set, is the longest time between full delta rounds, overriding the catalog's (7 days).
	FullEvery time.Duration
	// DeltaMaxAge is the age at which a deltaLink is given up for a full round (6 days; Graph keeps them 7).
	DeltaMaxAge time.Duration
	// RoundGap is the shortest time between two delta rounds of a data type (1 min): two work items planned
	// together run one round.
	RoundGap time.Duration
	// StreamWindow: a log data type streams while StreamEvents archived records of it with event times this
	// recent (24 h); Graph then reads its buckets first at the first re-sweep delay and only fills the stream's
	// gaps. Negative: no data type is ever treated as streaming.
	StreamWindow time.Duration
}

func (o Options) withDefaults() Options {
	if o.Lag == 0 {
		o.Lag = 10 * time.Minute
	}
	if o.Resweeps == nil {
		o.Resweeps = []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 48 * time.Hour}
	}
	if o.BackfillDays == 0 {
		o.BackfillDays = 30
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.TargetRecords == 0 {
		o.TargetRecords = 20000
	}
	if o.MaxWindow == 0 {
		o.MaxWindow = 7 * 24 * time.Hour
	}
	if o.FirstWindow == 0 {
		o.FirstWindow = 24 * time.Hour
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = time.Minute
	}
	if o.StopBefore == 0 {
		o.StopBefore = 2 * time.Minute
	}
	if o.CommitBefore == 0 {
		o.CommitBefore = 30 * time.Second
	}
	if o.Attempts == 0 {
		o.Attempts = 3
	}
	if o.RetryBase == 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.SkipFor == 0 {
		o.SkipFor = 24 * time.Hour
	}
	if o.MaxGeneration == 0 {
		o.MaxGeneration = 1000
	}
	if o.RoundPart == 0 {
		o.RoundPart = 20000
	}
	if o.DeltaMaxAge == 0 {
		o.DeltaMaxAge = 6 * 24 * time.Hour
	}
	if o.RoundGap == 0 {
		o.RoundGap = time.Minute
	}
	if o.StreamWindow == 0 {
		o.StreamWindow = 24 * time.Hour
	}
	return o
}

// defaultStreamLag is how long after a bucket closes Graph first reads it for a streaming data type when no
// re-sweeps are configured.
const defaultStreamLag = time.Hour

// Streaming reports whether a data type whose newest streamed record has event time lastStreamed streams at now:
// StreamEvents archived records of it within StreamWindow.
func (o Options) Streaming(lastStreamed, now time.Time) bool {
	o = o.withDefaults()
	return o.StreamWindow > 0 && !lastStreamed.IsZero() && now.Sub(lastStreamed) < o.StreamWindow
}

// ForStreaming returns the options of a data type that streams: a bucket is first read at the first re-sweep
// delay (an hour by default; the lag when that is longer), when the stream has long delivered it — Graph's read
// then fills the stream's gaps instead of racing it — and that first read stands for the first re-sweep (see
// advanceResweeps). Backfill and the later re-sweeps are unchanged.
func (o Options) ForStreaming() Options {
	o = o.withDefaults()
	lag := defaultStreamLag
	if len(o.Resweeps) > 0 {
		lag = o.Resweeps[0]
	}
	o.Lag = max(o.Lag, lag)
	return o
}

// Task kinds, in priority order inside a worker: a log stream's fresh buckets, due re-sweeps, backfill; a delta
// round is fresh, a snapshot due at its cadence a re-sweep, a full round a backfill.
type kind int

const (
	fresh kind = iota
	resweep
	backfill
)

func (k kind) String() string {
	return [...]string{"initial", "resweep", "backfill"}[k]
}

// task is one unit of work of one data type: a window of buckets [from, to), or a round (round set).
type task struct {
	dt       catalog.DataType
	kind     kind
	level    int // re-sweep level, for kind resweep
	from, to time.Time
	// round names a round task ("delta", "full", "snapshot", or "resume" for the round in progress); from is the
	// round's start; why says why a full round is read.
	round string
	why   string
	// stream says whether the data type streams (Graph fills the stream's gaps) and whether the stream ever
	// delivered it (the window skips the ids it archived).
	stream streamState
}

// streamState is what StreamEvents does for a log data type, as a run sees it at its start.
type streamState struct {
	// streaming: the stream archived records of it within Options.StreamWindow; Graph reads it as a gap-filler.
	streaming bool
	// streamed: the stream archived records of it at some time; Graph's windows skip the ids it archived.
	streamed bool
}

// label names the pass in blob metadata: "initial" ("gapfill" for a data type that streams), "backfill",
// "resweep+1h0m0s", or the round's name.
func (t task) label(o Options) string {
	switch {
	case t.round != "":
		return t.round
	case t.kind == fresh && t.stream.streaming:
		return "gapfill"
	case t.kind == resweep:
		return "resweep+" + o.Resweeps[t.level].String()
	}
	return t.kind.String()
}

// unit names what a task reads, for messages: "window" or "round".
func (t task) unit() string {
	if t.round != "" {
		return "round"
	}
	return "window"
}

// span names the task's range, for messages and run errors: the window's buckets, or the round's start.
func (t task) span() string {
	if t.round != "" {
		return t.from.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s–%s", t.from.Format("2006-01-02T15:04Z"), t.to.Format("2006-01-02T15:04Z"))
}

// floor aligns t down to a multiple of d since the Unix epoch in UTC (buckets divide days, so they align to UTC
// midnight).
func floor(t time.Time, d time.Duration) time.Time {
	return t.UTC().Truncate(d)
}

// horizon is the end of the last bucket that may be read at now: it ended at least lag ago.
func horizon(dt catalog.DataType, now time.Time, o Options) time.Time {
	return floor(now.Add(-o.Lag), dt.Buckets.Bucket)
}

// retentionFloor is the oldest bucket start the tenant still keeps at now: older data is gone, so backfill stops
// there even if it has not reached its target yet.
func retentionFloor(dt catalog.DataType, now time.Time, premium bool) time.Time {
	return floor(now.Add(-time.Duration(dt.Retention(premium))*24*time.Hour), dt.Buckets.Bucket)
}

// initCursor starts a data type's range at now: nothing archived yet ([Low, High) empty at the horizon), backfill
// down to the retention floor, re-sweep levels at their due horizons (buckets before them will only be read after
// they are due anyway).
func initCursor(c *cursor.Cursor, dt catalog.DataType, now time.Time, premium bool, o Options) {
	h := horizon(dt, now, o)
	c.Low, c.High = h, h
	days := min(dt.Retention(premium), o.BackfillDays)
	c.Target = minTime(floor(now.Add(-time.Duration(days)*24*time.Hour), dt.Buckets.Bucket), h)
	c.Resweep = make([]time.Time, len(o.Resweeps))
	for k, d := range o.Resweeps {
		c.Resweep[k] = minTime(floor(now.Add(-d), dt.Buckets.Bucket), h)
	}
}

// advanceResweeps moves each re-sweep watermark past buckets that need no re-sweep at that level: those below Low
// will be backfilled after they are due, those at or after High will be read fresh after they are due — either
// way late enough. It reports whether anything moved.
func advanceResweeps(c *cursor.Cursor, dt catalog.DataType, now time.Time, o Options) bool {
	if len(c.Resweep) != len(o.Resweeps) {
		// The configured levels changed: start the new list at the due horizons, like a new cursor.
		old := c.Resweep
		c.Resweep = make([]time.Time, len(o.Resweeps))
		for k, d := range o.Resweeps {
			c.Resweep[k] = minTime(floor(now.Add(-d), dt.Buckets.Bucket), c.High)
			if k < len(old) && old[k].After(c.Resweep[k]) {
				c.Resweep[k] = old[k]
			}
		}
	}
	moved := false
	for k, d := range o.Resweeps {
		due := floor(now.Add(-d), dt.Buckets.Bucket)
		rw := c.Resweep[k]
		if rw.Before(c.Low) {
			rw = minTime(c.Low, due)
		}
		if !rw.Before(c.High) && due.After(rw) {
			rw = due
		}
		if !rw.Equal(c.Resweep[k]) {
			c.Resweep[k], moved = rw, true
		}
	}
	return moved
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// dueTasks returns the data type's due windows at now, at most span long each, most urgent first: fresh buckets
// (from High up to the horizon), the first due re-sweep level (from its watermark up), then backfill (from Low
// down to the target, newest first). The three touch disjoint buckets — [High, …), [Low, High) and […, Low) —
// so one of each kind may run at a time.
func dueTasks(c *cursor.Cursor, dt catalog.DataType, now time.Time, premium bool, span time.Duration, o Options) []task {
	span = max(dt.Buckets.Bucket, span.Truncate(dt.Buckets.Bucket))
	var out []task
	if h := horizon(dt, now, o); c.High.Before(h) {
		out = append(out, task{dt: dt, kind: fresh, from: c.High, to: minTime(h, c.High.Add(span))})
	}
	for k, d := range o.Resweeps {
		due := minTime(floor(now.Add(-d), dt.Buckets.Bucket), c.High)
		from := c.Resweep[k]
		if from.Before(c.Low) {
			from = c.Low
		}
		if from.Before(due) {
			out = append(out, task{dt: dt, kind: resweep, level: k, from: from, to: minTime(due, from.Add(span))})
			break
		}
	}
	floorAt := c.Target
	if rf := retentionFloor(dt, now, premium); rf.After(floorAt) {
		floorAt = rf
	}
	if floorAt.Before(c.Low) {
		from := c.Low.Add(-span)
		if from.Before(floorAt) {
			from = floorAt
		}
		out = append(out, task{dt: dt, kind: backfill, from: from, to: c.Low})
	}
	return out
}

// Backlog counts the buckets of a data type still to read at now: fresh ones up to the horizon, due re-sweeps and
// the backfill left.
func Backlog(c *cursor.Cursor, dt catalog.DataType, now time.Time, premium bool, o Options) int {
	o = o.withDefaults()
	if !c.Started() {
		return 0
	}
	n := 0
	count := func(from, to time.Time) {
		if to.After(from) {
			n += int(to.Sub(from) / dt.Buckets.Bucket)
		}
	}
	count(c.High, horizon(dt, now, o))
	for k, d := range o.Resweeps {
		if k < len(c.Resweep) {
			from := c.Resweep[k]
			if from.Before(c.Low) {
				from = c.Low
			}
			count(from, minTime(floor(now.Add(-d), dt.Buckets.Bucket), c.High))
		}
	}
	floorAt := c.Target
	if rf := retentionFloor(dt, now, premium); rf.After(floorAt) {
		floorAt = rf
	}
	count(floorAt, c.Low)
	return n
}

// apply records a finished window in the cursor.
func (t task) apply(c *cursor.Cursor) {
	switch t.kind {
	case fresh:
		c.High = t.to
	case backfill:
		c.Low = t.from
	case resweep:
		// A watermark only moves forward.
		if t.to.After(c.Resweep[t.level]) {
			c.Resweep[t.level] = t.to
		}
	}
}
