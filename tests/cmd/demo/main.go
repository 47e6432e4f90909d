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
// Data stays in .data/demo for inspection (Azurite's folder; the handler log).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) (err error) {
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
	return nil
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
		// The integration is added through the API, not declared in app settings.
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
	res, err := d.env.AddIntegration(ctx, wrongSecret, nil)
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
