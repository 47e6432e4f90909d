package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/logging"
)

// memCursors keeps cursors in memory: the scheduler's tests need no Azurite.
type memCursors struct {
	mu   sync.Mutex
	puts map[string]int
}

func (m *memCursors) Get(_ context.Context, integration, dataType string) (*cursor.Cursor, error) {
	return &cursor.Cursor{Integration: integration, DataType: dataType}, nil
}

func (m *memCursors) Put(_ context.Context, c *cursor.Cursor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.puts == nil {
		m.puts = map[string]int{}
	}
	m.puts[c.DataType]++
	return nil
}

// fakeGraph answers GrantedRoles only: the scheduler's tests never page.
type fakeGraph struct{ roles []string }

func (fakeGraph) Pages(context.Context, string, func(graph.Item) error) (graph.Summary, error) {
	return graph.Summary{}, errors.New("no pages here")
}
func (fakeGraph) Page(context.Context, string, func(graph.Item) error) (graph.PageInfo, error) {
	return graph.PageInfo{}, errors.New("no pages here")
}
func (fakeGraph) Object(context.Context, string) ([]byte, string, error) {
	return nil, "", errors.New("no objects here")
}
func (fakeGraph) Stats() map[catalog.Family]graph.FamilyStats { return nil }
func (g fakeGraph) GrantedRoles(context.Context) ([]string, error) {
	return g.roles, nil
}
func (fakeGraph) SetDirectoryUsers(int) {}

// fakeCollector offers scripted tasks and answers reads with scripted results, recording what ran when.
type fakeCollector struct {
	dt     catalog.DataType
	cur    *cursor.Cursor
	conc   bool
	tasks  []task             // still due, most urgent first
	answer func(t task) error // nil: success
	hold   chan struct{}      // when set, reads wait on it
	log    *scheduleLog
	deps   []string
}

type scheduleLog struct {
	mu               sync.Mutex
	changed          *sync.Cond // broadcast when a task begins
	started          []string
	running, maxRun  int
	perType, maxType map[string]int
}

func (l *scheduleLog) begin(name string, t task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = append(l.started, name+":"+t.kind.String())
	l.running++
	l.maxRun = max(l.maxRun, l.running)
	l.perType[name]++
	l.maxType[name] = max(l.maxType[name], l.perType[name])
	l.changed.Broadcast()
}

// waitStarted blocks until n tasks have begun.
func (l *scheduleLog) waitStarted(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.started) < n {
		l.changed.Wait()
	}
}

func (l *scheduleLog) end(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	l.perType[name]--
}

func (f *fakeCollector) dataType() catalog.DataType             { return f.dt }
func (f *fakeCollector) cursor() *cursor.Cursor                 { return f.cur }
func (f *fakeCollector) concurrent() bool                       { return f.conc }
func (f *fakeCollector) after() []string                        { return f.deps }
func (f *fakeCollector) start(context.Context, time.Time) error { return nil }
func (f *fakeCollector) backlog(time.Time) int                  { return len(f.tasks) }
func (f *fakeCollector) failed(task, result) bool               { return false }
func (f *fakeCollector) due(time.Time) []task                   { return f.tasks }
func (f *fakeCollector) done(t task, _ result, _ time.Time)     { f.drop(t) }

func (f *fakeCollector) drop(t task) {
	for i, x := range f.tasks {
		if x.kind == t.kind {
			f.tasks = append(f.tasks[:i:i], f.tasks[i+1:]...)
			return
		}
	}
}

func (f *fakeCollector) read(ctx context.Context, t task) result {
	f.log.begin(f.dt.Name, t)
	defer f.log.end(f.dt.Name)
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return result{task: t, err: ctx.Err()}
		}
	}
	res := result{task: t, records: 1}
	if f.answer != nil {
		res.err = f.answer(t)
	}
	return res
}

func testRun(t *testing.T, o Options, g Graph) (*run, *memCursors) {
	mc := &memCursors{}
	w := NewWorker(Deps{Cursors: mc}, &o)
	return &run{w: w, integ: integrations.Integration{ID: "contoso"}, g: g, now: time.Now,
		log: logging.New(t.Output(), slog.LevelInfo), rec: cursor.Run{DataTypes: map[string]cursor.DataTypeRun{}}}, mc
}

func fakeSlots(log *scheduleLog, names ...string) ([]*slot, map[string]*fakeCollector) {
	var slots []*slot
	cols := map[string]*fakeCollector{}
	for _, n := range names {
		dt, _ := catalog.Lookup(n)
		f := &fakeCollector{dt: dt, cur: &cursor.Cursor{Integration: "contoso", DataType: n}, conc: true, log: log,
			tasks: []task{{dt: dt, kind: fresh}, {dt: dt, kind: resweep}, {dt: dt, kind: backfill}}}
		cols[n] = f
		slots = append(slots, &slot{c: f, busy: map[kind]bool{}})
	}
	return slots, cols
}

func newScheduleLog() *scheduleLog {
	l := &scheduleLog{perType: map[string]int{}, maxType: map[string]int{}}
	l.changed = sync.NewCond(&l.mu)
	return l
}

// TestScheduleOrder: one task at a time, the most urgent kind first, and among equals the data type that has done
// least this run.
func TestScheduleOrder(t *testing.T) {
	log := newScheduleLog()
	r, _ := testRun(t, Options{Concurrency: 1}, fakeGraph{})
	slots, _ := fakeSlots(log, "signIns.interactive", "directoryAudits")
	if _, err := r.schedule(context.Background(), slots); err != nil {
		t.Fatal(err)
	}
	want := "signIns.interactive:initial directoryAudits:initial signIns.interactive:resweep directoryAudits:resweep " +
		"signIns.interactive:backfill directoryAudits:backfill"
	if got := strings.Join(log.started, " "); got != want {
		t.Errorf("order:\n got %s\nwant %s", got, want)
	}
	for _, s := range slots {
		if s.stats.Windows != 3 || s.stats.Records != 3 || !s.progress {
			t.Errorf("%s: stats %+v progress %v", s.name(), s.stats, s.progress)
		}
	}
}

// TestScheduleConcurrency: at most Concurrency tasks at once over all data types, and a collector whose tasks may
// not overlap (a round) never has two.
func TestScheduleConcurrency(t *testing.T) {
	log := newScheduleLog()
	r, _ := testRun(t, Options{Concurrency: 3}, fakeGraph{})
	slots, cols := fakeSlots(log, "signIns.interactive", "directoryAudits", "provisioning")
	cols["provisioning"].conc = false
	hold := make(chan struct{})
	for _, c := range cols {
		c.hold = hold
	}
	done := make(chan error)
	go func() { _, err := r.schedule(context.Background(), slots); done <- err }()
	// One task of each data type runs; when one ends, the scheduler fills the free slot with the next task of a
	// data type that has done least — a second one of a concurrent collector.
	log.waitStarted(3)
	hold <- struct{}{}
	log.waitStarted(4)
	for range 8 {
		hold <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(log.started) != 9 || log.maxRun != 3 {
		t.Errorf("%d tasks, at most %d at once; want 9 and 3", len(log.started), log.maxRun)
	}
	if log.maxType["provisioning"] != 1 {
		t.Errorf("the non-concurrent collector ran %d tasks at once", log.maxType["provisioning"])
	}
	if max(log.maxType["signIns.interactive"], log.maxType["directoryAudits"]) < 2 {
		t.Errorf("no concurrent collector ran two kinds at once (%v)", log.maxType)
	}
}

// TestScheduleErrorPolicy: a transient failure is retried after a cool-off up to Attempts; not-licensed answers
// park the data type after Attempts and missing permissions at once (naming what the token lacks), each for
// SkipFor; a refused credential stops every data type.
func TestScheduleErrorPolicy(t *testing.T) {
	o := Options{Concurrency: 1, RetryBase: time.Millisecond, Attempts: 3, SkipFor: 7 * time.Hour}
	for _, tc := range []struct {
		name      string
		err       error
		reads     int // of the failing data type
		state     string
		otherRuns bool
	}{
		{"transient", &graph.Error{Kind: graph.Transient, Status: 503}, 3, cursor.StateError, true},
		{"not licensed", &graph.Error{Kind: graph.NotLicensed, Status: 403}, 3, cursor.StateNotLicensed, true},
		{"missing permission", &graph.Error{Kind: graph.MissingPermission, Status: 403}, 1, cursor.StateMissingPermission, true},
		{"credential", &graph.Error{Kind: graph.InvalidCredential, Code: "AADSTS7000215"}, 1, cursor.StateError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newScheduleLog()
			r, _ := testRun(t, o, fakeGraph{roles: []string{"AuditLog.Read.All"}})
			slots, cols := fakeSlots(log, "signIns.interactive", "directoryAudits")
			failing := cols["signIns.interactive"]
			failing.tasks = failing.tasks[:1]
			failing.answer = func(task) error { return tc.err }
			before := time.Now()
			if _, err := r.schedule(context.Background(), slots); err != nil {
				t.Fatal(err)
			}
			reads, others := 0, 0
			for _, s := range log.started {
				if strings.HasPrefix(s, "signIns.interactive:") {
					reads++
				} else {
					others++
				}
			}
			if reads != tc.reads {
				t.Errorf("failing data type read %d times, want %d", reads, tc.reads)
			}
			if (others > 0) != tc.otherRuns {
				t.Errorf("other data type ran %d tasks", others)
			}
			if failing.cur.State != tc.state {
				t.Errorf("state %q, want %q", failing.cur.State, tc.state)
			}
			parks := tc.state == cursor.StateNotLicensed || tc.state == cursor.StateMissingPermission
			if got := failing.cur.SkipUntil.After(before.Add(6 * time.Hour)); got != parks {
				t.Errorf("SkipUntil %v: parked %v, want %v", failing.cur.SkipUntil, got, parks)
			}
			if tc.state == cursor.StateMissingPermission && failing.cur.Detail != "Directory.Read.All" {
				t.Errorf("missing %q, want the permission the token lacks", failing.cur.Detail)
			}
			// Every failed read is a run error; a not-licensed answer only once it is believed.
			wantErrors := tc.reads
			if tc.state == cursor.StateNotLicensed {
				wantErrors = 1
			}
			if len(r.rec.Errors) != wantErrors || r.rec.Errors[0].Kind != string(graph.KindOf(tc.err)) || r.rec.Errors[0].DataType != "signIns.interactive" {
				t.Errorf("run errors %+v, want %d", r.rec.Errors, wantErrors)
			}
		})
	}
}

// TestScheduleDeadline: no task starts once less than StopBefore is left; a task still running CommitBefore the
// deadline is cancelled; the run says the deadline stopped it and asks for a continuation where work is left.
func TestScheduleDeadline(t *testing.T) {
	log := newScheduleLog()
	o := Options{Concurrency: 1, StopBefore: 200 * time.Millisecond, CommitBefore: 100 * time.Millisecond}
	r, _ := testRun(t, o, fakeGraph{})
	slots, cols := fakeSlots(log, "signIns.interactive")
	hold := make(chan struct{})
	cols["signIns.interactive"].hold = hold
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	go func() { hold <- struct{}{} }() // the first task finishes; the second waits until it is cancelled
	stopped, err := r.schedule(ctx, slots)
	if err != nil {
		t.Fatal(err)
	}
	if !stopped || len(log.started) != 2 {
		t.Fatalf("stopped %v after %d tasks (%v); want stopped after 2", stopped, len(log.started), log.started)
	}
	if !r.summarize(slots, stopped) || r.rec.Outcome != OutcomeDeadline {
		t.Errorf("no continuation (outcome %q) with work left", r.rec.Outcome)
	}
	if got := fmt.Sprint(r.rec.DataTypes["signIns.interactive"].Backlog); got != "2" {
		t.Errorf("backlog %s, want the 2 tasks left", got)
	}
}

// TestScheduleWaitsForDependencies: a data type that comes after another (users after groups, with exclusions)
// starts only once the other has nothing in flight or due.
func TestScheduleWaitsForDependencies(t *testing.T) {
	log := newScheduleLog()
	r, _ := testRun(t, Options{Concurrency: 4}, fakeGraph{})
	slots, cols := fakeSlots(log, "users", "groups")
	cols["users"].deps = []string{"groups"}
	if _, err := r.schedule(context.Background(), slots); err != nil {
		t.Fatal(err)
	}
	first := slices.IndexFunc(log.started, func(s string) bool { return strings.HasPrefix(s, "users:") })
	groups := 0
	for _, s := range log.started[:first] {
		if strings.HasPrefix(s, "groups:") {
			groups++
		}
	}
	if first < 0 || groups != 3 {
		t.Errorf("started %v: want every groups task before the first users task", log.started)
	}
}
