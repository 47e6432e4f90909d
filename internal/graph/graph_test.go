package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-di/edi/internal/catalog"
)

// staticCred hands out a token; with claims it hands out a different one, as a CAE-capable credential would.
type staticCred struct {
	calls  atomic.Int32
	claims atomic.Value
}

func (c *staticCred) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	tok := "token-plain"
	if o.Claims != "" {
		c.claims.Store(o.Claims)
		tok = "token-with-claims"
	}
	if len(o.Scopes) != 1 || o.Scopes[0] != Scope {
		return azcore.AccessToken{}, fmt.Errorf("unexpected scopes %v", o.Scopes)
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeGraph is an httptest TLS server with a programmable handler per request number.
type fakeGraph struct {
	srv   *httptest.Server
	mu    sync.Mutex
	n     int
	auths []string
	paths []string
	next  func(n int, w http.ResponseWriter, r *http.Request)
}

func newFakeGraph(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *fakeGraph {
	f := &fakeGraph{next: h}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		n := f.n
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		f.paths = append(f.paths, r.URL.RequestURI())
		f.mu.Unlock()
		w.Header().Set("request-id", fmt.Sprintf("rid-%d", n))
		f.next(n, w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func fastRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond}
}

func newTestClient(t *testing.T, f *fakeGraph, cred azcore.TokenCredential) *Client {
	t.Helper()
	if cred == nil {
		cred = &staticCred{}
	}
	c, err := New(cred, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport, Retry: fastRetry(),
		Budgets: map[catalog.Family]catalog.Budget{catalog.Reports: {Requests: 1000, Window: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collect(t *testing.T, c *Client, first string) ([]string, Summary, error) {
	var items []string
	sum, err := c.Pages(context.Background(), first, func(it Item) error {
		items = append(items, string(it.Raw))
		return nil
	})
	return items, sum, err
}

func TestPagesFollowsNextLinksOnTheGraphHostOnly(t *testing.T) {
	var f *fakeGraph
	f = newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			fmt.Fprintf(w, `{"@odata.context":"x","@odata.nextLink":"%s/beta/auditLogs/signIns?$skiptoken=p2","value":[{"id":"1"},{"id":"2"}]}`, f.srv.URL)
		case "p2":
			fmt.Fprintf(w, `{"value":[{"id":"3", "dup":1, "dup":2}],"@odata.nextLink":"%s/beta/auditLogs/signIns?$skiptoken=p3"}`, f.srv.URL)
		default:
			io.WriteString(w, `{"value":[]}`)
		}
	})
	c := newTestClient(t, f, nil)
	items, sum, err := collect(t, c, "/beta/auditLogs/signIns?$top=2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"id":"1"}`, `{"id":"2"}`, `{"id":"3", "dup":1, "dup":2}`}
	if strings.Join(items, "|") != strings.Join(want, "|") {
		t.Errorf("items = %q", items)
	}
	if sum.Pages != 3 || sum.Items != 3 || strings.Join(sum.RequestIDs, ",") != "rid-1,rid-2,rid-3" {
		t.Errorf("summary = %+v", sum)
	}
	for _, a := range f.auths {
		if a != "Bearer token-plain" {
			t.Errorf("Authorization = %q", a)
		}
	}

	// A nextLink to another host is refused before any request goes there.
	other := newFakeGraph(t, func(int, http.ResponseWriter, *http.Request) {})
	evil := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"value":[{"id":"1"}],"@odata.nextLink":"%s/v1.0/x"}`, other.srv.URL)
	})
	c = newTestClient(t, evil, nil)
	_, _, err = collect(t, c, "/v1.0/auditLogs/directoryAudits")
	if KindOf(err) != InvalidPage || !strings.Contains(err.Error(), "not the Graph endpoint") {
		t.Errorf("err = %v", err)
	}
	if other.requests() != 0 {
		t.Errorf("the foreign host got %d requests", other.requests())
	}
	if _, _, err := collect(t, c, "https://example.com/v1.0/users"); KindOf(err) != InvalidPage {
		t.Errorf("first URL on a foreign host: %v", err)
	}
}

func TestRetriesAndClassification(t *testing.T) {
	body := func(code, msg string) string {
		return fmt.Sprintf(`{"error":{"code":%q,"message":%q,"innerError":{"date":"2026-01-10T10:00:00","request-id":"inner-rid"}}}`, code, msg)
	}
	type step struct {
		status int
		header map[string]string
		body   string
	}
	ok := step{200, nil, `{"value":[{"id":"a"}]}`}
	const audits, intune, risky, users = "/v1.0/auditLogs/directoryAudits", "/v1.0/deviceManagement/managedDevices",
		"/v1.0/identityProtection/riskyUsers", "/v1.0/users/delta"
	cases := []struct {
		name     string
		steps    []step
		wantKind Kind
		wantReqs int
		path     string
	}{
		{"429 fractional Retry-After then ok", []step{{429, map[string]string{"Retry-After": "0.005"}, body("TooManyRequests", "Too many requests")}, ok}, "", 2, ""},
		{"429 without Retry-After then ok", []step{{429, nil, body("activityLimitReached", "throttled")}, ok}, "", 2, ""},
		{"429 HTTP date then ok", []step{{429, map[string]string{"Retry-After": time.Now().Add(-time.Second).UTC().Format(http.TimeFormat)}, ""}, ok}, "", 2, ""},
		{"503 then 504 then ok", []step{{503, nil, ""}, {504, nil, ""}, ok}, "", 3, ""},
		{"429 storm", []step{{429, nil, ""}, {429, nil, ""}, {429, nil, ""}, {429, nil, body("TooManyRequests", "x")}}, Throttled, 4, ""},
		{"500 storm", []step{{500, nil, ""}, {500, nil, ""}, {500, nil, ""}, {500, nil, body("InternalServerError", "x")}}, Transient, 4, ""},
		{"non-premium", []step{{403, nil, body("Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")}}, NotLicensed, 1, ""},
		{"denied", []step{{403, nil, body("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")}}, MissingPermission, 1, ""},
		{"reports permission", []step{{403, nil, body("UnknownError", "Calling principal does not have required MSGraph permissions AuditLog.Read.All")}}, MissingPermission, 1, ""},
		{"sim permission code", []step{{403, nil, body("Authentication_MSGraphPermissionMissing", "Calling principal does not have required MSGraph permissions AuditLog.Read.All")}}, MissingPermission, 1, audits},
		{"intune licence", []step{{400, nil, body("BadRequest", "Request not applicable to target tenant.")}}, NotLicensed, 1, intune},
		{"intune nested", []step{{403, nil, body("UnknownError", `{"ErrorCode":"Forbidden","Message":"{\"_version\": 3}"}`)}}, MissingPermission, 1, intune},
		{"intune nested 401", []step{{401, nil, body("UnknownError", `{"ErrorCode":"Forbidden","Message":"{\"_version\": 3}"}`)}}, MissingPermission, 1, intune},
		{"risky users licence", []step{{403, nil, body("Forbidden", "Your tenant is not licensed for this feature.")}}, NotLicensed, 1, risky},
		{"forbidden outside Identity Protection", []step{{403, nil, body("Forbidden", "Forbidden")}}, MissingPermission, 1, audits},
		{"other 403", []step{{403, nil, body("Authorization_IdentityNotFound", "x")}}, Forbidden, 1, audits},
		{"bad filter", []step{{400, nil, body("BadRequest", "Invalid filter clause")}}, BadRequest, 1, audits},
		{"bad request on Intune's neighbour", []step{{400, nil, body("BadRequest", "Invalid filter clause")}}, BadRequest, 1, users},
		{"expired delta", []step{{410, map[string]string{"Location": "https://x"}, ""}}, SyncReset, 1, users},
		{"sync state", []step{{400, nil, body("syncStateNotFound", "x")}}, SyncReset, 1, users},
		{"sync state, other case", []step{{400, nil, body("SyncStateNotFound", "x")}}, SyncReset, 1, users},
		{"resync required", []step{{400, nil, body("resyncRequired", "x")}}, SyncReset, 1, users},
		{"bad token", []step{{401, nil, body("InvalidAuthenticationToken", "Access token validation failure.")}}, InvalidCredential, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
				s := tc.steps[min(n, len(tc.steps))-1]
				for k, v := range s.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(s.status)
				io.WriteString(w, s.body)
			})
			c := newTestClient(t, f, nil)
			if tc.path == "" {
				tc.path = audits
			}
			items, _, err := collect(t, c, tc.path)
			if got := KindOf(err); got != tc.wantKind {
				t.Fatalf("kind = %q (%v), want %q", got, err, tc.wantKind)
			}
			if tc.wantKind == "" && (len(items) != 1 || items[0] != `{"id":"a"}`) {
				t.Errorf("items = %q", items)
			}
			if f.requests() != tc.wantReqs {
				t.Errorf("%d requests, want %d", f.requests(), tc.wantReqs)
			}
			if err != nil {
				var ge *Error
				errors.As(err, &ge)
				if ge.RequestID == "" || ge.Path != tc.path {
					t.Errorf("error lacks request id or path: %+v", ge)
				}
			}
		})
	}
}

func TestThrottleStats(t *testing.T) {
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, `{"value":[]}`)
	})
	c := newTestClient(t, f, nil)
	if _, _, err := collect(t, c, "/beta/auditLogs/signIns"); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()[catalog.Reports]
	if s.Requests != 2 || s.Throttled != 1 || s.Retries != 1 {
		t.Errorf("reports stats = %+v", s)
	}
	if d := c.Stats()[catalog.Directory]; d.Requests != 0 {
		t.Errorf("directory stats = %+v", d)
	}
}

func TestBrokenPagesAreRetriedThenFail(t *testing.T) {
	fixture, err := os.ReadFile("../../tests/testdata/graph-docs/signin-list.json")
	if err != nil {
		t.Fatal(err)
	}
	good := `{"value":[{"id":"a"},{"id":"b"}]}`
	cases := []struct {
		name     string
		pages    []string // body per request; "RESET" hijacks and closes mid-body
		wantKind Kind
		wantReqs int
		link     string
	}{
		{"truncated once", []string{good[:20], good}, "", 2, ""},
		{"reset once", []string{"RESET", good}, "", 2, ""},
		{"always truncated", []string{good[:20]}, InvalidPage, PageAttempts, ""},
		{"invalid fixture", []string{string(fixture)}, InvalidPage, PageAttempts, ""},
		{"skip token glitch once", []string{"SKIPTOKEN", good}, "", 2, "?$skiptoken=abc"},
		{"skip token glitch always", []string{"SKIPTOKEN"}, BadRequest, PageAttempts, "?$skiptoken=abc"},
		{"the same answer to a first page is no glitch", []string{"SKIPTOKEN", good}, BadRequest, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
				p := tc.pages[min(n, len(tc.pages))-1]
				if p == "SKIPTOKEN" {
					w.WriteHeader(400)
					io.WriteString(w, `{"error":{"code":"UnknownError","message":"Invalid Skip Token, skip token is null","innerError":{"request-id":"x"}}}`)
					return
				}
				if p == "RESET" {
					w.Header().Set("Content-Length", "1000")
					w.WriteHeader(200)
					io.WriteString(w, `{"value":[{"id":"a"},`)
					w.(http.Flusher).Flush()
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					return
				}
				io.WriteString(w, p)
			})
			c := newTestClient(t, f, nil)
			items, _, err := collect(t, c, "/beta/auditLogs/signIns"+tc.link)
			if KindOf(err) != tc.wantKind {
				t.Fatalf("kind = %q (%v), want %q", KindOf(err), err, tc.wantKind)
			}
			if f.requests() != tc.wantReqs {
				t.Errorf("%d requests, want %d", f.requests(), tc.wantReqs)
			}
			if tc.wantKind == "" && !strings.HasSuffix(strings.Join(items, ""), `{"id":"a"}{"id":"b"}`) {
				t.Errorf("items = %q", items)
			}
			if err != nil && !strings.Contains(err.Error(), "request-id rid-") {
				t.Errorf("error does not name the request id: %v", err)
			}
		})
	}
}

func TestClaimsChallengeGetsAFreshToken(t *testing.T) {
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-with-claims" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"InvalidAuthenticationToken","message":"Continuous access evaluation resulted in challenge"}}`)
			return
		}
		io.WriteString(w, `{"value":[{"id":"x"}]}`)
	})
	cred := &staticCred{}
	c := newTestClient(t, f, cred)
	items, _, err := collect(t, c, "/v1.0/auditLogs/directoryAudits")
	if err != nil || len(items) != 1 {
		t.Fatalf("items %q, err %v", items, err)
	}
	if got, _ := cred.claims.Load().(string); got != claims {
		t.Errorf("claims passed to the credential = %q", got)
	}
}

func TestLimiterSpacing(t *testing.T) {
	l := newLimiter(catalog.Budget{Requests: 3, Window: 40 * time.Millisecond})
	var sent []time.Time
	for range 9 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, time.Now())
	}
	for i := 3; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-3]); gap < l.window {
			t.Errorf("requests %d and %d only %v apart, window %v", i-3, i, gap, l.window)
		}
	}
	// A pause holds everyone.
	l.pause(time.Now().Add(30 * time.Millisecond))
	before := time.Now()
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(before) < 30*time.Millisecond {
		t.Error("wait returned during a pause")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.pause(time.Now().Add(time.Hour))
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait on a cancelled context = %v", err)
	}
}

// TestLimiterAdapts drives the limiter's adaptation with explicit times: a smaller budget than documented (a
// neighbour on the same app) lowers the limit after two 429s within a few windows; a lone 429 at a level that held
// widens the margin instead; a level that failed is probed again ever more rarely, and forgotten once a probe holds.
func TestLimiterAdapts(t *testing.T) {
	l := newLimiter(catalog.Budget{Requests: 5, Window: 10 * time.Second})
	w0 := l.window
	t0 := l.changed
	at := func(windows float64) time.Time { return t0.Add(time.Duration(windows * float64(w0))) }
	check := func(step string, limit int, margin float64) {
		t.Helper()
		if l.limit != limit || margin >= 0 && math.Abs(l.margin-margin) > 1e-9 {
			t.Fatalf("%s: limit %d margin %.4f, want %d and %.4f", step, l.limit, l.margin, limit, margin)
		}
	}
	// The documented budget is on probation: a first 429 may be jitter, a second within four windows is not.
	l.throttled(at(0.5))
	check("first 429", 5, Margin)
	l.throttled(at(1.5))
	check("second 429", 4, Margin)
	l.throttled(at(1.9)) // the same crowded window
	check("same window", 4, Margin)
	if l.failedAt != 5 || l.failWait != 64*w0 {
		t.Fatalf("failedAt %d failWait %v, want 5 and 64 windows", l.failedAt, l.failWait)
	}
	// A lone 429 at the lower level, which held: jitter, not budget.
	l.throttled(at(10))
	check("lone 429", 4, 1.5*Margin)
	// The failed level 5 is tried again after its 64 windows, not after 16.
	lowered := l.changed
	l.adapt(lowered.Add(16 * l.window))
	check("after 16 windows", 4, 1.5*Margin)
	l.adapt(lowered.Add(l.failWait))
	check("after 64 windows", 5, 1.5*Margin)
	// The probe fails (two 429s): level 5 waits twice as long next time.
	probe := l.changed
	l.throttled(probe.Add(l.window / 2))
	l.throttled(probe.Add(2 * l.window))
	check("failed probe", 4, 1.5*Margin)
	if l.failedAt != 5 || l.failWait != 128*w0 {
		t.Fatalf("failedAt %d failWait %v, want 5 and 128 windows", l.failedAt, l.failWait)
	}
	// Two 429s within four windows at a level that held lower it too: a neighbour that grew. That level failed.
	lowered = l.changed
	l.throttled(lowered.Add(20 * l.window))
	check("lone again", 4, 2.25*Margin)
	l.throttled(lowered.Add(22 * l.window))
	check("confirmed", 3, 2.25*Margin)
	if l.failedAt != 4 {
		t.Fatalf("failedAt %d, want 4", l.failedAt)
	}
	// Level 4 comes back after its wait; once it held through its probation it is forgotten and level 5 is probed
	// at the first pace.
	l.adapt(l.changed.Add(l.failWait - time.Millisecond))
	check("level 4 not yet", 3, -1)
	l.adapt(l.changed.Add(l.failWait))
	check("level 4 again", 4, -1)
	l.adapt(l.changed.Add(16 * l.window))
	check("level 5 again", 5, -1)
	if l.failedAt != 0 {
		t.Fatalf("failedAt %d after a raise that held", l.failedAt)
	}
	// After a long calm the margin is back where it started.
	calm := l.changed.Add(100 * l.window)
	l.adapt(calm)
	l.adapt(calm.Add(100 * l.window))
	check("calm", 5, Margin)
	// Never below one request per window, and a large budget moves by a twentieth.
	small := newLimiter(catalog.Budget{Requests: 1, Window: time.Second})
	small.throttled(small.changed)
	small.throttled(small.changed.Add(2 * time.Second))
	if small.limit != 1 {
		t.Errorf("limit %d, want at least 1", small.limit)
	}
	big := newLimiter(catalog.Budget{Requests: 3500, Window: 10 * time.Second})
	big.throttled(big.changed)
	big.throttled(big.changed.Add(11 * time.Second))
	if big.limit != 3325 {
		t.Errorf("limit %d after two 429s on 3,500, want 3,325", big.limit)
	}
}

// TestOneRequestBudgetHolds: a 429 without Retry-After on a budget of one request per window holds the family for
// one window (and the margin) — the request that took the budget left it by then — twice in a row; from the third
// refusal in a row the hold doubles, a random share of it at least one window and at most RetryPolicy.Max; an answer
// ends the run. Such a 429 neither lowers the limit nor widens the margin. A larger budget keeps the per-attempt
// exponential back-off.
func TestOneRequestBudgetHolds(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 8, Base: time.Second, Max: 5 * time.Second}
	l := newLimiter(catalog.Budget{Requests: 1, Window: time.Second})
	w := l.window
	steps := []struct {
		answered bool          // an answer other than 429 before this refusal
		lo, hi   time.Duration // bounds of the hold
	}{
		{false, w, w},
		{false, w, w},
		{false, w, 2 * w},
		{false, w, 4 * w},
		{false, w, p.Max},
		{false, w, p.Max},
		{true, w, w},
		{false, w, w},
		{false, w, 2 * w},
	}
	for i, s := range steps {
		if s.answered {
			l.answered()
		}
		if got := l.refusal(p, 1); got < s.lo || got > s.hi {
			t.Errorf("refusal %d: hold %v, want within [%v, %v]", i, got, s.lo, s.hi)
		}
		l.throttled(time.Now())
		if l.limit != 1 || l.margin != Margin {
			t.Fatalf("refusal %d: limit %d margin %.3f, want 1 and %.3f", i, l.limit, l.margin, Margin)
		}
	}
	// The doubling is random: over many refusals in a row the holds spread up to Max rather than sit at one window.
	var longest time.Duration
	for range 200 {
		longest = max(longest, l.refusal(p, 1))
	}
	if longest <= 2*w {
		t.Errorf("the longest of 200 holds in a row is %v: the hold does not grow", longest)
	}
	big := newLimiter(catalog.Budget{Requests: 5, Window: 10 * time.Second})
	for attempt := 1; attempt <= 4; attempt++ {
		if got, ceiling := big.refusal(p, attempt), min(p.Max, p.Base<<(attempt-1)); got < p.Base/4 || got > ceiling {
			t.Errorf("5 / 10 s, attempt %d: hold %v, want the back-off within [%v, %v]", attempt, got, p.Base/4, ceiling)
		}
	}
}

// TestOneRequestBudgetThroughTheClient: Identity Protection answers 429 without Retry-After, late (after more than
// a window, so the spacing from the refused send no longer holds anything); the client sends the retry no sooner
// than one window (with the margin) after the refusal was answered, and the run's requests stay one window apart.
func TestOneRequestBudgetThroughTheClient(t *testing.T) {
	const window = 60 * time.Millisecond
	var mu sync.Mutex
	var arrivals []time.Time
	answered := map[int]time.Time{} // refused request → when its 429 was written
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		if n%3 != 0 { // two refusals in a row, then an answer
			time.Sleep(2 * window)
			mu.Lock()
			answered[n-1] = time.Now()
			mu.Unlock()
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Too Many Requests"}}`)
			return
		}
		io.WriteString(w, `{"id":"u"}`)
	})
	c, err := New(&staticCred{}, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport,
		Retry:   RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: time.Second},
		Budgets: map[catalog.Family]catalog.Budget{catalog.Protection: {Requests: 1, Window: window}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := c.Object(context.Background(), "/v1.0/identityProtection/riskyUsers/u"); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats()[catalog.Protection]; s.Requests != 9 || s.Throttled != 6 {
		t.Fatalf("protection stats %+v, want 9 requests of which 6 refused", s)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(arrivals); i++ {
		if gap := arrivals[i].Sub(arrivals[i-1]); gap < window {
			t.Errorf("requests %d and %d %v apart at the server, window %v", i-1, i, gap, window)
		}
	}
	for i, at := range answered {
		// Base is 1 ms: a back-off per attempt would send again at once; the window is what holds.
		if gap := arrivals[i+1].Sub(at); gap < window+window*3/100 {
			t.Errorf("request %d arrived %v after the 429 of request %d, inside the window and margin", i+1, gap, i)
		}
	}
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"2.128":                         2128 * time.Millisecond,
		"5":                             5 * time.Second,
		"Sat, 10 Jan 2026 10:00:07 GMT": 7 * time.Second,
		"Sat, 10 Jan 2026 09:00:00 GMT": 0,
	} {
		h := http.Header{"Retry-After": {v}}
		if got, ok := retryAfter(h, now); !ok || got != want {
			t.Errorf("Retry-After %q = %v %v, want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-1"} {
		if _, ok := retryAfter(http.Header{"Retry-After": {v}}, now); ok {
			t.Errorf("Retry-After %q accepted", v)
		}
	}
}

func TestEndpointMustBeHTTPS(t *testing.T) {
	for _, e := range []string{"http://graph.microsoft.com", "graph.microsoft.com", "://"} {
		if _, err := New(&staticCred{}, &Options{Endpoint: e}); err == nil {
			t.Errorf("endpoint %q accepted", e)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	e := classify(403, http.Header{}, []byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"innerError":{"request-id":"deep"}}}}`), "/v1.0/users")
	want := "graph missing-permission (HTTP 403 Authorization_RequestDenied) /v1.0/users: Insufficient privileges to complete the operation. [request-id deep]"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
	if !bytes.Contains([]byte(e.Error()), []byte("deep")) {
		t.Error("nested request id lost")
	}
}

// TestLongMessageKeepsWholeCharacters: a message cut at 300 bytes ends on a character boundary, so the error stays
// valid UTF-8 in cursors, runs and Status.
func TestLongMessageKeepsWholeCharacters(t *testing.T) {
	msg := strings.Repeat("a", 299) + "é and more"
	e := classify(400, http.Header{}, []byte(`{"error":{"code":"BadRequest","message":"`+msg+`"}}`), "/v1.0/users")
	if !utf8.ValidString(e.Message) || e.Message != strings.Repeat("a", 299)+"…" {
		t.Errorf("message = %q", e.Message)
	}
}

// TestDataTypeBudget: a request made for a data type spends its family's budget and the data type's own, whatever
// its path — userSignInActivity reads /users, a directory path, but counts as reports and waits for its own
// 10 requests a minute, scaled like its family's budget (reports 5 / 10 s scaled to 1000 / 100 ms: × 1/100, so
// 10 / 600 ms).
func TestDataTypeBudget(t *testing.T) {
	var mu sync.Mutex
	var sent []time.Time
	const pages = 22
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, time.Now())
		mu.Unlock()
		if n < pages {
			fmt.Fprintf(w, `{"value":[{"id":"u%d"}],"@odata.nextLink":"https://%s/v1.0/users?$skiptoken=%d"}`, n, r.Host, n)
			return
		}
		io.WriteString(w, `{"value":[]}`)
	})
	c, err := New(&staticCred{}, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport, Retry: fastRetry(),
		Budgets: map[catalog.Family]catalog.Budget{catalog.Reports: {Requests: 1000, Window: 100 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	sia, _ := catalog.Lookup("userSignInActivity")
	ctx := WithDataType(context.Background(), sia)
	if _, err := c.Pages(ctx, sia.SnapshotQuery(), func(Item) error { return nil }); err != nil {
		t.Fatal(err)
	}
	after := c.Stats()
	if got := after[catalog.Reports].Requests; got != pages {
		t.Errorf("reports family counted %d requests, want all %d", got, pages)
	}
	if got := after[catalog.Directory].Requests; got != 0 {
		t.Errorf("directory family counted %d requests of userSignInActivity", got)
	}
	// Arrival times at the server jitter around the client's spacing (by tens of milliseconds on a loaded machine
	// under -race); without the data type's limit the requests would arrive milliseconds apart.
	window := sia.Limit.Window / 100 * 8 / 10
	for i := sia.Limit.Requests; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-sia.Limit.Requests]); gap < window {
			t.Errorf("requests %d and %d only %v apart: the data type's own limit is %d / %v", i-sia.Limit.Requests, i, gap, sia.Limit.Requests, window)
		}
	}
	// Without the data type, the same path is a directory request.
	if _, err := c.Pages(context.Background(), "/v1.0/users?$top=1", func(Item) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats()[catalog.Directory].Requests; got != 1 {
		t.Errorf("a plain /users request counted %d directory requests, want 1", got)
	}
}

// TestDirectoryBudgetGrowsWithTheTenant: the directory family starts at the smallest tenant's budget and grows
// to the tier of the users counted (never shrinking), keeping the requests already sent in its window.
func TestDirectoryBudgetGrowsWithTheTenant(t *testing.T) {
	l := newLimiter(catalog.Budget{Requests: 3, Window: time.Minute})
	for range 3 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	quick := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		return l.wait(ctx) == nil
	}
	if quick() {
		t.Fatal("a fourth request went out within the window of a 3-request budget")
	}
	l.grow(catalog.Budget{Requests: 6, Window: time.Minute})
	for i := range 3 {
		if !quick() {
			t.Fatalf("request %d of the grown budget waited", 4+i)
		}
	}
	if quick() {
		t.Fatal("a seventh request went out: the three sent before the growth were forgotten")
	}
	l.grow(catalog.Budget{Requests: 2, Window: time.Minute})
	if len(l.sent) != 6 {
		t.Errorf("a smaller budget shrank the limiter to %d", len(l.sent))
	}

	f := newFakeGraph(t, func(int, http.ResponseWriter, *http.Request) {})
	c, err := New(&staticCred{}, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport,
		Budgets: map[catalog.Family]catalog.Budget{catalog.Directory: {Requests: 3500, Window: 100 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	rate := func() float64 {
		d := c.throttle.limiters[catalog.Directory]
		return float64(len(d.sent)) / d.window.Seconds()
	}
	base := rate()
	for _, tc := range []struct {
		users int
		want  float64
	}{{10, 1}, {120, 5000.0 / 3500}, {100000, 8000.0 / 3500}, {40, 8000.0 / 3500}} {
		users, want := tc.users, tc.want
		c.SetDirectoryUsers(users)
		if got := rate() / base; got < want*0.999 || got > want*1.001 {
			t.Errorf("%d users: %.3f × the smallest tier's rate, want %.3f", users, got, want)
		}
	}
	// A scaled-down budget (a benchmark's 1 % of Graph's) grows into a scaled-down bucket: the large tier's 8,000
	// per 10 s becomes 80 per 10 s, not 8,000 per 1,000 s — the same rate with a burst a hundred times too big.
	small, err := New(&staticCred{}, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport,
		Budgets: map[catalog.Family]catalog.Budget{catalog.Directory: {Requests: 35, Window: 10 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	small.SetDirectoryUsers(100000)
	if d := small.throttle.limiters[catalog.Directory]; len(d.sent) != 80 || d.budget != 10*time.Second {
		t.Errorf("scaled large tier: %d requests per %v, want 80 per 10s", len(d.sent), d.budget)
	}
}

// TestResourceUnitsCharged: a directory request Graph charges several resource units for (x-ms-resource-unit)
// takes that many places in the family's window, so the next requests wait as Graph's bucket would make them.
func TestResourceUnitsCharged(t *testing.T) {
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("x-ms-resource-unit", "3")
		} else {
			w.Header().Set("x-ms-resource-unit", "1")
		}
		io.WriteString(w, `{"value":[]}`)
	})
	c, err := New(&staticCred{}, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport,
		Budgets: map[catalog.Family]catalog.Budget{catalog.Directory: {Requests: 4, Window: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Pages(ctx, "/v1.0/roleManagement/directory/roleAssignments?$expand=principal", func(Item) error { return nil })
		return err == nil
	}
	if !get() || !get() {
		t.Fatal("the first two requests (3 + 1 units of a 4-unit budget) waited")
	}
	if get() {
		t.Error("a third request went out: the first one's 3 units were counted as 1")
	}
}

// TestSharedLimits: two clients of one app and tenant on the same Limits (the collector's and a connectivity
// test's) stay together within the family's budget; each on its own would send twice the budget.
func TestSharedLimits(t *testing.T) {
	var mu sync.Mutex
	var sent []time.Time
	f := newFakeGraph(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, time.Now())
		mu.Unlock()
		io.WriteString(w, `{"value":[]}`)
	})
	budget := catalog.Budget{Requests: 4, Window: 400 * time.Millisecond}
	limits := NewLimits(map[catalog.Family]catalog.Budget{catalog.Reports: budget})
	var wg sync.WaitGroup
	for range 2 {
		c, err := New(&staticCred{}, &Options{Endpoint: f.srv.URL, Transport: f.srv.Client().Transport, Retry: fastRetry(), Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		if c.Limits() != limits {
			t.Fatal("Client.Limits is not the shared Limits")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 6 {
				if _, err := c.Pages(context.Background(), "/v1.0/auditLogs/directoryAudits?$top=1", func(Item) error { return nil }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(sent) != 12 {
		t.Fatalf("%d requests arrived, want 12", len(sent))
	}
	window := budget.Window * 8 / 10
	for i := budget.Requests; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-budget.Requests]); gap < window {
			t.Errorf("requests %d and %d of the two clients only %v apart: their shared budget is %d / %v", i-budget.Requests, i, gap, budget.Requests, budget.Window)
		}
	}
}
