package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hostJSON = `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}}`
const statusJSON = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"}]}`

// layout writes a minimal valid app root, then applies change.
func layout(t *testing.T, change func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("host.json", hostJSON, 0o644)
	write("handler", "\x7fELF", 0o755)
	write("Status/function.json", statusJSON, 0o644)
	if change != nil {
		change(dir)
	}
	return dir
}

func TestCheckLayout(t *testing.T) {
	cases := map[string]struct {
		change  func(dir string)
		wantErr string
	}{
		"valid":                {nil, ""},
		"no host.json":         {func(d string) { os.Remove(filepath.Join(d, "host.json")) }, "host.json"},
		"host.json not JSON":   {func(d string) { os.WriteFile(filepath.Join(d, "host.json"), []byte("{"), 0o644) }, "host.json"},
		"handler missing":      {func(d string) { os.Remove(filepath.Join(d, "handler")) }, "custom handler handler"},
		"handler not runnable": {func(d string) { os.Chmod(filepath.Join(d, "handler"), 0o644) }, "not an executable"},
		"stray file at root": {func(d string) {
			os.WriteFile(filepath.Join(d, "local.settings.json"), []byte("{}"), 0o644)
		}, "only host.json"},
		"folder without function.json": {func(d string) { os.Mkdir(filepath.Join(d, "Empty"), 0o755) }, "Empty"},
		"extra file in function": {func(d string) {
			os.WriteFile(filepath.Join(d, "Status", "README.md"), nil, 0o644)
		}, "nothing else"},
		"two triggers": {func(d string) {
			os.WriteFile(filepath.Join(d, "Status", "function.json"), []byte(`{"bindings":[
				{"type":"httpTrigger","direction":"in","name":"a"},{"type":"timerTrigger","direction":"in","name":"b"}]}`), 0o644)
		}, "2 triggers"},
		"bad function name": {func(d string) {
			os.MkdirAll(filepath.Join(d, "1Bad"), 0o755)
			os.WriteFile(filepath.Join(d, "1Bad", "function.json"), []byte(statusJSON), 0o644)
		}, "not a valid function name"},
		"no functions": {func(d string) { os.RemoveAll(filepath.Join(d, "Status")) }, "no function folders"},
		"absolute executable path": {func(d string) {
			os.WriteFile(filepath.Join(d, "host.json"), []byte(`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"/usr/bin/handler"}}}`), 0o644)
		}, "must name a file in the app root"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckLayout(layout(t, c.change))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
			}
		})
	}
}

func TestWriteKeepsModesAndIsReproducible(t *testing.T) {
	dir := layout(t, nil)
	out := filepath.Join(t.TempDir(), "a.zip")
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := Write(out, dir, mtime); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Touch the files: the zip must not change.
	os.Chtimes(filepath.Join(dir, "handler"), time.Now(), time.Now())
	if err := Write(out, dir, mtime); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if string(first) != string(second) {
		t.Error("two writes of the same folder differ")
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	want := map[string]os.FileMode{"Status/": os.ModeDir | 0o755, "Status/function.json": 0o644, "handler": 0o755, "host.json": 0o644}
	if len(zr.File) != len(want) {
		t.Errorf("%d entries, want %d", len(zr.File), len(want))
	}
	for _, f := range zr.File {
		mode, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected entry %s", f.Name)
			continue
		}
		if f.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", f.Name, f.Mode(), mode)
		}
		if f.CreatorVersion>>8 != 3 {
			t.Errorf("%s: creator OS %d, want 3 (Unix) so the mode is honoured", f.Name, f.CreatorVersion>>8)
		}
		if !f.Modified.Equal(mtime) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, mtime)
		}
	}
}
