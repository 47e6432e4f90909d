package entrasim

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// FaultKind is what a fault rule does to a matching request.
type FaultKind string

// Fault kinds.
const (
	// FaultThrottle answers Storm consecutive matching requests (default 1) with 429 TooManyRequests, with a
	// Retry-After of RetryAfter when set and none otherwise. It does not use the family's budget.
	FaultThrottle FaultKind = "throttle"
	// FaultStatus answers with Status (500, 503 or 504, or 400, 403, 404 or 409 for a refusal; default 500) and
	// Graph's error body; RetryAfter adds the header.
	FaultStatus FaultKind = "status"
	// FaultReset closes the connection without a response (hijack and close). Go's transport retries an
	// idempotent request once, on a new connection, when a reused connection closes before any response:
	// a single reset on a keep-alive connection can go unnoticed, as it would with Graph.
	FaultReset FaultKind = "reset"
	// FaultTruncate sends a valid start of the page and cuts it in the middle of the value array. The
	// response ends cleanly (a syntactically incomplete body with status 200) unless Abort is set, in which
	// case Content-Length announces the whole page and the connection is closed early.
	FaultTruncate FaultKind = "truncate"
	// FaultInvalidJSON sends a 200 page that is not valid JSON (a trailing comma in the value array, as in
	// some published Graph examples).
	FaultInvalidJSON FaultKind = "invalidJSON"
	// FaultInvalidSkipToken answers a nextLink request (one with $skiptoken) with Graph's invalid skip token
	// error; requests without a skip token never match.
	FaultInvalidSkipToken FaultKind = "invalidSkipToken"
	// FaultSyncReset answers a deltaLink request (one with a $deltatoken other than latest) with Graph's
	// synchronization reset: 410 Gone and a Location header holding the round's initial request with an
	// empty $deltatoken (delta-query-overview.md). Other requests never match.
	FaultSyncReset FaultKind = "syncReset"
	// FaultResyncRequired answers a deltaLink request with 400 and error code resyncRequired ("The delta
	// token is no longer valid, and the app must reset the sync state.", concepts/errors.md; the status is
	// unverified). Other requests never match.
	FaultResyncRequired FaultKind = "resyncRequired"
	// FaultDelay serves a remediation request (its change takes effect) and holds the response for Delay, or
	// until the client goes away: the answer that comes late, or never.
	FaultDelay FaultKind = "delay"
)

// FaultRule injects faults into matching Graph requests. A request matches when its path starts with Path
// (case-insensitive; empty matches every Graph request) and, when Stream is set, it reads that stream. A
// matching request fires the rule with Probability (seeded), or when it is the Nth match, or every Every-th
// match (requests answered by a storm count as matches); with none of the three set, every match fires.
// Count limits the number of firings (0: no limit).
type FaultRule struct {
	Kind        FaultKind     `json:"kind"`
	Path        string        `json:"path,omitempty"`
	Stream      string        `json:"stream,omitempty"`
	Probability float64       `json:"probability,omitempty"`
	Nth         int           `json:"nth,omitempty"`
	Every       int           `json:"every,omitempty"`
	Count       int           `json:"count,omitempty"`
	Storm       int           `json:"storm,omitempty"`
	RetryAfter  time.Duration `json:"retryAfter,omitempty"`
	Status      int           `json:"status,omitempty"`
	Abort       bool          `json:"abort,omitempty"`
	Delay       time.Duration `json:"delay,omitempty"`
}

func (f FaultRule) validate() error {
	switch f.Kind {
	case FaultThrottle, FaultStatus, FaultReset, FaultTruncate, FaultInvalidJSON, FaultInvalidSkipToken, FaultSyncReset, FaultResyncRequired, FaultDelay:
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	triggers := 0
	if f.Probability != 0 {
		triggers++
	}
	if f.Nth != 0 {
		triggers++
	}
	if f.Every != 0 {
		triggers++
	}
	switch {
	case triggers > 1:
		return fmt.Errorf("set at most one of probability, nth and every")
	case f.Probability < 0 || f.Probability > 1:
		return fmt.Errorf("probability must be in [0, 1] (got %g)", f.Probability)
	case f.Nth < 0 || f.Every < 0 || f.Count < 0 || f.Storm < 0 || f.RetryAfter < 0 || f.Delay < 0:
		return fmt.Errorf("nth, every, count, storm, retryAfter and delay must not be negative")
	case f.Kind == FaultStatus && f.Status != 0 && faultError(f.Status) == nil:
		return fmt.Errorf("status must be 500, 503, 504, 400, 403, 404 or 409 (got %d)", f.Status)
	case f.Kind == FaultDelay && f.Delay == 0:
		return fmt.Errorf("a delay fault needs a delay")
	case f.Stream != "" && streamByName(f.Stream) == nil:
		return fmt.Errorf("unknown stream %q", f.Stream)
	}
	return nil
}

// ParseFaultRule reads a rule from JSON ({"kind":"throttle","path":"/beta/auditLogs/signIns","nth":3,
// "storm":4,"retryAfter":"2s"}); retryAfter takes a Go duration string or nanoseconds.
func ParseFaultRule(s string) (FaultRule, error) {
	var raw struct {
		FaultRule
		RetryAfter json.RawMessage `json:"retryAfter"`
		Delay      json.RawMessage `json:"delay"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return FaultRule{}, fmt.Errorf("fault rule: %w", err)
	}
	f := raw.FaultRule
	var err error
	if f.RetryAfter, err = ruleDuration(raw.RetryAfter, "retryAfter"); err != nil {
		return FaultRule{}, err
	}
	if f.Delay, err = ruleDuration(raw.Delay, "delay"); err != nil {
		return FaultRule{}, err
	}
	return f, f.validate()
}

// ruleDuration reads a duration as a Go duration string or nanoseconds (zero when absent).
func ruleDuration(raw json.RawMessage, name string) (time.Duration, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		d, err := time.ParseDuration(str)
		if err != nil {
			return 0, fmt.Errorf("fault rule: %s: %w", name, err)
		}
		return d, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("fault rule: %s: want a duration string or nanoseconds", name)
	}
	return time.Duration(n), nil
}

// ruleState is a rule with its counters.
type ruleState struct {
	id        int
	rule      FaultRule
	matched   int
	fired     int
	stormLeft int
}

// faults holds the active rules. It is safe for concurrent use.
type faults struct {
	mu     sync.Mutex
	nextID int
	rules  []*ruleState
	rng    *rng
}

func newFaults(seed uint64) *faults { return &faults{rng: newRNG(seed, strKey("faults"))} }

func (f *faults) add(r FaultRule) (int, error) {
	if err := r.validate(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.rules = append(f.rules, &ruleState{id: f.nextID, rule: r})
	return f.nextID, nil
}

func (f *faults) remove(id int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.rules {
		if s.id == id {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return true
		}
	}
	return false
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// FaultState reports a rule and how often it matched and fired.
type FaultState struct {
	ID      int       `json:"id"`
	Rule    FaultRule `json:"rule"`
	Matched int       `json:"matched"`
	Fired   int       `json:"fired"`
}

func (f *faults) list() []FaultState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FaultState, 0, len(f.rules))
	for _, s := range f.rules {
		out = append(out, FaultState{ID: s.id, Rule: s.rule, Matched: s.matched, Fired: s.fired})
	}
	return out
}

// pick returns the fault to inject into a request, if any. The first rule that fires wins; a throttle storm
// in progress answers before any other rule.
func (f *faults) pick(path string, streams []string, hasSkipToken, hasDeltaToken bool) (FaultRule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lp := strings.ToLower(path)
	for _, s := range f.rules {
		r := s.rule
		if r.Path != "" && !strings.HasPrefix(lp, strings.ToLower(r.Path)) {
			continue
		}
		if r.Stream != "" && !containsStr(streams, r.Stream) {
			continue
		}
		if r.Kind == FaultInvalidSkipToken && !hasSkipToken {
			continue
		}
		if (r.Kind == FaultSyncReset || r.Kind == FaultResyncRequired) && !hasDeltaToken {
			continue
		}
		s.matched++
		if s.stormLeft > 0 {
			s.stormLeft--
			return r, true
		}
		if r.Count > 0 && s.fired >= r.Count {
			continue
		}
		fire := false
		switch {
		case r.Probability > 0:
			fire = f.rng.chance(r.Probability)
		case r.Nth > 0:
			fire = s.matched == r.Nth
		case r.Every > 0:
			fire = s.matched%r.Every == 0
		default:
			fire = true
		}
		if !fire {
			continue
		}
		s.fired++
		if r.Kind == FaultThrottle && r.Storm > 1 {
			s.stormLeft = r.Storm - 1
		}
		return r, true
	}
	return FaultRule{}, false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
