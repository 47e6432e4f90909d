package collect

import (
	"context"
	"errors"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/logging"
)

// bucketCollector collects a log stream in time buckets (catalog.BucketSpec): fresh buckets, re-sweeps for late
// events, backfill newest first, in windows sized from the stream's density. Windows of different kinds read
// disjoint buckets, so one of each kind may run at once; read never touches the cursor.
//
// A data type that streams (StreamEvents archived records of it recently) is read with Options.ForStreaming: a
// bucket is first read an hour after it closed, when the stream has delivered it. Every window of a data type the
// stream ever delivered skips the ids the stream archived (window.go), so Graph only fills the stream's gaps.
type bucketCollector struct {
	r    *run
	dt   catalog.DataType
	cur  *cursor.Cursor
	span time.Duration // window length
	// o are the run's options, ForStreaming when the data type streams.
	o  Options
	st streamState
}

func newBucketCollector(r *run, dt catalog.DataType, c *cursor.Cursor, st streamState) *bucketCollector {
	o := r.w.opts
	b := &bucketCollector{r: r, dt: dt, cur: c, span: o.FirstWindow, o: o, st: st}
	if st.streaming {
		b.o = o.ForStreaming()
	}
	if c.Density > 0 {
		b.span = time.Duration(float64(dt.Buckets.Bucket) * float64(o.TargetRecords) / c.Density)
	}
	b.span = min(max(b.span, dt.Buckets.Bucket), o.MaxWindow)
	return b
}

func (b *bucketCollector) dataType() catalog.DataType { return b.dt }
func (b *bucketCollector) cursor() *cursor.Cursor     { return b.cur }
func (b *bucketCollector) concurrent() bool           { return true }
func (b *bucketCollector) after() []string            { return nil }

// start decides the backfill target from the tenant's retention.
func (b *bucketCollector) start(ctx context.Context, now time.Time) error {
	initCursor(b.cur, b.dt, now, b.r.tenantPremium(ctx), b.o)
	return nil
}

func (b *bucketCollector) due(now time.Time) []task {
	if !b.cur.Started() {
		return nil
	}
	advanceResweeps(b.cur, b.dt, now, b.o)
	tasks := dueTasks(b.cur, b.dt, now, b.r.isPremium(), b.span, b.o)
	for i := range tasks {
		tasks[i].stream = b.st
	}
	return tasks
}

func (b *bucketCollector) read(ctx context.Context, t task) result { return b.r.readWindow(ctx, t) }

// done moves the range and learns the stream's density from the window. While the data type streams, the records
// a first read or a re-sweep archived are the stream's gaps that Graph filled.
func (b *bucketCollector) done(t task, res result, _ time.Time) {
	t.apply(b.cur)
	if t.stream.streaming && t.kind != backfill {
		b.cur.Filled += int64(res.records)
	}
	buckets := float64(t.to.Sub(t.from) / t.dt.Buckets.Bucket)
	d := float64(res.items) / buckets
	if b.cur.Density == 0 {
		b.cur.Density = d
	} else {
		b.cur.Density = (b.cur.Density + d) / 2
	}
}

// failed shrinks the window: at once to the size the too-large window suggested, or by half after a failure, so
// a fault that keeps coming back costs less to retry.
func (b *bucketCollector) failed(t task, res result) bool {
	if errors.Is(res.err, errTooLarge) && res.shrink > 0 {
		b.span = min(b.span/2, res.shrink)
		b.r.log.Info("window too large; shrinking", logging.KeyDataType, t.dt.Name, "span", b.span)
		return true
	}
	if retryable(res.err) {
		b.span = max(t.dt.Buckets.Bucket, b.span/2)
	}
	return false
}

// retryable reports whether a failure is worth a retry of the same work later in the run: not a licence,
// permission or credential answer, not the run's own end.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch graph.KindOf(err) {
	case graph.NotLicensed, graph.MissingPermission, graph.InvalidCredential, graph.SecretUnavailable:
		return false
	}
	return true
}

func (b *bucketCollector) backlog(now time.Time) int {
	if !b.cur.Started() {
		return 0
	}
	return Backlog(b.cur, b.dt, now, b.r.isPremium(), b.o)
}
