package hostsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildOptions say what to build and where.
type BuildOptions struct {
	// ModuleRoot is the Go module root the package is built in.
	ModuleRoot string
	// Package is the main package to build, relative to ModuleRoot (e.g. "./handlers").
	Package string
	// Source is the folder holding host.json and the function folders, each <Name>/function.json either directly
	// below it or below Source/functions (the repository's layout).
	Source string
	// OutDir receives the app; it is created if needed.
	OutDir string
	// LDFlags are passed to go build (e.g. a version stamp).
	LDFlags string
	// Race builds the handler with the race detector (slower; off by default, like the shipped binary).
	Race bool
	// Ship builds exactly as scripts/package.sh does (-trimpath, CGO off, a static binary). Off by default: tests
	// build in the configuration of the test binaries so msgraph-sdk-go, minutes to compile, comes from the build
	// cache instead of being compiled once more.
	Ship bool
}

// BuildApp builds the repository's handler (./handlers) into outDir laid out like the deployable zip: host.json
// and the handler binary (at host.json's defaultExecutablePath) at the root, and one folder per function holding
// its function.json, copied from the repository's functions/<Name>/function.json. The host only indexes
// <root>/<Name>/function.json, so this is the layout tests must run. It returns the app root.
func BuildApp(ctx context.Context, repoRoot, outDir string) (string, error) {
	return Build(ctx, BuildOptions{
		ModuleRoot: repoRoot,
		Package:    "./handlers",
		Source:     repoRoot,
		OutDir:     outDir,
		LDFlags:    "-s -w -X github.com/entra-di/edi/internal/version.Version=hostsim",
		// Under `go test -race` the handler gets the race detector too: its data races then fail the tests.
		Race: raceEnabled,
	})
}

// Build compiles a custom handler and assembles its app folder; see BuildApp.
func Build(ctx context.Context, o BuildOptions) (string, error) {
	if o.ModuleRoot == "" || o.Package == "" || o.Source == "" || o.OutDir == "" {
		return "", errors.New("hostsim build: ModuleRoot, Package, Source and OutDir are required")
	}
	out, err := filepath.Abs(o.OutDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	hostJSON, err := os.ReadFile(filepath.Join(o.Source, "host.json"))
	if err != nil {
		return "", fmt.Errorf("hostsim build: %w", err)
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(hostJSON, &host); err != nil {
		return "", fmt.Errorf("hostsim build: host.json: %w", err)
	}
	exe := host.CustomHandler.Description.DefaultExecutablePath
	if exe == "" || filepath.IsAbs(exe) || strings.Contains(exe, "%") {
		return "", fmt.Errorf("hostsim build: defaultExecutablePath %q must be a plain relative path to build into", exe)
	}
	if err := os.WriteFile(filepath.Join(out, "host.json"), hostJSON, 0o644); err != nil {
		return "", err
	}

	fnRoot := filepath.Join(o.Source, "functions")
	if _, err := os.Stat(fnRoot); err != nil {
		fnRoot = o.Source
	}
	entries, err := os.ReadDir(fnRoot)
	if err != nil {
		return "", err
	}
	n := 0
	for _, e := range entries {
		src := filepath.Join(fnRoot, e.Name(), "function.json")
		b, err := os.ReadFile(src)
		if !e.IsDir() || errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Join(out, e.Name()), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(out, e.Name(), "function.json"), b, 0o644); err != nil {
			return "", err
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("hostsim build: no <Name>/function.json under %s", fnRoot)
	}

	args := []string{"build", "-o", filepath.Join(out, exe)}
	if o.Ship {
		args = append(args, "-trimpath")
	}
	if o.Race {
		args = append(args, "-race")
	}
	if o.LDFlags != "" {
		args = append(args, "-ldflags", o.LDFlags)
	}
	args = append(args, o.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.ModuleRoot
	cmd.Env = append(os.Environ(), "GOOS=linux")
	if o.Ship && !o.Race {
		// The shipped binary is static (reference §12).
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hostsim build: go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
