package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

// killKind is a kind of kill point: where in the collection the handler dies.
type killKind struct {
	name string
	// op and after: kill at the n-th storage request of op, before it reaches Azurite or after Azurite answered
	// and before the handler hears the answer. op "" with continuation counts every storage request.
	op    op
	after bool
	// graph: kill once the simulated Graph has taken the n-th request (its page latency keeps the page in
	// flight, so the kill lands between or inside pages).
	graph bool
	// continuation: wait until a run hands over to a continuation work item, then kill at the n-th storage
	// request of the continuation.
	continuation bool
	// maxN bounds n, drawn uniformly from [1, maxN].
	maxN int
	// needs says what a collection must do to reach the point: the reason given when it is skipped.
	needs string
}

// killPoint is one planned kill.
type killPoint struct {
	kind killKind
	n    int
	// dataType, when set, counts only that data type's storage requests (op kill points).
	dataType string
}

var killKinds = []killKind{
	{name: "graph-page", graph: true, maxN: 8, needs: "Graph requests"},
	{name: "part-commit-before", op: opPartCommit, maxN: 150, needs: "part commits"},
	{name: "part-commit-after", op: opPartCommit, after: true, maxN: 150, needs: "part commits"},
	{name: "cursor-write-before", op: opCursorWrite, maxN: 6, needs: "cursor writes"},
	{name: "cursor-write-after (between windows)", op: opCursorWrite, after: true, maxN: 6, needs: "cursor writes"},
	{name: "window-start", op: opBlobList, maxN: 10, needs: "windows"},
	{name: "archived-keys-read", op: opBlobRead, maxN: 40, needs: "reads of archived keys (re-sweeps)"},
	{name: "lease-acquire-or-renewal", op: opLeaseWrite, maxN: 3, needs: "lease writes"},
	{name: "run-record", op: opRunWrite, maxN: 1, needs: "run records"},
	{name: "continuation", continuation: true, maxN: 30, needs: "runs that hand over to a continuation, and storage requests in them"},
}

// maxAttempts is how many collections a kill point gets before it is skipped as unreachable. Each attempt moves
// the clock on and draws a nearer point; a continuation point also gets slower storage from the second attempt on.
const maxAttempts = 8

func (k killPoint) String() string {
	if k.dataType != "" {
		return fmt.Sprintf("%s #%d of %s", k.kind.name, k.n, k.dataType)
	}
	return fmt.Sprintf("%s #%d", k.kind.name, k.n)
}

// planKills draws count kill points of the given kinds: every kind in turn, in a fresh random order each round,
// so any len(kinds) consecutive points cover every phase.
func planKills(rng *rand.Rand, count int, kinds []killKind) []killPoint {
	var plan []killPoint
	for len(plan) < count {
		for _, i := range rng.Perm(len(kinds)) {
			if len(plan) == count {
				break
			}
			k := kinds[i]
			plan = append(plan, killPoint{kind: k, n: 1 + rng.IntN(k.maxN)})
		}
	}
	return plan
}

// TestKillRandom kills the handler with SIGKILL at pseudo-random points of the collection, 20 in short mode, in
// every phase: while Graph serves a page, before and after a part commit, before and after a cursor
// write (after one is between windows), at a window's start, while archived keys are read for a re-sweep, at a
// lease write, before the run record, during a continuation. After each kill the host restarts the handler, the
// test waits for the lease to lapse and fires CollectLogs again (the queue would only retry the killed item after
// its 30 s visibility timeout), and checks that no cursor claims a record the archive lacks. The clock moves on
// between collections, so backfill, fresh buckets and re-sweeps are all hit. A point that the collections do not
// reach (a continuation once the backfill is done and little work is left) is retried with more work, nearer and,
// for a continuation, with slower storage; after maxAttempts collections it is skipped with the reason in the log
// — nothing was killed, so nothing can be lost. Finally it collects until every re-sweep is done and compares the
// archive with the ground truth: nothing lost, nothing twice.
func TestKillRandom(t *testing.T) {
	t.Parallel()
	rng, _ := testRand(t)
	count := *kills
	if count == 0 {
		count = shortOrLong(20, 120)
	}
	plan := planKills(rng, count, killKinds)

	var proxy *storageProxy
	env := startEnv(t, scenario.Options{
		Tenant: entrasim.Options{
			Seed: int64(rng.Uint32()), Users: shortOrLong(20, 200), Apps: 3, ManagedIdentities: 2,
			History: shortOrLong[time.Duration](3, 6) * 24 * time.Hour,
			// One stream with several pages per window; the others sparse, so parts stay few and the run quick.
			Streams: map[string]entrasim.StreamOptions{
				entrasim.StreamNonInteractive: {Rate: shortOrLong(50.0, 400.0)},
				entrasim.StreamInteractive:    {Rate: shortOrLong(2.0, 20.0)},
				"signIns.servicePrincipal":    {Rate: 3},
				"signIns.managedIdentity":     {Rate: 2},
				"directoryAudits":             {Rate: 4},
				"provisioning":                {Rate: 2},
			},
			PageLatency: entrasim.Dist{Fixed: 20 * time.Millisecond, Jitter: 40 * time.Millisecond},
		},
		Settings: map[string]string{
			// Windows start only in the first two seconds of an invocation (2 min before its deadline), so most
			// runs hand over to continuation work items.
			"FUNCTION_TIMEOUT":    "2m2s",
			"COLLECT_CONCURRENCY": "2",
		},
		RestartLimit:   10 * count,
		HandlerStorage: behindProxy(&proxy),
	})
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithTimeout(context.Background(), shortOrLong(10*time.Minute, 90*time.Minute))
	defer cancel()
	idx, err := newArchiveIndex(env)
	if err != nil {
		t.Fatal(err)
	}
	k := &killer{t: t, env: env, proxy: proxy, rng: rng}

	start := time.Now()
	fired, skipped := map[string]int{}, map[string]int{}
	for i := 0; i < len(plan); i++ {
		kp := plan[i]
		killed := false
		for attempt := 1; attempt <= maxAttempts && !killed; attempt++ {
			if kp.kind.continuation && attempt > 1 {
				// A run hands over only when it cannot start all its windows in its first seconds; on a fast machine
				// the fresh work may fit. Slower storage (still far below any timeout) makes it not fit.
				proxy.setLatency(min(20*time.Millisecond<<(attempt-2), 160*time.Millisecond))
			}
			var err error
			killed, err = k.collectUntilKilled(ctx, kp)
			proxy.setLatency(0)
			if err != nil {
				t.Fatalf("kill point %d (%s): %v", i+1, kp, err)
			}
			if killed {
				break
			}
			t.Logf("kill point %d/%d (%s): collection %d finished first", i+1, len(plan), kp, attempt)
			// The collection finished before the kill point came: move the clock on so there is new work, and try
			// again with a nearer point.
			step := time.Duration(30+rng.IntN(150)) * time.Minute
			if kp.kind.continuation || kp.kind.op == opBlobRead {
				step = time.Duration(3+rng.IntN(10)) * time.Hour // more fresh buckets and due re-sweeps
			}
			env.Clock.Advance(step)
			kp.n = 1 + rng.IntN(max(1, kp.n/2))
		}
		if !killed {
			// Not a failure: nothing was killed, so there is nothing to check. The workload decides what a
			// collection does (a finished backfill leaves little to continue), and the next points go on.
			skipped[kp.kind.name]++
			t.Logf("kill point %d/%d (%s) skipped: not reached in %d collections, which did not have enough %s",
				i+1, len(plan), kp, maxAttempts, kp.kind.needs)
			continue
		}
		fired[kp.kind.name]++
		problems, checked, err := checkDurable(ctx, env, idx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d/%d: %s at %s (sim %s); durable check of %d events: %d problems", i+1, len(plan), kp,
			time.Since(start).Round(time.Millisecond), env.Clock.Now().Format("01-02T15:04"), checked, len(problems))
		for _, p := range problems {
			t.Error("after kill: " + p)
		}
		if len(problems) > 0 {
			logCursors(t, env)
			t.FailNow()
		}
		// Half of the time the clock moves on after a kill too, so kill points spread over fresh buckets and
		// re-sweeps, not only the backfill.
		if rng.IntN(2) == 0 {
			env.Clock.Advance(time.Duration(15+rng.IntN(120)) * time.Minute)
		}
	}
	proxy.disarm()
	total := 0
	for _, n := range fired {
		total += n
	}
	t.Logf("%d kill points in %s: %v; skipped as unreachable: %v; storage requests: %s", total,
		time.Since(start).Round(time.Second), fired, skipped, proxy)
	for _, kind := range killKinds {
		switch {
		case fired[kind.name] > 0:
		case skipped[kind.name] > 0:
			t.Logf("no kill point of kind %s: its %d points were skipped as unreachable", kind.name, skipped[kind.name])
		case len(plan) >= len(killKinds):
			t.Errorf("no kill point of kind %s planned", kind.name)
		}
	}
	if n := k.failedWork(); n < total {
		t.Errorf("%d CollectWork invocations failed for %d kills: some kills hit no invocation", n, total)
	}

	if err := settle(ctx, env, 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	logCursors(t, env)
	verifySettled(t, env)
	problems, checked, err := checkDurable(ctx, env, idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error("at the end: " + p)
	}
	t.Logf("final durable check: %d events; total %s", checked, time.Since(start).Round(time.Second))
}

// killer drives collections and kills.
type killer struct {
	t     *testing.T
	env   *scenario.Env
	proxy *storageProxy
	rng   *rand.Rand
	// timer plans the collection ("CollectLogs" when empty); family is the one whose lease is waited for
	// (reports when empty).
	timer  string
	family catalog.Family
}

// kill ends the handler with SIGKILL; it reports false when no handler was running (it was restarting).
func (k *killer) kill() bool {
	if err := k.env.Host.Kill(); err != nil {
		k.t.Logf("kill: %v", err)
		return false
	}
	return true
}

// failedWork counts the CollectWork invocations that failed.
func (k *killer) failedWork() int {
	n := 0
	for _, inv := range k.env.Host.Invocations() {
		if inv.Function == "CollectWork" && !inv.Succeeded() {
			n++
		}
	}
	return n
}

// collectUntilKilled arms the kill point, fires CollectLogs (once the lease of a killed worker has lapsed), and
// waits until either the kill happened or the collection finished. It reports whether it killed.
func (k *killer) collectUntilKilled(ctx context.Context, kp killPoint) (bool, error) {
	env := k.env
	armCtx, disarm := context.WithCancel(ctx)
	killed := k.arm(armCtx, kp)
	defer func() {
		disarm() // first: a continuation trigger not armed yet never will be
		k.proxy.disarm()
	}()

	if err := env.Host.WaitReady(ctx); err != nil {
		return false, err
	}
	timer, family := k.timer, k.family
	if timer == "" {
		timer, family = "CollectLogs", catalog.Reports
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err := waitLeaseFree(lctx, env, family)
	cancel()
	if err != nil {
		return false, err
	}
	started := time.Now()
	inv, err := env.Host.Timer(ctx, timer, nil)
	if err != nil {
		return false, err
	}
	if inv.Failure != "" {
		select {
		case <-killed:
			// The kill point came up while the timer's own invocation was still in flight — a worker of an item
			// queued earlier (a continuation, a retried message) wrote meanwhile — so the timer died with the
			// process: the kill counts, and the host restarts the handler.
			return true, afterKill(ctx, env)
		default:
		}
		return false, fmt.Errorf("%s failed: %s", timer, inv.Failure)
	}
	quiet := make(chan error, 1)
	qctx, stopQuiet := context.WithCancel(ctx)
	defer stopQuiet()
	go func() {
		_, err := env.Host.WaitFor(qctx, func(done []*hostsim.Invocation, inflight int) bool {
			return inflight == 0 && finished(done, started)
		})
		quiet <- err
	}()
	select {
	case <-killed:
		stopQuiet()
		<-quiet
		return true, afterKill(ctx, env)
	case err := <-quiet:
		select {
		case <-killed: // both at once: the kill counts
			return true, env.Host.WaitReady(ctx)
		default:
		}
		if err != nil {
			return false, fmt.Errorf("waiting for the collection to finish: %w", err)
		}
		return false, nil
	}
}

// afterKill waits for the killed invocations to fail (once the process is gone) and for the replacement handler.
func afterKill(ctx context.Context, env *scenario.Env) error {
	if _, err := env.Host.WaitFor(ctx, func(_ []*hostsim.Invocation, inflight int) bool { return inflight == 0 }); err != nil {
		return err
	}
	return env.Host.WaitReady(ctx)
}

// arm sets up the kill point; the channel is closed once the handler was killed there.
func (k *killer) arm(ctx context.Context, kp killPoint) <-chan struct{} {
	done := make(chan struct{})
	var once sync.Once
	doKill := func() bool {
		ok := k.kill()
		if ok {
			once.Do(func() { close(done) })
		}
		return ok
	}
	switch {
	case kp.kind.graph:
		base := k.env.Tenant.Counters().Requests
		go func() {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if k.env.Tenant.Counters().Requests >= base+int64(kp.n) && doKill() {
					return
				}
			}
		}()
	case kp.kind.continuation:
		since := time.Now()
		go func() {
			// Wait for a run that handed over to a continuation, then kill inside the continuation.
			_, err := k.env.Host.WaitFor(ctx, func(done []*hostsim.Invocation, _ int) bool {
				for i := len(done) - 1; i >= 0 && !done[i].Started.Before(since); i-- {
					if done[i].Function == "CollectWork" && continued(done[i]) {
						return true
					}
				}
				return false
			})
			if err == nil {
				k.proxy.armUnless(ctx, "", kp.n, false, func() { doKill() })
			}
		}()
	case kp.dataType != "":
		k.proxy.armDataType(kp.kind.op, kp.dataType, kp.n, kp.kind.after, func() { doKill() })
	default:
		k.proxy.arm(kp.kind.op, kp.n, kp.kind.after, func() { doKill() })
	}
	return done
}
