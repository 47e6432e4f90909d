package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
)

// Graph is what the worker needs of a Graph client.
type Graph interface {
	Pages(ctx context.Context, first string, item func(graph.Item) error) (graph.Summary, error)
	Stats() map[catalog.Family]graph.FamilyStats
	GrantedRoles(ctx context.Context) ([]string, error)
}

// Deps are the worker's storage.
type Deps struct {
	Cursors *cursor.Store
	Archive *archive.Store
}

// Worker runs work items.
type Worker struct {
	deps Deps
	opts Options
}

// NewWorker returns a worker; nil opts means defaults.
func NewWorker(deps Deps, opts *Options) *Worker {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	return &Worker{deps: deps, opts: o.withDefaults()}
}

// Outcomes of a run.
const (
	OutcomeOK       = "ok"
	OutcomePartial  = "partial"
	OutcomeError    = "error"
	OutcomeSkipped  = "skipped"
	OutcomeDeadline = "deadline"
)

// Result is what a run did; Continue asks for a continuation work item.
type Result struct {
	Run      cursor.Run
	Continue bool
}

// stream is one data type during a run. Only the run's loop goroutine touches it.
type stream struct {
	dt       catalog.DataType
	cur      *cursor.Cursor
	busy     map[kind]bool
	done     bool // stopped for this run (skipped, failed too often, storage error)
	fails    int
	notLic   int
	coolOff  time.Time // real time before which it starts nothing
	span     time.Duration
	progress bool
	stats    cursor.DataTypeRun
}

// run is one execution of a work item.
type run struct {
	w       *Worker
	integ   integrations.Integration
	g       Graph
	now     func() time.Time
	log     *slog.Logger
	premium *bool
	// halted is set once the integration's credential failed: every data type would fail the same way.
	halted bool

	leaseMu  sync.Mutex
	lease    *cursor.Lease
	leaseErr error
	leaseAt  time.Time

	rec cursor.Run
}

// Run executes one work item for integ. now is the data clock (the host's time of the invocation, advancing);
// ctx's deadline is the invocation's. An error means storage failed and the item should be retried; Graph
// failures are recorded in the run and in the cursors instead.
func (w *Worker) Run(ctx context.Context, integ integrations.Integration, item WorkItem, invocation string, g Graph, now func() time.Time) (*Result, error) {
	started := time.Now()
	r := &run{w: w, integ: integ, g: g, now: now, log: logging.From(ctx).With(logging.KeyIntegration, integ.ID, "family", item.Family)}
	r.rec = cursor.Run{Integration: integ.ID, Family: string(item.Family), Invocation: invocation, Reason: item.Reason,
		Started: started, DataTypes: map[string]cursor.DataTypeRun{}}
	before := g.Stats()[item.Family]

	lease, err := w.deps.Cursors.Acquire(ctx, integ.ID, string(item.Family), invocation, w.opts.LeaseTTL)
	var held *cursor.HeldError
	if errors.As(err, &held) {
		r.log.Info("family is being collected by another worker", "owner", held.Owner, "until", held.Expires)
		r.rec.Outcome, r.rec.Finished = OutcomeSkipped, time.Now()
		return &Result{Run: r.rec}, w.deps.Cursors.AddRun(ctx, &r.rec)
	}
	if err != nil {
		return nil, err
	}
	r.lease, r.leaseAt = lease, time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopRenew := r.keepLease(runCtx, cancel)

	cont, loopErr := r.loop(runCtx, item)
	stopRenew()

	after := g.Stats()[item.Family]
	r.rec.Requests, r.rec.Throttled, r.rec.Retries = after.Requests-before.Requests, after.Throttled-before.Throttled, after.Retries-before.Retries
	r.rec.Finished = time.Now()
	r.rec.Continued = cont && item.Generation < w.opts.MaxGeneration
	if r.rec.Outcome == "" {
		r.rec.Outcome = OutcomeOK
		if len(r.rec.Errors) > 0 {
			r.rec.Outcome = OutcomePartial
		}
		if loopErr != nil {
			r.rec.Outcome = OutcomeError
		}
	}
	// Book-keeping uses the parent context: the run's may be cancelled by a lost lease.
	if err := w.deps.Cursors.Release(ctx, lease); err != nil {
		r.log.Warn("release lease", "error", err.Error())
	}
	if err := w.deps.Cursors.AddRun(ctx, &r.rec); err != nil {
		return nil, errors.Join(loopErr, err)
	}
	r.log.Info("run finished", "outcome", r.rec.Outcome, "records", r.rec.Records, "pages", r.rec.Pages,
		"requests", r.rec.Requests, "throttled", r.rec.Throttled, "continue", r.rec.Continued)
	if loopErr != nil {
		return nil, loopErr
	}
	return &Result{Run: r.rec, Continue: r.rec.Continued}, nil
}

// keepLease renews the lease every third of its TTL; losing it cancels the run.
func (r *run) keepLease(ctx context.Context, cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.w.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			r.leaseMu.Lock()
			err := r.w.deps.Cursors.Renew(ctx, r.lease, r.w.opts.LeaseTTL)
			if err == nil {
				r.leaseAt = time.Now()
			} else if errors.Is(err, cursor.ErrLeaseLost) {
				r.leaseErr = err
			}
			r.leaseMu.Unlock()
			if errors.Is(err, cursor.ErrLeaseLost) {
				r.log.Error("lease lost; stopping", "error", err.Error())
				cancel()
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// ensureLease refuses to commit when the lease may have lapsed: lost, or not renewed for longer than its TTL
// minus a safety margin (a paused process must not write after another worker took over).
func (r *run) ensureLease() error {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	if r.leaseErr != nil {
		return r.leaseErr
	}
	if time.Since(r.leaseAt) > r.w.opts.LeaseTTL*3/4 {
		return fmt.Errorf("lease not renewed for %s: %w", time.Since(r.leaseAt).Round(time.Second), cursor.ErrLeaseLost)
	}
	return nil
}

// loop schedules windows until nothing is due or the deadline nears. It reports whether a continuation is
// needed: progress was made and work remains.
func (r *run) loop(ctx context.Context, item WorkItem) (bool, error) {
	o := r.w.opts
	deadline, hasDeadline := ctx.Deadline()
	windowCtx := ctx
	if hasDeadline {
		var cancel context.CancelFunc
		windowCtx, cancel = context.WithDeadline(ctx, deadline.Add(-o.CommitBefore))
		defer cancel()
	}

	var streams []*stream
	for _, dt := range catalog.InFamily(item.Family) {
		if dt.Mode() != catalog.Buckets {
			continue
		}
		c, err := r.w.deps.Cursors.Get(ctx, r.integ.ID, dt.Name)
		if err != nil {
			return false, err
		}
		s := &stream{dt: dt, cur: c, busy: map[kind]bool{}, span: o.FirstWindow}
		if ok, reason := r.integ.Collects(dt); !ok {
			// Not for this integration (its mode, choices or last connectivity test): left alone, and said why.
			s.done = true
			s.stats.State = "not collected: " + reason
		}
		if c.Density > 0 {
			s.span = time.Duration(float64(dt.Buckets.Bucket) * float64(o.TargetRecords) / c.Density)
		}
		s.span = min(max(s.span, dt.Buckets.Bucket), o.MaxWindow)
		if now := r.now(); now.Before(c.SkipUntil) && !s.done {
			s.done = true
			s.stats.State = c.State
		}
		streams = append(streams, s)
	}
	if err := r.start(ctx, streams); err != nil {
		return false, err
	}

	results := make(chan windowResult)
	inflight := 0
	stopped := false
	var storageErr error
	for {
		if !stopped && hasDeadline && time.Until(deadline) < o.StopBefore {
			stopped = true
			r.log.Info("deadline near; no new windows")
		}
		var next *task
		var owner *stream
		var wake time.Duration
		if !stopped && storageErr == nil && inflight < o.Concurrency {
			next, owner, wake = r.choose(streams)
		}
		if next != nil {
			owner.busy[next.kind] = true
			inflight++
			t := *next
			go func() { results <- r.readWindow(windowCtx, t) }()
			continue
		}
		if inflight == 0 {
			if wake > 0 && !stopped && storageErr == nil {
				if err := sleep(ctx, wake); err != nil {
					stopped = true
				}
				continue
			}
			break
		}
		var res windowResult
		if wake > 0 {
			timer := time.NewTimer(wake)
			select {
			case res = <-results:
				timer.Stop()
			case <-timer.C:
				continue
			}
		} else {
			res = <-results
		}
		inflight--
		s := findStream(streams, res.task.dt.Name)
		s.busy[res.task.kind] = false
		if err := r.finish(ctx, s, res); err != nil {
			storageErr = err
		}
	}

	cont := false
	now := r.now()
	for _, s := range streams {
		st := s.stats
		if s.cur.Started() {
			st.Backlog = Backlog(s.cur, s.dt, now, r.isPremium(), o)
		}
		if st.State == "" {
			st.State = s.cur.State
		}
		r.rec.DataTypes[s.dt.Name] = st
		r.rec.Pages += st.Pages
		r.rec.Records += st.Records
		r.rec.Parts += st.Parts
		if s.progress && st.Backlog > 0 && !strings.HasPrefix(st.State, cursor.StateNotLicensed) && !strings.HasPrefix(st.State, cursor.StateMissingPermission) {
			cont = true
		}
	}
	if stopped && cont {
		r.rec.Outcome = OutcomeDeadline
	}
	return cont, storageErr
}

func findStream(streams []*stream, name string) *stream {
	i := slices.IndexFunc(streams, func(s *stream) bool { return s.dt.Name == name })
	return streams[i]
}

// start initialises cursors that were never used, deciding the backfill target from the tenant's licence.
func (r *run) start(ctx context.Context, streams []*stream) error {
	now := r.now()
	for _, s := range streams {
		if s.cur.Started() || s.done {
			continue
		}
		premium := r.tenantPremium(ctx)
		initCursor(s.cur, s.dt, now, premium, r.w.opts)
		if !premium && s.dt.Retention(false) == 0 {
			// The tenant has no P1/P2 (the probe retried Graph's intermittent answer): this data type is not
			// available; say so now and look again in a day.
			s.done = true
			s.cur.State, s.cur.Detail, s.cur.SkipUntil = cursor.StateNotLicensed, s.dt.LicenceText(), now.Add(r.w.opts.SkipFor)
			s.stats.State = cursor.StateNotLicensed + ": " + s.dt.LicenceText()
		}
		if err := r.w.deps.Cursors.Put(ctx, s.cur); err != nil {
			return err
		}
	}
	return nil
}

// isPremium is the tenant's P1/P2 status as far as it is known (true when unknown: the longer retention).
func (r *run) isPremium() bool { return r.premium == nil || *r.premium }

// tenantPremium decides whether the tenant holds Entra ID P1/P2: the integration's answer, or else a probe of the
// sign-in log (retried, because Graph answers the non-premium 403 intermittently on licensed tenants too).
func (r *run) tenantPremium(ctx context.Context) bool {
	if r.premium != nil {
		return *r.premium
	}
	v := true
	switch r.integ.Licence(catalog.EntraP1P2) {
	case integrations.Yes:
	case integrations.No:
		v = false
	default:
		v = r.probePremium(ctx)
	}
	r.premium = &v
	return v
}

var errProbeDone = errors.New("probe done")

func (r *run) probePremium(ctx context.Context) bool {
	for attempt := 1; attempt <= r.w.opts.Attempts; attempt++ {
		_, err := r.g.Pages(ctx, "/beta/auditLogs/signIns?$top=1", func(graph.Item) error { return errProbeDone })
		if err == nil || errors.Is(err, errProbeDone) {
			return true
		}
		if graph.KindOf(err) != graph.NotLicensed {
			// Unknown (e.g. missing permission): assume the longer retention; reading empty windows is harmless.
			return true
		}
		if attempt < r.w.opts.Attempts && sleep(ctx, r.w.opts.RetryBase<<(attempt-1)) != nil {
			return true
		}
	}
	r.log.Info("tenant has no Entra ID P1/P2: sign-ins not licensed, audits kept 7 days")
	return false
}

// choose picks the most urgent window over all streams: fresh before re-sweeps before backfill, and among equals
// the stream that has done least this run. wake, when positive, is how long until a cooling-off stream may go.
func (r *run) choose(streams []*stream) (*task, *stream, time.Duration) {
	now := r.now()
	var best *task
	var owner *stream
	var wake time.Duration
	if r.halted {
		return nil, nil, 0
	}
	for _, s := range streams {
		if s.done {
			continue
		}
		if d := time.Until(s.coolOff); d > 0 {
			if wake == 0 || d < wake {
				wake = d
			}
			continue
		}
		advanceResweeps(s.cur, s.dt, now, r.w.opts)
		for _, t := range dueTasks(s.cur, s.dt, now, r.isPremium(), s.span, r.w.opts) {
			if s.busy[t.kind] {
				continue
			}
			if best == nil || t.kind < best.kind || t.kind == best.kind && s.stats.Windows < owner.stats.Windows {
				tc := t
				best, owner = &tc, s
			}
			break
		}
	}
	return best, owner, wake
}

// finish applies a window's result: on success the cursor moves (only now: the parts are committed); on failure
// the error is recorded and the data type cools off, is retried, or is skipped for a day when not licensed or
// not permitted. It returns an error only when storage failed.
func (r *run) finish(ctx context.Context, s *stream, res windowResult) error {
	t := res.task
	s.stats.Pages += res.pages
	now := r.now()
	bucketName := fmt.Sprintf("%s–%s", t.from.Format("2006-01-02T15:04Z"), t.to.Format("2006-01-02T15:04Z"))
	if res.err == nil {
		s.stats.Windows++
		s.stats.Records += res.records
		s.stats.Parts += res.parts
		s.fails, s.notLic, s.progress = 0, 0, true
		t.apply(s.cur)
		s.cur.Records += int64(res.records)
		s.cur.Parts += int64(res.parts)
		buckets := float64(t.to.Sub(t.from) / t.dt.Buckets.Bucket)
		d := float64(res.items) / buckets
		if s.cur.Density == 0 {
			s.cur.Density = d
		} else {
			s.cur.Density = (s.cur.Density + d) / 2
		}
		s.cur.State, s.cur.Detail, s.cur.LastRun, s.cur.LastSuccess = cursor.StateOK, "", now, now
		if err := r.w.deps.Cursors.Put(ctx, s.cur); err != nil {
			s.done = true
			r.recordError(s, t, bucketName, "", "storage", err)
			return err
		}
		r.log.Debug("window archived", logging.KeyDataType, t.dt.Name, "kind", t.label(r.w.opts), "from", t.from, "to", t.to,
			"records", res.records, "duplicates", res.duplicates, "pages", res.pages, "parts", res.parts)
		return nil
	}
	if errors.Is(res.err, errTooLarge) && res.shrink > 0 {
		s.span = min(s.span/2, res.shrink)
		r.log.Info("window too large; shrinking", logging.KeyDataType, t.dt.Name, "span", s.span)
		return nil
	}
	if errors.Is(res.err, context.Canceled) || errors.Is(res.err, context.DeadlineExceeded) {
		// The deadline or a lost lease: nothing to record against the data type.
		s.done = true
		return nil
	}
	var ge *graph.Error
	requestID := ""
	if errors.As(res.err, &ge) {
		requestID = ge.RequestID
	}
	kind := graph.KindOf(res.err)
	switch {
	case kind == graph.NotLicensed:
		s.notLic++
		if s.notLic < r.w.opts.Attempts {
			s.coolOff = time.Now().Add(r.w.opts.RetryBase << (s.notLic - 1))
			return nil
		}
		s.done = true
		s.cur.State, s.cur.Detail = cursor.StateNotLicensed, t.dt.LicenceText()
		s.cur.SkipUntil = now.Add(r.w.opts.SkipFor)
		s.stats.State = cursor.StateNotLicensed + ": " + t.dt.LicenceText()
	case kind == graph.MissingPermission:
		s.done = true
		missing := t.dt.Permissions
		if roles, err := r.g.GrantedRoles(ctx); err == nil {
			missing = t.dt.Missing(roles)
		}
		s.cur.State, s.cur.Detail = cursor.StateMissingPermission, strings.Join(missing, ", ")
		s.cur.SkipUntil = now.Add(r.w.opts.SkipFor)
		s.stats.State = cursor.StateMissingPermission + ": " + s.cur.Detail
	case kind == graph.InvalidCredential || kind == graph.SecretUnavailable:
		// Every data type would fail the same way: record it once, against this one, and start no more windows.
		s.done, r.halted = true, true
		s.cur.State = cursor.StateError
	default:
		// Read a smaller window next time: fewer pages, less to lose to a fault that keeps coming back.
		s.span = max(t.dt.Buckets.Bucket, s.span/2)
		s.fails++
		if s.fails >= r.w.opts.Attempts {
			s.done = true
		} else {
			s.coolOff = time.Now().Add(r.w.opts.RetryBase << (s.fails - 1))
		}
		s.cur.State = cursor.StateError
	}
	r.recordError(s, t, bucketName, requestID, string(kind), res.err)
	s.cur.LastRun = now
	if err := r.w.deps.Cursors.Put(ctx, s.cur); err != nil {
		s.done = true
		return err
	}
	return nil
}

func (r *run) recordError(s *stream, t task, bucket, requestID, kind string, err error) {
	msg := fmt.Sprintf("%s %s window %s: %v", t.dt.Name, t.label(r.w.opts), bucket, err)
	s.cur.LastError, s.cur.LastErrorAt = msg, r.now()
	r.rec.Errors = append(r.rec.Errors, cursor.RunError{DataType: t.dt.Name, Bucket: bucket, RequestID: requestID, Kind: kind, Message: err.Error()})
	r.log.Warn("window failed", logging.KeyDataType, t.dt.Name, "window", bucket, "kind", kind, "request_id", requestID, "error", err.Error())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
