package infra

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

// TestPackageZip opens the zip package.sh writes: at its root exactly host.json, an executable static
// linux/amd64 ELF handler carrying the version, and every function folder with its function.json, all
// byte-identical to the sources; and the same source packages to the same bytes.
func TestPackageZip(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	out := packageZip(t, t.TempDir(), "9.8.7-pkgtest")
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()

	want := map[string]string{"host.json": filepath.Join(root, "host.json")}
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no functions in the repository (%v)", err)
	}
	for _, fj := range dirs {
		name := filepath.Base(filepath.Dir(fj))
		want[name+"/function.json"] = fj
		want[name+"/"] = ""
	}
	seen := map[string]bool{}
	for _, f := range zr.File {
		seen[f.Name] = true
		if f.CreatorVersion>>8 != 3 {
			t.Errorf("%s: creator OS %d, want Unix (3) so modes apply", f.Name, f.CreatorVersion>>8)
		}
		if f.Name == "handler" {
			checkHandler(t, f)
			continue
		}
		src, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected entry %q: only host.json, handler and function folders belong in the package", f.Name)
			continue
		}
		if strings.HasSuffix(f.Name, "/") {
			if !f.Mode().IsDir() {
				t.Errorf("%s is not a directory entry", f.Name)
			}
			continue
		}
		if f.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", f.Name, f.Mode())
		}
		got := readZipFile(t, f)
		wantBytes, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantBytes) {
			t.Errorf("%s differs from %s", f.Name, src)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("package lacks %s", name)
		}
	}
	if !seen["handler"] {
		t.Error("package lacks the handler")
	}

	again := packageZip(t, t.TempDir(), "9.8.7-pkgtest")
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("packaging the same source twice gave different zips")
	}
}

func readZipFile(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkHandler(t *testing.T, f *zip.File) {
	t.Helper()
	if f.Mode().Perm() != 0o755 || !f.Mode().IsRegular() {
		t.Errorf("handler: mode %v, want an executable regular file (0755)", f.Mode())
	}
	b := readZipFile(t, f)
	if !bytes.HasPrefix(b, []byte("\x7fELF")) {
		t.Fatal("handler is not an ELF binary")
	}
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
		t.Errorf("handler is %v %v, want ELFCLASS64 EM_X86_64", ef.Class, ef.Machine)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("handler has a dynamic loader (PT_INTERP): it was built with cgo")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("handler links shared libraries %v", libs)
	}
	if !bytes.Contains(b, []byte("9.8.7-pkgtest")) {
		t.Error("handler does not carry the version given to package.sh")
	}
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
