package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/envelope"
	"github.com/entra-di/edi/internal/logging"
)

// function handles one invocation of a Functions function. A returned error fails the invocation: the handler
// answers non-2xx, which is the host's failure path (queue retry and poison queue, HTTP 500, timer skipped).
type function func(ctx context.Context, req *envelope.Request) (*envelope.Reply, error)

// server speaks the host's protocol: a readiness probe on "/" and POST /{FunctionName} per invocation.
type server struct {
	functions map[string]function
	logger    *slog.Logger
	// base is cancelled when the shutdown grace period is over; every invocation context ends with it.
	base context.Context
	// timeout bounds every invocation (functionTimeout, so the handler stops before the host gives up).
	timeout time.Duration
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", s.ready)
	mux.HandleFunc("POST /{function}", s.invoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply := envelope.NewReply()
		reply.Log("no function at %s %s", r.Method, r.URL.Path)
		reply.Write(w, http.StatusNotFound)
	})
	return mux
}

// ready answers the host's readiness probe (GET / every 25 ms until any answer).
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}

func (s *server) invoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("function")
	invocationID := r.Header.Get("X-Azure-Functions-InvocationId")
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	stop := context.AfterFunc(s.base, cancel)
	defer stop()
	ctx = logging.Invocation(ctx, s.logger, invocationID, name)
	ctx = context.WithValue(ctx, invocationKey{}, invocationID)
	log := logging.From(ctx)

	fn, ok := s.lookup(name)
	if !ok {
		fail(ctx, w, http.StatusNotFound, fmt.Errorf("unknown function %q", name))
		return
	}
	req, err := envelope.Decode(r.Body, envelope.MaxRequestBytes)
	if err != nil {
		fail(ctx, w, http.StatusBadRequest, err)
		return
	}
	start := time.Now()
	reply, err := s.call(ctx, fn, req)
	if err != nil {
		fail(ctx, w, http.StatusInternalServerError, err)
		return
	}
	log.Debug("invocation done", "duration_ms", time.Since(start).Milliseconds())
	reply.Write(w, http.StatusOK)
}

// lookup finds a function by name; the host uses the folder name's case, but be lenient.
func (s *server) lookup(name string) (function, bool) {
	if fn, ok := s.functions[name]; ok {
		return fn, true
	}
	for k, fn := range s.functions {
		if strings.EqualFold(k, name) {
			return fn, true
		}
	}
	return nil, false
}

type invocationKey struct{}

// invocationID is the host's id of the invocation being handled.
func invocationID(ctx context.Context) string {
	id, _ := ctx.Value(invocationKey{}).(string)
	return id
}

// errPanic marks an invocation that panicked; the panic never reaches the host.
var errPanic = errors.New("panic")

func (s *server) call(ctx context.Context, fn function, req *envelope.Request) (reply *envelope.Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			logging.From(ctx).Error("invocation panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			reply, err = nil, fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	reply, err = fn(ctx, req)
	if err == nil && reply == nil {
		reply = envelope.NewReply()
	}
	return reply, err
}

// fail answers a failed invocation: non-2xx with a JSON reply whose log line says why (the host discards it, so
// the reason is also logged here).
func fail(ctx context.Context, w http.ResponseWriter, status int, err error) {
	logging.From(ctx).Error("invocation failed", "status", status, "error", err.Error())
	reply := envelope.NewReply()
	reply.Log("invocation failed: %v", err)
	reply.Write(w, status)
}
