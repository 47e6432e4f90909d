// Command demo is `make demo`: it starts Azurite, builds the handler into the deployable layout, runs it under the
// Functions host simulator, calls the Status function with a function key and prints a readable summary, then
// stops everything.
//
// The demo is a list of steps (see steps); later scenarios (simulated tenant, collection, verification) are added
// as further steps that read and extend the shared demo state.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/hostsim"
)

// step is one stage of the demo. run reports a one-line result; an error ends the demo (cleanup still runs).
type step struct {
	title string
	run   func(ctx context.Context, d *demo) (string, error)
}

// steps is the scenario, in order.
var steps = []step{
	{"Start Azurite (Blob, Queue, Table)", startAzurite},
	{"Build the handler into the deployable layout", buildApp},
	{"Start the Functions host simulator", startHost},
	{"Call Status with a function key", callStatus},
	{"Check that Status refuses a call without a key", callStatusWithoutKey},
}

// demo is the state the steps share.
type demo struct {
	out     io.Writer
	root    string // module root
	dataDir string // .data/demo: Azurite's data and the handler log, kept after the run
	version string
	key     string

	azurite *azurite.Server
	appRoot string
	host    *hostsim.Host
	logFile *os.File
	status  *statusReport
}

// statusReport is the part of the Status answer the summary shows.
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) (err error) {
	root, err := azurite.ModuleRoot()
	if err != nil {
		return err
	}
	d := &demo{out: out, root: root, dataDir: filepath.Join(root, ".data", "demo"), version: gitVersion(ctx, root), key: randomKey()}
	fmt.Fprintf(out, "Entra ID Data Integration — demo (version %s)\n\n", d.version)
	defer func() {
		if cerr := d.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for i, s := range steps {
		fmt.Fprintf(out, "[%d/%d] %s … ", i+1, len(steps), s.title)
		start := time.Now()
		msg, err := s.run(ctx, d)
		if err != nil {
			fmt.Fprintln(out, "FAILED")
			return fmt.Errorf("%s: %w", s.title, err)
		}
		fmt.Fprintf(out, "ok (%s)\n", time.Since(start).Round(10*time.Millisecond))
		if msg != "" {
			fmt.Fprintf(out, "      %s\n", strings.ReplaceAll(msg, "\n", "\n      "))
		}
	}
	d.summary()
	return nil
}

func startAzurite(ctx context.Context, d *demo) (string, error) {
	dir := filepath.Join(d.dataDir, "azurite")
	// A fresh account each run, kept afterwards for inspection.
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	srv, err := azurite.Start(ctx, &azurite.Options{Root: d.root, Dir: dir})
	if err != nil {
		return "", err
	}
	d.azurite = srv
	return fmt.Sprintf("blob %s\nqueue %s\ntable %s", srv.BlobURL, srv.QueueURL, srv.TableURL), nil
}

func buildApp(ctx context.Context, d *demo) (string, error) {
	appDir := filepath.Join(d.dataDir, "app")
	if err := os.RemoveAll(appDir); err != nil {
		return "", err
	}
	var err error
	d.appRoot, err = hostsim.Build(ctx, hostsim.BuildOptions{
		ModuleRoot: d.root,
		Package:    "./handlers",
		Source:     d.root,
		OutDir:     appDir,
		LDFlags:    "-s -w -X github.com/entra-di/edi/internal/version.Version=" + d.version,
	})
	if err != nil {
		return "", err
	}
	app, err := hostsim.LoadApp(d.appRoot, nil)
	if err != nil {
		return "", err
	}
	var names []string
	for _, fn := range app.Functions {
		names = append(names, fn.Name+" ("+fn.Trigger.Type+")")
	}
	return fmt.Sprintf("%s\nfunctions: %s", d.appRoot, strings.Join(names, ", ")), nil
}

func startHost(ctx context.Context, d *demo) (string, error) {
	settings, err := hostsim.LoadLocalSettings(filepath.Join(d.root, "local.settings.sample.json"))
	if err != nil {
		return "", err
	}
	// The sample says UseDevelopmentStorage=true; the handler would expand that to Azurite's standard ports, so
	// point it at the demo's Azurite explicitly.
	settings["AzureWebJobsStorage"] = d.azurite.ConnectionString()
	if d.logFile, err = os.Create(filepath.Join(d.dataDir, "handler.log")); err != nil {
		return "", err
	}
	d.host, err = hostsim.Start(ctx, hostsim.Options{
		AppRoot:  d.appRoot,
		Settings: settings,
		Keys:     hostsim.Keys{Function: map[string]string{"default": d.key}, Master: randomKey()},
		Output:   d.logFile,
		Log:      d.logFile,
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("handler pid %d on %s (logs: %s)", d.host.PID(), d.host.HandlerAddr(), d.logFile.Name()), nil
}

func callStatus(ctx context.Context, d *demo) (string, error) {
	res, err := d.host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {d.key}}})
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		why := ""
		if res.Invocation != nil {
			why = res.Invocation.Failure
		}
		return "", fmt.Errorf("GET /api/status answered %d %s %s", res.StatusCode, why, res.Body)
	}
	var r statusReport
	if err := json.Unmarshal(res.Body, &r); err != nil {
		return "", fmt.Errorf("status body: %w", err)
	}
	d.status = &r
	return fmt.Sprintf("GET /api/status → %d %s in %s", res.StatusCode, res.Header.Get("Content-Type"), res.Invocation.Duration.Round(time.Millisecond)), nil
}

func callStatusWithoutKey(ctx context.Context, d *demo) (string, error) {
	res, err := d.host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status"})
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusUnauthorized || res.Invocation != nil {
		return "", fmt.Errorf("GET /api/status without a key answered %d", res.StatusCode)
	}
	return "GET /api/status without a key → 401 (the handler was not called)", nil
}

func (d *demo) summary() {
	r := d.status
	if r == nil {
		return
	}
	health := "healthy"
	if !r.Healthy {
		health = "DEGRADED"
	}
	w := d.out
	fmt.Fprintf(w, "\nStatus\n")
	fmt.Fprintf(w, "  handler version   %s (%s)\n", r.Version, health)
	fmt.Fprintf(w, "  function timeout  %s\n", r.Config.FunctionTimeout)
	fmt.Fprintf(w, "  raw container     %s\n", r.Config.RawContainer)
	fmt.Fprintf(w, "  log level         %s\n", r.Config.LogLevel)
	fmt.Fprintf(w, "  storage           %s\n", r.Config.Storage)
	fmt.Fprintf(w, "  reachability      blob %s · table %s · queue %s\n", r.Storage.Blob, r.Storage.Table, r.Storage.Queue)
	fmt.Fprintf(w, "\nData and logs: %s\n", d.dataDir)
}

// cleanup stops the handler (SIGTERM, drained) and Azurite; it reports a handler that did not exit cleanly.
func (d *demo) cleanup() error {
	var errs []error
	if d.host != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := d.host.Stop(ctx)
		cancel()
		if err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintln(d.out, "\nStopped the handler (exit code 0).")
		}
	}
	if d.azurite != nil {
		if err := d.azurite.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop Azurite: %w", err))
		} else {
			fmt.Fprintln(d.out, "Stopped Azurite.")
		}
	}
	if d.logFile != nil {
		_ = d.logFile.Close()
	}
	return errors.Join(errs...)
}

// gitVersion is the Makefile's version: git describe, or "dev".
func gitVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(b))
}

func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
