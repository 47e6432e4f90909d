package entrasim

import (
	"math"
	"slices"
	"sync"
	"time"
)

// signInActivity (signinactivity.md): each user's last interactive sign-in attempt (lastSignInDateTime,
// success or failure), last non-interactive one, and last successful one of either kind, each with the
// request id of the sign-in, derived from the simulated sign-in streams: a sign-in counts from the moment it
// is visible in the sign-in log, so the inactivity a collector computes from its archive of the log streams
// matches what the tenant reports at the same simulated time. Users the streams never pick (disabled ones,
// users created later) and members whose last sign-in falls before the streams' history get a deterministic
// earlier history — a last sign-in months or years ago, or none (null) — with lastSuccessfulSignInDateTime
// null before 1 December 2023 (not backfilled, signinactivity.md).
//
// The tracker keeps, per user the streams pick, the newest interactive, non-interactive and successful
// sign-in visible at the time it was computed, and the sign-ins that happened before but are not visible
// yet, so moving forward in time reads only new events. The first computation scans the streams backwards
// until every such user is found (about ln(users) / rate of history) and across the longest ingestion delay.

// SignInActivity is a user's signInActivity as Graph reports it; a nil time (and an empty request id) is
// null.
type SignInActivity struct {
	LastSignInDateTime                *time.Time `json:"lastSignInDateTime"`
	LastSignInRequestID               string     `json:"lastSignInRequestId"`
	LastNonInteractiveSignInDateTime  *time.Time `json:"lastNonInteractiveSignInDateTime"`
	LastNonInteractiveSignInRequestID string     `json:"lastNonInteractiveSignInRequestId"`
	LastSuccessfulSignInDateTime      *time.Time `json:"lastSuccessfulSignInDateTime"`
	LastSuccessfulSignInRequestID     string     `json:"lastSuccessfulSignInRequestId"`
}

// UserSignInActivity is one user's signInActivity truth; Activity is nil for a user who never signed in.
type UserSignInActivity struct {
	UserID            string          `json:"id"`
	UserPrincipalName string          `json:"userPrincipalName"`
	UserType          string          `json:"userType"`
	Activity          *SignInActivity `json:"signInActivity"`
}

// successfulNotBackfilled: lastSuccessfulSignInDateTime exists from this date on (signinactivity.md).
var successfulNotBackfilled = time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC)

// evRef is a sign-in: its position in the stream order (ts 0: none).
type evRef struct {
	ts     int64
	k0, k1 uint64
}

func (a evRef) after(b evRef) bool {
	return cmpPos(cursor{a.ts, a.k0, a.k1}, cursor{b.ts, b.k0, b.k1}) > 0
}

// Fields of an activityState: the newest sign-in, and the newest successful one, of each stream.
const (
	actInteractive = iota
	actNonInteractive
	actSuccInteractive
	actSuccNonInteractive
	actFields
)

// activityState is every picked user's sign-in activity visible at asOf.
type activityState struct {
	asOf    int64
	last    [actFields][]evRef // per member (index into the cast's members)
	pending []event            // events with ts <= asOf that are visible later
}

type activityTracker struct {
	mu       sync.Mutex
	t        *Tenant
	state    *activityState
	memberOf []int32 // cast user index → member index (-1: never signs in)
	maxDelay int64   // the longest ingestion delay of the two user sign-in streams (ns)
}

func newActivityTracker(t *Tenant) *activityTracker {
	a := &activityTracker{t: t}
	a.memberOf = make([]int32, len(t.gen.cast.users))
	for i := range a.memberOf {
		a.memberOf[i] = -1
	}
	for m, i := range t.gen.cast.members {
		a.memberOf[i] = int32(m)
	}
	for _, name := range []string{StreamInteractive, StreamNonInteractive} {
		st := t.streams[name]
		if st == nil {
			continue
		}
		for _, d := range []Dist{st.ingest, st.late} {
			a.maxDelay = max(a.maxDelay, int64(d.bound(t.cfg.History)))
		}
	}
	return a
}

// bound is the longest delay d can yield (def when it is unbounded).
func (d Dist) bound(def time.Duration) time.Duration {
	switch {
	case d.Max > 0:
		return d.Max
	case d.Median > 0:
		return def
	}
	return d.Fixed + d.Jitter
}

// at returns the state visible at asOf, moving the cached state forward when it can.
func (a *activityTracker) at(asOf int64) *activityState {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state
	switch {
	case s != nil && s.asOf == asOf:
		return s
	case s != nil && asOf > s.asOf && asOf-s.asOf <= 2*int64(24*time.Hour):
		a.state = a.advance(s, asOf)
	case s != nil && asOf < s.asOf:
		return a.compute(asOf) // a look into the past is not kept
	default:
		a.state = a.compute(asOf)
	}
	return a.state
}

func (a *activityTracker) streams() []*stream {
	var out []*stream
	for _, name := range []string{StreamInteractive, StreamNonInteractive} {
		if st := a.t.streams[name]; st != nil {
			out = append(out, st)
		}
	}
	return out
}

// member returns the member index of the user a sign-in picks. It replays the first draws of gen.signIn
// (correlation id, processing time, token id, then the user), which a test holds equal to the full record.
func (a *activityTracker) member(e *event) int {
	n := len(a.t.gen.cast.members)
	if n == 0 {
		return -1
	}
	r := newRNG(a.t.gen.seed, strKey("signin"), e.k0, e.k1)
	for i := 0; i < 5; i++ {
		r.next()
	}
	return r.intn(n)
}

// apply records one visible sign-in.
func (a *activityTracker) apply(s *activityState, e *event) {
	m := a.member(e)
	if m < 0 {
		return
	}
	ref := evRef{e.ts, e.k0, e.k1}
	field, succ := actInteractive, actSuccInteractive
	if e.st.def.eventType == "nonInteractiveUser" {
		field, succ = actNonInteractive, actSuccNonInteractive
	}
	if ref.after(s.last[field][m]) {
		s.last[field][m] = ref
	}
	if ref.after(s.last[succ][m]) && a.t.gen.signIn(e).errorCode == 0 {
		s.last[succ][m] = ref
	}
}

// compute scans the streams backwards from asOf.
func (a *activityTracker) compute(asOf int64) *activityState {
	n := len(a.t.gen.cast.members)
	s := &activityState{asOf: asOf}
	for f := range s.last {
		s.last[f] = make([]evRef, n)
	}
	found := [actFields]int{}
	var buf []event
	for _, st := range a.streams() {
		field, succ := actInteractive, actSuccInteractive
		if st.def.eventType == "nonInteractiveUser" {
			field, succ = actNonInteractive, actSuccNonInteractive
		}
		lo := st.slotOf(st.histFrom)
		for k := st.slotOf(asOf); k >= lo; k-- {
			if found[field] == n && found[succ] == n && (k+1)*st.slotNs < asOf-a.maxDelay {
				break
			}
			buf = st.slotEvents(k, buf[:0])
			slices.SortFunc(buf, func(x, y event) int { return -cmpPos(x.pos(), y.pos()) })
			for i := range buf {
				e := &buf[i]
				if e.ts > asOf {
					continue
				}
				if e.vis > asOf {
					s.pending = append(s.pending, *e)
					continue
				}
				m := a.member(e)
				if m < 0 {
					continue
				}
				ref := evRef{e.ts, e.k0, e.k1}
				if s.last[field][m].ts == 0 {
					s.last[field][m] = ref
					found[field]++
				}
				if s.last[succ][m].ts == 0 && a.t.gen.signIn(e).errorCode == 0 {
					s.last[succ][m] = ref
					found[succ]++
				}
			}
		}
	}
	return s
}

// advance moves a state forward to asOf: pending sign-ins that became visible, and new ones.
func (a *activityTracker) advance(old *activityState, asOf int64) *activityState {
	s := &activityState{asOf: asOf}
	for f := range s.last {
		s.last[f] = slices.Clone(old.last[f])
	}
	for i := range old.pending {
		e := &old.pending[i]
		if e.vis <= asOf {
			a.apply(s, e)
		} else {
			s.pending = append(s.pending, *e)
		}
	}
	var buf []event
	for _, st := range a.streams() {
		for k := st.slotOf(old.asOf); k <= st.slotOf(asOf); k++ {
			buf = st.slotEvents(k, buf[:0])
			for i := range buf {
				e := &buf[i]
				if e.ts <= old.asOf || e.ts > asOf {
					continue
				}
				if e.vis <= asOf {
					a.apply(s, e)
				} else {
					s.pending = append(s.pending, *e)
				}
			}
		}
	}
	return s
}

// activityOf returns a cast user's signInActivity in a state (nil: never signed in).
func (t *Tenant) activityOf(s *activityState, userIdx int) *SignInActivity {
	var got [actFields]evRef
	if m := t.activity.memberOf[userIdx]; m >= 0 {
		for f := range got {
			got[f] = s.last[f][m]
		}
	}
	if got[actSuccNonInteractive].after(got[actSuccInteractive]) {
		got[actSuccInteractive] = got[actSuccNonInteractive]
	}
	const actSuccessful = actSuccInteractive
	var pre *SignInActivity
	if got[actInteractive].ts == 0 || got[actNonInteractive].ts == 0 || got[actSuccessful].ts == 0 {
		pre = t.preHistory(userIdx)
	}
	out := &SignInActivity{}
	set := func(f int, at **time.Time, id *string) {
		switch {
		case got[f].ts != 0:
			ts := time.Unix(0, got[f].ts).UTC()
			*at, *id = &ts, signInID(&event{k0: got[f].k0, k1: got[f].k1})
		case pre != nil:
			switch f {
			case actInteractive:
				*at, *id = pre.LastSignInDateTime, pre.LastSignInRequestID
			case actNonInteractive:
				*at, *id = pre.LastNonInteractiveSignInDateTime, pre.LastNonInteractiveSignInRequestID
			default:
				*at, *id = pre.LastSuccessfulSignInDateTime, pre.LastSuccessfulSignInRequestID
			}
		}
	}
	set(actInteractive, &out.LastSignInDateTime, &out.LastSignInRequestID)
	set(actNonInteractive, &out.LastNonInteractiveSignInDateTime, &out.LastNonInteractiveSignInRequestID)
	set(actSuccessful, &out.LastSuccessfulSignInDateTime, &out.LastSuccessfulSignInRequestID)
	if out.LastSignInDateTime == nil && out.LastNonInteractiveSignInDateTime == nil && out.LastSuccessfulSignInDateTime == nil {
		return nil
	}
	return out
}

// preHistory is a user's sign-in activity before the streams' history (nil: never signed in).
func (t *Tenant) preHistory(userIdx int) *SignInActivity {
	x := newRNG(uint64(t.cfg.Seed), strKey("sign-in-prehistory"), uint64(userIdx))
	if x.chance(0.25) {
		return nil
	}
	hist := t.cfg.histFrom
	last := hist.Add(-time.Duration(1+x.intn(500))*24*time.Hour - time.Duration(x.intn(86400))*time.Second).Truncate(time.Second)
	if c := t.gen.cast.users[userIdx].CreatedDateTime; last.Before(c) {
		last = c.Add(time.Duration(1+x.intn(3600)) * time.Second)
		if !last.Before(hist) {
			return nil
		}
	}
	reqID := func() string {
		b := x.next()
		return signInID(&event{k0: b, k1: x.next()})
	}
	out := &SignInActivity{LastSignInDateTime: &last, LastSignInRequestID: reqID()}
	success := last
	if x.chance(0.7) {
		ni := last.Add(time.Duration(x.intn(72*3600)) * time.Second)
		if ni.After(hist) {
			ni = hist.Add(-time.Second)
		}
		out.LastNonInteractiveSignInDateTime, out.LastNonInteractiveSignInRequestID = &ni, reqID()
		if ni.After(success) {
			success = ni
		}
	}
	if !success.Before(successfulNotBackfilled) {
		ts := success
		out.LastSuccessfulSignInDateTime, out.LastSuccessfulSignInRequestID = &ts, reqID()
	}
	return out
}

// writeSignInActivity renders a user's signInActivity from a state (null when none).
func (t *Tenant) writeSignInActivity(w *jw, r *resource, s *activityState) {
	if r.idx < 0 || s == nil {
		w.null()
		return
	}
	a := t.activityOf(s, int(r.idx))
	if a == nil {
		w.null()
		return
	}
	w.beginObj()
	kt := func(k string, v *time.Time) {
		if v == nil {
			w.knull(k)
		} else {
			w.ktime(k, v.UnixNano())
		}
	}
	ks := func(k, v string) {
		if v == "" {
			w.knull(k)
		} else {
			w.kstr(k, v)
		}
	}
	kt("lastSignInDateTime", a.LastSignInDateTime)
	ks("lastSignInRequestId", a.LastSignInRequestID)
	kt("lastNonInteractiveSignInDateTime", a.LastNonInteractiveSignInDateTime)
	ks("lastNonInteractiveSignInRequestId", a.LastNonInteractiveSignInRequestID)
	kt("lastSuccessfulSignInDateTime", a.LastSuccessfulSignInDateTime)
	ks("lastSuccessfulSignInRequestId", a.LastSuccessfulSignInRequestID)
	w.endObj()
}

// SignInActivityAt returns the signInActivity of every user that exists (and is not soft-deleted) at the
// simulated time asOf, in id order, as GET /users?$select=…,signInActivity reports it then.
func (t *Tenant) SignInActivityAt(asOf time.Time) ([]UserSignInActivity, error) {
	if err := t.checkAsOf(asOf); err != nil {
		return nil, err
	}
	t.syncChurn()
	s := t.activity.at(asOf.UnixNano())
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	v := pin{s: math.MaxUint64, t: asOf.UnixNano()}
	var out []UserSignInActivity
	t.store.cols[colUsers].each("", func(r *resource) bool {
		if st, ok := r.existsAt(v); !ok || st != stLive {
			return true
		}
		p := r.propsAt(v)
		u := UserSignInActivity{UserID: r.id, UserPrincipalName: p.str("userPrincipalName"), UserType: p.str("userType")}
		if r.idx >= 0 {
			u.Activity = t.activityOf(s, int(r.idx))
		}
		out = append(out, u)
		return true
	})
	return out, nil
}
