package main

import (
	"log/slog"
	"sync"

	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/storage"
)

// app holds the configuration and the clients shared by all invocations. Clients are built on first use so the
// handler is ready for the host within milliseconds.
type app struct {
	cfg     *config.Config
	logger  *slog.Logger
	storage func() (*storage.Clients, error)
}

func newApp(cfg *config.Config, logger *slog.Logger) *app {
	return &app{
		cfg:     cfg,
		logger:  logger,
		storage: sync.OnceValues(func() (*storage.Clients, error) { return storage.New(cfg.Storage, nil) }),
	}
}

// functions maps each function folder name under functions/ to its Go handler.
func (a *app) functions() map[string]function {
	return map[string]function{
		"Status": a.status,
	}
}
