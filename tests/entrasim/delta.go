package entrasim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Delta queries on directory objects (concepts/delta-query-overview.md, reference §1.2):
//
//   - A round without a token enumerates every live object (paged by nextLinks carrying $skiptoken) and ends
//     with an @odata.deltaLink carrying $deltatoken. A round from a delta token returns the objects changed
//     since it — the full requested properties of changed objects, {"id", "@removed":{"reason":"changed"}}
//     for soft-deleted (restorable) ones and {"reason":"deleted"} for permanently deleted ones — and ends with
//     a new deltaLink. Objects that change while a round is being paged are reported in the next round.
//   - $deltatoken=latest returns no objects and a deltaLink from now.
//   - $select is kept in the tokens (nextLinks and deltaLinks carry only the token); the id is always
//     returned. Groups with members selected carry members@delta: every member on the first round, then
//     additions and removals ("@removed":{"reason":"deleted"}).
//   - Delta tokens expire after 7 days (simulated time): 410 Gone, code SyncStateNotFound (the wording Graph
//     uses for expired sync states, microsoft-graph-docs #2350, #2877) and a Location header with a fresh
//     delta URL (reference §1.2); unverified for directory objects in detail.
//   - Page size: the server's choice, 200 here (unverified), or Prefer: odata.maxpagesize=N.

const deltaTokenLifetime = 7 * 24 * time.Hour

type deltaState struct {
	sel      []string
	selRaw   string
	from, to uint64
	after    string
	initial  bool
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

func deltaPageSize(r *http.Request) int {
	for _, p := range strings.Split(r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "odata.maxpagesize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return min(n, 999)
			}
		}
	}
	return 200
}

func (t *Tenant) renderDelta(rc *reqCtx, ep *dirEndpoint, o options) ([]byte, int, *gerr) {
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	for name := range o.vals {
		switch name {
		case "select", "deltatoken", "skiptoken":
		default:
			// $top, $expand and $orderby are not supported on delta (reference §1.2); wording unverified.
			return nil, 0, &gerr{status: 400, code: "Request_BadRequest", message: fmt.Sprintf("Query option '$%s' is not supported with delta.", name)}
		}
	}
	extra := []string(nil)
	if ep.col == colGroups {
		extra = []string{"members"}
	}
	var st deltaState
	badToken := &gerr{status: 400, code: "Request_BadRequest", message: "Invalid delta token."} // unverified wording
	switch {
	case o.vals["skiptoken"] != "":
		f, ok := t.unseal(o.vals["skiptoken"], tokDeltaSkip, 5)
		if !ok || f[0] != ep.path {
			return nil, 0, errDirSkipToken
		}
		st.selRaw, st.after = f[1], f[4]
		st.from, _ = strconv.ParseUint(f[2], 10, 64)
		st.to, _ = strconv.ParseUint(f[3], 10, 64)
	case o.vals["deltatoken"] == "latest":
		sel, g := t.parseSelect(ep, o.vals["select"], extra...)
		if g != nil {
			return nil, 0, g
		}
		st.selRaw = strings.Join(sel, ",")
		p := dirPage{context: t.contextURL(rc, ep.path, nil),
			delta: link(rc.base, rc.r.URL.Path, "$deltatoken", t.deltaToken(ep, st.selRaw, t.store.seq))}
		body, n := p.render()
		return body, n, nil
	case o.vals["deltatoken"] != "":
		f, ok := t.unseal(o.vals["deltatoken"], tokDelta, 4)
		if !ok || f[0] != ep.path {
			return nil, 0, badToken
		}
		issued, _ := strconv.ParseInt(f[3], 10, 64)
		if t.Now().Sub(time.Unix(0, issued)) > deltaTokenLifetime {
			return nil, 0, &gerr{status: http.StatusGone, code: "SyncStateNotFound",
				message: fmt.Sprintf("The sync state generation is not found; generation=%s;[highest=%d].", f[2], t.store.seq),
				header:  map[string]string{"Location": link(rc.base, rc.r.URL.Path, "$select", f[1])}}
		}
		st.selRaw = f[1]
		st.from, _ = strconv.ParseUint(f[2], 10, 64)
		st.to = t.store.seq
	default:
		st.initial = true
		st.to = t.store.seq
	}
	if st.selRaw == "" && o.vals["select"] != "" && o.vals["skiptoken"] == "" && o.vals["deltatoken"] == "" {
		st.selRaw = o.vals["select"]
	}
	sel, g := t.parseSelect(ep, st.selRaw, extra...)
	if g != nil {
		return nil, 0, g
	}
	st.sel = sel
	st.selRaw = strings.Join(sel, ",")
	st.initial = st.from == 0

	size := deltaPageSize(rc.r)
	var page []*resource
	more := false
	t.store.cols[ep.col].each(st.after, func(r *resource) bool {
		switch {
		case st.initial && (!r.live() || r.seq > st.to):
			return true
		case !st.initial && (r.seq <= st.from || r.seq > st.to):
			return true
		}
		if len(page) == size {
			more = true
			return false
		}
		page = append(page, r)
		return true
	})
	p := dirPage{context: t.contextURL(rc, ep.path, nil)}
	if more {
		p.next = link(rc.base, rc.r.URL.Path, "$skiptoken", t.seal(tokDeltaSkip, ep.path, st.selRaw,
			strconv.FormatUint(st.from, 10), strconv.FormatUint(st.to, 10), page[len(page)-1].id))
	} else {
		p.delta = link(rc.base, rc.r.URL.Path, "$deltatoken", t.deltaToken(ep, st.selRaw, st.to))
	}
	withMembers := slices.Contains(st.sel, "members")
	propSel := slices.DeleteFunc(slices.Clone(st.sel), func(s string) bool { return s == "members" })
	if st.sel != nil && len(propSel) == 0 {
		propSel = []string{"id"}
	}
	p.items = func(w *jw, emit func()) {
		for _, r := range page {
			w.beginObj()
			if !r.live() {
				w.kstr("id", r.id)
				w.key("@removed")
				w.beginObj()
				w.kstr("reason", map[bool]string{true: "deleted", false: "changed"}[r.gone])
				w.endObj()
				emit()
				continue
			}
			if st.sel == nil {
				writeProps(w, r, nil, ep.defaultProps, true)
				if ep.defaultProps > 0 && !hasProp(r.props[:min(ep.defaultProps, len(r.props))], "id") {
					w.kstr("id", r.id)
				}
			} else {
				writeProps(w, r, propSel, 0, true)
			}
			if withMembers {
				t.writeMembersDelta(w, r, st)
			}
			emit()
		}
	}
	body, n := p.render()
	return body, n, nil
}

func hasProp(o obj, k string) bool {
	_, ok := o.get(k)
	return ok
}

func (t *Tenant) deltaToken(ep *dirEndpoint, selRaw string, seq uint64) string {
	return t.seal(tokDelta, ep.path, selRaw, strconv.FormatUint(seq, 10), strconv.FormatInt(t.Now().UnixNano(), 10))
}

// writeMembersDelta writes members@delta: every member on an initial round, else the net membership
// changes in (from, to].
func (t *Tenant) writeMembersDelta(w *jw, g *resource, st deltaState) {
	w.key("members@delta")
	w.beginArr()
	if st.initial {
		for _, m := range g.members {
			_, entity := t.memberResource(m)
			w.beginObj()
			w.kstr("@odata.type", "#microsoft.graph."+entity)
			w.kstr("id", m)
			w.endObj()
		}
		w.endArr()
		return
	}
	// Net changes: a member added and removed again within the window (or the reverse) is not reported.
	first, last := map[string]memberChange{}, map[string]memberChange{}
	var order []string
	for _, c := range g.memberLog {
		if c.seq <= st.from || c.seq > st.to {
			continue
		}
		if _, seen := first[c.id]; !seen {
			first[c.id] = c
			order = append(order, c.id)
		}
		last[c.id] = c
	}
	for _, id := range order {
		c := last[id]
		if wasMember := first[id].removed; wasMember == !c.removed {
			continue // same membership at both ends of the window
		}
		w.beginObj()
		w.kstr("@odata.type", "#microsoft.graph."+c.typ)
		w.kstr("id", c.id)
		if c.removed {
			w.key("@removed")
			w.beginObj()
			w.kstr("reason", "deleted")
			w.endObj()
		}
		w.endObj()
	}
	w.endArr()
}
