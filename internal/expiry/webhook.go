package expiry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/version"
)

// Notice is one expiry alert: what the generic JSON webhook receives (README "Webhook payload"), and what the Teams
// and Slack messages say. It carries no secret value and no webhook URL.
type Notice struct {
	// ID is stable per (integration, secret, threshold): receivers dedupe on it (also the webhook-id header).
	ID string `json:"id"`
	// Type is "credential.expiring", "credential.expired", "credential.deleted" or "credential.rotation-failed".
	Type            string    `json:"type"`
	OccurredAt      time.Time `json:"occurredAt"`
	IntegrationID   string    `json:"integrationId"`
	IntegrationName string    `json:"integrationName,omitempty"`
	TenantID        string    `json:"tenantId"`
	ClientID        string    `json:"clientId"`
	AppName         string    `json:"appName,omitempty"`
	// SecretID is the client secret's keyId (the portal's "Secret ID").
	SecretID  string     `json:"secretId,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// DaysLeft is whole days to ExpiresAt (negative once expired).
	DaysLeft *int `json:"daysLeft,omitempty"`
	// Threshold is "90", "30", "14", "7", "1" (as configured), "expired" or "deleted".
	Threshold string `json:"threshold"`
	// HowToRotate says what to do.
	HowToRotate string `json:"howToRotate"`

	// key is the secret's key in the alerts table.
	key string
}

// Notice types.
const (
	TypeExpiring = "credential.expiring"
	TypeExpired  = "credential.expired"
	TypeDeleted  = "credential.deleted"
	// TypeRotationFailed: automatic rotation failed; the old secret stays in use.
	TypeRotationFailed = "credential.rotation-failed"
)

// Title is the notice's one-line summary.
func (n Notice) Title() string {
	switch n.Type {
	case TypeExpired:
		return fmt.Sprintf("Client secret of %s has expired", n.IntegrationID)
	case TypeDeleted:
		return fmt.Sprintf("Client secret of %s was deleted in Entra", n.IntegrationID)
	case TypeRotationFailed:
		return fmt.Sprintf("Automatic rotation of the client secret of %s failed", n.IntegrationID)
	}
	if n.DaysLeft != nil {
		return fmt.Sprintf("Client Secret Expiring Soon: %s expires in %d days", n.IntegrationID, *n.DaysLeft)
	}
	return "Client Secret Expiring Soon: " + n.IntegrationID
}

func (n Notice) facts() [][2]string {
	f := [][2]string{{"Integration", n.IntegrationID}, {"Tenant", n.TenantID}, {"App (client) ID", n.ClientID}}
	if n.AppName != "" {
		f = append(f, [2]string{"App", n.AppName})
	}
	if n.SecretID != "" {
		f = append(f, [2]string{"Secret ID", n.SecretID})
	}
	if n.ExpiresAt != nil {
		f = append(f, [2]string{"Expires", n.ExpiresAt.UTC().Format("2006-01-02 15:04Z")})
	}
	if n.DaysLeft != nil {
		f = append(f, [2]string{"Days left", strconv.Itoa(*n.DaysLeft)})
	}
	return append(f, [2]string{"Threshold", n.Threshold}, [2]string{"How to rotate", n.HowToRotate})
}

// noticeID is the stable event id of an alert.
func noticeID(integration, secret, threshold string) string {
	h := sha256.Sum256([]byte(integration + "\x00" + secret + "\x00" + threshold))
	return "exp_" + hex.EncodeToString(h[:12])
}

// webhookID names a webhook in the alerts table without its URL: a short hash (a URL is long and random, so the
// hash does not give it away), stable when settings are reordered.
func webhookID(w config.Webhook) string {
	h := sha256.Sum256([]byte("edi-webhook\x00" + w.URL))
	return w.Kind + "-" + hex.EncodeToString(h[:6])
}

// Payload is the body a webhook of the kind receives for n.
func Payload(kind string, n Notice) ([]byte, error) {
	switch kind {
	case config.WebhookTeams:
		var facts []map[string]string
		for _, f := range n.facts() {
			facts = append(facts, map[string]string{"title": f[0], "value": f[1]})
		}
		return json.Marshal(map[string]any{"type": "message", "attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil,
			"content": map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
				"version": "1.4", "body": []any{
					map[string]any{"type": "TextBlock", "text": n.Title(), "weight": "Bolder", "wrap": true},
					map[string]any{"type": "FactSet", "facts": facts}}}}}})
	case config.WebhookSlack:
		text := "*" + n.Title() + "*"
		for _, f := range n.facts() {
			text += "\n" + f[0] + ": " + f[1]
		}
		return json.Marshal(map[string]any{"text": n.Title(), "blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}}})
	case config.WebhookJSON:
		return json.Marshal(n)
	}
	return nil, fmt.Errorf("unknown webhook kind %q", kind)
}

// SendError is a failed delivery: the status (0 when there was no answer) and what went wrong, never the URL.
type SendError struct {
	Webhook string
	Status  int
	Problem string
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("webhook %s: HTTP %d %s", e.Webhook, e.Status, e.Problem)
	}
	return fmt.Sprintf("webhook %s: %s", e.Webhook, e.Problem)
}

// Sender posts notices to webhooks, retrying network errors, 408, 429 (after Retry-After) and 5xx with capped
// exponential back-off and jitter; other 4xx are final.
type Sender struct {
	// Client is the HTTP client (a default one with a 30 s timeout when nil).
	Client *http.Client
	// Attempts per send (4) and the first back-off (1 s), doubling up to MaxBackoff (30 s).
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// Send delivers n to w. The error never includes w's URL.
func (s *Sender) Send(ctx context.Context, w config.Webhook, n Notice) error {
	body, err := Payload(w.Kind, n)
	if err != nil {
		return err
	}
	attempts, wait, maxWait := max(s.Attempts, 1), s.Backoff, s.MaxBackoff
	if s.Attempts == 0 {
		attempts = 4
	}
	if wait <= 0 {
		wait = time.Second
	}
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	var last *SendError
	for attempt := 1; ; attempt++ {
		var retryAfter time.Duration
		last, retryAfter = s.post(ctx, w, n, body)
		if last == nil {
			return nil
		}
		if !retryable(last.Status) || attempt >= attempts {
			return last
		}
		pause := min(wait, maxWait)
		pause += time.Duration(rand.Int64N(int64(pause)/4 + 1))
		if retryAfter > 0 {
			pause = min(retryAfter, maxWait)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return &SendError{Webhook: w.String(), Problem: "gave up: " + ctx.Err().Error() + " after " + last.Error()}
		case <-t.C:
		}
		wait *= 2
	}
}

// retryable: no answer (0), 408, 429 and 5xx.
func retryable(status int) bool {
	return status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

func (s *Sender) post(ctx context.Context, w config.Webhook, n Notice, body []byte) (*SendError, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &SendError{Webhook: w.String(), Problem: "the URL cannot be used"}, 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "entra-data-integration/"+version.Version)
	if w.Kind == config.WebhookJSON {
		// Standard Webhooks headers: receivers dedupe on webhook-id.
		req.Header.Set("webhook-id", n.ID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(n.OccurredAt.Unix(), 10))
	}
	resp, err := s.client().Do(req)
	if err != nil {
		// *url.Error quotes the URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &SendError{Webhook: w.String(), Problem: "no answer: " + err.Error()}, 0
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil, 0
	}
	var after time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		after = time.Duration(secs) * time.Second
	}
	// Slack answers a short error code (invalid_payload, channel_not_found, …); Teams a JSON error.
	return &SendError{Webhook: w.String(), Status: resp.StatusCode, Problem: firstLine(string(text), 200)}, after
}

func firstLine(s string, n int) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(s, n)
}
