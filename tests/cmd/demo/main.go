// Command demo is `make demo`: the whole product on one machine, with no Azure. It builds the handler into the
// deployable layout and starts Azurite, a simulated Entra tenant (30 days of sign-ins of all four types, audits
// and provisioning, some of them arriving hours late), the Key Vault stand-in, and the handler under the Functions
// host simulator. Then it calls Status, adds the integration through the Integrations API as an administrator would
// — first with a wrong secret, whose diagnosis quotes Entra's AADSTS code, then Reset Credentials with the right
// one, which connects — collects (the CollectLogs timer, then the collect-work queue until it is empty: the 30-day
// backfill), lets simulated time pass so new and late events arrive and collects again, and ends by checking the
// archive against the tenant's ground truth:
//
//	verify <dataType> records=<n> missing=<m> duplicates=<d>
//
// and switches the opt-in per-object data types on (mailboxSettings, synchronizationJobs, and authenticationMethods
// for three listed users, one of whom does not exist) by PATCHing the integration to custom mode with the data types
// it already collects and those three, collects the directory (full rounds, then hourly delta rounds while the
// directory changes), replaying the archive against the tenant's directory:
//
//	verify <dataType> objects=<n> missing=0 extra=0 stale=0
//
// and comparing each snapshot data type, the per-object ones included, with the tenant
// (verify <dataType> records=<n> missing=0 duplicates=0).
//
// Then remediation: a help-desk caller resets a user's MFA as a dry run, then for real (and retries with the same
// Idempotency-Key), is refused a guest's deletion, and the audit trail is read back. It ends by computing the day's
// identity insights (ComputeInsights, then InsightsWork from queue insights-work), checking the client secret's
// expiry (CheckSecretExpiry; the tenant's secret is made to expire in 60 days, so the 90-day alert goes to a local
// Teams, Slack and generic JSON webhook receiver, and a second run sends nothing) and saving the Status page as a
// browser gets it. With -serve (`make demo SERVE=1`) it then leaves everything running and serves the live Status
// page on -addr until Ctrl-C.
//
// Data stays in .data/demo for inspection (Azurite's folder; the handler log; status.html).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/entra-di/edi/internal/access"
	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
	"github.com/entra-di/edi/tests/webhooksim"
)

// step is one stage of the demo. run reports a result to print; an error ends the demo (cleanup still runs).
type step struct {
	title string
	run   func(ctx context.Context, d *demo) (string, error)
}

// steps is the scenario, in order.
var steps = []step{
	{"Build the handler into the deployable layout", buildApp},
	{"Start Azurite, the simulated Entra tenant, Key Vault and the Functions host", startAll},
	{"Call Status with a function key", callStatus},
	{"Check that Status refuses a call without a key", callStatusWithoutKey},
	{"Add the integration through the Integrations API — with a wrong secret value", addIntegration},
	{"Reset Credentials with the right secret: Connect", resetCredentials},
	{"Collect: CollectLogs plans, CollectWork drains the queue (30-day backfill)", collectFirst},
	{"Six hours pass: new and late events arrive; Collect Now", collectNow},
	{"Two more days pass, collecting every 2 hours (re-sweeps pick up late events)", collectSettle},
	{"Check the archive against the tenant's ground truth", verify},
	{"Switch on the opt-in per-object data types: PATCH the integration to custom mode (Integrations API)", switchOnPerObject},
	{"Collect the directory: CollectDirectory plans, full rounds first", collectDirectory},
	{"Six hours pass while the directory changes, with a delta round every hour", collectDirectoryHourly},
	{"Replay the directory's archive against the tenant's directory", verifyDirectory},
	{"Remediation: reset-mfa as a dry run, then for real (retried with its Idempotency-Key), then a refusal", remediation},
	{"Read the remediation audit trail (GET /api/remediation/audit)", auditTrail},
	{"Compute the day's insights: ComputeInsights plans, InsightsWork reads the archive", computeInsights},
	{"Check client secret expiry: CheckSecretExpiry alerts a local Teams, Slack and JSON webhook", checkSecretExpiry},
	{"Save the Status page as a browser gets it", savePage},
}

// demo is the state the steps share.
type demo struct {
	out     io.Writer
	root    string // module root
	dataDir string // .data/demo, kept after the run
	version string
	appRoot string
	logFile *os.File
	env     *scenario.Env
	hooks   *webhooksim.Receiver
	ok      bool
	// listed are the users whose authentication methods the integration reads (switchOnPerObject).
	listed []string
}

func main() {
	serve := flag.Bool("serve", false, "after the demo, keep everything running and serve the Status page until Ctrl-C")
	addr := flag.String("addr", "127.0.0.1:7071", "where -serve listens (loopback)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, *serve, *addr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, serve bool, addr string) (err error) {
	root, err := azurite.ModuleRoot()
	if err != nil {
		return err
	}
	d := &demo{out: out, root: root, dataDir: filepath.Join(root, ".data", "demo"), version: gitVersion(ctx, root)}
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
			fmt.Fprintf(out, "      %s\n", strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n      "))
		}
	}
	fmt.Fprintf(out, "\nThe archive is in Azurite's folder %s (container entra-raw, e.g.\n  integration=default/type=signIns.interactive/date=YYYY-MM-DD/hour=HH/<bucket-start>-0000.ndjson.gz,\n  integration=default/type=users/snapshot=<start>/part-0000.ndjson.gz and …/delta=<start>/…, each with _manifest.json);\nthe handler's log is %s.\n",
		filepath.Join(d.dataDir, "azurite"), filepath.Join(d.dataDir, "handler.log"))
	if !d.ok {
		return errors.New("the archive does not match the tenant's ground truth")
	}
	if !serve {
		fmt.Fprintf(out, "The Status page as a browser saw it: %s\nTo open the live page, run `make demo SERVE=1` (it serves http://%s/api/status until Ctrl-C).\n",
			d.pagePath(), addr)
		return nil
	}
	return d.serve(ctx, out, addr)
}

// pagePath is where savePage writes the page.
func (d *demo) pagePath() string { return filepath.Join(d.dataDir, "status.html") }

// serve puts the host simulator's HTTP front on addr — what `func start` would serve — and waits for Ctrl-C.
func (d *demo) serve(ctx context.Context, out io.Writer, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve the Status page: %w (choose another address with make demo SERVE=1 ADDR=127.0.0.1:<port>)", err)
	}
	srv := &http.Server{Handler: d.env.Host, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(out, "\nServing the Status page (it reloads itself every 2 minutes; the simulated clock keeps running):\n\n    http://%s/api/status?code=%s\n\n"+
		"JSON: curl -H 'x-functions-key: %s' http://%s/api/status\nPress Ctrl-C to stop.\n", ln.Addr(), d.env.FunctionKey, d.env.FunctionKey, ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func computeInsights(ctx context.Context, d *demo) (string, error) {
	if err := d.env.ComputeInsights(ctx); err != nil {
		return "", err
	}
	r, err := d.env.Insights(ctx)
	if err != nil {
		return "", err
	}
	if r == nil {
		return "", errors.New("InsightsWork wrote no insights")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "integration=%s/type=insights/date=%s/insights.json: %d users\n", r.Integration, r.Date, r.Users.Total)
	if in := r.Inactive; in.Unavailable == "" {
		fmt.Fprintf(&b, "inactive (> %d days) %d, expired (> %d days) %d, never signed in %d, of %d judged\n",
			in.ThresholdDays, in.Totals.Inactive, in.ExpiredDays, in.Totals.Expired, in.Totals.NeverSignedIn, in.Totals.Users)
	}
	if m := r.MFA; m.SignIns != nil {
		fmt.Fprintf(&b, "MFA (from %s): %d of %d users who signed in performed MFA; %d of %d admins without MFA\n",
			m.Source, m.SignIns.PerformedMFA, m.SignIns.SignedIn, m.AdminsWithoutMFA, m.Admins)
	} else if m.Registration != nil {
		fmt.Fprintf(&b, "MFA (from %s): %d of %d users MFA capable; %d of %d admins without MFA\n",
			m.Source, m.Registration.Capable, m.Registration.Users, m.AdminsWithoutMFA, m.Admins)
	}
	if s := r.SSO; s.Unavailable == "" {
		fmt.Fprintf(&b, "SSO: %d of %d %s had sign-ins through Entra\n", s.AppsWithSignIns, s.AppsKnown, s.Denominator)
	}
	fmt.Fprintf(&b, "guests %d, pending acceptance %d", r.Guests.Total, r.Guests.PendingAcceptance)
	return b.String(), nil
}

// savePage fetches the Status page as a browser asks for it and keeps it in .data/demo/status.html.
func savePage(ctx context.Context, d *demo) (string, error) {
	res, err := d.env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodGet, Path: "/api/status",
		Header: http.Header{"x-functions-key": {d.env.FunctionKey}, "Accept": {"text/html,application/xhtml+xml"}}})
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		return "", fmt.Errorf("Status answered %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if err := os.WriteFile(d.pagePath(), res.Body, 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("GET /api/status (Accept: text/html) → 200, %d KiB: %s", len(res.Body)/1024, d.pagePath()), nil
}

func buildApp(ctx context.Context, d *demo) (string, error) {
	if err := os.RemoveAll(d.dataDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(d.dataDir, 0o755); err != nil {
		return "", err
	}
	var err error
	d.appRoot, err = hostsim.Build(ctx, hostsim.BuildOptions{
		ModuleRoot: d.root,
		Package:    "./handlers",
		Source:     d.root,
		OutDir:     filepath.Join(d.dataDir, "app"),
		LDFlags:    "-s -w -X github.com/entra-di/edi/internal/version.Version=" + d.version,
	})
	if err != nil {
		return "", err
	}
	settings, err := hostsim.LoadLocalSettings(filepath.Join(d.root, "local.settings.sample.json"))
	if err != nil {
		return "", err
	}
	app, err := hostsim.LoadApp(d.appRoot, settings)
	if err != nil {
		return "", err
	}
	var names []string
	for _, fn := range app.Functions {
		names = append(names, fn.Name+" ("+fn.Trigger.Type+")")
	}
	return fmt.Sprintf("%s\nfunctions: %s", d.appRoot, strings.Join(names, ", ")), nil
}

func startAll(ctx context.Context, d *demo) (string, error) {
	var err error
	if d.logFile, err = os.Create(filepath.Join(d.dataDir, "handler.log")); err != nil {
		return "", err
	}
	// The expiry alerts go to a local receiver; each URL carries a token as a real one carries its credential.
	d.hooks = webhooksim.Start()
	hooks := map[string]string{}
	for n, kind := range []string{webhooksim.Teams, webhooksim.Slack, webhooksim.JSON} {
		hooks[fmt.Sprintf("SECRET_EXPIRY_WEBHOOK_%d", n+1)] = kind + ":" + d.hooks.URL(kind, fmt.Sprintf("demo%dtoken", n))
	}
	d.env, err = scenario.Start(ctx, scenario.Options{
		Settings: hooks,
		AppRoot:  d.appRoot,
		Dir:      d.dataDir,
		Output:   d.logFile,
		// The directory changes about 20 times an hour; Graph replays 5 % of a round's changes in the next one,
		// reports removals 10 minutes late and splits groups above 10 members over several items. The app is
		// granted the read-write set and the integration is added read-write, so the remediation steps can act;
		// a break-glass account is declared protected. The integration is added through the Integrations API,
		// not declared in app settings.
		// The integration's client secret expires in 60 days, so the expiry check has an alert to send.
		// The tenant holds every licence, so every data type has data; its risk state changes with the clock.
		Tenant: entrasim.Options{Seed: 7, Users: 15, LateShare: 0.03, Churn: 20, DeltaReplayShare: 0.05,
			RemovalDelay: 10 * time.Minute, MemberSliceSize: 10, Roles: entrasim.ReadWriteRoles(), SecretLifetime: 60 * 24 * time.Hour,
			Licences: []entrasim.Licence{entrasim.LicenceP2, entrasim.LicenceIntune, entrasim.LicenceWorkloadIdentitiesPremium, entrasim.LicenceAgentID}},
		APIIntegration: true,
	})
	if err != nil {
		return "", err
	}
	t := d.env.Tenant
	return fmt.Sprintf("Azurite: blob %s, queue %s, table %s\n"+
		"tenant %s (%s), integration app %s, %d users, 30 days of history, 3 %% of events late (up to 48 h)\n"+
		"Graph %s, authority %s (Graph's throttling scaled 100×: reports 5 requests / 100 ms)\n"+
		"Key Vault %s (empty: the Integrations API will store the client secret as integration-default)\n"+
		"simulated clock at %s",
		d.env.Azurite.BlobURL, d.env.Azurite.QueueURL, d.env.Azurite.TableURL,
		t.TenantID(), t.TenantDomain(), t.ClientID(), len(t.Users()),
		t.GraphURL(), t.AuthorityURL(), d.env.Vault.URL(), d.env.Clock.Now().Format(time.RFC3339)), nil
}

func (d *demo) get(ctx context.Context, path string, key bool) (*hostsim.HTTPResult, error) {
	h := http.Header{"Accept": {"application/json"}}
	if key {
		h.Set("x-functions-key", d.env.FunctionKey)
	}
	return d.env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodGet, Path: path, Header: h})
}

// statusReport is the part of the Status answer the demo shows.
type statusReport struct {
	Version string `json:"version"`
	Healthy bool   `json:"healthy"`
	Config  struct {
		Storage, RawContainer, KeyVault, GraphEndpoint, FunctionTimeout string
		Integration                                                     string `json:"settingsIntegration"`
	} `json:"config"`
	Storage struct {
		Blob, Table, Queue string
	} `json:"storage"`
	Integrations []struct {
		ID     string `json:"id"`
		Secret *struct {
			SecretID  string     `json:"secretId"`
			Expires   *time.Time `json:"expires"`
			DaysLeft  *int       `json:"daysLeft"`
			Problem   string     `json:"problem"`
			LastAlert *struct {
				Threshold string    `json:"threshold"`
				SentAt    time.Time `json:"sentAt"`
			} `json:"lastAlert"`
		} `json:"secret"`
		DataTypes []struct {
			DataType       string     `json:"dataType"`
			Mode           string     `json:"mode"`
			LastRound      *time.Time `json:"lastRound"`
			LastFull       *time.Time `json:"lastFull"`
			Collected      bool       `json:"collected"`
			Objects        int64      `json:"objects"`
			Changes        int64      `json:"changes"`
			State          string     `json:"state"`
			Detail         string     `json:"detail"`
			ArchivedFrom   *time.Time `json:"archivedFrom"`
			ArchivedTo     *time.Time `json:"archivedTo"`
			BacklogBuckets int        `json:"backlogBuckets"`
			Records        int64      `json:"records"`
			Parts          int64      `json:"parts"`
			LastError      string     `json:"lastError"`
		} `json:"dataTypes"`
	} `json:"integrations"`
}

func (d *demo) status(ctx context.Context) (*statusReport, error) {
	res, err := d.get(ctx, "/api/status", true)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("Status answered %d: %s", res.StatusCode, res.Body)
	}
	var st statusReport
	if err := json.Unmarshal(res.Body, &st); err != nil {
		return nil, fmt.Errorf("Status answer: %w", err)
	}
	return &st, nil
}

func callStatus(ctx context.Context, d *demo) (string, error) {
	st, err := d.status(ctx)
	if err != nil {
		return "", err
	}
	if !st.Healthy {
		return "", fmt.Errorf("Status reports unhealthy storage: %+v", st.Storage)
	}
	return fmt.Sprintf("version %s, storage: blob %s, table %s, queue %s\nintegrations: %d (none in app settings)\nGraph %s, Key Vault %s, function timeout %s",
		st.Version, st.Storage.Blob, st.Storage.Table, st.Storage.Queue, len(st.Integrations), st.Config.GraphEndpoint,
		st.Config.KeyVault, st.Config.FunctionTimeout), nil
}

func callStatusWithoutKey(ctx context.Context, d *demo) (string, error) {
	res, err := d.get(ctx, "/api/status", false)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("without a key Status answered %d, want 401", res.StatusCode)
	}
	return "401 Unauthorized, handler not called", nil
}

// apiConnectivity is the part of a connectivity result the demo shows.
type apiConnectivity struct {
	State     string `json:"state"`
	Message   string `json:"message"`
	DataTypes []struct {
		DataType string `json:"dataType"`
		Outcome  string `json:"outcome"`
	} `json:"dataTypes"`
}

// wrongSecret is what an administrator might paste by mistake: a value that is no secret of the app.
const wrongSecret = "Q8x~not-the-value-of-any-secret.Demo0"

func addIntegration(ctx context.Context, d *demo) (string, error) {
	d.env.Secrets.Add("wrong secret typed in the demo", wrongSecret)
	res, err := d.env.PostIntegration(ctx, wrongSecret, map[string]any{"permissions": "read-write",
		"protectedUsers": []string{"breakglass@contoso.com"}})
	if err != nil {
		return "", err
	}
	var out struct {
		Integration struct {
			SecretVersion string `json:"secretVersion"`
		} `json:"integration"`
		Connectivity apiConnectivity `json:"connectivity"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return "", err
	}
	if out.Connectivity.State != "Invalid credentials" || !strings.Contains(out.Connectivity.Message, "AADSTS7000215") {
		return "", fmt.Errorf("a wrong secret was diagnosed as %q: %s", out.Connectivity.State, out.Connectivity.Message)
	}
	return fmt.Sprintf("POST /api/integrations → %d %s (secret stored in Key Vault as integration-default, version %s)\n"+
		"connectivity: %s — %s", res.StatusCode, http.StatusText(res.StatusCode), short(out.Integration.SecretVersion),
		out.Connectivity.State, out.Connectivity.Message), nil
}

func resetCredentials(ctx context.Context, d *demo) (string, error) {
	t := d.env.Tenant
	res, err := d.env.API(ctx, http.MethodPost, "/api/integrations/"+scenario.Integration+"/credentials",
		map[string]string{"secretId": t.SecretID(), "secret": t.ClientSecret()}, access.Admin)
	if err != nil {
		return "", err
	}
	var out struct {
		Switched     bool                           `json:"switched"`
		Integration  struct{ SecretVersion string } `json:"integration"`
		Connectivity apiConnectivity                `json:"connectivity"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK || !out.Switched || out.Connectivity.State != "Connected" {
		return "", fmt.Errorf("Reset Credentials answered %d: %s", res.StatusCode, res.Body)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "POST /api/integrations/%s/credentials → %d %s (new Key Vault version %s)\nconnectivity: %s — %s\n",
		scenario.Integration, res.StatusCode, http.StatusText(res.StatusCode), short(out.Integration.SecretVersion), out.Connectivity.State, out.Connectivity.Message)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "data type\tconnectivity test")
	for _, dt := range out.Connectivity.DataTypes {
		fmt.Fprintf(w, "%s\t%s\n", dt.DataType, dt.Outcome)
	}
	_ = w.Flush()
	return strings.TrimRight(b.String(), "\n"), nil
}

func short(version string) string {
	if len(version) > 8 {
		return version[:8] + "…"
	}
	return version
}

// table prints the per-data-type state from Status: the log streams, or the directory's data types.
func (d *demo) table(ctx context.Context, logs bool) (string, error) {
	st, err := d.status(ctx)
	if err != nil {
		return "", err
	}
	if len(st.Integrations) == 0 {
		return "", errors.New("Status lists no integration")
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "data type\tstate\trecords\tparts\tarchived from / last full\tarchived to / last round\tbacklog / objects")
	for _, dt := range st.Integrations[0].DataTypes {
		if (dt.Mode == "buckets") != logs {
			continue
		}
		state := dt.State
		if dt.Detail != "" {
			state += " (" + dt.Detail + ")"
		}
		if dt.Mode == "buckets" {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%d buckets\n", dt.DataType, state, dt.Records, dt.Parts, stamp(dt.ArchivedFrom), stamp(dt.ArchivedTo), dt.BacklogBuckets)
		} else {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%d objects (+%d changes)\n", dt.DataType, state, dt.Records, dt.Parts, stamp(dt.LastFull), stamp(dt.LastRound), dt.Objects, dt.Changes)
		}
	}
	_ = w.Flush()
	return b.String(), nil
}

func stamp(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func (d *demo) runsLine(ctx context.Context) string {
	runs, err := d.env.Runs(ctx, 1)
	if err != nil || len(runs) == 0 {
		return ""
	}
	r := runs[0]
	return fmt.Sprintf("last run: %s, %d pages, %d records in %d parts, %d Graph requests (%d answered 429), %s",
		r.Outcome, r.Pages, r.Records, r.Parts, r.Requests, r.Throttled, r.Finished.Sub(r.Started).Round(time.Millisecond))
}

func collectFirst(ctx context.Context, d *demo) (string, error) {
	if err := d.env.Collect(ctx); err != nil {
		return "", err
	}
	t, err := d.table(ctx, true)
	return t + d.runsLine(ctx), err
}

func collectNow(ctx context.Context, d *demo) (string, error) {
	d.env.Clock.Advance(6 * time.Hour)
	res, err := d.env.Host.HTTP(ctx, &hostsim.HTTPRequest{Method: http.MethodPost, Path: "/api/integrations/" + scenario.Integration + "/collect",
		Header: http.Header{"x-functions-key": {d.env.FunctionKey}}})
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("Collect Now answered %d: %s", res.StatusCode, res.Body)
	}
	if err := d.env.Host.WaitIdle(ctx); err != nil {
		return "", err
	}
	t, err := d.table(ctx, true)
	return fmt.Sprintf("POST /api/integrations/%s/collect → 202\n%s%s", scenario.Integration, t, d.runsLine(ctx)), err
}

func collectSettle(ctx context.Context, d *demo) (string, error) {
	if err := d.env.CollectUntilSettled(ctx, 2*time.Hour); err != nil {
		return "", err
	}
	t, err := d.table(ctx, true)
	return fmt.Sprintf("simulated clock now %s\n%s", d.env.Clock.Now().Format(time.RFC3339), t), err
}

func verify(ctx context.Context, d *demo) (string, error) {
	reports, err := d.env.Verify(ctx, true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	d.ok = true
	for _, dt := range catalog.DataTypes {
		for _, r := range reports {
			if r.DataType != dt.Name {
				continue
			}
			fmt.Fprintln(&b, r.Line())
			d.ok = d.ok && r.OK()
		}
	}
	if len(reports) > 0 {
		r := reports[0]
		fmt.Fprintf(&b, "(buckets whose +48h re-sweep is done: %s to %s, as the tenant keeps them now)", stamp(&r.From), stamp(&r.To))
	}
	return b.String(), nil
}

// collected lists the data types Status shows the integration collecting.
func (d *demo) collected(ctx context.Context) ([]string, error) {
	st, err := d.status(ctx)
	if err != nil {
		return nil, err
	}
	if len(st.Integrations) == 0 {
		return nil, errors.New("Status lists no integration")
	}
	var out []string
	for _, dt := range st.Integrations[0].DataTypes {
		if dt.Collected {
			out = append(out, dt.DataType)
		}
	}
	return out, nil
}

// switchOnPerObject switches the opt-in per-object data types on as an administrator would: custom mode with the data
// types the integration collects (as Status shows them) and the three, and two members of the tenant and a user
// that does not exist listed for authenticationMethods. Status must then show exactly those collected.
func switchOnPerObject(ctx context.Context, d *demo) (string, error) {
	before, err := d.collected(ctx)
	if err != nil {
		return "", err
	}
	on := map[string]bool{}
	for _, name := range append(slices.Clone(before), scenario.PerObjectDataTypes...) {
		on[name] = true
	}
	var names []string
	for _, u := range d.env.Tenant.Users() {
		if u.UserType == "Member" && len(d.listed) < 2 {
			d.listed = append(d.listed, u.ID)
			names = append(names, u.UserPrincipalName)
		}
	}
	d.listed = append(d.listed, scenario.NoSuchUser)
	names = append(names, scenario.NoSuchUser+" (no such user)")
	res, err := d.env.API(ctx, http.MethodPatch, "/api/integrations/"+scenario.Integration,
		map[string]any{"mode": "custom", "dataTypes": on, "authenticationMethodsUsers": d.listed}, access.Admin)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("PATCH custom mode answered %d: %s", res.StatusCode, res.Body)
	}
	after, err := d.collected(ctx)
	if err != nil {
		return "", err
	}
	if want := slices.Sorted(maps.Keys(on)); !slices.Equal(slices.Sorted(slices.Values(after)), want) {
		return "", fmt.Errorf("after the switch Status shows %v collected, want %v", after, want)
	}
	return fmt.Sprintf("PATCH /api/integrations/%s {mode: custom, dataTypes: the %d data types collected in managed mode + %s,\n"+
		"  authenticationMethodsUsers: %s} → %d %s\n"+
		"Status: %d data types collected, the same and the three (managed mode never collects them: one request per object)",
		scenario.Integration, len(before), strings.Join(scenario.PerObjectDataTypes, ", "), strings.Join(names, ", "),
		res.StatusCode, http.StatusText(res.StatusCode), len(after)), nil
}

func collectDirectory(ctx context.Context, d *demo) (string, error) {
	if err := d.env.CollectDirectory(ctx); err != nil {
		return "", err
	}
	t, err := d.table(ctx, false)
	return t + d.runsLine(ctx), err
}

func collectDirectoryHourly(ctx context.Context, d *demo) (string, error) {
	for range 6 {
		d.env.Clock.Advance(time.Hour)
		if err := d.env.CollectDirectory(ctx); err != nil {
			return "", err
		}
	}
	t, err := d.table(ctx, false)
	return fmt.Sprintf("simulated clock now %s\n%s", d.env.Clock.Now().Format(time.RFC3339), t), err
}

func verifyDirectory(ctx context.Context, d *demo) (string, error) {
	reports, err := d.env.VerifyDirectory(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range reports {
		fmt.Fprintln(&b, r.Line())
		d.ok = d.ok && r.OK()
	}
	b.WriteString("(each replays the newest snapshot and the delta rounds after it, against the tenant at the last round's start)\n")
	versions, err := d.env.VerifyVersions(ctx)
	if err != nil {
		return "", err
	}
	snapshots, err := d.env.VerifySnapshots(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range append(versions, snapshots...) {
		fmt.Fprintln(&b, r.Line())
		d.ok = d.ok && r.OK() && r.Records > 0
	}
	b.WriteString("(versioned snapshots: every version the tenant served since the first round, each archived once; " +
		"snapshots: the newest kept one against the tenant at the last read)\n")
	perObject, err := d.env.VerifyPerObject(ctx, d.listed)
	if err != nil {
		return "", err
	}
	absent := map[string]int{}
	for _, r := range perObject {
		fmt.Fprintln(&b, r.Line())
		if !r.OK() || r.Records == 0 {
			fmt.Fprintf(&b, "  extra=%d state=%q %s\n", r.Extra, r.State, strings.Join(r.Examples, "; "))
		}
		d.ok = d.ok && r.OK() && r.Records > 0
		absent[r.DataType] = r.Absent
	}
	fmt.Fprintf(&b, "(per-object snapshots, switched on in custom mode: the newest one against the tenant when it was read; "+
		"recorded absent: users without a mailbox %d, listed users that do not exist %d)", absent["mailboxSettings"], absent["authenticationMethods"])
	return b.String(), nil
}

// checkSecretExpiry runs CheckSecretExpiry twice and prints, per integration, the secret's expiry and days left as
// Status shows them, and what the local webhook receiver got: each alert once, whatever the number of runs.
func checkSecretExpiry(ctx context.Context, d *demo) (string, error) {
	for range 2 {
		if err := d.env.CheckSecretExpiry(ctx); err != nil {
			return "", err
		}
	}
	st, err := d.status(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, in := range st.Integrations {
		s := in.Secret
		switch {
		case s == nil:
			fmt.Fprintf(&b, "%s: the expiry check has not reported\n", in.ID)
			continue
		case s.Expires == nil || s.DaysLeft == nil:
			fmt.Fprintf(&b, "%s: secret %s, no expiry known (%s)\n", in.ID, s.SecretID, s.Problem)
		default:
			fmt.Fprintf(&b, "%s: secret %s expires %s, %d days left", in.ID, s.SecretID, s.Expires.UTC().Format("2006-01-02 15:04Z"), *s.DaysLeft)
			if s.LastAlert != nil {
				fmt.Fprintf(&b, ", last alert: %s days", s.LastAlert.Threshold)
			}
			b.WriteString("\n")
		}
	}
	got := d.hooks.Received()
	if len(got) == 0 {
		return "", errors.New("the webhook receiver got no alert (the secret expires within 90 days)")
	}
	for _, r := range got {
		fmt.Fprintf(&b, "webhook %-5s received: %s (threshold %s)\n", r.Kind, r.Title, r.Threshold)
	}
	if rej := d.hooks.Rejected(); len(rej) > 0 {
		return "", fmt.Errorf("the receiver refused malformed alerts: %s", strings.Join(rej, "; "))
	}
	fmt.Fprintf(&b, "(two runs, %d alerts: each threshold once per webhook)", len(got))
	return b.String(), nil
}

func (d *demo) cleanup() error {
	if d.env != nil {
		d.env.Close()
	}
	if d.hooks != nil {
		d.hooks.Close()
	}
	if d.logFile != nil {
		return d.logFile.Close()
	}
	return nil
}

func gitVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(b))
}

// remediation runs reset-mfa as a dry run and for real on a member who has MFA methods, retries it, and shows a
// refusal.
func remediation(ctx context.Context, d *demo) (string, error) {
	// The member with the most methods, and a guest.
	var target, guest entrasim.User
	most := 1
	for _, u := range d.env.Tenant.Users() {
		ms, _, _ := d.env.Tenant.AuthMethods(u.ID)
		switch {
		case u.UserType == "Member" && len(u.Roles) == 0 && len(ms) > most:
			target, most = u, len(ms)
		case guest.ID == "" && u.UserType == "Guest":
			guest = u
		}
	}
	if target.ID == "" || guest.ID == "" {
		return "", errors.New("the demo tenant has no member with MFA methods, or no guest")
	}
	var b strings.Builder
	body := map[string]any{"integration": scenario.Integration, "user": target.UserPrincipalName, "reason": "reported a phishing mail", "ticket": "INC-1001", "dryRun": true}
	res, err := d.env.Remediate(ctx, "reset-mfa", scenario.HelpdeskCaller, "", body)
	if err != nil {
		return "", err
	}
	dry, err := decodeRemediation(res, http.StatusOK)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "POST /api/remediation/reset-mfa {dryRun: true} → %d %s: %s\n", res.StatusCode, dry.Outcome, dry.Message)
	for _, s := range dry.Plan {
		fmt.Fprintf(&b, "  would send %s %s\n", s.Method, s.Path)
	}
	body["dryRun"] = false
	res, err = d.env.Remediate(ctx, "reset-mfa", scenario.HelpdeskCaller, "demo-"+target.ID, body)
	if err != nil {
		return "", err
	}
	real, err := decodeRemediation(res, http.StatusOK)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "POST /api/remediation/reset-mfa (Idempotency-Key demo-…) → %d %s: %s\n", res.StatusCode, real.Outcome, real.Message)
	for _, m := range real.Methods {
		fmt.Fprintf(&b, "  %-45s %s\n", m.Type+" "+m.PhoneType, m.Outcome)
	}
	res, err = d.env.Remediate(ctx, "reset-mfa", scenario.HelpdeskCaller, "demo-"+target.ID, body)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "the same request again → %d, Idempotent-Replayed: %s (Graph not called)\n", res.StatusCode, res.Header.Get("Idempotent-Replayed"))
	res, err = d.env.Remediate(ctx, "delete-guest-user", scenario.HelpdeskCaller, "demo-delete",
		map[string]any{"integration": scenario.Integration, "user": guest.UserPrincipalName, "reason": "left the project"})
	if err != nil {
		return "", err
	}
	var refusal struct{ Code, Error string }
	_ = json.Unmarshal(res.Body, &refusal)
	if res.StatusCode != http.StatusForbidden {
		return "", fmt.Errorf("a help-desk caller deleting a guest was answered %d: %s", res.StatusCode, res.Body)
	}
	fmt.Fprintf(&b, "a help-desk caller deleting a guest → %d %s: %s", res.StatusCode, refusal.Code, refusal.Error)
	return b.String(), nil
}

// remediationAnswer is what the demo shows of a remediation answer.
type remediationAnswer struct {
	Outcome, Message string
	Plan             []struct{ Method, Path string }
	Methods          []struct{ Type, PhoneType, Outcome string }
}

func decodeRemediation(res *hostsim.HTTPResult, want int) (*remediationAnswer, error) {
	if res.StatusCode != want {
		return nil, fmt.Errorf("remediation answered %d: %s", res.StatusCode, res.Body)
	}
	var a remediationAnswer
	if err := json.Unmarshal(res.Body, &a); err != nil {
		return nil, fmt.Errorf("remediation answer: %w", err)
	}
	return &a, nil
}

// auditTrail prints the audit entries of the remediation step.
func auditTrail(ctx context.Context, d *demo) (string, error) {
	body, err := d.env.RemediationAudit(ctx, scenario.ReaderCaller, nil)
	if err != nil {
		return "", err
	}
	var trail struct {
		Entries []struct {
			Time     time.Time
			Caller   struct{ Name string }
			Action   string
			Target   *struct{ Requested string }
			DryRun   bool
			Status   int
			Outcome  string
			Ticket   string
			Requests []struct{ Method, Path, RequestID string }
		}
	}
	if err := json.Unmarshal(body, &trail); err != nil {
		return "", err
	}
	if len(trail.Entries) == 0 {
		return "", errors.New("the audit trail is empty")
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "time\tcaller\taction\ttarget\tticket\tstatus\toutcome\tGraph requests (request-id of the last)")
	for _, e := range trail.Entries {
		target, action, last := "—", e.Action, "—"
		if e.Target != nil {
			target = e.Target.Requested
		}
		if e.DryRun {
			action += " (dry run)"
		}
		if n := len(e.Requests); n > 0 {
			last = fmt.Sprintf("%d (%s)", n, e.Requests[n-1].RequestID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Time.Format("15:04:05"), e.Caller.Name, action, target, e.Ticket, e.Status, e.Outcome, last)
	}
	_ = w.Flush()
	fmt.Fprintf(&b, "(also in Azurite: table audit, and the append blob audit/remediation/date=%s/audit.ndjson)", d.env.Clock.Now().UTC().Format(time.DateOnly))
	return b.String(), nil
}
