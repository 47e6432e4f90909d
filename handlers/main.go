// Command handler is the Azure Functions custom handler of the Entra ID Data Integration. The Functions host starts
// it, waits until it answers on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, and POSTs one request per invocation to
// /{FunctionName}. This package only speaks that protocol: it decodes the envelope, calls into internal/, and
// encodes the reply.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/logging"
	"github.com/entra-di/edi/internal/version"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		logging.New(os.Stderr, slog.LevelInfo).Error("configuration is invalid", "error", err.Error())
		return 2
	}
	logger := logging.New(os.Stderr, cfg.LogLevel)
	// A soft limit keeps the resident set flat: the collector's live heap is small, its garbage is not.
	debug.SetMemoryLimit(cfg.MemoryLimit)

	// Listen before anything else: the host polls every 25 ms and clients are built lazily.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		logger.Error("listen failed", "port", cfg.Port, "error", err.Error())
		return 1
	}
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()

	a := newApp(cfg, logger)
	srv := &server{functions: a.functions(), logger: logger, base: base, timeout: cfg.FunctionTimeout}
	httpSrv := &http.Server{
		Handler:           srv.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		// The reply is written when the invocation ends, so writes may come up to functionTimeout later.
		WriteTimeout: cfg.FunctionTimeout + time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("handler listening", "version", version.Version, "port", cfg.Port)

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case err := <-serveErr:
		logger.Error("server stopped", "error", err.Error())
		return 1
	case s := <-sig:
		logger.Info("draining in-flight invocations", "signal", s.String(), "grace", cfg.ShutdownGrace.String())
	}
	return shutdown(httpSrv, cancelBase, cfg.ShutdownGrace, logger)
}

// shutdown stops accepting invocations, lets in-flight ones finish within grace, then cancels what is left so
// workers checkpoint and return.
func shutdown(srv *http.Server, cancelBase context.CancelFunc, grace time.Duration, logger *slog.Logger) int {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("grace period over; cancelling in-flight invocations")
		cancelBase()
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		err = srv.Shutdown(ctx2)
	}
	if err != nil {
		logger.Error("shutdown incomplete", "error", fmt.Sprint(err))
		return 1
	}
	logger.Info("handler stopped")
	return 0
}
