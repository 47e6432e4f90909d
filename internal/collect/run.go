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

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/stream"
)

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

// collector collects one data type in its mode; the run owns everything the modes share — the lease, the run
// record, the budget (the Graph client), the error policy, the schedule and the deadline. Its methods run on the
// run's loop goroutine, except read, which runs on a goroutine of its own: a collector whose tasks may overlap
// (concurrent) must not touch its cursor in read; one whose tasks may not gets no call until its task is done.
type collector interface {
	dataType() catalog.DataType
	cursor() *cursor.Cursor
	// concurrent reports whether tasks of different kinds may run at once (time buckets: disjoint ranges).
	concurrent() bool
	// start prepares a cursor used for the first time (the run has checked the licences).
	start(ctx context.Context, now time.Time) error
	// due returns the tasks due at now, most urgent first.
	due(now time.Time) []task
	// read performs a task: Graph pages into committed parts.
	read(ctx context.Context, t task) result
	// done applies a task that succeeded to the cursor; the run stores it.
	done(t task, res result, now time.Time)
	// failed adapts to a failed task (a smaller window, a full round after a sync reset). handled means the
	// failure is taken care of and is no error of the data type.
	failed(t task, res result) (handled bool)
	// backlog is the work left at now, in the collector's unit (buckets, rounds).
	backlog(now time.Time) int
	// after names data types whose due work in this run comes first (the users wait for the groups round their
	// exclusions are computed from).
	after() []string
}

// slot is one data type during a run. Only the run's loop goroutine touches it.
type slot struct {
	c        collector
	busy     map[kind]bool
	done     bool // stopped for this run (skipped, failed too often, storage error)
	fails    int
	notLic   int
	coolOff  time.Time // real time before which it starts nothing
	progress bool
	stats    cursor.DataTypeRun
}

func (s *slot) name() string { return s.c.dataType().Name }

func (s *slot) anyBusy() bool {
	for _, b := range s.busy {
		if b {
			return true
		}
	}
	return false
}

// run is one execution of a work item.
type run struct {
	w       *Worker
	integ   integrations.Integration
	g       Graph
	now     func() time.Time
	log     *slog.Logger
	started time.Time // data clock at the start
	premium *bool
	// stopAt is when a long task (a round) checkpoints and stops: the invocation's deadline minus StopBefore.
	stopAt time.Time
	// halted is set once the integration's credential failed: every data type would fail the same way.
	halted bool
	// excluded are the users the integration excludes, computed once per run (exclude.go).
	exclMu   sync.Mutex
	excluded map[string]bool

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
	ctx = logging.Attrs(ctx, logging.KeyIntegration, integ.ID, logging.KeyFamily, item.Family)
	r := &run{w: w, integ: integ, g: g, now: now, log: logging.From(ctx), started: now()}
	r.rec = cursor.Run{Integration: integ.ID, Family: string(item.Family), Invocation: invocation, Reason: item.Reason,
		Started: started, DataTypes: map[string]cursor.DataTypeRun{}}
	before := g.Stats()[item.Family]

	lease, err := w.deps.Leases.Acquire(ctx, integ.ID, string(item.Family), invocation, w.opts.LeaseTTL)
	var held *cursor.HeldError
	if errors.As(err, &held) {
		r.log.Info("family is being collected by another worker", "owner", held.Owner, "until", held.Expires)
		r.rec.Outcome, r.rec.Finished = OutcomeSkipped, time.Now()
		return &Result{Run: r.rec}, w.deps.Runs.AddRun(ctx, &r.rec)
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
	if err := w.deps.Leases.Release(ctx, lease); err != nil {
		r.log.Warn("release lease", "error", err.Error())
	}
	if err := w.deps.Runs.AddRun(ctx, &r.rec); err != nil {
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
			err := r.w.deps.Leases.Renew(ctx, r.lease, r.w.opts.LeaseTTL)
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

// newCollector returns the collector of a data type's mode, or nil for a data type no Graph query collects.
// st says what StreamEvents does for the data type (a log stream).
func (r *run) newCollector(dt catalog.DataType, c *cursor.Cursor, st streamState) collector {
	switch dt.Mode() {
	case catalog.Buckets:
		return newBucketCollector(r, dt, c, st)
	case catalog.Delta, catalog.Snapshot:
		return newRoundCollector(r, dt, c)
	}
	return nil
}

// loop runs the family's data types: their slots, new cursors started, the schedule, and the summary. It reports
// whether a continuation is needed: progress was made and work remains.
func (r *run) loop(ctx context.Context, item WorkItem) (bool, error) {
	streamed, err := r.streamed(ctx, item.Family)
	if err != nil {
		return false, err
	}
	var slots []*slot
	for _, dt := range catalog.InFamily(item.Family) {
		c, err := r.w.deps.Cursors.Get(ctx, r.integ.ID, dt.Name)
		if err != nil {
			return false, err
		}
		act := streamed[dt.Name]
		st := streamState{streaming: r.w.opts.Streaming(act.LastEvent, r.now()), streamed: act.Records > 0}
		col := r.newCollector(dt, c, st)
		if col == nil {
			continue
		}
		s := &slot{c: col, busy: map[kind]bool{}}
		s.stats.Streaming = st.streaming
		if ok, reason := r.integ.Collects(dt); !ok {
			// Not for this integration (its mode, choices or last connectivity test): left alone, and said why.
			s.done = true
			s.stats.State = "not collected: " + reason
		} else if now := r.now(); now.Before(c.SkipUntil) {
			s.done = true
			s.stats.State = c.State
		}
		slots = append(slots, s)
	}
	if err := r.start(ctx, slots); err != nil {
		return false, err
	}
	stopped, err := r.schedule(ctx, slots)
	return r.summarize(slots, stopped), err
}

// streamed reads what StreamEvents archived of the integration's data types, when the family has log streams that
// stream (none without Deps.Streams).
func (r *run) streamed(ctx context.Context, family catalog.Family) (map[string]stream.DataTypeActivity, error) {
	if r.w.deps.Streams == nil {
		return nil, nil
	}
	for _, dt := range catalog.InFamily(family) {
		if dt.Buckets != nil && len(dt.Categories) > 0 {
			return r.w.deps.Streams.Read(ctx, r.integ.ID)
		}
	}
	return nil, nil
}

// schedule starts the most urgent due task whenever fewer than Concurrency run, applies each result as it comes,
// sleeps while every data type cools off, and stops starting tasks StopBefore the deadline; tasks still running
// CommitBefore the deadline are cancelled. It reports whether the deadline stopped it, and returns an error only
// when storage failed.
func (r *run) schedule(ctx context.Context, slots []*slot) (stopped bool, storageErr error) {
	o := r.w.opts
	deadline, hasDeadline := ctx.Deadline()
	taskCtx := ctx
	if hasDeadline {
		var cancel context.CancelFunc
		taskCtx, cancel = context.WithDeadline(ctx, deadline.Add(-o.CommitBefore))
		defer cancel()
		r.stopAt = deadline.Add(-o.StopBefore)
	}
	results := make(chan result)
	inflight := 0
	for {
		if !stopped && hasDeadline && time.Until(deadline) < o.StopBefore {
			stopped = true
			r.log.Info("deadline near; no new tasks")
		}
		var next *task
		var owner *slot
		var wake time.Duration
		if !stopped && storageErr == nil && inflight < o.Concurrency {
			next, owner, wake = r.choose(slots)
		}
		if next != nil {
			owner.busy[next.kind] = true
			inflight++
			t, c := *next, owner.c
			go func() { results <- c.read(taskCtx, t) }()
			continue
		}
		if inflight == 0 {
			if wake > 0 && !stopped && storageErr == nil {
				if err := sleep(ctx, wake); err != nil {
					stopped = true
				}
				continue
			}
			return stopped, storageErr
		}
		var res result
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
		s := findSlot(slots, res.task.dt.Name)
		s.busy[res.task.kind] = false
		if err := r.finish(ctx, s, res); err != nil {
			storageErr = err
		}
	}
}

// summarize records each data type's share in the run record and reports whether a continuation is needed.
func (r *run) summarize(slots []*slot, stopped bool) bool {
	cont := false
	now := r.now()
	for _, s := range slots {
		st := s.stats
		st.Backlog = s.c.backlog(now)
		if st.State == "" {
			st.State = s.c.cursor().State
		}
		r.rec.DataTypes[s.name()] = st
		r.rec.Pages += st.Pages
		r.rec.Records += st.Records
		r.rec.Parts += st.Parts
		if s.progress && st.Backlog > 0 && !parked(st.State) {
			cont = true
		}
	}
	if stopped && cont {
		r.rec.Outcome = OutcomeDeadline
	}
	return cont
}

func parked(state string) bool {
	return strings.HasPrefix(state, cursor.StateNotLicensed) || strings.HasPrefix(state, cursor.StateMissingPermission) ||
		strings.HasPrefix(state, cursor.StateNotAvailable)
}

func findSlot(slots []*slot, name string) *slot {
	i := slices.IndexFunc(slots, func(s *slot) bool { return s.name() == name })
	return slots[i]
}

// start prepares the cursors never used before: a data type whose licence the tenant lacks is parked at once
// (and looked at again in a day); the others are initialised by their collector.
func (r *run) start(ctx context.Context, slots []*slot) error {
	now := r.now()
	for _, s := range slots {
		cur := s.c.cursor()
		if !cur.New() || s.done {
			continue
		}
		dt := s.c.dataType()
		if lic := r.missingLicence(ctx, dt); lic != "" {
			// The integration says no, or the tenant has no P1/P2 (the probe retried Graph's intermittent answer).
			s.done = true
			cur.State, cur.Detail, cur.SkipUntil = cursor.StateNotLicensed, string(lic), now.Add(r.w.opts.SkipFor)
			s.stats.State = cursor.StateNotLicensed + ": " + string(lic)
		} else if err := s.c.start(ctx, now); err != nil {
			return err
		}
		if err := r.w.deps.Cursors.Put(ctx, cur); err != nil {
			return err
		}
	}
	return nil
}

// missingLicence returns a licence the data type needs that the tenant does not hold as far as the run knows: the
// integration's answer "no", or for Entra ID P1/P2 the premium probe. Other licences answered "auto" are left to
// Graph, whose not-licensed answer parks the data type.
func (r *run) missingLicence(ctx context.Context, dt catalog.DataType) catalog.Licence {
	for _, l := range dt.Licences {
		switch r.integ.Licence(l) {
		case integrations.No:
			return l
		case integrations.Auto:
			if l == catalog.EntraP1P2 && !r.tenantPremium(ctx) {
				return l
			}
		}
	}
	return ""
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

// choose picks the most urgent task over all data types: fresh before re-sweeps before backfill, and among equals
// the data type that has done least this run. wake, when positive, is how long until a cooling-off data type may
// go.
func (r *run) choose(slots []*slot) (*task, *slot, time.Duration) {
	now := r.now()
	var best *task
	var owner *slot
	var wake time.Duration
	if r.halted {
		return nil, nil, 0
	}
	for _, s := range slots {
		if s.done {
			continue
		}
		if d := time.Until(s.coolOff); d > 0 {
			if wake == 0 || d < wake {
				wake = d
			}
			continue
		}
		if !s.c.concurrent() && s.anyBusy() || r.waits(s, slots, now) {
			continue
		}
		for _, t := range s.c.due(now) {
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

// waits reports whether a data type must wait for another one of the run that still has work in flight or due.
func (r *run) waits(s *slot, slots []*slot, now time.Time) bool {
	for _, name := range s.c.after() {
		for _, o := range slots {
			if o.name() == name && !o.done && (o.anyBusy() || len(o.c.due(now)) > 0) {
				return true
			}
		}
	}
	return false
}

// finish applies a task's result: on success the collector moves the cursor (only now: the parts are committed)
// and the run stores it; on failure the error is recorded and the data type cools off, is retried, or is parked
// for a day when not licensed or not permitted. It returns an error only when storage failed.
func (r *run) finish(ctx context.Context, s *slot, res result) error {
	t := res.task
	cur := s.c.cursor()
	s.stats.Pages += res.pages
	now := r.now()
	if res.err == nil {
		s.stats.Windows++
		s.stats.Records += res.records
		s.stats.Parts += res.parts
		s.stats.FromStream += res.streamed
		s.fails, s.notLic, s.progress = 0, 0, true
		s.c.done(t, res, now)
		cur.AddRecords(now, int64(res.records))
		cur.Parts += int64(res.parts)
		cur.State, cur.Detail, cur.LastRun, cur.LastSuccess = cursor.StateOK, "", now, now
		if err := r.w.deps.Cursors.Put(ctx, cur); err != nil {
			s.done = true
			r.recordError(s, t, "", "storage", err)
			return err
		}
		r.log.Debug("task done", logging.KeyDataType, t.dt.Name, "kind", t.label(r.w.opts), "task", t.span(),
			"records", res.records, "duplicates", res.duplicates, "streamed", res.streamed, "pages", res.pages, "parts", res.parts, "more", res.more)
		return nil
	}
	if s.c.failed(t, res) {
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
		cur.State, cur.Detail = cursor.StateNotLicensed, t.dt.LicenceText()
		cur.SkipUntil = now.Add(r.w.opts.SkipFor)
		s.stats.State = cursor.StateNotLicensed + ": " + t.dt.LicenceText()
	case kind == graph.MissingPermission:
		s.done = true
		missing := t.dt.Permissions
		if roles, err := r.g.GrantedRoles(ctx); err == nil {
			missing = t.dt.Missing(roles)
		}
		cur.State, cur.Detail = cursor.StateMissingPermission, strings.Join(missing, ", ")
		cur.SkipUntil = now.Add(r.w.opts.SkipFor)
		s.stats.State = cursor.StateMissingPermission + ": " + cur.Detail
	case (kind == graph.NotFound || kind == graph.BadRequest) && t.dt.Preview != "":
		// A preview endpoint the tenant is not served (Agent ID before its rollout, or after Microsoft replaced
		// it): parked for a day like an unlicensed data type, and no failure of the run. The data type's state
		// keeps Graph's answer.
		s.done = true
		cur.State, cur.Detail = cursor.StateNotAvailable, fmt.Sprintf("Graph answered %v (%s)", res.err, t.dt.Preview)
		cur.SkipUntil = now.Add(r.w.opts.SkipFor)
		cur.LastRun, cur.LastRequestID = now, requestID
		s.stats.State = cursor.StateNotAvailable
		r.log.Info("data type not available in the tenant: parked for a day", logging.KeyDataType, t.dt.Name,
			"request_id", requestID, "error", res.err.Error())
		return r.w.deps.Cursors.Put(ctx, cur)
	case kind == graph.InvalidCredential || kind == graph.SecretUnavailable:
		// Every data type would fail the same way: record it once, against this one, and start no more tasks.
		s.done, r.halted = true, true
		cur.State = cursor.StateError
	default:
		s.fails++
		if s.fails >= r.w.opts.Attempts {
			s.done = true
		} else {
			s.coolOff = time.Now().Add(r.w.opts.RetryBase << (s.fails - 1))
		}
		cur.State = cursor.StateError
	}
	r.recordError(s, t, requestID, string(kind), res.err)
	cur.LastRun = now
	if err := r.w.deps.Cursors.Put(ctx, cur); err != nil {
		s.done = true
		return err
	}
	return nil
}

func (r *run) recordError(s *slot, t task, requestID, kind string, err error) {
	cur := s.c.cursor()
	msg := fmt.Sprintf("%s %s %s %s: %v", t.dt.Name, t.label(r.w.opts), t.unit(), t.span(), err)
	cur.LastError, cur.LastErrorAt, cur.LastRequestID = msg, r.now(), requestID
	r.rec.Errors = append(r.rec.Errors, cursor.RunError{DataType: t.dt.Name, Bucket: t.span(), RequestID: requestID, Kind: kind, Message: err.Error()})
	r.log.Warn("task failed", logging.KeyDataType, t.dt.Name, t.unit(), t.span(), "kind", kind, "request_id", requestID, "error", err.Error())
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
