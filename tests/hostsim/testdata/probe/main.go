// Command probe is a custom handler for the host simulator's contract tests. It answers the readiness probe, and
// for every invocation it forwards what it received (path, headers, body, environment) to the test's control
// server at $PROBE_CONTROL_URL and replies exactly as the control server instructs: status, Content-Type and raw
// body, or exiting mid-invocation.
//
// Start-up switches: $PROBE_LISTEN_GATE (a URL fetched before listening, so the test decides when the probe
// starts listening), $PROBE_NEVER_LISTEN=1, $PROBE_ANNOUNCE (a URL told the probe's pid at start),
// $PROBE_FAIL_AT_START (a message written to stderr before the probe exits with code 2, as a handler that refuses
// its configuration does).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// call is what the probe tells the control server about one invocation.
type call struct {
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

// instruction is the control server's answer: how to reply to the host.
type instruction struct {
	Status        int    `json:"status"`
	ContentType   string `json:"contentType"`
	NoContentType bool   `json:"noContentType"`
	Body          string `json:"body"`
	// Exit, when set, makes the probe exit with that code instead of replying.
	Exit *int `json:"exit"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run() error {
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		return errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is not set")
	}
	if u := os.Getenv("PROBE_ANNOUNCE"); u != "" {
		resp, err := http.Post(u, "text/plain", strings.NewReader(fmt.Sprint(os.Getpid())))
		if err == nil {
			resp.Body.Close()
		}
	}
	if msg := os.Getenv("PROBE_FAIL_AT_START"); msg != "" {
		fmt.Fprintln(os.Stderr, "probe starting")
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(2)
	}
	if os.Getenv("PROBE_NEVER_LISTEN") == "1" {
		select {} // until the host kills us
	}
	if u := os.Getenv("PROBE_LISTEN_GATE"); u != "" {
		resp, err := http.Get(u)
		if err != nil {
			return fmt.Errorf("listen gate: %w", err)
		}
		resp.Body.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "probe pid %d listening on %s\n", os.Getpid(), ln.Addr())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "probe ready")
	})
	mux.HandleFunc("POST /{function}", invoke)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case err := <-serveErr:
		return err
	case <-sig:
	}
	// Drain: stop accepting, let in-flight invocations finish.
	fmt.Fprintln(os.Stderr, "probe draining")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "probe stopped")
	return nil
}

func invoke(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	wd, _ := os.Getwd()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FUNCTIONS_") || strings.HasPrefix(k, "PROBE_") || strings.HasPrefix(k, "AzureWebJobs") {
			env[k] = v
		}
	}
	c := call{Function: r.PathValue("function"), Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: string(body),
		Chunked: r.ContentLength < 0, PID: os.Getpid(), Args: os.Args[1:], Cwd: wd, Env: env}
	b, _ := json.Marshal(c)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, os.Getenv("PROBE_CONTROL_URL")+"/invoke", bytes.NewReader(b))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, "control server: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var in instruction
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		http.Error(w, "control server reply: "+err.Error(), http.StatusBadGateway)
		return
	}
	if in.Exit != nil {
		fmt.Fprintf(os.Stderr, "probe exiting with %d mid-invocation\n", *in.Exit)
		os.Exit(*in.Exit)
	}
	switch {
	case in.NoContentType:
		w.Header()["Content-Type"] = nil // no sniffing either
	case in.ContentType != "":
		w.Header().Set("Content-Type", in.ContentType)
	}
	if in.Status == 0 {
		in.Status = http.StatusOK
	}
	w.WriteHeader(in.Status)
	_, _ = io.WriteString(w, in.Body)
}
