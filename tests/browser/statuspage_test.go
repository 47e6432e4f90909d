package browser

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/entra-di/edi/internal/status"
	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/hostsim"
	"github.com/entra-di/edi/tests/scenario"
)

var appRoot string

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	root, err := azurite.ModuleRoot()
	if err != nil {
		return 1, err
	}
	dir, err := os.MkdirTemp("", "edi-browser-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	appRoot, err = hostsim.BuildApp(ctx, root, filepath.Join(dir, "app"))
	cancel()
	if err != nil {
		return 1, err
	}
	return m.Run(), nil
}

// evil is a display name an attacker could give a user in the tenant: it must stay text on the page.
const evil = `<img src=x onerror=alert(1)>`

// pageFacts is what the test reads off the rendered page (the DOM Chromium built, not the HTML source).
type pageFacts struct {
	Title        string                       `json:"title"`
	Refresh      string                       `json:"refresh"`
	Images       int                          `json:"images"`
	Scripts      int                          `json:"scripts"`
	Health       string                       `json:"health"`
	Rows         map[string]map[string]string `json:"rows"`
	Fields       map[string]string            `json:"fields"`
	InactiveList []string                     `json:"inactiveList"`
	Alerts       []string                     `json:"alerts"`
	Width        int                          `json:"width"`
}

const readFacts = `(() => {
  const sec = document.querySelector('section.integration[data-integration="default"]');
  const text = e => e ? e.textContent.trim().replace(/\s+/g, ' ') : null;
  const rows = {};
  sec.querySelectorAll('tr[data-datatype]').forEach(tr => {
    const row = {};
    tr.querySelectorAll('[data-field]').forEach(e => { row[e.dataset.field] = text(e); });
    rows[tr.dataset.datatype] = row;
  });
  const fields = {};
  sec.querySelectorAll('dl [data-field], [data-card] [data-field]').forEach(e => { fields[e.dataset.field] = text(e); });
  return {
    title: document.title,
    refresh: document.querySelector('meta[http-equiv="refresh"]').content,
    images: document.querySelectorAll('img').length,
    scripts: document.querySelectorAll('script').length,
    health: text(document.getElementById('health')),
    rows, fields,
    inactiveList: [...sec.querySelectorAll('[data-list="inactive"] li')].map(li => li.firstChild.textContent.trim()),
    alerts: [...document.querySelectorAll('#alerts li')].map(text),
    width: document.documentElement.scrollWidth,
  };
})()`

// TestStatusPageInBrowser loads the Status page in headless Chromium from the real handler under the host
// simulator, after a collection of the simulated tenant (logs and directory) and the day's insights: the facts on
// the page equal the JSON report, a data type whose Graph requests fail shows its error and Graph request-id, a
// user's display name holding markup stays text (no element, no script run), and a screenshot is saved.
func TestStatusPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: `make tools` installs it (Debian package chromium)")
	}
	quiet := entrasim.StreamOptions{Rate: -1}
	env, err := scenario.Start(context.Background(), scenario.Options{
		AppRoot: appRoot,
		Output:  t.Output(),
		Tenant: entrasim.Options{Seed: 43, Users: 60, Apps: 8, Roles: entrasim.ReadWriteRoles(),
			Streams: map[string]entrasim.StreamOptions{
				"signIns.interactive": {Rate: 0.25}, "signIns.nonInteractive": quiet, "directoryAudits": {Rate: 1},
				"provisioning": {Rate: 1}, "signIns.servicePrincipal": quiet, "signIns.managedIdentity": quiet,
			}},
		Settings: map[string]string{"INSIGHTS_SIGNIN_DAYS": "7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	env.ScanSecretsAtEnd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// A populated archive and the day's insights.
	if err := env.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.CollectDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.ComputeInsights(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := env.Insights(ctx)
	if err != nil || first == nil || len(first.Inactive.Longest) == 0 {
		t.Fatalf("insights = %+v, %v: want inactive users to list", first, err)
	}
	// An administrator of the tenant renames the longest-inactive user to markup (PATCH /users/{id}, msgraph-sdk-go),
	// and Graph starts answering provisioning with pages that are not JSON.
	victim := first.Inactive.Longest[0].ID
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	u := models.NewUser()
	name := evil
	u.SetDisplayName(&name)
	if _, err := msgraphsdk.NewGraphServiceClient(g.Adapter()).Users().ByUserId(victim).Patch(ctx, u, nil); err != nil {
		t.Fatalf("PATCH user: %v", err)
	}
	if _, err := env.Tenant.AddFault(entrasim.FaultRule{Kind: entrasim.FaultInvalidJSON, Path: "/v1.0/auditLogs/provisioning"}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)
	for _, step := range []func(context.Context) error{env.Collect, env.CollectDirectory, env.ComputeInsights} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The JSON report, as an API client gets it.
	res, err := env.Host.HTTP(ctx, &hostsim.HTTPRequest{Path: "/api/status", Header: http.Header{"x-functions-key": {env.FunctionKey}, "Accept": {"application/json"}}})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/status (JSON) = %v, %v", res, err)
	}
	var report status.Report
	if err := json.Unmarshal(res.Body, &report); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if len(report.Integrations) != 1 {
		t.Fatalf("report integrations = %+v", report.Integrations)
	}
	want := report.Integrations[0]

	// The page, in Chromium, from the host simulator's HTTP front (the function key in ?code=, as a bookmark has it).
	srv := httptest.NewServer(env.Host)
	t.Cleanup(srv.Close)
	pageURL := srv.URL + "/api/status?code=" + env.FunctionKey
	facts, shot, dialogs := load(t, ctx, chromium, pageURL)

	path := screenshotPath(t)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the Status page: %s", path)

	t.Run("page", func(t *testing.T) {
		if facts.Title != "Status — Entra ID Data Integration" || facts.Health != "healthy" {
			t.Errorf("title %q, health %q", facts.Title, facts.Health)
		}
		if facts.Refresh != strconv.Itoa(status.RefreshSeconds) || facts.Scripts != 0 {
			t.Errorf("meta refresh %q (want %d), %d scripts", facts.Refresh, status.RefreshSeconds, facts.Scripts)
		}
	})
	t.Run("data types equal the JSON", func(t *testing.T) {
		if len(facts.Rows) != len(want.DataTypes) {
			t.Errorf("%d rows on the page, %d data types in the JSON", len(facts.Rows), len(want.DataTypes))
		}
		archived := 0
		for _, d := range want.DataTypes {
			row := facts.Rows[d.Name]
			if row == nil {
				t.Errorf("%s: no row on the page", d.Name)
				continue
			}
			state := d.State
			if d.Detail != "" {
				state += ": " + d.Detail
			}
			if !strings.HasPrefix(row["state"], state) || row["records"] != strconv.FormatInt(d.Records, 10) ||
				row["records-today"] != strconv.FormatInt(d.RecordsToday, 10) {
				t.Errorf("%s: page %v, JSON state %q records %d today %d", d.Name, row, state, d.Records, d.RecordsToday)
			}
			if (d.LagSeconds == nil) != (row["lag"] == "—") {
				t.Errorf("%s: lag %q on the page, %v in the JSON", d.Name, row["lag"], d.LagSeconds)
			}
			if d.Records > 0 {
				archived++
			}
		}
		if archived < 5 {
			t.Errorf("only %d data types archived anything: the archive is not populated", archived)
		}
	})
	t.Run("a failing data type shows its error and Graph request-id", func(t *testing.T) {
		var prov status.DataType
		for _, d := range want.DataTypes {
			if d.Name == "provisioning" {
				prov = d
			}
		}
		row := facts.Rows["provisioning"]
		if prov.State != "error" || prov.LastRequestID == "" || !strings.Contains(prov.LastError, "provisioning") {
			t.Fatalf("JSON provisioning = %+v, want its error with the Graph request id", prov)
		}
		if row["state"] != "error" || row["request-id"] != prov.LastRequestID || !strings.Contains(row["error"], prov.LastError) {
			t.Errorf("page provisioning row = %v; JSON error %q request-id %q", row, prov.LastError, prov.LastRequestID)
		}
		if !slices.ContainsFunc(facts.Alerts, func(a string) bool { return strings.Contains(a, "provisioning") && strings.HasPrefix(a, "error") }) {
			t.Errorf("alerts on the page: %q", facts.Alerts)
		}
	})
	t.Run("insights equal the JSON", func(t *testing.T) {
		in := want.Insights
		if in == nil {
			t.Fatal("no insights in the JSON")
		}
		wantFields := map[string]string{
			"inactive": strconv.Itoa(in.Inactive.Totals.Inactive), "expired": strconv.Itoa(in.Inactive.Totals.Expired),
			"never": strconv.Itoa(in.Inactive.Totals.NeverSignedIn), "judged": strconv.Itoa(in.Inactive.Totals.Users),
			"apps-known": strconv.Itoa(in.SSO.AppsKnown), "apps-with-signins": strconv.Itoa(in.SSO.AppsWithSignIns),
			"guests": strconv.Itoa(in.Guests.Total), "mfa-source": in.MFA.Source,
			"secret": "unknown — the daily expiry check has not reported yet",
		}
		// The integration in app settings is tested by the first timer after start, before any collection.
		c := want.Connectivity
		if c == nil || c.State != status.Connected {
			t.Fatalf("JSON connectivity = %+v, want the first start's test: Connected", c)
		}
		wantFields["connectivity"] = c.State + " " + c.Message + " — last test " + c.TestedAt.UTC().Format("2006-01-02 15:04:05Z")
		if c := in.MFA.SignIns; c != nil {
			wantFields["mfa-performed"] = fmt.Sprintf("%.0f %%", 100*float64(c.PerformedMFA)/float64(c.SignedIn))
		}
		for k, v := range wantFields {
			if facts.Fields[k] != v {
				t.Errorf("%s: page %q, JSON %q", k, facts.Fields[k], v)
			}
		}
		var names []string
		for _, u := range in.Inactive.Longest {
			names = append(names, u.DisplayName)
		}
		if !slices.Equal(facts.InactiveList, names) {
			t.Errorf("inactive list on the page %q, JSON %q", facts.InactiveList, names)
		}
	})
	t.Run("markup in a display name stays text", func(t *testing.T) {
		if !slices.Contains(facts.InactiveList, evil) {
			t.Errorf("the renamed user is not listed as %q: %q", evil, facts.InactiveList)
		}
		if facts.Images != 0 || dialogs != 0 {
			t.Errorf("%d img elements and %d JavaScript dialogs: the display name became markup", facts.Images, dialogs)
		}
	})
}

// load opens the page in a fresh headless Chromium and returns what it shows, a full-page screenshot (every
// <details> opened) and the number of JavaScript dialogs the page tried to open.
func load(t *testing.T, ctx context.Context, chromium, url string) (pageFacts, []byte, int32) {
	t.Helper()
	actx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.CombinedOutput(t.Output()),
	)
	defer cancel()
	var dialogs atomic.Int32
	var tab context.Context
	// A dialog (alert) blocks the page until it is answered: count it and dismiss it from another goroutine (the
	// listener runs on the tab's reader and must not run commands). Events come only once Do runs, after tab is set.
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go func() {
				_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}))
	defer cancelTab()
	bctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`section.integration`)))
	var facts pageFacts
	if err == nil {
		facts, err = chromedp.Run(bctx, chromedp.Evaluate[pageFacts](readFacts))
	}
	var shot []byte
	if err == nil {
		err = chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('details').forEach(d => d.open = true)`))
	}
	if err == nil {
		shot, err = chromedp.Run(bctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Chromium did not show the page within 2 minutes: %v", err)
		}
		t.Fatal(err)
	}
	return facts, shot, dialogs.Load()
}

// screenshotPath is where the screenshot goes: the test's artifact directory with `go test -artifacts`, else
// .data/artifacts/status-page.png in the module (kept after the run; .data is not committed).
func screenshotPath(t *testing.T) string {
	if f := flagValue("test.artifacts"); f == "true" {
		return filepath.Join(t.ArtifactDir(), "status-page.png")
	}
	root, err := azurite.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".data", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "status-page.png")
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}
