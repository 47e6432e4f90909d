package entrasim

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Delta queries on directory objects (concepts/delta-query-overview.md, delta-query-groups.md, reference §1):
//
//   - A round is pinned when it starts: it sees every change made before its first request (and visible to
//     delta then, see RemovalDelay), and none made while it is being paged; the next round reports those.
//   - A round without a token enumerates every live object and ends with an @odata.deltaLink carrying
//     $deltatoken. A round from a delta token reports the objects that changed since the previous round
//     started — with all the requested properties (only the changed ones with Prefer: return=minimal),
//     {"id", "@removed":{"reason":"changed"}} for soft-deleted (restorable) objects and "deleted" for
//     permanently deleted ones.
//   - $select narrows what is tracked: an object whose only changes are to properties not selected is not
//     reported. The id is always returned. signInActivity cannot be selected.
//   - Groups, directory roles and administrative units carry members@delta when members are tracked
//     (without $select, with members in $select, or with $expand=members): every member on an initial
//     round, then additions and removals ({"@removed":{"reason":"deleted"}}); an empty list is left out.
//     An object with more than Options.MemberSliceSize entries is reported several times in the same
//     round, consecutively, each time with the same properties and the next slice of members@delta; a
//     page holds at most that many member entries.
//   - Replays (Options.DeltaReplayShare): a round reports again, with their current state, a share of the
//     objects the previous round reported (members@delta repeats the previous round's entries for members
//     that did not change since) — deterministic from the seed.
//   - Delayed removals (Options.RemovalDelay): deletions and membership removals reach delta rounds that
//     much simulated time after they happen, so they surface in a later round than the changes made with
//     them. A round's position is a sequence number and a simulated time: the next round reports what the
//     previous one could not see yet.
//   - $deltatoken=latest returns no objects and a deltaLink from now.
//   - Expiry: a deltaLink older than 7 days of simulated time answers 400 syncStateNotFound, "The sync state
//     generation is not found. The delta token is expired and data must be synchronized again." (Microsoft
//     365 Dev Blog, 2020-07-03). A synchronization reset (Tenant.ResetDeltaSync, POST /_sim/directory/reset,
//     or the syncReset fault) answers 410 Gone with a Location header holding the round's initial request
//     with an empty $deltatoken (overview, "Synchronization reset"); the resyncRequired fault answers 400
//     with that error code (concepts/errors.md).
//   - Page size: the server's choice, 200 here (unverified), or Prefer: odata.maxpagesize=N (at most 999).

const deltaTokenLifetime = 7 * 24 * time.Hour

// defaultMemberSlice is the default Options.MemberSliceSize (Graph's real threshold is unpublished).
const defaultMemberSlice = 1000

// Delta round flags, kept in the tokens.
const (
	dfInitial     = 1 << iota // an initial round (no previous state)
	dfMembers                 // members are tracked
	dfPrevInitial             // the previous round was an initial one (nothing to replay)
)

// deltaState is a delta request's position: the round's window (from → to), the previous round's start
// (prev, for replays), and the paging cursor.
type deltaState struct {
	sel            []string // nil: every property tracked, the defaults rendered
	selRaw         string
	flags          int
	gen            uint64
	prev, from, to pin
	after          string
	slice          int
}

func (st *deltaState) initial() bool { return st.flags&dfInitial != 0 }
func (st *deltaState) members() bool { return st.flags&dfMembers != 0 }

func fmtU(v uint64) string { return strconv.FormatUint(v, 10) }
func fmtI(v int64) string  { return strconv.FormatInt(v, 10) }
func parseU(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}
func parseI(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func (t *Tenant) serveDelta(rc *reqCtx, ep *dirEndpoint) {
	o, ok := t.dirPrecheck(rc, ep)
	if !ok {
		return
	}
	t.syncChurn()
	body, n, g := t.renderDelta(rc, ep, o)
	if g != nil {
		t.writeError(rc, g)
		return
	}
	t.sendPage(rc, body, n)
}

// deltaPrefer reads the Prefer header: the page size (odata.maxpagesize, default 200) and return=minimal.
func deltaPrefer(r *http.Request) (size int, minimal bool) {
	size = 200
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			if v, ok := strings.CutPrefix(p, "odata.maxpagesize="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					size = min(n, 999)
				}
			}
			if strings.EqualFold(p, "return=minimal") {
				minimal = true
			}
		}
	}
	return size, minimal
}

// errSyncStateNotFound answers an expired deltaLink (Microsoft 365 Dev Blog, "Duration of change tracking
// tokens for identity and education resources").
var errSyncStateNotFound = &gerr{status: http.StatusBadRequest, code: "syncStateNotFound",
	message: "The sync state generation is not found. The delta token is expired and data must be synchronized again."}

// resyncMessage is the description of resyncRequired in concepts/errors.md (the 410 body's code and message
// are unverified).
const resyncMessage = "The delta token is no longer valid, and the app must reset the sync state."

// syncReset is the 410 of a synchronization reset, pointing at the round's initial request.
func syncReset(rc *reqCtx, selRaw string, members bool) *gerr {
	loc := link(rc.base, rc.r.URL.Path, "$select", selRaw)
	if members && !strings.Contains(","+strings.ToLower(selRaw)+",", ",members,") {
		loc = link(rc.base, rc.r.URL.Path, "$select", selRaw, "$expand", "members")
	}
	if strings.Contains(loc, "?") {
		loc += "&$deltatoken="
	} else {
		loc += "?$deltatoken="
	}
	return &gerr{status: http.StatusGone, code: "resyncRequired", message: resyncMessage, header: map[string]string{"Location": loc}}
}

func (t *Tenant) deltaSelect(ep *dirEndpoint, raw string) ([]string, *gerr) {
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if ep.def != nil && slices.ContainsFunc(ep.def.noDelta, func(x string) bool { return strings.EqualFold(x, p) }) {
			return nil, &gerr{status: 400, code: "BadRequest", message: "Invalid request for delta query: for this entity set, $expand/$select is not supported for the following properties: " + p}
		}
	}
	extra := []string(nil)
	if ep.members {
		extra = []string{"members"}
	}
	return t.parseSelect(ep, raw, extra...)
}

// collectionGen is a collection's synchronization generation: ResetDeltaSync bumps it (caller holds the
// store lock).
func (t *Tenant) collectionGen(col string) uint64 { return t.syncGen[col] }

func (t *Tenant) renderDelta(rc *reqCtx, ep *dirEndpoint, o options) ([]byte, int, *gerr) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	for name := range o.vals {
		switch name {
		case "select", "deltatoken", "skiptoken":
		case "expand":
			if ep.members && strings.EqualFold(strings.TrimSpace(o.vals[name]), "members") {
				continue
			}
			return nil, 0, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Could not find a property named '%s' on type '%s'.", o.vals[name], ep.typeName)}
		default:
			// $top, $orderby and $filter other than by id are not supported on delta (reference §1.1); wording
			// unverified.
			return nil, 0, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Query option '$%s' is not supported with delta.", name)}
		}
	}
	c := t.store.cols[ep.col]
	now := pin{s: t.store.seq, t: t.Now().UnixNano()}
	gen := t.collectionGen(ep.col)
	var st deltaState
	badToken := &gerr{status: 400, code: "Request_BadRequest", message: "Invalid delta token."} // unverified wording
	dt, hasDT := o.vals["deltatoken"]
	switch {
	case o.vals["skiptoken"] != "":
		f, ok := t.unseal(o.vals["skiptoken"], tokDeltaSkip, 12)
		if !ok || f[0] != ep.path {
			return nil, 0, errDirSkipToken
		}
		st.selRaw, st.flags, st.gen = f[1], int(parseI(f[2])), parseU(f[3])
		st.prev = pin{s: parseU(f[4]), t: parseI(f[5])}
		st.from = pin{s: parseU(f[6]), t: parseI(f[7])}
		st.to = pin{s: parseU(f[8]), t: parseI(f[9])}
		st.after, st.slice = f[10], int(parseI(f[11]))
		if st.gen != gen {
			return nil, 0, syncReset(rc, st.selRaw, st.members())
		}
	case dt == "latest":
		sel, g := t.deltaSelect(ep, o.vals["select"])
		if g != nil {
			return nil, 0, g
		}
		st.selRaw = strings.Join(sel, ",")
		st.flags = t.deltaMemberFlag(ep, sel, o)
		p := dirPage{context: t.contextURL(rc, ep.path, nil),
			delta: link(rc.base, rc.r.URL.Path, "$deltatoken", t.deltaToken(ep, st.selRaw, st.flags|dfPrevInitial, gen, now, now))}
		body, n := p.render()
		return body, n, nil
	case hasDT && dt != "":
		f, ok := t.unseal(dt, tokDelta, 9)
		if !ok || f[0] != ep.path {
			return nil, 0, badToken
		}
		st.selRaw, st.flags, st.gen = f[1], int(parseI(f[2])), parseU(f[3])
		st.prev = pin{s: parseU(f[4]), t: parseI(f[5])}
		st.from = pin{s: parseU(f[6]), t: parseI(f[7])}
		issued := parseI(f[8])
		switch {
		case st.gen != gen || rc.fault == FaultSyncReset:
			return nil, 0, syncReset(rc, st.selRaw, st.members())
		case now.t-issued > int64(deltaTokenLifetime):
			return nil, 0, errSyncStateNotFound
		}
		st.to = now
	default:
		sel, g := t.deltaSelect(ep, o.vals["select"])
		if g != nil {
			return nil, 0, g
		}
		st.selRaw = strings.Join(sel, ",")
		st.flags = dfInitial | t.deltaMemberFlag(ep, sel, o)
		st.gen = gen
		st.to = now
	}
	sel, g := t.deltaSelect(ep, st.selRaw)
	if g != nil {
		return nil, 0, g
	}
	st.sel = slices.DeleteFunc(sel, func(s string) bool { return s == "members" })
	if sel != nil && len(st.sel) == 0 {
		st.sel = []string{"id"}
	}

	size, minimal := deltaPrefer(rc.r)
	sliceSize := t.cfg.MemberSliceSize
	units := t.deltaUnits(c, ep, &st)
	var page []deltaUnit
	entries := 0
	more := false
	for {
		u, ok := units()
		if !ok {
			break
		}
		n := len(u.members)
		if len(page) == size || len(page) > 0 && entries+n > sliceSize {
			more = true
			break
		}
		page = append(page, u)
		entries += n
	}
	p := dirPage{context: t.contextURL(rc, ep.path, nil)}
	if more {
		last := page[len(page)-1]
		next := ""
		if last.slice+1 < last.slices {
			next = strconv.Itoa(last.slice + 1)
		} else {
			next = "0"
		}
		p.next = link(rc.base, rc.r.URL.Path, "$skiptoken", t.seal(tokDeltaSkip, ep.path, st.selRaw, fmtI(int64(st.flags)), fmtU(st.gen),
			fmtU(st.prev.s), fmtI(st.prev.t), fmtU(st.from.s), fmtI(st.from.t), fmtU(st.to.s), fmtI(st.to.t), last.r.id, next))
	} else {
		// The next round starts where this one was pinned: a position is a sequence number and a time, so a
		// removal made before the pin but visible only later is new to the next round.
		next := st.to
		flags := st.flags &^ (dfInitial | dfPrevInitial)
		if st.initial() {
			flags |= dfPrevInitial
		}
		p.delta = link(rc.base, rc.r.URL.Path, "$deltatoken", t.deltaToken(ep, st.selRaw, flags, st.gen, st.from, next))
	}
	def := ep.def
	want := wantFor(st.sel, def)
	if minimal && st.sel == nil {
		want = nil
	}
	p.items = func(w *jw, emit func()) {
		for _, u := range page {
			w.beginObj()
			if u.removed != "" {
				w.kstr("id", u.r.id)
				w.key("@removed")
				w.beginObj()
				w.kstr("reason", u.removed)
				w.endObj()
				emit()
				continue
			}
			props := u.r.propsWant(st.to, want)
			switch {
			case minimal && !st.initial() && u.changed != nil:
				w.kstr("id", u.r.id)
				for _, kv := range props {
					if u.changed[kv.k] && kv.k != "id" {
						w.key(kv.k)
						writeValue(w, kv.v)
					}
				}
			default:
				writeProps(w, u.r.id, props, st.sel, def, true)
			}
			if len(u.members) > 0 {
				w.key("members@delta")
				w.beginArr()
				for _, m := range u.members {
					w.beginObj()
					w.kstr("@odata.type", "#microsoft.graph."+m.m.col.entity)
					w.kstr("id", m.m.id)
					if m.removed {
						w.key("@removed")
						w.beginObj()
						w.kstr("reason", "deleted")
						w.endObj()
					}
					w.endObj()
				}
				w.endArr()
			}
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}

// deltaMemberFlag says whether a new round tracks members: by default, or when members is selected or
// expanded.
func (t *Tenant) deltaMemberFlag(ep *dirEndpoint, sel []string, o options) int {
	if !ep.members {
		return 0
	}
	if sel == nil || slices.Contains(sel, "members") || strings.EqualFold(strings.TrimSpace(o.vals["expand"]), "members") {
		return dfMembers
	}
	return 0
}

func (t *Tenant) deltaToken(ep *dirEndpoint, selRaw string, flags int, gen uint64, prev, from pin) string {
	return t.seal(tokDelta, ep.path, selRaw, fmtI(int64(flags)), fmtU(gen), fmtU(prev.s), fmtI(prev.t), fmtU(from.s), fmtI(from.t),
		fmtI(t.Now().UnixNano()))
}

// deltaUnit is one item of a delta round: an object (or one slice of its members@delta), or its removal.
type deltaUnit struct {
	r       *resource
	removed string // "changed" or "deleted" for a removal
	changed map[string]bool
	members []memberEntry
	slice   int
	slices  int
}

type memberEntry struct {
	m       *resource
	removed bool
}

// deltaUnits returns an iterator over the round's units after the cursor, in id order (caller holds the
// store lock).
func (t *Tenant) deltaUnits(c *collection, ep *dirEndpoint, st *deltaState) func() (deltaUnit, bool) {
	var ids []string
	if st.initial() {
		ids = c.ids
	} else {
		ids = t.deltaCandidates(c, st)
	}
	i := sort.SearchStrings(ids, strings.ToLower(st.after))
	if st.after != "" && i < len(ids) && ids[i] == strings.ToLower(st.after) && st.slice == 0 {
		i++
	}
	var pending []deltaUnit
	resume := st.slice
	return func() (deltaUnit, bool) {
		for len(pending) == 0 {
			if i >= len(ids) {
				return deltaUnit{}, false
			}
			r := c.byID[ids[i]]
			i++
			pending = t.deltaUnitsOf(r, ep, st)
			if resume > 0 {
				pending = pending[min(resume, len(pending)):]
				resume = 0
			}
		}
		u := pending[0]
		pending = pending[1:]
		return u, true
	}
}

// deltaCandidates lists, in id order, the objects with a change that this round or the previous one may
// report (caller holds the store lock).
func (t *Tenant) deltaCandidates(c *collection, st *deltaState) []string {
	lo := st.from
	if st.flags&dfPrevInitial == 0 && t.cfg.DeltaReplayShare > 0 {
		lo = pin{s: min(lo.s, st.prev.s), t: min(lo.t, st.prev.t)}
	}
	i := min(sort.Search(len(c.log), func(i int) bool { return c.log[i].seq > lo.s }),
		sort.Search(len(c.log), func(i int) bool { return c.log[i].at > lo.t-t.store.removalDelay }))
	seen := map[*resource]bool{}
	var ids []string
	for _, ch := range c.log[i:] {
		if !seen[ch.r] {
			seen[ch.r] = true
			ids = append(ids, strings.ToLower(ch.r.id))
		}
	}
	sort.Strings(ids)
	return ids
}

// deltaUnitsOf returns what the round reports about r: nothing, a removal, or the object with its
// members@delta in slices.
func (t *Tenant) deltaUnitsOf(r *resource, ep *dirEndpoint, st *deltaState) []deltaUnit {
	stB, exB := r.existsAt(st.to)
	var entries []memberEntry
	var changed map[string]bool
	if st.initial() {
		if !exB || stB != stLive {
			return nil
		}
		if st.members() {
			for _, m := range r.membersAt(st.to) {
				entries = append(entries, memberEntry{m: m})
			}
		}
	} else {
		report, ch := t.changedBetween(r, st.from, st.to, st)
		replay := false
		if !report && t.replays(r, st) {
			replay, ch = t.changedBetween(r, st.prev, st.from, st)
		}
		if !report && !replay {
			return nil
		}
		changed = ch
		if !exB {
			return []deltaUnit{{r: r, removed: "deleted"}}
		}
		switch stB {
		case stSoftDeleted:
			return []deltaUnit{{r: r, removed: "changed"}}
		case stGone:
			return []deltaUnit{{r: r, removed: "deleted"}}
		}
		if st.members() {
			stA, exA := r.existsAt(st.from)
			if !exA || stA != stLive {
				// Created or restored since the last round: the client holds nothing of it, so every member
				// is listed, as in an initial round.
				for _, m := range r.membersAt(st.to) {
					entries = append(entries, memberEntry{m: m})
				}
			} else {
				entries = memberDiff(r, st.from, st.to)
			}
			if exA && stA == stLive && t.replays(r, st) {
				prev := memberDiff(r, st.prev, st.from)
				if stP, exP := r.existsAt(st.prev); !exP || stP != stLive {
					prev = nil
					for _, m := range r.membersAt(st.from) {
						prev = append(prev, memberEntry{m: m})
					}
				}
				for _, e := range prev {
					if !slices.ContainsFunc(entries, func(x memberEntry) bool { return x.m == e.m }) {
						entries = append(entries, e)
					}
				}
			}
		}
	}
	size := t.cfg.MemberSliceSize
	n := max(1, (len(entries)+size-1)/size)
	out := make([]deltaUnit, n)
	for k := range out {
		out[k] = deltaUnit{r: r, changed: changed, slice: k, slices: n}
		if len(entries) > 0 {
			out[k].members = entries[k*size : min(len(entries), (k+1)*size)]
		}
	}
	return out
}

// replays reports whether the round reports r again if the previous round reported it (DeltaReplayShare,
// drawn from the seed, the object and the round).
func (t *Tenant) replays(r *resource, st *deltaState) bool {
	return t.cfg.DeltaReplayShare > 0 && st.flags&dfPrevInitial == 0 &&
		float64(hashOf(uint64(t.cfg.Seed), strKey("replay"), strKey(r.id), st.from.s)>>11)/(1<<53) < t.cfg.DeltaReplayShare
}

// changedBetween reports whether r's tracked state differs between two positions, and which properties
// changed (nil: its existence or state changed, or every property is tracked and it was created).
func (t *Tenant) changedBetween(r *resource, a, b pin, st *deltaState) (bool, map[string]bool) {
	stA, exA := r.existsAt(a)
	stB, exB := r.existsAt(b)
	switch {
	case !exA && !exB:
		return false, nil
	case exA != exB || stA != stB:
		return true, nil
	case stB != stLive:
		return false, nil
	}
	changed := map[string]bool{}
	report := false
	for i := range r.vers {
		v := &r.vers[i]
		if !b.sees(v.seq, v.vis) || a.sees(v.seq, v.vis) {
			continue
		}
		if v.born {
			return true, nil
		}
		for _, kv := range v.set {
			if st.sel == nil || slices.Contains(st.sel, kv.k) {
				changed[kv.k] = true
				report = true
			}
		}
	}
	if st.members() && r.ms != nil {
		for _, c := range r.ms.log {
			if b.sees(c.seq, c.vis) && !a.sees(c.seq, c.vis) {
				report = true
				break
			}
		}
	}
	return report, changed
}

// memberDiff lists the members added (in the order they were added) and removed between two positions.
func memberDiff(r *resource, a, b pin) []memberEntry {
	if r.ms == nil {
		return nil
	}
	var affected []*resource
	for _, c := range r.ms.log {
		if b.sees(c.seq, c.vis) && !a.sees(c.seq, c.vis) && !slices.Contains(affected, c.m) {
			affected = append(affected, c.m)
		}
	}
	if len(affected) == 0 {
		return nil
	}
	inA, inB := memberSet(r.membersAt(a), affected), memberSet(r.membersAt(b), affected)
	var out []memberEntry
	for _, m := range affected {
		switch {
		case inB[m] && !inA[m]:
			out = append(out, memberEntry{m: m})
		case inA[m] && !inB[m]:
			out = append(out, memberEntry{m: m, removed: true})
		}
	}
	return out
}

// memberSet marks which of want are in members.
func memberSet(members, want []*resource) map[*resource]bool {
	w := make(map[*resource]bool, len(want))
	for _, m := range want {
		w[m] = false
	}
	for _, m := range members {
		if _, ok := w[m]; ok {
			w[m] = true
		}
	}
	return w
}
