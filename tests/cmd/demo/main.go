// Command demo is `make demo`: the whole product on one machine, with no Azure. It builds the handler into the
// deployable layout and starts Azurite, a simulated Entra tenant (30 days of sign-ins of all four types, audits
// and provisioning, some of them arriving hours late), the Key Vault stand-in holding the integration's client
// secret, and the handler under the Functions host simulator. Then it calls Status, collects (the CollectLogs timer,
// then the collect-work queue until it is empty: the 30-day backfill), lets simulated time pass so new and late
// events arrive and collects again, and ends by checking the archive against the tenant's ground truth:
//
//	verify <dataType> records=<n> missing=<m> duplicates=<d>
//
// Then it collects the directory (the CollectDirectory timer), computes the day's identity insights (ComputeInsights,
// then InsightsWork from queue insights-work) and saves the Status page as the browser gets it. With -serve (`make
// demo SERVE=1`) it then leaves everything running and serves the live Status page on -addr until Ctrl-C.
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
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
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
	{"Collect: CollectLogs plans, CollectWork drains the queue (30-day backfill)", collectFirst},
	{"Six hours pass: new and late events arrive; Collect Now", collectNow},
	{"Two more days pass, collecting every 2 hours (re-sweeps pick up late events)", collectSettle},
	{"Check the archive against the tenant's ground truth", verify},
	{"Collect the directory: CollectDirectory plans, CollectWork reads the rounds", collectDirectory},
	{"Compute the day's insights: ComputeInsights plans, InsightsWork reads the archive", computeInsights},
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
	ok      bool
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
	fmt.Fprintf(out, "\nThe archive is in Azurite's folder %s (container entra-raw, e.g.\n  integration=default/type=signIns.interactive/date=YYYY-MM-DD/hour=HH/<bucket-start>-0000.ndjson.gz);\nthe handler's log is %s.\n",
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

func collectDirectory(ctx context.Context, d *demo) (string, error) {
	if err := d.env.CollectDirectory(ctx); err != nil {
		return "", err
	}
	reports, err := d.env.VerifyDirectory(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range reports {
		fmt.Fprintln(&b, r.Line())
		d.ok = d.ok && r.OK()
	}
	return b.String(), nil
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
	d.env, err = scenario.Start(ctx, scenario.Options{
		AppRoot: d.appRoot,
		Dir:     d.dataDir,
		Output:  d.logFile,
		Tenant:  entrasim.Options{Seed: 7, Users: 15, LateShare: 0.03},
	})
	if err != nil {
		return "", err
	}
	t := d.env.Tenant
	return fmt.Sprintf("Azurite: blob %s, queue %s, table %s\n"+
		"tenant %s (%s), integration app %s, %d users, 30 days of history, 3 %% of events late (up to 48 h)\n"+
		"Graph %s, authority %s (Graph's throttling scaled 100×: reports 5 requests / 100 ms)\n"+
		"Key Vault %s holds secret integration-default (the value is never printed)\n"+
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
		ID        string `json:"id"`
		DataTypes []struct {
			DataType       string     `json:"dataType"`
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
	return fmt.Sprintf("version %s, storage: blob %s, table %s, queue %s\nintegration from app settings: %s\nGraph %s, Key Vault %s, function timeout %s",
		st.Version, st.Storage.Blob, st.Storage.Table, st.Storage.Queue, st.Config.Integration, st.Config.GraphEndpoint,
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

// table prints the per-data-type state from Status.
func (d *demo) table(ctx context.Context) (string, error) {
	st, err := d.status(ctx)
	if err != nil {
		return "", err
	}
	if len(st.Integrations) == 0 {
		return "", errors.New("Status lists no integration")
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "data type\tstate\trecords\tparts\tarchived from\tarchived to\tbacklog")
	for _, dt := range st.Integrations[0].DataTypes {
		state := dt.State
		if dt.Detail != "" {
			state += " (" + dt.Detail + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%d buckets\n", dt.DataType, state, dt.Records, dt.Parts, stamp(dt.ArchivedFrom), stamp(dt.ArchivedTo), dt.BacklogBuckets)
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
	t, err := d.table(ctx)
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
	t, err := d.table(ctx)
	return fmt.Sprintf("POST /api/integrations/%s/collect → 202\n%s%s", scenario.Integration, t, d.runsLine(ctx)), err
}

func collectSettle(ctx context.Context, d *demo) (string, error) {
	if err := d.env.CollectUntilSettled(ctx, 2*time.Hour); err != nil {
		return "", err
	}
	t, err := d.table(ctx)
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

func (d *demo) cleanup() error {
	if d.env != nil {
		d.env.Close()
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
