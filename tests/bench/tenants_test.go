package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/kvsim"
	"github.com/entra-di/edi/tests/testca"
)

// tenantFigures are one tenant's reports-family figures from the simulated Graph's request log.
type tenantFigures struct {
	accepted, throttled int64
	first, last         time.Time
	used                float64 // share of the budget used over the tenant's active span
}

func figures(tn *entrasim.Tenant, perSecond float64, burst int) tenantFigures {
	var f tenantFigures
	for _, r := range tn.Requests() {
		if r.Family != string(catalog.Reports) {
			continue
		}
		if f.first.IsZero() {
			f.first = r.Arrival
		}
		f.last = r.Arrival
		if r.Throttled {
			f.throttled++
		} else {
			f.accepted++
		}
	}
	// n accepted requests at exactly the budget's rate need (n − burst) / rate seconds from the first to the last.
	if span := f.last.Sub(f.first).Seconds(); span > 0 {
		f.used = float64(f.accepted-int64(burst)) / perSecond / span
	}
	return f
}

// BenchmarkManyTenants collects BENCH_TENANTS (20) simulated tenants on one handler: one Graph endpoint and one
// token authority for all of them (entrasim.Cloud), each tenant its own app registration and its own reports
// budget (Graph's limit is per app and tenant), one integration each added through the Integrations API. One
// tenant is noisy (one and a half times the others' sign-ins). A single CollectLogs plans one work item per tenant; the
// queue runs them side by side, one lease per (integration, family). Reported: the lowest share of a tenant's
// reports budget used over its own active span (and the median and the noisy tenant's), the share of 429s over
// all tenants and the highest of any tenant, the handler's peak RSS, and records per second over all tenants.
func BenchmarkManyTenants(b *testing.B) {
	n := envInt("BENCH_TENANTS", 20)
	hours := envInt("BENCH_TENANTS_HOURS", 6) // backfill per tenant: one run each, no continuation
	rate := float64(envInt("BENCH_TENANTS_RATE", 2400))
	// Graph's reports limit at half speed (5 requests / 20 s per app and tenant). At 1,000 sign-ins a page, 20
	// tenants at the real limit are 10,000 records a second through the simulated Graph, the handler and Azurite,
	// all on the same two shared cores: the run would measure the test harness's CPU, not the scheduling
	// (BENCHMARKS.md has the figures at the real limit).
	scale := float64(envInt("BENCH_TENANTS_SCALE_PERCENT", 200)) / 100
	budget := catalog.Budgets[catalog.Reports]
	perSecond := budget.Rate() / scale
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		env, err := startTenants(ctx, b, n, hours, rate, scale)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		start := time.Now()
		err = env.host.WaitIdle(ctx) // the integrations' connectivity tests are done; collection starts now
		if err == nil {
			// The tests' probes spent some of each tenant's budget with a client of their own: let Graph's window
			// pass, as the next CollectLogs tick would, so the collection starts from a full budget.
			time.Sleep(time.Duration(float64(budget.Window) * scale))
			for _, tn := range env.cloud.Tenants {
				tn.ResetCounters()
			}
			start = time.Now()
			var inv *hostsim.Invocation
			if inv, err = env.host.Timer(ctx, "CollectLogs", nil); err == nil && inv.Failure != "" {
				err = fmt.Errorf("CollectLogs failed: %s", inv.Failure)
			}
			if err == nil {
				err = env.host.WaitIdle(ctx)
			}
		}
		elapsed := time.Since(start)
		cancel()
		if err != nil {
			env.close()
			b.Fatal(err)
		}
		rss, rerr := peakRSS(env.host.PID())
		var used []float64
		worst429, noisy := 0.0, 0.0
		var records, archived, accepted, throttled int64
		for i, tn := range env.cloud.Tenants {
			f := figures(tn, perSecond, budget.Requests)
			used = append(used, f.used)
			if i == 0 {
				noisy = f.used
			}
			if share := float64(f.throttled) / float64(max(f.accepted+f.throttled, 1)); share > worst429 {
				worst429 = share
			}
			accepted, throttled = accepted+f.accepted, throttled+f.throttled
			for _, c := range tn.Counters().Streams {
				records += c
			}
			for _, dt := range catalog.InFamily(catalog.Reports) {
				if dt.Mode() != catalog.Buckets {
					continue
				}
				c, err := env.cursors.Get(context.Background(), tenantID(i), dt.Name)
				if err == nil {
					archived += c.Records
					if c.State != cursor.StateOK {
						b.Errorf("tenant %d %s: state %q %s", i, dt.Name, c.State, c.LastError)
					}
				}
			}
			b.Logf("tenant %2d: %.1f %% of the budget over %s, %d requests, %d answered 429", i, f.used*100,
				f.last.Sub(f.first).Round(time.Second), f.accepted, f.throttled)
		}
		env.close()
		if rerr != nil {
			b.Fatal(rerr)
		}
		slices.Sort(used)
		b.ReportMetric(used[0]*100, "%budget-min")
		b.ReportMetric(used[len(used)/2]*100, "%budget-median")
		b.ReportMetric(noisy*100, "%budget-noisy")
		b.ReportMetric(worst429*100, "%429-max")
		b.ReportMetric(float64(throttled)/float64(max(accepted+throttled, 1))*100, "%429-all")
		b.ReportMetric(float64(rss)/(1<<20), "MiB-peak-RSS")
		b.ReportMetric(float64(archived)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(archived)/float64(max(records, 1)), "archived/served")
		b.ReportMetric(float64(n), "tenants")
	}
}

func tenantID(i int) string { return fmt.Sprintf("tenant-%02d", i) }

type tenantsEnv struct {
	cloud   *entrasim.Cloud
	az      *azurite.Server
	vault   *kvsim.Vault
	host    *hostsim.Host
	cursors *cursor.Store
	stopQ   context.CancelFunc
	qDone   chan error
	tmp     string
}

func (e *tenantsEnv) close() {
	if e.stopQ != nil {
		e.stopQ()
		<-e.qDone
	}
	if e.host != nil {
		e.host.Close()
	}
	if e.vault != nil {
		_ = e.vault.Close()
	}
	if e.cloud != nil {
		_ = e.cloud.Close()
	}
	if e.az != nil {
		_ = e.az.Stop()
	}
	_ = os.RemoveAll(e.tmp)
}

// startTenants starts the cloud of n tenants, Azurite, the Key Vault stand-in and the handler, and adds one
// integration per tenant through the Integrations API (each answered Connected).
func startTenants(ctx context.Context, b *testing.B, n, hours int, rate, scale float64) (env *tenantsEnv, err error) {
	env = &tenantsEnv{}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	if env.tmp, err = os.MkdirTemp("", "edi-bench-tenants-"); err != nil {
		return nil, err
	}
	ca, err := testca.Shared()
	if err != nil {
		return nil, err
	}
	clock := entrasim.NewRunningSimClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	var opts []entrasim.Options
	for i := range n {
		r := rate
		if i == 0 {
			r *= 1.5 // the noisy tenant
		}
		streams := map[string]entrasim.StreamOptions{"directoryAudits": {Rate: r / 4, LateShare: -1}, "provisioning": {Rate: r / 8, LateShare: -1}}
		for _, s := range []string{"signIns.interactive", "signIns.nonInteractive", "signIns.servicePrincipal", "signIns.managedIdentity"} {
			streams[s] = entrasim.StreamOptions{Rate: r, LateShare: -1}
		}
		opts = append(opts, entrasim.Options{Seed: int64(300 + i), Users: 40, Clock: clock, ThrottleScale: scale, Streams: streams,
			History:     time.Duration(hours+2) * time.Hour,
			PageLatency: entrasim.Dist{Median: 80 * time.Millisecond, Sigma: 0.5, Max: 600 * time.Millisecond}})
	}
	if env.cloud, err = entrasim.StartCloud(opts, ca); err != nil {
		return nil, err
	}
	if env.az, err = azurite.Start(ctx, &azurite.Options{Dir: filepath.Join(env.tmp, "azurite")}); err != nil {
		return nil, err
	}
	home := env.cloud.Tenants[0]
	identity, err := home.AddApp("entra-data-integration-function-app", nil)
	if err != nil {
		return nil, err
	}
	if env.vault, err = kvsim.Start(&kvsim.Options{AuthorityURL: env.cloud.AuthorityURL(), TenantID: home.TenantID(),
		Verify: env.cloud.Authority().Verify}); err != nil {
		return nil, err
	}
	root, err := azurite.ModuleRoot()
	if err != nil {
		return nil, err
	}
	settings, err := hostsim.LoadLocalSettings(filepath.Join(root, "local.settings.sample.json"))
	if err != nil {
		return nil, err
	}
	budget := catalog.Budgets[catalog.Reports]
	maps.Copy(settings, map[string]string{
		"AzureWebJobsStorage":        env.az.ConnectionString(),
		"KEY_VAULT_URL":              env.vault.URL(),
		"GRAPH_ENDPOINT":             env.cloud.GraphURL(),
		"ENTRA_AUTHORITY_HOST":       env.cloud.AuthorityURL(),
		"GRAPH_BUDGETS":              fmt.Sprintf("reports=%d/%s", budget.Requests, time.Duration(float64(budget.Window)*scale)),
		"AZURE_TENANT_ID":            home.TenantID(),
		"AZURE_CLIENT_ID":            identity.AppID,
		"AZURE_CLIENT_SECRET":        identity.PasswordCredentials[0].SecretText,
		"AZURE_AUTHORITY_HOST":       env.cloud.AuthorityURL(),
		"SSL_CERT_FILE":              ca.PEMPath(),
		"LOG_LEVEL":                  "warn",
		"FUNCTIONS_WORKER_RUNTIME":   "custom",
		"CONNECT_SECRET_PROPAGATION": "0s",
		"COLLECT_BACKFILL_DAYS":      strconv.Itoa((hours + 23) / 24),
		// An instance collecting many tenants at once: two windows per worker keep each tenant's request in flight
		// at Graph's limit (four would only crowd the CPU), and twenty workers' windows need more than the
		// one-tenant GOMEMLIMIT of 48 MiB (BENCHMARKS.md).
		"COLLECT_CONCURRENCY": "2",
		"GOMEMLIMIT":          "384MiB",
	})
	for _, k := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_SECRET_ID"} {
		delete(settings, k)
	}

	for env, setting := range map[string]string{"BENCH_TENANTS_CONCURRENCY": "COLLECT_CONCURRENCY", "BENCH_TENANTS_GOMEMLIMIT": "GOMEMLIMIT"} {
		if v := os.Getenv(env); v != "" {
			settings[setting] = v
		}
	}
	const key = "bench-function-key"
	if env.host, err = hostsim.Start(ctx, hostsim.Options{AppRoot: app(b), Settings: settings, NoInheritEnv: true,
		Keys: hostsim.Keys{Function: map[string]string{"default": key}, Master: "bench-master-key"}, Now: clock.Now,
		Output: io.Discard, Log: io.Discard, StorageConnectionString: env.az.ConnectionString()}); err != nil {
		return nil, err
	}
	tables, err := env.az.TableClient()
	if err != nil {
		return nil, err
	}
	env.cursors = cursor.New(tables, nil)
	qctx, cancel := context.WithCancel(context.Background())
	env.stopQ, env.qDone = cancel, make(chan error, 1)
	go func() { env.qDone <- env.host.RunQueues(qctx) }()

	// An MSP onboarding its customers: the integrations are added through the API, a few at a time.
	principal := &hostsim.Principal{AuthType: "aad", Claims: []hostsim.Claim{{Type: hostsim.ClaimTypeRole, Value: string(access.Admin)}}}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(5)
	for i, tn := range env.cloud.Tenants {
		g.Go(func() error {
			body, _ := json.Marshal(map[string]any{"id": tenantID(i), "name": fmt.Sprintf("Customer %d", i), "tenantId": tn.TenantID(),
				"clientId": tn.ClientID(), "secretId": tn.SecretID(), "secret": tn.ClientSecret()})
			res, err := env.host.HTTP(gctx, &hostsim.HTTPRequest{Method: http.MethodPost, Path: "/api/integrations", Body: body, Principal: principal,
				Header: http.Header{"x-functions-key": {key}, "Content-Type": {"application/json"}}})
			if err != nil {
				return err
			}
			var out struct {
				Connectivity struct{ State, Message string }
			}
			if res.StatusCode != http.StatusCreated || json.Unmarshal(res.Body, &out) != nil || out.Connectivity.State != "Connected" {
				return fmt.Errorf("adding tenant %d: %d %s", i, res.StatusCode, res.Body)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return env, nil
}
