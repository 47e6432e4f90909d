package entrasim

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The directory object store. Every directory object (users, groups, applications, service principals,
// devices, roles, administrative units, policies, …) is a resource: an id, the properties of its initial state
// (generated on demand from the seed and the object's index, so a tenant of 300,000 users stores no property
// values until something changes), and a history of versions. A version is one change — properties set, a
// soft delete, a restore, a permanent delete — with a change sequence number, the simulated time it was made
// and the time from which delta queries see it (removals may be seen later, Options.RemovalDelay). Groups,
// directory roles and administrative units also keep their direct members and a membership log. Keeping the
// history makes delta rounds consistent snapshots, lets a round say exactly what changed for the properties
// it tracks, and lets the ground truth tell the directory's state at any simulated time.

// kv is one property; values are nil, string, bool, int, float64, time.Time, []string, obj, []obj or []any.
type kv struct {
	k string
	v any
}

// obj is an ordered set of properties (a JSON object).
type obj []kv

func (o obj) get(k string) (any, bool) {
	for _, p := range o {
		if p.k == k {
			return p.v, true
		}
	}
	return nil, false
}

func (o obj) str(k string) string {
	v, _ := o.get(k)
	s, _ := v.(string)
	return s
}

// set replaces a property or appends it.
func (o *obj) set(k string, v any) {
	for i := range *o {
		if (*o)[i].k == k {
			(*o)[i].v = v
			return
		}
	}
	*o = append(*o, kv{k, v})
}

// resState is an object's lifecycle state.
type resState uint8

const (
	stLive        resState = iota
	stSoftDeleted          // in deletedItems, restorable: delta reports @removed "changed"
	stGone                 // permanently deleted: delta reports @removed "deleted"
)

// version is one change of an object.
type version struct {
	seq   uint64
	at    int64    // simulated time of the change (unix ns)
	vis   int64    // from when delta queries and the ground truth see it (at, or later for removals)
	state resState // the object's state after the change
	born  bool     // the change created the object; set then holds all its properties
	set   obj      // properties the change set
}

// memberChange is one change of a group's, role's or administrative unit's direct members.
type memberChange struct {
	seq     uint64
	at, vis int64
	m       *resource
	removed bool
}

// membership is the direct members of a group, directory role or administrative unit.
type membership struct {
	initial []*resource // at the initial state (generated)
	current []*resource // now, in the order they were added
	log     []memberChange
}

// resource is one directory object.
type resource struct {
	id     string
	col    *collection
	idx    int32 // index for the collection's generator (initial objects); -1 for objects created later
	vers   []version
	ms     *membership    // groups, directory roles, administrative units
	hidden map[string]any // state Graph does not return as properties (secret texts, granted roles, methods)
}

// state is the object's current lifecycle state.
func (r *resource) state() resState {
	if n := len(r.vers); n > 0 {
		return r.vers[n-1].state
	}
	return stLive
}

func (r *resource) live() bool { return r.state() == stLive }

// props returns the object's current properties (a fresh copy the caller may keep).
func (r *resource) props() obj { return r.propsAt(viewNow) }

// prop returns one current property (nil when absent), generating only that one.
func (r *resource) prop(k string) any {
	v, _ := r.propsWant(viewNow, func(x string) bool { return x == k }).get(k)
	return v
}

// propStr returns one current string property ("" when absent or not a string).
func (r *resource) propStr(k string) string {
	s, _ := r.prop(k).(string)
	return s
}

// pin selects the versions a reader sees: those with seq <= s and vis <= t.
type pin struct {
	s uint64
	t int64
}

// viewNow sees every change.
var viewNow = pin{s: math.MaxUint64, t: math.MaxInt64}

func (v pin) sees(seq uint64, vis int64) bool { return seq <= v.s && vis <= v.t }

// existsAt reports whether the object exists in v and its state there.
func (r *resource) existsAt(v pin) (resState, bool) {
	st, exists := stLive, r.idx >= 0
	for i := range r.vers {
		x := &r.vers[i]
		if !v.sees(x.seq, x.vis) {
			continue
		}
		st, exists = x.state, true
	}
	return st, exists
}

// propsAt returns the object's properties in v (a fresh copy).
func (r *resource) propsAt(v pin) obj { return r.propsWant(v, nil) }

// propsWant returns the object's properties in v, at least the wanted ones (nil: all): a generator may
// leave out the properties not wanted (users do, as rendering 80 properties to write five is the cost of a
// large initial sync).
func (r *resource) propsWant(v pin, want func(string) bool) obj {
	var p obj
	if r.idx >= 0 {
		p = r.col.gen(r, want)
	}
	for i := range r.vers {
		x := &r.vers[i]
		if !v.sees(x.seq, x.vis) {
			continue
		}
		if x.born {
			p = p[:0:0]
			for _, kv := range x.set {
				if want == nil || want(kv.k) {
					p = append(p, kv)
				}
			}
			continue
		}
		for _, kv := range x.set {
			if want == nil || want(kv.k) {
				p.set(kv.k, kv.v)
			}
		}
	}
	return p
}

// membersAt returns the direct members in v (the caller must not modify the result).
func (r *resource) membersAt(v pin) []*resource {
	ms := r.ms
	if ms == nil {
		return nil
	}
	all := true
	for i := range ms.log {
		if !v.sees(ms.log[i].seq, ms.log[i].vis) {
			all = false
			break
		}
	}
	if all {
		return ms.current
	}
	out := slices.Clone(ms.initial)
	for _, c := range ms.log {
		if !v.sees(c.seq, c.vis) {
			continue
		}
		i := slices.Index(out, c.m)
		switch {
		case c.removed && i >= 0:
			out = slices.Delete(out, i, i+1)
		case !c.removed && i < 0:
			out = append(out, c.m)
		}
	}
	return out
}

// collection is the resources of one type, kept in id order, with the log of their changes.
type collection struct {
	name   string // path segment, e.g. "users"
	entity string // entity type, e.g. "user"
	byID   map[string]*resource
	ids    []string // lower-case ids, sorted
	// log holds every change of the collection's objects (properties, lifecycle, members) in sequence order.
	log []changeRef
	// gen renders the initial properties of a generated object (idx >= 0): at least the wanted ones (nil: all).
	gen func(r *resource, want func(string) bool) obj
}

// changeRef points at one change in a collection's log.
type changeRef struct {
	seq uint64
	at  int64
	r   *resource
}

// store holds the collections and the change sequence. It is safe for concurrent use through its mutex.
type store struct {
	mu           sync.RWMutex
	seq          uint64
	lastAt       int64
	removalDelay int64 // Options.RemovalDelay in ns
	cols         map[string]*collection
}

func newStore(removalDelay time.Duration) *store {
	return &store{cols: map[string]*collection{}, removalDelay: int64(removalDelay), lastAt: math.MinInt64}
}

// col returns a collection, creating it.
func (s *store) col(name, entity string) *collection {
	c := s.cols[name]
	if c == nil {
		c = &collection{name: name, entity: entity, byID: map[string]*resource{}}
		s.cols[name] = c
	}
	return c
}

// load adds an initial object without a version (caller holds s.mu); call c.sortIDs when done loading.
func (s *store) load(c *collection, r *resource) *resource {
	r.col = c
	key := strings.ToLower(r.id)
	c.byID[key] = r
	c.ids = append(c.ids, key)
	return r
}

// loadProps adds an initial object whose properties are stored rather than generated (caller holds s.mu).
func (s *store) loadProps(c *collection, id string, p obj) *resource {
	return s.load(c, &resource{id: id, idx: -1, vers: []version{{at: math.MinInt64, vis: math.MinInt64, born: true, set: p}}})
}

func (c *collection) sortIDs() { sort.Strings(c.ids) }

// reserve makes room for n more objects (loading a large collection without rehashing).
func (c *collection) reserve(n int) {
	if len(c.byID) == 0 {
		c.byID = make(map[string]*resource, n)
	}
	c.ids = slices.Grow(c.ids, n)
}

// stamp returns the next sequence number and the change time, kept monotonic (a clock set backwards does not
// reorder the log). Caller holds s.mu.
func (s *store) stamp(at time.Time) (uint64, int64) {
	s.seq++
	ns := max(at.UnixNano(), s.lastAt)
	s.lastAt = ns
	return s.seq, ns
}

func (s *store) logChange(r *resource, seq uint64, at int64) {
	r.col.log = append(r.col.log, changeRef{seq: seq, at: at, r: r})
}

// create adds an object made at run time with its properties (caller holds s.mu).
func (s *store) create(c *collection, id string, props obj, at time.Time) *resource {
	r := &resource{id: id, col: c, idx: -1}
	seq, ns := s.stamp(at)
	r.vers = append(r.vers, version{seq: seq, at: ns, vis: ns, born: true, set: props})
	key := strings.ToLower(id)
	c.byID[key] = r
	i, _ := slices.BinarySearch(c.ids, key)
	c.ids = slices.Insert(c.ids, i, key)
	s.logChange(r, seq, ns)
	return r
}

// update sets properties of a live object (caller holds s.mu).
func (s *store) update(r *resource, at time.Time, set obj) {
	seq, ns := s.stamp(at)
	r.vers = append(r.vers, version{seq: seq, at: ns, vis: ns, state: r.state(), set: set})
	s.logChange(r, seq, ns)
}

// lifecycle moves an object to a state; removals (soft or permanent delete) become visible to delta queries
// after the removal delay (caller holds s.mu).
func (s *store) lifecycle(r *resource, at time.Time, st resState, set obj) {
	seq, ns := s.stamp(at)
	vis := ns
	if st != stLive {
		vis += s.removalDelay
	}
	r.vers = append(r.vers, version{seq: seq, at: ns, vis: vis, state: st, set: set})
	s.logChange(r, seq, ns)
}

// setMember adds or removes a direct member and logs the change; false when the membership already is as
// asked. Removals become visible to delta queries after the removal delay (caller holds s.mu).
func (s *store) setMember(g, m *resource, remove bool, at time.Time) bool {
	ms := g.ms
	i := slices.Index(ms.current, m)
	if (i >= 0) != remove {
		return false
	}
	if remove {
		ms.current = slices.Delete(slices.Clone(ms.current), i, i+1)
	} else {
		ms.current = append(slices.Clip(ms.current), m)
	}
	seq, ns := s.stamp(at)
	vis := ns
	if remove {
		vis += s.removalDelay
	}
	ms.log = append(ms.log, memberChange{seq: seq, at: ns, vis: vis, m: m, removed: remove})
	s.logChange(g, seq, ns)
	return true
}

func (c *collection) get(id string) *resource { return c.byID[strings.ToLower(id)] }

// each calls fn for every resource in id order after the id after (exclusive, "" for the start).
func (c *collection) each(after string, fn func(*resource) bool) {
	i := 0
	if after != "" {
		la := strings.ToLower(after)
		i = sort.SearchStrings(c.ids, la)
		if i < len(c.ids) && c.ids[i] == la {
			i++
		}
	}
	for ; i < len(c.ids); i++ {
		if !fn(c.byID[c.ids[i]]) {
			return
		}
	}
}

// writeValue renders a property value.
func writeValue(w *jw, v any) {
	switch x := v.(type) {
	case nil:
		w.null()
	case string:
		w.str(x)
	case bool:
		w.bool(x)
	case int:
		w.int(x)
	case float64:
		w.float(x)
	case time.Time:
		if x.IsZero() {
			w.null()
		} else {
			w.timeOf(x)
		}
	case []string:
		w.strs(x...)
	case obj:
		w.beginObj()
		for _, p := range x {
			if w.key(p.k) {
				writeValue(w, p.v)
			}
		}
		w.endObj()
	case []obj:
		w.beginArr()
		for _, o := range x {
			writeValue(w, o)
		}
		w.endArr()
	case []any:
		w.beginArr()
		for _, e := range x {
			writeValue(w, e)
		}
		w.endArr()
	default:
		w.null()
	}
}

// objView lets filters read a property set ("a/b" for nested properties).
type objView struct {
	id string
	p  obj
}

func viewOf(r *resource) objView { return objView{id: r.id, p: r.props()} }

func valueOf(v any) value {
	switch x := v.(type) {
	case string:
		return sval(x)
	case bool:
		return bval(x)
	case int:
		return nval(x)
	case float64:
		return value{kind: vNumber, n: x}
	case time.Time:
		if x.IsZero() {
			return value{}
		}
		return tval(x.UnixNano())
	}
	return value{}
}

func lookup(o obj, path string) (any, bool) {
	head, rest, nested := strings.Cut(path, "/")
	v, ok := o.get(head)
	if !ok || !nested {
		return v, ok
	}
	sub, isObj := v.(obj)
	if !isObj {
		return nil, false
	}
	return lookup(sub, rest)
}

func (v objView) get(path string) value {
	if path == "id" && v.id != "" {
		return sval(v.id)
	}
	x, _ := lookup(v.p, path)
	return valueOf(x)
}

func (v objView) scalars(coll string) []value {
	x, _ := lookup(v.p, coll)
	list, _ := x.([]string)
	out := make([]value, len(list))
	for i, s := range list {
		out[i] = sval(s)
	}
	return out
}

func (v objView) items(coll string) []view {
	x, _ := lookup(v.p, coll)
	list, _ := x.([]obj)
	out := make([]view, len(list))
	for i, o := range list {
		out[i] = objView{p: o}
	}
	return out
}
