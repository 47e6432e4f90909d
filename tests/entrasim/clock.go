package entrasim

import (
	"sync"
	"time"
)

// SimClock is a simulated clock that tests move by hand. A stopped clock (NewSimClock) stands still until
// Advance or Set; a running clock (NewRunningSimClock) moves with real time as well. Pass it as
// Options.Clock (or its Now method as Options.Now). It is safe for concurrent use.
type SimClock struct {
	mu      sync.Mutex
	now     time.Time // simulated time at base (running) or the time (stopped)
	base    time.Time // real time when now was set; zero for a stopped clock
	running bool
}

// NewSimClock returns a stopped clock showing start (in UTC).
func NewSimClock(start time.Time) *SimClock { return &SimClock{now: start.UTC()} }

// NewRunningSimClock returns a clock showing start (in UTC) that then advances with real time; Advance and
// Set jump it.
func NewRunningSimClock(start time.Time) *SimClock {
	return &SimClock{now: start.UTC(), base: time.Now(), running: true}
}

// Now returns the simulated time.
func (c *SimClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return c.now.Add(time.Since(c.base))
	}
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative) and returns the new time.
func (c *SimClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if c.running {
		return c.now.Add(time.Since(c.base))
	}
	return c.now
}

// Set moves the clock to t.
func (c *SimClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
	if c.running {
		c.base = time.Now()
	}
}
