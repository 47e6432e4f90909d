// Package envelope is the wire format between the Azure Functions host and this custom handler in payload mode:
// the request the host POSTs to /{FunctionName} (Data, Metadata) and the reply it reads back (Outputs, Logs,
// ReturnValue).
//
// The host double-encodes most values: a string, number or array binding value is serialized to JSON text and that
// text is sent as a JSON string, so a queue message `hello` arrives as "\"hello\"" and a DequeueCount of 1 as "1".
// The Microsoft Learn custom-handler page shows the single-encoded form instead. Every accessor here accepts both
// (reference/functions-host.md §4).
package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/text"
)

// MaxRequestBytes bounds the size of one invocation request the handler will read. The host's own HTTP request
// limit is 100 MB; queue messages are at most 64 KiB and Event Hub batches a few MB.
const MaxRequestBytes = 100 << 20

// Request is the invocation payload the host sends: one Data entry per trigger or input binding (named by the
// binding's `name`) and the trigger's binding data in Metadata, always including `sys`.
type Request struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// Sys is Metadata.sys: the function name, the host's UTC time at invocation and a random GUID.
type Sys struct {
	MethodName string    `json:"MethodName"`
	UtcNow     time.Time `json:"UtcNow"`
	RandGuid   string    `json:"RandGuid"`
}

// Error is returned for a request that does not follow the envelope format; Field names the offending part.
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("invocation envelope: %s: %v", e.Field, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}

// Decode reads one invocation request. It fails on a body that is not a JSON object, on more than limit bytes, and
// on trailing data after the object.
func Decode(r io.Reader, limit int64) (*Request, error) {
	if limit <= 0 {
		limit = MaxRequestBytes
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{Field: "body", Err: err}
	}
	if int64(len(body)) > limit {
		return nil, fieldErr("body", "larger than %d bytes", limit)
	}
	return Parse(body)
}

// Parse decodes one invocation request from its JSON bytes.
func Parse(body []byte) (*Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fieldErr("body", "not a JSON object")
	}
	// Unmarshal, not a Decoder: a Decoder copies the whole body into its buffer first, and Event Hub batches are
	// tens of megabytes. Unmarshal refuses trailing data too.
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &Error{Field: "body", Err: err}
	}
	if req.Data == nil {
		req.Data = map[string]json.RawMessage{}
	}
	if req.Metadata == nil {
		req.Metadata = map[string]json.RawMessage{}
	}
	return &req, nil
}

// Sys returns Metadata.sys. A missing sys block yields the zero value; a malformed one is an error.
func (r *Request) Sys() (Sys, error) {
	var s Sys
	raw, ok := r.Metadata["sys"]
	if !ok || isNull(raw) {
		return s, nil
	}
	var wire struct {
		MethodName json.RawMessage `json:"MethodName"`
		UtcNow     json.RawMessage `json:"UtcNow"`
		RandGuid   json.RawMessage `json:"RandGuid"`
	}
	if err := json.Unmarshal(unwrap(raw), &wire); err != nil {
		return s, &Error{Field: "Metadata.sys", Err: err}
	}
	var err error
	if s.MethodName, err = stringOf(wire.MethodName, "Metadata.sys.MethodName"); err != nil {
		return s, err
	}
	if s.RandGuid, err = stringOf(wire.RandGuid, "Metadata.sys.RandGuid"); err != nil {
		return s, err
	}
	if s.UtcNow, err = timeOf(wire.UtcNow, "Metadata.sys.UtcNow"); err != nil {
		return s, err
	}
	return s, nil
}

// String returns Data[name] as a string, undoing the host's double encoding.
func (r *Request) String(name string) (string, error) {
	raw, ok := r.Data[name]
	if !ok {
		return "", fieldErr("Data."+name, "missing")
	}
	return stringOf(raw, "Data."+name)
}

// JSON returns Data[name] as the JSON document it carries: an object or array sent as itself, as a JSON string
// holding it, or as a string holding such a string (a queue message with JSON text arrives that way).
func (r *Request) JSON(name string) (json.RawMessage, error) {
	raw, ok := r.Data[name]
	if !ok {
		return nil, fieldErr("Data."+name, "missing")
	}
	doc := unwrap(raw)
	if len(doc) == 0 || (doc[0] != '{' && doc[0] != '[') {
		return nil, fieldErr("Data."+name, "not a JSON object or array")
	}
	return doc, nil
}

// MetaString returns Metadata[key] as a string ("" when absent).
func (r *Request) MetaString(key string) (string, error) {
	raw, ok := r.Metadata[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	return stringOf(raw, "Metadata."+key)
}

// MetaInt returns Metadata[key] as an integer (0 when absent); numbers and strings holding numbers are accepted.
func (r *Request) MetaInt(key string) (int64, error) {
	raw, ok := r.Metadata[key]
	if !ok || isNull(raw) {
		return 0, nil
	}
	s, err := stringOf(raw, "Metadata."+key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fieldErr("Metadata."+key, "not an integer: %q", truncate(s))
	}
	return n, nil
}

// MetaTime returns Metadata[key] as a time (zero when absent).
func (r *Request) MetaTime(key string) (time.Time, error) {
	raw, ok := r.Metadata[key]
	if !ok || isNull(raw) {
		return time.Time{}, nil
	}
	return timeOf(raw, "Metadata."+key)
}

// MetaArray returns Metadata[key] as the elements of a JSON array, accepting an array or a string holding one
// (Event Hub *Array keys arrive as strings).
func (r *Request) MetaArray(key string) ([]json.RawMessage, error) {
	raw, ok := r.Metadata[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	return arrayOf(raw, "Metadata."+key)
}

// StringArray returns Data[name] as a list of strings: a JSON array of strings, or a string holding one. It is the
// shape of an Event Hub trigger with cardinality many and dataType string.
func (r *Request) StringArray(name string) ([]string, error) {
	raw, ok := r.Data[name]
	if !ok {
		return nil, fieldErr("Data."+name, "missing")
	}
	items, err := arrayOf(raw, "Data."+name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, err := stringOf(item, fmt.Sprintf("Data.%s[%d]", name, i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// unwrap peels JSON strings off raw for as long as the string's content is itself JSON (an object, array, string
// or number), at most twice: that undoes the host's encoding without turning a plain string into something else.
func unwrap(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	for range 2 {
		if len(raw) == 0 || raw[0] != '"' {
			return raw
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return raw
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 || !json.Valid(inner) {
			return raw
		}
		switch inner[0] {
		case '{', '[', '"':
		default:
			if !isNumber(inner) {
				return raw
			}
		}
		raw = inner
	}
	return raw
}

func isNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	c := b[0]
	return c == '-' || (c >= '0' && c <= '9')
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// stringOf reads a scalar as a string: a JSON string (single or double encoded), or a number or bool as its text.
func stringOf(raw json.RawMessage, field string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", &Error{Field: field, Err: err}
		}
		// Double encoded: the content is JSON text of a string (`"\"hello\""`) or a number (`"1"`).
		inner := strings.TrimSpace(s)
		if len(inner) > 1 && inner[0] == '"' {
			var s2 string
			if json.Unmarshal([]byte(inner), &s2) == nil {
				return s2, nil
			}
		}
		return s, nil
	case '{', '[':
		return "", fieldErr(field, "expected a string, got a JSON %s", kind(raw[0]))
	default:
		if !json.Valid(raw) {
			return "", fieldErr(field, "invalid JSON value")
		}
		return string(raw), nil
	}
}

func timeOf(raw json.RawMessage, field string) (time.Time, error) {
	s, err := stringOf(raw, field)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, &Error{Field: field, Err: err}
	}
	return t, nil
}

// ParseTime reads the host's .NET date forms: RFC 3339 with 0–7 fractional digits and an offset or Z, or no zone
// at all (Event Hub enqueued times), which is taken as UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("not an ISO-8601 time: %q", truncate(s))
}

func arrayOf(raw json.RawMessage, field string) ([]json.RawMessage, error) {
	doc := unwrap(raw)
	if len(doc) == 0 || doc[0] != '[' {
		return nil, fieldErr(field, "not a JSON array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(doc, &items); err != nil {
		return nil, &Error{Field: field, Err: err}
	}
	return items, nil
}

func kind(c byte) string {
	if c == '{' {
		return "object"
	}
	return "array"
}

// truncate shortens a bad value for an error message.
func truncate(s string) string { return text.Truncate(s, 64) }
