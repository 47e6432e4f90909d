// Package pkgcheck holds the rules a function app package (the zip scripts/package.sh writes) must follow, so that
// TestPackageZip and scripts/release.sh (through tests/cmd/checkpackage) check a package the same way: at the zip's
// root exactly host.json, the handler and one folder per function with its function.json, each byte-identical to
// the repository's; Unix modes (0644 files, an executable 0755 handler); the handler a static linux/amd64 ELF that
// carries the version it was built for.
package pkgcheck

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HandlerName is the custom handler's file name at the package root (host.json's defaultExecutablePath).
const HandlerName = "handler"

// Check opens the zip at path and reports every way it breaks the rules against the sources under repoRoot.
// version, when not empty, must appear in the handler binary.
func Check(path, repoRoot, version string) []error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	defer zr.Close()
	want := map[string]string{"host.json": filepath.Join(repoRoot, "host.json")}
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "function.json"))
	if err != nil {
		return []error{err}
	}
	if len(dirs) == 0 {
		return []error{fmt.Errorf("no functions under %s", filepath.Join(repoRoot, "functions"))}
	}
	for _, fj := range dirs {
		name := filepath.Base(filepath.Dir(fj))
		want[name+"/function.json"] = fj
		want[name+"/"] = ""
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	seen := map[string]bool{}
	for _, f := range zr.File {
		if seen[f.Name] {
			fail("%s appears twice", f.Name)
		}
		seen[f.Name] = true
		if f.CreatorVersion>>8 != 3 {
			fail("%s: creator OS %d, want Unix (3) so modes apply", f.Name, f.CreatorVersion>>8)
		}
		if f.Name == HandlerName {
			errs = append(errs, checkHandler(f, version)...)
			continue
		}
		src, ok := want[f.Name]
		if !ok {
			fail("unexpected entry %q: only host.json, %s and function folders belong in the package", f.Name, HandlerName)
			continue
		}
		if strings.HasSuffix(f.Name, "/") {
			if !f.Mode().IsDir() {
				fail("%s is not a directory entry", f.Name)
			}
			continue
		}
		if f.Mode().Perm() != 0o644 || !f.Mode().IsRegular() {
			fail("%s: mode %v, want a regular file with 0644", f.Name, f.Mode())
		}
		got, err := read(f)
		if err != nil {
			fail("%s: %v", f.Name, err)
			continue
		}
		wantBytes, err := os.ReadFile(src)
		if err != nil {
			fail("%v", err)
			continue
		}
		if !bytes.Equal(got, wantBytes) {
			fail("%s differs from %s", f.Name, src)
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !seen[name] {
			fail("the package lacks %s", name)
		}
	}
	if !seen[HandlerName] {
		fail("the package lacks the %s", HandlerName)
	}
	return errs
}

func read(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func checkHandler(f *zip.File, version string) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(HandlerName+": "+format, a...)) }
	if f.Mode().Perm() != 0o755 || !f.Mode().IsRegular() {
		fail("mode %v, want an executable regular file (0755)", f.Mode())
	}
	b, err := read(f)
	if err != nil {
		return append(errs, err)
	}
	if !bytes.HasPrefix(b, []byte("\x7fELF")) {
		return append(errs, fmt.Errorf("%s is not an ELF binary", HandlerName))
	}
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return append(errs, fmt.Errorf("%s: %w", HandlerName, err))
	}
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
		fail("%v %v, want ELFCLASS64 EM_X86_64 (linux/amd64)", ef.Class, ef.Machine)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			fail("it has a dynamic loader (PT_INTERP): it was built with cgo")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		fail("it links shared libraries %v", libs)
	}
	if version != "" && !bytes.Contains(b, []byte(version)) {
		fail("it does not carry the version %s", version)
	}
	return errs
}
