package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	khttp "github.com/microsoft/kiota-http-go"

	"github.com/entra-di/edi/internal/catalog"
)

// limiter spends one throttling family's budget: at most limit requests in any window, counted when each request
// is sent, with the budget's Window widened by a safety margin so that requests sent just within the budget do not
// arrive just outside it. After a 429 it holds every request of the family until the Retry-After has passed.
//
// It adapts to what Graph's 429s show:
//   - a budget smaller than the documented one (another client of the same app registration spending part of it:
//     Graph counts per app and tenant). A second 429 within confirmWindows windows lowers limit by a step (at
//     most once a window), and marks that level as failed. After probeWindows windows without a 429 limit goes up
//     a step again, up to the budget; a level that failed is tried again only after firstFailWindows windows, and
//     after each further failure twice as long (up to maxProbeWindows), so a neighbour that stays costs ever
//     fewer 429s. A raise (or the documented budget at first) is on probation for probeWindows windows; one that
//     holds through it forgets the failed level: the neighbour has gone.
//   - arrival jitter larger than the margin: a lone 429 at a level that held means requests reached Graph closer
//     together than they were sent. The margin grows by half (up to maxMargin) and shrinks back the same way
//     after each calmWindows windows without a 429.
//
// A budget of one request per window (the protection family: 1 request / s per tenant for all apps) is spent as a
// spacing of one window and its margin between sends, and none of the above applies: there is no lower level,
// and a 429 there says nothing about jitter. Graph counts that budget for every app of the tenant, so another app
// reading Identity Protection holds all of it for a window whenever it sends first, unannounced and unseen: ours
// is refused when it lands in that window, and since the other app's requests are unseen, about its share of ours
// do, however far apart ours are. Sending slower only wastes the budget (TestProtectionBudgetShared's comment has
// the figures); what the limiter controls is the hold after such a 429, which carries no Retry-After: see refusal.
type limiter struct {
	mu          sync.Mutex
	budget      time.Duration // the budget's Window
	margin      float64
	window      time.Duration // budget × (1 + margin)
	sent        []time.Time   // ring of the last Requests send times
	next        int
	pausedUntil time.Time

	limit     int       // requests per window currently spent, 1..len(sent)
	step      int       // how far limit moves at a time
	changed   time.Time // last change of limit
	raised    bool      // the last change was a raise (or none yet): the level is on probation
	failedAt  int       // the lowest level that failed (0: none), tried again only after failWait
	failWait  time.Duration
	last429   time.Time // a lone 429 that a second one may confirm
	lowered   time.Time // last time limit went down
	jittered  time.Time // last change of the margin
	confirmed time.Time // last 429 of any kind

	single  bool // one request per window: spacing only (see above)
	refused int  // 429s without Retry-After in a row (single)
}

// Margin widens each family's window at first: network delays vary between requests, so the server can see two
// requests closer together than the client sent them. 3 % of 10 s is 300 ms. maxMargin bounds it as it adapts.
const (
	Margin    = 0.03
	maxMargin = 4 * Margin
)

// Windows of a family's budget: a level's probation and the wait before a raise (at first, and at most for a
// level that keeps failing), and the span within which a second 429 confirms the first.
const (
	probeWindows     = 16
	firstFailWindows = 64
	maxProbeWindows  = 256
	confirmWindows   = 4
	// calmWindows without a 429 narrow a widened margin by a step.
	calmWindows = 64
)

func newLimiter(b catalog.Budget) *limiter {
	n := max(b.Requests, 1)
	l := &limiter{budget: b.Window, sent: make([]time.Time, n), limit: n, step: max(1, n/20), changed: time.Now(), raised: true, single: n == 1}
	l.setMargin(Margin)
	return l
}

// refusalsAtOneWindow is how many refusals in a row of a one-request budget are held one window each; each further
// one doubles the longest hold (refusal).
const refusalsAtOneWindow = 2

// refusal books a 429 without Retry-After and returns how long the family is held before its next request.
//
// On a budget of one request per window the request that took the budget reached Graph at most one window
// before the refused one, so one window (and the margin) after the answer the budget is free again — unless
// another app sends first once more. Holding longer leaves that much of the budget unused, and a random
// exponential back-off (what fits a larger budget) mostly holds longer; only refusalsAtOneWindow refusals in a row
// show an app that takes the budget faster than one window in two, and from then on the hold doubles (a random
// share of it, at least one window, up to p.Max) until a request is answered. Other budgets back off
// exponentially per attempt of the request (backoff).
func (l *limiter) refusal(p RetryPolicy, attempt int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.single {
		return backoff(p, attempt)
	}
	l.refused++
	hold := l.window
	if extra := l.refused - refusalsAtOneWindow; extra > 0 {
		ceiling := min(p.Max, l.window<<min(extra, 20))
		hold += time.Duration(rand.Int64N(int64(max(ceiling-l.window, 0)) + 1))
	}
	return hold
}

// answered books a response other than 429: a one-request budget's refusals in a row end.
func (l *limiter) answered() {
	l.mu.Lock()
	l.refused = 0
	l.mu.Unlock()
}

func (l *limiter) setMargin(m float64) {
	l.margin = m
	l.window = time.Duration(float64(l.budget) * (1 + m))
}

// wait blocks until a request may be sent and records it as sent.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		l.adapt(now)
		var delay time.Duration
		if now.Before(l.pausedUntil) {
			delay = l.pausedUntil.Sub(now)
		} else if oldest := l.sent[(l.next-l.limit+len(l.sent))%len(l.sent)]; !oldest.IsZero() && now.Sub(oldest) < l.window {
			// The limit-th last request is still in the window.
			delay = l.window - now.Sub(oldest)
		}
		if delay <= 0 {
			l.sent[l.next] = now
			l.next = (l.next + 1) % len(l.sent)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// grow raises the budget to b's rate if that is more (a larger tenant's directory tier), keeping the send times
// already recorded; a limit lowered for a neighbour keeps its distance below the budget.
func (l *limiter) grow(b catalog.Budget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b.Requests <= len(l.sent) || float64(b.Requests)/b.Window.Seconds() <= float64(len(l.sent))/l.budget.Seconds() {
		return
	}
	l.single, l.refused = false, 0
	// The ring from its oldest entry on, then room for the new requests.
	ring := make([]time.Time, 0, b.Requests)
	ring = append(ring, l.sent[l.next:]...)
	ring = append(ring, l.sent[:l.next]...)
	next := len(ring)
	ring = append(ring, make([]time.Time, b.Requests-len(ring))...)
	l.limit += b.Requests - len(l.sent)
	if l.failedAt > 0 {
		l.failedAt += b.Requests - len(l.sent)
	}
	l.sent, l.next, l.step = ring, next%len(ring), max(1, b.Requests/20)
	l.budget = b.Window
	l.setMargin(l.margin)
}

// adapt forgets a failed level that held through its probation, raises the limit a step once it held long enough
// without a 429, and narrows a widened margin after a long calm (l.mu held).
func (l *limiter) adapt(now time.Time) {
	calm := calmWindows * l.window
	if l.margin > Margin && now.Sub(l.jittered) >= calm && now.Sub(l.confirmed) >= calm {
		l.setMargin(max(Margin, l.margin/1.5))
		l.jittered = now
	}
	held := now.Sub(l.changed)
	if l.raised && l.failedAt > 0 && l.limit >= l.failedAt && held >= probeWindows*l.window {
		l.failedAt = 0 // the neighbour has gone
	}
	wait := probeWindows * l.window
	if l.failedAt > 0 && l.limit+l.step >= l.failedAt {
		wait = l.failWait
	}
	if l.limit < len(l.sent) && held >= wait {
		l.limit = min(len(l.sent), l.limit+l.step)
		l.changed, l.raised = now, true
	}
}

// throttled books a 429 that Graph answered at now.
func (l *limiter) throttled(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.confirmed = now
	if l.single {
		return // no lower level, and no sign of jitter (see limiter)
	}
	if !l.lowered.IsZero() && now.Sub(l.lowered) < l.window {
		return // the same crowded window
	}
	onProbation := l.raised && now.Sub(l.changed) < probeWindows*l.window
	if l.last429.IsZero() || now.Sub(l.last429) > confirmWindows*l.window {
		// A lone 429 so far: a level too high answers a second one within a few windows. At a level that held it
		// is more likely jitter.
		l.last429 = now
		if !onProbation {
			l.setMargin(min(maxMargin, l.margin*1.5))
			l.jittered = now
		}
		return
	}
	// The budget is smaller than limit: this level failed.
	switch {
	case l.limit == l.failedAt:
		l.failWait = min(2*l.failWait, maxProbeWindows*l.window)
	case l.failedAt == 0 || l.limit < l.failedAt:
		l.failedAt, l.failWait = l.limit, firstFailWindows*l.window
	}
	l.limit = max(1, l.limit-l.step)
	l.last429 = time.Time{}
	l.lowered, l.changed, l.raised = now, now, false
}

// charge records n more requests sent at now: a request that cost Graph several resource units (x-ms-resource-unit)
// takes that many places in the window, so the directory family's budget is spent in Graph's own unit.
func (l *limiter) charge(n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range min(n, len(l.sent)) {
		l.sent[l.next] = now
		l.next = (l.next + 1) % len(l.sent)
	}
}

// pause holds the family until t (a 429's Retry-After).
func (l *limiter) pause(until time.Time) {
	l.mu.Lock()
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	l.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryPolicy bounds the retries of one request.
type RetryPolicy struct {
	// MaxAttempts is the number of sends of one request, first included.
	MaxAttempts int
	// Base and Max bound the exponential back-off (with full jitter) used where Graph gives no Retry-After.
	Base, Max time.Duration
}

// DefaultRetry is enough to ride out Graph's throttling families: eight sends with back-off up to a minute.
var DefaultRetry = RetryPolicy{MaxAttempts: 8, Base: time.Second, Max: time.Minute}

// FamilyStats counts what happened to one family's requests.
type FamilyStats struct {
	// Requests is every request sent (each retry counts).
	Requests int64 `json:"requests"`
	// Throttled is the number of 429 answers.
	Throttled int64 `json:"throttled"`
	// Retries is the number of re-sends (after 429, 5xx, resets or claims challenges).
	Retries int64 `json:"retries"`
	// Transient is the number of 5xx answers and connection failures.
	Transient int64 `json:"transient"`
}

type familyCounters struct{ requests, throttled, retries, transient atomic.Int64 }

// throttle is the Graph client's innermost middleware: every attempt waits for the family's budget; 429s, 5xx and
// connection failures are retried with Retry-After (seconds, fractions or an HTTP date) or jittered back-off; a
// Continuous Access Evaluation claims challenge is answered with a fresh token. kiota's own RetryHandler is kept
// off because it truncates fractional Retry-After and knows nothing of budgets.
type throttle struct {
	*Limits
	counters map[catalog.Family]*familyCounters
	retry    RetryPolicy
	cred     azcore.TokenCredential
	scopes   []string
}

// Limits are the budgets a client spends: every family's limiter and those of the data types with a limit of their
// own. Graph's limits are per app and tenant, so two clients of one app and tenant in a process (the collector's
// and a connectivity test's) share one Limits (Options.Limits, Client.Limits) rather than spend the budget unseen
// by each other.
type Limits struct {
	limiters map[catalog.Family]*limiter
	// budgets are the families' configured budgets (Options.Budgets, else Graph's documented ones): the
	// directory family's larger tiers are scaled like its configured budget.
	budgets map[catalog.Family]catalog.Budget
	// own holds the limiters of data types with a budget of their own (catalog.DataType.Limit), by name.
	own map[string]*limiter
}

// NewLimits returns fresh limits at Graph's documented budgets, overridden per family by budgets.
func NewLimits(budgets map[catalog.Family]catalog.Budget) *Limits {
	l := &Limits{limiters: map[catalog.Family]*limiter{}, own: map[string]*limiter{}, budgets: map[catalog.Family]catalog.Budget{}}
	for f, b := range catalog.Budgets {
		scaled := b
		if o, ok := budgets[f]; ok {
			scaled = o
		}
		l.limiters[f] = newLimiter(scaled)
		l.budgets[f] = scaled
		for _, d := range catalog.InFamily(f) {
			if d.Limit.Requests > 0 {
				// A data type's own limit scales with its family's (the simulated tenant scales both alike).
				window := time.Duration(float64(d.Limit.Window) * scaled.Window.Seconds() / b.Window.Seconds())
				l.own[d.Name] = newLimiter(catalog.Budget{Requests: d.Limit.Requests, Window: window})
			}
		}
	}
	return l
}

func newThrottle(limits *Limits, retry RetryPolicy, cred azcore.TokenCredential, scopes []string) *throttle {
	t := &throttle{Limits: limits, counters: map[catalog.Family]*familyCounters{}, retry: retry, cred: cred, scopes: scopes}
	for f := range catalog.Budgets {
		t.counters[f] = &familyCounters{}
	}
	return t
}

func (t *throttle) stats() map[catalog.Family]FamilyStats {
	out := map[catalog.Family]FamilyStats{}
	for f, c := range t.counters {
		out[f] = FamilyStats{Requests: c.requests.Load(), Throttled: c.throttled.Load(), Retries: c.retries.Load(), Transient: c.transient.Load()}
	}
	return out
}

var _ khttp.Middleware = (*throttle)(nil)

// Intercept implements kiota's Middleware.
func (t *throttle) Intercept(pipeline khttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	attempts := 0
	resp, err := t.intercept(pipeline, index, req, &attempts)
	observe(req, resp, err, attempts)
	return resp, err
}

func (t *throttle) intercept(pipeline khttp.Pipeline, index int, req *http.Request, attempts *int) (*http.Response, error) {
	ctx := req.Context()
	family := catalog.FamilyOf(req.URL.Path)
	var own *limiter
	if d, ok := dataTypeOf(ctx); ok {
		family, own = d.Family, t.own[d.Name]
	}
	lim, cnt := t.limiters[family], t.counters[family]
	claimsRetried := false
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if err := rewind(req); err != nil {
				return nil, err
			}
			cnt.retries.Add(1)
		}
		if own != nil {
			// The data type's own budget first: a family slot is not held while it waits.
			if err := own.wait(ctx); err != nil {
				return nil, err
			}
		}
		if err := lim.wait(ctx); err != nil {
			return nil, err
		}
		cnt.requests.Add(1)
		*attempts++
		resp, err := pipeline.Next(req, index)
		last := attempt >= t.retry.MaxAttempts

		if err != nil {
			if ctx.Err() != nil || last || !retryableTransportError(err) {
				return nil, err
			}
			cnt.transient.Add(1)
			if serr := sleep(ctx, backoff(t.retry, attempt)); serr != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			lim.answered()
			if own != nil {
				own.answered()
			}
		}
		if ru, err := strconv.ParseFloat(resp.Header.Get("x-ms-resource-unit"), 64); err == nil && ru > 1 {
			// Graph charged more than the one place the request took in the window ($expand, member lists).
			lim.charge(int(math.Ceil(ru))-1, time.Now())
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized && !claimsRetried && claimsChallenge(resp) != "":
			// CAE: the token was revoked or outlived; fetch one satisfying the claims and send again once.
			claims := claimsChallenge(resp)
			tok, terr := t.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: t.scopes, Claims: claims, EnableCAE: true})
			if terr != nil {
				return resp, nil
			}
			discard(resp)
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			claimsRetried = true
			attempt-- // a claims challenge does not spend a retry
			continue
		case resp.StatusCode == http.StatusTooManyRequests:
			cnt.throttled.Add(1)
			// The stricter limit of the data type is the likelier cause: the family's other data types go on.
			held := lim
			if own != nil {
				held = own
			}
			delay, ok := retryAfter(resp.Header, time.Now())
			if !ok {
				delay = held.refusal(t.retry, attempt)
			}
			held.throttled(time.Now())
			held.pause(time.Now().Add(delay))
			if last {
				return resp, nil
			}
			discard(resp)
			// The limiter holds this and every other request of the family until the pause is over.
			continue
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
			cnt.transient.Add(1)
			if last {
				return resp, nil
			}
			delay, ok := retryAfter(resp.Header, time.Now())
			if !ok {
				delay = backoff(t.retry, attempt)
			}
			discard(resp)
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

// rewind resets the body of a request that is about to be sent again.
func rewind(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody == nil {
		return errors.New("graph: cannot retry a request whose body cannot be rewound")
	}
	b, err := req.GetBody()
	if err != nil {
		return err
	}
	req.Body = b
	return nil
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

// retryableTransportError is a failure to get a response at all: resets, refused connections, timeouts of one
// attempt. Context cancellation is not retryable.
func retryableTransportError(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// backoff is exponential with full jitter: a random delay in [0, min(Max, Base·2^(attempt-1))], at least Base/4.
func backoff(p RetryPolicy, attempt int) time.Duration {
	ceiling := p.Base << min(attempt-1, 20)
	if ceiling > p.Max || ceiling <= 0 {
		ceiling = p.Max
	}
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	return max(d, p.Base/4)
}

// retryAfter reads Retry-After as Graph sends it: seconds, possibly fractional ("2.128"), or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// claimsChallenge returns the decoded claims of a CAE challenge
// (`WWW-Authenticate: Bearer …, error="insufficient_claims", claims="<base64>"`), or "".
func claimsChallenge(resp *http.Response) string {
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		i := strings.Index(h, `claims="`)
		if i < 0 {
			continue
		}
		rest := h[i+len(`claims="`):]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			continue
		}
		enc := rest[:j]
		for _, dec := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := dec.DecodeString(enc); err == nil {
				return string(b)
			}
		}
	}
	return ""
}

type dataTypeKey struct{}

// WithDataType marks the requests made with ctx as requests for data type d: they spend d's family's budget and
// d's own (catalog.DataType.Limit), whatever their path. Requests without it are classified by path
// (catalog.FamilyOf).
func WithDataType(ctx context.Context, d catalog.DataType) context.Context {
	return context.WithValue(ctx, dataTypeKey{}, d)
}

func dataTypeOf(ctx context.Context) (catalog.DataType, bool) {
	d, ok := ctx.Value(dataTypeKey{}).(catalog.DataType)
	return d, ok
}
