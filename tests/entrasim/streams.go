package entrasim

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Log streams are generated lazily. Time is cut into slots aligned on the Unix epoch (a power-of-two
// number of seconds per stream, chosen from the stream's rate so a slot holds about 16 events). The number
// of events in a slot, and each event's time, identity, fields and ingestion delay, are pure functions of
// (seed, stream, slot, index). Reading a window re-derives only the slots it covers, so a stream of a
// million events costs no memory, and a page seeks straight to its slot.

// Stream names, as the collector names its data types.
const (
	StreamInteractive      = "signIns.interactive"
	StreamNonInteractive   = "signIns.nonInteractive"
	StreamServicePrincipal = "signIns.servicePrincipal"
	StreamManagedIdentity  = "signIns.managedIdentity"
	StreamDirectoryAudits  = "directoryAudits"
	StreamProvisioning     = "provisioning"
)

type recKind int

const (
	kindSignIn recKind = iota
	kindAudit
	kindProvisioning
)

// streamDef declares a stream once: its name, record kind, sign-in event type, default ingestion delay and
// default rate.
type streamDef struct {
	name      string
	key       uint64 // stable key part for hashing
	kind      recKind
	eventType string // signInEventTypes value (sign-ins only)
	ingest    Dist   // default ingestion delay
	rate      func(c *config) float64
}

// Default ingestion delays. The current Entra latency doc gives no figures; an older revision quoted ~2–5
// min for audits and ~5–10 min for sign-ins (reference §5, unverified). Non-interactive sign-ins are
// reported to lag more.
var streamDefs = []*streamDef{
	{name: StreamInteractive, key: 1, kind: kindSignIn, eventType: "interactiveUser",
		ingest: Dist{Fixed: 30 * time.Second, Median: 4 * time.Minute, Sigma: 0.5, Max: 30 * time.Minute},
		rate:   func(c *config) float64 { return float64(c.Users) * 4 / 24 }},
	{name: StreamNonInteractive, key: 2, kind: kindSignIn, eventType: "nonInteractiveUser",
		ingest: Dist{Fixed: time.Minute, Median: 6 * time.Minute, Sigma: 0.6, Max: 45 * time.Minute},
		rate:   func(c *config) float64 { return float64(c.Users) * 40 / 24 }},
	{name: StreamServicePrincipal, key: 3, kind: kindSignIn, eventType: "servicePrincipal",
		ingest: Dist{Fixed: 30 * time.Second, Median: 4 * time.Minute, Sigma: 0.5, Max: 30 * time.Minute},
		rate:   func(c *config) float64 { return float64(c.Apps+1) * 2 }},
	{name: StreamManagedIdentity, key: 4, kind: kindSignIn, eventType: "managedIdentity",
		ingest: Dist{Fixed: 30 * time.Second, Median: 4 * time.Minute, Sigma: 0.5, Max: 30 * time.Minute},
		rate:   func(c *config) float64 { return float64(c.ManagedIdentities) * 4 }},
	{name: StreamDirectoryAudits, key: 5, kind: kindAudit,
		ingest: Dist{Fixed: 30 * time.Second, Median: 2 * time.Minute, Sigma: 0.5, Max: 15 * time.Minute},
		rate:   func(c *config) float64 { return float64(c.Users) * 2 / 24 }},
	{name: StreamProvisioning, key: 6, kind: kindProvisioning,
		ingest: Dist{Fixed: time.Minute, Median: 5 * time.Minute, Sigma: 0.5, Max: 30 * time.Minute},
		rate:   func(c *config) float64 { return float64(c.Users) / 8 }},
}

// StreamNames lists the log streams.
func StreamNames() []string {
	out := make([]string, len(streamDefs))
	for i, d := range streamDefs {
		out[i] = d.name
	}
	return out
}

func streamByName(name string) *streamDef {
	for _, d := range streamDefs {
		if d.name == name {
			return d
		}
	}
	return nil
}

// stream is a stream's resolved parameters in one tenant.
type stream struct {
	def       *streamDef
	seedKey   uint64
	rate      float64 // events per hour
	slotNs    int64
	lambda    float64 // mean events per slot
	lateShare float64
	ingest    Dist
	late      Dist
	histFrom  int64
	// slots counts slot generations, so tests can check that reads seek instead of scanning history.
	slots atomic.Int64
}

func newStream(c *config, d *streamDef) *stream {
	so := c.Streams[d.name]
	s := &stream{def: d, seedKey: hashOf(uint64(c.Seed), d.key), histFrom: c.histFrom.UnixNano()}
	s.rate = so.Rate
	if s.rate == 0 {
		s.rate = d.rate(c)
	}
	if s.rate < 0 {
		s.rate = 0
	}
	// A power-of-two number of seconds in [1, 4096] holding about 16 events.
	slotSec := int64(4096)
	if s.rate > 0 {
		want := 16 * 3600 / s.rate
		slotSec = 1
		for slotSec < 4096 && float64(slotSec*2) <= want {
			slotSec *= 2
		}
	}
	s.slotNs = slotSec * int64(time.Second)
	s.lambda = s.rate * float64(slotSec) / 3600
	s.lateShare = c.LateShare
	switch {
	case so.LateShare < 0:
		s.lateShare = 0
	case so.LateShare > 0:
		s.lateShare = so.LateShare
	}
	s.ingest = d.ingest
	if !so.IngestDelay.IsZero() {
		s.ingest = so.IngestDelay
	}
	s.late = c.LateDelay
	if !so.LateDelay.IsZero() {
		s.late = so.LateDelay
	}
	return s
}

// event is the skeleton of one log event; its fields are re-derived from k0/k1 when rendered.
type event struct {
	ts, vis int64 // event time and the time it becomes visible (unix ns; ts is a multiple of 100 ns)
	k0, k1  uint64
	st      *stream
}

// cursor is a position in the total order of events: (time, k0, k1).
type cursor struct {
	ts     int64
	k0, k1 uint64
}

func (e *event) pos() cursor { return cursor{e.ts, e.k0, e.k1} }

// cmpPos orders positions ascending.
func cmpPos(a, b cursor) int {
	switch {
	case a.ts != b.ts:
		return cmpOrdered(a.ts, b.ts)
	case a.k0 != b.k0:
		if a.k0 < b.k0 {
			return -1
		}
		return 1
	case a.k1 != b.k1:
		if a.k1 < b.k1 {
			return -1
		}
		return 1
	}
	return 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (s *stream) slotOf(ts int64) int64 { return floorDiv(ts, s.slotNs) }

// slotEvents appends the events of slot k to buf (in generation order).
func (s *stream) slotEvents(k int64, buf []event) []event {
	s.slots.Add(1)
	if s.lambda == 0 {
		return buf
	}
	start := k * s.slotNs
	if start+s.slotNs <= s.histFrom {
		return buf
	}
	n := newRNG(s.seedKey, uint64(k)).poisson(s.lambda)
	first := len(buf)
	for i := 0; i < n; i++ {
		r := newRNG(s.seedKey, uint64(k), uint64(i)+1)
		ts := start + int64(r.float()*float64(s.slotNs))/100*100
		switch {
		case i > 0 && len(buf) > first && r.chance(0.05):
			// Bursts: several events share one timestamp (collectors that checkpoint "last time + 1 ms"
			// lose them).
			ts = buf[len(buf)-1].ts
		case r.chance(0.1):
			// Whole-second timestamps, as some Graph events carry.
			ts -= ts % int64(time.Second)
		}
		var delay time.Duration
		if s.lateShare > 0 && r.chance(s.lateShare) {
			delay = s.late.sample(r)
		} else {
			delay = s.ingest.sample(r)
		}
		e := event{ts: ts, vis: ts + int64(delay), k0: r.next(), k1: r.next(), st: s}
		if ts < s.histFrom {
			continue
		}
		buf = append(buf, e)
	}
	return buf
}

// scanSpec selects events of one or more streams.
type scanSpec struct {
	streams []*stream
	lo, hi  int64 // inclusive bounds of event time
	now     int64 // visibility time: events with vis <= now are visible
	desc    bool
	after   *cursor // exclusive start position (in scan direction)
	match   func(*event) bool
}

// streamIter walks one stream's slots in scan direction.
type streamIter struct {
	st      *stream
	spec    *scanSpec
	k, last int64
	buf     []event
	i       int
}

func newStreamIter(st *stream, spec *scanSpec) *streamIter {
	it := &streamIter{st: st, spec: spec}
	lo, hi := spec.lo, spec.hi
	if spec.after != nil {
		if spec.desc {
			hi = min(hi, spec.after.ts)
		} else {
			lo = max(lo, spec.after.ts)
		}
	}
	lo = max(lo, st.histFrom)
	if lo > hi {
		it.k, it.last = 1, 0 // empty
		if spec.desc {
			it.k, it.last = 0, 1
		}
		return it
	}
	if spec.desc {
		it.k, it.last = st.slotOf(hi), st.slotOf(lo)
	} else {
		it.k, it.last = st.slotOf(lo), st.slotOf(hi)
	}
	return it
}

func (it *streamIter) exhausted() bool {
	if it.spec.desc {
		return it.k < it.last
	}
	return it.k > it.last
}

func (it *streamIter) accept(e *event) bool {
	sp := it.spec
	if e.ts < sp.lo || e.ts > sp.hi || e.vis > sp.now {
		return false
	}
	if sp.after != nil {
		c := cmpPos(e.pos(), *sp.after)
		if sp.desc && c >= 0 || !sp.desc && c <= 0 {
			return false
		}
	}
	return sp.match == nil || sp.match(e)
}

// head returns the next accepted event without consuming it, or nil at the end.
func (it *streamIter) head() *event {
	for {
		for it.i < len(it.buf) {
			e := &it.buf[it.i]
			if it.accept(e) {
				return e
			}
			it.i++
		}
		if it.exhausted() {
			return nil
		}
		it.buf = it.st.slotEvents(it.k, it.buf[:0])
		desc := it.spec.desc
		slices.SortFunc(it.buf, func(a, b event) int {
			c := cmpPos(a.pos(), b.pos())
			if desc {
				return -c
			}
			return c
		})
		it.i = 0
		if desc {
			it.k--
		} else {
			it.k++
		}
	}
}

func (it *streamIter) pop() { it.i++ }

// scanner merges stream iterators into one ordered sequence.
type scanner struct {
	its  []*streamIter
	desc bool
}

func newScanner(spec *scanSpec) *scanner {
	sc := &scanner{desc: spec.desc}
	for _, st := range spec.streams {
		sc.its = append(sc.its, newStreamIter(st, spec))
	}
	return sc
}

// next returns the next event in order (a copy), or false at the end.
func (sc *scanner) next() (event, bool) {
	var best *streamIter
	var bestE *event
	for _, it := range sc.its {
		e := it.head()
		if e == nil {
			continue
		}
		if bestE == nil {
			best, bestE = it, e
			continue
		}
		c := cmpPos(e.pos(), bestE.pos())
		if sc.desc && c > 0 || !sc.desc && c < 0 {
			best, bestE = it, e
		}
	}
	if bestE == nil {
		return event{}, false
	}
	e := *bestE
	best.pop()
	return e, true
}

// retention is how far back a stream's events stay readable: 30 days with P1/P2; 7 days on a free tenant
// (reference §5, Entra data retention).
func retention(l licences) time.Duration {
	if l.premium() {
		return 30 * 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// TruthEvent is one event of the ground truth.
type TruthEvent struct {
	ID   string
	Time time.Time
	// Visible is when the event became (or becomes) visible to queries.
	Visible time.Time
}

// eachTruth calls fn for every event of the stream with time in [from, to) that is visible at asOf and
// still inside the retention window at asOf, newest first; fn returns false to stop.
func (t *Tenant) eachTruth(name string, from, to, asOf time.Time, fn func(TruthEvent) bool) error {
	st := t.streams[name]
	if st == nil {
		return fmt.Errorf("entrasim: unknown stream %q (want one of %v)", name, StreamNames())
	}
	now := asOf.UnixNano()
	lo := asOf.Add(-retention(t.lic())).UnixNano()
	if !from.IsZero() {
		lo = max(lo, from.UnixNano())
	}
	hi := now
	if !to.IsZero() {
		hi = min(hi, to.UnixNano()-1)
	}
	sc := newScanner(&scanSpec{streams: []*stream{st}, lo: lo, hi: hi, now: now, desc: true})
	for {
		e, ok := sc.next()
		if !ok {
			return nil
		}
		if !fn(TruthEvent{ID: t.gen.eventID(&e), Time: time.Unix(0, e.ts).UTC(), Visible: time.Unix(0, e.vis).UTC()}) {
			return nil
		}
	}
}

// Truth returns the ids of every event of the stream with time in [from, to) that is visible at the
// simulated time asOf (and not yet aged out of retention then), newest first. A zero from or to leaves
// that side open (bounded by retention and asOf).
func (t *Tenant) Truth(stream string, from, to, asOf time.Time) ([]string, error) {
	var ids []string
	err := t.eachTruth(stream, from, to, asOf, func(e TruthEvent) bool {
		ids = append(ids, e.ID)
		return true
	})
	return ids, err
}

// TruthEvents is Truth with each event's time and visibility time.
func (t *Tenant) TruthEvents(stream string, from, to, asOf time.Time) ([]TruthEvent, error) {
	var out []TruthEvent
	err := t.eachTruth(stream, from, to, asOf, func(e TruthEvent) bool {
		out = append(out, e)
		return true
	})
	return out, err
}
