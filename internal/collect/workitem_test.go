package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/integrations"
)

func TestParseWorkItemKinds(t *testing.T) {
	for body, want := range map[string]string{
		`{"integration":"contoso","family":"reports","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`:                  "",
		`{"integration":"contoso","kind":"collect","family":"reports","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`: "",
		`{"integration":"contoso","kind":"test","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`:                       "",
		`{"integration":"contoso","kind":"test","family":"reports","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`:    "field family",
		`{"integration":"contoso","kind":"test","reason":"continuation","planned":"2026-01-30T12:07:00Z","generation":1}`:                   "field reason",
		`{"integration":"contoso","kind":"repair","family":"reports","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`:  "field kind",
		`{"integration":"contoso","kind":"collect","reason":"schedule","planned":"2026-01-30T12:07:00Z","generation":0}`:                    "field family",
	} {
		_, err := ParseWorkItem([]byte(body))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

func TestPlanTests(t *testing.T) {
	now := time.Date(2026, 1, 12, 12, 0, 0, 0, time.UTC)
	old := &integrations.TestSummary{At: now.Add(-25 * time.Hour), State: "Connected"}
	fresh := &integrations.TestSummary{At: now.Add(-time.Hour), State: "Connected"}
	items := PlanTests([]integrations.Integration{{ID: "old", LastTest: old}, {ID: "fresh", LastTest: fresh}, {ID: "never"},
		{ID: "custom", Mode: integrations.Custom, LastTest: old}, {ID: "off", Disabled: true, LastTest: old}}, ReasonSchedule, now)
	if len(items) != 1 || items[0].Integration != "old" || !items[0].IsTest() || items[0].Family != "" {
		t.Fatalf("items %+v", items)
	}
	if _, err := ParseWorkItem(mustJSON(t, items[0])); err != nil {
		t.Errorf("a planned test item does not parse: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWorkerFollowsCollects: a data type the integration does not collect (its last connectivity test found it
// unlicensed) is left alone by the worker — no request, no cursor — and the run says why; the others are read.
func TestWorkerFollowsCollects(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Query().Get("$filter")]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer srv.Close()
	env := newTestEnv(t)
	integ := testIntegration
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	integ.LastTest = &integrations.TestSummary{At: now.Add(-time.Hour), State: "Connected", TokenOK: true, DataTypes: map[string]string{}}
	for _, dt := range catalog.InFamily(catalog.Reports) {
		integ.LastTest.DataTypes[dt.Name] = integrations.OutcomeOK
	}
	integ.LastTest.DataTypes["signIns.interactive"] = integrations.OutcomeNotLicensed + "entraP1P2"
	w := NewWorker(StorageDeps(env.cursors, env.archive), fastOptions())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := w.Run(ctx, integ, WorkItem{Integration: integ.ID, Family: catalog.Reports, Reason: ReasonSchedule}, "inv", testGraph(t, srv), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Run.DataTypes["signIns.interactive"].State; !strings.HasPrefix(st, "not collected: not-licensed: entraP1P2") {
		t.Errorf("state %q", st)
	}
	c, err := env.cursors.Get(ctx, integ.ID, "signIns.interactive")
	if err != nil || c.Started() {
		t.Errorf("cursor of the data type left alone: %v %v", describeCursor(c), err)
	}
	mu.Lock()
	defer mu.Unlock()
	for filter, n := range asked {
		if strings.Contains(filter, "'interactiveUser'") {
			t.Errorf("asked Graph %d times for the data type left alone (%s)", n, filter)
		}
	}
	if c, _ := env.cursors.Get(ctx, integ.ID, "signIns.nonInteractive"); !c.Started() {
		t.Error("the collected data types were not read")
	}
}
