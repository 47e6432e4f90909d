// Package scenario assembles a whole local deployment for tests, the demo and benchmarks: its own Azurite, a
// simulated Entra tenant (token authority + Graph) on a simulated clock, the Key Vault stand-in holding the
// integration's client secret, and the real handler under the host simulator, configured as a one-tenant
// deployment through app settings. It drives collection (the CollectLogs timer, then the collect-work queue until
// it is empty) and checks the archive against the tenant's ground truth.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/internal/cursor"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/entrasim/authority"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/kvsim"
	"github.com/entra-di/edi/tests/secretscan"
)

// Integration is the id of the integration the scenario declares in app settings.
const Integration = "default"

// Options configure a scenario. Zero values mean the defaults in parentheses.
type Options struct {
	// AppRoot is the app built by hostsim.BuildApp (required).
	AppRoot string
	// Tenant configures the simulated tenant; Clock, CA and Verifier are set by the scenario. ThrottleScale 0
	// means 0.01 here (5 requests / 100 ms for reports), so tests run fast at Graph's real proportions.
	Tenant entrasim.Options
	// Start is the simulated time at start (2026-01-10T12:00:00Z).
	Start time.Time
	// Settings are extra app settings, over the defaults.
	Settings map[string]string
	// Output receives the host's and the handler's log lines (discarded when nil).
	Output io.Writer
	// Dir keeps Azurite's data (a temporary folder when empty; removed on Close then).
	Dir string
	// RestartLimit is how many handler failures (crashes, kills) within 30 minutes the host tolerates before it
	// gives up (hostsim's default, 3, when zero). Tests that kill the handler many times raise it.
	RestartLimit int
	// HandlerStorage, when set, returns the AzureWebJobsStorage connection string the handler gets, e.g. one
	// pointing at a fault-injecting proxy in front of the scenario's Azurite. The host simulator's own queue
	// traffic always goes to Azurite directly.
	HandlerStorage func(az *azurite.Server) (string, error)
	// APIIntegration leaves the integration out of app settings and Key Vault: the test adds it through the
	// Integrations API (AddIntegration), as an administrator would.
	APIIntegration bool
}

// Env is a running scenario.
type Env struct {
	Clock    *entrasim.SimClock
	Tenant   *entrasim.Tenant
	Vault    *kvsim.Vault
	Azurite  *azurite.Server
	Host     *hostsim.Host
	Settings map[string]string
	// FunctionKey calls the HTTP functions.
	FunctionKey string
	// Secrets knows every secret of the deployment (client secrets, storage key, function keys, bearer tokens
	// the Key Vault stand-in saw); ScanSecrets looks for them everywhere.
	Secrets *secretscan.Scanner

	cursors *cursor.Store
	output  *secretscan.Writer
	premium bool
	// licences are the tenant's (nil: P1 and P2).
	licences []entrasim.Licence
	tmp      string
	stopQ    context.CancelFunc
	qDone    chan error
}

// masterKey is the function app's master key in a scenario.
const masterKey = "scenario-master-key"

// DefaultStart is the simulated time a scenario starts at.
var DefaultStart = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

// Start brings the scenario up. Close it.
func Start(ctx context.Context, o Options) (env *Env, err error) {
	if o.AppRoot == "" {
		return nil, errors.New("scenario: AppRoot is required (hostsim.BuildApp)")
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	e := &Env{Clock: entrasim.NewRunningSimClock(o.Start), FunctionKey: "scenario-function-key", Secrets: secretscan.New()}
	e.Secrets.Add("storage account key", azurite.AccountKey)
	e.Secrets.Add("function key", e.FunctionKey)
	e.Secrets.Add("master key", masterKey)
	// Everything the host and the handler print is scanned as it is written.
	e.output = e.Secrets.Writer("handler and host output", o.Output)
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	dir := o.Dir
	if dir == "" {
		if e.tmp, err = os.MkdirTemp("", "edi-scenario-"); err != nil {
			return nil, err
		}
		dir = e.tmp
	}

	if e.Azurite, err = azurite.Start(ctx, &azurite.Options{Dir: filepath.Join(dir, "azurite")}); err != nil {
		return nil, err
	}
	topts := o.Tenant
	e.licences = topts.Licences
	e.premium = topts.Licences == nil || slices.Contains(topts.Licences, entrasim.LicenceP1) || slices.Contains(topts.Licences, entrasim.LicenceP2)
	topts.Clock = e.Clock
	if topts.ThrottleScale == 0 {
		topts.ThrottleScale = 0.01
	}
	if e.Tenant, err = entrasim.Start(&topts); err != nil {
		return nil, err
	}
	// The function app's own identity, which reads the secret from Key Vault.
	appIdentity, err := e.Tenant.AddApp("entra-data-integration-function-app", nil)
	if err != nil {
		return nil, err
	}
	e.Secrets.Add("integration client secret", e.Tenant.ClientSecret())
	e.Secrets.Add("function app identity client secret", appIdentity.PasswordCredentials[0].SecretText)
	// The vault sees the app identity's bearer tokens: each becomes a secret to look for.
	verify := func(token, audience string) (*authority.Claims, error) {
		e.Secrets.Add("bearer token presented to Key Vault", token)
		return e.Tenant.Authority().Verify(token, audience)
	}
	if e.Vault, err = kvsim.Start(&kvsim.Options{AuthorityURL: e.Tenant.AuthorityURL(), TenantID: e.Tenant.TenantID(),
		Verify: verify, Now: e.Clock.Now, ReadAllow: []string{appIdentity.AppID}}); err != nil {
		return nil, err
	}
	secretName := "integration-" + Integration
	if !o.APIIntegration {
		if _, err = e.Vault.SetSecret(secretName, e.Tenant.ClientSecret(), &kvsim.Attributes{Expires: e.Tenant.SecretExpires()}); err != nil {
			return nil, err
		}
	}

	root, err := azurite.ModuleRoot()
	if err != nil {
		return nil, err
	}
	settings, err := hostsim.LoadLocalSettings(filepath.Join(root, "local.settings.sample.json"))
	if err != nil {
		return nil, err
	}
	// The collector gets the simulated tenant's budgets: each family's window scaled as the tenant scales it. The
	// directory family keeps the product's own choice (by tenant size, in resource units), far above what a test
	// tenant's pages cost.
	var budgets []string
	for _, fam := range []catalog.Family{catalog.Reports, catalog.Protection, catalog.Intune, catalog.Agents} {
		b := catalog.Budgets[fam]
		budgets = append(budgets, fmt.Sprintf("%s=%d/%s", fam, b.Requests, time.Duration(float64(b.Window)*topts.ThrottleScale)))
	}
	maps.Copy(settings, map[string]string{
		"AzureWebJobsStorage":      e.Azurite.ConnectionString(),
		"KEY_VAULT_URL":            e.Vault.URL(),
		"ENTRA_TENANT_ID":          e.Tenant.TenantID(),
		"ENTRA_CLIENT_ID":          e.Tenant.ClientID(),
		"ENTRA_SECRET_ID":          e.Tenant.SecretID(),
		"GRAPH_ENDPOINT":           e.Tenant.GraphURL(),
		"ENTRA_AUTHORITY_HOST":     e.Tenant.AuthorityURL(),
		"GRAPH_BUDGETS":            strings.Join(budgets, ","),
		"AZURE_TENANT_ID":          e.Tenant.TenantID(),
		"AZURE_CLIENT_ID":          appIdentity.AppID,
		"AZURE_CLIENT_SECRET":      appIdentity.PasswordCredentials[0].SecretText,
		"AZURE_AUTHORITY_HOST":     e.Tenant.AuthorityURL(),
		"SSL_CERT_FILE":            e.Tenant.CACertPath(),
		"LOG_LEVEL":                "info",
		"FUNCTIONS_WORKER_RUNTIME": "custom",
		// A secret entered in a test is either right or wrong: no need to wait for Entra to learn it.
		"CONNECT_SECRET_PROPAGATION": "0s",
	})
	if o.APIIntegration {
		for _, k := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_SECRET_ID"} {
			delete(settings, k)
		}
	}
	maps.Copy(settings, o.Settings)
	if o.HandlerStorage != nil {
		if settings["AzureWebJobsStorage"], err = o.HandlerStorage(e.Azurite); err != nil {
			return nil, err
		}
	}
	e.Settings = settings

	if e.Host, err = hostsim.Start(ctx, hostsim.Options{
		AppRoot:                 o.AppRoot,
		Settings:                settings,
		NoInheritEnv:            true,
		Keys:                    hostsim.Keys{Function: map[string]string{"default": e.FunctionKey}, Master: masterKey},
		Now:                     e.Clock.Now,
		Output:                  e.output,
		Log:                     e.output,
		RestartLimit:            o.RestartLimit,
		StorageConnectionString: e.Azurite.ConnectionString(),
	}); err != nil {
		return nil, err
	}
	tables, err := e.Azurite.TableClient()
	if err != nil {
		return nil, err
	}
	e.cursors = cursor.New(tables, nil)

	qctx, cancel := context.WithCancel(context.Background())
	e.stopQ, e.qDone = cancel, make(chan error, 1)
	go func() { e.qDone <- e.Host.RunQueues(qctx) }()
	return e, nil
}

// Close stops everything.
func (e *Env) Close() {
	if e.stopQ != nil {
		e.stopQ()
		<-e.qDone
	}
	if e.Host != nil {
		e.Host.Close()
	}
	if e.Vault != nil {
		_ = e.Vault.Close()
	}
	if e.Tenant != nil {
		_ = e.Tenant.Close()
	}
	if e.Azurite != nil {
		_ = e.Azurite.Stop()
	}
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}

// Collect fires the CollectLogs timer and waits until the collect-work queue is empty and nothing runs.
func (e *Env) Collect(ctx context.Context) error { return e.plan(ctx, "CollectLogs") }

// CollectDirectory fires the CollectDirectory timer (the directory's rounds and snapshots) and waits until the
// collect-work queue is empty and nothing runs.
func (e *Env) CollectDirectory(ctx context.Context) error { return e.plan(ctx, "CollectDirectory") }

func (e *Env) plan(ctx context.Context, timer string) error {
	inv, err := e.Host.Timer(ctx, timer, nil)
	if err != nil {
		return err
	}
	if inv.Failure != "" {
		return fmt.Errorf("%s failed: %s", timer, inv.Failure)
	}
	return e.Host.WaitIdle(ctx)
}

// CollectUntilSettled collects, advances the clock by step, and repeats until every data type's +48h
// re-sweep has passed the last bucket that was fresh at the start, so late events up to 48 h are in.
func (e *Env) CollectUntilSettled(ctx context.Context, step time.Duration) error {
	settleAt := e.Clock.Now().Add(49 * time.Hour)
	for {
		if err := e.Collect(ctx); err != nil {
			return err
		}
		if !e.Clock.Now().Before(settleAt) {
			return nil
		}
		e.Clock.Advance(step)
	}
}

// Cursor returns a data type's cursor.
func (e *Env) Cursor(ctx context.Context, dataType string) (*cursor.Cursor, error) {
	return e.cursors.Get(ctx, Integration, dataType)
}

// Runs returns the newest runs.
func (e *Env) Runs(ctx context.Context, n int) ([]cursor.Run, error) {
	return e.cursors.Runs(ctx, Integration, n)
}

// Describe is a one-line summary of a data type's cursor for logs.
func Describe(c *cursor.Cursor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: state %q [%s, %s) target %s records %d parts %d", c.DataType, c.State,
		c.Low.Format("01-02T15:04"), c.High.Format("01-02T15:04"), c.Target.Format("01-02T15:04"), c.Records, c.Parts)
	if c.LastError != "" {
		fmt.Fprintf(&b, " last error: %s", c.LastError)
	}
	return b.String()
}

// Licensed reports whether the tenant holds every licence the data type needs: the data types it can have.
func (e *Env) Licensed(dt catalog.DataType) bool {
	has := func(l entrasim.Licence) bool { return slices.Contains(e.licences, l) }
	for _, l := range dt.Licences {
		ok := false
		switch l {
		case catalog.EntraP1P2:
			ok = e.premium
		case catalog.EntraP2:
			ok = e.licences == nil || has(entrasim.LicenceP2)
		case catalog.IntuneLicence:
			ok = has(entrasim.LicenceIntune)
		case catalog.WorkloadIdentitiesPremium:
			ok = has(entrasim.LicenceWorkloadIdentitiesPremium)
		case catalog.AgentID:
			ok = has(entrasim.LicenceAgentID)
		}
		if !ok {
			return false
		}
	}
	return true
}
