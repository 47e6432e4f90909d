package infra

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/entra-di/edi/tests/infra/pkgcheck"
)

// packageZip builds the package with scripts/package.sh into dir and returns its path.
func packageZip(t *testing.T, dir, version string) string {
	t.Helper()
	out := filepath.Join(dir, "app.zip")
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "package.sh"), "--out", out, "--version", version)
	cmd.Dir = t.TempDir() // the script finds the repository itself
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1767225600")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("package.sh: %v\n%s", err, stderr.String())
	}
	if got := strings.TrimSpace(string(stdout)); got != out {
		t.Errorf("package.sh printed %q, want the zip path %q", got, out)
	}
	return out
}

// TestPackageZip opens the zip package.sh writes and holds it to the package rules (tests/infra/pkgcheck, which
// scripts/release.sh applies too): at its root exactly host.json, an executable static linux/amd64 ELF handler
// carrying the version, and every function folder with its function.json, all byte-identical to the sources; and
// the same source packages to the same bytes.
func TestPackageZip(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	out := packageZip(t, t.TempDir(), "9.8.7-pkgtest")
	for _, err := range pkgcheck.Check(out, root, "9.8.7-pkgtest") {
		t.Error(err)
	}
	again := packageZip(t, t.TempDir(), "9.8.7-pkgtest")
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("packaging the same source twice gave different zips")
	}
}

// TestPackageRulesCatchBreakage writes packages broken in one way each and expects the rules to name the breakage,
// so TestPackageZip and release.sh's check can fail.
func TestPackageRulesCatchBreakage(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	elfBytes := smallELF(t)
	functions, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil || len(functions) == 0 {
		t.Fatalf("no functions (%v)", err)
	}
	hostJSON, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		name string
		mode os.FileMode
		data []byte
	}
	good := func() []entry {
		es := []entry{{"host.json", 0o644, hostJSON}, {"handler", 0o755, append(slices.Clone(elfBytes), []byte("v1.2.3")...)}}
		for _, fj := range functions {
			name := filepath.Base(filepath.Dir(fj))
			b, _ := os.ReadFile(fj)
			es = append(es, entry{name + "/", os.ModeDir | 0o755, nil}, entry{name + "/function.json", 0o644, b})
		}
		return es
	}
	write := func(t *testing.T, es []entry) string {
		p := filepath.Join(t.TempDir(), "pkg.zip")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for _, e := range es {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
			h.SetMode(e.mode)
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if errs := pkgcheck.Check(write(t, good()), root, "v1.2.3"); len(errs) != 0 {
		t.Fatalf("a good package fails: %v", errs)
	}
	for _, c := range []struct {
		name   string
		mutate func([]entry) []entry
		want   string
	}{
		{"extra file", func(es []entry) []entry { return append(es, entry{"local.settings.json", 0o644, []byte("{}")}) }, `unexpected entry "local.settings.json"`},
		{"handler not executable", func(es []entry) []entry { es[1].mode = 0o644; return es }, "want an executable regular file"},
		{"no host.json", func(es []entry) []entry { return es[1:] }, "lacks host.json"},
		{"handler not ELF", func(es []entry) []entry { es[1].data = []byte("#!/bin/sh\n"); return es }, "not an ELF binary"},
		{"wrong version", func(es []entry) []entry { es[1].data = elfBytes; return es }, "does not carry the version v1.2.3"},
		{"changed function.json", func(es []entry) []entry { es[len(es)-1].data = []byte("{}"); return es }, "differs from"},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := pkgcheck.Check(write(t, c.mutate(good())), root, "v1.2.3")
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
				t.Errorf("want an error containing %q, got %q", c.want, msgs)
			}
		})
	}
}

// smallELF returns a static linux/amd64 executable: the fake az, built once for the package with CGO off.
func smallELF(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fakeAzDir, "az"))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the fake az is not a linux/amd64 ELF here")
	}
	return b
}

// TestPackageUsage: --help and --dry-run build nothing; wrong arguments exit 2.
func TestPackageUsage(t *testing.T) {
	t.Parallel()
	script := filepath.Join(repoRoot(t), "scripts", "package.sh")
	out, err := exec.Command(script, "--help").Output()
	if err != nil || !strings.Contains(string(out), "Usage: scripts/package.sh") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	target := filepath.Join(t.TempDir(), "x.zip")
	cmd := exec.Command(script, "--dry-run", "--out", target, "--version", "1.0.0")
	stderr, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(stderr), "dry-run: CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build") {
		t.Errorf("--dry-run: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Error("--dry-run wrote the zip")
	}
	for _, args := range [][]string{{"--frobnicate"}, {"--version", "1.0; rm -rf /"}} {
		err := exec.Command(script, args...).Run()
		var exit *exec.ExitError
		if !errorsAs(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
}
