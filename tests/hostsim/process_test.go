package hostsim

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadinessWaitsForLateListener: the host keeps probing until the handler listens, however late.
func TestReadinessWaitsForLateListener(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	type result struct {
		h   *Host
		err error
	}
	started := make(chan result, 1)
	go func() {
		h, err := startProbeErr(t, c, func(o *Options) { o.Settings["PROBE_LISTEN_GATE"] = c.URL() + "/gate" })
		started <- result{h, err}
	}()
	select {
	case <-c.gateHit:
	case <-ctx.Done():
		t.Fatal("the probe never asked the listen gate")
	}
	select {
	case r := <-started:
		t.Fatalf("Start returned before the handler listened: %v", r.err)
	default:
	}
	close(c.gate)
	r := <-started
	if r.err != nil {
		t.Fatal(r.err)
	}
	inv, err := r.h.Timer(ctx, "TimerNoMonitor", nil)
	if err != nil || !inv.Succeeded() {
		t.Fatalf("%v %+v", err, inv)
	}
}

// TestReadinessGivesUp: a handler that never listens fails each start after the ready timeout; after three
// failures the host gives up, and every handler process is gone.
func TestReadinessGivesUp(t *testing.T) {
	t.Parallel()
	c := newControl(t)
	_, err := startProbeErr(t, c, func(o *Options) {
		o.Settings["PROBE_NEVER_LISTEN"] = "1"
		o.Settings["PROBE_ANNOUNCE"] = c.URL() + "/announce"
		o.ReadyTimeout = 300 * time.Millisecond
	})
	if !errors.Is(err, ErrRestartLimit) || !strings.Contains(err.Error(), "initializing HttpWorker timed out") {
		t.Fatalf("Start error = %v, want the restart limit after start timeouts", err)
	}
	pids := c.PIDs()
	if len(pids) != 3 {
		t.Errorf("handler started %d times, want 3", len(pids))
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("handler pid %d still exists (kill -0: %v)", pid, err)
		}
	}
}

// TestExitBeforeReadyShowsTheHandlersOutput: a handler that exits at start (a configuration it refuses) is
// restarted until the limit, and the host's error quotes the handler's own last lines, not just its exit code.
func TestExitBeforeReadyShowsTheHandlersOutput(t *testing.T) {
	t.Parallel()
	c := newControl(t)
	const msg = `{"level":"ERROR","msg":"configuration is invalid","error":"setting KEY_VAULT_URL: required"}`
	_, err := startProbeErr(t, c, func(o *Options) { o.Settings["PROBE_FAIL_AT_START"] = msg })
	var exit *ExitedBeforeReadyError
	if !errors.Is(err, ErrRestartLimit) || !errors.As(err, &exit) {
		t.Fatalf("Start error = %v, want the restart limit after exits before ready", err)
	}
	if exit.Status != "exit code 2" || !strings.HasSuffix(exit.Output, msg) || !strings.Contains(exit.Output, "probe starting") {
		t.Errorf("exit = %+v, want exit code 2 and the probe's two lines", exit)
	}
	if !strings.Contains(err.Error(), "setting KEY_VAULT_URL: required") {
		t.Errorf("the error does not quote the handler: %v", err)
	}
}

// TestHandlerRestarts: the host restarts a handler that was killed or exited mid-invocation; the invocation that
// was running fails; after three failures within the window the host gives up.
func TestHandlerRestarts(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	c.setRespond(func(_ context.Context, pc probeCall) instruction {
		if pc.Function == "TimerFast" {
			return instruction{Exit: ptrTo(7)}
		}
		return okReply()
	})
	h := startProbe(t, c, nil)
	steps := []struct {
		name  string
		crash func(t *testing.T)
		want  Exit
	}{
		{"killed", func(t *testing.T) {
			if err := h.Kill(); err != nil {
				t.Fatal(err)
			}
		}, Exit{Code: -1, Signal: syscall.SIGKILL}},
		{"exits mid-invocation", func(t *testing.T) {
			inv, err := h.Timer(ctx, "TimerFast", nil)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Succeeded() || !strings.Contains(inv.Failure, "exited") {
				t.Errorf("invocation during the exit: succeeded=%v failure=%q", inv.Succeeded(), inv.Failure)
			}
		}, Exit{Code: 7}},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := h.PID()
			st.crash(t)
			if err := h.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			if after := h.PID(); after == before || after == 0 {
				t.Errorf("pid %d → %d, want a new handler", before, after)
			}
			exits := h.Exits()
			if len(exits) != i+1 {
				t.Fatalf("exits = %+v", exits)
			}
			got := exits[i]
			if got.PID != before || got.Code != st.want.Code || got.Signal != st.want.Signal || got.Expected || got.Err == nil {
				t.Errorf("exit = %+v, want code %d signal %v unexpected", got, st.want.Code, st.want.Signal)
			}
			inv, err := h.Timer(ctx, "TimerNoMonitor", nil)
			if err != nil || !inv.Succeeded() {
				t.Fatalf("after restart: %v %+v", err, inv)
			}
		})
	}
	t.Run("third failure shuts the host down", func(t *testing.T) {
		if err := h.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := h.WaitReady(ctx); !errors.Is(err, ErrRestartLimit) {
			t.Fatalf("WaitReady = %v, want ErrRestartLimit", err)
		}
		if !errors.Is(h.Err(), ErrRestartLimit) {
			t.Errorf("Err() = %v", h.Err())
		}
		inv, err := h.Timer(ctx, "TimerNoMonitor", nil)
		if err != nil || inv.Succeeded() || !strings.Contains(inv.Failure, "restart retry count") {
			t.Errorf("invocation after shutdown: %v %+v", err, inv)
		}
	})
}

// TestStopDrainsInFlightInvocation: Stop sends SIGTERM; the handler refuses new connections, finishes the running
// invocation, and exits 0, which Stop reports.
func TestStopDrainsInFlightInvocation(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	release := make(chan struct{})
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		select {
		case <-release:
		case <-rctx.Done():
		}
		return replyWith(nil, "finished after SIGTERM")
	})
	h := startProbe(t, c, nil)
	addr := h.HandlerAddr()
	invDone := make(chan *Invocation, 1)
	go func() {
		inv, _ := h.Timer(ctx, "TimerNoMonitor", nil)
		invDone <- inv
	}()
	c.waitCalls(t, ctx, 1)
	stopDone := make(chan error, 1)
	go func() { stopDone <- h.Stop(ctx) }()
	waitRefused(t, ctx, addr)
	select {
	case inv := <-invDone:
		t.Fatalf("invocation ended before it was released: %+v", inv)
	default:
	}
	// The host takes no new invocations once it is stopping.
	res, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/HttpAnon"})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 500 || res.Invocation == nil || !strings.Contains(res.Invocation.Failure, "host stopped") {
		t.Errorf("request while stopping: %d %+v", res.StatusCode, res.Invocation)
	}
	if n := len(c.Calls()); n != 1 {
		t.Errorf("handler called %d times, want only the in-flight invocation", n)
	}
	close(release)
	inv := <-invDone
	if inv == nil || !inv.Succeeded() || len(inv.Logs) != 1 {
		t.Fatalf("in-flight invocation = %+v, want success", inv)
	}
	if err := <-stopDone; err != nil {
		t.Fatalf("Stop = %v, want a clean exit", err)
	}
	exits := h.Exits()
	if len(exits) != 1 || exits[0].Code != 0 || !exits[0].Expected || exits[0].Err != nil {
		t.Errorf("exits = %+v, want one expected exit with code 0", exits)
	}
}

// waitRefused dials addr until the connection is refused.
func waitRefused(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
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

// TestFunctionTimeout: host.json functionTimeout cancels a hanging invocation and fails it.
func TestFunctionTimeout(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		<-rctx.Done() // until the host gives up
		return okReply()
	})
	app := probeVariant(t, func(host map[string]any) { host["functionTimeout"] = "00:00:01" })
	h := startProbe(t, c, func(o *Options) { o.AppRoot = app })
	inv, err := h.Timer(ctx, "TimerNoMonitor", nil)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Succeeded() || !inv.TimedOut || !strings.Contains(inv.Failure, "Timeout value of 00:00:01 exceeded") {
		t.Errorf("invocation = succeeded %v timedOut %v %q", inv.Succeeded(), inv.TimedOut, inv.Failure)
	}
}

// TestFrontEndTimeout: an HTTP response slower than the front-end cap is cut; the invocation itself goes on.
func TestFrontEndTimeout(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	release := make(chan struct{})
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		select {
		case <-release:
		case <-rctx.Done():
		}
		return replyWith(map[string]any{"res": map[string]any{"body": "late"}})
	})
	h := startProbe(t, c, func(o *Options) { o.FrontEndTimeout = 200 * time.Millisecond })
	res, err := h.HTTP(ctx, &HTTPRequest{Path: "/api/HttpAnon"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.FrontEndTimeout || res.StatusCode != 500 || res.Invocation != nil {
		t.Errorf("result = %d frontEndTimeout=%v", res.StatusCode, res.FrontEndTimeout)
	}
	close(release)
	invs, err := h.WaitInvocations(ctx, "HttpAnon", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !invs[0].Succeeded() || string(invs[0].HTTPResponse.Body) != "late" {
		t.Errorf("the cut invocation = %+v", invs[0])
	}
}

// TestStartRefusesUnsupportedApps: forwarding and proxying modes, a missing %setting%, and the repository layout
// (functions/ subfolder) are refused with a clear error.
func TestStartRefusesUnsupportedApps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		app  func(t *testing.T) string
		mod  func(o *Options)
		want string
	}{
		{"forwarding", func(t *testing.T) string {
			return probeVariant(t, func(h map[string]any) { h["customHandler"].(map[string]any)["enableForwardingHttpRequest"] = true })
		}, nil, "enableForwardingHttpRequest"},
		{"proxying", func(t *testing.T) string {
			return probeVariant(t, func(h map[string]any) { h["customHandler"].(map[string]any)["enableProxyingHttpRequest"] = true })
		}, nil, "proxying"},
		{"missing setting", func(t *testing.T) string { return probeRoot }, func(o *Options) { delete(o.Settings, "PROBE_QUEUE") }, "PROBE_QUEUE not found"},
		{"repository layout", func(t *testing.T) string {
			dir := t.TempDir()
			b, _ := os.ReadFile(filepath.Join(probeRoot, "host.json"))
			_ = os.WriteFile(filepath.Join(dir, "host.json"), b, 0o644)
			_ = os.MkdirAll(filepath.Join(dir, "functions", "Timer"), 0o755)
			return dir
		}, nil, "does not look inside functions/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newControl(t)
			app := tc.app(t)
			_, err := startProbeErr(t, c, func(o *Options) {
				o.AppRoot = app
				if tc.mod != nil {
					tc.mod(o)
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestRestartIsNotAFailure: a requested restart drains the handler (exit 0) and starts a new one without counting
// against the restart limit.
func TestRestartIsNotAFailure(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	h := startProbe(t, c, nil)
	for i := range DefaultRestartLimit + 1 {
		before := h.PID()
		if err := h.Restart(ctx); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		if after := h.PID(); after == before || after == 0 {
			t.Fatalf("restart %d: pid %d → %d", i+1, before, after)
		}
		inv, err := h.Timer(ctx, "TimerNoMonitor", nil)
		if err != nil || !inv.Succeeded() {
			t.Fatalf("after restart %d: %v %+v", i+1, err, inv)
		}
	}
	if h.Err() != nil {
		t.Errorf("Err() = %v after requested restarts", h.Err())
	}
	for _, ex := range h.Exits() {
		if !ex.Expected || ex.Code != 0 || ex.Err != nil {
			t.Errorf("exit %+v, want expected with code 0", ex)
		}
	}
	if n := len(h.Exits()); n != DefaultRestartLimit+1 {
		t.Errorf("%d exits, want %d", n, DefaultRestartLimit+1)
	}
}
