package infra

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFuzzTargetsListed keeps `make fuzz` complete: every Fuzz function of the repository is in the Makefile's
// FUZZ_TARGETS (and nothing else is), and every fuzz target of the product (outside tests/) has a committed seed
// corpus, so `make test` replays it.
func TestFuzzTargetsListed(t *testing.T) {
	root := repoRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FUZZ_TARGETS\s*=((?:.*\\\n)*.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no FUZZ_TARGETS")
	}
	listed := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))

	var found []string
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, f := range decl.FindAllSubmatch(src, -1) {
			found = append(found, "./"+filepath.ToSlash(rel)+":"+string(f[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	sorted := slices.Sorted(slices.Values(listed))
	if !slices.Equal(found, sorted) {
		t.Errorf("Makefile FUZZ_TARGETS = %v\nthe repository's fuzz targets are %v", sorted, found)
	}
	for _, target := range found {
		pkg, name, _ := strings.Cut(target, ":")
		if strings.HasPrefix(pkg, "./tests/") {
			continue // the simulators' own fuzzers
		}
		entries, err := os.ReadDir(filepath.Join(root, pkg, "testdata", "fuzz", name))
		if err != nil || len(entries) == 0 {
			t.Errorf("%s: no committed seed corpus in %s/testdata/fuzz/%s", target, pkg, name)
		}
	}
	if len(found) < 9 {
		t.Errorf("only %d fuzz targets found: %v", len(found), found)
	}
}
