package hostsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/entra-di/edi/tests/azurite"
)

// TestReplyContract holds replies to reference §6: only a 2xx JSON object counts; everything else fails the
// invocation and throws away its outputs and logs.
func TestReplyContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reply    instruction
		wantOK   bool
		wantHang bool
		wantWhy  string
		wantLogs []string
	}{
		{"json reply succeeds with logs", replyWith(nil, "collected 12 items", "done"), true, false, "", []string{"collected 12 items", "done"}},
		{"text/json is accepted", instruction{ContentType: "text/json", Body: `{"Outputs":{},"Logs":["x"]}`}, true, false, "", []string{"x"}},
		{"202 is a success", instruction{Status: 202, ContentType: "application/json", Body: `{}`}, true, false, "", nil},
		{"lower-case property names are read", instruction{ContentType: "application/json", Body: `{"outputs":{},"logs":["lower"],"returnValue":null}`}, true, false, "", []string{"lower"}},
		{"text/plain fails", instruction{ContentType: "text/plain", Body: `{"Outputs":{},"Logs":["lost"]}`}, false, false, "Content-Type text/plain", nil},
		{"missing content type fails", instruction{NoContentType: true, Body: `{"Outputs":{},"Logs":["lost"]}`}, false, false, "Content-Type none", nil},
		{"non-2xx fails and discards logs", instruction{Status: 500, ContentType: "application/json", Body: `{"Outputs":{},"Logs":["lost"]}`}, false, false, "HTTP 500", nil},
		{"404 fails", instruction{Status: 404, ContentType: "application/json", Body: `{}`}, false, false, "HTTP 404", nil},
		{"empty body is flagged as a hang", instruction{ContentType: "application/json", Body: ``}, false, true, "would hang until functionTimeout", nil},
		{"null is flagged as a hang", instruction{ContentType: "application/json", Body: `null`}, false, true, "would hang until functionTimeout", nil},
		{"invalid JSON fails", instruction{ContentType: "application/json", Body: `{"Outputs":`}, false, false, "Invalid HttpResponseMessage", nil},
		{"a JSON array fails", instruction{ContentType: "application/json", Body: `[]`}, false, false, "Invalid HttpResponseMessage", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newControl(t)
			c.reply(tc.reply)
			h := startProbe(t, c, nil)
			inv, err := h.Timer(ctx, "TimerNoMonitor", nil)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Succeeded() != tc.wantOK {
				t.Fatalf("succeeded = %v (%s), want %v", inv.Succeeded(), inv.Failure, tc.wantOK)
			}
			if inv.WouldHang != tc.wantHang {
				t.Errorf("WouldHang = %v, want %v", inv.WouldHang, tc.wantHang)
			}
			if !strings.Contains(inv.Failure, tc.wantWhy) {
				t.Errorf("Failure = %q, want it to mention %q", inv.Failure, tc.wantWhy)
			}
			if !slices.Equal(inv.Logs, tc.wantLogs) {
				t.Errorf("Logs = %q, want %q", inv.Logs, tc.wantLogs)
			}
			if !tc.wantOK && (inv.Outputs != nil || inv.Err() == nil) {
				t.Errorf("failed invocation kept outputs %v / Err() = %v", inv.Outputs, inv.Err())
			}
			if got := len(h.Invocations()); got != 1 {
				t.Errorf("recorded %d invocations, want 1", got)
			}
		})
	}
}

// TestNon2xxDiscardsOutputs checks that outputs of a failed invocation are never applied: no queue message, and
// the HTTP caller gets 500 instead of the handler's response.
func TestNon2xxDiscardsOutputs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	_, out, storage := withStorage(t)
	h := startProbe(t, c, storage)
	body := `{"Outputs":{"res":{"statusCode":201,"body":"made"},"out":[{"n":1},{"n":2}]},"Logs":["x"]}`
	tests := []struct {
		name       string
		reply      instruction
		wantStatus int
		wantMsgs   int
	}{
		{"500 reply", instruction{Status: 500, ContentType: "application/json", Body: body}, 500, 0},
		{"400 reply", instruction{Status: 400, ContentType: "application/json", Body: body}, 500, 0},
		{"200 reply applies them", instruction{ContentType: "application/json", Body: body}, 201, 2},
	}
	q, err := azurite.Shared(t).QueueClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.reply(tc.reply)
			before := countMessages(t, ctx, q, out)
			res, err := h.HTTP(ctx, &HTTPRequest{Method: "POST", Path: "/api/items/1", Header: http.Header{"x-functions-key": {testFunctionKey}}, Body: []byte("{}")})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d (failure: %s)", res.StatusCode, tc.wantStatus, res.Invocation.Failure)
			}
			if got := countMessages(t, ctx, q, out) - before; got != tc.wantMsgs {
				t.Errorf("%d messages written to %s, want %d", got, out, tc.wantMsgs)
			}
			if tc.wantMsgs == 0 && (res.Invocation.QueueWrites != nil || res.Invocation.Logs != nil) {
				t.Errorf("failed invocation recorded writes %v / logs %v", res.Invocation.QueueWrites, res.Invocation.Logs)
			}
		})
	}
}

// TestFunctionKeys checks the key rules of reference §10: header first, then ?code=, levels per authLevel, and 401
// without calling the handler.
func TestFunctionKeys(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	c.reply(replyWith(map[string]any{"res": map[string]any{"statusCode": 200, "body": "hi"}}))
	h := startProbe(t, c, nil)
	key := func(k string) http.Header { return http.Header{"x-functions-key": {k}} }
	tests := []struct {
		name   string
		req    HTTPRequest
		status int
	}{
		{"function level without key", HTTPRequest{Path: "/api/items/1"}, 401},
		{"function level wrong header key", HTTPRequest{Path: "/api/items/1", Header: key("nope")}, 401},
		{"function level wrong code", HTTPRequest{Path: "/api/items/1", RawQuery: "code=nope"}, 401},
		{"function level key header", HTTPRequest{Path: "/api/items/1", Header: key(testFunctionKey)}, 200},
		{"function level code query", HTTPRequest{Path: "/api/items/1", RawQuery: "code=" + url.QueryEscape(testFunctionKey)}, 200},
		{"header is read before code", HTTPRequest{Path: "/api/items/1", Header: key("nope"), RawQuery: "code=" + testFunctionKey}, 401},
		{"master key passes function level", HTTPRequest{Path: "/api/items/1", Header: key(testMasterKey)}, 200},
		{"admin level with function key", HTTPRequest{Path: "/api/admin/things", Header: key(testFunctionKey)}, 401},
		{"admin level without key", HTTPRequest{Path: "/api/admin/things"}, 401},
		{"admin level with master key", HTTPRequest{Path: "/api/admin/things", Header: key(testMasterKey)}, 200},
		{"admin level with master code", HTTPRequest{Path: "/api/admin/things", RawQuery: "code=" + testMasterKey}, 200},
		{"anonymous without key", HTTPRequest{Path: "/api/HttpAnon"}, 200},
		{"anonymous with a wrong key", HTTPRequest{Path: "/api/httpanon", Header: key("nope")}, 200},
		{"unknown route", HTTPRequest{Path: "/api/nothing/here"}, 404},
		{"method not allowed by the route", HTTPRequest{Method: "DELETE", Path: "/api/items/1", Header: key(testFunctionKey)}, 404},
		{"missing route prefix", HTTPRequest{Path: "/items/1", Header: key(testFunctionKey)}, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.Calls())
			res, err := h.HTTP(ctx, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.status)
			}
			called := len(c.Calls()) > before
			if wantCall := tc.status == 200; called != wantCall || (res.Invocation != nil) != wantCall {
				t.Errorf("handler called = %v, invocation = %v; want %v", called, res.Invocation != nil, wantCall)
			}
		})
	}
}

// TestHTTPRequestShape checks Data.<name> of an HTTP trigger against reference §5.2.
func TestHTTPRequestShape(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, nil)
	keyHeader := http.Header{"x-functions-key": {testFunctionKey}}
	type reqData struct {
		Url, Method string
		Query       map[string]string
		Headers     map[string][]string
		Params      map[string]string
		Identities  []struct {
			AuthenticationType *string
			IsAuthenticated    bool
			Claims             []struct{ Type, Value string }
		}
		Body *string
	}
	tests := []struct {
		name  string
		req   HTTPRequest
		check func(t *testing.T, d reqData, meta map[string]json.RawMessage)
	}{
		{"route params with optional segment", HTTPRequest{Path: "/api/items/42/revoke", Header: keyHeader}, func(t *testing.T, d reqData, meta map[string]json.RawMessage) {
			if want := map[string]string{"id": "42", "action": "revoke"}; !reflect.DeepEqual(d.Params, want) {
				t.Errorf("Params = %v, want %v", d.Params, want)
			}
		}},
		{"optional segment absent", HTTPRequest{Path: "/api/items/42", Header: keyHeader}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if want := map[string]string{"id": "42"}; !reflect.DeepEqual(d.Params, want) {
				t.Errorf("Params = %v, want %v", d.Params, want)
			}
		}},
		{"repeated query keys are comma-joined", HTTPRequest{Path: "/api/items/1", RawQuery: "a=1&b=x&a=2", Header: keyHeader}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if d.Query["a"] != "1,2" || d.Query["b"] != "x" {
				t.Errorf("Query = %v, want a=1,2 b=x", d.Query)
			}
			if !strings.HasSuffix(d.Url, "/api/items/1?a=1&b=x&a=2") {
				t.Errorf("Url = %q, want the original query string", d.Url)
			}
		}},
		{"code stays in Url and Query", HTTPRequest{Path: "/api/items/1", RawQuery: "code=" + testFunctionKey}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if d.Query["code"] != testFunctionKey || !strings.Contains(d.Url, "code="+testFunctionKey) || d.Url != "http://localhost:7071/api/items/1?code="+testFunctionKey {
				t.Errorf("Url = %q, Query = %v", d.Url, d.Query)
			}
		}},
		{"headers are arrays of strings", HTTPRequest{Path: "/api/items/1", Header: http.Header{"x-functions-key": {testFunctionKey}, "X-Multi": {"a", "b"}}}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if !slices.Equal(d.Headers["X-Multi"], []string{"a", "b"}) || !slices.Equal(d.Headers["x-functions-key"], []string{testFunctionKey}) || len(d.Headers["Host"]) != 1 {
				t.Errorf("Headers = %v", d.Headers)
			}
		}},
		{"body with Content-Length is sent as text", HTTPRequest{Method: "POST", Path: "/api/items/1", Header: http.Header{"x-functions-key": {testFunctionKey}, "Content-Type": {"application/json"}}, Body: []byte(`{"user":"a@b.c"}`)}, func(t *testing.T, d reqData, meta map[string]json.RawMessage) {
			if d.Body == nil || *d.Body != `{"user":"a@b.c"}` || d.Method != "POST" {
				t.Errorf("Body = %v, Method = %s", d.Body, d.Method)
			}
			// (unverified) top-level JSON body fields appear as binding data, double encoded.
			if got := string(meta["user"]); got != `"\"a@b.c\""` {
				t.Errorf("Metadata.user = %s", got)
			}
		}},
		{"chunked body is omitted", HTTPRequest{Method: "POST", Path: "/api/items/1", Header: keyHeader, Body: []byte(`{"x":1}`), Chunked: true}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if d.Body != nil {
				t.Errorf("Body = %q, want it omitted without Content-Length", *d.Body)
			}
		}},
		{"no body, no Body key", HTTPRequest{Path: "/api/items/1", Header: keyHeader}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if d.Body != nil {
				t.Errorf("Body = %q, want none", *d.Body)
			}
		}},
		{"octet-stream body is base64", HTTPRequest{Method: "POST", Path: "/api/items/1", Header: http.Header{"x-functions-key": {testFunctionKey}, "Content-Type": {"application/octet-stream"}}, Body: []byte{0, 1, 2, 255}}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if d.Body == nil || *d.Body != base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}) {
				t.Errorf("Body = %v, want base64", d.Body)
			}
		}},
		{"key identity", HTTPRequest{Path: "/api/items/1", Header: keyHeader}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			if len(d.Identities) != 1 || d.Identities[0].AuthenticationType == nil || *d.Identities[0].AuthenticationType != "WebJobsAuthLevel" || !d.Identities[0].IsAuthenticated {
				t.Fatalf("Identities = %+v", d.Identities)
			}
			claims := map[string]string{}
			for _, c := range d.Identities[0].Claims {
				claims[c.Type] = c.Value
			}
			if claims[ClaimTypeAuthLevel] != "Function" || claims[ClaimTypeKeyID] != "default" {
				t.Errorf("claims = %v", claims)
			}
		}},
		{"easy auth principal", HTTPRequest{Path: "/api/items/1", Header: http.Header{"x-functions-key": {testFunctionKey}, "X-MS-CLIENT-PRINCIPAL-NAME": {"forged"}},
			Principal: &Principal{AuthType: "aad", ID: "oid-1", Name: "admin@contoso.com", Claims: []Claim{{"roles", "Integration.Admin"}, {ClaimTypeName, "admin@contoso.com"}}}},
			func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
				enc := d.Headers["X-MS-CLIENT-PRINCIPAL"]
				if len(enc) != 1 {
					t.Fatalf("X-MS-CLIENT-PRINCIPAL = %v", enc)
				}
				raw, err := base64.StdEncoding.DecodeString(enc[0])
				if err != nil {
					t.Fatal(err)
				}
				var p struct {
					AuthTyp string  `json:"auth_typ"`
					Claims  []Claim `json:"claims"`
					NameTyp string  `json:"name_typ"`
					RoleTyp string  `json:"role_typ"`
				}
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatal(err)
				}
				if p.AuthTyp != "aad" || len(p.Claims) != 2 || p.Claims[0] != (Claim{"roles", "Integration.Admin"}) || p.RoleTyp != ClaimTypeRole || p.NameTyp != ClaimTypeName {
					t.Errorf("principal = %+v", p)
				}
				if got := d.Headers["X-MS-CLIENT-PRINCIPAL-NAME"]; !slices.Equal(got, []string{"admin@contoso.com"}) {
					t.Errorf("X-MS-CLIENT-PRINCIPAL-NAME = %v (a client-sent value must be replaced)", got)
				}
				if d.Headers["X-MS-CLIENT-PRINCIPAL-ID"][0] != "oid-1" || d.Headers["X-MS-CLIENT-PRINCIPAL-IDP"][0] != "aad" {
					t.Errorf("principal headers = %v", d.Headers)
				}
				if len(d.Identities) != 2 || *d.Identities[0].AuthenticationType != "aad" || *d.Identities[1].AuthenticationType != "WebJobsAuthLevel" {
					t.Errorf("Identities = %+v", d.Identities)
				}
			}},
		{"client cannot inject a principal", HTTPRequest{Path: "/api/HttpAnon", Header: http.Header{"X-MS-CLIENT-PRINCIPAL": {"Zm9yZ2Vk"}, "x-ms-client-principal-id": {"x"}}}, func(t *testing.T, d reqData, _ map[string]json.RawMessage) {
			for k := range d.Headers {
				if strings.HasPrefix(strings.ToLower(k), "x-ms-client-principal") {
					t.Errorf("client-sent header %s reached the handler", k)
				}
			}
			if len(d.Identities) != 1 || d.Identities[0].IsAuthenticated {
				t.Errorf("Identities = %+v, want one unauthenticated identity", d.Identities)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.Calls())
			res, err := h.HTTP(ctx, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || res.Invocation == nil {
				t.Fatalf("status %d", res.StatusCode)
			}
			calls := c.Calls()
			if len(calls) != before+1 {
				t.Fatalf("probe calls = %d, want %d", len(calls), before+1)
			}
			data, meta := calls[len(calls)-1].envelope(t)
			raw, ok := data["req"]
			if !ok || raw[0] != '{' {
				t.Fatalf("Data.req = %s, want an object", raw)
			}
			var d reqData
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			if _, ok := meta["req"]; ok {
				t.Error("Metadata has the HttpRequest value 'req'")
			}
			tc.check(t, d, meta)
		})
	}
}

// TestHTTPOutput checks how an http output becomes the response (HttpOutputBindingResponse).
func TestHTTPOutput(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, nil)
	tests := []struct {
		name       string
		res        any
		status     int
		body       string
		header     map[string]string
		wantFailed bool
	}{
		{"number status and headers", map[string]any{"statusCode": 202, "body": `{"ok":true}`, "headers": map[string]any{"Content-Type": "application/json", "X-Count": 3}}, 202, `{"ok":true}`, map[string]string{"Content-Type": "application/json", "X-Count": "3"}, false},
		{"string status", map[string]any{"statusCode": "204"}, 204, "", nil, false},
		{"status alias", map[string]any{"status": 409, "body": "conflict"}, 409, "conflict", map[string]string{"Content-Type": "text/plain; charset=utf-8"}, false},
		{"default 200", map[string]any{"body": "hello"}, 200, "hello", nil, false},
		{"object body is JSON", map[string]any{"body": map[string]any{"a": 1}}, 200, "{\n  \"a\": 1\n}", map[string]string{"Content-Type": "application/json; charset=utf-8"}, false},
		{"output as a string holding JSON", `{"statusCode":201,"body":"made"}`, 201, "made", nil, false},
		{"missing output", nil, 200, "", nil, false},
		{"output that is no object", "SomeBlah", 500, "", nil, true},
		{"bad status", map[string]any{"statusCode": "abc"}, 500, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs := map[string]any{}
			if tc.res != nil {
				outs["res"] = tc.res
			}
			c.reply(replyWith(outs))
			res, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/HttpAnon"})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status || string(res.Body) != tc.body {
				t.Errorf("response = %d %q, want %d %q", res.StatusCode, res.Body, tc.status, tc.body)
			}
			for k, v := range tc.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if res.Invocation.Succeeded() == tc.wantFailed {
				t.Errorf("invocation succeeded = %v, want %v (%s)", res.Invocation.Succeeded(), !tc.wantFailed, res.Invocation.Failure)
			}
		})
	}
}

// TestValueEncoding checks the double-encoding rule of reference §4 on Event Hub and HTTP binding data, in the
// source form and the docs form.
func TestValueEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		form                                      Form
		wantEvents, wantSeq, wantRoute, wantQuery string
	}{
		{SourceForm, `"[\"{\\\"id\\\":\\\"e1\\\"}\",\"plain text event\"]"`, `"[12,13]"`, `"\"42\""`, `{"k":"v"}`},
		{DocsForm, `["{\"id\":\"e1\"}","plain text event"]`, `[12,13]`, `"42"`, `"{\"k\":\"v\"}"`},
	}
	for _, tc := range tests {
		name := map[Form]string{SourceForm: "source form", DocsForm: "docs form"}[tc.form]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newControl(t)
			h := startProbe(t, c, func(o *Options) { o.Form = tc.form })
			inv, err := h.EventHub(ctx, "Events", []string{`{"id":"e1"}`, "plain text event"}, &EventHubOptions{FirstSequenceNumber: 12})
			if err != nil || !inv.Succeeded() {
				t.Fatalf("event hub: %v %v", err, inv)
			}
			data, meta := c.Calls()[0].envelope(t)
			if got := string(data["events"]); got != tc.wantEvents {
				t.Errorf("Data.events = %s, want %s", got, tc.wantEvents)
			}
			if got := string(meta["SequenceNumberArray"]); got != tc.wantSeq {
				t.Errorf("SequenceNumberArray = %s, want %s", got, tc.wantSeq)
			}
			if _, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/items/42", RawQuery: "k=v", Header: http.Header{"x-functions-key": {testFunctionKey}}}); err != nil {
				t.Fatal(err)
			}
			data, meta = c.Calls()[1].envelope(t)
			if got := string(meta["id"]); got != tc.wantRoute {
				t.Errorf("Metadata.id (route value) = %s, want %s", got, tc.wantRoute)
			}
			var req map[string]json.RawMessage
			_ = json.Unmarshal(data["req"], &req)
			if got := string(req["Query"]); got != tc.wantQuery {
				t.Errorf("Data.req.Query = %s, want %s", got, tc.wantQuery)
			}
		})
	}
}

var (
	wholeSecondOffset = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$`)
	utcNowPattern     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$`)
)

// TestEventHubBatch checks the Event Hub request of reference §5.5.
func TestEventHubBatch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, nil)
	key := "tenant-a"
	if _, err := h.EventHub(ctx, "Timer", []string{"x"}, nil); err == nil {
		t.Error("EventHub on a timer function succeeded")
	}
	inv, err := h.EventHub(ctx, "Events", []string{`{"id":"e1"}`, `{"id":"e2"}`}, &EventHubOptions{
		PartitionID: "3", FirstSequenceNumber: 7, FirstOffset: 4294967296, PartitionKeys: []*string{&key, nil},
		Properties: []map[string]any{{"k": "v"}, nil}})
	if err != nil || !inv.Succeeded() {
		t.Fatalf("%v %+v", err, inv)
	}
	data, meta := c.Calls()[0].envelope(t)
	var bodies []string
	if err := json.Unmarshal([]byte(unquote(t, data["events"])), &bodies); err != nil || !slices.Equal(bodies, []string{`{"id":"e1"}`, `{"id":"e2"}`}) {
		t.Errorf("events = %v %v", bodies, err)
	}
	var pc map[string]string
	if err := json.Unmarshal(meta["PartitionContext"], &pc); err != nil || pc["EventHubName"] != "entra" || pc["PartitionId"] != "3" || pc["ConsumerGroup"] != "$Default" {
		t.Errorf("PartitionContext = %s (%v)", meta["PartitionContext"], err)
	}
	wantArrays := map[string]string{
		"SequenceNumberArray": `[7,8]`,
		"OffsetArray":         `["4294967296","4294967307"]`,
		"PartitionKeyArray":   `["tenant-a",null]`,
		"PropertiesArray":     `[{"k":"v"},{}]`,
	}
	for k, want := range wantArrays {
		if got := unquote(t, meta[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	var times []string
	if err := json.Unmarshal([]byte(unquote(t, meta["EnqueuedTimeUtcArray"])), &times); err != nil || len(times) != 2 || strings.ContainsAny(times[0], "Z+") {
		t.Errorf("EnqueuedTimeUtcArray = %v %v, want two zone-less times", times, err)
	}
	if _, ok := meta["EventHubTrigger"]; ok {
		t.Error("Metadata has EventHubTrigger")
	}
}

// TestTriggerKeysDroppedAndSys checks Metadata across triggers: *Trigger keys never appear, sys always does.
func TestTriggerKeysDroppedAndSys(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, nil)
	calls := []struct {
		name   string
		invoke func() error
		want   []string // exact Metadata keys, nil to check only sys and *Trigger
	}{
		{"TimerNoMonitor", func() error { _, err := h.Timer(ctx, "TimerNoMonitor", nil); return err }, []string{"sys"}},
		{"HttpAnon", func() error { _, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/HttpAnon"}); return err }, nil},
		{"Events", func() error { _, err := h.EventHub(ctx, "Events", []string{"e"}, nil); return err }, nil},
	}
	for i, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.invoke(); err != nil {
				t.Fatal(err)
			}
			_, meta := c.waitCalls(t, ctx, i+1)[i].envelope(t)
			var keys []string
			for k := range meta {
				keys = append(keys, k)
				if strings.HasSuffix(strings.ToLower(k), "trigger") {
					t.Errorf("Metadata has %s", k)
				}
			}
			slices.Sort(keys)
			if tc.want != nil && !slices.Equal(keys, tc.want) {
				t.Errorf("Metadata keys = %v, want %v", keys, tc.want)
			}
			var sys struct{ MethodName, UtcNow, RandGuid string }
			if err := json.Unmarshal(meta["sys"], &sys); err != nil {
				t.Fatalf("sys = %s: %v", meta["sys"], err)
			}
			if !strings.EqualFold(sys.MethodName, tc.name) || !utcNowPattern.MatchString(sys.UtcNow) || len(sys.RandGuid) != 36 {
				t.Errorf("sys = %+v", sys)
			}
		})
	}
}

// TestInvocationRequestHeaders checks the transport of reference §2 and the handler's environment (§1).
func TestInvocationRequestHeaders(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, func(o *Options) { o.Settings["MY_SETTING"] = "visible" })
	inv, err := h.Timer(ctx, "TimerNoMonitor", nil)
	if err != nil || !inv.Succeeded() {
		t.Fatalf("%v %+v", err, inv)
	}
	pc := c.Calls()[0]
	checks := []struct{ name, got, want string }{
		{"path", pc.Method + " " + pc.Path, "POST /TimerNoMonitor"},
		{"Content-Type", pc.Header.Get("Content-Type"), "application/json; charset=utf-8"},
		{"HostVersion", pc.Header.Get("X-Azure-Functions-HostVersion"), DefaultHostVersion},
		{"InvocationId", pc.Header.Get("X-Azure-Functions-InvocationId"), inv.ID},
		{"User-Agent", pc.Header.Get("User-Agent"), "Azure-Functions-Host/" + DefaultHostVersion},
		{"port", pc.Env["FUNCTIONS_CUSTOMHANDLER_PORT"], strings.Split(h.HandlerAddr(), ":")[1]},
		{"legacy port", pc.Env["FUNCTIONS_HTTPWORKER_PORT"], pc.Env["FUNCTIONS_CUSTOMHANDLER_PORT"]},
		{"legacy worker id", pc.Env["FUNCTIONS_HTTPWORKER_ID"], pc.Env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"]},
		{"app root", pc.Env["FUNCTIONS_APP_ROOT_PATH"], probeRoot},
		{"cwd", pc.Cwd, probeRoot},
		{"arguments with %setting%", strings.Join(pc.Args, " "), "--app probe-app"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.name, ck.got, ck.want)
		}
	}
	if len(pc.Env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"]) != 36 {
		t.Errorf("worker id = %q", pc.Env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"])
	}
	if !pc.Chunked {
		t.Error("invocation body was sent with a Content-Length; the host streams it")
	}
	second, _ := h.Timer(ctx, "TimerNoMonitor", nil)
	if second.ID == inv.ID {
		t.Error("invocation ids repeat")
	}
}

// TestConcurrentInvocations shows invocations run in parallel: the probe answers only once all of them arrived.
func TestConcurrentInvocations(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	const n = 6
	all := make(chan struct{})
	var once sync.Once
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		if len(c.Calls()) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-rctx.Done():
		}
		return replyWith(map[string]any{"res": map[string]any{"body": "ok"}})
	})
	h := startProbe(t, c, nil)
	errs := make(chan error, n)
	for range n {
		go func() {
			res, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/HttpAnon"})
			if err == nil && res.StatusCode != 200 {
				err = &InvocationError{Invocation: res.Invocation}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(h.Invocations()); got != n {
		t.Errorf("recorded %d invocations, want %d", got, n)
	}
}
