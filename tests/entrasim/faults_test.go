package entrasim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// do sends a GET and returns the response, or the transport error.
func (c *client) do(rawURL string, header map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func TestFaultKinds(t *testing.T) {
	tests := []struct {
		name  string
		rule  FaultRule
		check func(t *testing.T, res *http.Response, body []byte, err error)
	}{
		{"429 with Retry-After", FaultRule{Kind: FaultThrottle, RetryAfter: 2500 * time.Millisecond},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 429 || res.Header.Get("Retry-After") != "2.5" {
					t.Fatalf("%v %v %q", err, res.StatusCode, res.Header.Get("Retry-After"))
				}
				assertGraphError(t, body, "UnknownError")
			}},
		{"429 without Retry-After", FaultRule{Kind: FaultThrottle},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 429 || res.Header.Get("Retry-After") != "" {
					t.Fatalf("%v %v %q", err, res.StatusCode, res.Header.Get("Retry-After"))
				}
			}},
		{"500", FaultRule{Kind: FaultStatus},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 500 {
					t.Fatalf("%v %v", err, res.StatusCode)
				}
				assertGraphError(t, body, "generalException")
			}},
		{"503 with Retry-After", FaultRule{Kind: FaultStatus, Status: 503, RetryAfter: 3 * time.Second},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") != "3" {
					t.Fatalf("%v %v", err, res.StatusCode)
				}
				assertGraphError(t, body, "serviceNotAvailable")
			}},
		{"504", FaultRule{Kind: FaultStatus, Status: 504},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 504 {
					t.Fatalf("%v %v", err, res.StatusCode)
				}
				assertGraphError(t, body, "UnknownError")
			}},
		{"connection reset", FaultRule{Kind: FaultReset},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err == nil {
					t.Fatalf("no transport error, status %d", res.StatusCode)
				}
			}},
		{"truncated body", FaultRule{Kind: FaultTruncate},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("%v", err)
				}
				if json.Valid(body) || !strings.HasPrefix(string(body), `{"@odata.context":"`) || !strings.Contains(string(body), `"value":[{"id":`) {
					t.Fatalf("body should be a valid start cut mid-array: %.200s … %s", body, body[max(0, len(body)-80):])
				}
			}},
		{"truncated body, connection aborted", FaultRule{Kind: FaultTruncate, Abort: true},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("want unexpected EOF reading the body, got %v", err)
				}
				if res.ContentLength <= int64(len(body)) || !strings.HasPrefix(string(body), `{"@odata.context":"`) {
					t.Fatalf("Content-Length %d, read %d", res.ContentLength, len(body))
				}
			}},
		{"invalid JSON", FaultRule{Kind: FaultInvalidJSON},
			func(t *testing.T, res *http.Response, body []byte, err error) {
				if err != nil || res.StatusCode != 200 || json.Valid(body) || !strings.HasSuffix(string(body), ",]}") {
					t.Fatalf("%v %d valid=%v %s", err, res.StatusCode, json.Valid(body), body[max(0, len(body)-40):])
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Seed: 51})
			c := newClient(t, tn)
			rule := tc.rule
			rule.Path = "/v1.0/auditLogs/directoryAudits"
			rule.Nth = 2
			rule.Count = 1
			if _, err := tn.AddFault(rule); err != nil {
				t.Fatal(err)
			}
			u := c.list(pathAudits, map[string]string{"$top": "20"})
			if res, body, err := c.do(u, nil); err != nil || res.StatusCode != 200 || !json.Valid(body) {
				t.Fatalf("first request should be untouched: %v", err)
			}
			if r := c.get(tn.GraphURL() + pathBetaSignIns + "?$top=1"); r.status != 200 {
				t.Fatalf("another path is affected: %d", r.status)
			}
			// A fresh connection: Go's transport silently retries a GET whose reused connection closes
			// before any response, which would hide the reset. Identity encoding keeps truncation
			// visible in the raw bytes.
			c.hc.CloseIdleConnections()
			res, body, err := c.do(u, map[string]string{"Accept-Encoding": "identity"})
			tc.check(t, res, body, err)
			if res, body, err := c.do(u, nil); err != nil || res.StatusCode != 200 || !json.Valid(body) {
				t.Fatalf("the rule fired more than Count times: %v", err)
			}
			if got := tn.Counters().Endpoint("v1.0/auditLogs/directoryAudits").Faults; got != 1 {
				t.Fatalf("faults counter %d", got)
			}
			faulted := 0
			for _, r := range tn.Requests() {
				if r.Fault == string(tc.rule.Kind) {
					faulted++
				}
			}
			if faulted != 1 {
				t.Fatalf("request log holds %d faulted requests", faulted)
			}
		})
	}
}

func assertGraphError(t *testing.T, body []byte, code string) {
	t.Helper()
	var e graphError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != code || e.Error.InnerError.RequestID == "" {
		t.Fatalf("body %s, want a Graph error with code %s", body, code)
	}
}

func TestFaultStormAndTriggers(t *testing.T) {
	tests := []struct {
		name string
		rule FaultRule
		want string // per request: . ok, x faulted
	}{
		{"storm of 3 on the 2nd request", FaultRule{Kind: FaultThrottle, Nth: 2, Storm: 3}, ".xxx......"},
		{"every 3rd, twice", FaultRule{Kind: FaultStatus, Every: 3, Count: 2}, "..x..x...."},
		{"always, count 4", FaultRule{Kind: FaultStatus, Count: 4}, "xxxx......"},
		{"storm twice", FaultRule{Kind: FaultThrottle, Every: 4, Storm: 2, Count: 2}, "...xx..xx."},
		{"stream that is not read", FaultRule{Kind: FaultStatus, Stream: StreamManagedIdentity}, ".........."},
		{"stream that is read", FaultRule{Kind: FaultStatus, Stream: StreamNonInteractive, Nth: 5}, "....x....."},
		{"skip token only on nextLinks", FaultRule{Kind: FaultInvalidSkipToken}, "x.x.x.x.x."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn, clock := startTenant(t, Options{Seed: 52, Users: 300})
			c := newClient(t, tn)
			if _, err := tn.AddFault(tc.rule); err != nil {
				t.Fatal(err)
			}
			first := c.list(pathBetaSignIns, map[string]string{"$top": "3", "$filter": window("createdDateTime", clock.Now().Add(-5*time.Hour), clock.Now()) +
				" and signInEventTypes/any(t: t eq 'nonInteractiveUser')"})
			var got strings.Builder
			next := ""
			for i := 0; i < 10; i++ {
				// Alternate: a first page, then its nextLink.
				u := first
				if i%2 == 1 && next != "" {
					u = next
				}
				r := c.get(u)
				if r.status == 200 {
					got.WriteByte('.')
					if i%2 == 0 {
						next = r.page(t).NextLink
					}
				} else {
					got.WriteByte('x')
				}
			}
			// For the skip-token rule, faults land on odd requests (the nextLinks).
			want := tc.want
			if tc.rule.Kind == FaultInvalidSkipToken {
				want = ".x.x.x.x.x"
			}
			if got.String() != want {
				t.Fatalf("pattern %s, want %s", got.String(), want)
			}
		})
	}
}

// Probability draws from the tenant's seeded generator: the same seed gives the same faults.
func TestFaultProbabilityIsSeeded(t *testing.T) {
	pattern := func(seed int64) string {
		tn, _ := startTenant(t, Options{Seed: seed, Faults: []FaultRule{{Kind: FaultStatus, Probability: 0.3}}})
		c := newClient(t, tn)
		var b strings.Builder
		for i := 0; i < 40; i++ {
			if c.get(tn.GraphURL()+pathAudits+"?$top=1").status == 200 {
				b.WriteByte('.')
			} else {
				b.WriteByte('x')
			}
		}
		return b.String()
	}
	a, b := pattern(53), pattern(53)
	n := strings.Count(a, "x")
	if a != b || n < 5 || n > 20 {
		t.Fatalf("patterns %s / %s", a, b)
	}
}

func TestSimAPI(t *testing.T) {
	tn, clock := startTenant(t, Options{Seed: 54, Clock: NewSimClock(testStart)})
	c := newClient(t, tn)
	sim := tn.GraphURL() + "/_sim"
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, sim+path, strings.NewReader(body))
		res, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	// Faults at run time.
	st, b := call(http.MethodPost, "/faults", `{"kind":"status","status":503,"path":"/v1.0/auditLogs","nth":1,"retryAfter":"1s"}`)
	if st != 201 {
		t.Fatalf("POST /faults %d %s", st, b)
	}
	if r := c.get(tn.GraphURL() + pathAudits + "?$top=1"); r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("fault not applied: %d", r.status)
	}
	if st, b := call(http.MethodPost, "/faults", `{"kind":"nope"}`); st != 400 {
		t.Fatalf("bad rule accepted: %d %s", st, b)
	}
	var list []FaultState
	_, b = call(http.MethodGet, "/faults", "")
	if err := json.Unmarshal(b, &list); err != nil || len(list) != 1 || list[0].Fired != 1 {
		t.Fatalf("faults %s", b)
	}
	if st, _ := call(http.MethodDelete, "/faults/"+jsonInt(list[0].ID), ""); st != 204 {
		t.Fatalf("DELETE fault %d", st)
	}
	// Truth over HTTP equals the API.
	from, to := clock.Now().Add(-3*time.Hour), clock.Now().Add(-time.Hour)
	_, b = call(http.MethodGet, "/truth?stream=signIns.interactive&from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339), "")
	var truth struct {
		IDs   []string `json:"ids"`
		Count int      `json:"count"`
	}
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatalf("truth body %s: %v", b, err)
	}
	want, _ := tn.Truth(StreamInteractive, from, to, clock.Now())
	if truth.Count != len(want) || len(want) == 0 || strings.Join(truth.IDs, ",") != strings.Join(want, ",") {
		t.Fatalf("truth endpoint %d ids, API %d", truth.Count, len(want))
	}
	if st, _ := call(http.MethodGet, "/truth?stream=signIns.all", ""); st != 400 {
		t.Fatalf("unknown stream %d", st)
	}
	// Clock.
	if st, b := call(http.MethodPost, "/clock", `{"advance":"36h"}`); st != 200 || !clock.Now().Equal(testStart.Add(36*time.Hour)) {
		t.Fatalf("advance: %d %s", st, b)
	}
	if st, _ := call(http.MethodPost, "/clock", `{"set":"2025-04-01T00:00:00Z"}`); st != 200 || !clock.Now().Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("set: %d", st)
	}
	// Counters and the request log.
	var cnt Counters
	_, b = call(http.MethodGet, "/counters", "")
	if err := json.Unmarshal(b, &cnt); err != nil || cnt.Families["reports"]["v1.0/auditLogs/directoryAudits"].Faults != 1 {
		t.Fatalf("counters %s", b)
	}
	var reqs []RequestRecord
	_, b = call(http.MethodGet, "/requests", "")
	if err := json.Unmarshal(b, &reqs); err != nil || len(reqs) != 1 || reqs[0].Status != 503 || reqs[0].AppID != tn.ClientID() {
		t.Fatalf("requests %s", b)
	}
	if st, _ := call(http.MethodDelete, "/counters", ""); st != 204 || tn.Counters().Requests != 0 || len(tn.Requests()) != 0 {
		t.Fatal("reset")
	}
	var info Info
	_, b = call(http.MethodGet, "/tenant", "")
	if err := json.Unmarshal(b, &info); err != nil || info.TenantID != tn.TenantID() || info.GraphURL != tn.GraphURL() || info.ClientSecret != tn.ClientSecret() {
		t.Fatalf("tenant %s", b)
	}
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

// Page latency honours cancellation: a cancelled request returns at once, whatever the latency.
func TestPageLatencyHonoursCancellation(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 55, PageLatency: Dist{Fixed: time.Hour}, DisableThrottling: true})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, pathAudits+"?$top=1", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour)))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		tn.ServeHTTP(rec, req)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("handler still waiting an hour-long page latency after cancellation")
	}
	if rec.Body.Len() != 0 {
		t.Fatalf("a cancelled request got a body: %s", rec.Body.String())
	}
	if log := tn.Requests(); len(log) != 1 || log[0].Status != 499 {
		t.Fatalf("request log %+v", log)
	}
}

// Latency draws come from the seeded generator, inside the distribution's bounds.
func TestPageLatencyDraws(t *testing.T) {
	tn, _ := newTestTenant(t, Options{Seed: 56, PageLatency: Dist{Fixed: time.Millisecond, Jitter: 2 * time.Millisecond}, DisableThrottling: true})
	token := fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))
	for i := 0; i < 5; i++ {
		req := httptest.NewRequest(http.MethodGet, pathAudits+"?$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		tn.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	for _, r := range tn.Requests() {
		if r.Duration < time.Millisecond {
			t.Fatalf("page served in %s, below the fixed latency of 1 ms", r.Duration)
		}
	}
}
