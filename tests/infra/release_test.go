package infra

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/infracheck"
	"github.com/entra-di/edi/tests/infra/pkgcheck"
)

const releaseScript = "scripts/release.sh"

// freshClone copies what a clone of the repository holds (the tracked files and the new files not ignored, as they
// are in the working tree: no node_modules, dist or build output) into a new git repository with one commit, and
// returns its root.
func freshClone(t *testing.T) string {
	t.Helper()
	src := repoRoot(t)
	list, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	for _, rel := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		from := filepath.Join(src, rel)
		info, err := os.Lstat(from)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or the node_modules link
		}
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=release test", "-c", "user.email=release@test.invalid", "commit", "-q", "-m", "fresh clone"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dst
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dst
}

// runIn runs a script of root with the environment of this process (go's caches included, so nothing is
// downloaded) but a private HOME.
func runScript(t *testing.T, root, script string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, filepath.FromSlash(script)), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if _, ok := os.LookupEnv("GOCACHE"); !ok {
		if c, err := os.UserCacheDir(); err == nil {
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(c, "go-build"))
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errorsAs(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", script, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func readJSONFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestReleaseOnFreshClone runs scripts/release.sh in a fresh clone and checks its assets: the package follows the
// package rules and carries the version, the portal pair is the repository's with the package URL pinned to this
// release's asset (and nothing else changed), and SHA256SUMS holds the right sums of all three. A second run into
// the same folder refuses to mix releases.
func TestReleaseOnFreshClone(t *testing.T) {
	t.Parallel()
	clone := freshClone(t)
	const version = "9.9.9-releasetest"
	res := runScript(t, clone, releaseScript, "--version", version, "--repo", "contoso/edi-fork")
	if res.code != 0 {
		t.Fatalf("release.sh failed:\n%s", res)
	}
	out := filepath.Join(clone, "dist", "release", version)
	if got := strings.TrimSpace(res.stdout); got != out {
		t.Errorf("release.sh printed %q, want the folder %q", got, out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"SHA256SUMS", "createUiDefinition.json", "entra-data-integration.zip", "mainTemplate.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("release assets %v, want %v", names, want)
	}

	for _, err := range pkgcheck.Check(filepath.Join(out, "entra-data-integration.zip"), clone, version) {
		t.Errorf("package: %v", err)
	}

	tmpl := readJSONFile(t, filepath.Join(out, "mainTemplate.json"))
	repoTmpl := readJSONFile(t, filepath.Join(repoRoot(t), infracheck.ProductTemplatePath))
	params := tmpl["parameters"].(map[string]any)
	pinned := params["packageUri"].(map[string]any)["defaultValue"]
	if want := "https://github.com/contoso/edi-fork/releases/download/v" + version + "/entra-data-integration.zip"; pinned != want {
		t.Errorf("packageUri default %v, want %s", pinned, want)
	}
	if tmpl["metadata"].(map[string]any)["version"] != version {
		t.Errorf("metadata.version %v, want %s", tmpl["metadata"].(map[string]any)["version"], version)
	}
	params["packageUri"].(map[string]any)["defaultValue"] = repoTmpl["parameters"].(map[string]any)["packageUri"].(map[string]any)["defaultValue"]
	delete(tmpl["metadata"].(map[string]any), "version")
	if !reflect.DeepEqual(tmpl, repoTmpl) {
		t.Error("the release's mainTemplate.json differs from infra/mainTemplate.json in more than the pinned package and version")
	}
	form := readJSONFile(t, filepath.Join(out, "createUiDefinition.json"))
	repoForm := readJSONFile(t, filepath.Join(repoRoot(t), infracheck.ProductUIDefinitionPath))
	basics := form["parameters"].(map[string]any)["config"].(map[string]any)["basics"].(map[string]any)
	desc := basics["description"].(string)
	if !strings.HasSuffix(desc, " Release "+version+".") {
		t.Errorf("the form does not name the release: %q", desc)
	}
	basics["description"] = strings.TrimSuffix(desc, " Release "+version+".")
	if !reflect.DeepEqual(form, repoForm) {
		t.Error("the release's createUiDefinition.json differs from infra/createUiDefinition.json in more than the release note")
	}

	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 3 {
		t.Fatalf("SHA256SUMS has %d lines, want 3:\n%s", len(lines), sums)
	}
	for _, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		b, err := os.ReadFile(filepath.Join(out, name))
		if !ok || err != nil {
			t.Errorf("SHA256SUMS line %q: %v", line, err)
			continue
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s has sum %s, the file %x", name, sum, h)
		}
	}

	if again := runScript(t, clone, releaseScript, "--version", version); again.code != 1 || !strings.Contains(again.stderr, "is not empty") {
		t.Errorf("a second release into the same folder:\n%s", again)
	}
}

// TestReleaseUsage: --help and --dry-run write nothing; wrong arguments exit 2 before building.
func TestReleaseUsage(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	if res := runScript(t, root, releaseScript, "--help"); res.code != 0 || !strings.Contains(res.stdout, "Usage: scripts/release.sh") {
		t.Errorf("--help:\n%s", res)
	}
	out := filepath.Join(t.TempDir(), "rel")
	res := runScript(t, root, releaseScript, "--version", "1.2.3", "--out", out, "--dry-run")
	if res.code != 0 || !strings.Contains(res.stderr, "dry-run: scripts/package.sh --out "+out+"/entra-data-integration.zip --version 1.2.3") ||
		!strings.Contains(res.stderr, "https://github.com/entra-di/edi/releases/download/v1.2.3/entra-data-integration.zip") {
		t.Errorf("--dry-run:\n%s", res)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("--dry-run created the output folder")
	}
	for _, args := range [][]string{{}, {"--version", "v1.2"}, {"--version", "1.2.3", "--repo", "no-slash"}, {"--version", "1.2.3; rm -rf /"}, {"--frobnicate"}} {
		if res := runScript(t, root, releaseScript, args...); res.code != 2 {
			t.Errorf("%q: want exit 2:\n%s", args, res)
		}
	}
}
