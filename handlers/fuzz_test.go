package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/tests/azurite"
)

func TestMain(m *testing.M) { azurite.Main(m) }

// fuzzFunctions are the names FuzzInvoke posts to: every function of the app and one that does not exist.
var fuzzFunctions = []string{"Integrations", "Status", "CollectLogs", "CollectWork", "NoSuchFunction", "CollectDirectory",
	"ComputeInsights", "InsightsWork", "StreamEvents"}

// fuzzApp is the real app on the shared Azurite with an integration declared in settings ("default"), built once
// per test process. Its Key Vault and Graph are unreachable: FuzzInvoke never lets a valid work item of that
// integration reach the worker.
var fuzzApp struct {
	once sync.Once
	srv  *server
	logs *syncBuffer
	err  error
}

func fuzzServer(t testing.TB) (*server, *syncBuffer) {
	srv := azurite.Shared(t)
	fuzzApp.once.Do(func() {
		settings := map[string]string{
			"FUNCTIONS_CUSTOMHANDLER_PORT": "7071",
			"FUNCTIONS_APP_ROOT_PATH":      t.TempDir(),
			"AzureWebJobsStorage":          srv.ConnectionString(),
			"KEY_VAULT_URL":                "https://127.0.0.1:1/",
			"ENTRA_TENANT_ID":              "contoso.onmicrosoft.com",
			"ENTRA_CLIENT_ID":              "11111111-2222-3333-4444-555555555555",
			"GRAPH_ENDPOINT":               "https://127.0.0.1:1",
			"LOG_LEVEL":                    "debug",
		}
		cfg, err := config.Load(func(k string) string { return settings[k] })
		if err != nil {
			fuzzApp.err = err
			return
		}
		fuzzApp.logs = &syncBuffer{}
		logger := logging.New(fuzzApp.logs, slog.LevelDebug)
		fuzzApp.srv = &server{functions: newApp(cfg, logger).functions(), logger: logger, base: context.Background(), timeout: 30 * time.Second}
	})
	if fuzzApp.err != nil {
		t.Fatal(fuzzApp.err)
	}
	return fuzzApp.srv, fuzzApp.logs
}

// FuzzInvoke posts arbitrary invocation envelopes to every function of the real app through the server's invoke
// path, as the host would. Nothing may panic (a recovered panic counts as one); the reply is always a non-empty
// JSON envelope with a JSON Content-Type; a failed invocation says why in its logs; an HTTP answer of 4xx/5xx
// carries an error message; and work items are enqueued only by a valid timer or an authorized POST
// integrations/default/collect. Seeds: testdata/fuzz/FuzzInvoke.
func FuzzInvoke(f *testing.F) {
	f.Add(uint8(0), []byte(`{"Data":{"req":{"Url":"http://localhost/api/integrations","Method":"GET","Headers":{},"Params":{}}},"Metadata":{}}`))
	f.Add(uint8(8), []byte(`{"Data":{"events":"[\"{\\\"records\\\":[{\\\"category\\\":\\\"AuditLogs\\\",\\\"tenantId\\\":\\\"contoso.onmicrosoft.com\\\"}]}\",\"oops\"]"},`+
		`"Metadata":{"PartitionContext":{"EventHubName":"entra-logs","PartitionId":"0"},"SequenceNumberArray":"[1,2]","EnqueuedTimeUtcArray":"[\"2026-01-10T10:00:00\",\"2026-01-10T10:00:01\"]"}}`))
	f.Fuzz(func(t *testing.T, fn uint8, body []byte) {
		name := fuzzFunctions[int(fn)%len(fuzzFunctions)]
		if name == "CollectWork" && validWorkItemOfDefault(body) {
			// A valid work item runs the worker against the unreachable Graph: the e2e tests cover that path.
			return
		}
		s, logs := fuzzServer(t)
		before := len(logs.String())
		req := httptest.NewRequest(http.MethodPost, "/"+name, bytes.NewReader(body))
		req.Header.Set("X-Azure-Functions-InvocationId", "fuzz")
		rec := httptest.NewRecorder()
		s.routes().ServeHTTP(rec, req)

		if newLogs := logs.String()[before:]; strings.Contains(newLogs, "invocation panicked") {
			t.Fatalf("%s panicked on %q:\n%s", name, body, newLogs)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		if rec.Body.Len() == 0 {
			t.Fatal("empty reply")
		}
		var reply envelope.Reply
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || bytes.Equal(bytes.TrimSpace(rec.Body.Bytes()), []byte("null")) {
			t.Fatalf("reply %q is not a JSON envelope: %v", rec.Body, err)
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError:
			if len(reply.Logs) == 0 || reply.Logs[0] == "" {
				t.Fatalf("failed with %d and no reason: %s", rec.Code, rec.Body)
			}
			if len(reply.Outputs) != 0 {
				t.Fatalf("failed invocation with outputs: %s", rec.Body)
			}
			return
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if raw, ok := reply.Outputs["res"]; ok {
			var res envelope.HTTPResponse
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatalf("http output %s: %v", raw, err)
			}
			if res.StatusCode < 200 || res.StatusCode > 599 {
				t.Fatalf("http output status %d", res.StatusCode)
			}
			if res.StatusCode >= 400 {
				var e struct{ Error string }
				if json.Unmarshal([]byte(res.Body), &e) != nil || e.Error == "" {
					t.Fatalf("%d answer without an error message: %q", res.StatusCode, res.Body)
				}
			}
		}
		if items, ok := reply.Outputs["workItems"]; ok && !mayEnqueue(name, body) {
			t.Fatalf("%s enqueued %s for %q", name, items, body)
		}
		if _, ok := reply.Outputs["continuations"]; ok {
			t.Fatalf("continuation without a run: %s", rec.Body)
		}
	})
}

func validWorkItemOfDefault(body []byte) bool {
	r, err := envelope.Parse(body)
	if err != nil {
		return false
	}
	m, err := r.Queue("item")
	if err != nil {
		return false
	}
	item, err := collect.ParseWorkItem(m.Body)
	return err == nil && item.Integration == "default"
}

// mayEnqueue says whether an invocation may put work items on the queue: a timer with a valid TimerInfo, or an
// authorized POST to integrations/default/collect.
func mayEnqueue(function string, body []byte) bool {
	r, err := envelope.Parse(body)
	if err != nil {
		return false
	}
	switch function {
	case "CollectLogs", "CollectDirectory", "ComputeInsights":
		_, err := r.Timer("timer")
		return err == nil
	case "Integrations":
		h, err := r.HTTP("req")
		if err != nil || h.Method != http.MethodPost || h.Param("id") != "default" || h.Param("action") != "collect" {
			return false
		}
		_, err = access.Check(h.Header(access.Header), access.Admin, access.Helpdesk)
		return err == nil
	}
	return false
}
