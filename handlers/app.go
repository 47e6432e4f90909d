package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
	"github.com/entra-di/edi/internal/remediate"
	"github.com/entra-di/edi/internal/secrets"
	"github.com/entra-di/edi/internal/storage"
	"github.com/entra-di/edi/internal/stream"
	"github.com/entra-di/edi/internal/urls"
)

// app holds the configuration and the clients shared by all invocations. Everything is built on first use so the
// handler is ready for the host within milliseconds; a failed build (storage down) is retried on the next use.
type app struct {
	cfg    *config.Config
	logger *slog.Logger

	mu       sync.Mutex
	store    *stores
	vault    *secrets.Store
	graphs   map[string]*graphEntry
	settings *integrations.Integration
	// remediation is the Remediate function's service, built on first use.
	remediation *remediate.Service
	// streamArch archives StreamEvents batches; it keeps its integrations cache and prune schedule across
	// invocations.
	streamArch *stream.Archiver
}

// stores are the app's storage-backed services, ready (containers and tables exist).
type stores struct {
	clients      *storage.Clients
	archive      *archive.Store
	cursors      *cursor.Store
	integrations *integrations.Store
	// activity counts what StreamEvents archived (created by StreamEvents; read by the collector and Status).
	activity *stream.Activity
}

type graphEntry struct {
	key    string
	client *graph.Client
}

// IntegrationsTable is the table of integrations (SPEC §6).
const IntegrationsTable = "integrations"

func newApp(cfg *config.Config, logger *slog.Logger) *app {
	a := &app{cfg: cfg, logger: logger, graphs: map[string]*graphEntry{}}
	if cfg.Entra.Declared() {
		i := integrations.FromSettings(cfg.Entra)
		a.settings = &i
	}
	return a
}

// functions maps each function folder name under functions/ to its Go handler.
func (a *app) functions() map[string]function {
	return map[string]function{
		"Status":           a.status,
		"CollectLogs":      a.collectLogs,
		"CollectDirectory": a.collectDirectory,
		"CollectWork":      a.collectWork,
		"Integrations":     a.integrations,
		"ComputeInsights":  a.computeInsights,
		"InsightsWork":     a.insightsWork,
		"Remediate":        a.remediate,
		"StreamEvents":     a.streamEvents,
	}
}

// storageClients builds the storage clients (no network).
func (a *app) storageClients() (*storage.Clients, error) {
	a.mu.Lock()
	st := a.store
	a.mu.Unlock()
	if st != nil {
		return st.clients, nil
	}
	return storage.New(a.cfg.Storage, nil)
}

// stores returns the storage services, creating containers and tables the first time. The network calls run
// outside the app's lock: a slow storage account must not hold up an invocation that needs the lock for
// something else (Status probes storage with its own timeout). Two first calls may both build; the first to
// finish is kept (creating containers and tables is idempotent).
func (a *app) stores(ctx context.Context) (*stores, error) {
	a.mu.Lock()
	st := a.store
	a.mu.Unlock()
	if st != nil {
		return st, nil
	}
	clients, err := storage.New(a.cfg.Storage, nil)
	if err != nil {
		return nil, err
	}
	s := &stores{
		clients:      clients,
		archive:      archive.New(clients.Blob, a.cfg.RawContainer),
		cursors:      cursor.New(clients.Table, nil),
		integrations: integrations.New(clients.Table, IntegrationsTable, a.settings),
		activity:     stream.NewActivity(clients.Table, stream.ActivityTable),
	}
	if err := s.archive.Ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.cursors.Ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.integrations.Ensure(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.store == nil {
		a.store = s
	}
	return a.store, nil
}

// remediator returns the remediation service, creating its audit table, audit container and Idempotency-Key
// table the first time.
func (a *app) remediator(ctx context.Context) (*remediate.Service, error) {
	st, err := a.stores(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	svc := a.remediation
	a.mu.Unlock()
	if svc != nil {
		return svc, nil
	}
	svc = remediate.New(st.integrations, a.graphClient, remediate.NewAuditLog(st.clients.Table, st.clients.Blob, nil),
		remediate.NewIntents(st.clients.Table, ""), &remediate.Options{KeyRole: access.Role(a.cfg.Remediation.KeyRole), LeaseTTL: a.cfg.Remediation.LeaseTTL})
	if err := svc.Ensure(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.remediation = svc
	a.mu.Unlock()
	return svc, nil
}

// appCredential is the function app's own identity: the user-assigned managed identity in Azure (AZURE_CLIENT_ID),
// or whatever DefaultAzureCredential finds locally.
func (a *app) appCredential() (azcore.TokenCredential, error) {
	// DefaultAzureCredential reads AZURE_CLIENT_ID itself to pick the user-assigned identity.
	opts := &azidentity.DefaultAzureCredentialOptions{}
	if host := a.cfg.AppAuthorityHost; host != "" && urls.IsLoopback(host) {
		// A local token authority is unknown to Entra's instance discovery.
		opts.DisableInstanceDiscovery = true
	}
	return azidentity.NewDefaultAzureCredential(opts)
}

// secretStore returns the Key Vault client.
func (a *app) secretStore() (*secrets.Store, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault != nil {
		return a.vault, nil
	}
	if a.cfg.KeyVaultURL == "" {
		return nil, fmt.Errorf("setting KEY_VAULT_URL is empty: integrations need Key Vault for their client secrets")
	}
	cred, err := a.appCredential()
	if err != nil {
		return nil, fmt.Errorf("app identity: %w", err)
	}
	v, err := secrets.New(a.cfg.KeyVaultURL, cred, nil)
	if err != nil {
		return nil, err
	}
	a.vault = v
	return v, nil
}

// graphClient returns the integration's Graph client. Clients are kept for the life of the process: each holds
// its throttling families' budgets, which must outlive one invocation.
func (a *app) graphClient(i integrations.Integration) (*graph.Client, error) {
	vault, err := a.secretStore()
	if err != nil {
		return nil, err
	}
	key := i.TenantID + "|" + i.ClientID + "|" + i.SecretName
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.graphs[i.ID]; ok && e.key == key {
		return e.client, nil
	}
	name := i.SecretName
	cred, err := graph.NewSecretCredential(i.TenantID, i.ClientID, func(ctx context.Context, refresh bool) (string, error) {
		return vault.Get(ctx, name, refresh)
	}, &graph.CredentialOptions{AuthorityHost: a.cfg.AuthorityHost})
	if err != nil {
		return nil, err
	}
	c, err := graph.New(cred, &graph.Options{Endpoint: a.cfg.GraphEndpoint, Budgets: a.cfg.Collect.Budgets})
	if err != nil {
		return nil, err
	}
	a.graphs[i.ID] = &graphEntry{key: key, client: c}
	return c, nil
}

// collectOptions are the worker's options from configuration.
func (a *app) collectOptions() *collect.Options {
	c := a.cfg.Collect
	o := &collect.Options{Lag: c.Lag, Resweeps: c.Resweeps, BackfillDays: c.BackfillDays, Concurrency: c.Concurrency,
		LeaseTTL: c.LeaseTTL, FullEvery: c.FullEvery, RoundPart: c.RoundPart, StreamWindow: c.StreamWindow}
	if c.StreamWindow == 0 {
		o.StreamWindow = -1 // COLLECT_STREAM_WINDOW=0: no data type is treated as streaming
	}
	return o
}
