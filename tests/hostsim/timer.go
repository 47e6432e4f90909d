package hostsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// ScheduleStatus is the schedule monitor's record for one timer: the last invocation time, the next scheduled
// occurrence, and when the record was written.
type ScheduleStatus struct {
	Last        time.Time `json:"Last"`
	Next        time.Time `json:"Next"`
	LastUpdated time.Time `json:"LastUpdated"`
}

// ScheduleStore persists timer schedule status, as the host's schedule monitor does in storage.
type ScheduleStore interface {
	// Get returns the recorded status, or nil when there is none.
	Get(ctx context.Context, hostID, function string) (*ScheduleStatus, error)
	// Put records the status.
	Put(ctx context.Context, hostID, function string, st ScheduleStatus) error
}

// MemoryScheduleStore keeps schedule status in memory; share one between Hosts to model a host restart.
type MemoryScheduleStore struct {
	mu sync.Mutex
	m  map[string]ScheduleStatus
}

// NewMemoryScheduleStore returns an empty store.
func NewMemoryScheduleStore() *MemoryScheduleStore {
	return &MemoryScheduleStore{m: map[string]ScheduleStatus{}}
}

// Get implements ScheduleStore.
func (s *MemoryScheduleStore) Get(_ context.Context, hostID, function string) (*ScheduleStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[hostID+"/"+strings.ToLower(function)]
	if !ok {
		return nil, nil
	}
	return &st, nil
}

// Put implements ScheduleStore.
func (s *MemoryScheduleStore) Put(_ context.Context, hostID, function string, st ScheduleStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[hostID+"/"+strings.ToLower(function)] = st
	return nil
}

// BlobScheduleStore keeps schedule status in blob storage where the host keeps it: container
// azure-webjobs-hosts, blob timers/<hostId>/<function>/status. (unverified) The blob path is general knowledge,
// not read from the source.
type BlobScheduleStore struct {
	client *azblob.Client
}

// ScheduleContainer is the container of the host's timer status blobs.
const ScheduleContainer = "azure-webjobs-hosts"

// NewBlobScheduleStore returns a store on the storage account of connectionString.
func NewBlobScheduleStore(connectionString string) (*BlobScheduleStore, error) {
	c, err := azblob.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return nil, err
	}
	return &BlobScheduleStore{client: c}, nil
}

func statusBlob(hostID, function string) string {
	return "timers/" + hostID + "/" + function + "/status"
}

// Get implements ScheduleStore.
func (s *BlobScheduleStore) Get(ctx context.Context, hostID, function string) (*ScheduleStatus, error) {
	resp, err := s.client.DownloadStream(ctx, ScheduleContainer, statusBlob(hostID, function), nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var st ScheduleStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("timer status %s: %w", statusBlob(hostID, function), err)
	}
	return &st, nil
}

// Put implements ScheduleStore.
func (s *BlobScheduleStore) Put(ctx context.Context, hostID, function string, st ScheduleStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.client.UploadBuffer(ctx, ScheduleContainer, statusBlob(hostID, function), b, nil)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		if _, cerr := s.client.CreateContainer(ctx, ScheduleContainer, nil); cerr != nil && !bloberror.HasCode(cerr, bloberror.ContainerAlreadyExists) {
			return cerr
		}
		_, err = s.client.UploadBuffer(ctx, ScheduleContainer, statusBlob(hostID, function), b, nil)
	}
	return err
}

// defaultHostID derives a host id from the app root, so the same app folder keeps its timer status.
func defaultHostID(root string) string {
	sum := sha256.Sum256([]byte(root))
	return "hostsim-" + hex.EncodeToString(sum[:8])
}

// TimerOptions tune one timer invocation.
type TimerOptions struct {
	// IsPastDue marks the invocation as a catch-up after downtime.
	IsPastDue bool
}

type timerRuntime struct {
	h      *Host
	store  ScheduleStore
	timers map[string]*timerState

	mu      sync.Mutex
	cancel  context.CancelFunc // stops the listeners
	abort   func()             // also cancels running invocations
	wg      sync.WaitGroup
	running bool
}

type timerState struct {
	fn      *Function
	sched   *Schedule
	monitor bool

	run sync.Mutex // held while the timer is invoked: a timer never overlaps itself

	mu      sync.Mutex
	status  *ScheduleStatus // nil until loaded, always nil without the monitor
	loaded  bool
	started bool      // the listener has started (past-due check done)
	next    time.Time // next occurrence the listener waits for
}

func newTimerRuntime(h *Host) (*timerRuntime, error) {
	rt := &timerRuntime{h: h, store: h.opts.ScheduleStore, timers: map[string]*timerState{}}
	if rt.store == nil {
		rt.store = NewMemoryScheduleStore()
	}
	now := h.now()
	for _, fn := range h.app.Functions {
		if fn.Trigger.Type != TypeTimer {
			continue
		}
		sched, err := ParseSchedule(fn.Trigger.Schedule)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fn.Name, err)
		}
		// useMonitor defaults to true, and the listener turns it off for schedules firing more than once a
		// minute (TimerListener).
		monitor := fn.Trigger.UseMonitor == nil || *fn.Trigger.UseMonitor
		if monitor && sched.FiresMoreThanOncePerMinute(now) {
			monitor = false
		}
		rt.timers[strings.ToLower(fn.Name)] = &timerState{fn: fn, sched: sched, monitor: monitor}
	}
	return rt, nil
}

// ScheduleStatus returns the schedule status the host holds for a timer function (nil when the monitor is off
// or nothing is recorded yet).
func (h *Host) ScheduleStatus(ctx context.Context, function string) (*ScheduleStatus, error) {
	ts, ok := h.timers.timers[strings.ToLower(function)]
	if !ok {
		return nil, fmt.Errorf("hostsim: %s is not a timer function", function)
	}
	if !ts.monitor {
		return nil, nil
	}
	return h.timers.store.Get(ctx, h.opts.HostID, ts.fn.Name)
}

// load reads (or initialises) the timer's status and reports how long it is past due
// (ScheduleMonitor.CheckPastDueAsync). Callers hold ts.run.
func (rt *timerRuntime) load(ctx context.Context, ts *timerState) (time.Duration, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.monitor {
		ts.loaded = true
		return 0, nil
	}
	now := rt.h.now()
	st, err := rt.store.Get(ctx, rt.h.opts.HostID, ts.fn.Name)
	if err != nil {
		return 0, fmt.Errorf("timer %s: read schedule status: %w", ts.fn.Name, err)
	}
	if st == nil {
		// A new timer: record the next occurrence now so a first occurrence missed later is noticed.
		st = &ScheduleStatus{Next: ts.sched.Next(now), LastUpdated: now}
		if err := rt.store.Put(ctx, rt.h.opts.HostID, ts.fn.Name, *st); err != nil {
			return 0, fmt.Errorf("timer %s: write schedule status: %w", ts.fn.Name, err)
		}
		ts.status, ts.loaded = st, true
		return 0, nil
	}
	from := st.Last
	if from.IsZero() {
		from = st.LastUpdated
	}
	ts.status, ts.loaded = st, true
	if expected := ts.sched.Next(from); !st.Next.Equal(expected) {
		// The schedule changed since the status was written: recompute Next; not past due (reference §9).
		st.Next, st.LastUpdated = ts.sched.Next(now), now
		if err := rt.store.Put(ctx, rt.h.opts.HostID, ts.fn.Name, *st); err != nil {
			return 0, fmt.Errorf("timer %s: write schedule status: %w", ts.fn.Name, err)
		}
		return 0, nil
	}
	if now.After(st.Next) {
		return now.Sub(st.Next), nil
	}
	return 0, nil
}

// timerInfo is TimerInfo as JObject.FromObject writes it.
func (ts *timerState) timerInfo(pastDue bool) json.RawMessage {
	type status struct {
		Last        string `json:"Last"`
		Next        string `json:"Next"`
		LastUpdated string `json:"LastUpdated"`
	}
	info := struct {
		Schedule       map[string]bool `json:"Schedule"`
		ScheduleStatus *status         `json:"ScheduleStatus"`
		IsPastDue      bool            `json:"IsPastDue"`
	}{Schedule: map[string]bool{"AdjustForDST": true}, IsPastDue: pastDue}
	ts.mu.Lock()
	if st := ts.status; st != nil {
		last := "0001-01-01T00:00:00" // DateTime.MinValue before the first run
		if !st.Last.IsZero() {
			last = formatLocal(st.Last)
		}
		info.ScheduleStatus = &status{Last: last, Next: formatLocal(st.Next), LastUpdated: formatLocal(st.LastUpdated)}
	}
	ts.mu.Unlock()
	return mustJSON(info)
}

// fire invokes the timer once and records the new status (Last = invocation time, Next = the following
// occurrence), whether the invocation succeeded or not: a failed timer is not retried. Callers hold ts.run.
func (rt *timerRuntime) fire(ctx context.Context, ts *timerState, pastDue bool) (*Invocation, error) {
	h := rt.h
	now := h.now()
	data := map[string]json.RawMessage{ts.fn.Trigger.Name: ts.timerInfo(pastDue)}
	// The timer's only binding-data key, TimerTrigger, is dropped from Metadata by the host.
	meta := map[string]json.RawMessage{"TimerTrigger": mustJSON(formatUtc(now))}
	inv := h.call(ctx, ts.fn, data, meta, now)

	next := ts.sched.Next(now)
	ts.mu.Lock()
	ts.next = next
	var st *ScheduleStatus
	if ts.monitor {
		st = &ScheduleStatus{Last: now, Next: next, LastUpdated: now}
		ts.status = st
	}
	ts.mu.Unlock()
	if st != nil {
		if err := rt.store.Put(context.WithoutCancel(ctx), h.opts.HostID, ts.fn.Name, *st); err != nil {
			return inv, fmt.Errorf("timer %s: write schedule status: %w", ts.fn.Name, err)
		}
	}
	return inv, nil
}

// Timer fires a timer function once, as its schedule would at the host's current time: the TimerInfo carries
// the recorded schedule status (null without the monitor), and afterwards Last/Next are updated. It waits while
// another invocation of the same timer runs. The error reports only problems other than a failed invocation;
// check the Invocation for that.
func (h *Host) Timer(ctx context.Context, function string, opts *TimerOptions) (*Invocation, error) {
	ts, ok := h.timers.timers[strings.ToLower(function)]
	if !ok {
		return nil, fmt.Errorf("hostsim: %s is not a timer function", function)
	}
	if opts == nil {
		opts = &TimerOptions{}
	}
	if err := lockCtx(ctx, &ts.run); err != nil {
		return nil, err
	}
	defer ts.run.Unlock()
	ts.mu.Lock()
	loaded := ts.loaded
	ts.mu.Unlock()
	if !loaded {
		if _, err := h.timers.load(ctx, ts); err != nil {
			return nil, err
		}
	}
	return h.timers.fire(ctx, ts, opts.IsPastDue)
}

// lockCtx takes mu, giving up when ctx ends.
func lockCtx(ctx context.Context, mu *sync.Mutex) error {
	if mu.TryLock() {
		return nil
	}
	done := make(chan struct{})
	go func() {
		mu.Lock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		go func() { <-done; mu.Unlock() }()
		return ctx.Err()
	}
}

// startListener is TimerListener.StartAsync: with the monitor, a timer whose recorded next occurrence has passed
// gets exactly one invocation with IsPastDue=true; otherwise runOnStartup fires once. Callers hold ts.run.
func (rt *timerRuntime) startListener(ctx context.Context, ts *timerState) ([]*Invocation, error) {
	pastDue, err := rt.load(ctx, ts)
	if err != nil {
		return nil, err
	}
	ts.mu.Lock()
	ts.started = true
	ts.next = ts.sched.Next(rt.h.now())
	ts.mu.Unlock()
	switch {
	case pastDue > 0:
		rt.h.logf("timer %s is past due by %s", ts.fn.Name, pastDue)
		inv, err := rt.fire(ctx, ts, true)
		return []*Invocation{inv}, err
	case ts.fn.Trigger.RunOnStartup:
		inv, err := rt.fire(ctx, ts, false)
		return []*Invocation{inv}, err
	}
	return nil, nil
}

// step starts the listener if needed and fires the timer if its next occurrence has come. Callers hold ts.run.
func (rt *timerRuntime) step(ctx context.Context, ts *timerState) ([]*Invocation, error) {
	var out []*Invocation
	ts.mu.Lock()
	started := ts.started
	ts.mu.Unlock()
	if !started {
		invs, err := rt.startListener(ctx, ts)
		out = append(out, invs...)
		if err != nil {
			return out, err
		}
	}
	ts.mu.Lock()
	next := ts.next
	ts.mu.Unlock()
	if next.IsZero() || rt.h.now().Before(next) {
		return out, nil
	}
	inv, err := rt.fire(ctx, ts, false)
	if inv != nil {
		out = append(out, inv)
	}
	return out, err
}

// FireDueTimers does synchronously what the scheduler does in the background: it starts each timer listener
// that has not started (past-due catch-up, runOnStartup) and fires every timer whose next occurrence is at or
// before the host's clock. It returns the invocations made. Disabled functions are skipped.
func (h *Host) FireDueTimers(ctx context.Context) ([]*Invocation, error) {
	var out []*Invocation
	var errs []error
	for _, fn := range h.app.Functions {
		ts, ok := h.timers.timers[strings.ToLower(fn.Name)]
		if !ok || h.disabled(fn) {
			continue
		}
		if err := lockCtx(ctx, &ts.run); err != nil {
			return out, err
		}
		invs, err := h.timers.step(ctx, ts)
		ts.run.Unlock()
		out = append(out, invs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// RunTimers starts the scheduler: every enabled timer function fires on its NCRONTAB schedule against the host's
// clock (read every TimerPollInterval), one invocation at a time per timer, no retry on failure. Starting the
// listeners performs the past-due check. It returns at once; StopTimers or Stop ends it, as does ctx (which then
// also cancels running invocations).
func (h *Host) RunTimers(ctx context.Context) error {
	rt := h.timers
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.running {
		return errors.New("hostsim: timers already running")
	}
	h.mu.Lock()
	stopping := h.stopping
	h.mu.Unlock()
	if stopping {
		return ErrStopped
	}
	invokeCtx, abort := context.WithCancel(ctx)
	loopCtx, cancel := context.WithCancel(invokeCtx)
	stop := context.AfterFunc(h.lifetime, abort)
	rt.cancel, rt.abort = cancel, func() { stop(); abort() }
	rt.running = true
	for _, fn := range h.app.Functions {
		ts, ok := rt.timers[strings.ToLower(fn.Name)]
		if !ok || h.disabled(fn) {
			continue
		}
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			rt.loop(loopCtx, invokeCtx, ts)
		}()
	}
	return nil
}

func (rt *timerRuntime) loop(loopCtx, invokeCtx context.Context, ts *timerState) {
	tick := time.NewTicker(rt.h.opts.TimerPollInterval)
	defer tick.Stop()
	for {
		if err := lockCtx(loopCtx, &ts.run); err != nil {
			return
		}
		_, err := rt.step(invokeCtx, ts)
		ts.run.Unlock()
		if err != nil && invokeCtx.Err() == nil {
			rt.h.logf("timer %s: %v", ts.fn.Name, err)
		}
		select {
		case <-loopCtx.Done():
			return
		case <-tick.C:
		}
	}
}

// StopTimers stops the scheduler and waits for running timer invocations to finish; when ctx ends first they
// are cancelled. The next RunTimers restarts the listeners, with a fresh past-due check (as after downtime).
func (h *Host) StopTimers(ctx context.Context) { h.timers.stop(ctx) }

func (rt *timerRuntime) stop(ctx context.Context) {
	rt.mu.Lock()
	cancel, abort := rt.cancel, rt.abort
	rt.cancel, rt.abort, rt.running = nil, nil, false
	rt.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	waitGroup(ctx, &rt.wg, abort)
	abort()
	for _, ts := range rt.timers {
		ts.mu.Lock()
		ts.started = false
		ts.loaded = false
		ts.mu.Unlock()
	}
}

// waitGroup waits for wg; if ctx ends first it calls abort and waits again.
func waitGroup(ctx context.Context, wg *sync.WaitGroup, abort func()) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		abort()
		<-done
	}
}

// disabled reports a function switched off in function.json or by the AzureWebJobs.<Name>.Disabled setting.
func (h *Host) disabled(fn *Function) bool {
	if fn.Disabled {
		return true
	}
	v, _ := lookupSetting(h.settings, "AzureWebJobs."+fn.Name+".Disabled")
	return strings.EqualFold(strings.TrimSpace(v), "true") || strings.TrimSpace(v) == "1"
}

// String formats the status for logs.
func (st ScheduleStatus) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Last=%s Next=%s LastUpdated=%s", st.Last.Format(time.RFC3339Nano), st.Next.Format(time.RFC3339Nano), st.LastUpdated.Format(time.RFC3339Nano))
	return b.String()
}
