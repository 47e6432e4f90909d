package infra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/internal/catalog"
	"github.com/entra-di/edi/tests/infra/azfake"
	"github.com/entra-di/edi/tests/infra/infracheck"
)

// fakeAzDir holds the fake az binary, built once for the package.
var fakeAzDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fakeaz-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "az"), "./azfake/cmd/az")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the fake az: %v\n%s", err, out)
		return 1
	}
	fakeAzDir = dir
	return m.Run()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := infracheck.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Fixed ids of the fake tenant.
const (
	tenantID     = "72f988bf-0000-4000-8000-00000000aaaa"
	graphSPID    = "5e1f0b3a-0000-4000-8000-00000000bbbb"
	userObjectID = "0b1c2d3e-0000-4000-8000-00000000cccc"
)

// newTenant is an empty tenant whose Microsoft Graph service principal offers every catalog permission as an
// application role, plus decoys a script that does not resolve by name and member type would pick: the delegated
// variant of a permission listed first, a disabled role with a catalog name, and the permission a public script
// mislabels as DeviceManagementApps.Read.All.
func newTenant() *azfake.State {
	st := &azfake.State{
		TenantID: tenantID, SubscriptionID: "d1e2f3a4-0000-4000-8000-00000000dddd",
		UserType: "user", UserName: "admin@contoso.example", UserObjectID: userObjectID,
		GraphSPID: graphSPID, DeploymentOutputs: map[string]string{},
	}
	st.GraphAppRoles = []azfake.AppRole{
		{ID: "c79f8feb-a9db-4090-85f9-90d820caa0eb", Value: "Application.Read.All", AllowedMemberTypes: []string{"User"}, IsEnabled: true},
		{ID: "0d0d0d0d-0000-4000-8000-0000000000dd", Value: "User.Read.All", AllowedMemberTypes: []string{"Application"}, IsEnabled: false},
		{ID: "06a5fe6d-c49d-46a7-b082-56b1b14103c7", Value: "DeviceManagementServiceConfig.Read.All", AllowedMemberTypes: []string{"Application"}, IsEnabled: true},
	}
	for i := len(catalog.Permissions) - 1; i >= 0; i-- {
		p := catalog.Permissions[i]
		st.GraphAppRoles = append(st.GraphAppRoles, azfake.AppRole{ID: p.ID, Value: p.Name, AllowedMemberTypes: []string{"Application"}, IsEnabled: true})
	}
	return st
}

// azEnv runs scripts against the fake az with one state.
type azEnv struct {
	t         *testing.T
	dir       string
	statePath string
	logPath   string
}

func startAz(t *testing.T, st *azfake.State) *azEnv {
	t.Helper()
	dir := t.TempDir()
	e := &azEnv{t: t, dir: dir, statePath: filepath.Join(dir, "state.json"), logPath: filepath.Join(dir, "calls.jsonl")}
	if err := st.Save(e.statePath); err != nil {
		t.Fatal(err)
	}
	return e
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// run runs a repository script (path relative to the root) with the fake az first on PATH and a clean HOME.
func (e *azEnv) run(script string, env map[string]string, args ...string) result {
	e.t.Helper()
	return e.runIn(repoRoot(e.t), script, env, args...)
}

// runStdin runs a repository script like run, with stdin as its standard input.
func (e *azEnv) runStdin(script, stdin string, args ...string) result {
	e.t.Helper()
	return e.runWith(repoRoot(e.t), script, nil, strings.NewReader(stdin), args...)
}

// runIn runs a script of another tree (a broken copy of the repository).
func (e *azEnv) runIn(root, script string, env map[string]string, args ...string) result {
	e.t.Helper()
	return e.runWith(root, script, env, nil, args...)
}

func (e *azEnv) runWith(root, script string, env map[string]string, stdin io.Reader, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(root, filepath.FromSlash(script)), args...)
	cmd.Dir = root
	cmd.Env = []string{
		"PATH=" + fakeAzDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + e.dir,
		"TMPDIR=" + e.dir,
		azfake.EnvState + "=" + e.statePath,
		azfake.EnvLog + "=" + e.logPath,
	}
	for _, k := range []string{"GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOFLAGS"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("GOCACHE"); !ok {
		if c, err := os.UserCacheDir(); err == nil {
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(c, "go-build"))
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, stdin
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running %s: %v", script, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func (e *azEnv) calls() []azfake.Call {
	e.t.Helper()
	calls, err := azfake.ReadLog(e.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return calls
}

// graphCalls returns the Graph requests in order.
func (e *azEnv) graphCalls() []azfake.RestCall {
	var out []azfake.RestCall
	for _, c := range e.calls() {
		if c.Rest != nil {
			out = append(out, *c.Rest)
		}
	}
	return out
}

func (e *azEnv) state() *azfake.State {
	e.t.Helper()
	st, err := azfake.Load(e.statePath)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *azEnv) clearLog() {
	if err := os.Remove(e.logPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
}

// request is an expected Graph request; Body nil means no body.
type request struct {
	Method, Path string
	Query        map[string]string
	Body         any
}

// assertRequests compares the Graph requests with want, bodies as JSON values.
func assertRequests(t *testing.T, got []azfake.RestCall, want []request) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("request %d: missing %s %s", i, want[i].Method, want[i].Path)
			continue
		case i >= len(want):
			t.Errorf("request %d: unexpected %s %s %s", i, got[i].Method, got[i].Path, got[i].Body)
			continue
		}
		g, w := got[i], want[i]
		if g.Method != w.Method || g.Path != w.Path {
			t.Errorf("request %d: %s %s, want %s %s", i, g.Method, g.Path, w.Method, w.Path)
		}
		if w.Query != nil && !reflect.DeepEqual(g.Query, w.Query) {
			t.Errorf("request %d (%s %s): query %v, want %v", i, g.Method, g.Path, g.Query, w.Query)
		}
		var gotBody any
		if len(g.Body) > 0 {
			if err := json.Unmarshal(g.Body, &gotBody); err != nil {
				t.Errorf("request %d: body is not JSON: %s", i, g.Body)
			}
		}
		wantBody := normalizeJSON(t, w.Body)
		if !reflect.DeepEqual(gotBody, wantBody) {
			wb, _ := json.Marshal(wantBody)
			t.Errorf("request %d (%s %s):\n body %s\n want %s", i, g.Method, g.Path, g.Body, wb)
		}
	}
}

func normalizeJSON(t *testing.T, v any) any {
	t.Helper()
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertNoSecret fails if any secret value the fake tenant issued appears in texts.
func assertNoSecret(t *testing.T, st *azfake.State, texts map[string]string) {
	t.Helper()
	if len(st.IssuedSecrets) == 0 {
		t.Error("the fake tenant issued no secret: the leak check would check nothing")
	}
	for _, leak := range secretLeaks(st, texts) {
		t.Error(leak)
	}
}

// secretLeaks names the texts that contain a secret value the fake tenant issued, or a 12-character piece of one.
func secretLeaks(st *azfake.State, texts map[string]string) []string {
	var leaks []string
	for _, name := range slices.Sorted(maps.Keys(texts)) {
		for _, s := range st.IssuedSecrets {
			if strings.Contains(texts[name], s) || len(s) > 17 && strings.Contains(texts[name], s[5:17]) {
				leaks = append(leaks, "a client secret value appears in "+name)
			}
		}
	}
	return leaks
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
