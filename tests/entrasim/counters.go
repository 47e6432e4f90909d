package entrasim

import (
	"sync"
	"time"
)

// EndpointCounters counts one endpoint's traffic.
type EndpointCounters struct {
	// Accepted requests were admitted by the family's limiter (whatever they were answered afterwards).
	Accepted int64 `json:"accepted"`
	// Throttled requests were answered 429 by the limiter.
	Throttled int64 `json:"throttled"`
	// Faults counts responses replaced by a fault rule (including 429 storms).
	Faults int64 `json:"faults"`
	// Pages counts successful (200) list pages.
	Pages int64 `json:"pages"`
	// Records counts records in those pages.
	Records int64 `json:"records"`
	// ResourceUnits sums the directory resource units of the accepted requests (directory family), so a
	// benchmark can compare what a collector spent with the budget (Tenant.DirectoryBudget).
	ResourceUnits float64 `json:"resourceUnits,omitempty"`
}

// Counters is a snapshot of the simulator's counters.
type Counters struct {
	// Families maps throttling family → endpoint (e.g. "beta/auditLogs/signIns") → counters.
	Families map[string]map[string]EndpointCounters `json:"families"`
	// Streams maps stream name → records served.
	Streams map[string]int64 `json:"streams"`
	// Requests counts every request to the Graph endpoints, authenticated or not.
	Requests int64 `json:"requests"`
	// Shared counts, by family, the requests of the other client of Options.SharedBudget (Accepted and
	// Throttled only).
	Shared map[string]EndpointCounters `json:"shared,omitempty"`
}

// Endpoint returns the counters of one endpoint (zero when unused).
func (c Counters) Endpoint(name string) EndpointCounters {
	for _, eps := range c.Families {
		if ec, ok := eps[name]; ok {
			return ec
		}
	}
	return EndpointCounters{}
}

// RequestRecord is one entry of the per-request log.
type RequestRecord struct {
	// Arrival is the real time the request arrived.
	Arrival time.Time `json:"arrival"`
	// SimTime is the simulated time at arrival.
	SimTime time.Time `json:"simTime"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	// Query is the request's raw query string (without "?").
	Query    string `json:"query,omitempty"`
	Family   string `json:"family,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	AppID    string `json:"appId,omitempty"`
	Status   int    `json:"status"`
	Records  int    `json:"records,omitempty"`
	// Fault names the injected fault kind, if any.
	Fault string `json:"fault,omitempty"`
	// Throttled is set when the limiter rejected the request.
	Throttled bool `json:"throttled,omitempty"`
	// Shared marks a request of the other client of Options.SharedBudget: it never reached the server, only
	// the limiter (Arrival, Family, Status and Throttled are set).
	Shared bool `json:"shared,omitempty"`
	// Duration is the real time spent serving the request.
	Duration time.Duration `json:"duration"`
}

type counters struct {
	mu       sync.Mutex
	shared   map[string]*EndpointCounters
	families map[string]map[string]*EndpointCounters
	streams  map[string]int64
	requests int64
	log      []RequestRecord
	logStart int // index of the oldest entry once the log wrapped
	limit    int
}

func newCounters(limit int) *counters {
	return &counters{families: map[string]map[string]*EndpointCounters{}, streams: map[string]int64{}, limit: limit}
}

func (c *counters) ep(f family, name string) *EndpointCounters {
	m := c.families[string(f)]
	if m == nil {
		m = map[string]*EndpointCounters{}
		c.families[string(f)] = m
	}
	e := m[name]
	if e == nil {
		e = &EndpointCounters{}
		m[name] = e
	}
	return e
}

func (c *counters) update(f family, name string, fn func(*EndpointCounters)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.ep(f, name))
}

// other books a request of the other client of Options.SharedBudget. It is called with the limiter's lock held.
func (c *counters) other(f family, at time.Time, ok bool) {
	c.mu.Lock()
	if c.shared == nil {
		c.shared = map[string]*EndpointCounters{}
	}
	e := c.shared[string(f)]
	if e == nil {
		e = &EndpointCounters{}
		c.shared[string(f)] = e
	}
	status := 200
	if ok {
		e.Accepted++
	} else {
		e.Throttled++
		status = 429
	}
	c.appendLog(RequestRecord{Arrival: at, Method: "GET", Family: string(f), Status: status, Throttled: !ok, Shared: true})
	c.mu.Unlock()
}

func (c *counters) addStream(stream string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streams[stream] += int64(n)
}

func (c *counters) record(r RequestRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.appendLog(r)
}

// appendLog adds r to the request log (c.mu held).
func (c *counters) appendLog(r RequestRecord) {
	if c.limit < 0 {
		return
	}
	if len(c.log) < c.limit {
		c.log = append(c.log, r)
		return
	}
	c.log[c.logStart] = r
	c.logStart = (c.logStart + 1) % len(c.log)
}

func (c *counters) snapshot() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Counters{Families: map[string]map[string]EndpointCounters{}, Streams: map[string]int64{}, Requests: c.requests}
	for f, eps := range c.families {
		m := map[string]EndpointCounters{}
		for name, e := range eps {
			m[name] = *e
		}
		out.Families[f] = m
	}
	for s, n := range c.streams {
		out.Streams[s] = n
	}
	if len(c.shared) > 0 {
		out.Shared = map[string]EndpointCounters{}
		for f, e := range c.shared {
			out.Shared[f] = *e
		}
	}
	return out
}

func (c *counters) requestsLog() []RequestRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]RequestRecord, 0, len(c.log))
	out = append(out, c.log[c.logStart:]...)
	return append(out, c.log[:c.logStart]...)
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.families = map[string]map[string]*EndpointCounters{}
	c.shared = nil
	c.streams = map[string]int64{}
	c.requests = 0
	c.log = nil
	c.logStart = 0
}
