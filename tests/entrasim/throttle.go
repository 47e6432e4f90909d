package entrasim

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// Throttling families at Graph's documented limits (reference §3, Learn "service-specific throttling
// limits"), all windows multiplied by Options.ThrottleScale:
//
//   - reports (signIn, directoryAudit, provisioningObjectSummary, registration reports): 5 requests per 10 s
//     per app per tenant;
//   - protection (Identity Protection, Conditional Access): 1 request per second per tenant for all apps
//     together, 429 without Retry-After;
//   - directory (directory objects): a token bucket of resource units per app per tenant, 3,500 / 5,000 /
//     8,000 per 10 s for tenants of < 50 / 50–500 / > 500 users, costs per request;
//   - intune: 2,000 requests per 20 s per app per tenant;
//   - signInActivity: 10 requests per minute per app per tenant, on top of the reports family's budget and the
//     directory bucket (a users list selecting signInActivity counts against all three; reference §3,
//     directory-insights §4).
//
// Options.SharedBudget puts another client on a family's budget (another tool reading the tenant with the same
// app registration, or a second deployment of this one): it spends its share of the same sliding window with
// requests of its own, so the collector gets that much less than the documented budget.
//
// Window semantics (sliding, the strict reading): a request is admitted when fewer than limit requests were
// admitted in the window that ends at its arrival, i.e. in (arrival − window, arrival]. Arrival is the real,
// monotonic time the request reaches the limiter. Rejected requests do not use the budget unless
// Options.ThrottleCountRejected is set. Retry-After is the time until the oldest admitted request in the
// window leaves it (when the next request would be admitted), in seconds with millisecond precision.

type family string

const (
	familyReports        family = "reports"
	familyProtection     family = "protection"
	familyDirectory      family = "directory"
	familyIntune         family = "intune"
	familySignInActivity family = "signInActivity"
	familySim            family = "sim" // the simulator's own endpoints: never throttled
)

// familyDef declares a family's limit once.
type familyDef struct {
	name       family
	limit      int
	window     time.Duration
	perTenant  bool // one budget for all apps of the tenant (else per app per tenant)
	retryAfter bool // 429 carries Retry-After
	bucket     bool // resource-unit token bucket (directory)
}

var familyDefs = map[family]familyDef{
	familyReports:        {name: familyReports, limit: 5, window: 10 * time.Second, retryAfter: true},
	familyProtection:     {name: familyProtection, limit: 1, window: time.Second, perTenant: true},
	familyDirectory:      {name: familyDirectory, window: 10 * time.Second, retryAfter: true, bucket: true},
	familyIntune:         {name: familyIntune, limit: 2000, window: 20 * time.Second, retryAfter: true},
	familySignInActivity: {name: familySignInActivity, limit: 10, window: time.Minute, retryAfter: true},
}

// directoryCapacity is the resource-unit budget per 10 s by tenant size.
func directoryCapacity(users int) float64 {
	switch {
	case users < 50:
		return 3500
	case users <= 500:
		return 5000
	}
	return 8000
}

// admission is a limiter's verdict.
type admission struct {
	ok         bool
	retryAfter time.Duration // when !ok and the family sends Retry-After
	// directory bucket: cost charged and fraction of the budget in use after this request
	cost, used float64
	// rejectedBy is the first family that refused the request.
	rejectedBy family
}

// limiter holds every family's state. It is safe for concurrent use.
type limiter struct {
	mu            sync.Mutex
	scale         float64
	countRejected bool
	capacity      float64 // directory RU per window
	windows       map[string]*ring
	buckets       map[string]*bucket
	// shares are the shares of each family's budget that other clients of the same budget spend
	// (Options.SharedBudget); others holds each such client, by budget key.
	shares map[family]float64
	others map[string]*otherClient
	// onOther, when set, is told of every request of another client as the limiter decides on it.
	onOther func(f family, at time.Time, ok bool)
}

// otherClient is another client spending the same budget (Options.SharedBudget): it sends one request every
// period, on a fixed schedule; a refused request is sent again once the window has room (its Retry-After), and a
// client that fell behind catches up, so over time it takes its whole share. Its requests are decided lazily,
// in arrival order, before each request of the tenant's own clients.
//
// In the protection family Graph sends no Retry-After, yet this client still retries the moment the window has
// room: it stands for an app that polls harder than the collector and so keeps its share whatever the collector
// does. An app retrying after a back-off of its own would lose most races against a collector that spaces its
// requests one window apart, and a test of the collector's share would then pass by crowding the other app out.
type otherClient struct {
	period    time.Duration
	scheduled time.Time // when the pending request was due
	next      time.Time // when it is (re)sent
}

type ring struct {
	times []time.Time // admitted arrivals, oldest first (at most limit)
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(scale float64, countRejected bool, users int) *limiter {
	return &limiter{scale: scale, countRejected: countRejected, capacity: directoryCapacity(users),
		windows: map[string]*ring{}, buckets: map[string]*bucket{}, shares: map[family]float64{}, others: map[string]*otherClient{}}
}

func (l *limiter) window(d familyDef) time.Duration {
	return time.Duration(float64(d.window) * l.scale)
}

// admit decides on one request of family f arriving at now; key identifies the budget (tenant or
// app+tenant); cost is the directory resource-unit cost.
func (l *limiter) admit(f family, key string, now time.Time, cost float64) admission {
	return l.admitAll([]family{f}, func(family) string { return key }, now, cost)
}

// admitAll decides on a request that counts against several families (users with signInActivity: its own
// 10 requests / min, the reports family and the directory bucket). It is admitted only when every family
// admits it, and then uses the budget of each; otherwise nothing is used (unless rejected requests count)
// and the verdict carries the longest wait. keyOf gives each family's budget key.
func (l *limiter) admitAll(fs []family, keyOf func(family) string, now time.Time, cost float64) admission {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := admission{ok: true}
	var commit []func()
	for _, f := range fs {
		d, ok := familyDefs[f]
		if !ok {
			continue
		}
		var a admission
		var c func()
		if d.bucket {
			a, c = l.checkBucket(d, keyOf(f), now, cost)
			out.cost, out.used = a.cost, a.used
		} else {
			a, c = l.checkWindow(d, string(f)+"|"+keyOf(f), now)
		}
		if !a.ok {
			out.ok = false
			out.retryAfter = max(out.retryAfter, a.retryAfter)
			if out.rejectedBy == "" {
				out.rejectedBy = f
			}
			if l.countRejected {
				c()
			}
			continue
		}
		commit = append(commit, c)
	}
	if out.ok {
		for _, c := range commit {
			c()
		}
	}
	return out
}

// checkWindow decides on a request against a sliding window without changing it; commit records it. The
// requests another client of the same budget sent up to now are decided first (Options.SharedBudget).
func (l *limiter) checkWindow(d familyDef, k string, now time.Time) (admission, func()) {
	r := l.windows[k]
	if r == nil {
		r = &ring{}
		l.windows[k] = r
	}
	if share := l.shares[d.name]; share > 0 {
		l.replayOther(d, k, r, now, share)
	}
	return l.decide(d, r, now)
}

// decide decides on one request arriving at now in a sliding window; commit records it.
func (l *limiter) decide(d familyDef, r *ring, now time.Time) (admission, func()) {
	win := l.window(d)
	// Drop arrivals that left the window (arrival <= now - win).
	cut := 0
	for cut < len(r.times) && !r.times[cut].After(now.Add(-win)) {
		cut++
	}
	r.times = r.times[cut:]
	if len(r.times) < d.limit {
		return admission{ok: true}, func() { r.times = append(r.times, now) }
	}
	// A rejected request that counts replaces the oldest entry, pushing the window out.
	return admission{retryAfter: r.times[0].Add(win).Sub(now)}, func() { r.times = append(r.times[1:], now) }
}

// replayOther decides, in order, on every request the other client of budget k sent up to now. The client
// appears with the budget's first request, as one that has been running all along: its schedule starts a
// window earlier, so the window already holds its share.
func (l *limiter) replayOther(d familyDef, k string, r *ring, now time.Time, share float64) {
	o := l.others[k]
	if o == nil {
		period := time.Duration(float64(l.window(d)) / (float64(d.limit) * share))
		first := now.Add(-l.window(d)).Add(period / 2)
		o = &otherClient{period: period, scheduled: first, next: first}
		l.others[k] = o
	}
	for !o.next.After(now) {
		at := o.next
		a, commit := l.decide(d, r, at)
		if a.ok || l.countRejected {
			commit()
		}
		if l.onOther != nil {
			l.onOther(d.name, at, a.ok)
		}
		if !a.ok {
			o.next = at.Add(max(a.retryAfter, time.Millisecond))
			continue
		}
		o.scheduled = o.scheduled.Add(o.period)
		o.next = o.scheduled
		if o.next.Before(at) {
			o.next = at // behind schedule: the next request goes at once
		}
	}
}

// checkBucket decides on a request against the resource-unit bucket; commit spends the cost.
func (l *limiter) checkBucket(d familyDef, key string, now time.Time, cost float64) (admission, func()) {
	win := l.window(d)
	rate := l.capacity / win.Seconds() // RU per second
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.capacity, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		// Another client of the budget (Options.SharedBudget) spends its share of the refill as it comes.
		b.tokens = math.Min(l.capacity, b.tokens+el*rate*(1-l.shares[d.name]))
		b.last = now
	}
	if b.tokens+1e-9 >= cost { // tolerate float rounding after waiting exactly the announced time
		return admission{ok: true, cost: cost, used: 1 - (b.tokens-cost)/l.capacity}, func() { b.tokens -= cost }
	}
	wait := time.Duration(math.Ceil((cost - b.tokens) / rate * float64(time.Second)))
	return admission{retryAfter: wait, cost: cost, used: 1}, func() { b.tokens -= cost }
}

// formatRetryAfter renders a delay in seconds, rounded up to the millisecond, without trailing zeros
// ("10", "2.128", "0.087"); Graph's Retry-After may be fractional (reference §3).
func formatRetryAfter(d time.Duration) string {
	ms := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}

// directoryCost is the resource-unit cost of a directory read (reference §3): GET users and applications
// cost 2, members 3, transitiveMembers 5, getByIds 5, others 1; $select −1, $expand +1, $top < 20 −1;
// never below 1. Phase-2 directory endpoints use it.
func directoryCost(base float64, hasSelect, hasExpand bool, top int) float64 {
	c := base
	if hasSelect {
		c--
	}
	if hasExpand {
		c++
	}
	if top > 0 && top < 20 {
		c--
	}
	return math.Max(1, c)
}
