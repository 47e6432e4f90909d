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

var fuzzRemediationActions = []string{"revoke-sessions", "reset-mfa", "update-user-type", "delete-guest-user", "audit", "wipe-tenant"}

// FuzzRemediateInvoke sends arbitrary remediation requests — method, action, X-MS-CLIENT-PRINCIPAL, Idempotency-Key
// and body — through the host's envelope to the real Remediate function. Its only integration ("default", from
// app settings) is read-only and its Key Vault and Graph are unreachable, so no request may get past the refusals:
// nothing may panic, the invocation never fails, and every answer is a 4xx with an error message (a GET of the
// audit trail excepted). Seeds: testdata/fuzz/FuzzRemediateInvoke.
func FuzzRemediateInvoke(f *testing.F) {
	f.Add(uint8(1), "POST", "", "k", []byte(`{"integration":"default","user":"adele@contoso.com","reason":"r"}`))
	f.Fuzz(func(t *testing.T, action uint8, method, principal, key string, body []byte) {
		name := fuzzRemediationActions[int(action)%len(fuzzRemediationActions)]
		req := map[string]any{
			"Url":     "http://localhost:7071/api/remediation/" + name,
			"Method":  method,
			"Query":   map[string]string{},
			"Headers": map[string][]string{"X-MS-CLIENT-PRINCIPAL": {principal}, "Idempotency-Key": {key}, "Content-Type": {"application/json"}},
			"Params":  map[string]string{"action": name},
			"Body":    string(body),
		}
		envl, err := json.Marshal(map[string]any{"Data": map[string]any{"req": req}, "Metadata": map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		s, logs := fuzzServer(t)
		before := len(logs.String())
		hr := httptest.NewRequest(http.MethodPost, "/Remediate", bytes.NewReader(envl))
		hr.Header.Set("X-Azure-Functions-InvocationId", "fuzz-remediate")
		rec := httptest.NewRecorder()
		s.routes().ServeHTTP(rec, hr)
		if newLogs := logs.String()[before:]; strings.Contains(newLogs, "invocation panicked") {
			t.Fatalf("Remediate panicked:\n%s", newLogs)
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("invocation failed with %d: %s", rec.Code, rec.Body)
		}
		var reply envelope.Reply
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
			t.Fatalf("reply %q: %v", rec.Body, err)
		}
		var res envelope.HTTPResponse
		if err := json.Unmarshal(reply.Outputs["res"], &res); err != nil {
			t.Fatalf("http output %s: %v", reply.Outputs["res"], err)
		}
		if name == "audit" && strings.EqualFold(method, http.MethodGet) && res.StatusCode == http.StatusOK {
			return
		}
		var e struct{ Error, Code string }
		if res.StatusCode < 400 || res.StatusCode > 499 || json.Unmarshal([]byte(res.Body), &e) != nil || e.Error == "" || e.Code == "" {
			t.Fatalf("%s %s answered %d %q", method, name, res.StatusCode, res.Body)
		}
	})
}
