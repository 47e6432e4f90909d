package entrasim

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The sliding window, driven with explicit arrival times.
func TestSlidingWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at         time.Duration
		ok         bool
		retryAfter time.Duration
	}
	tests := []struct {
		name          string
		fam           family
		scale         float64
		countRejected bool
		steps         []step
	}{
		{"reports: 5 per 10 s, the 6th waits for the oldest to leave", familyReports, 1, false, []step{
			{0, true, 0}, {1 * time.Second, true, 0}, {2 * time.Second, true, 0}, {3 * time.Second, true, 0}, {4 * time.Second, true, 0},
			{5 * time.Second, false, 5 * time.Second},
			{9999 * time.Millisecond, false, time.Millisecond},
			{10 * time.Second, true, 0}, // the request at 0 left the window (now-10s, now]
			{10500 * time.Millisecond, false, 500 * time.Millisecond},
			{11 * time.Second, true, 0},
		}},
		{"reports at scale 0.01: 5 per 100 ms", familyReports, 0.01, false, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{30 * time.Millisecond, false, 70 * time.Millisecond},
			{100 * time.Millisecond, true, 0},
		}},
		{"rejected requests count when asked", familyReports, 1, true, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{2 * time.Second, false, 8 * time.Second}, {4 * time.Second, false, 6 * time.Second},
			{6 * time.Second, false, 4 * time.Second}, {8 * time.Second, false, 2 * time.Second},
			{10 * time.Second, true, 0},                                // the window (0 s, 10 s] holds the 4 rejected arrivals
			{10500 * time.Millisecond, false, 1500 * time.Millisecond}, // the one at 2 s leaves first
		}},
		{"rejected requests do not count by default", familyReports, 1, false, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{2 * time.Second, false, 8 * time.Second}, {8 * time.Second, false, 2 * time.Second},
			{10 * time.Second, true, 0}, {10500 * time.Millisecond, true, 0},
		}},
		{"protection: 1 per second per tenant", familyProtection, 1, false, []step{
			{0, true, 0}, {500 * time.Millisecond, false, 500 * time.Millisecond}, {time.Second, true, 0},
		}},
		{"signInActivity: 10 per minute", familySignInActivity, 1, false, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{30 * time.Second, false, 30 * time.Second},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.scale, tc.countRejected, 100)
			for i, s := range tc.steps {
				a := l.admit(tc.fam, "tenant|app", at(s.at), 1)
				if a.ok != s.ok || !a.ok && a.retryAfter != s.retryAfter {
					t.Fatalf("step %d at %s: ok %v retry %s, want ok %v retry %s", i, s.at, a.ok, a.retryAfter, s.ok, s.retryAfter)
				}
			}
			// Another key has its own budget.
			if !l.admit(tc.fam, "tenant|other-app", at(tc.steps[len(tc.steps)-1].at), 1).ok {
				t.Fatal("another app shares the budget")
			}
		})
	}
}

func TestResourceUnitBucket(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		users    int
		capacity float64
	}{{49, 3500}, {50, 5000}, {500, 5000}, {501, 8000}}
	for _, tc := range tests {
		l := newLimiter(1, false, tc.users)
		n := 0
		for l.admit(familyDirectory, "k", t0, 2).ok {
			n++
		}
		if float64(n) != tc.capacity/2 {
			t.Fatalf("%d users: %d requests of 2 RU admitted at once, want %g", tc.users, n, tc.capacity/2)
		}
		a := l.admit(familyDirectory, "k", t0, 2)
		if a.ok || a.used != 1 {
			t.Fatalf("bucket should be empty: %+v", a)
		}
		// It refills at capacity per 10 s: 2 RU take 20 s / capacity.
		want := time.Duration(2 / tc.capacity * 10 * float64(time.Second))
		if d := a.retryAfter - want; d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("retry after %s, want %s", a.retryAfter, want)
		}
		if !l.admit(familyDirectory, "k", t0.Add(a.retryAfter), 2).ok {
			t.Fatal("not admitted after the announced wait")
		}
	}
	costs := []struct {
		base     float64
		sel, exp bool
		top      int
		want     float64
	}{{2, false, false, 0, 2}, {2, true, false, 0, 1}, {1, true, false, 10, 1}, {3, false, true, 0, 4}, {5, true, false, 5, 3}}
	for _, c := range costs {
		if got := directoryCost(c.base, c.sel, c.exp, c.top); got != c.want {
			t.Errorf("directoryCost(%v) = %v, want %v", c, got, c.want)
		}
	}
}

func TestRetryAfterFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Second:                  "10",
		2128 * time.Millisecond:           "2.128",
		87*time.Millisecond + 100:         "0.088",
		0:                                 "0.001",
		9999999 * time.Microsecond:        "10",
		1500 * time.Millisecond:           "1.5",
		59*time.Second + time.Microsecond: "59.001",
	} {
		if got := formatRetryAfter(d); got != want {
			t.Errorf("formatRetryAfter(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestThrottleErrors(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 41})
	p := Principal{TenantID: tn.TenantID(), AppID: tn.ClientID()}
	tests := []struct {
		fam        family
		code       string
		retryAfter bool
		scope      bool
	}{
		{familyReports, "UnknownError", true, false},
		{familyProtection, "TooManyRequests", false, false},
		{familyDirectory, "TooManyRequests", true, true},
	}
	for _, tc := range tests {
		e := tn.throttleError(tc.fam, p, 1500*time.Millisecond)
		if e.status != 429 || e.code != tc.code {
			t.Errorf("%s: %d %s", tc.fam, e.status, e.code)
		}
		if got := e.header["Retry-After"]; (got != "") != tc.retryAfter || tc.retryAfter && got != "1.5" {
			t.Errorf("%s: Retry-After %q", tc.fam, got)
		}
		if (e.header["x-ms-throttle-scope"] != "") != tc.scope || (e.header["x-ms-throttle-information"] == "ResourceUnitLimitExceeded") != tc.scope {
			t.Errorf("%s: throttle headers %v", tc.fam, e.header)
		}
	}
}

// At Graph's real limit: 20 requests fired as fast as possible, exactly 5 admitted in the first window.
func TestReportsThrottlingAtScaleOne(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 42, ThrottleScale: 1})
	c := newClient(t, tn)
	statuses := map[int]int{}
	for i := 0; i < 20; i++ {
		path := []string{pathBetaSignIns, pathAudits, pathProv, pathV1SignIns}[i%4]
		r := c.get(tn.GraphURL() + path + "?$top=1")
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests {
			secs, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64)
			if err != nil || secs <= 0 || secs > 10 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
			if e := r.gerr(t); e.Error.Code != "UnknownError" || e.Error.InnerError.RequestID == "" {
				t.Fatalf("429 body %s", r.body)
			}
		}
	}
	log := tn.Requests()
	if span := log[len(log)-1].Arrival.Sub(log[0].Arrival); span >= 10*time.Second {
		t.Skipf("20 requests took %s on this machine: more than one window, the count is not determined", span)
	}
	if statuses[200] != 5 || statuses[429] != 15 {
		t.Fatalf("statuses %v, want 5 × 200 and 15 × 429 (one budget for all reporting endpoints)", statuses)
	}
	cnt := tn.Counters()
	var accepted, throttled int64
	for _, ec := range cnt.Families["reports"] {
		accepted += ec.Accepted
		throttled += ec.Throttled
	}
	if accepted != 5 || throttled != 15 || cnt.Requests != 20 {
		t.Fatalf("counters %+v", cnt)
	}
	// Another app of the tenant has its own budget.
	other, err := tn.AddApp("Second app", []string{"AuditLog.Read.All"})
	if err != nil {
		t.Fatal(err)
	}
	c.token = fakeToken(tn.TenantID(), other.AppID, other.Roles, time.Now().Add(time.Hour))
	if r := c.get(tn.GraphURL() + pathAudits + "?$top=1"); r.status != 200 {
		t.Fatalf("second app throttled: %d", r.status)
	}
}

// At scale 0.01 the window is 100 ms: after waiting Retry-After, the next request is admitted.
func TestThrottlingScaledRetryAfterIsHonoured(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 43, ThrottleScale: 0.01})
	c := newClient(t, tn)
	admitted := 0
	for attempt := 0; attempt < 100 && admitted < 12; attempt++ {
		r := c.get(tn.GraphURL() + pathAudits + "?$top=1")
		switch r.status {
		case 200:
			admitted++
		case 429:
			secs, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64)
			if err != nil || secs <= 0 || secs > 0.1 {
				t.Fatalf("Retry-After %q at scale 0.01", r.header.Get("Retry-After"))
			}
			// Waiting the announced time is the protocol under test, not synchronisation.
			time.Sleep(time.Duration(secs * float64(time.Second)))
			r2 := c.get(tn.GraphURL() + pathAudits + "?$top=1")
			if r2.status != 200 {
				t.Fatalf("throttled again right after waiting Retry-After %gs", secs)
			}
			admitted++
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	if admitted < 12 {
		t.Fatalf("only %d admitted", admitted)
	}
	if tn.Counters().Endpoint("v1.0/auditLogs/directoryAudits").Throttled == 0 {
		t.Fatal("never throttled: 12 requests in well under 100 ms each window should hit the limit")
	}
}

// TestSharedBudget: another client of the same app spends its share of the reports window, so a greedy client that
// follows every Retry-After gets only the rest, and the other client gets its share although the greedy one would
// take everything. Without a share the greedy client gets the whole budget.
func TestSharedBudget(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const span = 1000 * time.Second // 100 windows of 10 s: 500 requests of budget
	for _, share := range []float64{0, 0.2, 0.5} {
		t.Run(strconv.FormatFloat(share, 'f', -1, 64), func(t *testing.T) {
			l := newLimiter(1, false, 100)
			l.shares[familyReports] = share
			others := 0
			l.onOther = func(f family, _ time.Time, ok bool) {
				if f != familyReports {
					t.Errorf("other client in family %s", f)
				}
				if ok {
					others++
				}
			}
			mine := 0
			for at := t0; at.Before(t0.Add(span)); {
				a := l.admit(familyReports, "tenant|app", at, 1)
				if a.ok {
					mine++
					continue
				}
				at = at.Add(a.retryAfter)
			}
			// The budget over the span is 500 requests plus the window's 5 at the start.
			if got := mine + others; got < 500 || got > 505 {
				t.Errorf("%d + %d requests admitted in %s, want the budget, 500–505", mine, others, span)
			}
			want := (1 - share) * 500
			if float64(mine) < want-6 || float64(mine) > want+6 {
				t.Errorf("the greedy client got %d requests, want about %g", mine, want)
			}
		})
	}
	// The other client holds one of the five places of a window from the start (a share of 0.2 of 5 per 10 s is
	// one request per window), and only in its own app's budget.
	l := newLimiter(1, false, 100)
	l.shares[familyReports] = 0.2
	n := 0
	for l.admit(familyReports, "tenant|app", t0, 1).ok {
		n++
	}
	if n != 4 {
		t.Errorf("%d requests admitted at once, want 4", n)
	}
	if !l.admit(familyReports, "tenant|other-app", t0, 1).ok {
		t.Error("another app's budget was used up too")
	}
}

func TestSharedBudgetValidation(t *testing.T) {
	for _, sb := range []map[string]float64{{"reports": 1}, {"reports": -0.1}, {"nope": 0.2}} {
		if _, err := New(&Options{SharedBudget: sb}); err == nil || !strings.Contains(err.Error(), "SharedBudget") {
			t.Errorf("SharedBudget %v: error %v, want one naming SharedBudget", sb, err)
		}
	}
}
