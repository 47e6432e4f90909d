package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// TimerInfo is the timer trigger's value: a nested object, not double encoded. ScheduleStatus is nil when the
// schedule monitor is off (useMonitor false, or a schedule firing more than once a minute).
type TimerInfo struct {
	Schedule struct {
		AdjustForDST bool `json:"AdjustForDST"`
	} `json:"Schedule"`
	ScheduleStatus *ScheduleStatus `json:"ScheduleStatus"`
	IsPastDue      bool            `json:"IsPastDue"`
}

// ScheduleStatus is the schedule monitor's record of the last and next occurrence.
type ScheduleStatus struct {
	Last        time.Time `json:"Last"`
	Next        time.Time `json:"Next"`
	LastUpdated time.Time `json:"LastUpdated"`
}

// Timer decodes Data[name] as a TimerInfo.
func (r *Request) Timer(name string) (*TimerInfo, error) {
	doc, err := r.JSON(name)
	if err != nil {
		return nil, err
	}
	var wire struct {
		Schedule       json.RawMessage `json:"Schedule"`
		ScheduleStatus json.RawMessage `json:"ScheduleStatus"`
		IsPastDue      json.RawMessage `json:"IsPastDue"`
	}
	if err := json.Unmarshal(doc, &wire); err != nil {
		return nil, &Error{Field: "Data." + name, Err: err}
	}
	var t TimerInfo
	if len(wire.Schedule) > 0 && !isNull(wire.Schedule) {
		if err := json.Unmarshal(unwrap(wire.Schedule), &t.Schedule); err != nil {
			return nil, &Error{Field: "Data." + name + ".Schedule", Err: err}
		}
	}
	past, err := stringOf(wire.IsPastDue, "Data."+name+".IsPastDue")
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(past) {
	case "", "false":
	case "true":
		t.IsPastDue = true
	default:
		return nil, fieldErr("Data."+name+".IsPastDue", "not a boolean: %q", truncate(past))
	}
	if len(wire.ScheduleStatus) == 0 || isNull(wire.ScheduleStatus) {
		return &t, nil
	}
	var st struct {
		Last, Next, LastUpdated json.RawMessage
	}
	if err := json.Unmarshal(unwrap(wire.ScheduleStatus), &st); err != nil {
		return nil, &Error{Field: "Data." + name + ".ScheduleStatus", Err: err}
	}
	t.ScheduleStatus = &ScheduleStatus{}
	for _, f := range []struct {
		raw  json.RawMessage
		dst  *time.Time
		name string
	}{{st.Last, &t.ScheduleStatus.Last, "Last"}, {st.Next, &t.ScheduleStatus.Next, "Next"}, {st.LastUpdated, &t.ScheduleStatus.LastUpdated, "LastUpdated"}} {
		v, err := lenientTime(f.raw)
		if err != nil {
			return nil, &Error{Field: "Data." + name + ".ScheduleStatus." + f.name, Err: err}
		}
		*f.dst = v
	}
	return &t, nil
}

// lenientTime accepts a missing value and .NET's DateTime.MinValue ("0001-01-01T00:00:00"), which the host can send
// as Last before a timer's first run.
func lenientTime(raw json.RawMessage) (time.Time, error) {
	s, err := stringOf(raw, "")
	if err != nil || s == "" {
		return time.Time{}, err
	}
	return ParseTime(s)
}

// HTTPRequest is an HTTP trigger's value in payload mode (HttpRequestExtensions.GetRequestAsJObject).
type HTTPRequest struct {
	URL     string
	Method  string
	Query   map[string]string
	Headers map[string][]string
	Params  map[string]string
	// Body is the request body as text; nil when the host sent none (it omits bodies without Content-Length).
	Body []byte
}

// Header returns the first value of the named header, matched case-insensitively.
func (h *HTTPRequest) Header(name string) string {
	for k, v := range h.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// Param returns a route value ("" when absent).
func (h *HTTPRequest) Param(name string) string {
	for k, v := range h.Params {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// QueryValue returns a query parameter ("" when absent).
func (h *HTTPRequest) QueryValue(name string) string {
	for k, v := range h.Query {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// HTTP decodes Data[name] as an HTTP trigger request.
func (r *Request) HTTP(name string) (*HTTPRequest, error) {
	doc, err := r.JSON(name)
	if err != nil {
		return nil, err
	}
	var wire struct {
		Url     json.RawMessage `json:"Url"`
		Method  json.RawMessage `json:"Method"`
		Query   json.RawMessage `json:"Query"`
		Headers json.RawMessage `json:"Headers"`
		Params  json.RawMessage `json:"Params"`
		Body    json.RawMessage `json:"Body"`
	}
	if err := json.Unmarshal(doc, &wire); err != nil {
		return nil, &Error{Field: "Data." + name, Err: err}
	}
	field := "Data." + name
	h := &HTTPRequest{}
	if h.URL, err = stringOf(wire.Url, field+".Url"); err != nil {
		return nil, err
	}
	if h.Method, err = stringOf(wire.Method, field+".Method"); err != nil {
		return nil, err
	}
	h.Method = strings.ToUpper(h.Method)
	if h.Query, err = stringMap(wire.Query, field+".Query"); err != nil {
		return nil, err
	}
	if h.Params, err = stringMap(wire.Params, field+".Params"); err != nil {
		return nil, err
	}
	if h.Headers, err = headerMap(wire.Headers, field+".Headers"); err != nil {
		return nil, err
	}
	if h.Body, err = body(wire.Body, h.Header("Content-Type"), field+".Body"); err != nil {
		return nil, err
	}
	if len(h.Query) == 0 && h.URL != "" {
		// Some hosts send Query as the string "{}" even when the URL has a query string; the URL is authoritative.
		if u, err := url.Parse(h.URL); err == nil {
			for k, v := range u.Query() {
				h.Query[k] = strings.Join(v, ",")
			}
		}
	}
	return h, nil
}

// stringMap reads an object of scalars, or a string holding one (the docs show `"Query": "{}"`).
func stringMap(raw json.RawMessage, field string) (map[string]string, error) {
	out := map[string]string{}
	doc := unwrap(raw)
	if len(doc) == 0 || isNull(doc) {
		return out, nil
	}
	if doc[0] != '{' {
		return nil, fieldErr(field, "not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, &Error{Field: field, Err: err}
	}
	for k, v := range m {
		s, err := stringOf(v, field+"."+k)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// headerMap reads headers as the host sends them ({name: [values]}) and also accepts single string values.
func headerMap(raw json.RawMessage, field string) (map[string][]string, error) {
	out := map[string][]string{}
	doc := unwrap(raw)
	if len(doc) == 0 || isNull(doc) {
		return out, nil
	}
	if doc[0] != '{' {
		return nil, fieldErr(field, "not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, &Error{Field: field, Err: err}
	}
	for k, v := range m {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '[' {
			var vals []string
			if err := json.Unmarshal(v, &vals); err != nil {
				return nil, &Error{Field: field + "." + k, Err: err}
			}
			out[k] = vals
			continue
		}
		s, err := stringOf(v, field+"."+k)
		if err != nil {
			return nil, err
		}
		out[k] = []string{s}
	}
	return out, nil
}

// body returns the request body: text as sent, base64 decoded for octet-stream and multipart (the host encodes
// those), and an object or array (a host that parsed JSON) as its JSON text.
func body(raw json.RawMessage, contentType, field string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if raw[0] == '{' || raw[0] == '[' {
		return append([]byte(nil), raw...), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, &Error{Field: field, Err: fmt.Errorf("not a JSON string: %w", err)}
	}
	ct := strings.ToLower(contentType)
	if strings.HasPrefix(ct, "application/octet-stream") || strings.HasPrefix(ct, "multipart/") {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, &Error{Field: field, Err: fmt.Errorf("binary body is not base64: %w", err)}
		}
		return b, nil
	}
	return []byte(s), nil
}

// QueueMessage is a queue trigger's binding data (Metadata), with the message text itself.
type QueueMessage struct {
	ID              string
	DequeueCount    int64
	InsertionTime   time.Time
	NextVisibleTime time.Time
	Body            json.RawMessage
}

// Queue decodes Data[name] as a queue message holding a JSON document, and the queue binding data.
func (r *Request) Queue(name string) (*QueueMessage, error) {
	doc, err := r.JSON(name)
	if err != nil {
		return nil, err
	}
	m := &QueueMessage{Body: doc}
	if m.ID, err = r.MetaString("Id"); err != nil {
		return nil, err
	}
	if m.DequeueCount, err = r.MetaInt("DequeueCount"); err != nil {
		return nil, err
	}
	if m.InsertionTime, err = r.MetaTime("InsertionTime"); err != nil {
		return nil, err
	}
	if m.NextVisibleTime, err = r.MetaTime("NextVisibleTime"); err != nil {
		return nil, err
	}
	return m, nil
}

// PartitionContext is the Event Hub partition a batch comes from (Metadata.PartitionContext, or
// TriggerPartitionContext on newer extensions).
type PartitionContext struct {
	FullyQualifiedNamespace string
	EventHubName            string
	ConsumerGroup           string
	PartitionID             string
}

// RetryContext is Metadata.RetryContext: present when the function has a retry policy. RetryCount is 0 on the
// first attempt; MaxRetryCount is -1 for a policy that retries indefinitely.
type RetryContext struct {
	RetryCount, MaxRetryCount int64
}

// EventHubBatch is an Event Hub trigger's batch (cardinality many, dataType string) with the binding data that
// identifies every event: the partition, and per event its sequence number, offset and enqueued time.
type EventHubBatch struct {
	// Events are the event bodies, exactly as sent.
	Events          [][]byte
	Partition       PartitionContext
	SequenceNumbers []int64
	// Offsets and EnqueuedTimes are nil when the host sent none; otherwise they have one entry per event.
	Offsets       []string
	EnqueuedTimes []time.Time
	// Retry is nil without a retry policy.
	Retry *RetryContext
}

// EventHub decodes Data[name] as an Event Hub batch and its binding data (reference/functions-host.md §5.5): the
// events are a string holding a JSON array of strings (or the array itself); each *Array key is a string holding
// a JSON array. Every event needs a sequence number and the partition must be named, because StreamEvents names
// what it writes after them; arrays whose length differs from the number of events are refused.
func (r *Request) EventHub(name string) (*EventHubBatch, error) {
	events, err := eventBodies(r.Data, name)
	if err != nil {
		return nil, err
	}
	items := events
	b := &EventHubBatch{Events: events}
	if b.Partition, err = r.partitionContext(); err != nil {
		return nil, err
	}
	seqs, err := r.metaArray("SequenceNumberArray", len(items), true)
	if err != nil {
		return nil, err
	}
	for i, s := range seqs {
		v, err := stringOf(s, fmt.Sprintf("Metadata.SequenceNumberArray[%d]", i))
		if err != nil {
			return nil, err
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if perr != nil || n < 0 {
			return nil, fieldErr(fmt.Sprintf("Metadata.SequenceNumberArray[%d]", i), "not a sequence number: %q", truncate(v))
		}
		b.SequenceNumbers = append(b.SequenceNumbers, n)
	}
	key := "OffsetStringArray"
	if _, ok := r.Metadata[key]; !ok {
		key = "OffsetArray"
	}
	offsets, err := r.metaArray(key, len(items), false)
	if err != nil {
		return nil, err
	}
	for i, o := range offsets {
		v, err := stringOf(o, fmt.Sprintf("Metadata.%s[%d]", key, i))
		if err != nil {
			return nil, err
		}
		b.Offsets = append(b.Offsets, v)
	}
	times, err := r.metaArray("EnqueuedTimeUtcArray", len(items), false)
	if err != nil {
		return nil, err
	}
	for i, raw := range times {
		t, err := timeOf(raw, fmt.Sprintf("Metadata.EnqueuedTimeUtcArray[%d]", i))
		if err != nil {
			return nil, err
		}
		b.EnqueuedTimes = append(b.EnqueuedTimes, t)
	}
	if b.Retry, err = r.retryContext(); err != nil {
		return nil, err
	}
	return b, nil
}

// eventBodies reads Data[name]: a string holding a JSON array of strings (the source form), or the array itself
// (the docs form). Batches are tens of megabytes of doubly escaped JSON, so the common shape is decoded in one pass
// per level with one allocation per event (unquote); anything else — an element that is not a string (an object,
// from a host that parsed the body; null, an empty body) — goes through encoding/json. A body that is itself a JSON
// string literal stays one.
func eventBodies(data map[string]json.RawMessage, name string) ([][]byte, error) {
	field := "Data." + name
	raw, ok := data[name]
	if !ok {
		return nil, fieldErr(field, "missing")
	}
	doc := bytes.TrimSpace(raw)
	if len(doc) > 0 && doc[0] == '"' {
		s, end, err := unquote(doc, 0)
		if err != nil || len(bytes.TrimSpace(doc[end:])) > 0 {
			return nil, fieldErr(field, "not a JSON string holding the events")
		}
		doc = bytes.TrimSpace(s)
	}
	if len(doc) == 0 || doc[0] != '[' {
		return nil, fieldErr(field, "not a JSON array")
	}
	if events, ok := stringArray(doc); ok {
		if len(events) == 0 {
			return nil, fieldErr(field, "no events")
		}
		return events, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(doc, &items); err != nil {
		return nil, &Error{Field: field, Err: err}
	}
	if len(items) == 0 {
		return nil, fieldErr(field, "no events")
	}
	out := make([][]byte, len(items))
	for i, item := range items {
		item = bytes.TrimSpace(item)
		switch {
		case len(item) > 0 && item[0] == '"':
			var s string
			if err := json.Unmarshal(item, &s); err != nil {
				return nil, &Error{Field: fmt.Sprintf("%s[%d]", field, i), Err: err}
			}
			out[i] = []byte(s)
		case isNull(item):
			out[i] = []byte{}
		default:
			out[i] = item
		}
	}
	return out, nil
}

// stringArray decodes a JSON array whose elements are all strings; ok is false for anything else.
func stringArray(doc []byte) ([][]byte, bool) {
	i := skipWS(doc, 1)
	var out [][]byte
	if i < len(doc) && doc[i] == ']' {
		return out, len(bytes.TrimSpace(doc[i+1:])) == 0
	}
	for {
		if i >= len(doc) || doc[i] != '"' {
			return nil, false
		}
		s, end, err := unquote(doc, i)
		if err != nil {
			return nil, false
		}
		out = append(out, s)
		i = skipWS(doc, end)
		if i >= len(doc) {
			return nil, false
		}
		switch doc[i] {
		case ',':
			i = skipWS(doc, i+1)
		case ']':
			return out, len(bytes.TrimSpace(doc[i+1:])) == 0
		default:
			return nil, false
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// unquote decodes the JSON string token at b[i] into a new slice and returns it with the index after the token.
// It follows encoding/json: control characters are errors, invalid UTF-8 and lone surrogates become U+FFFD.
func unquote(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, errors.New("not a string")
	}
	// Size the result: the token's length bounds it.
	end := i + 1
	for end < len(b) && b[end] != '"' {
		if b[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(b) {
		return nil, i, errors.New("unterminated string")
	}
	out := make([]byte, 0, end-i-1)
	for j := i + 1; j < end; {
		c := b[j]
		switch {
		case c == '\\':
			if j+1 >= end {
				return nil, i, errors.New("bad escape")
			}
			switch e := b[j+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b, j+2, end)
				if !ok {
					return nil, i, errors.New("bad \\u escape")
				}
				j += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(b, j+2, end); ok && j+1 < end && b[j] == '\\' && b[j+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							j += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return nil, i, errors.New("bad escape")
			}
			j += 2
		case c < 0x20:
			return nil, i, errors.New("control character in string")
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(b[j:end])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, b[j:j+size]...)
			}
			j += size
		}
	}
	return out, end + 1, nil
}

// hex4 reads the four hex digits at b[i:i+4] (before limit).
func hex4(b []byte, i, limit int) (rune, bool) {
	if i+4 > limit {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// metaArray reads an *Array key that must hold n elements (or be absent, unless required).
func (r *Request) metaArray(key string, n int, required bool) ([]json.RawMessage, error) {
	items, err := r.MetaArray(key)
	if err != nil {
		return nil, err
	}
	if items == nil {
		if required {
			return nil, fieldErr("Metadata."+key, "missing")
		}
		return nil, nil
	}
	if len(items) != n {
		return nil, fieldErr("Metadata."+key, "has %d entries for %d events", len(items), n)
	}
	return items, nil
}

func (r *Request) partitionContext() (PartitionContext, error) {
	var pc PartitionContext
	key := "PartitionContext"
	raw, ok := r.Metadata[key]
	if !ok || isNull(raw) {
		key = "TriggerPartitionContext"
		raw, ok = r.Metadata[key]
	}
	if !ok || isNull(raw) {
		return pc, fieldErr("Metadata.PartitionContext", "missing")
	}
	doc := unwrap(raw)
	var m map[string]json.RawMessage
	if len(doc) == 0 || doc[0] != '{' || json.Unmarshal(doc, &m) != nil {
		return pc, fieldErr("Metadata."+key, "not a JSON object")
	}
	get := func(name string) (string, error) {
		for k, v := range m {
			if strings.EqualFold(k, name) {
				return stringOf(v, "Metadata."+key+"."+name)
			}
		}
		return "", nil
	}
	var err error
	for _, f := range []struct {
		dst  *string
		name string
	}{{&pc.FullyQualifiedNamespace, "FullyQualifiedNamespace"}, {&pc.EventHubName, "EventHubName"},
		{&pc.ConsumerGroup, "ConsumerGroup"}, {&pc.PartitionID, "PartitionId"}} {
		if *f.dst, err = get(f.name); err != nil {
			return pc, err
		}
	}
	if pc.PartitionID == "" {
		return pc, fieldErr("Metadata."+key+".PartitionId", "missing")
	}
	if pc.EventHubName == "" {
		return pc, fieldErr("Metadata."+key+".EventHubName", "missing")
	}
	return pc, nil
}

func (r *Request) retryContext() (*RetryContext, error) {
	raw, ok := r.Metadata["RetryContext"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	doc := unwrap(raw)
	var m map[string]json.RawMessage
	if len(doc) == 0 || doc[0] != '{' || json.Unmarshal(doc, &m) != nil {
		return nil, fieldErr("Metadata.RetryContext", "not a JSON object")
	}
	rc := &RetryContext{}
	for k, v := range m {
		var dst *int64
		switch {
		case strings.EqualFold(k, "RetryCount"):
			dst = &rc.RetryCount
		case strings.EqualFold(k, "MaxRetryCount"):
			dst = &rc.MaxRetryCount
		default:
			continue
		}
		s, err := stringOf(v, "Metadata.RetryContext."+k)
		if err != nil {
			return nil, err
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if perr != nil {
			return nil, fieldErr("Metadata.RetryContext."+k, "not an integer: %q", truncate(s))
		}
		*dst = n
	}
	return rc, nil
}
