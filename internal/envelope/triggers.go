package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
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
