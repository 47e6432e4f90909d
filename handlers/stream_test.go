package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/envelope"
)

// TestStreamEvents: a batch in the host's source form is archived and answered 2xx with what happened; a batch
// whose binding data lacks the sequence numbers parts are named after fails, naming the field.
func TestStreamEvents(t *testing.T) {
	s, _ := fuzzServer(t)
	post := func(body string) (int, envelope.Reply) {
		req := httptest.NewRequest(http.MethodPost, "/StreamEvents", bytes.NewReader([]byte(body)))
		req.Header.Set("X-Azure-Functions-InvocationId", "stream-test")
		rec := httptest.NewRecorder()
		s.routes().ServeHTTP(rec, req)
		var reply envelope.Reply
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
			t.Fatalf("reply %q: %v", rec.Body, err)
		}
		return rec.Code, reply
	}
	events, _ := json.Marshal([]string{
		`{"records":[{"category":"AuditLogs","tenantId":"contoso.onmicrosoft.com","properties":{"id":"a1","activityDateTime":"2026-01-10T10:00:00Z"}},` +
			`{"category":"SignInLogs","tenantId":"somebody-else","properties":{"id":"s1","createdDateTime":"2026-01-10T10:00:00Z"}}]}`,
		"not JSON"})
	data, _ := json.Marshal(string(events))
	batch := `{"Data":{"events":` + string(data) + `},"Metadata":{"PartitionContext":{"FullyQualifiedNamespace":"ns","EventHubName":"entra-logs","PartitionId":"1"},` +
		`"SequenceNumberArray":"[7,8]","EnqueuedTimeUtcArray":"[\"2026-01-10T10:01:00\",\"2026-01-10T10:01:01\"]","RetryContext":{"RetryCount":1,"MaxRetryCount":-1}}}`
	code, reply := post(batch)
	if code != http.StatusOK || len(reply.Logs) != 1 || !strings.Contains(reply.Logs[0], "2 records, 1 archived, 0 duplicates, 1 of unknown tenants, 1 quarantined") {
		t.Fatalf("status %d, logs %q", code, reply.Logs)
	}
	// Delivered again: the same answer, nothing new (the parts exist).
	if code, again := post(batch); code != http.StatusOK || again.Logs[0] != reply.Logs[0] {
		t.Errorf("redelivery: %d %q", code, again.Logs)
	}
	code, reply = post(strings.Replace(batch, `"SequenceNumberArray":"[7,8]",`, "", 1))
	if code != http.StatusInternalServerError || len(reply.Logs) == 0 || !strings.Contains(reply.Logs[0], "Metadata.SequenceNumberArray") {
		t.Errorf("without sequence numbers: status %d, logs %q", code, reply.Logs)
	}
}
