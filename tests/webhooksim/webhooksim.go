// Package webhooksim is a local webhook receiver for the expiry alerts: it serves a Microsoft Teams Workflows
// trigger, a Slack incoming webhook and a generic JSON endpoint, checks each body's shape as the real receiver
// would (Teams: the message envelope with one Adaptive Card attachment; Slack: a non-empty text, blocks well
// formed; generic: the documented fields), records what it accepted, and fails on demand (down, or a status for the
// next requests).
package webhooksim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Kinds the receiver serves, as the first path segment.
const (
	Teams = "teams"
	Slack = "slack"
	JSON  = "json"
)

// Received is one accepted request.
type Received struct {
	Kind string
	Body []byte
	// Header of the request (webhook-id, webhook-timestamp for the generic kind).
	Header http.Header
	// Title is the Teams card's first TextBlock or Slack's text; Threshold and Integration come from the generic
	// body, or from the Teams facts.
	Title, Integration, Threshold, SecretID string
	At                                      time.Time
}

// Receiver is the running receiver.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	received []Received
	rejected []string
	down     bool
	failNext []int
	requests int
}

// Start starts a receiver on a loopback port (plain HTTP: the app accepts http only to this machine).
func Start() *Receiver {
	r := &Receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// Close stops it.
func (r *Receiver) Close() { r.srv.Close() }

// URL is the webhook URL of a kind; token stands for the credential a real URL carries (Teams' sig=, Slack's path).
func (r *Receiver) URL(kind, token string) string {
	switch kind {
	case Teams:
		return r.srv.URL + "/teams/workflows/triggers/manual/paths/invoke?api-version=2016-06-01&sig=" + token
	case Slack:
		return r.srv.URL + "/slack/services/" + token
	}
	return r.srv.URL + "/json/hooks/" + token
}

// SetDown makes every request fail with 503 (true) or be served again (false).
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// FailNext answers the next len(statuses) requests with those statuses.
func (r *Receiver) FailNext(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = append(r.failNext, statuses...)
}

// Received returns what was accepted, in order.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.received...)
}

// Rejected returns why malformed bodies were refused.
func (r *Receiver) Rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.rejected...)
}

// Requests counts every request, failed or not.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if len(r.failNext) > 0 {
		status := r.failNext[0]
		r.failNext = r.failNext[1:]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		http.Error(w, "POST application/json", http.StatusBadRequest)
		return
	}
	kind, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	rec := Received{Kind: kind, Body: body, Header: req.Header.Clone(), At: time.Now()}
	var err error
	switch kind {
	case Teams:
		err = checkTeams(body, &rec)
	case Slack:
		err = checkSlack(body, &rec)
	case JSON:
		err = checkJSON(body, req.Header, &rec)
	default:
		http.NotFound(w, req)
		return
	}
	if err != nil {
		r.rejected = append(r.rejected, kind+": "+err.Error())
		if kind == Slack {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
		} else {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	r.received = append(r.received, rec)
	switch kind {
	case Teams:
		w.WriteHeader(http.StatusAccepted)
	case Slack:
		_, _ = io.WriteString(w, "ok")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// checkTeams checks the Workflows envelope: {"type":"message","attachments":[{"contentType":
// "application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version","body":[…]}}]}, under 28 KB.
func checkTeams(body []byte, rec *Received) error {
	if len(body) > 28*1024 {
		return fmt.Errorf("request entity too large: %d bytes", len(body))
	}
	var m struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []struct {
						Title string `json:"title"`
						Value string `json:"value"`
					} `json:"facts"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Type != "message" || len(m.Attachments) != 1 {
		return fmt.Errorf("want type message with one attachment, got %q with %d", m.Type, len(m.Attachments))
	}
	a := m.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.Content.Type != "AdaptiveCard" || a.Content.Version == "" || len(a.Content.Body) == 0 {
		return fmt.Errorf("attachment is not an Adaptive Card: %q %q %q", a.ContentType, a.Content.Type, a.Content.Version)
	}
	for _, el := range a.Content.Body {
		switch el.Type {
		case "TextBlock":
			if el.Text == "" {
				return fmt.Errorf("empty TextBlock")
			}
			if rec.Title == "" {
				rec.Title = el.Text
			}
		case "FactSet":
			for _, f := range el.Facts {
				switch f.Title {
				case "Integration":
					rec.Integration = f.Value
				case "Threshold":
					rec.Threshold = f.Value
				case "Secret ID":
					rec.SecretID = f.Value
				}
			}
		default:
			return fmt.Errorf("unexpected card element %q", el.Type)
		}
	}
	if rec.Title == "" || rec.Threshold == "" {
		return fmt.Errorf("card without a title or a threshold fact")
	}
	return nil
}

// checkSlack checks an incoming-webhook body: a non-empty text (the notification fallback), blocks of known types.
func checkSlack(body []byte, rec *Received) error {
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Text == "" {
		return fmt.Errorf("no text")
	}
	for _, b := range m.Blocks {
		if b.Type != "section" || b.Text == nil || (b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text") || b.Text.Text == "" {
			return fmt.Errorf("malformed block %q", b.Type)
		}
		for _, line := range strings.Split(b.Text.Text, "\n") {
			if v, ok := strings.CutPrefix(line, "Threshold: "); ok {
				rec.Threshold = v
			}
			if v, ok := strings.CutPrefix(line, "Integration: "); ok {
				rec.Integration = v
			}
			if v, ok := strings.CutPrefix(line, "Secret ID: "); ok {
				rec.SecretID = v
			}
		}
	}
	rec.Title = m.Text
	return nil
}

// checkJSON checks the generic body (README "Webhook payload") and the webhook-id header.
func checkJSON(body []byte, h http.Header, rec *Received) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	for _, k := range []string{"id", "type", "occurredAt", "integrationId", "tenantId", "clientId", "threshold", "howToRotate"} {
		if s, _ := m[k].(string); s == "" {
			return fmt.Errorf("field %s missing", k)
		}
	}
	if h.Get("webhook-id") != m["id"] || h.Get("webhook-timestamp") == "" {
		return fmt.Errorf("webhook-id header %q does not match id %v", h.Get("webhook-id"), m["id"])
	}
	rec.Title, _ = m["type"].(string)
	rec.Integration, _ = m["integrationId"].(string)
	rec.Threshold, _ = m["threshold"].(string)
	rec.SecretID, _ = m["secretId"].(string)
	return nil
}
