// Command mkzip writes the deployable zip of the function app from a staging folder laid out like the app root
// (host.json, the handler binary, one folder per function), for scripts/package.sh. It needs no zip binary, keeps
// the executable bit (Unix mode in the zip's external attributes, which Linux hosts honour), stamps every entry
// with one fixed time so the same input gives the same bytes, and refuses a layout the Functions host would trip
// over: no host.json, a custom handler executable that is missing or not executable, a folder without a valid
// function.json, or any other file at the root.
//
//	go run ./scripts/mkzip -o dist/app.zip -mtime 1700000000 STAGING_DIR
package main

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

func main() {
	out := flag.String("o", "", "zip file to write")
	mtime := flag.Int64("mtime", 315532800, "modification time of every entry, Unix seconds (default 1980-01-01)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkzip -o OUT.zip [-mtime UNIX] STAGING_DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if err := CheckLayout(dir); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
	if err := Write(*out, dir, time.Unix(*mtime, 0).UTC()); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

var functionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,127}$`)

// CheckLayout checks that dir is a function app root the host can load.
func CheckLayout(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return fmt.Errorf("host.json: %w", err)
	}
	var host struct {
		Version       string `json:"version"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		return fmt.Errorf("host.json: %w", err)
	}
	if host.Version != "2.0" {
		return fmt.Errorf("host.json: version %q, want 2.0", host.Version)
	}
	exe := host.CustomHandler.Description.DefaultExecutablePath
	if exe == "" || path.IsAbs(exe) || path.Clean(exe) != exe || exe == "host.json" {
		return fmt.Errorf("host.json: customHandler.description.defaultExecutablePath %q must name a file in the app root", exe)
	}
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(exe)))
	if err != nil {
		return fmt.Errorf("custom handler %s: %w", exe, err)
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("custom handler %s is not an executable file (mode %v)", exe, info.Mode())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	functions := 0
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "host.json" || name == exe:
			continue
		case !e.IsDir():
			return fmt.Errorf("%s: only host.json, %s and function folders belong at the root", name, exe)
		case !functionName.MatchString(name):
			return fmt.Errorf("%s: not a valid function name", name)
		}
		if err := checkFunction(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		functions++
	}
	if functions == 0 {
		return errors.New("no function folders")
	}
	return nil
}

func checkFunction(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) != 1 || entries[0].Name() != "function.json" || !entries[0].Type().IsRegular() {
		return errors.New("a function folder holds function.json and nothing else")
	}
	b, err := os.ReadFile(filepath.Join(dir, "function.json"))
	if err != nil {
		return err
	}
	var fn struct {
		Bindings []struct {
			Type      string `json:"type"`
			Direction string `json:"direction"`
			Name      string `json:"name"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(b, &fn); err != nil {
		return fmt.Errorf("function.json: %w", err)
	}
	triggers := 0
	for _, bd := range fn.Bindings {
		if bd.Type == "" || bd.Direction == "" || bd.Name == "" {
			return errors.New("function.json: every binding needs type, direction and name")
		}
		if len(bd.Type) > 7 && bd.Type[len(bd.Type)-7:] == "Trigger" {
			triggers++
		}
	}
	if triggers != 1 {
		return fmt.Errorf("function.json: %d triggers, want exactly 1", triggers)
	}
	return nil
}

// Write zips dir's contents (not dir itself) into out, entries sorted, folders first as their own entries.
func Write(out, dir string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	zw := zip.NewWriter(f)
	for _, p := range paths {
		if err := add(zw, dir, p, mtime); err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func add(zw *zip.Writer, dir, p string, mtime time.Time) error {
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	h := &zip.FileHeader{Name: filepath.ToSlash(rel), Modified: mtime}
	switch {
	case info.IsDir():
		h.Name += "/"
		h.SetMode(fs.ModeDir | 0o755)
		_, err := zw.CreateHeader(h)
		return err
	case info.Mode().IsRegular():
		mode := fs.FileMode(0o644)
		if info.Mode().Perm()&0o100 != 0 {
			mode = 0o755
		}
		h.SetMode(mode)
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	default:
		return fmt.Errorf("%s: only regular files and folders are packaged (mode %v)", rel, info.Mode())
	}
}
