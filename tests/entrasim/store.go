package entrasim

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The directory object store: every directory object (users, groups, applications, service principals,
// devices, roles, authentication methods, policies, …) is a resource with ordered JSON properties, a change
// sequence number for delta queries, and soft-delete and tombstone states. Resource types are declared as
// data (constructors filling properties), so one renderer, one $select, one $filter view and one delta
// implementation serve them all. Phase-2 resource types are added by loading resources into a new collection
// and declaring its routes (dirapi.go).

// kv is one property; values are nil, string, bool, int, float64, time.Time, []string, obj or []obj.
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

// memberChange is one change of a group's (or role's) membership, for members@delta.
type memberChange struct {
	seq     uint64
	id      string
	typ     string // member entity type, e.g. "user"
	removed bool
}

// resource is one directory object.
type resource struct {
	id        string
	props     obj
	seq       uint64         // sequence number of the last change
	deleted   time.Time      // soft-deleted at (simulated time); zero when live
	gone      bool           // permanently deleted: a tombstone kept for delta
	hidden    map[string]any // state Graph does not return as properties (secret texts, granted roles)
	members   []string       // member ids (groups, directory roles)
	memberLog []memberChange // membership changes, for members@delta
}

func (r *resource) live() bool { return r.deleted.IsZero() && !r.gone }

// collection is the resources of one type, kept in id order.
type collection struct {
	name   string // path segment, e.g. "users"
	entity string // entity type, e.g. "user"
	byID   map[string]*resource
	ids    []string
}

// store holds the collections and the change sequence. It is safe for concurrent use through its mutex.
type store struct {
	mu   sync.RWMutex
	seq  uint64
	cols map[string]*collection
}

func newStore() *store { return &store{cols: map[string]*collection{}} }

// col returns a collection, creating it.
func (s *store) col(name, entity string) *collection {
	c := s.cols[name]
	if c == nil {
		c = &collection{name: name, entity: entity, byID: map[string]*resource{}}
		s.cols[name] = c
	}
	return c
}

// next advances the change sequence. Callers hold s.mu.
func (s *store) next() uint64 {
	s.seq++
	return s.seq
}

// add inserts a resource (caller holds s.mu).
func (s *store) add(c *collection, r *resource) *resource {
	r.seq = s.next()
	c.byID[strings.ToLower(r.id)] = r
	i := sort.SearchStrings(c.ids, strings.ToLower(r.id))
	c.ids = slices.Insert(c.ids, i, strings.ToLower(r.id))
	return r
}

// touch marks a resource changed (caller holds s.mu).
func (s *store) touch(r *resource) { r.seq = s.next() }

// setMember adds or removes a member of a group or role and records the change for members@delta; false
// when the membership already is as asked (caller holds s.mu).
func (s *store) setMember(g *resource, memberID, memberType string, remove bool) bool {
	has := slices.Contains(g.members, memberID)
	if has != remove {
		return false
	}
	if remove {
		g.members = slices.DeleteFunc(g.members, func(x string) bool { return x == memberID })
	} else {
		g.members = append(g.members, memberID)
	}
	s.touch(g)
	g.memberLog = append(g.memberLog, memberChange{seq: g.seq, id: memberID, typ: memberType, removed: remove})
	return true
}

func (c *collection) get(id string) *resource { return c.byID[strings.ToLower(id)] }

// each calls fn for every resource in id order after the id after (exclusive, "" for the start).
func (c *collection) each(after string, fn func(*resource) bool) {
	i := 0
	if after != "" {
		i = sort.SearchStrings(c.ids, strings.ToLower(after))
		if i < len(c.ids) && c.ids[i] == strings.ToLower(after) {
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
			w.time(x.UnixNano())
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

// resourceView lets filters read a resource's properties ("a/b" for nested ones).
type resourceView struct{ r *resource }

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

func (v resourceView) get(path string) value {
	if path == "id" {
		return sval(v.r.id)
	}
	x, _ := lookup(v.r.props, path)
	return valueOf(x)
}

func (v resourceView) scalars(coll string) []value {
	x, _ := lookup(v.r.props, coll)
	list, _ := x.([]string)
	out := make([]value, len(list))
	for i, s := range list {
		out[i] = sval(s)
	}
	return out
}

func (v resourceView) items(coll string) []view {
	x, _ := lookup(v.r.props, coll)
	list, _ := x.([]obj)
	out := make([]view, len(list))
	for i, o := range list {
		out[i] = resourceView{&resource{props: o}}
	}
	return out
}
