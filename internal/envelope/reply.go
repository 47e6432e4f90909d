package envelope

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Reply is what the handler returns for an invocation. The host reads Outputs per binding name, logs each of Logs
// at Information, and hands ReturnValue to a $return binding.
//
// Outputs holds JSON values, never bare strings: for every binding except `http` the host base64-decodes a string
// that happens to be valid base64 (reference/functions-host.md §6).
type Reply struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []string                   `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
}

// HTTPResponse is the value of an `http` output binding.
type HTTPResponse struct {
	StatusCode int               `json:"statusCode"`
	Body       string            `json:"body"`
	Headers    map[string]string `json:"headers"`
}

// NewReply returns an empty reply: no outputs, no logs, a null return value.
func NewReply() *Reply {
	return &Reply{Outputs: map[string]json.RawMessage{}, Logs: []string{}, ReturnValue: json.RawMessage("null")}
}

// Log appends a line for the host's function log.
func (r *Reply) Log(format string, args ...any) {
	r.Logs = append(r.Logs, fmt.Sprintf(format, args...))
}

// SetHTTP sets the named http output to a response whose body is v encoded as JSON.
func (r *Reply) SetHTTP(name string, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s body: %w", name, err)
	}
	return r.SetHTTPRaw(name, status, "application/json; charset=utf-8", b)
}

// SetHTTPRaw sets the named http output to a response with the given content type and body.
func (r *Reply) SetHTTPRaw(name string, status int, contentType string, body []byte) error {
	resp := HTTPResponse{
		StatusCode: status,
		Body:       string(body),
		Headers: map[string]string{
			"Content-Type":           contentType,
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	r.Outputs[name] = b
	return nil
}

// SetHTTPHeader adds a header to the named http output set before.
func (r *Reply) SetHTTPHeader(name, key, value string) error {
	raw, ok := r.Outputs[name]
	if !ok {
		return fmt.Errorf("http output %s is not set", name)
	}
	var resp HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("http output %s: %w", name, err)
	}
	resp.Headers[key] = value
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	r.Outputs[name] = b
	return nil
}

// AddQueue appends items to the named queue output; the host turns an array into one message per element. Items
// must encode as JSON objects (a bare string could be mistaken for base64 by the host).
func (r *Reply) AddQueue(name string, items ...any) error {
	var list []json.RawMessage
	if prev, ok := r.Outputs[name]; ok {
		if err := json.Unmarshal(prev, &list); err != nil {
			return fmt.Errorf("queue output %s: %w", name, err)
		}
	}
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("queue output %s: %w", name, err)
		}
		if len(b) == 0 || b[0] != '{' {
			return fmt.Errorf("queue output %s: item is not a JSON object", name)
		}
		list = append(list, b)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	r.Outputs[name] = b
	return nil
}

// Write sends the reply with the given status. The body is always a JSON object with Content-Type application/json:
// the host fails an invocation whose reply is not JSON and hangs on an empty one.
func (r *Reply) Write(w http.ResponseWriter, status int) {
	if r == nil {
		r = NewReply()
	}
	if r.Outputs == nil {
		r.Outputs = map[string]json.RawMessage{}
	}
	if r.Logs == nil {
		r.Logs = []string{}
	}
	if len(r.ReturnValue) == 0 {
		r.ReturnValue = json.RawMessage("null")
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Only a RawMessage holding invalid JSON gets here; answer a failure the host can read.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(&Reply{Outputs: map[string]json.RawMessage{}, Logs: []string{"encode reply: " + err.Error()}, ReturnValue: json.RawMessage("null")})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
