package hostsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is the outcome of an invocation as the host sees it.
type Status string

// Invocation outcomes.
const (
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
)

// maxReplyBytes bounds how much of a reply the simulator reads.
const maxReplyBytes = 100 << 20

// Invocation records one call of the handler: what was sent, what came back and what the host made of it.
// Recorded invocations are never modified.
type Invocation struct {
	// ID is the X-Azure-Functions-InvocationId.
	ID string
	// Function is the function name; Trigger its trigger type (timerTrigger, httpTrigger, …).
	Function, Trigger string
	// HostTime is the host clock (Options.Now) at invocation, sent as Metadata.sys.UtcNow.
	HostTime time.Time
	// Started and Duration are measured on the real clock.
	Started  time.Time
	Duration time.Duration

	// Request is the JSON envelope sent; RequestHeader its headers.
	Request       []byte
	RequestHeader http.Header
	// StatusCode, ReplyHeader and ReplyBody are the handler's raw answer (StatusCode 0 when there was none).
	StatusCode  int
	ReplyHeader http.Header
	ReplyBody   []byte

	// Status is the outcome; Failure says why it failed.
	Status  Status
	Failure string
	// WouldHang flags an empty or `null` 2xx reply: the real host never completes such an invocation and waits
	// for functionTimeout. The simulator fails it at once so the test notices.
	WouldHang bool
	// TimedOut reports that functionTimeout ended the invocation.
	TimedOut bool

	// Logs, Outputs and ReturnValue come from the reply; all are discarded (nil) when the invocation failed.
	Logs        []string
	Outputs     map[string]json.RawMessage
	ReturnValue json.RawMessage
	// Base64Decoded names the bindings whose string value the host silently turned into bytes because it
	// happened to be valid base64 (the gotcha of reference §6).
	Base64Decoded []string
	// QueueWrites are the messages the queue output bindings wrote.
	QueueWrites []QueueWrite
	// HTTPResponse is the response built from the http output binding (HTTP triggers that succeeded).
	HTTPResponse *HTTPResponse
	// Notes are observations that are not failures (e.g. an output name that matches no binding).
	Notes []string
}

// Succeeded reports whether the host considers the invocation successful.
func (inv *Invocation) Succeeded() bool { return inv.Status == Succeeded }

// Err returns nil for a successful invocation, else an error carrying the failure reason.
func (inv *Invocation) Err() error {
	if inv.Succeeded() {
		return nil
	}
	return &InvocationError{Invocation: inv}
}

// Metadata decodes the request's Metadata object (for assertions).
func (inv *Invocation) Metadata() map[string]json.RawMessage {
	var env struct{ Metadata map[string]json.RawMessage }
	_ = json.Unmarshal(inv.Request, &env)
	return env.Metadata
}

// Data decodes the request's Data object (for assertions).
func (inv *Invocation) Data() map[string]json.RawMessage {
	var env struct{ Data map[string]json.RawMessage }
	_ = json.Unmarshal(inv.Request, &env)
	return env.Data
}

// InvocationError is a failed invocation.
type InvocationError struct{ Invocation *Invocation }

// Error names the invocation and why it failed.
func (e *InvocationError) Error() string {
	return fmt.Sprintf("invocation %s of %s failed: %s", e.Invocation.ID, e.Invocation.Function, e.Invocation.Failure)
}

// QueueWrite is one batch of messages an output binding put on a queue.
type QueueWrite struct {
	Binding string
	Queue   string
	// Messages are the message contents (before the queue's base64 message encoding).
	Messages [][]byte
}

// recorder keeps every completed invocation and wakes waiters on each change.
type recorder struct {
	mu       sync.Mutex
	list     []*Invocation
	inflight int
	changed  chan struct{}
}

func (r *recorder) begin() {
	r.mu.Lock()
	r.inflight++
	r.notifyLocked()
	r.mu.Unlock()
}

func (r *recorder) end(inv *Invocation) {
	r.mu.Lock()
	r.inflight--
	if inv != nil {
		r.list = append(r.list, inv)
	}
	r.notifyLocked()
	r.mu.Unlock()
}

func (r *recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Invocations returns every completed invocation, in completion order.
func (h *Host) Invocations() []*Invocation {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return slices.Clone(h.rec.list)
}

// InFlight returns how many invocations are running.
func (h *Host) InFlight() int {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return h.rec.inflight
}

// WaitFor waits until cond, called with the completed invocations after every change, returns true.
func (h *Host) WaitFor(ctx context.Context, cond func(done []*Invocation, inflight int) bool) ([]*Invocation, error) {
	for {
		h.rec.mu.Lock()
		list, n, ch := slices.Clone(h.rec.list), h.rec.inflight, h.rec.changed
		h.rec.mu.Unlock()
		if cond(list, n) {
			return list, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return list, fmt.Errorf("hostsim: waiting for invocations: %w", ctx.Err())
		}
	}
}

// WaitInvocations waits until at least n invocations of function have completed and returns them.
func (h *Host) WaitInvocations(ctx context.Context, function string, n int) ([]*Invocation, error) {
	var got []*Invocation
	_, err := h.WaitFor(ctx, func(done []*Invocation, _ int) bool {
		got = got[:0]
		for _, inv := range done {
			if strings.EqualFold(inv.Function, function) {
				got = append(got, inv)
			}
		}
		return len(got) >= n
	})
	return got, err
}

type sysData struct {
	MethodName string `json:"MethodName"`
	UtcNow     string `json:"UtcNow"`
	RandGuid   string `json:"RandGuid"`
}

// call builds the envelope from the trigger's Data value and binding data, sends it and enforces the reply
// contract. On success it applies the outputs (queue messages are written; an http output is converted into
// HTTPResponse). The invocation is recorded before call returns.
func (h *Host) call(ctx context.Context, fn *Function, data map[string]json.RawMessage, bindingData map[string]json.RawMessage, hostTime time.Time) *Invocation {
	h.rec.begin()
	inv := &Invocation{ID: newGUID(), Function: fn.Name, Trigger: fn.Trigger.Type, HostTime: hostTime, Started: time.Now()}
	defer func() {
		inv.Duration = time.Since(inv.Started)
		if inv.Succeeded() {
			h.logf("Executed '%s' (Succeeded, Id=%s, Duration=%dms)", fn.Name, inv.ID, inv.Duration.Milliseconds())
		} else {
			h.logf("Executed '%s' (Failed, Id=%s, Duration=%dms): %s", fn.Name, inv.ID, inv.Duration.Milliseconds(), inv.Failure)
		}
		h.rec.end(inv)
	}()

	meta := map[string]json.RawMessage{}
	for k, v := range bindingData {
		if v != nil {
			meta[k] = v
		}
	}
	dropTriggerKeys(meta)
	meta["sys"] = mustJSON(sysData{MethodName: fn.Name, UtcNow: formatUtc(hostTime), RandGuid: newGUID()})
	body := mustJSON(struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}{data, meta})
	inv.Request = body

	if ft := h.app.Host.FunctionTimeout; ft > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, ft, errFunctionTimeout)
		defer cancel()
	}
	h.logf("Executing '%s' (Id=%s)", fn.Name, inv.ID)
	w, err := h.readyWorker(ctx)
	if err != nil {
		h.fail(ctx, inv, err.Error())
		return inv
	}
	// (unverified) The host posts an ObjectContent with no precomputed length, so the body goes out chunked.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.base+"/"+fn.Name, io.NopCloser(bytes.NewReader(body)))
	if err != nil {
		h.fail(ctx, inv, err.Error())
		return inv
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-HostVersion", h.opts.HostVersion)
	req.Header.Set("X-Azure-Functions-InvocationId", inv.ID)
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+h.opts.HostVersion)
	inv.RequestHeader = req.Header.Clone()

	resp, err := h.client.Do(req)
	if err != nil {
		reason := "handler request failed: " + err.Error()
		// A dying handler drops its connections a moment before the host reaps it; give the exit a moment to
		// show so the failure names its cause.
		grace := time.NewTimer(time.Second)
		select {
		case <-w.exited:
			reason = "the handler process exited during the invocation (" + describeExit(w.state) + "): " + err.Error()
		case <-grace.C:
		case <-ctx.Done():
		}
		grace.Stop()
		h.fail(ctx, inv, reason)
		return inv
	}
	replyBody, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	_ = resp.Body.Close()
	inv.StatusCode, inv.ReplyHeader, inv.ReplyBody = resp.StatusCode, resp.Header, replyBody
	if err != nil {
		h.fail(ctx, inv, "reading the reply: "+err.Error())
		return inv
	}
	rep, reason, hang := checkReply(resp.StatusCode, resp.Header.Get("Content-Type"), replyBody)
	if reason != "" {
		inv.WouldHang = hang
		h.fail(ctx, inv, reason)
		return inv
	}
	inv.Status = Succeeded
	inv.Logs, inv.Outputs, inv.ReturnValue = rep.logs, rep.Outputs, rep.ReturnValue
	for _, line := range inv.Logs {
		h.logf("[Information] Function.%s.User: %s", fn.Name, line)
	}
	if err := h.applyOutputs(ctx, fn, inv); err != nil {
		inv.Status = Failed
		inv.Failure = err.Error()
		inv.Logs, inv.Outputs, inv.ReturnValue = nil, nil, nil
	}
	return inv
}

var errFunctionTimeout = errors.New("functionTimeout exceeded")

// fail marks inv failed, recognising a functionTimeout expiry.
func (h *Host) fail(ctx context.Context, inv *Invocation, reason string) {
	inv.Status = Failed
	inv.Failure = reason
	if errors.Is(context.Cause(ctx), errFunctionTimeout) {
		inv.TimedOut = true
		inv.Failure = fmt.Sprintf("Timeout value of %s exceeded by function '%s' (Id: '%s'). Initiating cancellation. (%s)",
			formatTimeSpan(h.app.Host.FunctionTimeout), inv.Function, inv.ID, reason)
	}
}

func formatTimeSpan(d time.Duration) string {
	h := int(d / time.Hour)
	m := int(d % time.Hour / time.Minute)
	s := int(d % time.Minute / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

// wireReply is HttpScriptInvocationResult; Go's decoder matches names case-insensitively, like Newtonsoft.
type wireReply struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []json.RawMessage          `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
	logs        []string
}

// checkReply applies the response contract of reference §6. It returns the parsed reply, or the failure reason
// and whether the real host would hang instead of failing.
func checkReply(status int, contentType string, body []byte) (*wireReply, string, bool) {
	if status < 200 || status > 299 {
		// EnsureSuccessStatusCode throws: outputs and logs are discarded.
		return nil, fmt.Sprintf("handler answered HTTP %d (non-2xx fails the invocation; outputs and logs are discarded)", status), false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != "application/json" && mt != "text/json") {
		if contentType == "" {
			contentType = "none"
		}
		return nil, fmt.Sprintf("reply Content-Type %s is not application/json or text/json: no formatter reads it (Invalid HttpResponseMessage)", contentType), false
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		what := "empty"
		if len(trimmed) > 0 {
			what = "null"
		}
		return nil, fmt.Sprintf("reply body is %s: the real host would hang until functionTimeout (always return at least {})", what), true
	}
	var rep wireReply
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&rep); err != nil {
		return nil, "Invalid HttpResponseMessage: reply is not a JSON object of Outputs/Logs/ReturnValue: " + err.Error(), false
	}
	if dec.More() {
		return nil, "Invalid HttpResponseMessage: data after the JSON object", false
	}
	for _, l := range rep.Logs {
		var s string
		if json.Unmarshal(l, &s) == nil {
			rep.logs = append(rep.logs, s)
			continue
		}
		rep.logs = append(rep.logs, string(l))
	}
	return &rep, "", false
}

// applyOutputs hands each output binding its value (HttpScriptInvocationResultExtensions.ToScriptInvocationResult).
func (h *Host) applyOutputs(ctx context.Context, fn *Function, inv *Invocation) error {
	known := map[string]bool{}
	for _, b := range fn.Outputs {
		known[b.Name] = true
		var raw json.RawMessage
		var ok bool
		if b.Name == "$return" {
			raw, ok = inv.ReturnValue, len(inv.ReturnValue) > 0 && string(inv.ReturnValue) != "null"
		} else {
			raw, ok = inv.Outputs[b.Name]
		}
		switch b.Type {
		case TypeHTTPOut:
			if b.Name == "$return" && ok {
				// $return goes through GetBindingValue, base64 rule included, before the http binding sees it;
				// bytes are no response object.
				if _, decoded := base64Rule(b, raw); decoded {
					inv.Base64Decoded = append(inv.Base64Decoded, b.Name)
					return fmt.Errorf("output %s: the string ReturnValue is valid base64, so the host turned it into bytes and cannot read it as an http response", b.Name)
				}
			}
			resp, err := httpResponseFrom(raw, ok)
			if err != nil {
				return fmt.Errorf("output %s: %w", b.Name, err)
			}
			inv.HTTPResponse = resp
		case TypeQueueOut:
			if !ok || isJSONNull(raw) {
				continue
			}
			v, decoded := base64Rule(b, raw)
			if decoded {
				inv.Base64Decoded = append(inv.Base64Decoded, b.Name)
				h.logf("WARNING: output %s of %s: string value %q is valid base64, so the host decoded it to %d bytes", b.Name, fn.Name, truncate(string(raw)), len(v.([]byte)))
			}
			msgs, err := queueMessages(v)
			if err != nil {
				return fmt.Errorf("output %s: %w", b.Name, err)
			}
			if err := h.queues.write(ctx, b, msgs); err != nil {
				return fmt.Errorf("output %s: %w", b.Name, err)
			}
			inv.QueueWrites = append(inv.QueueWrites, QueueWrite{Binding: b.Name, Queue: b.QueueName, Messages: msgs})
		}
	}
	for name := range inv.Outputs {
		if !known[name] {
			inv.Notes = append(inv.Notes, fmt.Sprintf("output %q matches no output binding of %s; the host ignores it (names are case-sensitive)", name, fn.Name))
		}
	}
	if len(inv.ReturnValue) > 0 && !isJSONNull(inv.ReturnValue) && !known["$return"] {
		inv.Notes = append(inv.Notes, "ReturnValue set but the function has no $return binding; the host passes it on only for triggers that use return values")
	}
	slices.Sort(inv.Notes)
	return nil
}

func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// base64Rule is GetBindingValue: for a binding whose dataType is not binary, a string value that
// Convert.FromBase64String accepts becomes bytes. It returns []byte when the rule fired, else the raw JSON.
func base64Rule(b *Binding, raw json.RawMessage) (any, bool) {
	if strings.EqualFold(b.DataType, "binary") {
		return raw, false
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return raw, false
	}
	if v, ok := dotnetFromBase64(s); ok {
		return v, true
	}
	return raw, false
}

// dotnetFromBase64 decodes like .NET's Convert.FromBase64String: white space anywhere is ignored, the length must
// be a multiple of four, "=" padding only at the end. The empty string decodes to no bytes.
func dotnetFromBase64(s string) ([]byte, bool) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if len(clean)%4 != 0 {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, false
	}
	return b, true
}

// queueMessages turns an output value into message contents: bytes as they are, a string as its text, an array
// one message per element, an object one message of its JSON.
func queueMessages(v any) ([][]byte, error) {
	if b, ok := v.([]byte); ok {
		return [][]byte{b}, nil
	}
	raw := bytes.TrimSpace(v.(json.RawMessage))
	if len(raw) > 0 && raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		var out [][]byte
		for _, it := range items {
			if isJSONNull(it) {
				continue
			}
			out = append(out, messageText(it))
		}
		return out, nil
	}
	return [][]byte{messageText(raw)}, nil
}

// messageText is one JSON value as queue message content: a string's text, anything else as compact JSON.
// (unverified) How the host serializes a JSON object for the queue (compact or indented) is not confirmed.
func messageText(raw json.RawMessage) []byte {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// HTTPResponse is what an http output binding turns into.
type HTTPResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// httpResponseFrom converts an http output value (HttpOutputBindingResponse: StatusCode or Status as string or
// number, Body, Headers). A missing output yields an empty 200. A string value is read as the JSON text it holds,
// as the host deserializes value.ToString().
func httpResponseFrom(raw json.RawMessage, present bool) (*HTTPResponse, error) {
	resp := &HTTPResponse{StatusCode: http.StatusOK, Header: http.Header{}}
	if !present || isJSONNull(raw) {
		return resp, nil
	}
	doc := bytes.TrimSpace(raw)
	if doc[0] == '"' {
		var s string
		if err := json.Unmarshal(doc, &s); err != nil {
			return nil, err
		}
		doc = []byte(strings.TrimSpace(s))
	}
	var fields map[string]json.RawMessage
	if len(doc) == 0 || doc[0] != '{' || json.Unmarshal(doc, &fields) != nil {
		return nil, fmt.Errorf("Failed while trying to Deserialize to httpOutputBindingResponse. Output is not in expected format: %s", truncate(string(doc)))
	}
	get := func(name string) json.RawMessage {
		for k, v := range fields {
			if strings.EqualFold(k, name) && !isJSONNull(v) {
				return v
			}
		}
		return nil
	}
	code := get("statusCode")
	if code == nil {
		code = get("status")
	}
	if code != nil {
		s := scalarText(code)
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 || n > 999 {
			return nil, fmt.Errorf("http output statusCode %s is not an HTTP status", truncate(string(code)))
		}
		resp.StatusCode = n
	}
	if hdrs := get("headers"); hdrs != nil {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(hdrs, &m); err != nil {
			return nil, fmt.Errorf("http output headers: %w", err)
		}
		for k, v := range m {
			if isJSONNull(v) {
				if strings.EqualFold(k, "Content-Type") {
					return nil, errors.New("http output: content-type header must not be null")
				}
				continue
			}
			resp.Header.Set(k, scalarText(v))
		}
	}
	if b := get("body"); b != nil {
		switch b[0] {
		case '"':
			var s string
			_ = json.Unmarshal(b, &s)
			resp.Body = []byte(s)
			if resp.Header.Get("Content-Type") == "" {
				// (unverified) The host's default for a string body; handlers should always set it.
				resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
			}
		case '{', '[':
			var buf bytes.Buffer
			_ = json.Indent(&buf, b, "", "  ")
			resp.Body = buf.Bytes()
			if resp.Header.Get("Content-Type") == "" {
				resp.Header.Set("Content-Type", "application/json; charset=utf-8")
			}
		default:
			resp.Body = []byte(scalarText(b))
		}
	}
	return resp, nil
}

// scalarText is a JSON value's .NET ToString(): a string's content, True/False, or the JSON text.
func scalarText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	switch strings.TrimSpace(string(raw)) {
	case "true":
		return "True"
	case "false":
		return "False"
	}
	return string(raw)
}

func truncate(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
