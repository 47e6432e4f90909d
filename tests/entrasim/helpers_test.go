package entrasim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/testca"
)

// fakeVerifier accepts tokens made by fakeToken: "fake|<tenant>|<app>|<aud>|<roles,…>|<unix expiry>".
// It stands in for the token authority in tests that are about Graph, not about tokens.
type fakeVerifier struct{ now func() time.Time }

func fakeToken(tenant, app string, roles []string, exp time.Time) string {
	return fmt.Sprintf("fake|%s|%s|%s|%s|%d", tenant, app, GraphAudience, strings.Join(roles, ","), exp.Unix())
}

func (v fakeVerifier) VerifyToken(token, audience string) (Principal, error) {
	f := strings.Split(token, "|")
	if len(f) != 6 || f[0] != "fake" {
		return Principal{}, fmt.Errorf("malformed token")
	}
	if f[3] != audience {
		return Principal{}, fmt.Errorf("audience %q: %w", f[3], ErrTokenAudience)
	}
	exp, err := strconv.ParseInt(f[5], 10, 64)
	if err != nil {
		return Principal{}, err
	}
	now := time.Now
	if v.now != nil {
		now = v.now
	}
	if now().Unix() >= exp {
		return Principal{}, ErrTokenExpired
	}
	var roles []string
	if f[4] != "" {
		roles = strings.Split(f[4], ",")
	}
	return Principal{TenantID: f[1], AppID: f[2], Roles: roles, Expires: time.Unix(exp, 0)}, nil
}

// testStart is 2025-03-10 12:00 UTC, a Monday.
var testStart = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// startTenant starts a tenant with a simulated clock and the fake verifier.
func startTenant(t testing.TB, o Options) (*Tenant, *SimClock) {
	t.Helper()
	clock := o.Clock
	if clock == nil {
		clock = NewSimClock(testStart)
		o.Clock = clock
	}
	if o.Verifier == nil {
		o.Verifier = fakeVerifier{}
	}
	if o.ThrottleScale == 0 {
		// Tests about throttling set a scale; the others must not be slowed down by the limits.
		o.DisableThrottling = true
	}
	tn, err := Start(&o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = tn.Close() })
	return tn, clock
}

// client is a raw Graph client for tests.
type client struct {
	t     testing.TB
	hc    *http.Client
	tn    *Tenant
	token string
}

func newClient(t testing.TB, tn *Tenant) *client {
	ca, err := testca.Shared()
	if err != nil {
		t.Fatal(err)
	}
	hc := ca.Client()
	return &client{t: t, hc: hc, tn: tn,
		token: fakeToken(tn.TenantID(), tn.ClientID(), ReadOnlyRoles(), time.Now().Add(time.Hour))}
}

// response is a decoded Graph response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) get(rawURL string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("GET %s: read body: %v", rawURL, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// list builds a list URL on the tenant: path like "/beta/auditLogs/signIns", options as given.
func (c *client) list(path string, opts map[string]string) string {
	v := url.Values{}
	for k, x := range opts {
		v.Set(k, x)
	}
	u := c.tn.GraphURL() + path
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

type page struct {
	Context  string            `json:"@odata.context"`
	NextLink string            `json:"@odata.nextLink"`
	Value    []json.RawMessage `json:"value"`
}

type graphError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

func (r response) page(t testing.TB) page {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode page: %v: %.300s", err, r.body)
	}
	return p
}

func (r response) gerr(t testing.TB) graphError {
	t.Helper()
	var e graphError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error body: %v: %s", err, r.body)
	}
	return e
}

// idsOf extracts the id and time field of each record.
func idsOf(t testing.TB, vals []json.RawMessage, timeField string) ([]string, []time.Time) {
	t.Helper()
	var ids []string
	var times []time.Time
	for _, v := range vals {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatal(err)
		}
		id, _ := m["id"].(string)
		ids = append(ids, id)
		if s, ok := m[timeField].(string); ok {
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("%s %q: %v", timeField, s, err)
			}
			times = append(times, ts)
		}
	}
	return ids, times
}

// collect follows nextLinks from url and returns every record id, failing on any non-200.
func (c *client) collect(u, timeField string) (ids []string, times []time.Time, pages int) {
	c.t.Helper()
	for u != "" {
		p := c.get(u).page(c.t)
		i, ts := idsOf(c.t, p.Value, timeField)
		ids = append(ids, i...)
		times = append(times, ts...)
		pages++
		u = p.NextLink
		if pages > 100000 {
			c.t.Fatal("too many pages")
		}
	}
	return ids, times, pages
}

func odataTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
