package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/archive"
	"github.com/entra-di/edi/internal/collect"
	"github.com/entra-di/edi/internal/config"
	"github.com/entra-di/edi/internal/connect"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/internal/expiry"
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

	mu     sync.Mutex
	store  *stores
	vault  *secrets.Store
	graphs map[string]*graphEntry
	// limits are the Graph budgets per app and tenant ("tenant|client"), shared by all its clients in the process.
	limits   map[string]*graph.Limits
	settings *integrations.Integration
	identity azcore.TokenCredential
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
	statuses     *connect.Statuses
	// activity counts what StreamEvents archived (created by StreamEvents; read by the collector and Status).
	activity *stream.Activity
	alerts   *expiry.Alerts
}

// graphEntry is an integration's Graph client with the credential it signs in with. version is the Key Vault
// version of the secret the credential reads (the integration pins it; Reset Credentials moves it).
type graphEntry struct {
	key    string
	client *graph.Client
	cred   *graph.SecretCredential // nil for a managed identity

	mu      sync.Mutex
	version string
}

func (e *graphEntry) secretVersion() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version
}

// pin switches the entry to another Key Vault version: the credential drops the secret it holds, so the next
// token request reads the new version (and nothing reads the old one again).
func (e *graphEntry) pin(version string) {
	e.mu.Lock()
	changed := e.version != version
	e.version = version
	e.mu.Unlock()
	if changed && e.cred != nil {
		e.cred.Forget()
	}
}

// IntegrationsTable is the table of integrations (SPEC §6).
const IntegrationsTable = "integrations"

func newApp(cfg *config.Config, logger *slog.Logger) *app {
	a := &app{cfg: cfg, logger: logger, graphs: map[string]*graphEntry{}, limits: map[string]*graph.Limits{}}
	if cfg.Entra.Declared() {
		i := integrations.FromSettings(cfg.Entra)
		a.settings = &i
	}
	return a
}

// functions maps each function folder name under functions/ to its Go handler.
func (a *app) functions() map[string]function {
	return map[string]function{
		"Status":            a.status,
		"CollectLogs":       a.collectLogs,
		"CollectDirectory":  a.collectDirectory,
		"CollectWork":       a.collectWork,
		"Integrations":      a.integrations,
		"ComputeInsights":   a.computeInsights,
		"CompactArchive":    a.compactArchive,
		"InsightsWork":      a.insightsWork,
		"Remediate":         a.remediate,
		"StreamEvents":      a.streamEvents,
		"CheckSecretExpiry": a.checkSecretExpiry,
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
		statuses:     connect.NewStatuses(clients.Table, connect.StatusTable),
		activity:     stream.NewActivity(clients.Table, stream.ActivityTable),
		alerts:       expiry.NewAlerts(clients.Table, expiry.AlertsTable),
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
	if err := s.statuses.Ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.alerts.Ensure(ctx); err != nil {
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
// or whatever DefaultAzureCredential finds locally. It is built once, so its tokens are cached for every use.
func (a *app) appCredential() (azcore.TokenCredential, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.identity != nil {
		return a.identity, nil
	}
	// DefaultAzureCredential reads AZURE_CLIENT_ID itself to pick the user-assigned identity.
	opts := &azidentity.DefaultAzureCredentialOptions{}
	if host := a.cfg.AppAuthorityHost; host != "" && urls.IsLoopback(host) {
		// A local token authority is unknown to Entra's instance discovery.
		opts.DisableInstanceDiscovery = true
	}
	cred, err := azidentity.NewDefaultAzureCredential(opts)
	if err != nil {
		return nil, err
	}
	a.identity = cred
	return cred, nil
}

// identityAssertion is the function app's managed identity as a federated credential: its token for
// api://AzureADTokenExchange. nil when the app has no identity.
func (a *app) identityAssertion() graph.AssertionSource {
	cred, err := a.appCredential()
	if err != nil {
		return nil
	}
	return graph.ManagedIdentityAssertion(cred)
}

// secretStore returns the Key Vault client.
func (a *app) secretStore() (*secrets.Store, error) {
	if a.cfg.KeyVaultURL == "" {
		return nil, fmt.Errorf("setting KEY_VAULT_URL is empty: integrations need Key Vault for their client secrets")
	}
	cred, err := a.appCredential()
	if err != nil {
		return nil, fmt.Errorf("app identity: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault != nil {
		return a.vault, nil
	}
	v, err := secrets.New(a.cfg.KeyVaultURL, cred, nil)
	if err != nil {
		return nil, err
	}
	a.vault = v
	return v, nil
}

// graphClient returns the integration's Graph client. Clients are kept for the life of the process: each holds
// its throttling families' budgets, which must outlive one invocation. The credential reads the Key Vault version
// the integration pins; when a later read of the integration pins another one (Reset Credentials ran, here or on
// another instance), the credential drops the old secret.
func (a *app) graphClient(i integrations.Integration) (*graph.Client, error) {
	kind := i.CredentialKind()
	var vault *secrets.Store
	if kind != integrations.ManagedIdentity {
		var err error
		if vault, err = a.secretStore(); err != nil {
			return nil, err
		}
	}
	key := i.TenantID + "|" + i.ClientID + "|" + string(kind) + "|" + i.SecretName
	a.mu.Lock()
	e, ok := a.graphs[i.ID]
	a.mu.Unlock()
	if ok && e.key == key {
		e.pin(i.SecretVersion)
		return e.client, nil
	}
	e = &graphEntry{key: key, version: i.SecretVersion}
	opts := &graph.CredentialOptions{AuthorityHost: a.cfg.AuthorityHost}
	var cred azcore.TokenCredential
	var err error
	switch kind {
	case integrations.ManagedIdentity:
		assertion := a.identityAssertion()
		if assertion == nil {
			return nil, fmt.Errorf("integration %s signs in with the function app's managed identity, which is not available", i.ID)
		}
		cred, err = graph.NewAssertionCredential(i.TenantID, i.ClientID, assertion, opts)
	default:
		name := i.SecretName
		source := func(ctx context.Context, refresh bool) (string, error) {
			if refresh {
				// Entra refused the pinned version: try the current one, which a rotation outside the API
				// (scripts/register-app.sh --key-vault) may have written.
				return vault.GetVersion(ctx, name, "", true)
			}
			return vault.GetVersion(ctx, name, e.secretVersion(), false)
		}
		if kind == integrations.Certificate {
			e.cred, err = graph.NewCertificateCredential(i.TenantID, i.ClientID, source, opts)
		} else {
			e.cred, err = graph.NewSecretCredential(i.TenantID, i.ClientID, source, opts)
		}
		cred = e.cred
	}
	if err != nil {
		return nil, err
	}
	if kind == integrations.Secret {
		// A refusal as expired raises the expired alert at once, from whichever function signs in.
		cred = expiry.Watch(i, cred, time.Now, a.expiryChecker)
	}
	if e.client, err = graph.New(cred, &graph.Options{Endpoint: a.cfg.GraphEndpoint, Limits: a.appLimits(i.TenantID, i.ClientID)}); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.graphs[i.ID]; ok && cur.key == key {
		// Another invocation built one meanwhile: keep the first, so the budgets stay shared.
		cur.pin(i.SecretVersion)
		return cur.client, nil
	}
	a.graphs[i.ID] = e
	return e.client, nil
}

// appLimits returns the Graph budgets of an app in a tenant, the same for every client of it in the process: Graph
// limits per app and tenant, so the collector's clients and a connectivity test's draw on one budget.
func (a *app) appLimits(tenantID, clientID string) *graph.Limits {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := tenantID + "|" + clientID
	l, ok := a.limits[key]
	if !ok {
		l = graph.NewLimits(a.cfg.Collect.Budgets)
		a.limits[key] = l
	}
	return l
}

// integrationChanged drops or re-pins the cached client of an integration whose credential changed or which was
// deleted.
func (a *app) integrationChanged(i integrations.Integration, deleted bool) {
	a.mu.Lock()
	e, ok := a.graphs[i.ID]
	if deleted {
		delete(a.graphs, i.ID)
	}
	a.mu.Unlock()
	if ok && !deleted {
		e.pin(i.SecretVersion)
	}
}

// expiryChecker is the secret expiry check on the app's stores, Key Vault, Graph clients and webhooks. Its stores
// are looked up when it runs (stores are built on first use).
func (a *app) expiryChecker() *expiry.Checker {
	c := &expiry.Checker{Apps: expiry.GraphApps{Client: a.graphClient}, Webhooks: a.cfg.Expiry.Webhooks,
		Sender: &expiry.Sender{}, Thresholds: a.cfg.Expiry.Thresholds}
	if a.cfg.KeyVaultURL != "" {
		if v, err := a.secretStore(); err == nil {
			c.Vault = v
		}
	}
	a.mu.Lock()
	if a.store != nil {
		c.Integrations, c.Alerts = a.store.integrations, a.store.alerts
	}
	a.mu.Unlock()
	return c
}

// rotator is automatic secret rotation for the expiry check: addPassword through the integration's Graph client,
// Reset Credentials of the Integrations API, and the remediation audit trail (created here if needed).
func (a *app) rotator(ctx context.Context) (*expiry.Rotator, error) {
	svc, st, err := a.connectService(ctx)
	if err != nil {
		return nil, err
	}
	audit := remediate.NewAuditLog(st.clients.Table, st.clients.Blob, nil)
	if err := audit.Ensure(ctx); err != nil {
		return nil, err
	}
	return &expiry.Rotator{Client: a.graphClient, Reset: svc.ResetCredentials, Audit: audit,
		LeadDays: a.cfg.Expiry.RotationLeadDays, LifetimeDays: a.cfg.Expiry.RotationLifetimeDays}, nil
}

// connectService is the Integrations API's service.
func (a *app) connectService(ctx context.Context) (*connect.Service, *stores, error) {
	st, err := a.stores(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc := &connect.Service{Store: st.integrations, Statuses: st.statuses, Leases: st.cursors, Tester: a.tester(0),
		Identity: a.identityAssertion(), Changed: a.integrationChanged,
		Expired: func(ctx context.Context, i integrations.Integration, now time.Time) {
			a.expiryChecker().RaiseExpired(ctx, i, now)
		}}
	if a.cfg.KeyVaultURL != "" {
		v, err := a.secretStore()
		if err != nil {
			return nil, nil, err
		}
		svc.Vault = v
	}
	return svc, st, nil
}

// tester runs connectivity tests against the configured Graph and authority. concurrency is how many probes run
// at once (0: the default); the scheduled re-test, which nobody waits for, probes one data type at a time so that
// it does not crowd the collector's requests into the budget's windows.
func (a *app) tester(concurrency int) *connect.Tester {
	return connect.NewTester(&connect.Options{
		Graph:       graph.Options{Endpoint: a.cfg.GraphEndpoint, Budgets: a.cfg.Collect.Budgets},
		Credential:  graph.CredentialOptions{AuthorityHost: a.cfg.AuthorityHost},
		Propagation: a.cfg.SecretPropagation,
		Limits:      a.appLimits,
		Concurrency: concurrency,
	})
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
