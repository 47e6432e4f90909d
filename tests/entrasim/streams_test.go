package entrasim

import (
	"math"
	"slices"
	"testing"
	"time"
)

func newTestTenant(t *testing.T, o Options) (*Tenant, *SimClock) {
	t.Helper()
	clock := NewSimClock(testStart)
	o.Clock = clock
	o.Verifier = fakeVerifier{}
	tn, err := New(&o)
	if err != nil {
		t.Fatal(err)
	}
	return tn, clock
}

// Every event in the truth is inside the window and visible at asOf; the truth at asOf is exactly the
// events of a later truth whose visibility time is not after asOf.
func TestTruthIsVisibilityAtAsOf(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 11, LateShare: 0.1})
	from, to := testStart.Add(-10*time.Hour), testStart.Add(-4*time.Hour)
	for _, s := range StreamNames() {
		t.Run(s, func(t *testing.T) {
			later, err := tn.TruthEvents(s, from, to, testStart.Add(7*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			now, err := tn.TruthEvents(s, from, to, testStart)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			late := 0
			for _, e := range later {
				if e.Time.Before(from) || !e.Time.Before(to) {
					t.Fatalf("event %s at %s outside [%s, %s)", e.ID, e.Time, from, to)
				}
				if e.Visible.Before(e.Time) {
					t.Fatalf("event %s visible before it happened", e.ID)
				}
				if !e.Visible.After(testStart) {
					want = append(want, e.ID)
				} else {
					late++
				}
			}
			var got []string
			for _, e := range now {
				got = append(got, e.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("truth at start has %d ids, events visible by then %d", len(got), len(want))
			}
			if late == 0 || len(got) == 0 {
				t.Fatalf("window should hold visible and late events (visible %d, late %d)", len(got), late)
			}
		})
	}
}

// Late events: a share of events lands hours late; as the clock advances they appear in a window that was
// already complete, and nothing that was visible disappears.
func TestLateArrivalAsClockAdvances(t *testing.T) {
	tn, clock := newTestTenant(t, Options{Seed: 12, Streams: map[string]StreamOptions{
		StreamNonInteractive: {LateShare: 0.2, LateDelay: Dist{Fixed: 2 * time.Hour, Jitter: 34 * time.Hour}},
	}})
	from, to := testStart.Add(-3*time.Hour), testStart.Add(-2*time.Hour)
	prev, err := tn.Truth(StreamNonInteractive, from, to, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	grew := 0
	for step := 0; step < 8; step++ {
		clock.Advance(6 * time.Hour)
		cur, err := tn.Truth(StreamNonInteractive, from, to, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range prev {
			if !slices.Contains(cur, id) {
				t.Fatalf("event %s disappeared after advancing to %s", id, clock.Now())
			}
		}
		if len(cur) > len(prev) {
			grew++
		}
		prev = cur
	}
	if grew < 3 {
		t.Fatalf("late events appeared in only %d of 8 steps of 6 h", grew)
	}
	// After 48 h nothing more arrives (delays are at most 36 h here).
	final, _ := tn.Truth(StreamNonInteractive, from, to, clock.Now().Add(30*24*time.Hour-60*time.Hour))
	if len(final) != len(prev) {
		t.Fatalf("events still arriving after the longest delay: %d then %d", len(prev), len(final))
	}
}

func TestLateShareAndDelays(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 13, Users: 500})
	asOf := testStart.Add(5 * 24 * time.Hour)
	evs, err := tn.TruthEvents(StreamNonInteractive, testStart.Add(-4*24*time.Hour), testStart, asOf)
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for _, e := range evs {
		d := e.Visible.Sub(e.Time)
		switch {
		case d < 0 || d > 48*time.Hour:
			t.Fatalf("delay %s outside [0, 48h]", d)
		case d >= time.Hour:
			late++
		case d > 45*time.Minute:
			t.Fatalf("ingestion delay %s above the 45 min cap", d)
		}
	}
	share := float64(late) / float64(len(evs))
	if len(evs) < 50_000 || math.Abs(share-0.02) > 0.005 {
		t.Fatalf("%d events, late share %.4f, want about 0.02", len(evs), share)
	}
}

func TestStreamRates(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 14, Users: 240, Apps: 30, ManagedIdentities: 6,
		Streams: map[string]StreamOptions{StreamProvisioning: {Rate: 100}, StreamManagedIdentity: {Rate: -1}}})
	want := map[string]float64{
		StreamInteractive:      240 * 4 / 24,
		StreamNonInteractive:   240 * 40 / 24,
		StreamServicePrincipal: 31 * 2,
		StreamManagedIdentity:  0,
		StreamDirectoryAudits:  240 * 2 / 24,
		StreamProvisioning:     100,
	}
	from, to := testStart.Add(-8*24*time.Hour), testStart.Add(-2*24*time.Hour)
	for s, rate := range want {
		ids, err := tn.Truth(s, from, to, testStart)
		if err != nil {
			t.Fatal(err)
		}
		expect := rate * 144
		if math.Abs(float64(len(ids))-expect) > 0.05*expect+1 {
			t.Errorf("%s: %d events in 6 days, want about %.0f", s, len(ids), expect)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%s: duplicate id %s", s, id)
			}
			seen[id] = true
		}
	}
}

func TestRetentionAndHistory(t *testing.T) {
	tests := []struct {
		name     string
		licences []Licence
		history  time.Duration
		keep     time.Duration
	}{
		{"premium keeps 30 days", nil, 60 * 24 * time.Hour, 30 * 24 * time.Hour},
		{"free keeps 7 days", []Licence{LicenceFree}, 60 * 24 * time.Hour, 7 * 24 * time.Hour},
		{"history shorter than retention", nil, 3 * 24 * time.Hour, 3 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := newTestTenant(t, Options{Seed: 15, Licences: tc.licences, History: tc.history})
			evs, err := tn.TruthEvents(StreamDirectoryAudits, time.Time{}, time.Time{}, testStart)
			if err != nil {
				t.Fatal(err)
			}
			oldest := evs[len(evs)-1].Time
			if oldest.Before(testStart.Add(-tc.keep)) || oldest.After(testStart.Add(-tc.keep+2*time.Hour)) {
				t.Fatalf("oldest event %s, want just after %s", oldest, testStart.Add(-tc.keep))
			}
		})
	}
}

// Events sharing one timestamp exist and are ordered by a stable key.
func TestTiesAndOrder(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 16})
	evs, err := tn.TruthEvents(StreamNonInteractive, testStart.Add(-24*time.Hour), testStart, testStart)
	if err != nil {
		t.Fatal(err)
	}
	ties, whole := 0, 0
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.After(evs[i-1].Time) {
			t.Fatalf("truth not newest first at %d", i)
		}
		if evs[i].Time.Equal(evs[i-1].Time) {
			ties++
		}
	}
	for _, e := range evs {
		if e.Time.Nanosecond() == 0 {
			whole++
		}
		if e.Time.Nanosecond()%100 != 0 {
			t.Fatalf("time %s is finer than 100 ns", e.Time)
		}
	}
	if ties < 10 || whole < len(evs)/20 {
		t.Fatalf("%d events: %d shared timestamps, %d whole seconds", len(evs), ties, whole)
	}
}

// Reading a page derives only the slots it covers: a page deep in a month of history, and its nextLink,
// touch a few dozen slots, not the month.
func TestPagesSeekBySlot(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 17, Users: 1000})
	c := newClient(t, tn)
	st := tn.streams[StreamNonInteractive]
	perPage := 1000 / st.lambda // slots holding a page
	f := window("createdDateTime", clock.Now().Add(-29*24*time.Hour), clock.Now().Add(-28*24*time.Hour)) +
		" and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
	before := st.slots.Load()
	p := c.get(c.list(pathBetaSignIns, map[string]string{"$filter": f})).page(t)
	first := st.slots.Load() - before
	before = st.slots.Load()
	c.get(p.NextLink).page(t)
	second := st.slots.Load() - before
	month := float64(30*24*time.Hour) / float64(st.slotNs)
	if len(p.Value) != 1000 || float64(first) > 2*perPage+5 || float64(second) > 2*perPage+5 {
		t.Fatalf("pages derived %d and %d slots; a page spans about %.0f (a month is %.0f)", first, second, perPage, month)
	}
}
