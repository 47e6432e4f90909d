package hostsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/entra-di/edi/tests/internal/proc"
)

// Defaults of the host's worker management (reference §1).
const (
	// DefaultHostVersion is the host version the simulator announces.
	DefaultHostVersion = "4.1041.200.0"
	// DefaultReadyTimeout is HttpWorkerOptions.InitializationTimeout.
	DefaultReadyTimeout = 30 * time.Second
	// ReadyPollInterval is how often the host probes GET / while the handler starts.
	ReadyPollInterval = 25 * time.Millisecond
	// DefaultRestartLimit errors within DefaultRestartWindow make the host give up on the handler.
	DefaultRestartLimit  = 3
	DefaultRestartWindow = 30 * time.Minute
	// DefaultFrontEndTimeout is the front-end load balancer's cap on an HTTP response.
	DefaultFrontEndTimeout = 230 * time.Second
	// DefaultStopTimeout bounds the wait for the handler to exit after SIGTERM when the caller's context has no
	// deadline.
	DefaultStopTimeout = time.Minute
)

// Keys are the function app's keys. A function key grants the Function level to every function (like a host
// key); the master key grants Admin.
type Keys struct {
	// Function maps key names to values, e.g. {"default": "…"}.
	Function map[string]string
	// Master is the master (admin) key; "" means none.
	Master string
}

// Options configure Start.
type Options struct {
	// AppRoot is the function app folder (host.json, <Name>/function.json, the handler binary).
	AppRoot string
	// Settings are the app settings; the handler sees them as environment variables on top of the inherited
	// environment, and %Name% tokens in host.json and function.json resolve against them.
	Settings map[string]string
	// NoInheritEnv starts the handler with the settings and the host's variables only.
	NoInheritEnv bool
	// Keys are the function and master keys for HTTP functions.
	Keys Keys
	// Now is the host's clock: sys.UtcNow, timer schedules and status, queue metadata times. Tests pass a
	// simulated clock they advance by days. Default time.Now.
	Now func() time.Time
	// Form selects the wire form of Data and Metadata values (SourceForm by default).
	Form Form
	// StorageConnectionString is the storage account the host's queue triggers and outputs use. Default: the
	// connection setting of each binding (AzureWebJobsStorage). A `UseDevelopmentStorage=true` value is replaced
	// by DevelopmentStorage, since the Go SDKs reject the shortcut.
	StorageConnectionString string
	// DevelopmentStorage is the explicit connection string that stands for UseDevelopmentStorage=true; default
	// Azurite on its standard ports 10000–10002.
	DevelopmentStorage string
	// Output receives the handler's stdout and stderr; nil discards them (HandlerOutput still keeps them).
	Output io.Writer
	// Log receives the host's own log lines (invocations, Logs from replies, restarts); nil discards them.
	Log io.Writer
	// ReadyTimeout bounds the start-up readiness probe; default host.json initializationTimeout, else 30 s.
	ReadyTimeout time.Duration
	// RestartLimit and RestartWindow: that many handler failures (exits, failed starts) within the window shut
	// the host down. Defaults 3 and 30 min.
	RestartLimit  int
	RestartWindow time.Duration
	// HostVersion is sent in X-Azure-Functions-HostVersion and User-Agent.
	HostVersion string
	// FrontEndTimeout caps HTTP responses (230 s by default).
	FrontEndTimeout time.Duration
	// HostID names this host's timer status records (default derived from the app root).
	HostID string
	// ScheduleStore keeps timer schedule status; default an in-memory store owned by this Host. Pass the same
	// store to a later Host to model a host restart after downtime.
	ScheduleStore ScheduleStore
	// TimerPollInterval is how often the scheduler reads the clock (default 50 ms).
	TimerPollInterval time.Duration
	// QueueMinPollInterval is the queue listener's shortest polling delay (default 100 ms, as the extension).
	QueueMinPollInterval time.Duration
}

// Host simulates the Azure Functions host for one custom handler.
type Host struct {
	app      *App
	opts     Options
	exe      string
	env      []string
	settings map[string]string
	now      func() time.Time
	client   *http.Client
	output   *outputBuffer
	logw     io.Writer

	lifetime context.Context
	shutdown context.CancelFunc
	logMu    sync.Mutex

	mu       sync.Mutex
	worker   *worker
	readyCh  chan struct{} // closed while a ready worker is current; replaced when it goes away
	failures []time.Time
	fatal    error // set when the host gave up on the handler
	stopping bool
	// stopCalled makes Stop idempotent; stopping is set once listeners are down and invocations are refused.
	stopCalled bool
	exits      []Exit
	nextID     int

	rec      recorder
	timers   *timerRuntime
	queues   *queueRuntime
	workerWG sync.WaitGroup
}

// Exit records one end of a handler process.
type Exit struct {
	// PID is the process id.
	PID int
	// Code is the exit code (-1 when ended by a signal) and Signal the signal, if any.
	Code   int
	Signal syscall.Signal
	// Expected is true for exits the host asked for (Stop, Restart).
	Expected bool
	// Err is what the host made of it (nil for a clean expected exit).
	Err error
}

type worker struct {
	id     int
	cmd    *exec.Cmd
	port   int
	base   string
	exited chan struct{}
	state  *os.ProcessState
	// tail keeps the end of this process's own output, for the error when it exits before it is ready.
	tail *outputBuffer

	expected bool // guarded by Host.mu
}

// Start reads the app, starts the handler as the host does and waits until it answers GET /. It restarts the
// handler whenever it exits, until the restart limit is reached.
func Start(ctx context.Context, opts Options) (*Host, error) {
	if opts.AppRoot == "" {
		return nil, errors.New("hostsim: Options.AppRoot is required")
	}
	app, err := LoadApp(opts.AppRoot, opts.Settings)
	if err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	exe, err := app.resolveExecutable()
	if err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	h := &Host{app: app, opts: opts, exe: exe, output: &outputBuffer{max: 4 << 20}}
	h.applyDefaults()
	h.lifetime, h.shutdown = context.WithCancel(context.Background())
	h.readyCh = make(chan struct{})
	h.rec.changed = make(chan struct{})
	h.settings = map[string]string{}
	for k, v := range opts.Settings {
		h.settings[k] = v
	}
	if h.timers, err = newTimerRuntime(h); err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	if h.queues, err = newQueueRuntime(h); err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	if err := h.startWithRestarts(ctx, nil); err != nil {
		h.shutdown()
		return nil, err
	}
	return h, nil
}

func (h *Host) applyDefaults() {
	o := &h.opts
	h.now = o.Now
	if h.now == nil {
		h.now = time.Now
	}
	if o.HostVersion == "" {
		o.HostVersion = DefaultHostVersion
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = h.app.Host.InitializationTimeout
		if o.ReadyTimeout <= 0 {
			o.ReadyTimeout = DefaultReadyTimeout
		}
	}
	if o.RestartLimit <= 0 {
		o.RestartLimit = DefaultRestartLimit
	}
	if o.RestartWindow <= 0 {
		o.RestartWindow = DefaultRestartWindow
	}
	if o.FrontEndTimeout <= 0 {
		o.FrontEndTimeout = DefaultFrontEndTimeout
	}
	if o.TimerPollInterval <= 0 {
		o.TimerPollInterval = 50 * time.Millisecond
	}
	if o.QueueMinPollInterval <= 0 {
		o.QueueMinPollInterval = 100 * time.Millisecond
	}
	if o.DevelopmentStorage == "" {
		o.DevelopmentStorage = developmentStorage
	}
	if o.HostID == "" {
		o.HostID = defaultHostID(h.app.Root)
	}
	h.logw = o.Log
	if h.logw == nil {
		h.logw = io.Discard
	}
	// The host's HTTP client: cookies off, redirects followed (payload mode), timeout functionTimeout + 1 min
	// (none when host.json leaves functionTimeout unset or "-1").
	var timeout time.Duration
	if ft := h.app.Host.FunctionTimeout; ft > 0 && h.app.Host.FunctionTimeoutSet {
		timeout = ft + time.Minute
	}
	h.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// App returns the app as the host read it.
func (h *Host) App() *App { return h.app }

// Now returns the host's clock.
func (h *Host) Now() time.Time { return h.now() }

// logf writes one host log line.
func (h *Host) logf(format string, args ...any) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	fmt.Fprintf(h.logw, "hostsim: "+format+"\n", args...)
}

// startWithRestarts launches workers until one is ready, counting each failure against the restart limit.
func (h *Host) startWithRestarts(ctx context.Context, cause error) error {
	if cause != nil {
		if err := h.countFailure(cause); err != nil {
			return err
		}
	}
	for {
		err := h.launch(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || h.lifetime.Err() != nil {
			return err
		}
		if ferr := h.countFailure(err); ferr != nil {
			return ferr
		}
	}
}

// ErrRestartLimit is returned (wrapped) once the handler failed RestartLimit times within RestartWindow; the host
// then shuts down, as the real one logs "Exceeded http worker restart retry count".
var ErrRestartLimit = errors.New("exceeded http worker restart retry count")

// countFailure records one handler failure; at the limit it shuts the host down and returns the fatal error.
func (h *Host) countFailure(cause error) error {
	h.mu.Lock()
	now := time.Now()
	kept := h.failures[:0]
	for _, t := range h.failures {
		if now.Sub(t) < h.opts.RestartWindow {
			kept = append(kept, t)
		}
	}
	h.failures = append(kept, now)
	n := len(h.failures)
	h.mu.Unlock()
	h.logf("handler failure %d/%d: %v", n, h.opts.RestartLimit, cause)
	if n < h.opts.RestartLimit {
		return nil
	}
	fatal := fmt.Errorf("hostsim: %w (%d failures within %s), last: %w", ErrRestartLimit, n, h.opts.RestartWindow, cause)
	h.mu.Lock()
	if h.fatal == nil {
		h.fatal = fatal
	}
	ch := h.readyCh
	h.mu.Unlock()
	h.logf("%v; host shutting down", fatal)
	h.shutdown()
	// Wake invocations waiting for a worker so they see the fatal error.
	closeOnce(ch)
	return fatal
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Err returns why the host gave up on the handler (ErrRestartLimit), or nil.
func (h *Host) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fatal
}

// launch starts one handler process and waits until it answers GET /.
func (h *Host) launch(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		return errors.New("hostsim: host is stopping")
	}
	h.nextID++
	id := h.nextID
	h.mu.Unlock()

	workerID := newGUID()
	cmd := exec.Command(h.exe, h.app.Host.Arguments...)
	cmd.Dir = h.app.Host.WorkingDirectory
	cmd.Env = h.environment(port, workerID)
	tail := &outputBuffer{max: exitOutputMax}
	out := io.MultiWriter(h.output, tail)
	if h.opts.Output != nil {
		out = io.MultiWriter(h.output, tail, h.opts.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	proc.Configure(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("hostsim: start handler %s: %w", h.exe, err)
	}
	w := &worker{id: id, cmd: cmd, port: port, base: "http://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), tail: tail}
	h.workerWG.Add(1)
	go func() {
		defer h.workerWG.Done()
		_ = cmd.Wait()
		w.state = cmd.ProcessState
		// Book the exit before anyone waiting on exited looks at the host's state.
		restart, ex := h.recordExit(w)
		close(w.exited)
		if restart {
			// Process exit disposes the worker channel and starts a new one (HttpFunctionInvocationDispatcher).
			if err := h.startWithRestarts(h.lifetime, ex.Err); err != nil {
				h.logf("restart failed: %v", err)
			}
		}
	}()
	h.logf("started handler pid %d on port %d (worker %s)", cmd.Process.Pid, port, workerID)

	if err := h.waitReady(ctx, w); err != nil {
		h.mu.Lock()
		w.expected = true // the failure is counted by the caller, not by onExit
		h.mu.Unlock()
		_ = proc.SignalGroup(cmd.Process, syscall.SIGKILL)
		<-w.exited
		return err
	}
	h.mu.Lock()
	if h.stopping {
		w.expected = true
		h.mu.Unlock()
		_ = proc.SignalGroup(cmd.Process, syscall.SIGKILL)
		<-w.exited
		return errors.New("hostsim: host is stopping")
	}
	h.worker = w
	closeOnce(h.readyCh)
	h.mu.Unlock()
	h.logf("handler pid %d ready", cmd.Process.Pid)
	return nil
}

// environment is the handler's environment: inherited variables, the app settings, then the host's variables.
func (h *Host) environment(port int, workerID string) []string {
	vars := map[string]string{}
	if !h.opts.NoInheritEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[k] = v
			}
		}
	}
	for k, v := range h.settings {
		vars[k] = v
	}
	p := strconv.Itoa(port)
	vars["FUNCTIONS_CUSTOMHANDLER_PORT"] = p
	vars["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] = workerID
	vars["FUNCTIONS_HTTPWORKER_PORT"] = p
	vars["FUNCTIONS_HTTPWORKER_ID"] = workerID
	vars["FUNCTIONS_APP_ROOT_PATH"] = h.app.Root
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// ErrNotReady is returned (wrapped) when the handler does not answer GET / within the ready timeout; the host's
// message is "Initializing HttpWorker timed out."
var ErrNotReady = errors.New("initializing HttpWorker timed out")

// waitReady probes GET / every 25 ms; any HTTP answer (404 included) means ready.
func (h *Host) waitReady(ctx context.Context, w *worker) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.ReadyTimeout)
	defer cancel()
	stop := context.AfterFunc(h.lifetime, cancel)
	defer stop()
	probe := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(ReadyPollInterval)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/", nil)
		resp, err := probe.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			h.logf("readiness probe GET / answered %d", resp.StatusCode)
			return nil
		}
		select {
		case <-w.exited:
			out := w.tail.String()
			if len(out) >= exitOutputMax { // the first line was cut
				_, out, _ = strings.Cut(out, "\n")
			}
			return &ExitedBeforeReadyError{PID: w.cmd.Process.Pid, Status: describeExit(w.state), Output: lastLines(out, exitOutputLines)}
		case <-ctx.Done():
			if h.lifetime.Err() != nil {
				return errors.New("hostsim: host is stopping")
			}
			return fmt.Errorf("hostsim: %w after %s (no answer on 127.0.0.1:%d)", ErrNotReady, h.opts.ReadyTimeout, w.port)
		case <-tick.C:
		}
	}
}

// ExitedBeforeReadyError is returned (wrapped) when the handler process ends before it answers the readiness
// probe: typically a configuration it refuses, which it names in its last output lines.
type ExitedBeforeReadyError struct {
	PID int
	// Status is how it ended ("exit code 2", "killed by signal 9 (killed)").
	Status string
	// Output is the end of what the process wrote (its last lines, at most exitOutputMax bytes), "" when nothing.
	Output string
}

// Error names the exit and quotes the handler's own last words.
func (e *ExitedBeforeReadyError) Error() string {
	msg := fmt.Sprintf("hostsim: handler pid %d exited before it was ready (%s)", e.PID, e.Status)
	if e.Output == "" {
		return msg + " without any output"
	}
	return msg + "; its output ends with:\n" + e.Output
}

// Bounds of the handler output quoted in an ExitedBeforeReadyError.
const (
	exitOutputMax   = 4 << 10
	exitOutputLines = 5
)

// lastLines returns the last n non-empty lines of s, each indented, joined by newlines.
func lastLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, "  "+l)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "unknown status"
	}
	e := proc.Exit(st)
	if e.Signal != 0 {
		return fmt.Sprintf("killed by signal %d (%s)", int(e.Signal), e.Signal)
	}
	return "exit code " + strconv.Itoa(e.Code)
}

// recordExit books the end of a handler process and reports whether the host must restart the handler (an exit
// it did not ask for).
func (h *Host) recordExit(w *worker) (bool, Exit) {
	info := proc.Exit(w.state)
	h.mu.Lock()
	expected := w.expected
	wasCurrent := h.worker == w
	if wasCurrent {
		h.worker = nil
		h.readyCh = make(chan struct{})
		if h.fatal != nil || h.stopping {
			closeOnce(h.readyCh)
		}
	}
	ex := Exit{PID: w.cmd.Process.Pid, Code: info.Code, Signal: info.Signal, Expected: expected}
	if !expected || info.Code != 0 {
		ex.Err = fmt.Errorf("handler pid %d: %s", ex.PID, describeExit(w.state))
	}
	h.exits = append(h.exits, ex)
	restart := !expected && wasCurrent && !h.stopping && h.fatal == nil
	h.mu.Unlock()
	h.logf("handler pid %d exited: %s", ex.PID, describeExit(w.state))
	return restart, ex
}

// Exits returns every handler exit so far, oldest first.
func (h *Host) Exits() []Exit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Exit(nil), h.exits...)
}

// PID returns the process id of the current handler, or 0 while none is ready.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.worker == nil {
		return 0
	}
	return h.worker.cmd.Process.Pid
}

// HandlerAddr returns the current handler's 127.0.0.1:port, or "" while none is ready.
func (h *Host) HandlerAddr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.worker == nil {
		return ""
	}
	return strings.TrimPrefix(h.worker.base, "http://")
}

// HandlerOutput returns what the handler wrote to stdout and stderr (the last 4 MiB), across restarts.
func (h *Host) HandlerOutput() string { return h.output.String() }

// WaitReady waits until a handler is ready to take invocations.
func (h *Host) WaitReady(ctx context.Context) error {
	_, err := h.readyWorker(ctx)
	return err
}

// readyWorker returns the current ready worker, waiting while the handler (re)starts.
func (h *Host) readyWorker(ctx context.Context) (*worker, error) {
	for {
		h.mu.Lock()
		w, ch, fatal, stopping := h.worker, h.readyCh, h.fatal, h.stopping
		h.mu.Unlock()
		switch {
		case fatal != nil:
			return nil, fatal
		case stopping:
			return nil, ErrStopped
		case w != nil:
			return w, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("hostsim: waiting for a ready handler: %w", ctx.Err())
		}
	}
}

// ErrStopped is returned for invocations after Stop.
var ErrStopped = errors.New("hostsim: host stopped")

// Kill ends the handler with SIGKILL, as a crash, while invocations may be running: they fail, and the host
// restarts the handler (counting the exit against the restart limit). Kill returns once the process is gone; use
// WaitReady to wait for its replacement.
func (h *Host) Kill() error {
	h.mu.Lock()
	w := h.worker
	h.mu.Unlock()
	if w == nil {
		return errors.New("hostsim: no running handler to kill")
	}
	if err := proc.SignalGroup(w.cmd.Process, syscall.SIGKILL); err != nil {
		return err
	}
	<-w.exited
	return nil
}

// Signal sends sig to the current handler process without waiting; the host treats the exit that may follow as
// unexpected (and restarts the handler) unless Stop or Restart sent it.
func (h *Host) Signal(sig syscall.Signal) error {
	h.mu.Lock()
	w := h.worker
	h.mu.Unlock()
	if w == nil {
		return errors.New("hostsim: no running handler")
	}
	return proc.Signal(w.cmd.Process, sig)
}

// Restart stops the handler gracefully (SIGTERM, in-flight invocations drain) and starts a new one, without
// counting against the restart limit; timers and queue listeners keep their state.
func (h *Host) Restart(ctx context.Context) error {
	if _, err := h.terminate(ctx); err != nil {
		return err
	}
	return h.startWithRestarts(ctx, nil)
}

// terminate sends SIGTERM to the current handler and waits for it to exit (SIGKILL when ctx ends first).
func (h *Host) terminate(ctx context.Context) (*Exit, error) {
	h.mu.Lock()
	w := h.worker
	if w != nil {
		w.expected = true
		h.worker = nil
		h.readyCh = make(chan struct{})
		if h.stopping {
			closeOnce(h.readyCh)
		}
	}
	h.mu.Unlock()
	if w == nil {
		return nil, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStopTimeout)
		defer cancel()
	}
	if err := proc.Signal(w.cmd.Process, syscall.SIGTERM); err != nil {
		return nil, err
	}
	var waitErr error
	select {
	case <-w.exited:
	case <-ctx.Done():
		waitErr = fmt.Errorf("hostsim: handler pid %d did not exit after SIGTERM: %w; killed", w.cmd.Process.Pid, ctx.Err())
		_ = proc.SignalGroup(w.cmd.Process, syscall.SIGKILL)
		<-w.exited
	}
	// Anything the handler spawned is in its process group.
	_ = proc.SignalGroup(w.cmd.Process, syscall.SIGKILL)
	info := proc.Exit(w.state)
	ex := &Exit{PID: w.cmd.Process.Pid, Code: info.Code, Signal: info.Signal, Expected: true}
	if waitErr != nil {
		return ex, waitErr
	}
	if info.Code != 0 {
		return ex, &ExitError{Exit: *ex}
	}
	return ex, nil
}

// ExitError reports a handler that did not exit with code 0 after SIGTERM.
type ExitError struct{ Exit Exit }

// Error describes how the handler ended.
func (e *ExitError) Error() string {
	if e.Exit.Signal != 0 {
		return fmt.Sprintf("hostsim: handler pid %d was killed by %s", e.Exit.PID, e.Exit.Signal)
	}
	return fmt.Sprintf("hostsim: handler pid %d exited with code %d", e.Exit.PID, e.Exit.Code)
}

// Stop shuts the host down: timers and queue listeners stop (running invocations finish), then the handler gets
// SIGTERM and Stop waits until it exits (SIGKILL when ctx ends first). It returns an *ExitError when the handler
// exits with a non-zero code. Stopping twice is harmless.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	if h.stopCalled {
		h.mu.Unlock()
		return nil
	}
	h.stopCalled = true
	h.mu.Unlock()
	h.timers.stop(ctx)
	h.queues.stop(ctx)
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	_, err := h.terminate(ctx)
	h.shutdown()
	h.mu.Lock()
	closeOnce(h.readyCh)
	h.mu.Unlock()
	h.workerWG.Wait()
	// With the handler gone every invocation still recorded as running (e.g. an HTTP call whose client gave up)
	// ends at once; wait for them so nothing is logged after Stop.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultStopTimeout)
	defer cancel()
	if _, werr := h.WaitFor(wctx, func(_ []*Invocation, inflight int) bool { return inflight == 0 }); werr != nil && err == nil {
		err = werr
	}
	h.client.CloseIdleConnections()
	return err
}

// Close stops the host within DefaultStopTimeout, ignoring the handler's exit status; for t.Cleanup.
func (h *Host) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStopTimeout)
	defer cancel()
	_ = h.Stop(ctx)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// outputBuffer keeps the last max bytes of the handler's output.
type outputBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

// Write keeps p, dropping the oldest bytes beyond max.
func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

// String returns the kept output.
func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
