package hostsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/azurite"
)

// probeRoot is the probe app, built once for the test binary.
var probeRoot string

const (
	testFunctionKey = "fn-key-0123456789"
	testMasterKey   = "master-key-9876543210"
)

func TestMain(m *testing.M) {
	code, err := runTests(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func runTests(m *testing.M) (int, error) {
	root, err := azurite.ModuleRoot()
	if err != nil {
		return 1, err
	}
	dir, err := os.MkdirTemp("", "hostsim-probe-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	probeRoot, err = Build(ctx, BuildOptions{
		ModuleRoot: root,
		Package:    "./tests/hostsim/testdata/probe",
		Source:     filepath.Join(root, "tests", "hostsim", "testdata", "probe"),
		OutDir:     filepath.Join(dir, "app"),
	})
	cancel()
	if err != nil {
		return 1, fmt.Errorf("build probe: %w", err)
	}
	code := m.Run()
	if err := azurite.StopShared(); err != nil {
		return 1, err
	}
	return code, nil
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// probeCall is one invocation as the probe received it.
type probeCall struct {
	Function string            `json:"function"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Header   http.Header       `json:"header"`
	Body     string            `json:"body"`
	Chunked  bool              `json:"chunked"`
	PID      int               `json:"pid"`
	Args     []string          `json:"args"`
	Cwd      string            `json:"cwd"`
	Env      map[string]string `json:"env"`
}

// envelope decodes the request body the probe received.
func (c probeCall) envelope(t *testing.T) (data, meta map[string]json.RawMessage) {
	t.Helper()
	var env struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal([]byte(c.Body), &env); err != nil {
		t.Fatalf("probe received a body that is not JSON: %v\n%s", err, c.Body)
	}
	return env.Data, env.Metadata
}

// instruction tells the probe how to reply.
type instruction struct {
	Status        int    `json:"status,omitempty"`
	ContentType   string `json:"contentType,omitempty"`
	NoContentType bool   `json:"noContentType,omitempty"`
	Body          string `json:"body"`
	Exit          *int   `json:"exit,omitempty"`
}

// okReply is a well-formed empty reply.
func okReply() instruction {
	return instruction{ContentType: "application/json", Body: `{"Outputs":{},"Logs":[],"ReturnValue":null}`}
}

// replyWith is a 200 JSON reply with the given outputs and logs.
func replyWith(outputs map[string]any, logs ...string) instruction {
	if outputs == nil {
		outputs = map[string]any{}
	}
	if logs == nil {
		logs = []string{}
	}
	b, _ := json.Marshal(map[string]any{"Outputs": outputs, "Logs": logs, "ReturnValue": nil})
	return instruction{ContentType: "application/json; charset=utf-8", Body: string(b)}
}

// control is the test's side of the probe: it records every call and answers with the test's instruction.
type control struct {
	srv *httptest.Server

	mu      sync.Mutex
	calls   []probeCall
	pids    []int
	respond func(ctx context.Context, c probeCall) instruction
	gate    chan struct{} // PROBE_LISTEN_GATE blocks until closed
	gateHit chan struct{} // closed when the probe asked the gate
	changed chan struct{}
}

func newControl(t *testing.T) *control {
	t.Helper()
	c := &control{changed: make(chan struct{}), gate: make(chan struct{}), gateHit: make(chan struct{})}
	c.respond = func(context.Context, probeCall) instruction { return okReply() }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invoke", func(w http.ResponseWriter, r *http.Request) {
		var pc probeCall
		if err := json.NewDecoder(r.Body).Decode(&pc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.calls = append(c.calls, pc)
		respond := c.respond
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		in := respond(r.Context(), pc)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(in)
	})
	mux.HandleFunc("GET /gate", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		closeOnce(c.gateHit)
		c.mu.Unlock()
		select {
		case <-c.gate:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /announce", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var pid int
		_, _ = fmt.Sscan(string(b), &pid)
		c.mu.Lock()
		c.pids = append(c.pids, pid)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	})
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *control) URL() string { return c.srv.URL }

func (c *control) setRespond(f func(ctx context.Context, pc probeCall) instruction) {
	c.mu.Lock()
	c.respond = f
	c.mu.Unlock()
}

func (c *control) reply(in instruction) {
	c.setRespond(func(context.Context, probeCall) instruction { return in })
}

func (c *control) Calls() []probeCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func (c *control) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pids)
}

// waitCalls waits until at least n calls arrived.
func (c *control) waitCalls(t *testing.T, ctx context.Context, n int) []probeCall {
	t.Helper()
	for {
		c.mu.Lock()
		calls, ch := slices.Clone(c.calls), c.changed
		c.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for %d probe calls, got %d: %v", n, len(calls), ctx.Err())
		}
	}
}

// probeSettings are the settings every probe app needs (its function.json files use these %tokens%).
func probeSettings(c *control) map[string]string {
	return map[string]string{
		"PROBE_CONTROL_URL": c.URL(),
		"PROBE_SCHEDULE":    "0 0 * * * *",
		"PROBE_QUEUE":       "probe-in-unused",
		"PROBE_OUT_QUEUE":   "probe-out-unused",
		"PROBE_APP_NAME":    "probe-app",
	}
}

// startProbe starts the probe app; mod adjusts the options. The host is stopped when the test ends.
func startProbe(t *testing.T, c *control, mod func(*Options)) *Host {
	t.Helper()
	h, err := startProbeErr(t, c, mod)
	if err != nil {
		t.Fatalf("start probe: %v", err)
	}
	return h
}

func startProbeErr(t *testing.T, c *control, mod func(*Options)) (*Host, error) {
	t.Helper()
	o := Options{
		AppRoot:  probeRoot,
		Settings: probeSettings(c),
		Keys:     Keys{Function: map[string]string{"default": testFunctionKey}, Master: testMasterKey},
		Output:   t.Output(),
		Log:      t.Output(),
	}
	if mod != nil {
		mod(&o)
	}
	h, err := Start(testCtx(t), o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(h.Close)
	return h, nil
}

// withStorage points the probe's queues at fresh queues in the shared Azurite.
func withStorage(t *testing.T) (in, out string, mod func(*Options)) {
	t.Helper()
	srv := azurite.Shared(t)
	in, out = azurite.NewQueue(t), azurite.NewQueue(t)
	return in, out, func(o *Options) {
		o.Settings["AzureWebJobsStorage"] = srv.ConnectionString()
		o.Settings["PROBE_QUEUE"] = in
		o.Settings["PROBE_OUT_QUEUE"] = out
	}
}

// probeVariant copies the probe app with host.json changed by edit (the binary is linked, not copied).
func probeVariant(t *testing.T, edit func(host map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(probeRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src := filepath.Join(probeRoot, e.Name())
		switch {
		case e.Name() == "host.json":
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			var host map[string]any
			if err := json.Unmarshal(b, &host); err != nil {
				t.Fatal(err)
			}
			edit(host)
			b, _ = json.MarshalIndent(host, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, "host.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		case e.IsDir():
			if err := os.MkdirAll(filepath.Join(dir, e.Name()), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(src, "function.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name(), "function.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.Symlink(src, filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// fakeClock is a simulated clock the tests advance by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// unquote decodes a JSON string, failing the test when raw is not one.
func unquote(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a JSON string: %v", raw, err)
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }
