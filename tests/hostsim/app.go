package hostsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// App is a function app folder as the host reads it: host.json at the root and one folder per function holding a
// function.json.
type App struct {
	// Root is the app root (the host's script root).
	Root string
	// Host is the parsed host.json.
	Host HostConfig
	// Functions are the functions found, sorted by name.
	Functions []*Function
}

// HostConfig is the part of host.json the simulator acts on.
type HostConfig struct {
	// Executable is customHandler.description.defaultExecutablePath with %Setting% expanded.
	Executable string
	// Arguments are the executable's arguments: arguments, then defaultWorkerPath and workerArguments.
	Arguments []string
	// WorkingDirectory is the handler's working directory (the app root unless host.json says otherwise).
	WorkingDirectory string
	// FunctionTimeout bounds every invocation; 0 means unbounded (host.json "-1"). Without the setting it is the
	// Flex Consumption default, DefaultFunctionTimeout.
	FunctionTimeout time.Duration
	// FunctionTimeoutSet reports that host.json sets functionTimeout; the host's HTTP client to the handler only
	// has a timeout (functionTimeout + 1 min) then.
	FunctionTimeoutSet bool
	// RoutePrefix is extensions.http.routePrefix ("api" by default, "" when set to the empty string).
	RoutePrefix string
	// Queues holds extensions.queues with defaults applied.
	Queues QueueSettings
	// InitializationTimeout is customHandler.description.initializationTimeout when set (0 otherwise).
	InitializationTimeout time.Duration
	// EventHubs holds extensions.eventHubs with defaults applied.
	EventHubs EventHubSettings
}

// EventHubSettings are host.json extensions.eventHubs with the Event Hubs extension's (v6) defaults
// (reference/eventhub.md §3.3).
type EventHubSettings struct {
	// MaxEventBatchSize is the most events one invocation gets (100).
	MaxEventBatchSize int
	// BatchCheckpointFrequency is how many batches pass between checkpoints (1).
	BatchCheckpointFrequency int
	// InitialOffset is where a partition without a checkpoint starts: "fromStart" (default) or "fromEnd";
	// "fromEnqueuedTime" starts at InitialEnqueuedTime.
	InitialOffset       string
	InitialEnqueuedTime time.Time
}

// QueueSettings are host.json extensions.queues with the Storage Queues extension's defaults.
type QueueSettings struct {
	MaxPollingInterval time.Duration
	VisibilityTimeout  time.Duration
	BatchSize          int
	NewBatchThreshold  int
	MaxDequeueCount    int
	// MessageEncoding is "base64" (default) or "none".
	MessageEncoding string
}

// DefaultFunctionTimeout is the Flex Consumption default used when host.json sets no functionTimeout.
const DefaultFunctionTimeout = 30 * time.Minute

// Function is one function folder.
type Function struct {
	// Name is the folder name, which is also the invocation path POST /{Name}.
	Name string
	// Trigger is the function's single trigger binding.
	Trigger *Binding
	// Outputs are the output bindings, in function.json order.
	Outputs []*Binding
	// Disabled reports "disabled": true in function.json.
	Disabled bool
	// Retry is the function's retry policy (function.json "retry"), nil without one.
	Retry *RetryPolicy
}

// RetryPolicy is a function's retry policy (reference/eventhub.md §3.5, Learn "Azure Functions error handling and
// retries"): the runtime runs a failed execution again until it succeeds or MaxRetryCount retries are spent (-1:
// indefinitely). The Event Hubs trigger does not checkpoint while the policy runs.
type RetryPolicy struct {
	// Strategy is "fixedDelay" or "exponentialBackoff".
	Strategy      string
	MaxRetryCount int
	// DelayInterval is fixedDelay's delay; MinimumInterval and MaximumInterval bound exponentialBackoff's.
	DelayInterval, MinimumInterval, MaximumInterval time.Duration
}

// Delay is the wait before retry number n (1 for the first retry): the fixed delay, or the minimum doubled per
// retry up to the maximum.
func (p *RetryPolicy) Delay(n int) time.Duration {
	if p.Strategy == "fixedDelay" {
		return p.DelayInterval
	}
	d := p.MinimumInterval
	for i := 1; i < n && d < p.MaximumInterval; i++ {
		d *= 2
	}
	return min(d, p.MaximumInterval)
}

// Binding is one entry of function.json "bindings", with %Setting% tokens resolved.
type Binding struct {
	Type      string `json:"type"`
	Direction string `json:"direction"`
	Name      string `json:"name"`
	DataType  string `json:"dataType"`

	// Timer trigger.
	Schedule     string `json:"schedule"`
	RunOnStartup bool   `json:"runOnStartup"`
	UseMonitor   *bool  `json:"useMonitor"`

	// HTTP trigger.
	AuthLevel string   `json:"authLevel"`
	Methods   []string `json:"methods"`
	Route     string   `json:"route"`

	// Queue trigger and output; Event Hub trigger.
	QueueName     string `json:"queueName"`
	Connection    string `json:"connection"`
	EventHubName  string `json:"eventHubName"`
	ConsumerGroup string `json:"consumerGroup"`
	Cardinality   string `json:"cardinality"`
}

// Binding and trigger type names as function.json spells them.
const (
	TypeTimer    = "timerTrigger"
	TypeHTTP     = "httpTrigger"
	TypeHTTPOut  = "http"
	TypeQueue    = "queueTrigger"
	TypeQueueOut = "queue"
	TypeEventHub = "eventHubTrigger"
)

// Function returns the function with the given name (matched case-insensitively, as the host routes).
func (a *App) Function(name string) (*Function, bool) {
	for _, f := range a.Functions {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return nil, false
}

// LoadApp reads host.json and every <root>/<Name>/function.json, resolving %Setting% tokens from settings.
func LoadApp(root string, settings map[string]string) (*App, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	app := &App{Root: root}
	if err := app.loadHost(settings); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(root, e.Name(), "function.json")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		fn, err := loadFunction(e.Name(), path, settings)
		if err != nil {
			return nil, err
		}
		app.Functions = append(app.Functions, fn)
	}
	if len(app.Functions) == 0 {
		msg := fmt.Sprintf("no function folders (<name>/function.json) in app root %s", root)
		if _, err := os.Stat(filepath.Join(root, "functions")); err == nil {
			// The repository keeps its function folders under functions/, but the host only reads immediate
			// subfolders of the app root; the deployable zip puts them there.
			msg += "; the host does not look inside functions/ — build the deployable layout with BuildApp"
		}
		return nil, errors.New(msg)
	}
	slices.SortFunc(app.Functions, func(a, b *Function) int { return strings.Compare(a.Name, b.Name) })
	return app, nil
}

func (a *App) loadHost(settings map[string]string) error {
	path := filepath.Join(a.Root, "host.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read host.json: %w", err)
	}
	var raw struct {
		Version         string         `json:"version"`
		FunctionTimeout *string        `json:"functionTimeout"`
		CustomHandler   *customHandler `json:"customHandler"`
		HTTPWorker      *customHandler `json:"httpWorker"`
		Extensions      struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
			EventHubs struct {
				MaxEventBatchSize        *int `json:"maxEventBatchSize"`
				BatchCheckpointFrequency *int `json:"batchCheckpointFrequency"`
				InitialOffsetOptions     struct {
					Type            string `json:"type"`
					EnqueuedTimeUTC string `json:"enqueuedTimeUtc"`
				} `json:"initialOffsetOptions"`
			} `json:"eventHubs"`
			Queues struct {
				MaxPollingInterval string `json:"maxPollingInterval"`
				VisibilityTimeout  string `json:"visibilityTimeout"`
				BatchSize          *int   `json:"batchSize"`
				NewBatchThreshold  *int   `json:"newBatchThreshold"`
				MaxDequeueCount    *int   `json:"maxDequeueCount"`
				MessageEncoding    string `json:"messageEncoding"`
			} `json:"queues"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("host.json: %w", err)
	}
	if raw.Version != "2.0" {
		return fmt.Errorf("host.json: version %q, want \"2.0\"", raw.Version)
	}
	// customHandler wins over the deprecated httpWorker section.
	ch := raw.CustomHandler
	if ch == nil {
		ch = raw.HTTPWorker
	}
	if ch == nil {
		return errors.New("host.json: no customHandler section")
	}
	if err := ch.refuseUnsupportedModes(); err != nil {
		return err
	}
	h := &a.Host
	d := ch.Description
	exe := d.DefaultExecutablePath
	if exe == "" {
		return errors.New("host.json: customHandler.description.defaultExecutablePath is empty")
	}
	h.Executable = expandPercent(exe, settings)
	for _, arg := range d.Arguments {
		h.Arguments = append(h.Arguments, expandPercent(arg, settings))
	}
	if d.DefaultWorkerPath != "" {
		h.Arguments = append(h.Arguments, expandPercent(d.DefaultWorkerPath, settings))
	}
	for _, arg := range d.WorkerArguments {
		h.Arguments = append(h.Arguments, expandPercent(arg, settings))
	}
	h.WorkingDirectory = a.Root
	if wd := expandPercent(d.WorkingDirectory, settings); wd != "" {
		if filepath.IsAbs(wd) {
			h.WorkingDirectory = wd
		} else {
			h.WorkingDirectory = filepath.Join(a.Root, wd)
		}
	}
	if d.InitializationTimeout != "" {
		// (unverified) The description section is bound onto HttpWorkerOptions, so this is probably honoured.
		if h.InitializationTimeout, err = ParseTimeSpan(d.InitializationTimeout); err != nil {
			return fmt.Errorf("host.json: customHandler.description.initializationTimeout: %w", err)
		}
	}

	h.FunctionTimeout = DefaultFunctionTimeout
	if raw.FunctionTimeout != nil {
		h.FunctionTimeoutSet = true
		switch ft := strings.TrimSpace(*raw.FunctionTimeout); ft {
		case "-1":
			h.FunctionTimeout = 0
		default:
			if h.FunctionTimeout, err = ParseTimeSpan(ft); err != nil {
				return fmt.Errorf("host.json: functionTimeout: %w", err)
			}
		}
	}
	h.RoutePrefix = "api"
	if p := raw.Extensions.HTTP.RoutePrefix; p != nil {
		h.RoutePrefix = strings.Trim(*p, "/")
	}

	q := raw.Extensions.Queues
	// Defaults of the Storage Queues extension (v5): poll up to once a minute, release failed messages at once,
	// 16 messages per batch, fetch more when half are done, poison after 5 attempts, base64 messages.
	h.Queues = QueueSettings{MaxPollingInterval: time.Minute, BatchSize: 16, MaxDequeueCount: 5, MessageEncoding: "base64"}
	if q.MaxPollingInterval != "" {
		if h.Queues.MaxPollingInterval, err = ParseTimeSpan(q.MaxPollingInterval); err != nil {
			return fmt.Errorf("host.json: extensions.queues.maxPollingInterval: %w", err)
		}
	}
	if q.VisibilityTimeout != "" {
		if h.Queues.VisibilityTimeout, err = ParseTimeSpan(q.VisibilityTimeout); err != nil {
			return fmt.Errorf("host.json: extensions.queues.visibilityTimeout: %w", err)
		}
	}
	if q.BatchSize != nil {
		if *q.BatchSize < 1 || *q.BatchSize > 32 {
			return fmt.Errorf("host.json: extensions.queues.batchSize %d: must be 1–32", *q.BatchSize)
		}
		h.Queues.BatchSize = *q.BatchSize
	}
	h.Queues.NewBatchThreshold = h.Queues.BatchSize / 2
	if q.NewBatchThreshold != nil {
		h.Queues.NewBatchThreshold = *q.NewBatchThreshold
	}
	if q.MaxDequeueCount != nil {
		if *q.MaxDequeueCount < 1 {
			return fmt.Errorf("host.json: extensions.queues.maxDequeueCount %d: must be at least 1", *q.MaxDequeueCount)
		}
		h.Queues.MaxDequeueCount = *q.MaxDequeueCount
	}
	switch enc := strings.ToLower(q.MessageEncoding); enc {
	case "", "base64":
	case "none":
		h.Queues.MessageEncoding = "none"
	default:
		return fmt.Errorf("host.json: extensions.queues.messageEncoding %q: want base64 or none", q.MessageEncoding)
	}

	eh := raw.Extensions.EventHubs
	h.EventHubs = EventHubSettings{MaxEventBatchSize: 100, BatchCheckpointFrequency: 1, InitialOffset: "fromStart"}
	if eh.MaxEventBatchSize != nil {
		if *eh.MaxEventBatchSize < 1 {
			return fmt.Errorf("host.json: extensions.eventHubs.maxEventBatchSize %d: must be at least 1", *eh.MaxEventBatchSize)
		}
		h.EventHubs.MaxEventBatchSize = *eh.MaxEventBatchSize
	}
	if eh.BatchCheckpointFrequency != nil {
		if *eh.BatchCheckpointFrequency < 1 {
			return fmt.Errorf("host.json: extensions.eventHubs.batchCheckpointFrequency %d: must be at least 1", *eh.BatchCheckpointFrequency)
		}
		h.EventHubs.BatchCheckpointFrequency = *eh.BatchCheckpointFrequency
	}
	switch o := eh.InitialOffsetOptions; strings.ToLower(o.Type) {
	case "", "fromstart":
	case "fromend":
		h.EventHubs.InitialOffset = "fromEnd"
	case "fromenqueuedtime":
		t, err := time.Parse(time.RFC3339, o.EnqueuedTimeUTC)
		if err != nil {
			return fmt.Errorf("host.json: extensions.eventHubs.initialOffsetOptions.enqueuedTimeUtc %q: %w", o.EnqueuedTimeUTC, err)
		}
		h.EventHubs.InitialOffset, h.EventHubs.InitialEnqueuedTime = "fromEnqueuedTime", t
	default:
		return fmt.Errorf("host.json: extensions.eventHubs.initialOffsetOptions.type %q: want fromStart, fromEnd or fromEnqueuedTime", o.Type)
	}
	return nil
}

type customHandler struct {
	Description struct {
		DefaultExecutablePath string   `json:"defaultExecutablePath"`
		DefaultWorkerPath     string   `json:"defaultWorkerPath"`
		Arguments             []string `json:"arguments"`
		WorkerArguments       []string `json:"workerArguments"`
		WorkingDirectory      string   `json:"workingDirectory"`
		InitializationTimeout string   `json:"initializationTimeout"`
	} `json:"description"`
	EnableForwardingHTTPRequest bool   `json:"enableForwardingHttpRequest"`
	EnableProxyingHTTPRequest   bool   `json:"enableProxyingHttpRequest"`
	ConfigurationProfile        string `json:"configurationProfile"`
	HTTP                        *struct {
		EnableProxying bool `json:"enableProxying"`
	} `json:"http"`
}

// ErrUnsupportedMode is returned (wrapped) by Start for host.json settings that switch HTTP functions to the
// forwarding or proxying protocols, which the simulator does not implement.
var ErrUnsupportedMode = errors.New("unsupported custom handler mode")

func (c *customHandler) refuseUnsupportedModes() error {
	switch {
	case c.EnableForwardingHTTPRequest:
		return fmt.Errorf("%w: host.json customHandler.enableForwardingHttpRequest is true; hostsim implements payload mode only", ErrUnsupportedMode)
	case c.EnableProxyingHTTPRequest, c.HTTP != nil && c.HTTP.EnableProxying:
		return fmt.Errorf("%w: host.json enables HTTP proxying; hostsim implements payload mode only", ErrUnsupportedMode)
	case c.ConfigurationProfile != "":
		return fmt.Errorf("%w: host.json customHandler.configurationProfile %q turns on proxying; hostsim implements payload mode only", ErrUnsupportedMode, c.ConfigurationProfile)
	}
	return nil
}

func loadFunction(name, path string, settings map[string]string) (*Function, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Disabled json.RawMessage `json:"disabled"`
		Bindings []*Binding      `json:"bindings"`
		Retry    *struct {
			Strategy        string `json:"strategy"`
			MaxRetryCount   *int   `json:"maxRetryCount"`
			DelayInterval   string `json:"delayInterval"`
			MinimumInterval string `json:"minimumInterval"`
			MaximumInterval string `json:"maximumInterval"`
		} `json:"retry"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fn := &Function{Name: name}
	if r := raw.Retry; r != nil {
		p, err := retryPolicy(r.Strategy, r.MaxRetryCount, r.DelayInterval, r.MinimumInterval, r.MaximumInterval)
		if err != nil {
			return nil, fmt.Errorf("%s: retry: %w", path, err)
		}
		fn.Retry = p
	}
	if d := strings.Trim(string(raw.Disabled), `" `); strings.EqualFold(d, "true") {
		fn.Disabled = true
	}
	for i, bd := range raw.Bindings {
		where := fmt.Sprintf("%s: bindings[%d] (%s)", path, i, bd.Name)
		if bd.Name == "" || bd.Type == "" {
			return nil, fmt.Errorf("%s: binding needs a name and a type", where)
		}
		// The host resolves %Setting% tokens in these properties (INameResolver / [AutoResolve]).
		for _, p := range []*string{&bd.Schedule, &bd.QueueName, &bd.EventHubName, &bd.ConsumerGroup} {
			if *p, err = resolvePercent(*p, settings); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		dir := strings.ToLower(bd.Direction)
		isTrigger := strings.HasSuffix(strings.ToLower(bd.Type), "trigger")
		switch {
		case isTrigger:
			if fn.Trigger != nil {
				return nil, fmt.Errorf("%s: a function has exactly one trigger", where)
			}
			if dir != "in" {
				return nil, fmt.Errorf("%s: a trigger's direction must be \"in\"", where)
			}
			if err := checkTrigger(bd); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			fn.Trigger = bd
		case dir == "out":
			switch bd.Type {
			case TypeHTTPOut:
			case TypeQueueOut:
				if bd.QueueName == "" {
					return nil, fmt.Errorf("%s: queue output needs queueName", where)
				}
			default:
				return nil, fmt.Errorf("%s: output binding type %q is not simulated (http and queue are)", where, bd.Type)
			}
			fn.Outputs = append(fn.Outputs, bd)
		default:
			return nil, fmt.Errorf("%s: input binding type %q is not simulated", where, bd.Type)
		}
	}
	if fn.Trigger == nil {
		return nil, fmt.Errorf("%s: no trigger binding", path)
	}
	return fn, nil
}

func checkTrigger(b *Binding) error {
	switch b.Type {
	case TypeTimer:
		if b.Schedule == "" {
			return errors.New("timer trigger needs a schedule")
		}
		if _, err := ParseSchedule(b.Schedule); err != nil {
			return err
		}
	case TypeHTTP:
		switch strings.ToLower(b.AuthLevel) {
		case "", "anonymous", "function", "admin":
		default:
			return fmt.Errorf("authLevel %q: want anonymous, function or admin", b.AuthLevel)
		}
		if _, err := parseRoute(b.Route); err != nil {
			return err
		}
	case TypeQueue:
		if b.QueueName == "" {
			return errors.New("queue trigger needs queueName")
		}
	case TypeEventHub:
	default:
		return fmt.Errorf("trigger type %q is not simulated", b.Type)
	}
	switch strings.ToLower(b.DataType) {
	case "", "string", "binary", "stream":
	default:
		return fmt.Errorf("dataType %q: want string, binary or stream", b.DataType)
	}
	return nil
}

// retryPolicy checks function.json "retry" as the runtime documents it: strategy and maxRetryCount required,
// intervals as HH:mm:ss, the ones of the other strategy absent.
func retryPolicy(strategy string, maxRetries *int, delay, minimum, maximum string) (*RetryPolicy, error) {
	if maxRetries == nil {
		return nil, errors.New("maxRetryCount is required")
	}
	if *maxRetries < -1 {
		return nil, fmt.Errorf("maxRetryCount %d: want -1 (indefinitely) or more", *maxRetries)
	}
	p := &RetryPolicy{Strategy: strategy, MaxRetryCount: *maxRetries}
	var err error
	switch strategy {
	case "fixedDelay":
		if minimum != "" || maximum != "" {
			return nil, errors.New("fixedDelay takes delayInterval, not minimumInterval/maximumInterval")
		}
		if p.DelayInterval, err = ParseTimeSpan(delay); err != nil {
			return nil, fmt.Errorf("delayInterval: %w", err)
		}
	case "exponentialBackoff":
		if delay != "" {
			return nil, errors.New("exponentialBackoff takes minimumInterval and maximumInterval, not delayInterval")
		}
		if p.MinimumInterval, err = ParseTimeSpan(minimum); err != nil {
			return nil, fmt.Errorf("minimumInterval: %w", err)
		}
		if p.MaximumInterval, err = ParseTimeSpan(maximum); err != nil {
			return nil, fmt.Errorf("maximumInterval: %w", err)
		}
		if p.MinimumInterval <= 0 || p.MaximumInterval < p.MinimumInterval {
			return nil, fmt.Errorf("intervals %s..%s: want 0 < minimum <= maximum", minimum, maximum)
		}
	default:
		return nil, fmt.Errorf("strategy %q: want fixedDelay or exponentialBackoff", strategy)
	}
	return p, nil
}

var percentToken = regexp.MustCompile(`%([^%]+)%`)

// resolvePercent replaces %Name% with the app setting Name; an unknown setting is an error, as the host refuses to
// index such a function.
func resolvePercent(s string, settings map[string]string) (string, error) {
	var missing []string
	out := percentToken.ReplaceAllStringFunc(s, func(tok string) string {
		name := tok[1 : len(tok)-1]
		if v, ok := lookupSetting(settings, name); ok {
			return v
		}
		missing = append(missing, name)
		return tok
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%q: app setting %s not found", s, strings.Join(missing, ", "))
	}
	return out, nil
}

// expandPercent expands %Name% from the settings and the environment like .NET's
// Environment.ExpandEnvironmentVariables: unknown names stay as they are.
func expandPercent(s string, settings map[string]string) string {
	return percentToken.ReplaceAllStringFunc(s, func(tok string) string {
		if v, ok := lookupSetting(settings, tok[1:len(tok)-1]); ok {
			return v
		}
		return tok
	})
}

func lookupSetting(settings map[string]string, name string) (string, bool) {
	if v, ok := settings[name]; ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// resolveExecutable finds the handler binary: a relative path is taken from the app root if the file exists
// there, otherwise looked up on PATH (HttpWorkerDescription.ApplyDefaultsAndValidate).
func (a *App) resolveExecutable() (string, error) {
	exe := a.Host.Executable
	if filepath.IsAbs(exe) {
		return exe, nil
	}
	local := filepath.Join(a.Root, exe)
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	p, err := exec.LookPath(exe)
	if err != nil {
		return "", fmt.Errorf("handler executable %q is neither in %s nor on PATH: %w", exe, a.Root, err)
	}
	return p, nil
}

// ParseTimeSpan parses a .NET TimeSpan as host.json writes it: [d.]hh:mm:ss[.fffffff].
func ParseTimeSpan(s string) (time.Duration, error) {
	bad := fmt.Errorf("not a TimeSpan ([d.]hh:mm:ss[.f]): %q", s)
	rest := strings.TrimSpace(s)
	days := 0
	if dot, colon := strings.IndexByte(rest, '.'), strings.IndexByte(rest, ':'); dot >= 0 && colon >= 0 && dot < colon {
		d, err := strconv.Atoi(rest[:dot])
		if err != nil || d < 0 {
			return 0, bad
		}
		days, rest = d, rest[dot+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, bad
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	secs, frac, _ := strings.Cut(parts[2], ".")
	sec, err3 := strconv.Atoi(secs)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59 {
		return 0, bad
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	if frac != "" {
		if len(frac) > 7 || strings.Trim(frac, "0123456789") != "" {
			return 0, bad
		}
		n, _ := strconv.Atoi((frac + "0000000")[:7])
		d += time.Duration(n) * 100 * time.Nanosecond
	}
	return d, nil
}

// HTTPPath returns the URL path template of an HTTP-triggered function, route prefix included (e.g. /api/status
// or /api/integrations/{id?}/{action?}); "" for other triggers.
func (a *App) HTTPPath(fn *Function) string {
	if fn.Trigger.Type != TypeHTTP {
		return ""
	}
	route := strings.Trim(fn.Trigger.Route, "/")
	if route == "" {
		route = fn.Name
	}
	if a.Host.RoutePrefix == "" {
		return "/" + route
	}
	return "/" + a.Host.RoutePrefix + "/" + route
}
