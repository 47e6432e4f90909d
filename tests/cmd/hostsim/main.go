// Command hostsim runs the function app under the host simulator (tests/hostsim), as `func start` would.
//
//	hostsim serve [flags]                 start the app; HTTP front end on 127.0.0.1:7071, timers, queue listeners
//	hostsim http [flags] METHOD PATH [BODY]   send one request and print the response
//	hostsim timer [flags] FUNCTION        fire one timer function and print the outcome
//
// By default it builds ./handlers into a temporary app folder (the deployable layout), reads local.settings.json
// (or local.settings.sample.json) from the module root, and, when AzureWebJobsStorage is
// UseDevelopmentStorage=true and no Azurite listens on 127.0.0.1:10000, starts a private Azurite.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/hostsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a code without printing an error.
type exitCode int

// Error makes exitCode an error.
func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

const usage = `usage:
  hostsim serve [flags]                       run the app like "func start"
  hostsim http  [flags] METHOD PATH [BODY]    one HTTP request, e.g. hostsim http GET /api/status
  hostsim timer [flags] FUNCTION              one timer invocation, e.g. hostsim timer CollectLogs
flags:`

// config is what every subcommand needs.
type config struct {
	app       string
	settings  string
	azurite   string
	key       string
	addr      string
	verbose   bool
	pastDue   bool
	noKey     bool
	headers   headerFlags
	stdout    io.Writer
	stderr    io.Writer
	moduleDir string
}

type headerFlags []string

// String lists the headers given so far (flag.Value).
func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

// Set adds one -H value (flag.Value).
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		newFlags(&config{}, stderr).PrintDefaults()
		return flag.ErrHelp
	}
	cmd := args[0]
	cfg := &config{stdout: stdout, stderr: stderr}
	fs := newFlags(cfg, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	rest := fs.Args()
	switch cmd {
	case "serve":
		if len(rest) != 0 {
			return errors.New("serve takes no arguments")
		}
	case "http":
		if len(rest) < 2 || len(rest) > 3 {
			return errors.New("usage: hostsim http [flags] METHOD PATH [BODY]")
		}
	case "timer":
		if len(rest) != 1 {
			return errors.New("usage: hostsim timer [flags] FUNCTION")
		}
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}

	env, err := setUp(ctx, cfg)
	if err != nil {
		return err
	}
	defer env.close()
	switch cmd {
	case "serve":
		return serve(ctx, cfg, env)
	case "http":
		return oneHTTP(ctx, cfg, env, rest)
	default:
		return oneTimer(ctx, cfg, env, rest[0])
	}
}

func newFlags(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hostsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.app, "app", "", "pre-built app folder (default: build ./handlers into a temporary folder)")
	fs.StringVar(&cfg.settings, "settings", "", "local.settings.json to read (default: the module's local.settings.json, else local.settings.sample.json)")
	fs.StringVar(&cfg.azurite, "azurite", "auto", "start a private Azurite: auto (when UseDevelopmentStorage=true and none runs on :10000), yes, no")
	fs.StringVar(&cfg.key, "key", "", "function key (default: a random key, printed)")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:7071", "serve: front-end address")
	fs.BoolVar(&cfg.verbose, "v", false, "print the handler's output and the host log")
	fs.BoolVar(&cfg.pastDue, "past-due", false, "timer: mark the invocation IsPastDue")
	fs.BoolVar(&cfg.noKey, "no-key", false, "http: send no function key")
	fs.Var(&cfg.headers, "H", "http: request header 'Name: value' (repeatable)")
	return fs
}

// environment is a running Azurite (maybe), app and host.
type environment struct {
	host    *hostsim.Host
	azurite *azurite.Server
	tmp     string
	key     string
	master  string
}

func (e *environment) close() {
	if e.host != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = e.host.Stop(ctx)
		cancel()
	}
	if e.azurite != nil {
		_ = e.azurite.Stop()
	}
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}

func setUp(ctx context.Context, cfg *config) (_ *environment, err error) {
	env := &environment{}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	root, err := azurite.ModuleRoot()
	if err != nil {
		return nil, err
	}
	cfg.moduleDir = root
	settings, err := loadSettings(cfg, root)
	if err != nil {
		return nil, err
	}
	if env.tmp, err = os.MkdirTemp("", "hostsim-cli-"); err != nil {
		return nil, err
	}
	appRoot := cfg.app
	if appRoot == "" {
		fmt.Fprintln(cfg.stderr, "building ./handlers into the deployable layout…")
		if appRoot, err = hostsim.BuildApp(ctx, root, filepath.Join(env.tmp, "app")); err != nil {
			return nil, err
		}
	}
	if err := storage(ctx, cfg, env, settings); err != nil {
		return nil, err
	}
	env.key, env.master = cfg.key, randomKey()
	if env.key == "" {
		env.key = randomKey()
	}
	var out io.Writer = io.Discard
	if cfg.verbose {
		out = cfg.stderr
	}
	sum := sha256.Sum256([]byte(root))
	opts := hostsim.Options{
		AppRoot:  appRoot,
		Settings: settings,
		Keys:     hostsim.Keys{Function: map[string]string{"default": env.key}, Master: env.master},
		Output:   out,
		Log:      out,
		// Timer status survives runs of the same checkout, as it does for one function app.
		HostID: "hostsim-" + hex.EncodeToString(sum[:8]),
	}
	if cs := settings["AzureWebJobsStorage"]; cs != "" && !hostsim.IsDevelopmentStorage(cs) {
		if store, err := hostsim.NewBlobScheduleStore(cs); err == nil {
			opts.ScheduleStore = store
		}
	}
	if env.host, err = hostsim.Start(ctx, opts); err != nil {
		return nil, err
	}
	return env, nil
}

func loadSettings(cfg *config, root string) (map[string]string, error) {
	path := cfg.settings
	if path == "" {
		path = filepath.Join(root, "local.settings.json")
		if _, err := os.Stat(path); err != nil {
			path = filepath.Join(root, "local.settings.sample.json")
		}
	}
	settings, err := hostsim.LoadLocalSettings(path)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.stderr, "settings from %s\n", path)
	return settings, nil
}

// storage resolves UseDevelopmentStorage=true: the standard Azurite when one runs, else a private one.
func storage(ctx context.Context, cfg *config, env *environment, settings map[string]string) error {
	cs := settings["AzureWebJobsStorage"]
	want := cfg.azurite
	if want == "auto" {
		want = "no"
		if hostsim.IsDevelopmentStorage(cs) && !listening("127.0.0.1:10000") {
			want = "yes"
		}
	}
	switch want {
	case "no":
		return nil
	case "yes":
	default:
		return fmt.Errorf("-azurite %q: want auto, yes or no", cfg.azurite)
	}
	fmt.Fprintln(cfg.stderr, "starting a private Azurite…")
	srv, err := azurite.Start(ctx, &azurite.Options{Root: cfg.moduleDir})
	if err != nil {
		return err
	}
	env.azurite = srv
	// The handler expands UseDevelopmentStorage=true to the standard ports, so give it the explicit string.
	settings["AzureWebJobsStorage"] = srv.ConnectionString()
	fmt.Fprintf(cfg.stderr, "Azurite: blob %s, queue %s, table %s\n", srv.BlobURL, srv.QueueURL, srv.TableURL)
	return nil
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func serve(ctx context.Context, cfg *config, env *environment) error {
	h := env.host
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := h.RunTimers(ctx); err != nil {
		return err
	}
	if err := h.RunQueues(ctx); err != nil {
		fmt.Fprintf(cfg.stderr, "queue listeners not started: %v\n", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(cfg.stdout, "\nFunctions:\n\n")
	for _, fn := range h.App().Functions {
		t := fn.Trigger
		switch t.Type {
		case hostsim.TypeHTTP:
			methods := "GET,POST"
			if len(t.Methods) > 0 {
				methods = strings.ToUpper(strings.Join(t.Methods, ","))
			}
			u := base + h.App().HTTPPath(fn)
			switch strings.ToLower(t.AuthLevel) {
			case "anonymous":
			case "admin":
				u += "?code=" + env.master
			default:
				u += "?code=" + env.key
			}
			fmt.Fprintf(cfg.stdout, "\t%s: [%s] %s\n", fn.Name, methods, u)
		case hostsim.TypeTimer:
			fmt.Fprintf(cfg.stdout, "\t%s: timerTrigger (%s)\n", fn.Name, t.Schedule)
		case hostsim.TypeQueue:
			fmt.Fprintf(cfg.stdout, "\t%s: queueTrigger (%s)\n", fn.Name, t.QueueName)
		default:
			fmt.Fprintf(cfg.stdout, "\t%s: %s\n", fn.Name, t.Type)
		}
	}
	fmt.Fprintf(cfg.stdout, "\nFunction key: %s\nMaster key:   %s\nPress Ctrl+C to stop.\n", env.key, env.master)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(cfg.stderr, "\nstopping…")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := h.Stop(sctx); err != nil {
		return err
	}
	fmt.Fprintln(cfg.stderr, "handler stopped cleanly")
	return nil
}

func oneHTTP(ctx context.Context, cfg *config, env *environment, args []string) error {
	req := &hostsim.HTTPRequest{Method: strings.ToUpper(args[0]), Header: http.Header{}}
	path, query, _ := strings.Cut(args[1], "?")
	req.Path, req.RawQuery = path, query
	if len(args) == 3 {
		req.Body = []byte(args[2])
	}
	for _, hv := range cfg.headers {
		k, v, ok := strings.Cut(hv, ":")
		if !ok {
			return fmt.Errorf("-H %q: want 'Name: value'", hv)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if !cfg.noKey && req.Header.Get("x-functions-key") == "" {
		req.Header.Set("x-functions-key", env.key)
	}
	res, err := env.host.HTTP(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.stdout, "HTTP %d %s\n", res.StatusCode, http.StatusText(res.StatusCode))
	keys := make([]string, 0, len(res.Header))
	for k := range res.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(cfg.stdout, "%s: %s\n", k, strings.Join(res.Header[k], ", "))
	}
	fmt.Fprintf(cfg.stdout, "\n%s\n", res.Body)
	if inv := res.Invocation; inv != nil {
		printInvocation(cfg.stderr, inv)
	}
	if res.StatusCode >= 500 {
		return exitCode(1)
	}
	return nil
}

func oneTimer(ctx context.Context, cfg *config, env *environment, function string) error {
	inv, err := env.host.Timer(ctx, function, &hostsim.TimerOptions{IsPastDue: cfg.pastDue})
	if err != nil {
		return err
	}
	printInvocation(cfg.stdout, inv)
	if !inv.Succeeded() {
		return exitCode(1)
	}
	return nil
}

func printInvocation(w io.Writer, inv *hostsim.Invocation) {
	fmt.Fprintf(w, "invocation %s of %s: %s in %s\n", inv.ID, inv.Function, inv.Status, inv.Duration.Round(time.Millisecond))
	if inv.Failure != "" {
		fmt.Fprintf(w, "  failure: %s\n", inv.Failure)
	}
	for _, l := range inv.Logs {
		fmt.Fprintf(w, "  log: %s\n", l)
	}
	for _, q := range inv.QueueWrites {
		fmt.Fprintf(w, "  queued %d message(s) on %s\n", len(q.Messages), q.Queue)
	}
	for _, b := range inv.Base64Decoded {
		fmt.Fprintf(w, "  warning: output %s was a base64-looking string; the host turned it into bytes\n", b)
	}
	for _, n := range inv.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}
