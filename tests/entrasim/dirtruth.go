package entrasim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The directory's ground truth: what a full delta round would return at a simulated time, for every delta
// kind, so a test can replay a collector's archive and compare object by object and membership by
// membership; the signInActivity truth; and the synchronization reset.

// DeltaKinds lists the directory collections served with delta queries, as DirectoryAt and ResetDeltaSync
// name them.
func DeltaKinds() []string {
	var out []string
	for _, ep := range dirEndpoints {
		if ep.delta {
			out = append(out, ep.col)
		}
	}
	return out
}

// DirObject is one directory object in the ground truth.
type DirObject struct {
	// ID is the object id.
	ID string `json:"id"`
	// Props are the properties a full delta round with the same $select returns for the object (the
	// entity's default properties without one), each as its JSON value; the id included.
	Props map[string]json.RawMessage `json:"props"`
	// Members are the direct member ids of a group, directory role or administrative unit (nil for other
	// kinds): the members a full delta round's members@delta lists, soft-deleted members included.
	Members []string `json:"members,omitempty"`
}

// ErrAsOf is returned for a ground-truth time before the tenant's start or after the simulated now.
var ErrAsOf = errors.New("entrasim: asOf outside the tenant's history")

func (t *Tenant) checkAsOf(asOf time.Time) error {
	if asOf.Before(t.cfg.start) || asOf.After(t.Now()) {
		return fmt.Errorf("%w: %s is not in [%s, %s]", ErrAsOf, asOf.UTC().Format(time.RFC3339Nano),
			t.cfg.start.Format(time.RFC3339Nano), t.Now().Format(time.RFC3339Nano))
	}
	return nil
}

// DirectoryAt returns the objects of a delta kind (DeltaKinds: users, groups, applications,
// servicePrincipals, devices, directoryRoles, administrativeUnits) that exist at the simulated time asOf —
// soft-deleted and permanently deleted ones excluded — in id order, each with the properties a full delta
// round with $select=sel returns (nil: the default properties) and, for groups, directory roles and
// administrative units, their direct member ids. It is exactly what a full delta round started at asOf, after
// every change made until then, reports: with Options.RemovalDelay a deletion or membership removal shows only
// once the delay has passed, as in delta. asOf must lie between the tenant's start and the simulated now.
func (t *Tenant) DirectoryAt(kind string, asOf time.Time, sel []string) ([]DirObject, error) {
	var out []DirObject
	err := t.eachDirObject(kind, asOf, sel, func(o DirObject) error {
		out = append(out, o)
		return nil
	})
	return out, err
}

func (t *Tenant) eachDirObject(kind string, asOf time.Time, sel []string, fn func(DirObject) error) error {
	var ep *dirEndpoint
	for _, e := range dirEndpoints {
		if e.delta && e.col == kind {
			ep = e
		}
	}
	if ep == nil {
		return fmt.Errorf("entrasim: DirectoryAt: unknown kind %q (want one of %v)", kind, DeltaKinds())
	}
	if err := t.checkAsOf(asOf); err != nil {
		return err
	}
	t.syncChurn()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	props, g := t.deltaSelect(ep, strings.Join(sel, ","))
	if g != nil {
		return fmt.Errorf("entrasim: DirectoryAt: select: %s", g.message)
	}
	props = slices.DeleteFunc(props, func(s string) bool { return s == "members" })
	if sel != nil && len(props) == 0 {
		props = []string{"id"}
	}
	v := pin{s: math.MaxUint64, t: asOf.UnixNano()}
	c := t.store.cols[ep.col]
	want := wantFor(props, ep.def)
	var w jw
	for _, id := range c.ids {
		r := c.byID[id]
		if st, ok := r.existsAt(v); !ok || st != stLive {
			continue
		}
		w.reset()
		w.beginObj()
		writeProps(&w, r.id, r.propsWant(v, want), props, ep.def, true)
		w.endObj()
		o := DirObject{ID: r.id}
		if err := json.Unmarshal(w.b, &o.Props); err != nil {
			return fmt.Errorf("entrasim: DirectoryAt: %s %s: %w", kind, r.id, err)
		}
		if ep.members {
			o.Members = []string{}
			for _, m := range r.membersAt(v) {
				o.Members = append(o.Members, m.id)
			}
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// ResetDeltaSync simulates Graph's synchronization reset for the given delta kinds (every kind when none is
// given): delta and skip tokens issued before it answer 410 Gone with a Location header holding the round's
// initial request, and the collector must sync again from scratch.
func (t *Tenant) ResetDeltaSync(kinds ...string) error {
	all := DeltaKinds()
	if len(kinds) == 0 {
		kinds = all
	}
	for _, k := range kinds {
		if !slices.Contains(all, k) {
			return fmt.Errorf("entrasim: ResetDeltaSync: unknown kind %q (want one of %v)", k, all)
		}
	}
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	for _, k := range kinds {
		t.syncGen[k]++
	}
	return nil
}

// DirectoryBudget is the directory family's resource-unit budget: units per window per app and tenant (by
// the tenant's size, reference §3), the window scaled by Options.ThrottleScale.
func (t *Tenant) DirectoryBudget() (units float64, window time.Duration) {
	return t.limiter.capacity, t.limiter.window(familyDefs[familyDirectory])
}

// serveSimDirectory answers GET /_sim/directory?kind=&asOf=&select= with the ground truth, streamed:
// {"kind":…,"asOf":…,"objects":[{"id":…,"props":{…},"members":[…]},…],"count":n}.
func (t *Tenant) serveSimDirectory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	asOf, ok := simTime(w, q.Get("asOf"), t.Now())
	if !ok {
		return
	}
	var sel []string
	if v := q.Get("select"); v != "" {
		sel = strings.Split(v, ",")
	}
	kind := q.Get("kind")
	// Validate before streaming, so a bad request gets a clean 400.
	if !slices.Contains(DeltaKinds(), kind) {
		simError(w, http.StatusBadRequest, fmt.Sprintf("kind: want one of %v", DeltaKinds()))
		return
	}
	if err := t.checkAsOf(asOf); err != nil {
		simError(w, http.StatusBadRequest, "asOf: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	head, _ := json.Marshal(kind)
	fmt.Fprintf(bw, `{"kind":%s,"asOf":"%s","objects":[`, head, asOf.UTC().Format(time.RFC3339Nano))
	n := 0
	err := t.eachDirObject(kind, asOf, sel, func(o DirObject) error {
		if n > 0 {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
		n++
		return err
	})
	if err != nil && n == 0 {
		bw.Reset(io.Discard)
		simError(w, http.StatusBadRequest, err.Error())
		return
	}
	fmt.Fprintf(bw, `],"count":%d}`, n)
	_ = bw.Flush()
}

// serveSimSignInActivity answers GET /_sim/signInActivity?asOf= with every user's signInActivity.
func (t *Tenant) serveSimSignInActivity(w http.ResponseWriter, r *http.Request) {
	asOf, ok := simTime(w, r.URL.Query().Get("asOf"), t.Now())
	if !ok {
		return
	}
	users, err := t.SignInActivityAt(asOf)
	if err != nil {
		simError(w, http.StatusBadRequest, "asOf: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"asOf": asOf.UTC(), "count": len(users), "users": users})
}

// serveSimReset answers POST /_sim/directory/reset {"kinds":["users",…]} (empty: every kind).
func (t *Tenant) serveSimReset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Kinds []string `json:"kinds"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<12)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			simError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
	}
	if err := t.ResetDeltaSync(req.Kinds...); err != nil {
		simError(w, http.StatusBadRequest, err.Error())
		return
	}
	kinds := req.Kinds
	if len(kinds) == 0 {
		kinds = DeltaKinds()
	}
	writeJSON(w, http.StatusOK, map[string]any{"reset": kinds})
}

// simTime parses an RFC 3339 time parameter (def when empty).
func simTime(w http.ResponseWriter, v string, def time.Time) (time.Time, bool) {
	if v == "" {
		return def, true
	}
	ts, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		simError(w, http.StatusBadRequest, "asOf: "+err.Error())
		return time.Time{}, false
	}
	return ts, true
}
