package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/hostsim"
)

const (
	functionKey = "e2e-function-key-4f1c9a"
	masterKey   = "e2e-master-key-77d02b"
)

// hostClock is the simulated host time every test runs at; Status must report it (sys.UtcNow), not the wall clock.
var hostClock = time.Date(2026, 1, 10, 10, 20, 0, 500_000_000, time.UTC)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startApp starts the real handler under the host simulator with storage at connectionString.
func startApp(t *testing.T, connectionString string, extra map[string]string) *hostsim.Host {
	t.Helper()
	settings := map[string]string{}
	for k, v := range sampleSettings {
		settings[k] = v
	}
	settings["AzureWebJobsStorage"] = connectionString
	settings["LOG_LEVEL"] = "debug"
	for k, v := range extra {
		settings[k] = v
	}
	secrets := appSecrets()
	out := secrets.Writer("handler and host output", t.Output())
	h, err := hostsim.Start(testCtx(t), hostsim.Options{
		AppRoot:      appRoot,
		Settings:     settings,
		NoInheritEnv: true,
		Keys:         hostsim.Keys{Function: map[string]string{"default": functionKey}, Master: masterKey},
		Now:          func() time.Time { return hostClock },
		Output:       out,
		Log:          out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	scanAppAtEnd(t, secrets, out, h)
	return h
}

type statusReport struct {
	Version     string    `json:"version"`
	GeneratedAt time.Time `json:"generatedAt"`
	Healthy     bool      `json:"healthy"`
	Config      struct {
		AppRoot         string `json:"appRoot"`
		FunctionTimeout string `json:"functionTimeout"`
		Storage         string `json:"storage"`
		RawContainer    string `json:"rawContainer"`
		LogLevel        string `json:"logLevel"`
	} `json:"config"`
	Storage struct {
		Blob  string `json:"blob"`
		Table string `json:"table"`
		Queue string `json:"queue"`
	} `json:"storage"`
}

// TestStatus calls the real Status function the way a client of the deployed app would.
func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := azurite.Shared(t)
	h := startApp(t, srv.ConnectionString(), nil)
	key := http.Header{"x-functions-key": {functionKey}}
	tests := []struct {
		name    string
		req     hostsim.HTTPRequest
		status  int
		invoked bool
		check   func(t *testing.T, res *hostsim.HTTPResult)
	}{
		{"json with key header", hostsim.HTTPRequest{Path: "/api/status", Header: key}, 200, true, func(t *testing.T, res *hostsim.HTTPResult) {
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var r statusReport
			if err := json.Unmarshal(res.Body, &r); err != nil {
				t.Fatalf("body is not the JSON report: %v\n%s", err, res.Body)
			}
			if r.Version != "hostsim" {
				t.Errorf("version = %q, want the stamped build version", r.Version)
			}
			if r.Storage.Blob != "ok" || r.Storage.Table != "ok" || r.Storage.Queue != "ok" || !r.Healthy {
				t.Errorf("storage = %+v healthy=%v, want all ok", r.Storage, r.Healthy)
			}
			if r.Config.FunctionTimeout != "10m0s" || r.Config.RawContainer != "entra-raw" || r.Config.AppRoot != appRoot ||
				!strings.Contains(r.Config.Storage, "BlobEndpoint="+srv.BlobURL) {
				t.Errorf("config = %+v", r.Config)
			}
			if !r.GeneratedAt.Equal(hostClock) {
				t.Errorf("generatedAt = %s, want the host clock %s (Metadata.sys.UtcNow)", r.GeneratedAt, hostClock)
			}
		}},
		{"code query parameter", hostsim.HTTPRequest{Path: "/api/status", RawQuery: "code=" + functionKey}, 200, true, nil},
		{"html for browsers", hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {functionKey}, "Accept": {"text/html,application/xhtml+xml,application/json;q=0.9"}}}, 200, true, func(t *testing.T, res *hostsim.HTTPResult) {
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			if body := string(res.Body); !strings.Contains(body, "<html") || !strings.Contains(body, "healthy") {
				t.Errorf("body is not the status page:\n%s", body)
			}
		}},
		{"no key", hostsim.HTTPRequest{Path: "/api/status"}, 401, false, nil},
		{"wrong key", hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {"guess"}}}, 401, false, nil},
		{"POST is not routed", hostsim.HTTPRequest{Method: "POST", Path: "/api/status", Header: key}, 404, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.Invocations())
			res, err := h.HTTP(ctx, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				failure := ""
				if res.Invocation != nil {
					failure = res.Invocation.Failure
				}
				t.Fatalf("status = %d, want %d %s\n%s", res.StatusCode, tc.status, failure, res.Body)
			}
			if invoked := len(h.Invocations()) > before; invoked != tc.invoked || (res.Invocation != nil) != tc.invoked {
				t.Errorf("handler invoked = %v, want %v", invoked, tc.invoked)
			}
			if res.Invocation != nil && len(res.Invocation.Base64Decoded)+len(res.Invocation.Notes) > 0 {
				t.Errorf("reply observations: base64 %v notes %v", res.Invocation.Base64Decoded, res.Invocation.Notes)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}

	t.Run("no secret in responses or logs", func(t *testing.T) {
		for _, inv := range h.Invocations() {
			if inv.HTTPResponse == nil {
				continue
			}
			if strings.Contains(string(inv.HTTPResponse.Body), azurite.AccountKey) {
				t.Errorf("invocation %s: the response contains the storage account key", inv.ID)
			}
		}
		out := h.HandlerOutput()
		if !strings.Contains(out, "handler listening") {
			t.Fatalf("handler output was not captured:\n%s", out)
		}
		for name, secret := range map[string]string{"storage account key": azurite.AccountKey, "function key": functionKey} {
			if strings.Contains(out, secret) {
				t.Errorf("handler logs contain the %s", name)
			}
		}
	})
}

// TestStopExitsCleanly: SIGTERM with nothing in flight ends the handler with code 0, and the host reports it.
func TestStopExitsCleanly(t *testing.T) {
	t.Parallel()
	h := startApp(t, azurite.Shared(t).ConnectionString(), nil)
	pid := h.PID()
	if err := h.Stop(testCtx(t)); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	exits := h.Exits()
	if len(exits) != 1 || exits[0].PID != pid || exits[0].Code != 0 || exits[0].Signal != 0 || !exits[0].Expected {
		t.Errorf("exits = %+v, want pid %d with code 0", exits, pid)
	}
	if !strings.Contains(h.HandlerOutput(), "handler stopped") {
		t.Errorf("handler did not log its clean stop:\n%s", h.HandlerOutput())
	}
}

// TestSIGTERMDrainsStatus: a Status invocation is held in flight by a storage endpoint that accepts connections and
// never answers. On SIGTERM the handler stops accepting connections, lets that invocation finish within
// SHUTDOWN_GRACE, and exits 0.
func TestSIGTERMDrainsStatus(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tp := newTarpit(t)
	cs := "DefaultEndpointsProtocol=http;AccountName=" + azurite.AccountName + ";AccountKey=" + azurite.AccountKey +
		";BlobEndpoint=" + tp.url + ";QueueEndpoint=" + tp.url + ";TableEndpoint=" + tp.url + ";"
	h := startApp(t, cs, map[string]string{"SHUTDOWN_GRACE": "30s"})
	addr := h.HandlerAddr()

	resc := make(chan *hostsim.HTTPResult, 1)
	go func() {
		res, err := h.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {functionKey}}})
		if err != nil {
			t.Error(err)
		}
		resc <- res
	}()
	select {
	case <-tp.accepted:
	case <-ctx.Done():
		t.Fatal("Status never reached storage")
	}
	stopc := make(chan error, 1)
	go func() { stopc <- h.Stop(ctx) }()
	waitRefused(t, ctx, addr)
	select {
	case res := <-resc:
		t.Fatalf("Status finished before storage was released (status %d); cannot show the drain", res.StatusCode)
	default:
	}
	tp.release()
	res := <-resc
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("in-flight Status = %+v, want 200 after the drain", res)
	}
	var r statusReport
	if err := json.Unmarshal(res.Body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Healthy || !strings.HasPrefix(r.Storage.Blob, "error") {
		t.Errorf("storage = %+v, want errors from the dead endpoint", r.Storage)
	}
	if err := <-stopc; err != nil {
		t.Fatalf("Stop = %v, want exit code 0", err)
	}
	if exits := h.Exits(); len(exits) != 1 || exits[0].Code != 0 || !exits[0].Expected {
		t.Errorf("exits = %+v", exits)
	}
	if out := h.HandlerOutput(); !strings.Contains(out, "draining in-flight invocations") || !strings.Contains(out, "handler stopped") {
		t.Errorf("handler output lacks the drain:\n%s", out)
	}
}

// tarpit accepts TCP connections and never answers until released; then it closes them and stops listening.
type tarpit struct {
	url      string
	accepted chan struct{}
	ln       net.Listener
	once     sync.Once
	mu       sync.Mutex
	conns    []net.Conn
}

func newTarpit(t *testing.T) *tarpit {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tarpit{ln: ln, accepted: make(chan struct{}), url: "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/" + azurite.AccountName}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tp.mu.Lock()
			tp.conns = append(tp.conns, c)
			tp.mu.Unlock()
			tp.once.Do(func() { close(tp.accepted) })
		}
	}()
	t.Cleanup(tp.release)
	return tp
}

func (tp *tarpit) release() {
	_ = tp.ln.Close()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, c := range tp.conns {
		_ = c.Close()
	}
	tp.conns = nil
}

func waitRefused(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if conn != nil {
			_ = conn.Close()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still accepts connections after SIGTERM", addr)
		case <-tick.C:
		}
	}
}
